"""Dataset import jobs: CSV files in S3 -> columnar data segments (.npz).

The S3 body is streamed in blocks of whole CSV records (``BLOCK_BYTES``): a reader
thread fetches the next block while this one is parsed and a writer thread writes
the previous one's segment, so memory stays a few blocks whatever the file size.
Blocks are split into fields by ``csv_blocks`` (numpy, or the ``csv`` module for the
odd block). Every row is typed and checked against the schema, vectorised per column,
by ``typing_rows``, and each block becomes one or more segments of at most about
``SEGMENT_BYTES``, strings as numpy unicode arrays (no pickle).

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
from collections.abc import Callable
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.jobs.csv_blocks import Block, Errors, File, decode, prefetched, split
from chalicelib.jobs.csv_blocks import blocks as record_blocks
from chalicelib.jobs.lifecycle import JobFailed, begin
from chalicelib.jobs.typing_rows import MAX_TEXTUAL_LENGTH, Piece
from chalicelib.resources.schema_rules import DatasetSchema, Field, parse_schema
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.s3 import caller_s3, split_s3_url
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)
MAX_LOGGED_HEADER = 1024  # characters of the ignored column names a log line shows
MIN_INTERACTIONS = 1000

BLOCK_BYTES = 8 * 2**20  # CSV bytes read and parsed at a time
SEGMENT_BYTES = 32 * 2**20  # in-memory size of one segment's arrays, at most (roughly)


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
    s3 = caller_s3()
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


# -- writing: segments on a thread of their own ----------------------------------------

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


# -- reading: the header ---------------------------------------------------------------

def _header(block: bytes, url: str, schema: DatasetSchema,
            ) -> tuple[list[Field | None], int]:
    """The header's fields in file order (None for a column the schema does not name,
    which is ignored, like pandas' unnamed index column) and the header record's length."""
    end = block.find(b"\n") + 1 or len(block)
    while block.count(b'"', 0, end) % 2 and end < len(block):
        end = block.find(b"\n", end) + 1 or len(block)
    cells = next(csv.reader(io.StringIO(decode(block[:end], url, 1), newline="")), [])
    names = [c.strip() for c in cells]
    by_name = {f.name.upper(): f for f in schema.fields}
    fields = [by_name.get(n.upper()) for n in names]
    unknown = [n for n, f in zip(names, fields, strict=True) if f is None]
    if unknown:
        log.info("%s: ignoring %d column(s) the schema does not name: %s", url,
                 len(unknown), _clip(repr(unknown), MAX_LOGGED_HEADER))
    found = [f for f in fields if f is not None]
    twice = sorted({f.name for f in found if found.count(f) > 1})
    if twice:
        raise JobFailed(f"{url}: the header names {twice} more than once.")
    missing = [f.name for f in schema.fields if not f.nullable and f not in found]
    if missing:
        raise JobFailed(f"Input CSV is missing the following columns: {missing} ({url}). "
                        "Header names must match schema field names "
                        f"({', '.join(f.name for f in schema.fields)}; any case, any order).")
    return fields, end


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


# -- the job ------------------------------------------------------------------------------

class _Import:
    """One import job's progress: typed segments written, rows counted, errors."""

    def __init__(self, ctx: Context, schema: DatasetSchema, prefix: str) -> None:
        self.ctx, self.schema, self.prefix = ctx, schema, prefix
        self.errors = Errors()
        self.rows = 0
        self.files = 0
        self.segments: list[tuple[str, int]] = []  # (blob key, rows), in file order
        self.writer = _Writer(ctx.blobs.put, np.array(json.dumps(
            [f.name for f in schema.fields])))

    def add_file(self, bucket: str, key: str, block_bytes: int) -> None:
        url = f"s3://{bucket}/{key}"
        self.files += 1
        try:
            body = caller_s3().get_object(Bucket=bucket, Key=key)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(exc, url) from None
        blocks = prefetched(record_blocks(body, url, block_bytes))
        file: File | None = None
        try:
            for line0, block in blocks:
                if file is None:
                    header, end = _header(block, url, self.schema)
                    file = File(url, self.files, header)
                    line0 += block.count(b"\n", 0, end)
                    block = block[end:]
                if block:
                    self._add_block(split(block, file, line0, self.errors), file)
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(exc, url) from None
        finally:
            blocks.close()
            body.close()
        if file is None:
            raise JobFailed(f"{url} is empty; the first line must be a header row.")

    def _add_block(self, block: Block, file: File) -> None:
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
            piece = Piece(block, file, a, min(n, a + step))
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
