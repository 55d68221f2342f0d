"""CreateSolutionVersion, DescribeSolutionVersion, ListSolutionVersions,
StopSolutionVersionCreation, GetSolutionMetrics."""

from __future__ import annotations

import secrets
from typing import Any

from chalicelib.errors import InvalidInputException, ResourceInUseException
from chalicelib.resources import common, quotas, solutions
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import DELETING, PENDING, Status
from chalicelib.state.store import Resource

KIND = solutions.VERSION_KIND
# Recipes whose versions may be trained with trainingMode=UPDATE.
UPDATABLE = frozenset({"aws-user-personalization", "aws-hrnn-coldstart"})
# CreateSolutionVersion may follow CreateSolution at once: the version is CREATE PENDING
# until its solution is ACTIVE (the training job waits for it; jobs/train.py).
WAITS_FOR = (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS)
_SNAPSHOT = ("recipeArn", "datasetGroupArn", "eventType", "performHPO", "performAutoML",
             "performIncrementalUpdate", "solutionConfig")


def create_solution_version(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    mode = params.get("trainingMode", "FULL")
    if mode == "AUTOTRAIN":
        raise InvalidInputException(
            "trainingMode AUTOTRAIN is set by automatic training; use FULL or UPDATE.")
    with ctx.store.transaction():
        solution = common.require(ctx, solutions.KIND, params["solutionArn"])
        if solution.status not in (Status.ACTIVE, *WAITS_FOR):
            raise ResourceInUseException(
                f"The solution {solution.arn} is {solution.status}; a version can be created "
                "while it is CREATE PENDING, CREATE IN_PROGRESS or ACTIVE.")
        res = start_training(ctx, solution, mode, "MANUAL", params.get("name"),
                             params.get("tags"))
    return {"solutionVersionArn": res.arn}


def start_training(ctx: Context, solution: Resource, mode: str, training_type: str,
                   name: str | None = None, tags: list[dict[str, str]] | None = None,
                   ) -> Resource:
    """A new version of an ACTIVE solution, queued for training (inside a transaction);
    also what automatic training calls."""
    recipe = solutions.recipe_of(solution.attrs.get("recipeArn")
                                 or solution.attrs["autoMLResult"]["bestRecipeArn"])
    versions = ctx.store.find(KIND.name, parent=solution.arn)
    if mode == "UPDATE":
        if recipe.name not in UPDATABLE:
            raise InvalidInputException(
                f"trainingMode UPDATE is only for {', '.join(sorted(UPDATABLE))} "
                f"solutions; {solution.arn} uses {recipe.name}. Use FULL.")
        if not any(v.status == Status.ACTIVE and v.attrs["trainingMode"] == "FULL"
                   for v in versions):
            raise InvalidInputException(
                "trainingMode UPDATE needs an ACTIVE version trained with FULL first.")
    deleting = [d for d in ctx.store.find("dataset", parent=solution.attrs["datasetGroupArn"])
                if d.status in DELETING]
    if deleting:
        raise ResourceInUseException(
            f"Dataset {deleting[0].arn} is {deleting[0].status}; a solution version cannot "
            "be trained while a dataset of its group is being deleted.")
    training = [v for v in versions if v.status in PENDING]
    if training:
        raise ResourceInUseException(
            f"Solution version {training[0].arn} of this solution is still "
            f"{training[0].status}; wait for it or stop it first.")
    pending = ctx.store.find(KIND.name, statuses=PENDING)
    quotas.check("pending_solution_versions", len(pending),
                 "More than 20 solution versions with PENDING or IN_PROGRESS status")
    version_id = secrets.token_hex(4)
    attrs = common.drop_none({
        "name": name, "solutionArn": solution.arn,
        **{k: solution.attrs.get(k) for k in _SNAPSHOT},
        "recipeArn": recipe.arn, "trainingMode": mode, "trainingType": training_type,
    })
    return common.create(ctx, KIND, f"{solution.arn}/{version_id}", name or version_id,
                         solution.arn, attrs, tags)


def require_usable(ctx: Context, version: Resource, purpose: str) -> None:
    """The version is ACTIVE and its solution is not being deleted."""
    common.require_active(version, KIND, purpose)
    solution = ctx.store.get(version.attrs["solutionArn"])
    if solution is not None and solution.status in DELETING:
        raise ResourceInUseException(
            f"Solution {solution.arn} is {solution.status}; its versions cannot be used "
            "any more.")


def describe_solution_version(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    res = common.require(ctx, KIND, params["solutionVersionArn"])
    return {"solutionVersion": solutions.version_wire(res)}


def list_solution_versions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    parent = params.get("solutionArn")
    if parent:
        common.require(ctx, solutions.KIND, parent)
    return common.list_resources(ctx, params, "ListSolutionVersions", KIND, "solutionVersions",
                                 parent=parent,
                                 summary=lambda r: solutions.version_wire(r, summary=True))


def stop_solution_version_creation(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["solutionVersionArn"])
        if res.status == Status.CREATE_PENDING:
            res.status = Status.CREATE_STOPPED
        elif res.status == Status.CREATE_IN_PROGRESS:
            res.status = Status.CREATE_STOPPING  # the training job sees it and stops
        else:
            raise ResourceInUseException(
                f"Solution version {res.arn} is {res.status}; only a version in CREATE "
                "PENDING or CREATE IN_PROGRESS can be stopped.")
        ctx.store.save(res)
    return {}


def get_solution_metrics(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    res = common.require(ctx, KIND, params["solutionVersionArn"])
    common.require_active(res, KIND, "before its metrics exist")
    return {"solutionVersionArn": res.arn, "metrics": res.attrs.get("_metrics", {})}
