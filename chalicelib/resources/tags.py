"""TagResource, UntagResource, ListTagsForResource."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import InvalidInputException
from chalicelib.resources import common
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.store import Resource


def _taggable(ctx: Context, arn: str) -> Resource:
    parsed = arns.parse(arn)
    if parsed is not None and parsed.kind in arns.SERVICE_OWNED:
        raise InvalidInputException(f"{arn} is owned by the service and cannot be tagged.")
    return ctx.store.one(arn)


def tag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = _taggable(ctx, params["resourceArn"])
        common.apply_tags(ctx, res.arn, params["tags"])
    return {}


def untag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = _taggable(ctx, params["resourceArn"])
        ctx.store.remove_tags(res.arn, params["tagKeys"])
    return {}


def list_tags_for_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    res = _taggable(ctx, params["resourceArn"])
    return {"tags": [{"tagKey": k, "tagValue": v} for k, v in ctx.store.tags(res.arn).items()]}
