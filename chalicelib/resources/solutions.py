"""CreateSolution, DescribeSolution, ListSolutions, UpdateSolution, DeleteSolution."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import (
    InvalidInputException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from chalicelib.resources import catalogue, common, dataset_groups, quotas
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import DELETING, PENDING
from chalicelib.state.store import Resource

KIND = common.Kind("solution", "solutionArn", summary_keys=("recipeArn",))
VERSION_KIND = common.Kind("solution-version", "solutionVersionArn",
                           summary_keys=("trainingMode", "trainingType"),
                           label="solution version")
AUTOML_DEFAULT_RECIPE = "aws-user-personalization"
# What AutoML tries when autoMLConfig.recipeList is not given.
AUTOML_DEFAULT_LIST = ("aws-user-personalization", "aws-popularity-count")


def automl_candidates(config: dict[str, Any] | None) -> list[str]:
    """Recipe ARNs AutoML chooses among (autoMLConfig.recipeList, checked)."""
    listed = ((config or {}).get("autoMLConfig") or {}).get("recipeList")
    arns_ = listed or [catalogue.recipe_by_name(n).arn for n in AUTOML_DEFAULT_LIST]
    for arn in arns_:
        recipe = recipe_of(arn)
        if recipe.recipe_type != "USER_PERSONALIZATION" or recipe.is_use_case:
            raise InvalidInputException(
                f"autoMLConfig.recipeList may only name USER_PERSONALIZATION recipes; "
                f"{arn} is {recipe.recipe_type}.")
    return list(arns_)


def recipe_of(arn: str | None) -> catalogue.Recipe:
    recipe = catalogue.recipe_from_arn(arn or "")
    if recipe is None:
        raise ResourceNotFoundException(
            f"Recipe {arn} does not exist; ListRecipes shows the recipe ARNs.")
    return recipe


def _check_config(recipe: catalogue.Recipe, params: dict[str, Any]) -> None:
    config = params.get("solutionConfig") or {}
    fixed = {**config.get("algorithmHyperParameters", {}),
             **config.get("featureTransformationParameters", {})}
    ranges = (config.get("hpoConfig") or {}).get("algorithmHyperParameterRanges") or {}
    ranged = {r["name"] for group in ranges.values() for r in group}
    if ranged and not params.get("performHPO"):
        raise InvalidInputException(
            "solutionConfig.hpoConfig.algorithmHyperParameterRanges needs performHPO=true.")
    both = sorted(ranged & set(fixed))
    if both:
        raise InvalidInputException(
            f"Hyperparameter {both[0]} is both fixed in algorithmHyperParameters and tuned in "
            "hpoConfig; give it in one place only.")
    if recipe.algorithm is None:
        return
    if params.get("performHPO") and recipe.recipe_type == "USER_SEGMENTATION":
        raise InvalidInputException(f"{recipe.name} does not support performHPO.")
    resources = (config.get("hpoConfig") or {}).get("hpoResourceConfig") or {}
    try:
        catalogue.validate_hyperparameters(recipe.algorithm, fixed)
        catalogue.check_hpo_ranges(recipe.algorithm, ranges)
        for key, limit in (("maxNumberOfTrainingJobs", 40), ("maxParallelTrainingJobs", 10)):
            if key in resources and not (resources[key].isdigit()
                                         and 1 <= int(resources[key]) <= limit):
                raise ValueError(f"hpoResourceConfig.{key} must be a whole number from 1 to "
                                 f"{limit}, got {resources[key]!r}.")
    except ValueError as exc:
        raise InvalidInputException(str(exc)) from None


def create_solution(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name, automl = params["name"], bool(params.get("performAutoML"))
    if automl and params.get("recipeArn"):
        raise InvalidInputException(
            "Give either recipeArn or performAutoML=true, not both.")
    if not automl and not params.get("recipeArn"):
        raise InvalidInputException("recipeArn is required unless performAutoML is true.")
    recipe = recipe_of(params.get("recipeArn") or catalogue.recipe_by_name(
        AUTOML_DEFAULT_RECIPE).arn)
    if recipe.is_use_case:
        raise InvalidInputException(
            f"{recipe.arn} is a domain use case: use it with CreateRecommender, not "
            "CreateSolution.")
    if recipe.is_legacy and not ctx.settings.legacy_recipes:
        raise InvalidInputException(
            f"{recipe.name} is a legacy recipe AWS no longer offers; use "
            "aws-user-personalization (or start Tailor with TAILOR_LEGACY_RECIPES=1).")
    _check_config(recipe, params)
    if automl:
        automl_candidates(params.get("solutionConfig"))
    with ctx.store.transaction():
        group = common.require(ctx, dataset_groups.KIND, params["datasetGroupArn"])
        common.require_active(group, dataset_groups.KIND, "before solutions are created in it")
        common.check_name_free(ctx, KIND, name)
        live = [s for s in ctx.store.find(KIND.name, parent=group.arn)
                if s.status not in DELETING]
        quotas.check("solutions_per_group", len(live),
                     f"Cannot create solution {name}: dataset group has {len(live)} solutions")
        attrs = common.drop_none({
            "datasetGroupArn": group.arn,
            "recipeArn": None if automl else recipe.arn,
            "performHPO": bool(params.get("performHPO")),
            "performAutoML": automl,
            "performAutoTraining": params.get("performAutoTraining", True),
            "performIncrementalUpdate": params.get("performIncrementalUpdate"),
            "eventType": params.get("eventType"),
            "solutionConfig": params.get("solutionConfig"),
            # AutoML picks the recipe when the first version trains; until then the default.
            "autoMLResult": {"bestRecipeArn": recipe.arn} if automl else None,
        })
        res = common.create(ctx, KIND, arns.arn(KIND.name, name), name, group.arn, attrs,
                            params.get("tags"))
    return {"solutionArn": res.arn}


def version_wire(res: Resource, summary: bool = False) -> dict[str, Any]:
    """A solution version's Describe (or summary) shape; its name is echoed only if given."""
    out = common.to_wire(VERSION_KIND, res, summary)
    if res.attrs.get("name") is None:
        out.pop("name")
    return out


