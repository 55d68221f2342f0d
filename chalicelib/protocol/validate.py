"""Validate request parameters against the botocore input shape.

botocore checks required members, types and minimums client-side, but not
maximums, patterns or enums, and other clients (curl, the CLI with
``--cli-input-json``) check nothing: the server checks everything here.
A violation raises ``InvalidInputException`` naming the field and the rule.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from botocore.model import Shape

from chalicelib.errors import InvalidInputException

# The ranges of the model's number types (Smithy: Java int, long and float).
_INT_RANGE = {"integer": (-2 ** 31, 2 ** 31 - 1), "long": (-2 ** 63, 2 ** 63 - 1)}
_FLOAT_MAX = 3.4028234663852886e38
# Java regex classes that Python's ``re`` lacks.
_JAVA_CLASSES = {
    r"\p{L}\p{Z}\p{N}": r"\w\s",
    r"\p{ASCII}": r"\x00-\x7f",
}


@cache
def _pattern(java: str) -> re.Pattern[str]:
    for java_class, python_class in _JAVA_CLASSES.items():
        java = java.replace(java_class, python_class if "[" in java else f"[{python_class}]")
    return re.compile(java, re.DOTALL)


def validate(shape: Shape | None, value: Any) -> None:
    """Raise InvalidInputException if ``value`` (a parsed JSON body) breaks ``shape``."""
    if shape is not None:
        _check(shape, value, "")


def _fail(path: str, rule: str) -> None:
    where = f"'{path}'" if path else "the request body"
    raise InvalidInputException(f"Value at {where} failed to satisfy constraint: {rule}")


def _check(shape: Shape, value: Any, path: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        _check_structure(shape, value, path)
    elif kind == "string":
        _check_string(shape, value, path)
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(path, "Member must be an integer")
        low, high = _INT_RANGE[kind]
        if not low <= value <= high:
            _fail(path, f"Member must be a {kind} between {low} and {high}")
        _check_range(shape, value, path)
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            _fail(path, "Member must be a number")
        if kind == "float" and abs(value) > _FLOAT_MAX:
            _fail(path, f"Member must be a float of at most {_FLOAT_MAX:g} in magnitude")
        _check_range(shape, value, path)
    elif kind == "boolean":
        if not isinstance(value, bool):
            _fail(path, "Member must be a boolean (true or false)")
    elif kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            _fail(path, "Member must be a timestamp (epoch seconds)")
    elif kind == "list":
        if not isinstance(value, list):
            _fail(path, "Member must be a list")
        _check_length(shape, len(value), path, "have length")
        item, strings = shape.member, shape.member.type_name == "string"
        for i, member in enumerate(value):
            # Strings (an inputList of up to 500 ids) are checked without building a path.
            if not strings or _string_problem(item, member):
                _check(item, member, f"{path}.{i + 1}" if path else str(i + 1))
    elif kind == "map":
        if not isinstance(value, dict):
            _fail(path, "Member must be a map (JSON object)")
        _check_length(shape, len(value), path, "have number of entries")
        for key, member in value.items():
            _check(shape.key, key, f"{path} key")
            _check(shape.value, member, f"{path}.{key}")


def _check_structure(shape: Shape, value: Any, path: str) -> None:
    if not isinstance(value, dict):
        _fail(path, "Member must be a JSON object")
    for name in shape.required_members:
        if value.get(name) is None:
            _fail(f"{path}.{name}" if path else name, "Member must not be null")
    members = shape.members
    for name, member in value.items():
        if member is None or name not in members:
            continue
        _check(members[name], member, f"{path}.{name}" if path else name)


def _check_string(shape: Shape, value: Any, path: str) -> None:
    problem = _string_problem(shape, value)
    if problem:
        _fail(path, problem)


def _string_problem(shape: Shape, value: Any) -> str | None:
    """The rule a string member breaks, or None."""
    if not isinstance(value, str):
        return "Member must be a string"
    too = _length_problem(shape, len(value), "have length")
    if too:
        return too
    enum = shape.enum
    if enum and value not in enum:
        return f"Member must satisfy enum value set: [{', '.join(enum)}]"
    pattern = shape.metadata.get("pattern")
    if pattern and not _pattern(pattern).fullmatch(value):
        return f"Member must satisfy regular expression pattern: {pattern}"
    return None


def _check_length(shape: Shape, length: int, path: str, what: str) -> None:
    problem = _length_problem(shape, length, what)
    if problem:
        _fail(path, problem)


def _length_problem(shape: Shape, length: int, what: str) -> str | None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and length < low:
        return f"Member must {what} greater than or equal to {low}"
    if high is not None and length > high:
        return f"Member must {what} less than or equal to {high}"
    return None


def _check_range(shape: Shape, value: float, path: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        _fail(path, f"Member must have value greater than or equal to {low}")
    if high is not None and value > high:
        _fail(path, f"Member must have value less than or equal to {high}")
