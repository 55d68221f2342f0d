"""S3-triggered imports: a CSV that lands under a mapped bucket/prefix is imported.

``TAILOR_S3_IMPORTS`` maps S3 prefixes to datasets (a JSON list, see ``Mapping``).
Every new object is first recorded in the ``s3_imports`` table (keyed by bucket,
key and ETag, so an object is handled once, across restarts); then the pending
records are submitted, oldest first, as CreateDatasetImportJob requests through
the same path as the API (the caller passes that path in as ``submit``, because
this layer may not import ``protocol``), so validation and quotas apply.

* The first import of a dataset is FULL, later ones INCREMENTAL (decided when the
  job is created, so a file that waited behind the first import appends to it).
* If the dataset is not ACTIVE yet, an import on it is still running, or the
  pending-import quota is full, the record stays pending and is retried: by the
  watcher every poll under ``tailor serve``, and by the scheduled ``drain_jobs``
  handler (every minute) in the Lambda stage. Files of one dataset are imported
  in arrival order.
* Other errors (dataset missing, a request the API rejects) fail the record and
  are logged; uploading the object again (a new S3 event, or under serve a new
  LastModified) retries it.

Three callers: the ``@app.on_s3_event`` handler (``on_event``), the scheduled
handler (``drain``) and, under ``tailor serve`` where S3 events never fire, the
``Watcher`` thread, which lists the mapped prefixes in the local S3.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import sqlite_utils
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chalicelib.errors import (
    LimitExceededException,
    PersonalizeError,
    ResourceAlreadyExistsException,
    ResourceInUseException,
    clip,
)
from chalicelib.jobs import runner
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import PENDING, Status
from chalicelib.state.s3 import Access, AccessDenied, acting_for, caller_s3
from chalicelib.state.store import Store, migrations

log = logging.getLogger(__name__)

IMPORTS_ENV = "TAILOR_S3_IMPORTS"
BUCKET_ENV = "TAILOR_S3_TRIGGER_BUCKET"
POLL_ENV = "TAILOR_S3_POLL_SECONDS"
DEFAULT_BUCKET = "tailor-incoming"
IMPORT_JOB = "dataset-import-job"
NAME_MAX = 63
HASH_LENGTH = 8

# CreateDatasetImportJob through the API's own path: (ctx, params) -> response.
Submit = Callable[[Context, dict[str, Any]], dict[str, Any]]


class Mapping(BaseModel):
    """One entry of ``TAILOR_S3_IMPORTS``: CSVs under ``s3://bucket/prefix`` -> dataset."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = Field(default="", pattern=r"^([^/].*)?$")  # S3 keys do not start with "/"
    # A dataset of one account and region: its imports run in that account (and region).
    dataset_arn: str = Field(alias="datasetArn",
                             pattern=r"^arn:[a-z\d-]+:personalize:[a-z\d-]+:\d{12}:dataset/")
    role_arn: str | None = Field(default=None, alias="roleArn")


_MAPPINGS = TypeAdapter(list[Mapping])


def mappings(environ: dict[str, str] | os._Environ[str] | None = None) -> list[Mapping]:
    """The mappings ``TAILOR_S3_IMPORTS`` configures ([] when unset); ValueError if invalid."""
    raw = (os.environ if environ is None else environ).get(IMPORTS_ENV, "").strip()
    if not raw:
        return []
    try:
        return _MAPPINGS.validate_json(raw)
    except ValidationError as exc:
        raise ValueError(
            f"{IMPORTS_ENV} must be a JSON list of objects such as "
            '{"bucket": "my-bucket", "prefix": "incoming/items/", "datasetArn": "arn:..."}'
            f": {exc}") from None


def trigger_bucket() -> str:
    """The bucket the Lambda S3 handler subscribes to (needed when ``app`` is imported)."""
    return os.environ.get(BUCKET_ENV) or DEFAULT_BUCKET


def match(maps: list[Mapping], bucket: str, key: str) -> Mapping | None:
    """The mapping with the longest prefix that covers ``s3://bucket/key``."""
    found = [m for m in maps if m.bucket == bucket and key.startswith(m.prefix)]
    return max(found, key=lambda m: len(m.prefix), default=None)


