"""personalize-events: PutEvents, PutActionInteractions, PutUsers, PutItems, PutActions.

A 200 means durable: every record of a call is committed in one sqlite
transaction (WAL) before the response goes out. Records land in ``put_rows``,
typed by the dataset's schema and indexed by user, which is the per-user
recent-events index real-time recommendations read.
"""

from __future__ import annotations

import json
import time
from typing import Any

from chalicelib.errors import (
    InvalidInputException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from chalicelib.resources.schema_rules import DatasetSchema, parse_schema
from chalicelib.runtime import records
from chalicelib.runtime.filter_data import put_rows_rewritten
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.store import Resource

# Interactions fields PutEvents fills from named members, not from properties.
_EVENT_FIELDS = frozenset({"USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE",
                           "IMPRESSION", "RECOMMENDATION_ID", "EVENT_ATTRIBUTION_SOURCE"})
_ACTION_FIELDS = frozenset({"USER_ID", "ACTION_ID", "TIMESTAMP", "EVENT_TYPE", "IMPRESSION",
                            "RECOMMENDATION_ID"})
_ID_FIELD = {"Users": "USER_ID", "Items": "ITEM_ID", "Actions": "ACTION_ID"}
# Kept with every event (as "_<FIELD>" when the schema has no such column) for metric
# attribution: the source label and the recommendation the event followed.
ATTRIBUTION_FIELDS = ("RECOMMENDATION_ID", "EVENT_ATTRIBUTION_SOURCE")
MAX_ID_LENGTH = 256  # Event.itemId in the botocore model


def _tracker(ctx: Context, tracking_id: str) -> Resource:
    """The event tracker (or Action_Interactions dataset) that owns a trackingId."""
    found = ctx.store.find_by_attr(("event-tracker", "dataset"), "trackingId", tracking_id)
    tracker = found[0] if found else None
    if tracker is None:
        raise ResourceNotFoundException(
            f"No event tracker has trackingId {tracking_id}; CreateEventTracker returns it "
            "(for action interactions, DescribeDataset of the Action_Interactions dataset).")
    if tracker.status != Status.ACTIVE:
        raise ResourceInUseException(f"{tracker.arn} is {tracker.status}; events are accepted "
                                     "once it is ACTIVE.")
    return tracker


def _dataset(ctx: Context, arn: str, dataset_type: str,
             ) -> tuple[Resource, DatasetSchema]:
    dataset = ctx.store.get(arn)
    if dataset is None or dataset.kind != "dataset":
        raise ResourceNotFoundException(f"Dataset {arn} does not exist.")
    if dataset.attrs["datasetType"] != dataset_type:
        raise InvalidInputException(
            f"{arn} is a {dataset.attrs['datasetType']} dataset; this call writes to a "
            f"{dataset_type} dataset.")
    if dataset.status != Status.ACTIVE:
        raise ResourceInUseException(f"Dataset {arn} is {dataset.status}; wait for ACTIVE.")
    return dataset, parse_schema(ctx.store.one(dataset.attrs["schemaArn"]).attrs["schema"])


def _group_dataset(ctx: Context, tracker: Resource, suffix: str, dataset_type: str,
                   ) -> tuple[Resource, DatasetSchema]:
    group = tracker.attrs["datasetGroupArn"]
    arn = arns.dataset(group, suffix)
    try:
        return _dataset(ctx, arn, dataset_type)
    except ResourceNotFoundException:
        raise ResourceNotFoundException(
            f"Dataset group {group} has no {dataset_type} dataset to receive these records; "
            "create it first.") from None


def _insert(ctx: Context, dataset: Resource, rows: list[dict[str, Any]],
            session_id: str | None = None, user_id: str | None = None,
            row_users: list[str | None] | None = None) -> None:
    """Store records durably; ``user_id`` (or, per row, ``row_users``) fills the indexed
    user column serving reads histories by (None: an anonymous session's event)."""
    now = time.time()
    users = row_users or [user_id] * len(rows)
    with ctx.store.transaction() as db:
        if user_id and session_id:  # anonymous events of this session now belong to the user
            linked = db.execute(
                "UPDATE put_rows SET user_id = ?, fields = json_set(fields, '$.USER_ID', ?) "
                "WHERE dataset_arn = ? AND session_id = ? AND user_id IS NULL",
                [user_id, user_id, dataset.arn, session_id]).rowcount
            if linked:
                put_rows_rewritten(ctx, dataset.arn)
        db.conn.executemany(
            "INSERT INTO put_rows (dataset_arn, user_id, session_id, record_id, ts, fields, "
            "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(dataset.arn, user, session_id, r.get("ITEM_ID") or r.get("ACTION_ID") or
              r.get("USER_ID"), r.get("TIMESTAMP"), json.dumps(r), now)
             for r, user in zip(rows, users, strict=True)])


