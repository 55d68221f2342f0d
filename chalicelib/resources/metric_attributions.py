"""CreateMetricAttribution, DescribeMetricAttribution, ListMetricAttributions,
ListMetricAttributionMetrics, UpdateMetricAttribution, DeleteMetricAttribution.

A dataset group has at most one metric attribution: up to 10 metrics, each an event
type and ``SAMPLECOUNT()`` or ``SUM(<Interactions|Items>.<numeric column>)``, checked
against the group's schemas. Reports are computed and published by
``jobs/attribution_reports.py`` from the events that arrive after the attribution was
created.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from chalicelib.errors import (
    InvalidInputException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
)
from chalicelib.protocol.pagination import paginate
from chalicelib.resources import common, dataset_groups
from chalicelib.resources.schema_rules import NUMERIC, DatasetSchema, parse_schema
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import DELETING, Status
from chalicelib.state.s3 import split_s3_url
from chalicelib.state.store import Resource

KIND = common.Kind("metric-attribution", "metricAttributionArn", label="metric attribution")
MAX_METRICS = 10
WIRE_KEYS = ("eventType", "metricName", "expression")
_SAMPLECOUNT = re.compile(r"\s*SAMPLECOUNT\s*\(\s*\)\s*", re.IGNORECASE)
_SUM = re.compile(r"\s*SUM\s*\(\s*([A-Za-z_]+)\s*\.\s*([A-Za-z0-9_]+)\s*\)\s*", re.IGNORECASE)
_PRINTABLE = re.compile(r"[\x21-\x7E](?:[\x20-\x7E]*[\x21-\x7E])?")
_SUMMABLE = {"interactions": "Interactions", "items": "Items"}
_TIME_COLUMNS = frozenset({"TIMESTAMP", "CREATION_TIMESTAMP"})


def dataset_arn(group: Resource, dataset_type: str) -> str:
    return arns.dataset(group.arn, dataset_type.upper())


def _schema(ctx: Context, group: Resource, dataset_type: str) -> DatasetSchema | None:
    dataset = ctx.store.get(dataset_arn(group, dataset_type))
    if dataset is None or dataset.status in DELETING:
        return None
    return parse_schema(ctx.store.one(dataset.attrs["schemaArn"]).attrs["schema"])


def _interactions(ctx: Context, group: Resource) -> None:
    schema = _schema(ctx, group, "Interactions")
    if schema is None:
        raise InvalidInputException(
            f"Dataset group {group.arn} has no Interactions dataset; a metric attribution "
            "reports on interactions, so create that dataset first.")
    if schema.field("EVENT_TYPE") is None:
        raise InvalidInputException(
            f"The Interactions schema of {group.arn} has no EVENT_TYPE column; metrics are "
            "defined per event type.")


def _metric(ctx: Context, group: Resource, raw: dict[str, Any], where: str) -> dict[str, Any]:
    """One metric checked against the group's schemas, with its parsed expression."""
    for key in ("eventType", "metricName"):
        if not _PRINTABLE.fullmatch(raw[key]):
            raise InvalidInputException(
                f"{where}.{key} must be printable ASCII without leading or trailing spaces, "
                f"got {raw[key]!r}.")
    expression = raw["expression"]
    metric = {k: raw[k] for k in WIRE_KEYS}
    if _SAMPLECOUNT.fullmatch(expression):
        return {**metric, "function": "samplecount", "dataset": None, "column": None}
    found = _SUM.fullmatch(expression)
    if not found:
        raise InvalidInputException(
            f"{where}.expression {expression!r} is not SAMPLECOUNT() or "
            "SUM(<DatasetType>.<COLUMN>), e.g. SUM(Items.PRICE).")
    dataset_type = _SUMMABLE.get(found.group(1).lower())
    column = found.group(2)
    if dataset_type is None:
        raise InvalidInputException(
            f"{where}.expression {expression!r}: SUM() adds up a column of the Interactions "
            f"or Items dataset, not {found.group(1)}.")
    schema = _schema(ctx, group, dataset_type)
    if schema is None:
        raise InvalidInputException(
            f"{where}.expression {expression!r}: dataset group {group.arn} has no "
            f"{dataset_type} dataset.")
    field = schema.field(column)
    if field is None:
        raise InvalidInputException(
            f"{where}.expression {expression!r}: the {dataset_type} schema has no column "
            f"{column} (columns: {', '.join(f.name for f in schema.fields)}).")
    if field.type not in NUMERIC or column in _TIME_COLUMNS:
        raise InvalidInputException(
            f"{where}.expression {expression!r}: SUM() needs a numeric column; {column} is "
            f"{'a time' if column in _TIME_COLUMNS else field.type}.")
    return {**metric, "function": "sum", "dataset": dataset_type, "column": column}


def _metrics(ctx: Context, group: Resource, raw: list[dict[str, Any]], member: str,
             ) -> list[dict[str, Any]]:
    metrics = [_metric(ctx, group, m, f"{member}.{n}") for n, m in enumerate(raw, start=1)]
    names = [m["metricName"] for m in metrics]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInputException(
            f"{member} names metric {dupes[0]} more than once; metric names are unique "
            "within a metric attribution.")
    return metrics


