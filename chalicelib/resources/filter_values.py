"""``filterValues`` (spec F.4): the values a request gives a filter's ``$placeholders``.

Each entry is one or more double-quoted strings and/or bare numbers, comma-separated (at
most 5). INCLUDE expressions need every placeholder; in an EXCLUDE expression a
condition whose placeholder is left out disappears (and the expression, when nothing is
left). Pure, like ``filter_grammar``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from chalicelib.errors import InvalidInputException
from chalicelib.resources.filter_grammar import (
    Condition,
    Expression,
    Filter,
    Node,
    Value,
    conditions,
)

MAX_VALUES = 5  # values per placeholder (spec F.5)

_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_VALUE = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^",]*?))\s*(,|$)', re.DOTALL)
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def parse_values(name: str, text: str) -> tuple[Value, ...]:
    """One ``filterValues`` entry: double-quoted strings and/or bare numbers, comma-separated
    (at most MAX_VALUES). ``"*"`` is kept as the any-event-type wildcard."""
    values: list[Value] = []
    at = 0
    while True:
        m = _VALUE.match(text, at)
        if m is None or m.end() == at and at < len(text):
            raise InvalidInputException(
                f"filterValues.{name}: cannot read {text!r} at character {at + 1}; give "
                "double-quoted strings separated by commas, e.g. \"\\\"comedy\\\",\\\"drama"
                "\\\"\", or a number.")
        quoted, bare = m.group(1), m.group(2)
        if quoted is not None:
            text_value = _ESCAPE.sub(r"\1", quoted)
            values.append(Value(text_value, "star" if text_value == "*" else "string"))
        elif bare and _NUMBER.fullmatch(bare):
            values.append(Value(bare, "number"))
        elif bare:
            raise InvalidInputException(
                f"filterValues.{name}: {bare!r} must be in double quotes "
                f"(\"\\\"{bare}\\\"\") or be a number.")
        else:
            raise InvalidInputException(
                f"filterValues.{name}: an empty value in {text!r}; give one or more "
                "double-quoted strings separated by commas.")
        at = m.end()
        if m.group(3) != ",":
            break
    if len(values) > MAX_VALUES:
        raise InvalidInputException(
            f"filterValues.{name} has {len(values)} values; a placeholder takes at most "
            f"{MAX_VALUES}.")
    return tuple(values)


def bind(f: Filter, filter_values: Mapping[str, str] | None
         ) -> tuple[dict[str, tuple[Value, ...]], tuple[Expression, ...]]:
    """Parse ``filterValues`` for ``f``: (placeholder -> values, expressions that remain).

    INCLUDE expressions need every placeholder; in an EXCLUDE expression a condition
    whose placeholder is missing is dropped, and the expression too when nothing is left.
    """
    given = dict(filter_values or {})
    unknown = sorted(set(given) - f.placeholders)
    if unknown:
        have = ", ".join(f"${p}" for p in sorted(f.placeholders)) or "none"
        raise InvalidInputException(
            f"filterValues has {', '.join(unknown)} but the filter has no such placeholder "
            f"(its placeholders: {have}).")
    values = {name: parse_values(name, text) for name, text in given.items()}
    kept = []
    for e in f.expressions:
        missing = sorted({c.placeholder for c in (*conditions(e.where), *e.if_clause)
                          if c.placeholder and c.placeholder not in values})
        if not missing:
            kept.append(e)
            continue
        if e.action == "INCLUDE":
            raise InvalidInputException(
                f"filterValues must give {', '.join(missing)}: the filter's INCLUDE "
                f"expression uses ${', $'.join(missing)}.")
        where = _prune(e.where, values)
        if where is not None:
            kept.append(Expression(e.action, e.target, where, tuple(
                c for c in e.if_clause if c.placeholder is None or c.placeholder in values),
                e.pos))
    return values, tuple(kept)


def _prune(node: Node, values: Mapping[str, object]) -> Node | None:
    if isinstance(node, Condition):
        return None if node.placeholder and node.placeholder not in values else node
    parts = tuple(p for p in (_prune(x, values) for x in node.parts) if p is not None)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else type(node)(parts)
