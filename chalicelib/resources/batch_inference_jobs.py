"""CreateBatchInferenceJob, DescribeBatchInferenceJob, ListBatchInferenceJobs."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import InvalidInputException
from chalicelib.resources import batch_jobs, campaigns, catalogue, common
from chalicelib.state.context import Context

KIND = common.Kind("batch-inference-job", "batchInferenceJobArn", name_key="jobName",
                   summary_keys=("solutionVersionArn", "batchInferenceJobMode"),
                   label="batch inference job")
MAX_RESULTS = 500
MODE = "BATCH_INFERENCE"
# Custom recipes without batch inference (spec A.12, B.1).
NO_BATCH = {"aws-trending-now": "Trending-Now has no batch inference; its campaigns serve "
                                "the current trend through GetRecommendations"}


def _check_recipe(recipe: catalogue.Recipe, version_arn: str) -> None:
    if recipe.recipe_type == "USER_SEGMENTATION":
        raise InvalidInputException(
            f"{version_arn} uses {recipe.name}, which makes user segments: use "
            "CreateBatchSegmentJob.")
    if recipe.recipe_type == "PERSONALIZED_ACTIONS":
        raise InvalidInputException(
            f"{version_arn} uses {recipe.name}; Next-Best-Action has no batch inference. "
            "Deploy it in a campaign and call GetActionRecommendations.")
    if recipe.name in NO_BATCH:
        raise InvalidInputException(f"{version_arn} uses {recipe.name}. {NO_BATCH[recipe.name]}.")


def _check_options(params: dict[str, Any]) -> dict[str, Any]:
    """batchInferenceJobMode and batchInferenceJobConfig options Tailor cannot honour."""
    mode = params.get("batchInferenceJobMode", MODE)
    if mode != MODE or params.get("themeGenerationConfig"):
        raise InvalidInputException(
            f"Tailor does not implement batchInferenceJobMode {mode} (themes for "
            "Similar-Items need a generative model) nor themeGenerationConfig; use "
            f"{MODE}.")
    config = params.get("batchInferenceJobConfig") or {}
    if config.get("rankingInfluence"):
        raise InvalidInputException(
            "Tailor does not implement batchInferenceJobConfig.rankingInfluence (a "
            "User-Personalization-v2 option); leave it out.")
    return config


def create_batch_inference_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    batch_jobs.check_paths(params)
    n = batch_jobs.num_results(params, MAX_RESULTS)
    config = _check_options(params)
    with ctx.store.transaction():
        version, recipe = batch_jobs.active_version(ctx, params["solutionVersionArn"])
        _check_recipe(recipe, version.arn)
        campaigns.check_exploration(version, config.get("itemExplorationConfig"),
                                    "batchInferenceJobConfig")
        batch_jobs.check_filter(ctx, params.get("filterArn"), version, "ItemID")
        res = batch_jobs.create_job(ctx, KIND, params, version, {
            "numResults": n, "batchInferenceJobConfig": params.get("batchInferenceJobConfig"),
            "batchInferenceJobMode": MODE}, "pending_batch_inference_jobs")
    return {"batchInferenceJobArn": res.arn}


def describe_batch_inference_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    res = common.require(ctx, KIND, params["batchInferenceJobArn"])
    return {"batchInferenceJob": common.to_wire(KIND, res)}


def list_batch_inference_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return common.list_resources(ctx, params, "ListBatchInferenceJobs", KIND,
                                 "batchInferenceJobs", parent=params.get("solutionVersionArn"))