def _check_count(count: int) -> None:
    if not 1 <= count <= MAX_METRICS:
        raise InvalidInputException(
            f"A metric attribution has 1 to {MAX_METRICS} metrics; this one would have "
            f"{count}.")


def _output(ctx: Context, config: dict[str, Any]) -> dict[str, Any]:
    destination = config.get("s3DataDestination")
    if destination:
        try:
            split_s3_url(destination["path"])
        except ValueError:
            raise InvalidInputException(
                f"metricsOutputConfig.s3DataDestination.path must be an S3 URL such as "
                f"s3://bucket/reports/, got {destination['path']!r}.") from None
    common.check_access(ctx, config["roleArn"], *([destination["path"]] if destination else []))
    return config


def create_metric_attribution(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["name"]
    with ctx.store.transaction() as db:
        group = common.require(ctx, dataset_groups.KIND, params["datasetGroupArn"])
        common.require_active(group, dataset_groups.KIND,
                              "before a metric attribution is added")
        common.check_name_free(ctx, KIND, name)
        existing = [a for a in ctx.store.find(KIND.name, parent=group.arn)
                    if a.status not in DELETING]
        if existing:
            raise ResourceAlreadyExistsException(
                f"Dataset group {group.arn} already has metric attribution "
                f"{existing[0].arn}; a dataset group has at most one.")
        _interactions(ctx, group)
        _check_count(len(params["metrics"]))
        metrics = _metrics(ctx, group, params["metrics"], "metrics")
        interactions = dataset_arn(group, "Interactions")
        # Reports cover the events that arrive from now on (AWS: not earlier data).
        put_from = db.execute("SELECT coalesce(max(id), 0) FROM put_rows WHERE "
                              "dataset_arn = ?", [interactions]).fetchone()[0]
        attrs = {"datasetGroupArn": group.arn,
                 "metricsOutputConfig": _output(ctx, params["metricsOutputConfig"]),
                 "_metrics": metrics, "_id": uuid.uuid4().hex, "_putFrom": put_from,
                 "_datasets": {t: dataset_arn(group, t) for t in ("Interactions", "Items")}}
        res = common.create(ctx, KIND, arns.arn(KIND.name, name), name, group.arn, attrs)
    return {"metricAttributionArn": res.arn}


def describe_metric_attribution(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    res = common.require(ctx, KIND, params["metricAttributionArn"])
    return {"metricAttribution": common.to_wire(KIND, res)}


def list_metric_attributions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return common.list_resources(ctx, params, "ListMetricAttributions", KIND,
                                 "metricAttributions", parent=params.get("datasetGroupArn"))


def list_metric_attribution_metrics(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    arn = params.get("metricAttributionArn")
    if not arn:
        raise InvalidInputException("metricAttributionArn is required.")
    res = ctx.store.get(arn)
    if res is None or res.kind != KIND.name:
        raise InvalidInputException(f"Metric attribution {arn} does not exist.")
    metrics = [{k: m[k] for k in WIRE_KEYS} for m in res.attrs["_metrics"]]
    page, token = paginate("ListMetricAttributionMetrics", params, metrics)
    return common.drop_none({"metrics": list(page), "nextToken": token})


def update_metric_attribution(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    arn = params.get("metricAttributionArn")
    if not arn:
        raise InvalidInputException("metricAttributionArn is required.")
    add, remove = params.get("addMetrics") or [], params.get("removeMetrics") or []
    config = params.get("metricsOutputConfig")
    if not (add or remove or config):
        raise InvalidInputException(
            "Nothing to update: give addMetrics, removeMetrics or metricsOutputConfig.")
    with ctx.store.transaction():
        res = common.require(ctx, KIND, arn)
        if res.status != Status.ACTIVE:
            raise ResourceInUseException(
                f"Metric attribution {arn} is {res.status}; it can be updated when ACTIVE.")
        group = ctx.store.one(res.parent or "")
        current = res.attrs["_metrics"]
        unknown = sorted(set(remove) - {m["metricName"] for m in current})
        if unknown:
            raise InvalidInputException(
                f"removeMetrics names {unknown[0]}, which is not a metric of {arn}; "
                "ListMetricAttributionMetrics lists them.")
        kept = [m for m in current if m["metricName"] not in set(remove)]
        added = _metrics(ctx, group, add, "addMetrics")
        taken = sorted({m["metricName"] for m in added} & {m["metricName"] for m in kept})
        if taken:
            raise ResourceAlreadyExistsException(
                f"Metric attribution {arn} already has a metric named {taken[0]}; remove it "
                "in the same call (removeMetrics) to redefine it.")
        _check_count(len(kept) + len(added))
        res.attrs["_metrics"] = kept + added
        if config:
            res.attrs["metricsOutputConfig"] = _output(ctx, config)
        ctx.store.save(res)
    return {"metricAttributionArn": res.arn}


def delete_metric_attribution(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["metricAttributionArn"])
        return common.start_delete(ctx, KIND, res)
