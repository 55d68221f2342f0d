"""Dataset import jobs: CSV files in S3 -> a columnar data segment (.npz).

Each file's header is checked against the dataset's schema, every row is typed
and checked, and the job fails with the row numbers, fields and reasons of the
first bad rows (AWS imports all or nothing). A FULL import replaces the
dataset's earlier bulk segments; an INCREMENTAL one adds a segment.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.jobs.lifecycle import JobFailed, begin
from chalicelib.resources.schema_rules import DatasetSchema, Field, parse_schema
from chalicelib.state.blobs import put_arrays
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.s3 import s3_client, split_s3_url
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)
MIN_INTERACTIONS = 1000
MAX_ID_LENGTH = 256
MAX_TIMESTAMP = 10**10  # later than year 2286: a timestamp in milliseconds, not seconds
MAX_REPORTED_ERRORS = 5
ID_FIELDS = frozenset({"USER_ID", "ITEM_ID", "ACTION_ID"})


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


def _rows(bucket: str, key: str) -> Iterator[tuple[int, list[str]]]:
    url = f"s3://{bucket}/{key}"
    try:
        body = s3_client().get_object(Bucket=bucket, Key=key)["Body"]
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(exc, url) from None
    text = io.TextIOWrapper(body, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        for row in reader:
            yield reader.line_num, row
    except UnicodeDecodeError:
        raise JobFailed(f"{url} is not UTF-8 text (near line {reader.line_num + 1}); save "
                        "the CSV as UTF-8.") from None
    except csv.Error as exc:
        raise JobFailed(f"{url} line {reader.line_num}: malformed CSV ({exc}).") from None


class _Columns:
    """Collects one dataset's typed columns and the first bad rows."""

    def __init__(self, schema: DatasetSchema) -> None:
        self.schema = schema
        self.values: dict[str, list[str]] = {f.name: [] for f in schema.fields}
        self.errors: list[str] = []
        self.bad_rows = 0
        self.rows = 0

    def error(self, where: str, message: str) -> None:
        self.bad_rows += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(f"{where}: {message}")

    def add_file(self, url: str, rows: Iterator[tuple[int, list[str]]]) -> None:
        try:
            _, header = next(rows)
        except StopIteration:
            raise JobFailed(f"{url} is empty; the first line must be a header row.") from None
        header = [h.strip() for h in header]
        fields = [self.schema.field(h) for h in header]
        unknown = [h for h, f in zip(header, fields, strict=True) if f is None]
        if unknown:
            raise JobFailed(f"{url}: the header names columns that are not in the schema: "
                            f"{unknown}. Header names must match schema field names.")
        missing = [f.name for f in self.schema.fields if not f.nullable and f.name not in header]
        if missing:
            raise JobFailed(f"Input CSV is missing the following columns: {missing} ({url}).")
        absent = [f.name for f in self.schema.fields if f.name not in header]
        width = len(header)
        for line, row in rows:
            if not row:
                continue
            if len(row) != width:
                self.error(f"{url} line {line}", f"{len(row)} values for {width} header columns")
                continue
            self.rows += 1
            for name, value in zip(header, row, strict=True):
                self.values[name].append(value)
            for name in absent:
                self.values[name].append("")

    def typed(self) -> dict[str, np.ndarray]:
        return {f.name: self._column(f) for f in self.schema.fields}

    def _column(self, field: Field) -> np.ndarray:
        raw = self.values[field.name]
        empty = np.array([v == "" for v in raw], dtype=bool)
        if empty.any() and not field.nullable:
            for i in np.flatnonzero(empty)[:MAX_REPORTED_ERRORS]:
                self.error(f"row {i + 1}", f"{field.name} is empty but the schema does not "
                           "allow null (make the field [\"null\", type] or fill it in)")
        if field.type == "string":
            col = np.array(raw, dtype=np.str_) if raw else np.array([], dtype="U1")
            if field.name in ID_FIELDS and raw:
                too_long = np.flatnonzero(np.char.str_len(col) > MAX_ID_LENGTH)
                for i in too_long[:MAX_REPORTED_ERRORS]:
                    self.error(f"row {i + 1}", f"{field.name} is longer than "
                               f"{MAX_ID_LENGTH} characters")
            return col
        if field.type == "boolean":
            bad = [i for i, v in enumerate(raw) if v not in ("true", "false", "")]
            for i in bad[:MAX_REPORTED_ERRORS]:
                self.error(f"row {i + 1}", f"{field.name} must be true or false, got {raw[i]!r}")
            return np.array([v == "true" for v in raw], dtype=bool)
        return self._numeric(field, raw, empty)

    def _numeric(self, field: Field, raw: list[str], empty: np.ndarray) -> np.ndarray:
        integer = field.type in ("int", "long")
        dtype = np.int64 if integer else np.float64
        filled = ["0" if e else v for v, e in zip(raw, empty, strict=True)]
        try:
            col = np.array(filled, dtype=np.str_).astype(dtype) if filled else \
                np.zeros(0, dtype)
        except ValueError:
            col = np.zeros(len(raw), dtype)
            for i, value in enumerate(filled):
                try:
                    col[i] = int(value) if integer else float(value)
                except ValueError:
                    self.error(f"row {i + 1}", f"{field.name} must be "
                               f"{'an integer' if integer else 'a number'}, got {value!r}")
        if not integer:
            col[empty] = np.nan
        if field.name.endswith("TIMESTAMP") and len(col):
            for i in np.flatnonzero(col > MAX_TIMESTAMP)[:MAX_REPORTED_ERRORS]:
                self.error(f"row {i + 1}", f"{field.name} {col[i]} looks like milliseconds; "
                           "timestamps are Unix epoch seconds")
        return col


