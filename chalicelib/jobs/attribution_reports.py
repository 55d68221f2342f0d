"""Metric attribution reports: events -> aggregated metrics -> CSV files in S3 (spec A.14).

``publish_due`` runs from the scheduled ``drain_jobs`` handler (after the queue is
drained) and from the serve worker's clock. For every ACTIVE metric attribution with an
S3 destination it *plans* reports, then *publishes* every planned one:

- **PUT**: the events PutEvents stored since the previous PUT report (``put_rows`` ids
  above the watermark; the first watermark is the newest id when the attribution was
  created, as AWS does not report earlier data), at most ``BATCH_ROWS`` per file.
- **BULK**: each ACTIVE Interactions import job created after the attribution with
  ``publishAttributionMetricsToS3``, one file per job (even if nothing matched).

A plan is one ``metric_reports`` row holding the finished CSV, inserted in the same
transaction that moves the watermark; publishing writes it to
``<path>/AggregatedAttributionMetrics - <PUT|BULK> - <epoch ms>.csv`` and marks it
published. A crash between the two writes the same bytes to the same key again, so
publishing is idempotent, and a failed write (no bucket...) is retried next time. Until
the attribution has an S3 destination its events wait. (AWS sends PutEvents metrics to
CloudWatch; there is none offline, so they go to S3 too.)

Each CSV row is one metric, attribution source and 15-minute bucket of the events'
TIMESTAMP: ``METRIC_NAME,EVENT_TYPE,VALUE,MATH_FUNCTION,EVENT_ATTRIBUTION_SOURCE,
TIMESTAMP``. An event counts for the metrics of its EVENT_TYPE (exact match); its source
is its ``eventAttributionSource``, else the campaign or recommender whose
recommendationId it carries, else ``SOURCE_NAME_UNDEFINED``. ``SAMPLECOUNT()`` counts
events; ``SUM(Interactions.C)`` adds the events' C (nulls add 0); ``SUM(Items.C)`` adds the
C of each event's item as the Items dataset holds it at publication (unknown items add 0).
A file names at most ``MAX_SOURCES`` sources (those with most events); the rest are
reported as ``SOURCE_NAME_UNDEFINED``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections import Counter, defaultdict
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import PersonalizeError
from chalicelib.jobs import lifecycle
from chalicelib.jobs.data import Parts, dataset_columns, dataset_parts
from chalicelib.runtime.recommend_ids import tag_of_arn, tag_of_id
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.s3 import AccessDenied, acting_for, caller_s3, split_s3_url
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)
KIND = "metric-attribution"
HEADER = ("METRIC_NAME", "EVENT_TYPE", "VALUE", "MATH_FUNCTION", "EVENT_ATTRIBUTION_SOURCE",
          "TIMESTAMP")
UNDEFINED = "SOURCE_NAME_UNDEFINED"
MAX_SOURCES = 100
BUCKET_SECONDS = 900
BATCH_ROWS = 100_000
PLANNED, PUBLISHED = "planned", "published"
_SOURCE_KINDS = ("campaign", "recommender")
_STRINGS = ("EVENT_TYPE", "ITEM_ID", "RECOMMENDATION_ID", "EVENT_ATTRIBUTION_SOURCE")
_items_cache: dict[tuple[str, tuple[str, ...]], tuple[Parts, dict[str, dict[str, float]]]] = {}


def publish_due(ctx: Context, now: float | None = None) -> list[str]:
    """Plan the reports that are due and publish every planned one; the S3 URLs written.
    Never raises: a failure is logged and the work is retried on the next call."""
    now = time.time() if now is None else now
    written: list[str] = []
    try:
        live = {a.attrs["_id"]: a for a in ctx.store.find(
            KIND, statuses=frozenset({Status.ACTIVE}))}
        due = [a for a in live.values() if _path(a) is not None]
        sources = _sources(ctx) if due else {}
        for attribution in due:
            try:
                _plan_put(ctx, attribution, sources, now)
                _plan_bulk(ctx, attribution, sources, now)
            except Exception:
                log.exception("metric attribution %s: planning a report failed",
                              attribution.arn)
        written = _publish(ctx, live, now) if due else []
        _forget(ctx)
    except Exception:
        log.exception("metric attribution reports failed")
    return written


# -- recommendationId -> campaign / recommender -------------------------------------------

def _sources(ctx: Context) -> dict[str, str]:
    """Tag -> ARN for every campaign and recommender that exists or ever had a job."""
    db = ctx.store.db
    known = dict(db.execute("SELECT tag, arn FROM recommendation_sources").fetchall())
    kinds = ",".join("?" * len(_SOURCE_KINDS))
    arns = {r[0] for r in db.execute(
        f"SELECT arn FROM resources WHERE kind IN ({kinds})", _SOURCE_KINDS)}
    arns |= {r[0] for r in db.execute(
        "SELECT DISTINCT arn FROM jobs WHERE action = 'create' AND (arn LIKE "
        "'%:campaign/%' OR arn LIKE '%:recommender/%')")}
    new = {tag_of_arn(a): a for a in arns if tag_of_arn(a) not in known}
    if new:
        with ctx.store.transaction() as tx:
            tx.conn.executemany("INSERT OR IGNORE INTO recommendation_sources (tag, arn) "
                                "VALUES (?, ?)", list(new.items()))
    return {**known, **new}


# -- aggregation ------------------------------------------------------------------------

class Aggregate:
    """Sums per (metric, source, bucket) over chunks of events given as columns."""

    def __init__(self, metrics: list[dict[str, Any]], sources: dict[str, str],
                 item_values: dict[str, dict[str, float]]) -> None:
        self.metrics, self.sources, self.item_values = metrics, sources, item_values
        self.totals: dict[tuple[int, str, int], float] = defaultdict(float)
        self.events: Counter[str] = Counter()

    def fields(self) -> set[str]:
        """The Interactions columns the metrics read."""
        wanted = {"EVENT_TYPE", "TIMESTAMP", "RECOMMENDATION_ID", "EVENT_ATTRIBUTION_SOURCE"}
        for m in self.metrics:
            wanted.add("ITEM_ID" if m["dataset"] == "Items" else m["column"] or "EVENT_TYPE")
        return wanted

    def _labels(self, cols: dict[str, np.ndarray], n: int) -> np.ndarray:
        labels = np.full(n, UNDEFINED, dtype=object)
        rids = cols.get("RECOMMENDATION_ID")
        if rids is not None:
            unique, inverse = np.unique(rids, return_inverse=True)
            resolved = np.array([self.sources.get(tag_of_id(r) or "", "") for r in unique],
                                dtype=object)[inverse.reshape(-1)]
            labels = np.where(resolved != "", resolved, labels)
        given = cols.get("EVENT_ATTRIBUTION_SOURCE")
        if given is not None:
            labels = np.where(given != "", given.astype(object), labels)
        return labels.astype(str)

    def _values(self, metric: dict[str, Any], cols: dict[str, np.ndarray],
                mask: np.ndarray) -> np.ndarray:
        if metric["function"] == "samplecount":
            return np.ones(int(mask.sum()))
        column = metric["column"]
        if metric["dataset"] == "Items":
            items, inverse = np.unique(cols["ITEM_ID"][mask], return_inverse=True)
            per_item = [self.item_values.get(i, {}).get(column, 0.0) for i in items]
            return np.nan_to_num(np.array(per_item, dtype=np.float64))[inverse.reshape(-1)]
        values = cols.get(column)
        if values is None:
            return np.zeros(int(mask.sum()))
        return np.nan_to_num(values[mask].astype(np.float64))

    def add(self, cols: dict[str, np.ndarray]) -> None:
        types = cols.get("EVENT_TYPE")
        if types is None or not len(types):
            return
        labels = self._labels(cols, len(types))
        buckets = cols["TIMESTAMP"].astype(np.int64) // BUCKET_SECONDS * BUCKET_SECONDS
        for k, metric in enumerate(self.metrics):
            mask = types == metric["eventType"]
            if not mask.any():
                continue
            values = self._values(metric, cols, mask)
            names, name_of = np.unique(labels[mask], return_inverse=True)
            stamps, stamp_of = np.unique(buckets[mask], return_inverse=True)
            pairs, pair_of = np.unique(name_of.reshape(-1) * len(stamps) + stamp_of.reshape(-1),
                                       return_inverse=True)
            sums = np.bincount(pair_of.reshape(-1), weights=values)
            counts = np.bincount(pair_of.reshape(-1))
            for j, pair in enumerate(pairs.tolist()):
                name = str(names[pair // len(stamps)])
                self.totals[(k, name, int(stamps[pair % len(stamps)]))] += float(sums[j])
                self.events[name] += int(counts[j])

    def csv(self) -> tuple[str, int]:
        """The report (header and rows) and how many rows it has."""
        named = {s for s, _ in sorted(self.events.items(), key=lambda e: (-e[1], e[0]))
                 [:MAX_SOURCES]}
        rows: dict[tuple[int, int, str], float] = defaultdict(float)
        for (k, name, stamp), value in self.totals.items():
            rows[(k, stamp, name if name in named else UNDEFINED)] += value
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        for (k, stamp, name), value in sorted(rows.items()):
            metric = self.metrics[k]
            writer.writerow([metric["metricName"], metric["eventType"],
                             repr(float(round(value, 9))), metric["function"], name, stamp])
        return out.getvalue(), len(rows)


def _item_values(ctx: Context, attribution: Resource) -> dict[str, dict[str, float]]:
    """Item -> column -> value for the Items columns the metrics sum, as the Items dataset
    holds them now (read again only when the dataset changed)."""
    columns = tuple(sorted({m["column"] for m in attribution.attrs["_metrics"]
                            if m["dataset"] == "Items"}))
    if not columns:
        return {}
    arn = attribution.attrs["_datasets"]["Items"]
    try:
        parts = dataset_parts(ctx, arn)
        cached = _items_cache.get((arn, columns))
        if cached and cached[0] == parts:
            return cached[1]
        items = dataset_columns(ctx, arn, fields=["ITEM_ID", *columns], parts=parts)
    except PersonalizeError:  # the Items dataset was deleted: its values count 0
        return {}
    found: dict[str, dict[str, float]] = {}
    if items:
        values = {c: items[c].astype(np.float64).tolist() for c in columns if c in items}
        found = {item: {c: v[n] for c, v in values.items()}
                 for n, item in enumerate(items["ITEM_ID"].tolist())}
    _items_cache.clear()  # one dataset's values at a time
    _items_cache[(arn, columns)] = (parts, found)
    return found


def _aggregate(ctx: Context, attribution: Resource, sources: dict[str, str]) -> Aggregate:
    return Aggregate(attribution.attrs["_metrics"], sources, _item_values(ctx, attribution))


def _put_chunk(records: list[dict[str, Any]], fields: set[str]) -> dict[str, np.ndarray]:
    """PutEvents records as columns (attribution fields also from their "_" copies)."""
    cols = {}
    for name in fields:
        values = [r.get(name, r.get("_" + name)) for r in records]
        if name in _STRINGS:
            cols[name] = np.array(["" if v is None else str(v) for v in values], dtype=str)
        else:
            cols[name] = np.array([np.nan if v is None else v for v in values],
                                  dtype=np.float64)
    return cols


# -- planning ---------------------------------------------------------------------------

def _path(attribution: Resource) -> str | None:
    config = attribution.attrs["metricsOutputConfig"]
    return (config.get("s3DataDestination") or {}).get("path")


def _watermark(ctx: Context, attribution: Resource) -> int:
    row = ctx.store.db.execute(
        "SELECT max(put_upto) FROM metric_reports WHERE attribution = ? AND method = 'PUT'",
        [attribution.attrs["_id"]]).fetchone()
    return int(row[0]) if row[0] is not None else int(attribution.attrs["_putFrom"])


def _insert(ctx: Context, attribution: Resource, method: str, body: str, n_rows: int,
            now: float, put_upto: int | None = None, job_arn: str | None = None) -> None:
    """Record a planned report (inside the caller's transaction); a PUT report with no rows
    only moves the watermark."""
    ident = attribution.attrs["_id"]
    last = ctx.store.db.execute("SELECT max(stamp) FROM metric_reports WHERE attribution = ?",
                                [ident]).fetchone()[0]
    stamp = max(int(now * 1000), (last or 0) + 1)  # file names never repeat
    empty = method == "PUT" and n_rows == 0
    ctx.store.db["metric_reports"].insert({
        "attribution": ident, "method": method, "put_upto": put_upto, "job_arn": job_arn,
        "stamp": stamp, "name": None if empty else
        f"AggregatedAttributionMetrics - {method} - {stamp}.csv",
        "body": None if empty else body, "state": PUBLISHED if empty else PLANNED,
        "created": now})


def _plan_put(ctx: Context, attribution: Resource, sources: dict[str, str],
              now: float) -> None:
    dataset = attribution.attrs["_datasets"]["Interactions"]
    while True:
        start = _watermark(ctx, attribution)
        rows = ctx.store.db.execute(
            "SELECT id, fields FROM put_rows WHERE dataset_arn = ? AND id > ? ORDER BY id "
            "LIMIT ?", [dataset, start, BATCH_ROWS]).fetchall()
        if not rows:
            return
        upto = rows[-1][0]
        report = _aggregate(ctx, attribution, sources)
        report.add(_put_chunk([json.loads(r[1]) for r in rows], report.fields()))
        body, n_rows = report.csv()
        with ctx.store.transaction() as db:
            if _watermark(ctx, attribution) != start:
                return  # another worker planned these events meanwhile
            _insert(ctx, attribution, "PUT", body, n_rows, now, put_upto=upto)
            db.execute("DELETE FROM metric_reports WHERE attribution = ? AND method = 'PUT' "
                       "AND state = ? AND put_upto < ?",
                       [attribution.attrs["_id"], PUBLISHED, upto])
        log.info("metric attribution %s: PUT report of %d events (%d rows) planned",
                 attribution.arn, len(rows), n_rows)
        if len(rows) < BATCH_ROWS:
            return


def _segment(ctx: Context, key: str, fields: set[str]) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(ctx.blobs.get(key)), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files if name in fields}


def _plan_bulk(ctx: Context, attribution: Resource, sources: dict[str, str],
               now: float) -> None:
    ident = attribution.attrs["_id"]
    dataset = attribution.attrs["_datasets"]["Interactions"]
    done = {r[0] for r in ctx.store.db.execute(
        "SELECT job_arn FROM metric_reports WHERE attribution = ? AND method = 'BULK'",
        [ident])}
    jobs = ctx.store.find("dataset-import-job", parent=dataset,
                          statuses=frozenset({Status.ACTIVE}))
    for job in sorted(jobs, key=lambda j: j.created):
        if job.arn in done or job.created < attribution.created or \
                not job.attrs.get("publishAttributionMetricsToS3"):
            continue
        report = _aggregate(ctx, attribution, sources)
        keys = [r[0] for r in ctx.store.db.execute(
            "SELECT key FROM segments WHERE job_arn = ? ORDER BY created, key", [job.arn])]
        if not keys:
            log.warning("metric attribution %s: the data of %s were replaced by a later "
                        "FULL import before they were reported", attribution.arn, job.arn)
        for key in keys:
            report.add(_segment(ctx, key, report.fields()))
        body, n_rows = report.csv()
        with ctx.store.transaction():
            if ctx.store.db.execute("SELECT 1 FROM metric_reports WHERE attribution = ? AND "
                                    "job_arn = ?", [ident, job.arn]).fetchone():
                continue
            _insert(ctx, attribution, "BULK", body, n_rows, now, job_arn=job.arn)
        log.info("metric attribution %s: BULK report of %s (%d rows) planned",
                 attribution.arn, job.arn, n_rows)


# -- publishing -------------------------------------------------------------------------

def _publish(ctx: Context, live: dict[str, Resource], now: float) -> list[str]:
    written = []
    planned = ctx.store.db.execute(
        "SELECT id, attribution, name, body FROM metric_reports WHERE state = ? ORDER BY id",
        [PLANNED]).fetchall()
    for report_id, ident, name, body in planned:
        attribution = live.get(ident)
        path = _path(attribution) if attribution is not None else None
        if path is None:
            continue  # waits for the attribution to be ACTIVE with a destination again
        bucket, prefix = split_s3_url(path)
        key = f"{prefix.rstrip('/')}/{name}" if prefix.strip("/") else name
        try:
            with acting_for(lifecycle.job_access(attribution)):
                caller_s3().put_object(Bucket=bucket, Key=key, Body=body.encode(),
                                       ContentType="text/csv")
        except (BotoCoreError, ClientError, AccessDenied) as exc:
            log.warning("metric attribution %s: could not write s3://%s/%s (retried on the "
                        "next run): %s", attribution.arn if attribution else ident, bucket,
                        key, exc)
            with ctx.store.transaction() as db:
                db.execute("UPDATE metric_reports SET error = ? WHERE id = ?",
                           [str(exc), report_id])
            continue
        with ctx.store.transaction() as db:
            db.execute("UPDATE metric_reports SET state = ?, published = ?, body = NULL, "
                       "error = NULL WHERE id = ?", [PUBLISHED, now, report_id])
        written.append(f"s3://{bucket}/{key}")
    return written


def _forget(ctx: Context) -> None:
    """Drop the reports of deleted attributions."""
    gone = "attribution NOT IN (SELECT json_extract(attrs, '$._id') FROM resources WHERE " \
           "kind = 'metric-attribution')"
    if ctx.store.db.execute(f"SELECT 1 FROM metric_reports WHERE {gone} LIMIT 1").fetchone():
        with ctx.store.transaction() as db:
            db.execute(f"DELETE FROM metric_reports WHERE {gone}")