def _legacy_members(raw: str | None, where: str) -> tuple[str | None, dict[str, Any]]:
    """The older PutEvents form sends ``itemId`` (and ``eventValue``) inside ``properties``
    (AWS's getting-started notebook: ``properties='{"itemId": "270"}'``): take them out,
    checked as the top-level members are. Returns the remaining properties (None if
    nothing is left) and the members found; invalid JSON is left for records.properties."""
    try:
        parsed = json.loads(raw) if raw is not None else None
    except ValueError:
        return raw, {}
    if not isinstance(parsed, dict) or not {"itemId", "eventValue"} & parsed.keys():
        return raw, {}
    found: dict[str, Any] = {}
    item_id = parsed.pop("itemId", None)
    if item_id is not None:
        text = str(item_id) if isinstance(item_id, str | int) and \
            not isinstance(item_id, bool) else ""
        if not 1 <= len(text) <= MAX_ID_LENGTH:
            raise InvalidInputException(
                f"{where}.properties.itemId must be a string of 1 to {MAX_ID_LENGTH} "
                f"characters, got {item_id!r}.")
        found["itemId"] = text
    value = parsed.pop("eventValue", None)
    if value is not None:
        try:
            found["eventValue"] = float(value)
        except (TypeError, ValueError):
            raise InvalidInputException(
                f"{where}.properties.eventValue must be a number, got {value!r}.") from None
    return (json.dumps(parsed) if parsed else None), found


def put_events(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tracker = _tracker(ctx, params["trackingId"])
    dataset, schema = _group_dataset(ctx, tracker, "INTERACTIONS", "Interactions")
    user_id, session_id = params.get("userId"), params["sessionId"]
    rows = []
    for n, event in enumerate(params["eventList"], start=1):
        where = f"eventList.{n}"
        raw, legacy = _legacy_members(event.get("properties"), where)
        item_id = event.get("itemId") or legacy.get("itemId")
        if item_id is None:
            raise InvalidInputException(f"{where}.itemId is required: the Interactions schema "
                                        "has ITEM_ID.")
        row = records.properties(schema, raw, where, _EVENT_FIELDS)
        row.update(USER_ID=user_id or session_id, ITEM_ID=item_id,
                   TIMESTAMP=records.epoch_seconds(event["sentAt"], f"{where}.sentAt"))
        value = event.get("eventValue")
        optional = {
            "EVENT_TYPE": event["eventType"],
            "EVENT_VALUE": value if value is not None else legacy.get("eventValue"),
            "IMPRESSION": "|".join(event["impression"]) if event.get("impression") else None,
            "RECOMMENDATION_ID": event.get("recommendationId"),
            "EVENT_ATTRIBUTION_SOURCE": (event.get("metricAttribution") or {}).get(
                "eventAttributionSource"),
        }
        row.update({k: v for k, v in optional.items()
                    if v is not None and schema.field(k) is not None})
        for key in ATTRIBUTION_FIELDS:  # metric attribution reads them without a column too
            if optional[key] is not None and key not in row:
                row["_" + key] = optional[key]
        if event.get("eventId"):
            row["_eventId"] = event["eventId"]
        rows.append(row)
    _insert(ctx, dataset, rows, session_id, user_id)
    return {}


def put_action_interactions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tracker = _tracker(ctx, params["trackingId"])
    dataset, schema = _group_dataset(ctx, tracker, "ACTION_INTERACTIONS",
                                     "Action_Interactions")
    rows = []
    for n, item in enumerate(params["actionInteractions"], start=1):
        where = f"actionInteractions.{n}"
        row = records.properties(schema, item.get("properties"), where, _ACTION_FIELDS)
        row.update(USER_ID=item.get("userId") or item["sessionId"], ACTION_ID=item["actionId"],
                   EVENT_TYPE=item["eventType"],
                   TIMESTAMP=records.epoch_seconds(item["timestamp"], f"{where}.timestamp"))
        for key, value in (("IMPRESSION", "|".join(item.get("impression") or []) or None),
                           ("RECOMMENDATION_ID", item.get("recommendationId"))):
            if value is not None and schema.field(key) is not None:
                row[key] = value
        rows.append(row)
    _insert(ctx, dataset, rows, row_users=[i.get("userId") for i in params["actionInteractions"]])
    return {}


def _put_records(ctx: Context, params: dict[str, Any], member: str, dataset_type: str,
                 id_member: str) -> dict[str, Any]:
    dataset, schema = _dataset(ctx, params["datasetArn"], dataset_type)
    id_field = _ID_FIELD[dataset_type]
    rows = []
    for n, record in enumerate(params[member], start=1):
        where = f"{member}.{n}"
        row = records.properties(schema, record.get("properties"), where,
                                 frozenset({id_field}))
        row[id_field] = record[id_member]
        records.require_fields(schema, row, where)
        rows.append(row)
    _insert(ctx, dataset, rows)
    return {}


def put_users(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _put_records(ctx, params, "users", "Users", "userId")


def put_items(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _put_records(ctx, params, "items", "Items", "itemId")


def put_actions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _put_records(ctx, params, "actions", "Actions", "actionId")
