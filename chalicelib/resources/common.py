"""What every resource type shares: wire shape, create/describe/list/delete steps, tags."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import (
    InvalidInputException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
    TooManyTagsException,
)
from chalicelib.protocol.pagination import paginate
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import DELETING, PENDING, Status
from chalicelib.state.s3 import role_account, split_s3_url
from chalicelib.state.store import Resource

MAX_TAGS = 50
# The job kinds that read a solution version and a filter while they run.
BATCH_KINDS = ("batch-inference-job", "batch-segment-job")
_TAG_CHARS = re.compile(r"[\w\s.:/=+\-@]*")


@dataclass(frozen=True)
class Kind:
    """One resource type: its ARN segment and the wire names of its fields."""

    name: str                     # ARN segment and store kind, e.g. "dataset-group"
    arn_key: str                  # e.g. "datasetGroupArn"
    name_key: str = "name"        # "jobName" for jobs
    summary_keys: tuple[str, ...] = ()
    label: str = ""               # how messages name it, e.g. "dataset group"

    @property
    def title(self) -> str:
        return self.label or self.name.replace("-", " ")


def to_wire(kind: Kind, res: Resource, summary: bool = False) -> dict[str, Any]:
    """The Describe shape (or the List summary shape) of a resource."""
    out: dict[str, Any] = {kind.name_key: res.name, kind.arn_key: res.arn}
    if res.status is not None:
        out["status"] = res.status
    out["creationDateTime"] = res.created
    out["lastUpdatedDateTime"] = res.updated
    if res.failure_reason:
        out["failureReason"] = res.failure_reason
    attrs = res.attrs if not summary else {k: res.attrs[k] for k in kind.summary_keys
                                           if k in res.attrs}
    out.update({k: v for k, v in attrs.items() if v is not None and not k.startswith("_")})
    return out


def check_name_free(ctx: Context, kind: Kind, name: str) -> None:
    if ctx.store.find(kind.name, name=name):
        raise ResourceAlreadyExistsException(
            f"A {kind.title} named {name} already exists. Choose another name, or delete "
            "the existing one first.")


def create(ctx: Context, kind: Kind, arn: str, name: str, parent: str | None,
           attrs: dict[str, Any], tags: list[dict[str, str]] | None = None,
           job: str | None = "create", status: Status | None = Status.CREATE_PENDING,
           ) -> Resource:
    """Insert a resource (inside the caller's transaction) and queue its create job."""
    now = time.time()
    res = Resource(arn=arn, kind=kind.name, name=name, parent=parent, status=status,
                   created=now, updated=now, attrs=attrs)
    ctx.store.insert(res)
    if tags:
        apply_tags(ctx, arn, tags)
    if job:
        ctx.store.enqueue(arn, job)
    return res


def require(ctx: Context, kind: Kind, arn: str) -> Resource:
    return ctx.store.one(arn, kind.name)


def require_active(res: Resource, kind: Kind, purpose: str) -> None:
    if res.status != Status.ACTIVE:
        raise ResourceInUseException(
            f"The {kind.title} {res.arn} is {res.status}; it must be ACTIVE {purpose}. "
            "Poll its Describe call until the status is ACTIVE.")


def start_delete(ctx: Context, kind: Kind, res: Resource) -> dict[str, Any]:
    """Move to DELETE PENDING and queue the removal (the caller checked dependencies)."""
    if res.status in DELETING:
        raise ResourceInUseException(f"The {kind.title} {res.arn} is already being deleted.")
    if res.status in (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS):
        raise ResourceInUseException(
            f"The {kind.title} {res.arn} is {res.status}; wait until it is ACTIVE or "
            "CREATE FAILED before deleting it.")
    res.status = Status.DELETE_PENDING
    ctx.store.save(res)
    ctx.store.enqueue(res.arn, "delete")
    return {}


def pending_update(res: Resource, key: str) -> str | None:
    """The status of the resource's ``latest...Update`` if it is still pending, else None."""
    status = (res.attrs.get(key) or {}).get("status")
    return status if status in PENDING else None


def start_update(ctx: Context, res: Resource, key: str, fields: dict[str, Any]) -> None:
    """Record an asynchronous update as ``res.attrs[key]`` (CREATE PENDING) and queue it;
    the resource keeps its current settings until the update job makes it ACTIVE."""
    now = time.time()
    res.attrs[key] = {**drop_none(fields), "status": Status.CREATE_PENDING.value,
                      "creationDateTime": now, "lastUpdatedDateTime": now}
    ctx.store.save(res)
    ctx.store.enqueue(res.arn, "update")


def list_resources(ctx: Context, params: dict[str, Any], operation: str, kind: Kind,
                   result_key: str, parent: str | None = None,
                   summary: Callable[[Resource], dict[str, Any]] | None = None,
                   ) -> dict[str, Any]:
    items = ctx.store.find(kind.name, parent=parent)
    page, token = paginate(operation, params, items)
    render = summary or (lambda r: to_wire(kind, r, summary=True))
    out: dict[str, Any] = {result_key: [render(r) for r in page]}
    if token:
        out["nextToken"] = token
    return out


def validate_tags(tags: list[dict[str, str]]) -> dict[str, str]:
    result = {}
    for tag in tags:
        key, value = tag["tagKey"], tag.get("tagValue", "")
        if key.lower().startswith("aws:"):
            raise InvalidInputException(
                f"Tag key {key!r} uses the reserved prefix 'aws:'; choose another key.")
        for what, text in (("key", key), ("value", value)):
            if not _TAG_CHARS.fullmatch(text):
                raise InvalidInputException(
                    f"Tag {what} {text!r} may contain only letters, digits, spaces and "
                    "_ . : / = + - @")
        result[key] = value
    return result


def apply_tags(ctx: Context, arn: str, tags: list[dict[str, str]]) -> None:
    new = validate_tags(tags)
    merged = {**ctx.store.tags(arn), **new}
    if len(merged) > MAX_TAGS:
        raise TooManyTagsException(
            f"{arn} would have {len(merged)} tags; a resource can have at most {MAX_TAGS}.")
    ctx.store.put_tags(arn, new)


def check_access(ctx: Context, role_arn: str | None, *urls: str) -> None:
    """A job's ``roleArn`` must be a role of the caller's own account (Personalize assumes
    it on their behalf), and its S3 locations must not be in Tailor's own artifact bucket."""
    scope = arns.current()
    if role_arn and scope is not None and role_account(role_arn) != scope.account:
        raise InvalidInputException(
            f"The role {role_arn} is not in your account ({scope.account}); give a role of "
            "your own account that trusts personalize.amazonaws.com.")
    own = ctx.settings.artifact_root
    if not own.startswith("s3://"):
        return
    own_bucket = split_s3_url(own)[0]
    for url in urls:
        if url.startswith(f"s3://{own_bucket}/") or url == f"s3://{own_bucket}":
            raise InvalidInputException(
                f"{url} is in the bucket where this Tailor keeps its own artifacts; use a "
                "bucket of yours.")


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def busy_batch_job(ctx: Context, key: str, values: list[str]) -> Resource | None:
    """A batch job still to run or running whose ``attrs[key]`` is one of ``values``
    (a filter or a solution version it needs), or None."""
    for value in values:
        for job in ctx.store.find_by_attr(BATCH_KINDS, key, value):
            if job.status in PENDING:
                return job
    return None
