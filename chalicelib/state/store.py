"""sqlite state: resources, tags, the job queue and imported data segments.

One database file through sqlite-utils, WAL mode, one connection per thread
(``chalice local`` serves each connection on its own thread). Every state change
runs inside ``Store.transaction()`` (``BEGIN IMMEDIATE`` ... ``COMMIT``), so a
create and the job it queues land together or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils
from sqlite_utils.migrations import Migrations

from chalicelib.errors import ResourceNotFoundException
from chalicelib.state import arns
from chalicelib.state.lifecycle import Status, can_move

migrations = Migrations("tailor")
T = TypeVar("T")
# Values one thread's memo holds before it starts afresh (see Store.memo): the serving
# path's resource rows and masks, and one entry per recently served user.
MEMO_SIZE = 4096


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute("""CREATE TABLE resources (
        arn TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, parent TEXT,
        status TEXT, created REAL NOT NULL, updated REAL NOT NULL,
        failure_reason TEXT, attrs TEXT NOT NULL DEFAULT '{}')""")
    db.execute("CREATE INDEX resources_kind_name ON resources (kind, name)")
    db.execute("CREATE INDEX resources_parent ON resources (parent, kind)")
    db.execute("""CREATE TABLE tags (
        arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (arn, key))""")
    db.execute("""CREATE TABLE jobs (
        id INTEGER PRIMARY KEY, arn TEXT NOT NULL, action TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued', attempts INTEGER NOT NULL DEFAULT 0,
        enqueued REAL NOT NULL, started REAL, finished REAL, error TEXT)""")
    db.execute("CREATE INDEX jobs_state ON jobs (state, id)")
    db.execute("""CREATE TABLE segments (
        key TEXT PRIMARY KEY, dataset_arn TEXT NOT NULL, job_arn TEXT NOT NULL,
        source TEXT NOT NULL, rows INTEGER NOT NULL, created REAL NOT NULL)""")
    db.execute("CREATE INDEX segments_dataset ON segments (dataset_arn, created)")


@migrations()
def m002_put_rows(db: sqlite_utils.Database) -> None:
    """Records sent one by one (PutEvents, PutUsers, PutItems, PutActions, ...)."""
    db.execute("""CREATE TABLE put_rows (
        id INTEGER PRIMARY KEY, dataset_arn TEXT NOT NULL, user_id TEXT, session_id TEXT,
        record_id TEXT, ts INTEGER, fields TEXT NOT NULL, created REAL NOT NULL)""")
    db.execute("CREATE INDEX put_rows_session ON put_rows (dataset_arn, session_id) "
               "WHERE user_id IS NULL")
    db.execute("CREATE INDEX put_rows_user ON put_rows (dataset_arn, user_id, id)")
    db.execute("CREATE INDEX put_rows_dataset ON put_rows (dataset_arn, id)")


@migrations()
def m003_metric_reports(db: sqlite_utils.Database) -> None:
    """Metric attribution reports, planned then published (jobs/attribution_reports.py),
    and the campaign/recommender behind each recommendationId tag (runtime/recommend_ids)."""
    db.execute("""CREATE TABLE metric_reports (
        id INTEGER PRIMARY KEY, attribution TEXT NOT NULL, method TEXT NOT NULL,
        put_upto INTEGER, job_arn TEXT, stamp INTEGER NOT NULL, name TEXT,
        body TEXT, state TEXT NOT NULL, created REAL NOT NULL, published REAL,
        error TEXT, UNIQUE (attribution, job_arn))""")
    db.execute("CREATE INDEX metric_reports_state ON metric_reports (state, id)")
    db.execute("CREATE INDEX metric_reports_attribution ON metric_reports "
               "(attribution, method, put_upto)")
    db.execute("CREATE TABLE recommendation_sources (tag TEXT PRIMARY KEY, arn TEXT NOT NULL)")


@migrations()
def m004_deleted_users(db: sqlite_utils.Database) -> None:
    """Users removed by data deletion jobs: segment jobs of models trained before the
    deletion leave them out (spec A.15)."""
    db.execute("""CREATE TABLE deleted_users (
        group_arn TEXT NOT NULL, user_id TEXT NOT NULL, job_arn TEXT NOT NULL,
        deleted REAL NOT NULL, PRIMARY KEY (group_arn, user_id))""")


@migrations()
def m005_job_not_before(db: sqlite_utils.Database) -> None:
    """A queued job may wait until a time (a deleted resource stays DELETE IN_PROGRESS for
    a while before it is gone)."""
    db.execute("ALTER TABLE jobs ADD COLUMN not_before REAL")


@dataclass
class Resource:
    arn: str
    kind: str
    name: str
    parent: str | None
    status: str | None
    created: float
    updated: float
    failure_reason: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Resource:
        return cls(**{**row, "attrs": json.loads(row["attrs"])})


@dataclass(frozen=True)
class Job:
    id: int
    arn: str
    action: str
    attempts: int


class Store:
    """The state of one Tailor installation."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # Writers queue on this lock rather than on sqlite's busy handler, which sleeps in
        # growing steps and collapses throughput when many threads write at once.
        self._write_lock = threading.Lock()
        migrations.apply(self.db)

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            db = self._local.db = sqlite_utils.Database(conn)
        return db

    def memo(self, key: Hashable, build: Callable[[], T]) -> T:
        """``build()``, remembered by this thread's connection until the database may have
        changed: another connection (of any process) committed (``PRAGMA data_version``)
        or this one wrote (``total_changes``). Inside :meth:`request` the first of these
        checks holds for the rest of the request. For values the serving path reads on
        every request (a campaign, a filter, a dataset's state); the value is shared, so
        callers must not modify it."""
        conn = self.db.conn
        data_version = getattr(self._local, "request_version", None)
        if data_version is None:
            data_version = conn.execute("PRAGMA data_version").fetchone()[0]
            if getattr(self._local, "in_request", False):
                self._local.request_version = data_version
        version = (data_version, conn.total_changes)
        memo = getattr(self._local, "memo", None)
        if memo is None or memo[0] != version or len(memo[1]) >= MEMO_SIZE:
            memo = self._local.memo = (version, {})
        if key in memo[1]:
            return memo[1][key]  # type: ignore[no-any-return]
        found = memo[1][key] = build()
        return found

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """A write transaction; nested calls join the outer one."""
        db = self.db
        if db.conn.in_transaction:
            yield db
            return
        with self._write_lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- resources ---------------------------------------------------------------

    def _select(self, where: str, args: list[Any]) -> list[Resource]:
        rows = self.db.execute(f"SELECT * FROM resources WHERE {where}", args).fetchall()
        return [Resource.from_row(dict(zip(_COLUMNS, r, strict=True))) for r in rows]

    def get(self, arn: str) -> Resource | None:
        """The resource at ``arn``; inside a request, None for another account's or
        region's (AWS answers ResourceNotFoundException for those, too)."""
        return _visible(self._get(arn))

    def _get(self, arn: str) -> Resource | None:
        found = self._select("arn = ?", [arn])
        return found[0] if found else None

    @contextmanager
    def request(self) -> Iterator[None]:
        """One API request on this thread: inside it, :meth:`memo` asks sqlite whether
        another connection committed only once (a request reads one version of what
        others wrote; its own writes still count at once)."""
        self._local.in_request, self._local.request_version = True, None
        try:
            yield
        finally:
            self._local.in_request, self._local.request_version = False, None

    def get_shared(self, arn: str) -> Resource | None:
        """:meth:`get` through :meth:`memo`: for the serving path, which only reads it."""
        return _visible(self.memo(("get", arn), lambda: self._get(arn)))

    def one(self, arn: str, kind: str | None = None) -> Resource:
        """The resource at ``arn`` (of ``kind``), or ResourceNotFoundException."""
        res = self.get(arn)
        if res is None or (kind is not None and res.kind != kind):
            raise ResourceNotFoundException.for_arn(arn)
        return res

    def find(self, kind: str, *, name: str | None = None, parent: str | None = None,
             statuses: frozenset[str] | None = None) -> list[Resource]:
        """Resources of ``kind``, newest first (the order AWS lists in); inside a request,
        only the caller's account and region."""
        where: list[str] = ["kind = ?"]
        args: list[Any] = [kind]
        _in_scope(where, args)
        if name is not None:
            where.append("name = ?")
            args.append(name)
        if parent is not None:
            where.append("parent = ?")
            args.append(parent)
        if statuses is not None:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(sorted(statuses))
        return self._select(f"{' AND '.join(where)} ORDER BY created DESC, arn", args)

    def find_by_attr(self, kinds: tuple[str, ...], key: str, value: str) -> list[Resource]:
        """Resources of ``kinds`` whose ``attrs[key]`` equals ``value`` (inside a request,
        of the caller's account and region)."""
        where = [f"kind IN ({','.join('?' * len(kinds))})", f"json_extract(attrs, '$.{key}') = ?"]
        args: list[Any] = [*kinds, value]
        _in_scope(where, args)
        return self._select(" AND ".join(where), args)

    def insert(self, res: Resource) -> None:
        row = {**res.__dict__, "attrs": json.dumps(res.attrs)}
        self.db["resources"].insert(row)

    def save(self, res: Resource) -> None:
        res.updated = time.time()
        self.db.execute(
            "UPDATE resources SET status = ?, updated = ?, failure_reason = ?, attrs = ? "
            "WHERE arn = ?",
            [res.status, res.updated, res.failure_reason, json.dumps(res.attrs), res.arn])

    def set_status(self, arn: str, status: Status, failure_reason: str | None = None) -> None:
        with self.transaction():
            res = self.one(arn)
            if res.status is not None and not can_move(res.status, status):
                raise RuntimeError(f"{arn}: {res.status} -> {status} is not a valid move")
            res.status, res.failure_reason = status, failure_reason
            self.save(res)

    def remove(self, arn: str) -> None:
        self.db.execute("DELETE FROM resources WHERE arn = ?", [arn])
        self.db.execute("DELETE FROM tags WHERE arn = ?", [arn])

    # -- tags --------------------------------------------------------------------

    def tags(self, arn: str) -> dict[str, str]:
        rows = self.db.execute("SELECT key, value FROM tags WHERE arn = ? ORDER BY key", [arn])
        return dict(rows.fetchall())

    def put_tags(self, arn: str, tags: dict[str, str]) -> None:
        self.db["tags"].upsert_all(
            [{"arn": arn, "key": k, "value": v} for k, v in tags.items()], pk=("arn", "key"))

    def remove_tags(self, arn: str, keys: list[str]) -> None:
        for key in keys:
            self.db.execute("DELETE FROM tags WHERE arn = ? AND key = ?", [arn, key])

    # -- job queue ---------------------------------------------------------------

    def enqueue(self, arn: str, action: str, delay: float = 0.0) -> None:
        """Queue a job; with ``delay`` it is not claimed before that many seconds pass."""
        now = time.time()
        self.db["jobs"].insert({"arn": arn, "action": action, "enqueued": now,
                                "not_before": now + delay if delay > 0 else None})

    def claim(self) -> Job | None:
        """Take the oldest queued job that is due, or None."""
        with self.transaction() as db:
            row = db.execute("SELECT id, arn, action, attempts FROM jobs WHERE state = 'queued' "
                             "AND (not_before IS NULL OR not_before <= ?) ORDER BY id LIMIT 1",
                             [time.time()]).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ? "
                       "WHERE id = ?", [time.time(), row[0]])
        return Job(row[0], row[1], row[2], row[3] + 1)

    def finish(self, job: Job, error: str | None = None) -> None:
        self.db.execute("UPDATE jobs SET state = ?, finished = ?, error = ? WHERE id = ?",
                        ["failed" if error else "done", time.time(), error, job.id])

    def interrupted(self) -> list[Job]:
        """Jobs a crash left 'running' (call only when no worker is running)."""
        rows = self.db.execute("SELECT id, arn, action, attempts FROM jobs "
                               "WHERE state = 'running' ORDER BY id").fetchall()
        return [Job(*r) for r in rows]

    def requeue(self, job: Job) -> None:
        self.db.execute("UPDATE jobs SET state = 'queued' WHERE id = ?", [job.id])


def _visible(res: Resource | None) -> Resource | None:
    scope = arns.current()
    return res if res is None or scope is None or scope.owns(res.arn) else None


def _in_scope(where: list[str], args: list[Any]) -> None:
    scope = arns.current()
    if scope is not None:
        where.append("substr(arn, 1, ?) = ?")
        args.extend([len(scope.prefix), scope.prefix])


_COLUMNS = ("arn", "kind", "name", "parent", "status", "created", "updated",
            "failure_reason", "attrs")
