"""Typing and checking rows against a dataset schema, vectorised per column.

A ``Piece`` is a run of rows of a ``Block`` (see ``csv_blocks``); ``Piece.column`` turns
one schema field into a numpy column (strings as numpy unicode arrays, numbers as int64
or float64, booleans as bool; a nullable field the file leaves out is all null) and marks
the rows whose values break the schema's rules (empty non-null fields, over-long ids and
categorical values, malformed, non-finite or out-of-range numbers, timestamps in
milliseconds), describing the first few with their file, physical line and field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chalicelib.jobs.csv_blocks import MAX_REPORTED_ERRORS, Block, File
from chalicelib.jobs.data import null_column
from chalicelib.resources.schema_rules import Field

MAX_ID_LENGTH = 256
MAX_CATEGORICAL_LENGTH = 1000  # per value; multi-valued categoricals are split on "|"
MAX_TEXTUAL_LENGTH = 20_000  # longer textual values are truncated, not rejected
MAX_NUMBER_LENGTH = 64  # characters; longer is not a number we keep
MAX_TIMESTAMP = 10**10  # later than year 2286: a timestamp in milliseconds, not seconds
ID_FIELDS = frozenset({"USER_ID", "ITEM_ID", "ACTION_ID"})
MULTI_VALUED = frozenset({"IMPRESSION"})  # "|"-separated like categoricals
_INT32 = (-(2**31), 2**31 - 1)


class Piece:
    """Rows a..b of a block, typed field by field; ``bad`` marks rows with errors."""

    def __init__(self, block: Block, file: File, a: int, b: int) -> None:
        self.block, self.file, self.a, self.b = block, file, a, b
        self.bad = np.zeros(b - a, bool)
        self.messages: list[tuple[tuple[int, int], str]] = []  # ((file, line), message)

    def error(self, rows: np.ndarray, field: Field, describe: Callable[[int], str]) -> None:
        """Mark ``rows`` (indices in the piece) bad; describe the first few."""
        if not len(rows):
            return
        self.bad[rows] = True
        for i in rows[:MAX_REPORTED_ERRORS]:
            row = self.a + int(i)
            line = int(self.block.lines[row])
            where = self.file.where(line, int(self.block.records[row]))
            self.messages.append(((self.file.number, line),
                                  f"{where}: {field.name} {describe(row)}"))

    def column(self, field: Field) -> np.ndarray:
        n = self.b - self.a
        try:
            j = self.file.header.index(field)
        except ValueError:  # a nullable field the file leaves out: all null
            return null_column(field, n)
        lengths = self.block.lengths(j)[self.a:self.b]
        if not field.nullable:
            self.error(np.flatnonzero(lengths == 0), field, lambda _: (
                "is empty but the schema does not allow null (make the field "
                "[\"null\", type] or fill it in)"))
        if field.type == "string":
            return self._string(field, j, lengths)
        if field.type == "boolean":
            return self._boolean(field, j, lengths)
        return self._number(field, j, lengths)

    def _string(self, field: Field, j: int, lengths: np.ndarray) -> np.ndarray:
        value = self.block.value
        if field.name in ID_FIELDS:
            self.error(np.flatnonzero(lengths > MAX_ID_LENGTH), field,
                       lambda r: f"is longer than {MAX_ID_LENGTH} characters "
                       f"({len(value(j, r))}: {_show(value(j, r))})")
        if field.categorical or field.name in MULTI_VALUED:
            long = np.flatnonzero(lengths > MAX_CATEGORICAL_LENGTH)
            too_long = [i for i in long if max(map(len, value(j, self.a + int(i)).split("|")))
                        > MAX_CATEGORICAL_LENGTH]
            self.error(np.array(too_long, np.int64), field, lambda _: (
                f"has a value longer than {MAX_CATEGORICAL_LENGTH} characters (values are "
                "separated by |)"))
        cap = MAX_TEXTUAL_LENGTH if field.textual else None
        return self.block.strings(j, self.a, self.b, cap)

    def _raw(self, j: int, lengths: np.ndarray, limit: int, field: Field,
             kind: str) -> np.ndarray:
        """Column j as bytes (ASCII) or str, values longer than ``limit`` marked bad."""
        value = self.block.value
        self.error(np.flatnonzero(lengths > limit), field,
                   lambda r: f"must be {kind}, got {_show(value(j, r))}")
        raw = self.block.ascii_bytes(j, self.a, self.b, limit)
        return raw if raw is not None else self.block.strings(j, self.a, self.b, limit)

    def _boolean(self, field: Field, j: int, lengths: np.ndarray) -> np.ndarray:
        kind = "true or false (lowercase)"
        raw = self._raw(j, lengths, 8, field, kind)
        true, false = ("true", "false") if raw.dtype.kind == "U" else (b"true", b"false")
        is_true = raw == true
        ok = is_true | (raw == false) | (lengths == 0) | (lengths > 8)
        value = self.block.value
        self.error(np.flatnonzero(~ok), field, lambda r: f"must be {kind}, got "
                   f"{_show(value(j, r))}")
        return is_true

    def _number(self, field: Field, j: int, lengths: np.ndarray) -> np.ndarray:
        integer = field.type in ("int", "long")
        kind = "an integer" if integer else "a number"
        raw = self._raw(j, lengths, MAX_NUMBER_LENGTH, field, kind)
        empty = lengths == 0
        if empty.any():
            raw = np.where(empty, "0" if raw.dtype.kind == "U" else b"0", raw)
        value = self.block.value
        try:
            col = raw.astype(np.int64 if integer else np.float64)
        except (ValueError, OverflowError):
            col, bad = _parse_each(raw, integer)
            bad &= lengths <= MAX_NUMBER_LENGTH  # already reported
            self.error(np.flatnonzero(bad), field,
                       lambda r: f"must be {kind}, got {_show(value(j, r))}")
        if field.type == "int":
            self.error(np.flatnonzero((col < _INT32[0]) | (col > _INT32[1])), field,
                       lambda r: f"{value(j, r)} does not fit a 32-bit int")
        if not integer:
            self.error(np.flatnonzero(~np.isfinite(col) & ~empty), field,
                       lambda r: f"must be a finite number, got {_show(value(j, r))}")
            col[empty] = np.nan
        if field.name.endswith("TIMESTAMP"):
            self.error(np.flatnonzero(col > MAX_TIMESTAMP), field, lambda r: (
                f"{value(j, r)} looks like milliseconds; timestamps are Unix epoch seconds"))
        return col


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _parse_each(raw: np.ndarray, integer: bool) -> tuple[np.ndarray, np.ndarray]:
    """Values one by one (after a vectorised cast failed): (column, bad mask)."""
    col = np.zeros(len(raw), np.int64 if integer else np.float64)
    bad = np.zeros(len(raw), bool)
    parse: Callable[[Any], Any] = int if integer else float
    for i, v in enumerate(raw.tolist()):
        try:
            col[i] = parse(v)
        except (ValueError, OverflowError):
            bad[i] = True
    return col, bad
