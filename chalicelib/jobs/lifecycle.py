"""Jobs that only move a resource through its lifecycle (activate, update, delete)."""

from __future__ import annotations

import logging
import time
from typing import Any

from chalicelib.errors import clip
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import PENDING, Status
from chalicelib.state.s3 import Access
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)
_UPDATE_KEYS = {"campaign": "latestCampaignUpdate", "solution": "latestSolutionUpdate",
                "dataset": "latestDatasetUpdate", "recommender": "latestRecommenderUpdate"}


class JobFailed(Exception):
    """A job ends in CREATE FAILED with this message as the failureReason."""


def job_access(res: Resource) -> Access:
    """Whose S3 data a job reaches: its account's, through its ``roleArn`` (a metric
    attribution's is in its ``metricsOutputConfig``) if it has one."""
    scope = arns.scope_of(res.arn)
    role = res.attrs.get("roleArn") or (res.attrs.get("metricsOutputConfig") or {}).get(
        "roleArn")
    return Access(scope.account if scope else "", role, res.name)


def begin(ctx: Context, res: Resource) -> None:
    if res.status != Status.CREATE_IN_PROGRESS:
        ctx.store.set_status(res.arn, Status.CREATE_IN_PROGRESS)
        res.status = Status.CREATE_IN_PROGRESS


def activate(ctx: Context, res: Resource) -> None:
    """Resources with nothing to build: CREATE PENDING -> IN_PROGRESS -> ACTIVE."""
    begin(ctx, res)
    ctx.store.set_status(res.arn, Status.ACTIVE)


def fail(ctx: Context, arn: str, action: str, reason: str) -> None:
    """The one place a failureReason is written: caller text in ``reason`` (ids, file
    contents) is clipped to ~1 KB without control characters (``errors.clip``)."""
    reason = clip(reason)
    with ctx.store.transaction():
        res = ctx.store.get(arn)
        if res is None:
            return
        update_key = _UPDATE_KEYS.get(res.kind)
        if action == "update" and update_key:
            _finish_update(ctx, res, update_key, Status.CREATE_FAILED, reason)
        elif action == "create" and res.status in PENDING:
            res.failure_reason = reason
            res.status = Status.FAILED if res.status in (Status.PENDING, Status.IN_PROGRESS) \
                else Status.CREATE_FAILED
            ctx.store.save(res)
        else:
            log.error("%s of %s failed: %s", action, arn, reason)


def _finish_update(ctx: Context, res: Resource, key: str, status: Status,
                   reason: str | None = None) -> dict[str, Any]:
    update = res.attrs[key]
    update.update(status=status.value, lastUpdatedDateTime=time.time())
    if reason:
        update["failureReason"] = reason
    ctx.store.save(res)
    return update


def deploy_campaign(ctx: Context, res: Resource) -> None:
    begin(ctx, res)
    version = ctx.store.get(res.attrs["solutionVersionArn"])
    if version is None or version.status != Status.ACTIVE:
        raise JobFailed(f"Solution version {res.attrs['solutionVersionArn']} is no longer "
                        "ACTIVE; create the campaign again with an ACTIVE version.")
    ctx.store.set_status(res.arn, Status.ACTIVE)


def update_campaign(ctx: Context, res: Resource) -> None:
    """Switch the campaign to its pending update; it kept serving the old one meanwhile."""
    with ctx.store.transaction():
        res = ctx.store.one(res.arn)
        update = _finish_update(ctx, res, "latestCampaignUpdate", Status.ACTIVE)
        res.attrs.update(solutionVersionArn=update["solutionVersionArn"],
                         minProvisionedTPS=update["minProvisionedTPS"],
                         campaignConfig=update["campaignConfig"])
        res.status, res.failure_reason = Status.ACTIVE, None
        ctx.store.save(res)


def update_dataset(ctx: Context, res: Resource) -> None:
    """Switch the dataset to its new schema (checked compatible at UpdateDataset)."""
    with ctx.store.transaction():
        res = ctx.store.one(res.arn)
        update = _finish_update(ctx, res, "latestDatasetUpdate", Status.ACTIVE)
        res.attrs["schemaArn"] = update["schemaArn"]
        ctx.store.save(res)


def update_solution(ctx: Context, res: Resource) -> None:
    with ctx.store.transaction():
        res = ctx.store.one(res.arn)
        update = _finish_update(ctx, res, "latestSolutionUpdate", Status.ACTIVE)
        for key in ("performAutoTraining", "performIncrementalUpdate"):
            if key in update:
                res.attrs[key] = update[key]
        config = update.get("solutionUpdateConfig") or {}
        if config:
            res.attrs["solutionConfig"] = {**(res.attrs.get("solutionConfig") or {}), **config}
        ctx.store.save(res)


def delete(ctx: Context, res: Resource) -> None:
    """DELETE PENDING -> DELETE IN_PROGRESS; the resource is gone ``delete_seconds`` later
    (Personalize deletes asynchronously: Describe shows both states, then
    ResourceNotFoundException)."""
    ctx.store.set_status(res.arn, Status.DELETE_IN_PROGRESS)
    delay = ctx.settings.delete_seconds
    if delay > 0:
        ctx.store.enqueue(res.arn, "remove", delay)
    else:
        remove(ctx, res)


def remove(ctx: Context, res: Resource) -> None:
    """A DELETE IN_PROGRESS resource and what it owned: gone."""
    blobs: list[str] = [res.attrs["_artifact"]] if "_artifact" in res.attrs else []
    with ctx.store.transaction() as db:
        owned = ctx.store.find("solution-version", parent=res.arn) if res.kind == "solution" \
            else []
        for version in owned:
            if "_artifact" in version.attrs:
                blobs.append(version.attrs["_artifact"])
            ctx.store.remove(version.arn)
        if res.kind == "dataset":
            rows = db.execute("SELECT key FROM segments WHERE dataset_arn = ?", [res.arn])
            blobs.extend(r[0] for r in rows.fetchall())
            db.execute("DELETE FROM segments WHERE dataset_arn = ?", [res.arn])
            db.execute("DELETE FROM put_rows WHERE dataset_arn = ?", [res.arn])
            for job in ctx.store.find("dataset-import-job", parent=res.arn):
                ctx.store.remove(job.arn)
        ctx.store.remove(res.arn)
    for key in blobs:  # after the commit: a crash here leaves only unreferenced files
        ctx.blobs.delete(key)
