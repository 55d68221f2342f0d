"""The filter expression language (spec F.2, F.3, F.7): tokenizer, parser and the schema
checks of CreateFilter (``filter_values`` reads the runtime ``filterValues``). Pure: no
sqlite, no numpy, so CreateFilter (resources) and serving (runtime) share one reading of
an expression.

Grammar (keywords, dataset names and ``CurrentUser`` case-insensitive; columns
case-sensitive)::

    filter     := expression ( "|" expression )*
    expression := ("INCLUDE" | "EXCLUDE") ("ItemID" | "UserID" | "ActionID")
                  "WHERE" condition ( ("AND" | "OR") condition )*
                  [ "IF" user_cond ( "AND" user_cond )* ]
    condition  := dataset "." column ( ("IN" | "NOT IN") "(" value_list ")" | cmp scalar )
    user_cond  := "CurrentUser" "." column ( ("IN" | "NOT IN") "(" value_list ")" | cmp scalar )
    cmp        := "=" | "<" | "<=" | ">" | ">="
    value_list := value ( "," value )* | placeholder
    value      := '"' chars '"' | number | "*"
    scalar     := number | placeholder
    placeholder := "$" NAME

AND binds tighter than OR; conditions are read left to right.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

from chalicelib.errors import InvalidInputException, LimitExceededException
from chalicelib.resources.schema_rules import NUMERIC, DatasetSchema

SET_OPS = ("IN", "NOT IN")
CMP_OPS = ("=", "<", "<=", ">", ">=")
MAX_PLACEHOLDER = 50
EVENT_TYPE = "EVENT_TYPE"
CURRENT_USER = "CurrentUser"
# Dataset names as written in expressions (case-insensitive) -> canonical datasetType.
DATASETS = {"items": "Items", "interactions": "Interactions", "users": "Users",
            "actions": "Actions", "action_interactions": "Action_Interactions"}
# Target -> (record dataset, events dataset) its conditions may use (spec F.1, F.7).
TARGETS = {"ItemID": ("Items", "Interactions"), "UserID": ("Users", "Interactions"),
           "ActionID": ("Actions", "Action_Interactions")}
EVENT_DATASETS = frozenset({"Interactions", "Action_Interactions"})
_KEYWORDS = frozenset({"INCLUDE", "EXCLUDE", "WHERE", "AND", "OR", "IN", "NOT", "IF"})
_TARGET_WORDS = {t.lower(): t for t in TARGETS}

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<placeholder>\$[A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|<>|==|<|>|=)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[().,|*])
""", re.VERBOSE)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


class FilterSyntaxError(InvalidInputException):
    """A filter expression that does not parse; the message says where and why."""


