"""CreateDatasetGroup, DescribeDatasetGroup, ListDatasetGroups, DeleteDatasetGroup."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import InvalidInputException, ResourceInUseException
from chalicelib.resources import common, quotas
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import DELETING

KIND = common.Kind("dataset-group", "datasetGroupArn", summary_keys=("domain",))
# Kinds that live in a dataset group and must be deleted before it.
CHILD_KINDS = ("dataset", "solution", "event-tracker", "recommender", "filter",
               "metric-attribution")


def create_dataset_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["name"]
    common.check_access(ctx, params.get("roleArn"))
    if params.get("roleArn") and not params.get("kmsKeyArn"):
        raise InvalidInputException(
            "roleArn is only used to reach kmsKeyArn: give kmsKeyArn too, or omit roleArn.")
    with ctx.store.transaction():
        common.check_name_free(ctx, KIND, name)
        live = [g for g in ctx.store.find(KIND.name) if g.status not in DELETING]
        quotas.check("dataset_groups", len(live),
                     f"Cannot create dataset group {name}: {len(live)} dataset groups exist")
        attrs = common.drop_none({k: params.get(k) for k in ("roleArn", "kmsKeyArn", "domain")})
        res = common.create(ctx, KIND, arns.arn(KIND.name, name), name, None, attrs,
                            params.get("tags"))
    return common.drop_none({"datasetGroupArn": res.arn, "domain": params.get("domain")})


def describe_dataset_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    res = common.require(ctx, KIND, params["datasetGroupArn"])
    return {"datasetGroup": common.to_wire(KIND, res)}


def list_dataset_groups(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return common.list_resources(ctx, params, "ListDatasetGroups", KIND, "datasetGroups")


def delete_dataset_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["datasetGroupArn"])
        for kind in CHILD_KINDS:
            children = ctx.store.find(kind, parent=res.arn)
            if children:
                raise ResourceInUseException(
                    f"Dataset group {res.arn} still has {len(children)} "
                    f"{kind.replace('-', ' ')}(s), e.g. {children[0].arn}; delete them first.")
        return common.start_delete(ctx, KIND, res)
