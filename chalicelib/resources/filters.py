"""CreateFilter, DescribeFilter, ListFilters, DeleteFilter (spec A.11, F.7).

The expression is parsed and checked against the dataset group's schemas here; serving
(``runtime.filters``) compiles the same parse to numpy masks.
"""

from __future__ import annotations

from typing import Any

from chalicelib.errors import LimitExceededException, ResourceInUseException
from chalicelib.resources import common, dataset_groups, quotas
from chalicelib.resources import filter_grammar as grammar
from chalicelib.resources.schema_rules import DatasetSchema, parse_schema
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import DELETING

KIND = common.Kind("filter", "filterArn", summary_keys=("datasetGroupArn",))


def group_schemas(ctx: Context, group_arn: str) -> dict[str, DatasetSchema]:
    """datasetType -> schema of each (not deleting) dataset of the group."""
    out = {}
    for dataset in ctx.store.find("dataset", parent=group_arn):
        if dataset.status not in DELETING:
            schema = ctx.store.one(dataset.attrs["schemaArn"]).attrs["schema"]
            out[dataset.attrs["datasetType"]] = parse_schema(schema)
    return out


def create_filter(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name, expression = params["name"], params["filterExpression"]
    parsed = grammar.parse(expression)
    with ctx.store.transaction():
        group = common.require(ctx, dataset_groups.KIND, params["datasetGroupArn"])
        common.require_active(group, dataset_groups.KIND, "before filters are added to it")
        common.check_name_free(ctx, KIND, name)
        grammar.check_fields(parsed, group_schemas(ctx, group.arn),
                             quotas.quota("filter_fields"))
        live = [f for f in ctx.store.find(KIND.name, parent=group.arn)
                if f.status not in DELETING]
        quotas.check("filters_per_group", len(live),
                     f"Cannot create filter {name}: dataset group {group.arn} has {len(live)} "
                     "filters")
        used = set(parsed.fields)
        for other in live:
            used |= grammar.parse(other.attrs["filterExpression"]).fields
        limit = quotas.quota("filter_fields_per_group")
        if len(used) > limit:
            raise LimitExceededException(
                f"The filters of dataset group {group.arn} may use at most {limit} distinct "
                f"dataset fields; with this one they would use {len(used)}: "
                f"{', '.join(sorted('.'.join(f) for f in used))} (quota {limit}; raise it "
                "with TAILOR_QUOTA_FILTER_FIELDS_PER_GROUP).")
        attrs = {"datasetGroupArn": group.arn, "filterExpression": expression}
        res = common.create(ctx, KIND, arns.arn(KIND.name, name), name, group.arn, attrs,
                            params.get("tags"))
    return {"filterArn": res.arn}


def describe_filter(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return {"filter": common.to_wire(KIND, common.require(ctx, KIND, params["filterArn"]))}


def list_filters(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return common.list_resources(ctx, params, "ListFilters", KIND, "Filters",
                                 parent=params.get("datasetGroupArn"))


def delete_filter(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["filterArn"])
        busy = common.busy_batch_job(ctx, "filterArn", [res.arn])
        if busy:
            raise ResourceInUseException(
                f"Filter {res.arn} is used by {busy.arn} ({busy.status}); wait for the "
                "job to finish before deleting the filter.")
        return common.start_delete(ctx, KIND, res)