def job_name(bucket: str, key: str, etag: str) -> str:
    """``s3-<key, sanitized>-<hash>``: a valid import-job name, unique per object version."""
    digest = hashlib.sha256(f"{bucket}\0{key}\0{etag}".encode()).hexdigest()[:HASH_LENGTH]
    stem = re.sub(r"\.csv$", "", key, flags=re.IGNORECASE)
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")
    slug = slug[-(NAME_MAX - len("s3--") - HASH_LENGTH):].strip("-_")  # keep the file name
    return f"s3-{slug}-{digest}" if slug else f"s3-{digest}"


# -- the record of handled objects ----------------------------------------------------

@migrations()
def m_s3_imports(db: sqlite_utils.Database) -> None:
    """S3 objects seen by the S3 trigger: pending, submitted, failed or ignored."""
    db.execute("""CREATE TABLE IF NOT EXISTS s3_imports (
        id INTEGER PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, etag TEXT NOT NULL,
        last_modified TEXT, dataset_arn TEXT, state TEXT NOT NULL, job_arn TEXT, error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, updated REAL NOT NULL,
        UNIQUE (bucket, key, etag))""")
    db.execute("CREATE INDEX IF NOT EXISTS s3_imports_state ON s3_imports (state, id)")


_ready: weakref.WeakSet[Store] = weakref.WeakSet()
_ready_lock = threading.Lock()


def _ensure_table(store: Store) -> None:
    """Apply the migration above to a Store built before this module was imported."""
    if store in _ready:
        return
    with _ready_lock:
        try:
            migrations.apply(store.db)
        except sqlite3.IntegrityError:  # another process recorded it at the same moment
            pass
        _ready.add(store)


@dataclass(frozen=True)
class _Record:
    id: int
    bucket: str
    key: str
    etag: str
    dataset_arn: str
    attempts: int


def _clean_etag(etag: str | None) -> str:
    return (etag or "").strip('"')


def offer(ctx: Context, maps: list[Mapping], bucket: str, key: str, etag: str,
          last_modified: str | None = None, retry_failed: bool = True) -> str:
    """Record one object seen in S3; returns ``recorded``, ``ignored`` or ``known``.

    A failed object is offered again when ``retry_failed`` (a new S3 event) or when
    its LastModified changed (the watcher sees it was uploaded again).
    """
    _ensure_table(ctx.store)
    url = f"s3://{bucket}/{key}"
    mapping = match(maps, bucket, key)
    if mapping is None:
        log.info("S3 trigger: %s is under no prefix of %s; ignored", clip(url), IMPORTS_ENV)
        return "ignored"
    state = "pending" if key.lower().endswith(".csv") else "ignored"
    now = time.time()
    with ctx.store.transaction() as db:
        row = db.execute("SELECT state, last_modified FROM s3_imports "
                         "WHERE bucket = ? AND key = ? AND etag = ?", [bucket, key, etag]
                         ).fetchone()
        if row is not None:
            if row[0] != "failed" or not (retry_failed or row[1] != last_modified):
                return "known"
            db.execute("UPDATE s3_imports SET state = 'pending', error = NULL, attempts = 0, "
                       "last_modified = ?, dataset_arn = ?, updated = ? WHERE bucket = ? "
                       "AND key = ? AND etag = ?",
                       [last_modified, mapping.dataset_arn, now, bucket, key, etag])
        else:
            db.table("s3_imports").insert({
                "bucket": bucket, "key": key, "etag": etag, "last_modified": last_modified,
                "dataset_arn": mapping.dataset_arn, "state": state, "created": now,
                "updated": now})
    if state == "ignored":
        log.info("S3 trigger: %s is not a .csv file; ignored", clip(url))
        return "ignored"
    log.info("S3 trigger: %s -> import into %s", clip(url), mapping.dataset_arn)
    return "recorded"


def _mark(ctx: Context, rec: _Record, state: str, job_arn: str | None = None,
          error: str | None = None) -> None:
    # Only from pending: a concurrent handler that already submitted the record wins.
    with ctx.store.transaction() as db:
        db.execute("UPDATE s3_imports SET state = ?, job_arn = ?, error = ?, "
                   "attempts = attempts + 1, updated = ? WHERE id = ? AND state = 'pending'",
                   [state, job_arn, error, time.time(), rec.id])


def _mode(ctx: Context, dataset_arn: str) -> str:
    """FULL for a dataset's first import, INCREMENTAL once one has succeeded."""
    jobs = ctx.store.find(IMPORT_JOB, parent=dataset_arn)
    return "INCREMENTAL" if any(j.status == Status.ACTIVE for j in jobs) else "FULL"


