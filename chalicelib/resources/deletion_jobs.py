"""CreateDataDeletionJob, DescribeDataDeletionJob, ListDataDeletionJobs."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import InvalidInputException
from chalicelib.resources import common, dataset_groups
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status

KIND = common.Kind("data-deletion-job", "dataDeletionJobArn", name_key="jobName",
                   summary_keys=("datasetGroupArn",), label="data deletion job")


def create_data_deletion_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["jobName"]
    location = params["dataSource"].get("dataLocation", "")
    if not location.startswith("s3://") or len(location) <= len("s3://"):
        raise InvalidInputException(
            "dataSource.dataLocation must name a CSV in S3 (s3://bucket/users.csv) with a "
            f"USER_ID header, got {location!r}.")
    common.check_access(ctx, params["roleArn"], location)
    with ctx.store.transaction():
        group = common.require(ctx, dataset_groups.KIND, params["datasetGroupArn"])
        common.require_active(group, dataset_groups.KIND, "before data can be deleted from it")
        common.check_name_free(ctx, KIND, name)
        attrs = {"datasetGroupArn": group.arn, "dataSource": {"dataLocation": location},
                 "roleArn": params["roleArn"]}
        res = common.create(ctx, KIND, arns.arn(KIND.name, name), name, group.arn, attrs,
                            params.get("tags"), status=Status.PENDING)
    return {"dataDeletionJobArn": res.arn}


def describe_data_deletion_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    res = common.require(ctx, KIND, params["dataDeletionJobArn"])
    return {"dataDeletionJob": common.to_wire(KIND, res)}


def list_data_deletion_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return common.list_resources(ctx, params, "ListDataDeletionJobs", KIND, "dataDeletionJobs",
                                 parent=params.get("datasetGroupArn"))
