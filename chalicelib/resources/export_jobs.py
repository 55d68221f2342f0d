"""CreateDatasetExportJob, DescribeDatasetExportJob, ListDatasetExportJobs."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import InvalidInputException, ResourceInUseException
from chalicelib.resources import common, datasets
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import PENDING

KIND = common.Kind("dataset-export-job", "datasetExportJobArn", name_key="jobName",
                   label="dataset export job")
DEFAULT_MODE = "PUT"  # the API reference's default


def create_dataset_export_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["jobName"]
    path = params["jobOutput"]["s3DataDestination"]["path"]
    if not path.startswith("s3://") or len(path) <= len("s3://"):
        raise InvalidInputException(
            f"jobOutput.s3DataDestination.path must be an S3 folder such as s3://bucket/out/, "
            f"got {path!r}.")
    common.check_access(ctx, params["roleArn"], path)
    with ctx.store.transaction():
        dataset = common.require(ctx, datasets.KIND, params["datasetArn"])
        common.require_active(dataset, datasets.KIND, "before it can be exported")
        importing = [j for j in ctx.store.find("dataset-import-job", parent=dataset.arn)
                     if j.status in PENDING]
        if importing:
            raise ResourceInUseException(
                f"Import job {importing[0].arn} is still {importing[0].status}; export the "
                "dataset when it has finished.")
        common.check_name_free(ctx, KIND, name)
        attrs = common.drop_none({
            "datasetArn": dataset.arn, "ingestionMode": params.get("ingestionMode",
                                                                   DEFAULT_MODE),
            "roleArn": params["roleArn"], "jobOutput": params["jobOutput"]})
        res = common.create(ctx, KIND, arns.arn(KIND.name, name), name, dataset.arn, attrs,
                            params.get("tags"))
    return {"datasetExportJobArn": res.arn}


def describe_dataset_export_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    res = common.require(ctx, KIND, params["datasetExportJobArn"])
    return {"datasetExportJob": common.to_wire(KIND, res)}


def list_dataset_export_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return common.list_resources(ctx, params, "ListDatasetExportJobs", KIND,
                                 "datasetExportJobs", parent=params.get("datasetArn"))
