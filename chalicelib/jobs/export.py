"""Dataset export jobs: a dataset's rows -> CSV in S3 (ingestionMode BULK, PUT or ALL)."""

from __future__ import annotations

import csv
import io
import logging
import math

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.jobs.data import bulk_parts, dataset_columns, put_columns, schema_of
from chalicelib.jobs.lifecycle import JobFailed, begin
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.s3 import caller_s3, split_s3_url
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)
ROWS_PER_FILE = 1_000_000


def _cell(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else repr(float(value))
    return str(value)


def _rows(columns: dict[str, np.ndarray], names: list[str], distinct: bool) -> list[tuple]:
    rows = list(zip(*(columns[n].tolist() for n in names), strict=True))
    return list(dict.fromkeys(rows)) if distinct else rows


def export_rows(ctx: Context, dataset_arn: str, mode: str) -> tuple[list[str], list[tuple]]:
    """Header and rows for one ingestion mode (spec A.5 dedup rules)."""
    names = [f.name for f in schema_of(ctx, dataset_arn).fields]
    if mode == "ALL":
        cols = dataset_columns(ctx, dataset_arn)
        return names, _rows(cols, names, distinct=False) if cols else []
    rows: list[tuple] = []
    if mode == "BULK":
        for part in bulk_parts(ctx, dataset_arn):
            rows += _rows({n: part[n] for n in names if n in part}, names, distinct=False)
    else:
        put = put_columns(ctx, dataset_arn, schema_of(ctx, dataset_arn))
        rows = _rows(put, names, distinct=False) if put else []
    return names, list(dict.fromkeys(rows))  # only fully identical rows collapse


def run(ctx: Context, job: Resource) -> None:
    begin(ctx, job)
    mode = job.attrs["ingestionMode"]
    names, rows = export_rows(ctx, job.attrs["datasetArn"], mode)
    if not rows:
        raise JobFailed(f"Dataset {job.attrs['datasetArn']} has no {mode} data to export "
                        "(BULK = imported by import jobs, PUT = sent by the events API).")
    path = job.attrs["jobOutput"]["s3DataDestination"]["path"]
    bucket, prefix = split_s3_url(path)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    for n, start in enumerate(range(0, len(rows), ROWS_PER_FILE), start=1):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([_cell(v) for v in row] for row in rows[start:start + ROWS_PER_FILE])
        key = f"{prefix}{job.name}_{n}.csv"
        try:
            caller_s3().put_object(Bucket=bucket, Key=key, Body=out.getvalue().encode())
        except (ClientError, BotoCoreError) as exc:
            raise JobFailed(f"Could not write s3://{bucket}/{key}: {exc}") from None
    ctx.store.set_status(job.arn, Status.ACTIVE)
    log.info("exported %d %s rows of %s to %s", len(rows), mode, job.attrs["datasetArn"], path)