def _can_wait(ctx: Context, dataset_arn: str) -> bool:
    """Whether the dataset may still accept an import (it exists and is not failing)."""
    dataset = ctx.store.get(dataset_arn)
    return dataset is not None and (dataset.status == Status.ACTIVE or dataset.status in PENDING)


def _submit_one(ctx: Context, submit: Submit, rec: _Record, role_arn: str | None) -> str:
    """Create the import job of one pending record.

    Returns ``submitted``, ``failed``, ``waiting`` (the dataset is busy) or ``quota``
    (the pending-import quota is full: nothing can be submitted now).
    """
    url = f"s3://{rec.bucket}/{rec.key}"
    name = job_name(rec.bucket, rec.key, rec.etag)
    params: dict[str, Any] = {"jobName": name, "datasetArn": rec.dataset_arn,
                              "dataSource": {"dataLocation": url},
                              "importMode": _mode(ctx, rec.dataset_arn)}
    if role_arn:
        params["roleArn"] = role_arn
    try:
        arn = submit(ctx, params)["datasetImportJobArn"]
    except ResourceAlreadyExistsException as exc:
        # Created before, but the record was not updated (a crash, or a concurrent handler).
        same = [j for j in ctx.store.find(IMPORT_JOB, name=name)
                if j.attrs.get("dataSource", {}).get("dataLocation") == url]
        if not same:
            return _fail(ctx, rec, url, exc)
        arn = same[0].arn
    except (ResourceInUseException, LimitExceededException) as exc:
        if not _can_wait(ctx, rec.dataset_arn):
            return _fail(ctx, rec, url, exc)
        _mark(ctx, rec, "pending", error=clip(exc))
        (log.info if rec.attempts == 0 else log.debug)(
            "S3 trigger: %s waits: %s", clip(url), clip(exc))
        return "quota" if isinstance(exc, LimitExceededException) else "waiting"
    except PersonalizeError as exc:
        return _fail(ctx, rec, url, exc)
    except Exception as exc:
        log.exception("S3 trigger: importing %s crashed", clip(url))
        return _fail(ctx, rec, url, exc)
    _mark(ctx, rec, "submitted", job_arn=arn)
    log.info("S3 trigger: %s -> %s (%s)", clip(url), arn, params["importMode"])
    return "submitted"


def _fail(ctx: Context, rec: _Record, url: str, exc: Exception) -> str:
    reason = clip(f"{type(exc).__name__}: {exc}")
    _mark(ctx, rec, "failed", error=reason)
    log.warning("S3 trigger: not importing %s: %s", clip(url), reason)
    return "failed"


def submit_pending(ctx: Context, submit: Submit,
                   maps: list[Mapping] | None = None) -> Counter[str]:
    """Create import jobs for pending records, oldest first, one dataset's files in order."""
    _ensure_table(ctx.store)
    roles = {m.dataset_arn: m.role_arn for m in (mappings() if maps is None else maps)}
    rows = ctx.store.db.execute(
        "SELECT id, bucket, key, etag, dataset_arn, attempts FROM s3_imports "
        "WHERE state = 'pending' ORDER BY id").fetchall()
    outcome: Counter[str] = Counter()
    blocked: set[str] = set()
    quota_full = False
    for row in rows:
        rec = _Record(*row)
        if quota_full or rec.dataset_arn in blocked:
            outcome["waiting"] += 1
            continue
        result = _submit_one(ctx, submit, rec, roles.get(rec.dataset_arn))
        if result in ("waiting", "quota"):
            blocked.add(rec.dataset_arn)
            quota_full = result == "quota"
            result = "waiting"
        outcome[result] += 1
    return outcome


# -- the three callers --------------------------------------------------------------

def on_event(ctx: Context, event: dict[str, Any], submit: Submit) -> dict[str, int]:
    """The ``@app.on_s3_event`` handler: record the created objects, then submit."""
    try:
        maps = mappings()
    except ValueError as exc:
        log.error("S3 trigger: %s", exc)
        return {"error": 1}
    outcome: Counter[str] = Counter()
    for record in event.get("Records", []):
        s3 = record.get("s3", {})
        if not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        bucket = s3.get("bucket", {}).get("name", "")
        obj = s3.get("object", {})
        key = unquote_plus(obj.get("key", ""))
        etag = _clean_etag(obj.get("eTag")) or obj.get("sequencer", "")
        outcome[offer(ctx, maps, bucket, key, etag)] += 1
    outcome.update(submit_pending(ctx, submit, maps))
    return dict(outcome)


