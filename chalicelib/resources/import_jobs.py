"""CreateDatasetImportJob, DescribeDatasetImportJob, ListDatasetImportJobs."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import InvalidInputException, ResourceInUseException
from chalicelib.resources import common, datasets, quotas
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import PENDING, Status

KIND = common.Kind("dataset-import-job", "datasetImportJobArn", name_key="jobName",
                   summary_keys=("importMode",))


def create_dataset_import_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["jobName"]
    mode = params.get("importMode", "FULL")
    location = params["dataSource"].get("dataLocation")
    if not location or not location.startswith("s3://") or len(location) <= len("s3://"):
        raise InvalidInputException(
            f"dataSource.dataLocation must be an S3 URL such as s3://bucket/path/file.csv or "
            f"s3://bucket/folder/, got {location!r}.")
    common.check_access(ctx, params.get("roleArn"), location)
    with ctx.store.transaction():
        dataset = common.require(ctx, datasets.KIND, params["datasetArn"])
        common.require_active(dataset, datasets.KIND, "before data is imported into it")
        common.check_name_free(ctx, KIND, name)
        jobs = ctx.store.find(KIND.name, parent=dataset.arn)
        running = [j for j in jobs if j.status in PENDING]
        if running:
            raise ResourceInUseException(
                f"Import job {running[0].arn} on dataset {dataset.arn} is still "
                f"{running[0].status}; wait for it to finish.")
        if mode == "INCREMENTAL" and not any(j.status == Status.ACTIVE for j in jobs):
            raise InvalidInputException(
                "importMode INCREMENTAL needs at least one completed import on the dataset; "
                "run a FULL import first.")
        pending = ctx.store.find(KIND.name, statuses=PENDING)
        quotas.check("pending_import_jobs", len(pending),
                     "More than 5 resources with PENDING or IN_PROGRESS status")
        attrs = common.drop_none({
            "datasetArn": dataset.arn, "dataSource": {"dataLocation": location},
            "roleArn": params.get("roleArn"), "importMode": mode,
            "publishAttributionMetricsToS3": params.get("publishAttributionMetricsToS3"),
        })
        res = common.create(ctx, KIND, arns.arn(KIND.name, name), name, dataset.arn, attrs,
                            params.get("tags"))
    return {"datasetImportJobArn": res.arn}


def describe_dataset_import_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    res = common.require(ctx, KIND, params["datasetImportJobArn"])
    return {"datasetImportJob": common.to_wire(KIND, res)}


def list_dataset_import_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return common.list_resources(ctx, params, "ListDatasetImportJobs", KIND,
                                 "datasetImportJobs", parent=params.get("datasetArn"))
