"""Dataset import jobs: CSV files in S3 -> columnar data segments (.npz).

The S3 body is streamed in blocks of whole CSV records (``BLOCK_BYTES``): a reader
thread fetches the next block while this one is parsed and a writer thread writes
the previous one's segment, so memory stays a few blocks whatever the file size.
A block is split with numpy: delimiter positions (those inside quotes skipped by
quote parity, RFC 4180), then one gather per column into fixed-width arrays; only
values with doubled quotes are fixed up in Python. A block numpy cannot split that
way (blank lines, wrong field counts, stray quotes) goes through the ``csv`` module.
Every row is typed and checked against the schema, vectorised per column, and each
block becomes one or more segments of at most about ``SEGMENT_BYTES``, strings as
numpy unicode arrays (no pickle).

AWS imports all or nothing: with any bad row the job fails with the number of bad
rows and the first few errors (file, physical line, field, reason), and the
segments already written are deleted. Otherwise one transaction registers the new
segments, drops the dataset's earlier bulk segments if the import is FULL, and
makes the job ACTIVE. Headers match schema fields case-insensitively and in any
order; nullable fields may be left out.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.jobs.data import null_column
from chalicelib.jobs.lifecycle import JobFailed, begin
from chalicelib.resources.schema_rules import DatasetSchema, Field, parse_schema
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.s3 import s3_client, split_s3_url
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)
MIN_INTERACTIONS = 1000
MAX_ID_LENGTH = 256
MAX_CATEGORICAL_LENGTH = 1000  # per value; multi-valued categoricals are split on "|"
MAX_TEXTUAL_LENGTH = 20_000  # longer textual values are truncated, not rejected
MAX_NUMBER_LENGTH = 64  # characters; longer is not a number we keep
MAX_TIMESTAMP = 10**10  # later than year 2286: a timestamp in milliseconds, not seconds
MAX_REPORTED_ERRORS = 5
ID_FIELDS = frozenset({"USER_ID", "ITEM_ID", "ACTION_ID"})
MULTI_VALUED = frozenset({"IMPRESSION"})  # "|"-separated like categoricals

BLOCK_BYTES = 8 * 2**20  # CSV bytes read and parsed at a time
SEGMENT_BYTES = 32 * 2**20  # in-memory size of one segment's arrays, at most (roughly)
MAX_RECORD_BYTES = 256 * 2**20  # one CSV record longer than this fails the job
GATHER_ELEMENTS = 2**21  # characters gathered per numpy step (bounds temporaries)
WIDE_COLUMN = 256  # wider string columns are sliced in Python rather than gathered
_INT32 = (-(2**31), 2**31 - 1)
_NEWLINE, _COMMA, _QUOTE = 10, 44, 34


def _s3_error(exc: Exception, url: str) -> JobFailed:
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    if code in ("NoSuchBucket", "NoSuchKey", "404", "NotFound"):
        return JobFailed(f"Invalid Data location: {url} does not exist ({code}).")
    if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return JobFailed("Insufficient privileges for accessing data in Amazon S3 "
                         f"({url}: {code}).")
    return JobFailed(f"Could not read {url} from S3: {exc}")


def csv_objects(url: str) -> list[str]:
    """The object keys a dataLocation names: one file, or every .csv under a prefix."""
    try:
        bucket, key = split_s3_url(url)
    except ValueError:
        raise JobFailed(f"Invalid Data location: {url} is not an s3://bucket/key URL.") from None
    s3 = s3_client()
    try:
        if key and not key.endswith("/"):
            s3.head_object(Bucket=bucket, Key=key)
            return [key]
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            keys += [o["Key"] for o in page.get("Contents", [])
                     if o["Key"].lower().endswith(".csv")]
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(exc, url) from None
    if not keys:
        raise JobFailed(f"Invalid Data location: no .csv files under {url}.")
    return sorted(keys)


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


def _blocks(body: _Readable, url: str, block_bytes: int) -> Iterator[tuple[int, bytes]]:
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


def _prefetched(items: Iterator[Any], depth: int = 1) -> Iterator[Any]:
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

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
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


class _Writer:
    """Writes segments on a thread of its own, one behind the parser (writes overlap
    parsing); ``close`` waits for it and raises what it raised."""

    def __init__(self, put: Callable[[str, bytes], None], names: np.ndarray) -> None:
        self._put, self._names = put, names
        self._queue: queue.Queue[tuple[str, dict[str, np.ndarray]] | None] = \
            queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="import-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain after a failure; close() reports it
            key, columns = item
            try:
                buf = io.BytesIO()
                # Wide string columns are mostly padding, which compresses to almost nothing.
                wide = any(c.dtype.kind == "U" and c.dtype.itemsize > 4 * 64
                           for c in columns.values())
                (np.savez_compressed if wide else np.savez)(buf, **columns,
                                                            __schema__=self._names)
                self._put(key, buf.getvalue())
            except BaseException as exc:  # noqa: BLE001 - handed to close()
                self._error = exc

    def write(self, key: str, columns: dict[str, np.ndarray]) -> None:
        if self._error is not None:
            self.close()
        self._queue.put((key, columns))

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def _decode(block: bytes, url: str, line: int) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError as exc:
        near = line + block.count(b"\n", 0, exc.start)
        raise JobFailed(f"{url} is not UTF-8 text (near line {near}); save the CSV as "
                        "UTF-8.") from None


# -- parsing: a block -> rows of fields --------------------------------------------------

class _Block(Protocol):
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
class _File:
    """One CSV file being read: its URL, header and where its records are."""

    url: str
    number: int  # files of a prefix are read in order
    header: list[Field]
    records: int = 0  # data records (non-blank rows) seen so far

    def where(self, line: int, record: int) -> str:
        return f"{self.url} line {line}, row {record}"


def _split(block: bytes, file: _File, line0: int, errors: _Errors) -> _Block:
    """Rows of a block; rows with the wrong number of fields are reported, not returned.

    The usual block (every line a record of the header's width, RFC 4180 quoting if any)
    is split with numpy; anything else goes through the csv module.
    """
    text = None
    if block.isascii():
        codes = np.frombuffer(block, np.uint8)
    else:
        text = _decode(block, file.url, line0)
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


def _csv_rows(block: bytes, file: _File, line0: int, errors: _Errors) -> _RowsBlock:
    text = _decode(block, file.url, line0)
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


def _csv_rows_by_line(text: str, file: _File, line0: int, errors: _Errors) -> _RowsBlock:
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


def _header(block: bytes, url: str, schema: DatasetSchema) -> tuple[list[Field], int]:
    """The header's fields (in file order) and the length of the header record."""
    end = block.find(b"\n") + 1 or len(block)
    while block.count(b'"', 0, end) % 2 and end < len(block):
        end = block.find(b"\n", end) + 1 or len(block)
    cells = next(csv.reader(io.StringIO(_decode(block[:end], url, 1), newline="")), [])
    names = [c.strip() for c in cells]
    by_name = {f.name.upper(): f for f in schema.fields}
    fields = [by_name.get(n.upper()) for n in names]
    unknown = [n for n, f in zip(names, fields, strict=True) if f is None]
    if unknown:
        raise JobFailed(f"{url}: the header names columns that are not in the schema: "
                        f"{unknown}. Header names must match schema field names "
                        f"({', '.join(f.name for f in schema.fields)}; any case, any order).")
    found = [f for f in fields if f is not None]
    twice = sorted({f.name for f in found if found.count(f) > 1})
    if twice:
        raise JobFailed(f"{url}: the header names {twice} more than once.")
    missing = [f.name for f in schema.fields if not f.nullable and f not in found]
    if missing:
        raise JobFailed(f"Input CSV is missing the following columns: {missing} ({url}).")
    return found, end


# -- typing and checking ----------------------------------------------------------------

@dataclass
class _Errors:
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


class _Piece:
    """Rows a..b of a block, typed field by field; ``bad`` marks rows with errors."""

    def __init__(self, block: _Block, file: _File, a: int, b: int) -> None:
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


# -- the job ------------------------------------------------------------------------------

class _Import:
    """One import job's progress: typed segments written, rows counted, errors."""

    def __init__(self, ctx: Context, schema: DatasetSchema, prefix: str) -> None:
        self.ctx, self.schema, self.prefix = ctx, schema, prefix
        self.errors = _Errors()
        self.rows = 0
        self.files = 0
        self.segments: list[tuple[str, int]] = []  # (blob key, rows), in file order
        self.writer = _Writer(ctx.blobs.put, np.array(json.dumps(
            [f.name for f in schema.fields])))

    def add_file(self, bucket: str, key: str, block_bytes: int) -> None:
        url = f"s3://{bucket}/{key}"
        self.files += 1
        try:
            body = s3_client().get_object(Bucket=bucket, Key=key)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(exc, url) from None
        blocks = _prefetched(_blocks(body, url, block_bytes))
        file: _File | None = None
        try:
            for line0, block in blocks:
                if file is None:
                    header, end = _header(block, url, self.schema)
                    file = _File(url, self.files, header)
                    line0 += block.count(b"\n", 0, end)
                    block = block[end:]
                if block:
                    self._add_block(_split(block, file, line0, self.errors), file)
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(exc, url) from None
        finally:
            blocks.close()
            body.close()
        if file is None:
            raise JobFailed(f"{url} is empty; the first line must be a header row.")

    def _add_block(self, block: _Block, file: _File) -> None:
        n = len(block.lines)
        if not n:
            return
        row_bytes = 0  # of the typed columns, to keep segments near SEGMENT_BYTES
        for f in self.schema.fields:
            if f.type != "string" or f not in file.header:
                row_bytes += 8
                continue
            width = int(block.lengths(file.header.index(f)).max())
            row_bytes += 4 * min(width, MAX_TEXTUAL_LENGTH if f.textual else width)
        step = max(256, SEGMENT_BYTES // max(row_bytes, 1))
        for a in range(0, n, step):
            piece = _Piece(block, file, a, min(n, a + step))
            columns = {f.name: piece.column(f) for f in self.schema.fields}
            bad = int(np.count_nonzero(piece.bad))
            self.errors.rows += bad
            for where, message in piece.messages:
                self.errors.add(where, message)
            self.rows += piece.b - piece.a - bad
            if not self.errors.rows:  # once a row is bad nothing is imported: stop writing
                self._write(columns, piece.b - piece.a)

    def _write(self, columns: dict[str, np.ndarray], rows: int) -> None:
        key = f"{self.prefix}/{len(self.segments):06d}.npz"
        self.segments.append((key, rows))  # before the put: a failure must delete it too
        self.writer.write(key, columns)


def run(ctx: Context, job: Resource) -> None:
    begin(ctx, job)
    dataset = ctx.store.one(job.attrs["datasetArn"])
    schema = parse_schema(ctx.store.one(dataset.attrs["schemaArn"]).attrs["schema"])
    url = job.attrs["dataSource"]["dataLocation"]
    bucket, _ = split_s3_url(url)
    started = time.perf_counter()
    work = _Import(ctx, schema, f"segments/{dataset.arn.rsplit(':', 1)[1]}/{job.name}")
    try:
        try:
            for key in csv_objects(url):
                work.add_file(bucket, key, BLOCK_BYTES)
        finally:
            work.writer.close()  # every segment is written (or the job fails)
        if work.errors.rows:
            raise JobFailed(f"{work.errors.rows} invalid row(s) in {url}; nothing was "
                            f"imported. First errors: {work.errors.report()}")
        if schema.dataset_type == "Interactions" and work.rows < MIN_INTERACTIONS:
            raise JobFailed(f"An Interactions import needs at least {MIN_INTERACTIONS} rows; "
                            f"{url} has {work.rows}.")
        replaced = _commit(ctx, job, dataset, work.segments)
    except BaseException:
        for key, _ in work.segments:
            ctx.blobs.delete(key)
        raise
    for key in replaced:  # after the commit: a crash here leaves only unreferenced files
        ctx.blobs.delete(key)
    seconds = time.perf_counter() - started
    log.info("imported %d rows from %s in %.2fs (%.0f rows/s, %d segments)", work.rows, url,
             seconds, work.rows / max(seconds, 1e-9), len(work.segments))


def _commit(ctx: Context, job: Resource, dataset: Resource,
            segments: list[tuple[str, int]]) -> list[str]:
    """In one transaction: drop the earlier bulk segments (FULL), register the new ones and
    make the job ACTIVE. Returns the keys of the replaced segments."""
    keys = {key for key, _ in segments}
    replaced: list[str] = []
    now = time.time()  # segments of one job share it and sort by key, i.e. in file order
    with ctx.store.transaction() as db:
        if job.attrs.get("importMode", "FULL") == "FULL":
            old = db.execute("SELECT key FROM segments WHERE dataset_arn = ? AND source = "
                             "'BULK'", [dataset.arn]).fetchall()
            replaced = [r[0] for r in old if r[0] not in keys]
            db.execute("DELETE FROM segments WHERE dataset_arn = ? AND source = 'BULK'",
                       [dataset.arn])
        rows: list[dict[str, Any]] = [
            {"key": key, "dataset_arn": dataset.arn, "job_arn": job.arn, "source": "BULK",
             "rows": n, "created": now} for key, n in segments]
        if rows:
            db["segments"].upsert_all(rows, pk="key")
        ctx.store.set_status(job.arn, Status.ACTIVE)
    return replaced
