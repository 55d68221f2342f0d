"""CreateCampaign, DescribeCampaign, ListCampaigns, UpdateCampaign, DeleteCampaign."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import InvalidInputException, ResourceInUseException
from chalicelib.resources import common, quotas, solution_versions, solutions
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import DELETING, Status
from chalicelib.state.store import Resource

KIND = common.Kind("campaign", "campaignArn")
LATEST = "$LATEST"


def resolve_version(ctx: Context, arn: str) -> Resource:
    """A solution version ARN, or ``<solutionArn>/$LATEST`` -> the newest ACTIVE version."""
    if arn.endswith("/" + LATEST):
        solution = common.require(ctx, solutions.KIND, arn.removesuffix("/" + LATEST))
        if solution.status in DELETING:
            raise ResourceInUseException(
                f"Solution {solution.arn} is {solution.status}; it cannot be deployed.")
        active = ctx.store.find(solution_versions.KIND.name, parent=solution.arn,
                                statuses=frozenset({Status.ACTIVE}))
        if not active:
            raise ResourceInUseException(
                f"Solution {solution.arn} has no ACTIVE solution version for $LATEST yet.")
        return active[0]
    version = common.require(ctx, solution_versions.KIND, arn)
    solution_versions.require_usable(ctx, version, "before a campaign can deploy it")
    return version


def check_exploration(version: Resource, exploration: dict[str, str] | None,
                      where: str) -> None:
    """An itemExplorationConfig (of ``where``: campaignConfig, batchInferenceJobConfig):
    only for User-Personalization recipes, weight in [0, 1], age cut-off > 0."""
    if not exploration:
        return
    recipe = solutions.recipe_of(version.attrs["recipeArn"])
    if not recipe.explores:
        raise InvalidInputException(
            f"{where}.itemExplorationConfig only applies to User-Personalization "
            f"recipes; {version.arn} uses {recipe.name}.")
    for key, low, high in (("explorationWeight", 0.0, 1.0),
                           ("explorationItemAgeCutOff", 1e-9, float("inf"))):
        if key in exploration:
            try:
                ok = low <= float(exploration[key]) <= high
            except ValueError:
                ok = False
            if not ok:
                raise InvalidInputException(
                    f"itemExplorationConfig.{key} must be a number in [{low:g}, {high:g}], "
                    f"got {exploration[key]!r}.")


def _check_config(version: Resource, config: dict[str, Any] | None, given: str) -> None:
    recipe = solutions.recipe_of(version.attrs["recipeArn"])
    if recipe.recipe_type == "USER_SEGMENTATION":
        raise InvalidInputException(
            f"{recipe.name} versions serve user segments through batch segment jobs; they "
            "cannot be deployed in a campaign.")
    config = config or {}
    check_exploration(version, config.get("itemExplorationConfig"), "campaignConfig")
    if config.get("syncWithLatestSolutionVersion") and not given.endswith("/" + LATEST):
        raise InvalidInputException(
            "syncWithLatestSolutionVersion needs solutionVersionArn <solutionArn>/$LATEST.")


def create_campaign(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["name"]
    with ctx.store.transaction():
        version = resolve_version(ctx, params["solutionVersionArn"])
        _check_config(version, params.get("campaignConfig"), params["solutionVersionArn"])
        common.check_name_free(ctx, KIND, name)
        group = version.attrs["datasetGroupArn"]
        live = [c for c in ctx.store.find(KIND.name)
                if c.attrs["_datasetGroupArn"] == group and c.status not in DELETING]
        quotas.check("campaigns_per_group", len(live),
                     "Cannot create a campaign. More than 5 resources in ACTIVE state")
        attrs = {
            "solutionVersionArn": version.arn, "_datasetGroupArn": group,
            "minProvisionedTPS": params.get("minProvisionedTPS", 1),
            "campaignConfig": params.get("campaignConfig") or {},
        }
        res = common.create(ctx, KIND, arns.arn(KIND.name, name), name,
                            version.attrs["solutionArn"], attrs, params.get("tags"))
    return {"campaignArn": res.arn}


def describe_campaign(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return {"campaign": common.to_wire(KIND, common.require(ctx, KIND, params["campaignArn"]))}


def list_campaigns(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return common.list_resources(ctx, params, "ListCampaigns", KIND, "campaigns",
                                 parent=params.get("solutionArn"))


def update_campaign(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["campaignArn"])
        pending = common.pending_update(res, "latestCampaignUpdate")
        if res.status not in (Status.ACTIVE, Status.CREATE_FAILED) or pending:
            raise ResourceInUseException(
                f"Campaign {res.arn} is {res.status} (update in progress: "
                f"{pending or 'none'}); it can be updated when ACTIVE or CREATE FAILED with "
                "no update in progress.")
        given = params.get("solutionVersionArn") or res.attrs["solutionVersionArn"]
        version = resolve_version(ctx, given)
        if version.attrs["solutionArn"] != res.parent:
            raise InvalidInputException(
                f"{version.arn} belongs to another solution; a campaign can only move to "
                f"versions of {res.parent}.")
        config = {**res.attrs["campaignConfig"], **(params.get("campaignConfig") or {})}
        _check_config(version, config, given)
        common.start_update(ctx, res, "latestCampaignUpdate", {
            "solutionVersionArn": version.arn,
            "minProvisionedTPS": params.get("minProvisionedTPS",
                                            res.attrs["minProvisionedTPS"]),
            "campaignConfig": config})
    return {"campaignArn": res.arn}


def delete_campaign(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["campaignArn"])
        return common.start_delete(ctx, KIND, res)
