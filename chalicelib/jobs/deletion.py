"""Data deletion jobs: remove the users listed in a CSV from every dataset of a group."""

from __future__ import annotations

import csv
import io
import logging
import time

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.jobs.lifecycle import JobFailed
from chalicelib.runtime.filter_data import put_rows_rewritten
from chalicelib.state.blobs import get_arrays, put_arrays
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.s3 import caller_s3, split_s3_url
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)


def user_ids(url: str) -> list[str]:
    try:
        bucket, key = split_s3_url(url)
        body = caller_s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    except ValueError:
        raise JobFailed(f"Invalid Data location: {url} is not an s3://bucket/key URL.") from None
    except (ClientError, BotoCoreError) as exc:
        raise JobFailed(f"Could not read {url}: {exc}") from None
    reader = csv.reader(io.StringIO(body.decode("utf-8-sig")))
    header = [h.strip().upper() for h in next(reader, [])]
    if header != ["USER_ID"]:
        raise JobFailed(f"{url} must have the single header USER_ID, found {header}.")
    ids = [row[0] for row in reader if row and row[0]]
    if not ids:
        raise JobFailed(f"{url} lists no users to delete.")
    return ids


def run(ctx: Context, job: Resource) -> None:
    ctx.store.set_status(job.arn, Status.IN_PROGRESS)
    ids = user_ids(job.attrs["dataSource"]["dataLocation"])
    wanted = np.array(ids, dtype=np.str_)
    rewritten: list[tuple[str, str, int]] = []  # (old key, new key, rows left)
    deleted = 0
    datasets = [d.arn for d in ctx.store.find("dataset", parent=job.attrs["datasetGroupArn"])]
    for dataset in datasets:
        segments = ctx.store.db.execute("SELECT key FROM segments WHERE dataset_arn = ?",
                                        [dataset]).fetchall()
        for (key,) in segments:
            arrays = get_arrays(ctx.blobs, key)
            if "USER_ID" not in arrays:
                continue
            drop = np.isin(arrays["USER_ID"], wanted)
            if drop.any():
                keep = ~drop
                n_rows = len(drop)
                new_key = key.removesuffix(".npz") + f".del-{job.name}.npz"
                put_arrays(ctx.blobs, new_key, {k: v[keep] if v.shape[:1] == (n_rows,) else v
                                                for k, v in arrays.items()})
                rewritten.append((key, new_key, int(keep.sum())))
                deleted += int(drop.sum())
    marks = ",".join("?" * len(ids))
    with ctx.store.transaction() as db:
        for old, new, rows in rewritten:
            db.execute("UPDATE segments SET key = ?, rows = ? WHERE key = ?", [new, rows, old])
        for dataset in datasets:
            gone = db.execute(
                f"DELETE FROM put_rows WHERE dataset_arn = ? AND (user_id IN ({marks}) OR "
                f"json_extract(fields, '$.USER_ID') IN ({marks}))",
                [dataset, *ids, *ids]).rowcount
            if gone:
                put_rows_rewritten(ctx, dataset)
            deleted += gone
        now = time.time()
        db.conn.executemany(
            "INSERT OR REPLACE INTO deleted_users (group_arn, user_id, job_arn, deleted) "
            "VALUES (?, ?, ?, ?)",
            [(job.attrs["datasetGroupArn"], user, job.arn, now) for user in ids])
        res = ctx.store.one(job.arn)
        res.status, res.attrs["numDeleted"] = Status.COMPLETED, deleted
        ctx.store.save(res)
    for old, _, _ in rewritten:
        ctx.blobs.delete(old)
    log.info("data deletion job %s removed %d records of %d users", job.arn, deleted, len(ids))
