"""CreateBatchSegmentJob, DescribeBatchSegmentJob, ListBatchSegmentJobs."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import InvalidInputException
from chalicelib.resources import batch_jobs, common
from chalicelib.state.context import Context

KIND = common.Kind("batch-segment-job", "batchSegmentJobArn", name_key="jobName",
                   summary_keys=("solutionVersionArn",), label="batch segment job")
MAX_USERS = 5_000_000  # users per segment (spec I.6)


def create_batch_segment_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    batch_jobs.check_paths(params)
    n = batch_jobs.num_results(params, MAX_USERS)
    with ctx.store.transaction():
        version, recipe = batch_jobs.active_version(ctx, params["solutionVersionArn"])
        if recipe.recipe_type != "USER_SEGMENTATION":
            raise InvalidInputException(
                f"{version.arn} uses {recipe.name}; batch segment jobs need an "
                "aws-item-affinity or aws-item-attribute-affinity version (use "
                "CreateBatchInferenceJob for item recommendations).")
        batch_jobs.check_filter(ctx, params.get("filterArn"), version, "UserID",
                                interactions=recipe.name != "aws-item-attribute-affinity")
        res = batch_jobs.create_job(ctx, KIND, params, version, {"numResults": n},
                                    "pending_batch_segment_jobs")
    return {"batchSegmentJobArn": res.arn}


def describe_batch_segment_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    res = common.require(ctx, KIND, params["batchSegmentJobArn"])
    return {"batchSegmentJob": common.to_wire(KIND, res)}


def list_batch_segment_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return common.list_resources(ctx, params, "ListBatchSegmentJobs", KIND,
                                 "batchSegmentJobs", parent=params.get("solutionVersionArn"))
