"""CSV bytes -> blocks of whole records -> rows of fields (no schema, no S3).

A byte stream is read in blocks of whole CSV records (``blocks``): the byte-order mark
is dropped, line ends become LF, and a record never straddles two blocks (quote parity
tells where records end, RFC 4180). ``prefetched`` runs such an iterator on a thread so
that reads overlap parsing.

A block is split with numpy (``split``): delimiter positions (those inside quotes skipped
by quote parity), then one gather per column into fixed-width arrays; only values with
doubled quotes are fixed up in Python. A block numpy cannot split that way (blank lines,
wrong field counts, stray quotes) goes through the ``csv`` module. Either way the result
is a ``Block``: the well-formed rows, field by field, with the physical line and record
number of each. Rows with the wrong number of fields are counted and the first few
reported in ``Errors``.
"""

from __future__ import annotations

import contextvars
import csv
import io
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from chalicelib.jobs.lifecycle import JobFailed
from chalicelib.resources.schema_rules import Field

MAX_REPORTED_ERRORS = 5
MAX_RECORD_BYTES = 256 * 2**20  # one CSV record longer than this fails the job
GATHER_ELEMENTS = 2**21  # characters gathered per numpy step (bounds temporaries)
WIDE_COLUMN = 256  # wider string columns are sliced in Python rather than gathered
_NEWLINE, _COMMA, _QUOTE = 10, 44, 34


# -- reading: a byte stream -> blocks of whole records ---------------------------------

class _Readable(Protocol):
    def read(self, amt: int) -> bytes: ...


def _record_end(buf: bytes) -> int:
    """Length of the longest prefix of ``buf`` made of whole CSV records (0 if none).

    ``buf`` starts at a record boundary. Without quotes that is up to the last newline;
    with quotes, a newline ends a record only after an even number of quote characters
    (RFC 4180 doubles quotes inside quoted fields, so the parity tells).
    """
    if b'"' not in buf:
        return buf.rfind(b"\n") + 1
    codes = np.frombuffer(buf, np.uint8)
    newlines = np.flatnonzero(codes == _NEWLINE)
    quotes_before = np.searchsorted(np.flatnonzero(codes == _QUOTE), newlines)
    ends = newlines[quotes_before % 2 == 0]
    return int(ends[-1]) + 1 if len(ends) else 0


