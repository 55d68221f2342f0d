"""CreateDataset, DescribeDataset, ListDatasets, DeleteDataset."""

from __future__ import annotations

import json
import uuid
from typing import Any

from chalicelib.errors import (
    InvalidInputException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
)
from chalicelib.resources import common, dataset_groups, schemas
from chalicelib.resources.schema_rules import dataset_type, parse_schema
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import PENDING

KIND = common.Kind("dataset", "datasetArn", summary_keys=("datasetType",))


def create_dataset(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["name"]
    canonical, suffix = dataset_type(params["datasetType"])
    with ctx.store.transaction():
        group = common.require(ctx, dataset_groups.KIND, params["datasetGroupArn"])
        schema = common.require(ctx, schemas.KIND, params["schemaArn"])
        common.require_active(group, dataset_groups.KIND, "before datasets are added to it")
        record = json.loads(schema.attrs["schema"])["name"]
        if record.lower() != canonical.lower():
            raise InvalidInputException(
                f"Schema {schema.arn} describes {record} records; it cannot be used for a "
                f"{canonical} dataset. Create a schema whose record name is {canonical}.")
        group_domain, schema_domain = group.attrs.get("domain"), schema.attrs.get("domain")
        if group_domain != schema_domain:
            raise InvalidInputException(
                f"Schema {schema.arn} has domain {schema_domain or 'none'} but dataset group "
                f"{group.arn} has domain {group_domain or 'none'}; they must match.")
        common.check_name_free(ctx, KIND, name)
        arn = arns.dataset(group.arn, suffix)
        if ctx.store.get(arn):
            raise ResourceAlreadyExistsException(
                f"Dataset group {group.arn} already has a {canonical} dataset ({arn}).")
        attrs = {"datasetGroupArn": group.arn, "datasetType": canonical,
                 "schemaArn": schema.arn}
        if canonical == "Action_Interactions":
            # The service creates a tracker for action interactions; its id is on the dataset.
            attrs["trackingId"] = str(uuid.uuid4())
        common.create(ctx, KIND, arn, name, group.arn, attrs, params.get("tags"))
    return {"datasetArn": arn}


def describe_dataset(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return {"dataset": common.to_wire(KIND, common.require(ctx, KIND, params["datasetArn"]))}


def list_datasets(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return common.list_resources(ctx, params, "ListDatasets", KIND, "datasets",
                                 parent=params.get("datasetGroupArn"))


def delete_dataset(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["datasetArn"])
        busy = [j for j in ctx.store.find("dataset-import-job", parent=res.arn)
                if j.status in PENDING]
        busy += [v for v in ctx.store.find("solution-version", statuses=PENDING)
                 if v.attrs.get("datasetGroupArn") == res.parent]
        if busy:
            raise ResourceInUseException(
                f"Dataset {res.arn} is in use by {busy[0].arn} ({busy[0].status}); wait for "
                "it to finish before deleting the dataset.")
        return common.start_delete(ctx, KIND, res)


def _check_compatible(old_text: str, new_text: str, domain: str | None) -> None:
    old, new = parse_schema(old_text, domain), parse_schema(new_text, domain)
    if old.dataset_type != new.dataset_type:
        raise InvalidInputException(
            f"The new schema describes {new.dataset_type} records; the dataset holds "
            f"{old.dataset_type}.")
    for field in old.fields:
        replacement = new.field(field.name)
        if replacement is None or replacement.type != field.type:
            raise InvalidInputException(
                f"The new schema must keep field {field.name} ({field.type}): existing data "
                "uses it. A new schema may only add fields.")
    added = [f.name for f in new.fields if old.field(f.name) is None and not f.nullable]
    if added:
        raise InvalidInputException(
            f"Added fields {added} must be nullable ([\"null\", type]): existing rows have "
            "no value for them.")


def update_dataset(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["datasetArn"])
        common.require_active(res, KIND, "before its schema can be replaced")
        importing = [j for j in ctx.store.find("dataset-import-job", parent=res.arn)
                     if j.status in PENDING]
        if common.pending_update(res, "latestDatasetUpdate") or importing:
            raise ResourceInUseException(
                f"Dataset {res.arn} has an update or import in progress; wait for it.")
        new = common.require(ctx, schemas.KIND, params["schemaArn"])
        old = ctx.store.one(res.attrs["schemaArn"])
        group = ctx.store.one(res.attrs["datasetGroupArn"])
        if new.attrs.get("domain") != group.attrs.get("domain"):
            raise InvalidInputException(
                f"Schema {new.arn} has domain {new.attrs.get('domain') or 'none'}; the dataset "
                f"group's is {group.attrs.get('domain') or 'none'}.")
        _check_compatible(old.attrs["schema"], new.attrs["schema"], group.attrs.get("domain"))
        common.start_update(ctx, res, "latestDatasetUpdate", {"schemaArn": new.arn})
    return {"datasetArn": res.arn}