def drain(ctx: Context, submit: Submit) -> int:
    """The scheduled handler: run queued jobs, retrying waiting S3 imports as imports end."""
    done = runner.drain(ctx)
    try:
        while submit_pending(ctx, submit)["submitted"]:
            done += runner.drain(ctx)
    except ValueError as exc:  # a bad TAILOR_S3_IMPORTS
        log.error("S3 trigger: %s", exc)
    return done


def _s3_of(mapping: Mapping, role: bool = True) -> Any:
    """S3 as the mapped dataset's account, through the mapping's role (if it has one and
    ``role``)."""
    account = arns.scope_of(mapping.dataset_arn)
    access = Access(account.account if account else "", mapping.role_arn if role else None,
                    "tailor-s3-trigger")
    with acting_for(access):
        return caller_s3()


class Watcher(threading.Thread):
    """Under ``tailor serve``: lists the mapped prefixes every ``interval`` seconds."""

    def __init__(self, ctx: Context, submit: Submit, maps: list[Mapping],
                 interval: float = 1.0) -> None:
        super().__init__(name="tailor-s3-trigger", daemon=True)
        self.ctx, self.submit, self.maps, self.interval = ctx, submit, maps, interval
        self._halt = threading.Event()  # not ``_stop``: Thread.join() calls Thread._stop()
        self._errors: dict[Mapping, str] = {}

    def ensure_buckets(self) -> None:
        """Create the mapped buckets the local S3 lacks, so ``aws s3 cp`` works at once."""
        owners = {m.bucket: m for m in reversed(self.maps)}
        for bucket in sorted(owners):
            s3 = _s3_of(owners[bucket], role=False)
            try:
                s3.head_bucket(Bucket=bucket)
            except ClientError:
                try:
                    s3.create_bucket(Bucket=bucket)
                except ClientError as exc:
                    raise ValueError(f"{IMPORTS_ENV}: cannot create bucket {bucket!r} in the "
                                     f"local S3: {exc}") from None
                log.info("S3 trigger: created bucket %s in the local S3", bucket)

    def poll(self) -> Counter[str]:
        """One round: record new objects under every mapped prefix, then submit."""
        for mapping in self.maps:
            self._scan(mapping)
        return submit_pending(self.ctx, self.submit, self.maps)

    def _scan(self, mapping: Mapping) -> None:
        _ensure_table(self.ctx.store)
        known = {(k, e): (s, lm) for k, e, s, lm in self.ctx.store.db.execute(
            "SELECT key, etag, state, last_modified FROM s3_imports WHERE bucket = ? "
            "AND substr(key, 1, ?) = ?", [mapping.bucket, len(mapping.prefix), mapping.prefix])}
        try:
            pages = _s3_of(mapping).get_paginator("list_objects_v2").paginate(
                Bucket=mapping.bucket, Prefix=mapping.prefix)
            objects = [o for page in pages for o in page.get("Contents", [])]
        except (ClientError, BotoCoreError, AccessDenied) as exc:
            if self._errors.get(mapping) != str(exc):
                log.warning("S3 trigger: cannot list s3://%s/%s: %s", mapping.bucket,
                            mapping.prefix, exc)
            self._errors[mapping] = str(exc)
            return
        self._errors.pop(mapping, None)
        for obj in objects:
            key, etag = obj["Key"], _clean_etag(obj.get("ETag"))
            modified = obj["LastModified"].isoformat() if obj.get("LastModified") else None
            seen = known.get((key, etag))
            if seen is None or (seen[0] == "failed" and seen[1] != modified):
                offer(self.ctx, self.maps, mapping.bucket, key, etag, modified,
                      retry_failed=False)

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.poll()
            except Exception:
                log.exception("S3 trigger: polling the mapped prefixes failed")
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()


def start_watcher(ctx: Context, submit: Submit) -> Watcher | None:
    """Start the watcher when ``TAILOR_S3_IMPORTS`` is set (ValueError if it is invalid)."""
    maps = mappings()
    if not maps:
        return None
    watcher = Watcher(ctx, submit, maps, float(os.environ.get(POLL_ENV) or 1.0))
    watcher.ensure_buckets()
    _ensure_table(ctx.store)
    watcher.start()
    log.info("S3 trigger: watching %s", ", ".join(f"s3://{m.bucket}/{m.prefix}" for m in maps))
    return watcher