def _latest_version(ctx: Context, solution: Resource) -> dict[str, Any] | None:
    versions = ctx.store.find(VERSION_KIND.name, parent=solution.arn)
    return version_wire(versions[0], summary=True) if versions else None


def describe_solution(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    res = common.require(ctx, KIND, params["solutionArn"])
    out = common.to_wire(KIND, res)
    latest = _latest_version(ctx, res)
    if latest:
        out["latestSolutionVersion"] = latest
    return {"solution": out}


def list_solutions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return common.list_resources(ctx, params, "ListSolutions", KIND, "solutions",
                                 parent=params.get("datasetGroupArn"))


def update_solution(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["solutionArn"])
        common.require_active(res, KIND, "before it can be updated")
        pending = common.pending_update(res, "latestSolutionUpdate")
        if pending:
            raise ResourceInUseException(
                f"Solution {res.arn} already has an update {pending}; wait for it.")
        common.start_update(ctx, res, "latestSolutionUpdate", {
            "solutionUpdateConfig": params.get("solutionUpdateConfig"),
            "performAutoTraining": params.get("performAutoTraining"),
            "performIncrementalUpdate": params.get("performIncrementalUpdate")})
    return {"solutionArn": res.arn}


def delete_solution(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["solutionArn"])
        versions = ctx.store.find("solution-version", parent=res.arn)
        training = [v for v in versions if v.status in PENDING]
        if training:
            raise ResourceInUseException(
                f"Solution version {training[0].arn} is {training[0].status}; stop it with "
                "StopSolutionVersionCreation or wait before deleting the solution.")
        busy = common.busy_batch_job(ctx, "solutionVersionArn", [v.arn for v in versions])
        if busy:
            raise ResourceInUseException(
                f"{busy.arn} ({busy.status}) uses version {busy.attrs['solutionVersionArn']} "
                f"of solution {res.arn}; wait for the job to finish before deleting the "
                "solution.")
        campaigns = ctx.store.find("campaign", parent=res.arn)
        if campaigns:
            raise ResourceInUseException(
                f"Campaign {campaigns[0].arn} uses a version of solution {res.arn}; delete "
                "the campaign first.")
        return common.start_delete(ctx, KIND, res)
