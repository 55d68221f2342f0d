"""The job queue's consumer: one function per (resource kind, action).

Create/update/delete calls record their work as a queued job in the same
transaction as the resource row. ``drain`` runs queued jobs until none is left:
the scheduled handler calls it when deployed, the serve command's ``Worker``
thread calls it locally, and tests call it through the scheduled handler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from chalicelib.errors import clip
from chalicelib.jobs import (
    batch_inference,
    batch_segment,
    dataset_import,
    deletion,
    export,
    lifecycle,
    recommenders,
    train,
)
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import DELETING, Status
from chalicelib.state.s3 import AccessDenied, acting_for
from chalicelib.state.store import Job, Resource

log = logging.getLogger(__name__)

JobFn = Callable[[Context, Resource], None]
ACTIONS: dict[tuple[str, str], JobFn] = {
    ("dataset-import-job", "create"): dataset_import.run,
    ("solution-version", "create"): train.run,
    ("campaign", "create"): lifecycle.deploy_campaign,
    ("campaign", "update"): lifecycle.update_campaign,
    ("solution", "update"): lifecycle.update_solution,
    ("dataset", "update"): lifecycle.update_dataset,
    ("dataset-export-job", "create"): export.run,
    ("data-deletion-job", "create"): deletion.run,
    ("batch-inference-job", "create"): batch_inference.run,
    ("batch-segment-job", "create"): batch_segment.run,
    ("recommender", "create"): recommenders.create,
    ("recommender", "update"): recommenders.update,
    ("recommender", "start"): recommenders.start,
    ("recommender", "stop"): recommenders.stop,
    ("recommender", "retrain"): recommenders.retrain,
}
_drain_lock = threading.Lock()
_RESUMED = {Status.CREATE_IN_PROGRESS: Status.CREATE_PENDING,
            Status.IN_PROGRESS: Status.PENDING,
            Status.START_IN_PROGRESS: Status.START_PENDING,
            Status.STOP_IN_PROGRESS: Status.STOP_PENDING}


_DELETE_ACTIONS = {"delete": lifecycle.delete, "remove": lifecycle.remove}


def _action(kind: str, action: str) -> JobFn:
    return _DELETE_ACTIONS.get(action) or ACTIONS.get((kind, action), lifecycle.activate)


def run_one(ctx: Context, job: Job) -> None:
    res = ctx.store.get(job.arn)
    if res is None or (res.status in DELETING and job.action not in _DELETE_ACTIONS):
        ctx.store.finish(job)  # deleted (or being deleted) since it was queued
        return
    log.info("job %s: %s %s", job.id, job.action, job.arn)
    started = time.perf_counter()
    try:
        with acting_for(lifecycle.job_access(res)):
            _action(res.kind, job.action)(ctx, res)
    except Exception as exc:
        expected = isinstance(exc, lifecycle.JobFailed | AccessDenied)
        reason = clip(str(exc) if expected else
                      f"Tailor hit an internal error ({type(exc).__name__}: {exc}); "
                      "see the server log.")
        if not expected:
            log.exception("job %s (%s %s) crashed", job.id, job.action, job.arn)
        lifecycle.fail(ctx, job.arn, job.action, reason)
        ctx.store.finish(job, reason)
        log.info("job %s failed after %.2fs: %s", job.id, time.perf_counter() - started, reason)
        return
    ctx.store.finish(job)
    log.info("job %s done in %.2fs", job.id, time.perf_counter() - started)


def drain(ctx: Context, max_jobs: int | None = None) -> int:
    """Run queued jobs until the queue is empty; returns how many ran."""
    done = 0
    with _drain_lock:
        while max_jobs is None or done < max_jobs:
            job = ctx.store.claim()
            if job is None:
                break
            run_one(ctx, job)
            done += 1
    return done


def recover(ctx: Context) -> None:
    """At start-up: resume jobs a crash cut off, or fail them after too many attempts."""
    for job in ctx.store.interrupted():
        res = ctx.store.get(job.arn)
        if job.attempts >= ctx.settings.max_job_attempts:
            reason = (f"The job was interrupted {job.attempts} times (Tailor stopped while it "
                      "ran); create it again.")
            if res is not None:
                lifecycle.fail(ctx, job.arn, job.action, reason)
            ctx.store.finish(job, reason)
            log.warning("job %s for %s failed: %s", job.id, job.arn, reason)
            continue
        if res is not None and res.status in _RESUMED:
            ctx.store.set_status(job.arn, _RESUMED[Status(res.status)])
        ctx.store.requeue(job)
        log.warning("job %s for %s was interrupted; resuming it", job.id, job.arn)


class Worker(threading.Thread):
    """Drains the queue in the background: woken by requests, polling as a fallback.

    ``clock`` (if given) runs every ``settings.auto_training_check_seconds`` before a
    drain: the scheduled work a deployed app does in its ``drain_jobs`` Lambda (automatic
    training), which ``chalice local`` never fires.
    """

    def __init__(self, ctx: Context, clock: Callable[[Context], object] | None = None,
                 ) -> None:
        super().__init__(name="tailor-worker", daemon=True)
        self.ctx = ctx
        self.clock = clock
        self._wake = threading.Event()
        self._halt = threading.Event()
        ctx.wake = self._wake.set

    def run(self) -> None:
        recover(self.ctx)
        next_tick = 0.0
        while not self._halt.is_set():
            try:
                if self.clock is not None and time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.ctx.settings.auto_training_check_seconds
                    self.clock(self.ctx)
                drain(self.ctx)
            except Exception:
                log.exception("worker: draining the job queue failed")
            self._wake.wait(self.ctx.settings.worker_poll_seconds)
            self._wake.clear()

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()


_worker: Worker | None = None
_worker_lock = threading.Lock()


def start_worker(ctx: Context, clock: Callable[[Context], object] | None = None) -> Worker:
    """Start the in-process worker once per process (later calls return it)."""
    global _worker
    if _worker is not None:  # every request asks: no lock once it runs
        return _worker
    with _worker_lock:
        if _worker is None:
            _worker = Worker(ctx, clock)
            _worker.start()
        return _worker