def blocks(body: _Readable, url: str, block_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(physical line number of the block's first line, block of whole records). The
    byte-order mark is dropped and line ends become LF (CRLF and lone CR, also inside
    quoted values), so that everything after this sees only LF."""
    buf, line, first, carry = b"", 1, True, b""
    while True:
        data = body.read(block_bytes)
        if first:
            data, first = data.removeprefix(b"\xef\xbb\xbf"), False
        end = not data
        data, carry = carry + data, b""
        if data.endswith(b"\r") and not end:  # its LF may come with the next read
            data, carry = data[:-1], b"\r"
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if end:  # whatever is left is the last record(s)
            buf += data
            if buf:
                yield line, buf
            return
        buf = buf + data if buf else data
        cut = _record_end(buf)
        if cut == 0:
            if len(buf) > MAX_RECORD_BYTES:
                raise JobFailed(f"{url} line {line}: a record is longer than "
                                f"{MAX_RECORD_BYTES // 2**20} MB; is a quoted field left open?")
            continue
        block, buf = (buf, b"") if cut == len(buf) else (buf[:cut], buf[cut:])
        yield line, block
        line += block.count(b"\n")


def prefetched(items: Iterator[Any], depth: int = 1) -> Iterator[Any]:
    """``items``, produced by a thread up to ``depth`` ahead (S3 reads overlap parsing)."""
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(kind: str, value: Any) -> bool:
        """Queue (kind, value) unless the consumer has gone; whether it was queued."""
        while not stop.is_set():
            try:
                slots.put((kind, value), timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer("item", item):
                    return
            offer("end", None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            offer("error", exc)

    # The reader runs in the job's context: whose S3 data it reads (state.s3.acting_for).
    thread = threading.Thread(target=contextvars.copy_context().run, args=(produce,),
                              name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join(timeout=5)


def decode(block: bytes, url: str, line: int) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError as exc:
        near = line + block.count(b"\n", 0, exc.start)
        raise JobFailed(f"{url} is not UTF-8 text (near line {near}); save the CSV as "
                        "UTF-8.") from None


# -- bad rows --------------------------------------------------------------------------

@dataclass
class Errors:
    """The number of bad rows and the first errors in file order."""

    rows: int = 0
    first: list[tuple[tuple[int, int], str]] = field(default_factory=list)

    def add(self, where: tuple[int, int], message: str) -> None:
        """An error at (file number, line)."""
        self.first.append((where, message))
        self.first.sort(key=lambda e: e[0])
        del self.first[MAX_REPORTED_ERRORS:]

    def report(self) -> str:
        return "; ".join(m for _, m in self.first)


# -- parsing: a block -> rows of fields --------------------------------------------------

class Block(Protocol):
    """The well-formed rows of one block, field by field."""

    lines: np.ndarray  # physical line of each row (where the record starts)
    records: np.ndarray  # 1-based number of each row among the file's data records

    def lengths(self, j: int) -> np.ndarray: ...
    def value(self, j: int, i: int) -> str: ...
    def strings(self, j: int, a: int, b: int, cap: int | None = None) -> np.ndarray: ...
    def ascii_bytes(self, j: int, a: int, b: int, cap: int) -> np.ndarray | None: ...


class _SplitBlock:
    """A block split with numpy: field j of row i is ``codes[starts[i, j]:ends[i, j]]``,
    where ``codes`` are the block's bytes (ASCII) or code points; ``shrink[i, j] > 0``
    marks a quoted value with that many doubled quotes to undo."""

    def __init__(self, codes: np.ndarray, text: str | None, starts: np.ndarray,
                 ends: np.ndarray, lines: np.ndarray, records: np.ndarray,
                 shrink: np.ndarray | None = None) -> None:
        self.codes, self._text = codes, text
        self.starts, self.ends, self.lines, self.records = starts, ends, lines, records
        self.shrink = shrink

    @property
    def text(self) -> str:
        if self._text is None:  # ASCII codes: byte offsets are character offsets
            self._text = self.codes.tobytes().decode("ascii")
        return self._text

    def _spans(self, j: int) -> np.ndarray:
        return self.ends[:, j] - self.starts[:, j]

    def lengths(self, j: int) -> np.ndarray:
        spans = self._spans(j)
        return spans if self.shrink is None else spans - self.shrink[:, j]

    def value(self, j: int, i: int) -> str:
        value = self.text[self.starts[i, j]:self.ends[i, j]]
        return value.replace('""', '"') if self.shrink is not None and self.shrink[i, j] \
            else value

    def _unescape(self, col: np.ndarray, j: int, a: int, b: int, cap: int | None) -> None:
        if self.shrink is not None:
            for i in np.flatnonzero(self.shrink[a:b, j]).tolist():
                col[i] = self.value(j, a + i)[:cap]

    def _gather(self, j: int, a: int, b: int, cap: int | None, dtype: type) -> np.ndarray:
        """Rows a..b of column j as an (n, width) array of character codes, 0-padded."""
        starts, lengths = self.starts[a:b, j], self._spans(j)[a:b]
        if cap is not None:
            lengths = np.minimum(lengths, cap)
        width = max(int(lengths.max(initial=0)), 1)
        out = np.zeros((b - a, width), dtype)
        step = max(1, GATHER_ELEMENTS // width)
        last = len(self.codes) - 1
        index_type = np.int32 if last + width < 2**31 else np.int64
        offsets = np.arange(width, dtype=index_type)
        for s in range(0, b - a, step):
            index = starts[s:s + step, None].astype(index_type) + offsets
            if int(index[-1, -1]) > last:  # only the block's last field can run past it
                np.minimum(index, last, out=index)
            chunk = self.codes[index]
            chunk[offsets >= lengths[s:s + step, None]] = 0
            out[s:s + step] = chunk
        return out

    def strings(self, j: int, a: int, b: int, cap: int | None = None) -> np.ndarray:
        width = int(self._spans(j)[a:b].max(initial=0))
        if width > WIDE_COLUMN:  # mostly padding: Python slices are cheaper than a gather
            text, s, e = self.text, self.starts[a:b, j].tolist(), self.ends[a:b, j].tolist()
            values = [text[x:y] for x, y in zip(s, e, strict=True)]
            col = np.array(values, dtype=np.str_) if values else np.zeros(0, "U1")
            if cap and col.dtype.itemsize > 4 * cap:
                col = col.astype(f"U{cap}")
        else:
            codes = self._gather(j, a, b, cap, np.uint32)
            col = codes.view(f"<U{codes.shape[1]}").reshape(b - a)
        self._unescape(col, j, a, b, cap)
        return col

    def ascii_bytes(self, j: int, a: int, b: int, cap: int) -> np.ndarray | None:
        if self.codes.dtype != np.uint8:
            return None
        codes = self._gather(j, a, b, cap, np.uint8)
        return codes.view(f"S{codes.shape[1]}").reshape(b - a)


class _RowsBlock:
    """A block parsed by the csv module (it has quoted fields)."""

    def __init__(self, columns: list[tuple[str, ...]], lines: np.ndarray,
                 records: np.ndarray) -> None:
        self.columns, self.lines, self.records = columns, lines, records
        self._lengths: dict[int, np.ndarray] = {}

    def lengths(self, j: int) -> np.ndarray:
        if j not in self._lengths:
            self._lengths[j] = np.fromiter(map(len, self.columns[j]), np.int64,
                                           len(self.lines))
        return self._lengths[j]

    def value(self, j: int, i: int) -> str:
        return self.columns[j][i]

    def strings(self, j: int, a: int, b: int, cap: int | None = None) -> np.ndarray:
        values = self.columns[j][a:b]
        col = np.array(values, dtype=np.str_) if values else np.zeros(0, "U1")
        return col.astype(f"U{cap}") if cap and col.dtype.itemsize > 4 * cap else col

    def ascii_bytes(self, j: int, a: int, b: int, cap: int) -> np.ndarray | None:
        return None


@dataclass
class File:
    """One CSV file being read: its URL, header and where its records are."""

    url: str
    number: int  # files of a prefix are read in order
    header: list[Field | None]  # None: a column the schema does not name (ignored)
    records: int = 0  # data records (non-blank rows) seen so far

    def where(self, line: int, record: int) -> str:
        return f"{self.url} line {line}, row {record}"


def split(block: bytes, file: File, line0: int, errors: Errors) -> Block:
    """Rows of a block; rows with the wrong number of fields are reported, not returned.

    The usual block (every line a record of the header's width, RFC 4180 quoting if any)
    is split with numpy; anything else goes through the csv module.
    """
    text = None
    if block.isascii():
        codes = np.frombuffer(block, np.uint8)
    else:
        text = decode(block, file.url, line0)
        codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    width = len(file.header)
    quoted = b'"' in block
    quotes = np.flatnonzero(codes == _QUOTE) if quoted else None
    regular = _regular_rows(codes, width, quotes)
    shrink = None
    if regular is not None and quotes is not None:
        regular, shrink = _unquote(codes, *regular, quotes)
    if regular is not None:
        starts, ends, row_starts = regular
        n = len(starts)
        lines = np.searchsorted(np.flatnonzero(codes == _NEWLINE), row_starts) if quoted \
            else np.arange(n)
        split = _SplitBlock(codes, text, starts, ends, line0 + lines,
                            file.records + np.arange(1, n + 1), shrink)
        if shrink is None or _doubled_quotes_only(split):
            file.records += n
            return split
    if quoted:
        return _csv_rows(block, file, line0, errors)
    line_ends = np.flatnonzero(codes == _NEWLINE)
    if len(codes) and codes[-1] != _NEWLINE:  # the file's last line has no newline
        line_ends = np.append(line_ends, len(codes))
    line_starts = np.empty_like(line_ends)
    line_starts[:1] = 0
    line_starts[1:] = line_ends[:-1] + 1
    commas = np.flatnonzero(codes == _COMMA)
    first_comma = np.searchsorted(commas, line_starts)
    n_commas = np.searchsorted(commas, line_ends) - first_comma
    nonblank = line_ends > line_starts
    records = file.records + np.cumsum(nonblank)
    file.records = int(records[-1]) if len(records) else file.records
    good = nonblank & (n_commas == width - 1)
    wrong = np.flatnonzero(nonblank & ~good)
    for i in wrong[:MAX_REPORTED_ERRORS]:
        line = int(line0 + i)
        errors.add((file.number, line), f"{file.where(line, int(records[i]))}: "
                   f"{n_commas[i] + 1} values for {width} header columns")
    errors.rows += len(wrong)
    rows = np.flatnonzero(good)
    inner = commas[first_comma[rows, None] + np.arange(width - 1)]
    starts = np.empty((len(rows), width), np.int64)
    ends = np.empty((len(rows), width), np.int64)
    starts[:, 0], starts[:, 1:] = line_starts[rows], inner + 1
    ends[:, :-1], ends[:, -1] = inner, line_ends[rows]
    return _SplitBlock(codes, text, starts, ends, line0 + rows, records[rows])


_Fields = tuple[np.ndarray, np.ndarray, np.ndarray]


def _regular_rows(codes: np.ndarray, width: int, quotes: np.ndarray | None) -> _Fields | None:
    """(starts, ends) of each field and where each row starts, if every record has
    ``width`` fields and none is blank (the usual case: one pass over the delimiters),
    else None. With ``quotes`` (their positions), delimiters inside quotes are skipped."""
    is_delimiter = codes == _COMMA
    is_delimiter |= codes == _NEWLINE
    ends = np.flatnonzero(is_delimiter)
    if quotes is not None:
        if len(quotes) % 2:  # a quoted value left open
            return None
        ends = ends[np.searchsorted(quotes, ends) % 2 == 0]
    if len(codes) and codes[-1] != _NEWLINE:  # the file's last line has no newline
        ends = np.append(ends, len(codes))
    if not len(ends) or len(ends) % width:
        return None
    ends = ends.reshape(-1, width)
    row_ends = ends[:, -1]
    if not (codes[row_ends[:-1]] == _NEWLINE).all() or \
            (row_ends[-1] < len(codes) and codes[row_ends[-1]] != _NEWLINE) or \
            (width > 1 and not (codes[ends[:, :-1]] == _COMMA).all()):
        return None
    starts = np.empty_like(ends)
    starts.flat[0] = 0
    starts.flat[1:] = ends.flat[:-1] + 1
    if ((ends[:, -1] - starts[:, 0]) == 0).any():  # a blank line (one field, empty)
        return None
    return starts, ends, starts[:, 0].copy()


def _unquote(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray, row_starts: np.ndarray,
             quotes: np.ndarray) -> tuple[_Fields | None, np.ndarray | None]:
    """Fields that start with a quote must end with one: their spans lose both, and
    ``shrink`` counts their doubled quotes. (None, None) for anything else RFC 4180
    does not describe (left to the csv module)."""
    n_quotes = np.searchsorted(quotes, ends) - np.searchsorted(quotes, starts)
    has_quotes = n_quotes > 0
    first = codes[np.minimum(starts, len(codes) - 1)]
    quoted = has_quotes & (first == _QUOTE) & (ends > starts)
    if (has_quotes & ~quoted & (n_quotes % 2 == 1)).any():  # else kept as they are
        return None, None
    last = codes[np.maximum(ends - 1, 0)]
    if not ((last[quoted] == _QUOTE) & (ends[quoted] - starts[quoted] >= 2)).all():
        return None, None
    starts = starts + quoted
    ends = ends - quoted
    shrink = np.where(quoted, (n_quotes - 2) // 2, 0)
    return (starts, ends, row_starts), (shrink if shrink.any() else None)


def _doubled_quotes_only(block: _SplitBlock) -> bool:
    """Whether every quote inside a quoted value is doubled (else the csv module decides)."""
    assert block.shrink is not None
    text = block.text
    for i, j in zip(*np.nonzero(block.shrink), strict=True):
        value = text[block.starts[i, j]:block.ends[i, j]]
        if '"' in value.replace('""', ""):
            return False
    return True


def _csv_rows(block: bytes, file: File, line0: int, errors: Errors) -> _RowsBlock:
    text = decode(block, file.url, line0)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        rows = None  # the slow path below says where
    offsets = _record_lines(block, len(rows)) if rows is not None else None
    if rows is None or offsets is None:
        return _csv_rows_by_line(text, file, line0, errors)
    width = len(file.header)
    counts = np.fromiter(map(len, rows), np.int64, len(rows))
    nonblank = counts > 0
    records = file.records + np.cumsum(nonblank)
    file.records = int(records[-1]) if len(records) else file.records
    wrong = np.flatnonzero(nonblank & (counts != width))
    for i in wrong[:MAX_REPORTED_ERRORS]:
        line = int(line0 + offsets[i])
        errors.add((file.number, line), f"{file.where(line, int(records[i]))}: "
                   f"{counts[i]} values for {width} header columns")
    errors.rows += len(wrong)
    good = np.flatnonzero(counts == width)
    if len(good) < len(rows):
        rows = [rows[i] for i in good.tolist()]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]
    return _RowsBlock(columns, line0 + offsets[good], records[good])


def _record_lines(block: bytes, n_records: int) -> np.ndarray | None:
    """The line offset (in the block) where each CSV record starts, from quote parity:
    a newline after an even number of quotes ends a record. None if that does not
    give the csv module's ``n_records`` records."""
    codes = np.frombuffer(block, np.uint8)
    newlines = np.flatnonzero(codes == _NEWLINE)
    quotes_before = np.searchsorted(np.flatnonzero(codes == _QUOTE), newlines)
    ends = newlines[quotes_before % 2 == 0]
    n = len(ends) + (1 if len(block) and block[-1] != _NEWLINE else 0)
    if n != n_records:
        return None
    starts = np.concatenate(([0], ends[:n - 1] + 1)) if n else np.zeros(0, np.int64)
    return np.searchsorted(newlines, starts)


def _csv_rows_by_line(text: str, file: File, line0: int, errors: Errors) -> _RowsBlock:
    """The csv module row by row, following its line count (to locate an error)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    width = len(file.header)
    rows: list[list[str]] = []
    lines: list[int] = []
    records: list[int] = []
    bad = 0
    done = 0  # physical lines consumed before the current record
    try:
        for row in reader:
            start, done = line0 + done, reader.line_num
            if not row:
                continue
            file.records += 1
            if len(row) != width:
                bad += 1
                errors.add((file.number, start), f"{file.where(start, file.records)}: "
                           f"{len(row)} values for {width} header columns")
                continue
            rows.append(row)
            lines.append(start)
            records.append(file.records)
    except csv.Error as exc:
        raise JobFailed(f"{file.url} line {line0 + reader.line_num}: malformed CSV "
                        f"({exc}).") from None
    errors.rows += bad
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]
    return _RowsBlock(columns, np.array(lines, np.int64), np.array(records, np.int64))