def run(ctx: Context, job: Resource) -> None:
    begin(ctx, job)
    dataset = ctx.store.one(job.attrs["datasetArn"])
    schema = parse_schema(ctx.store.one(dataset.attrs["schemaArn"]).attrs["schema"])
    url = job.attrs["dataSource"]["dataLocation"]
    bucket, _ = split_s3_url(url)
    started = time.perf_counter()
    columns = _Columns(schema)
    for key in csv_objects(url):
        columns.add_file(f"s3://{bucket}/{key}", _rows(bucket, key))
    typed = columns.typed()
    if columns.bad_rows:
        raise JobFailed(f"{columns.bad_rows} invalid row(s) in {url}; nothing was imported. "
                        f"First errors: {'; '.join(columns.errors)}")
    if schema.dataset_type == "Interactions" and columns.rows < MIN_INTERACTIONS:
        raise JobFailed(f"An Interactions import needs at least {MIN_INTERACTIONS} rows; "
                        f"{url} has {columns.rows}.")
    key = f"segments/{dataset.arn.rsplit(':', 1)[1]}/{job.name}.npz"
    put_arrays(ctx.blobs, key, {**typed, "__schema__": np.array(json.dumps(
        [f.name for f in schema.fields]))})
    _commit(ctx, job, dataset, key, columns.rows)
    log.info("imported %d rows from %s in %.2fs", columns.rows, url,
             time.perf_counter() - started)


def _commit(ctx: Context, job: Resource, dataset: Resource, key: str, rows: int) -> None:
    replaced: list[str] = []
    with ctx.store.transaction() as db:
        if job.attrs.get("importMode", "FULL") == "FULL":
            old = db.execute("SELECT key FROM segments WHERE dataset_arn = ? AND source = "
                             "'BULK'", [dataset.arn]).fetchall()
            replaced = [r[0] for r in old if r[0] != key]
            db.execute("DELETE FROM segments WHERE dataset_arn = ? AND source = 'BULK'",
                       [dataset.arn])
        row: dict[str, Any] = {"key": key, "dataset_arn": dataset.arn, "job_arn": job.arn,
                               "source": "BULK", "rows": rows, "created": time.time()}
        db["segments"].upsert(row, pk="key")
        ctx.store.set_status(job.arn, Status.ACTIVE)
    for old_key in replaced:
        ctx.blobs.delete(old_key)
