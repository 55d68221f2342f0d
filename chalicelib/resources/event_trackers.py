"""CreateEventTracker, DescribeEventTracker, ListEventTrackers, DeleteEventTracker."""

from __future__ import annotations

import uuid
from typing import Any

from chalicelib.errors import ResourceAlreadyExistsException
from chalicelib.resources import common, dataset_groups
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import DELETING

KIND = common.Kind("event-tracker", "eventTrackerArn", label="event tracker")


def create_event_tracker(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["name"]
    with ctx.store.transaction():
        group = common.require(ctx, dataset_groups.KIND, params["datasetGroupArn"])
        common.require_active(group, dataset_groups.KIND, "before an event tracker is added")
        common.check_name_free(ctx, KIND, name)
        existing = [t for t in ctx.store.find(KIND.name, parent=group.arn)
                    if t.status not in DELETING]
        if existing:
            raise ResourceAlreadyExistsException(
                f"Dataset group {group.arn} already has event tracker {existing[0].arn}; a "
                "dataset group has at most one.")
        tracking_id = str(uuid.uuid4())
        arn = arns.arn(KIND.name, name)
        attrs = {"datasetGroupArn": group.arn, "trackingId": tracking_id,
                 "accountId": arns.parse(arn).account}  # type: ignore[union-attr]
        res = common.create(ctx, KIND, arn, name, group.arn, attrs, params.get("tags"))
    return {"eventTrackerArn": res.arn, "trackingId": tracking_id}


def describe_event_tracker(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    res = common.require(ctx, KIND, params["eventTrackerArn"])
    return {"eventTracker": common.to_wire(KIND, res)}


def list_event_trackers(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return common.list_resources(ctx, params, "ListEventTrackers", KIND, "eventTrackers",
                                 parent=params.get("datasetGroupArn"))


def delete_event_tracker(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["eventTrackerArn"])
        return common.start_delete(ctx, KIND, res)