@dataclass(frozen=True)
class Token:
    kind: str   # string, number, placeholder, op, word, punct, end
    text: str   # as written (strings: unquoted and unescaped)
    pos: int    # 1-based character position

    def show(self) -> str:
        return f"'{self.raw}'" if '"' in self.raw else f'"{self.raw}"'

    @property
    def raw(self) -> str:
        return f'"{self.text}"' if self.kind == "string" else self.text

    def word(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


@dataclass(frozen=True)
class Value:
    """A literal: a quoted string, a number (``text`` as written) or ``*``."""

    text: str
    kind: str  # "string", "number", "star"

    @property
    def number(self) -> float | None:
        try:
            return float(self.text)
        except ValueError:
            return None


@dataclass(frozen=True)
class Condition:
    dataset: str            # a DATASETS value, or CURRENT_USER (in IF)
    column: str
    op: str                 # SET_OPS or CMP_OPS
    values: tuple[Value, ...]   # the literals; empty when ``placeholder`` is set
    placeholder: str | None
    pos: int

    @property
    def source(self) -> str:
        return f"{self.dataset}.{self.column}"

    @property
    def record_dataset(self) -> str:
        """The dataset the column lives in (CurrentUser is the Users dataset)."""
        return "Users" if self.dataset == CURRENT_USER else self.dataset


@dataclass(frozen=True)
class All:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Any_:
    parts: tuple[Node, ...]


Node = Condition | All | Any_


@dataclass(frozen=True)
class Expression:
    action: str             # INCLUDE / EXCLUDE
    target: str             # ItemID / UserID / ActionID
    where: Node
    if_clause: tuple[Condition, ...]
    pos: int

    @property
    def dataset(self) -> str:
        return next(conditions(self.where)).dataset

    @property
    def on_events(self) -> bool:
        return self.dataset in EVENT_DATASETS


@dataclass(frozen=True)
class Filter:
    expressions: tuple[Expression, ...]

    @property
    def target(self) -> str:
        return self.expressions[0].target

    def conditions(self) -> Iterator[Condition]:
        for e in self.expressions:
            yield from conditions(e.where)
            yield from e.if_clause

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(c.placeholder for c in self.conditions() if c.placeholder)

    @property
    def fields(self) -> frozenset[tuple[str, str]]:
        """Distinct (dataset, column) pairs, CurrentUser counted as Users."""
        return frozenset((c.record_dataset, c.column) for c in self.conditions())

    def uses(self, *datasets: str) -> bool:
        return any(c.dataset in datasets for c in self.conditions())


def conditions(node: Node) -> Iterator[Condition]:
    if isinstance(node, Condition):
        yield node
    else:
        for part in node.parts:
            yield from conditions(part)


# -- tokenizer -----------------------------------------------------------------------------

def _error(why: str, token: Token) -> FilterSyntaxError:
    at = "at the end of the expression" if token.kind == "end" else \
        f"at position {token.pos} ({token.show()})"
    return FilterSyntaxError(f"Invalid filter expression: {why} {at}.")


def tokenize(text: str) -> list[Token]:
    tokens, at = [], 0
    while at < len(text):
        m = _TOKEN.match(text, at)
        if m is None:
            where = Token("punct", text[at], at + 1)
            if text[at] == '"':
                raise _error("a string is not closed (a double quote is missing)", where)
            raise _error(f"unexpected character {text[at]!r}", where)
        kind, raw = m.lastgroup or "", m.group()
        if kind == "string":
            tokens.append(Token(kind, _ESCAPE.sub(r"\1", raw[1:-1]), at + 1))
        elif kind != "space":
            tokens.append(Token(kind, raw, at + 1))
        at = m.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


# -- parser --------------------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.at = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.at]

    def next(self) -> Token:
        token = self.tokens[self.at]
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def expect_word(self, word: str, why: str) -> Token:
        if self.peek.word() != word:
            raise _error(why, self.peek)
        return self.next()

    def expect_punct(self, char: str, why: str) -> Token:
        if not (self.peek.kind == "punct" and self.peek.text == char):
            raise _error(why, self.peek)
        return self.next()

    def filter(self) -> Filter:
        if self.peek.kind == "end":
            raise _error("the expression is empty; it starts with INCLUDE or EXCLUDE",
                         self.peek)
        expressions = [self.expression()]
        while self.peek.kind == "punct" and self.peek.text == "|":
            self.next()
            expressions.append(self.expression())
        if self.peek.kind != "end":
            raise _error("expected AND, OR, IF, | or the end of the expression", self.peek)
        return Filter(tuple(expressions))

    def expression(self) -> Expression:
        start = self.peek
        action = start.word()
        if action not in ("INCLUDE", "EXCLUDE"):
            raise _error("an expression starts with INCLUDE or EXCLUDE", start)
        self.next()
        target = _TARGET_WORDS.get(self.peek.text.lower()) if self.peek.kind == "word" else None
        if target is None:
            raise _error(f"expected ItemID, UserID or ActionID after {action}", self.peek)
        self.next()
        self.expect_word("WHERE", f"expected WHERE after {action} {target}")
        groups = [[self.condition()]]
        while self.peek.word() in ("AND", "OR"):
            joiner = self.next().word()
            if joiner == "OR":
                groups.append([])
            groups[-1].append(self.condition())
        parts = [g[0] if len(g) == 1 else All(tuple(g)) for g in groups]
        where = parts[0] if len(parts) == 1 else Any_(tuple(parts))
        if_clause: list[Condition] = []
        if self.peek.word() == "IF":
            self.next()
            if_clause.append(self.condition(in_if=True))
            while self.peek.word() in ("AND", "OR"):
                if self.peek.word() == "OR":
                    raise _error("conditions of an IF clause can only be joined with AND",
                                 self.peek)
                self.next()
                if_clause.append(self.condition(in_if=True))
        return Expression(action, target, where, tuple(if_clause), start.pos)

    def condition(self, in_if: bool = False) -> Condition:
        start = self.peek
        if start.kind != "word" or start.word() in _KEYWORDS:
            what = "CurrentUser.<column>" if in_if else \
                "a condition such as Items.GENRE IN (\"drama\")"
            raise _error(f"expected {what}", start)
        name = start.text.lower()
        if name == CURRENT_USER.lower():
            if not in_if:
                raise _error("CurrentUser can only be used in the IF clause at the end of "
                             "an expression", start)
            dataset = CURRENT_USER
        elif in_if:
            raise _error("an IF clause tests the requesting user: use CurrentUser.<column>",
                         start)
        elif name in DATASETS:
            dataset = DATASETS[name]
        else:
            raise _error("unknown dataset; use Items, Interactions, Users, Actions or "
                         "Action_Interactions", start)
        self.next()
        self.expect_punct(".", f"expected . and a column name after {start.text}")
        column = self.next()
        if column.kind != "word":
            raise _error(f"expected a column name after {start.text}.", column)
        source = f"{start.text}.{column.text}"
        op = self.operator(source)
        if op in SET_OPS:
            values, placeholder = self.value_list(op)
        else:
            values, placeholder = self.scalar(op)
        if dataset in EVENT_DATASETS and column.text == EVENT_TYPE:  # IN ("*") = any type
            values = tuple(Value("*", "star") if v.text == "*" else v for v in values)
        return Condition(dataset, column.text, op, values, placeholder, start.pos)

    def operator(self, source: str) -> str:
        token = self.peek
        if token.word() == "IN":
            self.next()
            return "IN"
        if token.word() == "NOT":
            self.next()
            self.expect_word("IN", "expected IN after NOT")
            return "NOT IN"
        if token.kind == "op":
            if token.text in ("!=", "<>"):
                raise _error(f"{token.text} is not an operator; use NOT IN (...)", token)
            if token.text == "==":
                raise _error("== is not an operator; use =", token)
            self.next()
            return token.text
        raise _error(f"expected IN, NOT IN, =, <, <=, > or >= after {source}", token)

    def value_list(self, op: str) -> tuple[tuple[Value, ...], str | None]:
        self.expect_punct("(", f"expected ( after {op}")
        if self.peek.kind == "placeholder":
            name = self.placeholder()
            if self.peek.kind == "punct" and self.peek.text == ",":
                raise _error("a placeholder must be alone in its list: use one "
                             "placeholder with several values in filterValues", self.peek)
            self.expect_punct(")", "expected ) after the placeholder")
            return (), name
        values = [self.value()]
        while self.peek.kind == "punct" and self.peek.text == ",":
            self.next()
            values.append(self.value())
        self.expect_punct(")", "expected , or ) in the value list")
        return tuple(values), None

    def value(self) -> Value:
        token = self.next()
        if token.kind == "string":
            return Value(token.text, "string")
        if token.kind == "number":
            return Value(token.text, "number")
        if token.kind == "punct" and token.text == "*":
            return Value("*", "star")
        if token.kind == "placeholder":
            raise _error("a placeholder must be alone in its list", token)
        if token.kind == "punct" and token.text == ")":
            raise _error("the value list is empty", token)
        if token.kind == "word":
            raise _error("values must be double-quoted strings or numbers", token)
        raise _error("expected a value (a double-quoted string, a number or *)", token)

    def scalar(self, op: str) -> tuple[tuple[Value, ...], str | None]:
        token = self.peek
        if token.kind == "placeholder":
            return (), self.placeholder()
        if token.kind == "number":
            self.next()
            return (Value(token.text, "number"),), None
        if token.kind == "string":
            raise _error(f"{op} compares numbers; match strings with IN (\"...\")", token)
        raise _error(f"expected a number or a $placeholder after {op}", token)

    def placeholder(self) -> str:
        token = self.next()
        name = token.text[1:]
        if not name:
            raise _error("a placeholder needs a name ($NAME, letters, digits and _)", token)
        if len(name) > MAX_PLACEHOLDER:
            raise _error(f"placeholder names may have at most {MAX_PLACEHOLDER} characters",
                         token)
        return name


def _check_structure(f: Filter) -> None:
    for e in f.expressions:
        start = Token("word", e.action, e.pos)
        if e.target != f.target:
            raise _error(f"all expressions of a filter must target the same kind; this one "
                         f"targets {e.target}, the first {f.target}", start)
        first = next(conditions(e.where))
        for c in conditions(e.where):
            if c.dataset != first.dataset:
                raise _error(f"the conditions of one expression must all use the same "
                             f"dataset ({first.dataset}); write {c.dataset} conditions in "
                             "another expression joined with |",
                             Token("word", c.source, c.pos))
        allowed = TARGETS[e.target]
        if first.dataset not in allowed:
            raise _error(f"{e.target} expressions filter by {' or '.join(allowed)}, not "
                         f"{first.dataset}", Token("word", first.source, first.pos))
        if e.if_clause and e.target == "UserID":
            raise _error("UserID expressions have no requesting user: IF CurrentUser is "
                         "only for ItemID expressions",
                         Token("word", e.if_clause[0].source, e.if_clause[0].pos))
        if e.if_clause and e.target == "ActionID":
            raise _error("IF CurrentUser is only for ItemID expressions",
                         Token("word", e.if_clause[0].source, e.if_clause[0].pos))
    for c in f.conditions():
        if any(v.kind == "star" for v in c.values):
            if c.dataset not in EVENT_DATASETS or c.column != EVENT_TYPE:
                raise _error("* (any event type) is only allowed with "
                             "Interactions.EVENT_TYPE", Token("word", c.source, c.pos))
            if c.op != "IN" or len(c.values) != 1:
                raise _error("* (any event type) must be alone in an IN list, as in IN "
                             "(\"*\")", Token("word", c.source, c.pos))


@lru_cache(maxsize=512)
def parse(text: str) -> Filter:
    """The parsed filter, or FilterSyntaxError saying where and why (cached by text)."""
    f = _Parser(text).filter()
    _check_structure(f)
    return f


# -- CreateFilter: fields against the dataset group's schemas (spec F.7) --------------------

def check_fields(f: Filter, schemas: Mapping[str, DatasetSchema | None],
                 max_fields: int) -> None:
    """Each condition's column exists in its dataset's schema, with a usable type.

    ``schemas`` maps datasetType -> the group's schema for it (None / absent: no dataset).
    """
    for c in f.conditions():
        here = Token("word", c.source, c.pos)
        schema = schemas.get(c.record_dataset)
        if schema is None:
            raise _error(f"the dataset group has no {c.record_dataset} dataset; create it "
                         f"before a filter uses {c.source}", here)
        field = schema.field(c.column)
        if field is None:
            if c.column == EVENT_TYPE and [v.kind for v in c.values] == ["star"]:
                continue  # "any interaction" needs no EVENT_TYPE column
            near = [x.name for x in schema.fields if x.name.lower() == c.column.lower()]
            hint = f" (column names are case-sensitive: {near[0]})" if near else ""
            raise _error(f"{c.record_dataset} has no column {c.column}{hint}", here)
        if field.textual:
            raise _error(f"{c.source} is a textual column; filters cannot use textual "
                         "columns", here)
        if field.type == "boolean":
            raise _error(f"{c.source} is boolean; filters cannot use boolean columns (store "
                         "\"true\"/\"false\" strings or 0/1 instead)", here)
        numeric = field.type in NUMERIC
        if c.op in CMP_OPS and not numeric:
            raise _error(f"{c.op} compares numbers but {c.source} is a {field.type} column; "
                         "use IN or NOT IN", here)
        if numeric and any(v.kind == "string" and v.number is None for v in c.values):
            raise _error(f"{c.source} is numeric ({field.type}); its values must be numbers",
                         here)
    if len(f.fields) > max_fields:
        raise LimitExceededException(
            f"A filter may use at most {max_fields} distinct dataset fields; this one uses "
            f"{len(f.fields)}: {', '.join(sorted('.'.join(x) for x in f.fields))}.")
