"""CreateRecommender, DescribeRecommender, ListRecommenders, UpdateRecommender,
DeleteRecommender, StartRecommender, StopRecommender (spec A.10, C).

A recommender is a domain use case (``use_cases``) trained on its dataset group's data
by the ``recommender`` jobs and served by GetRecommendations(recommenderArn). It keeps
itself fresh: ``retrain_due`` queues a full retraining of every ACTIVE recommender whose
last training started 7 days ago (the service's weekly retrain), and StartRecommender
retrains when the data or the training columns changed while it was stopped.
"""

from __future__ import annotations

import math
import time
from typing import Any

from chalicelib.errors import (
    InvalidInputException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
)
from chalicelib.resources import catalogue, common, dataset_groups, quotas, solutions
from chalicelib.resources.schema_rules import dataset_type, metadata_fields, parse_schema
from chalicelib.resources.use_cases import UseCase, use_case
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import DELETING, Status
from chalicelib.state.store import Resource

KIND = common.Kind("recommender", "recommenderArn",
                   summary_keys=("datasetGroupArn", "recipeArn", "recommenderConfig"))
UPDATE_KEY = "latestRecommenderUpdate"
DAY = 86400.0
RETRAIN_DAYS = 7
# Attribute of the time the recommender's latest training started (create, retrain, start).
TRAINING_STARTED = "_trainingStarted"
EXPLORATION_KEYS = {"explorationWeight": (0.0, 1.0), "explorationItemAgeCutOff": (1.0, math.inf)}
_MOVING = (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS, Status.START_PENDING,
           Status.START_IN_PROGRESS, Status.STOP_PENDING, Status.STOP_IN_PROGRESS)


def _dataset(ctx: Context, group: Resource, kind: str) -> Resource | None:
    return ctx.store.get(arns.dataset(group.arn, dataset_type(kind)[1]))


def _use_case_of(recipe_arn: str, group: Resource) -> UseCase:
    recipe = solutions.recipe_of(recipe_arn)
    domain = group.attrs.get("domain")
    if domain is None:
        raise InvalidInputException(
            f"Dataset group {group.arn} is not a Domain dataset group; recommenders can only "
            "be created in groups created with domain ECOMMERCE or VIDEO_ON_DEMAND (use "
            "solutions and campaigns in a custom group).")
    found = use_case(recipe.name)
    if recipe.domain != domain or found is None:
        names = ", ".join(r.name for r in catalogue.list_recipes(domain))
        raise InvalidInputException(
            f"{recipe.arn} is not a {domain} use case; recommenders of dataset group "
            f"{group.arn} use one of: {names}.")
    return found


def _check_exploration(case: UseCase, config: dict[str, Any]) -> None:
    exploration = config.get("itemExplorationConfig")
    if exploration is None:
        return
    if not case.explores:
        raise InvalidInputException(
            f"recommenderConfig.itemExplorationConfig only applies to "
            f"aws-ecomm-recommended-for-you and aws-vod-top-picks, not {case.recipe}.")
    for key, value in exploration.items():
        if key not in EXPLORATION_KEYS:
            raise InvalidInputException(
                f"itemExplorationConfig has no key {key!r}; use "
                f"{' and '.join(EXPLORATION_KEYS)}.")
        low, high = EXPLORATION_KEYS[key]
        try:
            ok = low <= float(value) <= high
        except ValueError:
            ok = False
        if not ok:
            raise InvalidInputException(
                f"itemExplorationConfig.{key} must be a number in [{low:g}, {high:g}], got "
                f"{value!r}.")


def _check_columns(ctx: Context, group: Resource, config: dict[str, Any]) -> None:
    """trainingDataConfig names metadata columns of the group's datasets."""
    data_config = config.get("trainingDataConfig") or {}
    for member in ("excludedDatasetColumns", "includedDatasetColumns"):
        for kind, columns in (data_config.get(member) or {}).items():
            if kind.upper() not in ("INTERACTIONS", "ITEMS", "USERS"):
                raise InvalidInputException(
                    f"trainingDataConfig.{member} key {kind!r} must be INTERACTIONS, ITEMS "
                    "or USERS.")
            dataset = _dataset(ctx, group, kind)
            if dataset is None:
                raise InvalidInputException(
                    f"trainingDataConfig.{member} names {kind} columns, but dataset group "
                    f"{group.arn} has no {kind} dataset.")
            schema = ctx.store.one(dataset.attrs["schemaArn"])
            usable = metadata_fields(parse_schema(schema.attrs["schema"],
                                                  schema.attrs.get("domain")))
            bad = [c for c in columns if c not in usable]
            if bad:
                raise InvalidInputException(
                    f"trainingDataConfig.{member}.{kind} lists {', '.join(bad)}: only metadata "
                    f"columns of the {kind} schema can be listed ({', '.join(usable) or 'none'}"
                    "); required and reserved columns are always used.")


def _check_config(ctx: Context, group: Resource, case: UseCase,
                  config: dict[str, Any]) -> None:
    _check_exploration(case, config)
    _check_columns(ctx, group, config)


def _check_data(ctx: Context, group: Resource, case: UseCase) -> None:
    """The datasets the use case needs exist (their data is checked at training)."""
    needed = ["Interactions"] + (["Items"] if case.needs_items else [])
    for kind in needed:
        dataset = _dataset(ctx, group, kind)
        if dataset is None or dataset.status in DELETING:
            raise InvalidInputException(
                f"{case.recipe} needs an {kind} dataset, and dataset group {group.arn} has "
                f"none; create it and import data first.")


def create_recommender(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["name"]
    config = {"minRecommendationRequestsPerSecond": 1, **(params.get("recommenderConfig") or {})}
    with ctx.store.transaction():
        group = common.require(ctx, dataset_groups.KIND, params["datasetGroupArn"])
        case = _use_case_of(params["recipeArn"], group)
        common.require_active(group, dataset_groups.KIND, "before recommenders are created in it")
        _check_data(ctx, group, case)
        _check_config(ctx, group, case, config)
        common.check_name_free(ctx, KIND, name)
        siblings = [r for r in ctx.store.find(KIND.name, parent=group.arn)
                    if r.status not in DELETING]
        same = [r for r in siblings if r.attrs["recipeArn"] == params["recipeArn"]]
        if same:
            raise ResourceAlreadyExistsException(
                f"Dataset group {group.arn} already has recommender {same[0].arn} for "
                f"{case.recipe}; a group has one recommender per use case.")
        quotas.check("recommenders_per_group", len(siblings),
                     f"Cannot create recommender {name}: dataset group has {len(siblings)} "
                     "recommenders")
        everywhere = [r for r in ctx.store.find(KIND.name) if r.status not in DELETING]
        quotas.check("recommenders", len(everywhere),
                     f"Cannot create recommender {name}: {len(everywhere)} recommenders exist")
        attrs = {"datasetGroupArn": group.arn, "recipeArn": params["recipeArn"],
                 "recommenderConfig": config, TRAINING_STARTED: time.time()}
        res = common.create(ctx, KIND, arns.arn(KIND.name, name), name, group.arn, attrs,
                            params.get("tags"))
    return {"recommenderArn": res.arn}


def describe_recommender(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    res = common.require(ctx, KIND, params["recommenderArn"])
    return {"recommender": common.to_wire(KIND, res)}


def list_recommenders(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return common.list_resources(ctx, params, "ListRecommenders", KIND, "recommenders",
                                 parent=params.get("datasetGroupArn"))


def update_recommender(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["recommenderArn"])
        pending = common.pending_update(res, UPDATE_KEY)
        if res.status not in (Status.ACTIVE, Status.INACTIVE) or pending:
            raise ResourceInUseException(
                f"Recommender {res.arn} is {res.status} (update in progress: "
                f"{pending or 'none'}); it can be updated when ACTIVE or INACTIVE with no "
                "update in progress.")
        group = ctx.store.one(res.attrs["datasetGroupArn"])
        case = _use_case_of(res.attrs["recipeArn"], group)
        config = {**res.attrs["recommenderConfig"], **params["recommenderConfig"]}
        _check_config(ctx, group, case, config)
        common.start_update(ctx, res, UPDATE_KEY, {"recommenderConfig": config})
    return {"recommenderArn": res.arn}


def delete_recommender(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["recommenderArn"])
        if res.status in _MOVING:
            raise ResourceInUseException(
                f"Recommender {res.arn} is {res.status}; wait until it is ACTIVE, INACTIVE "
                "or CREATE FAILED before deleting it.")
        return common.start_delete(ctx, KIND, res)


def _move(ctx: Context, params: dict[str, Any], source: Status, target: Status,
          action: str) -> dict[str, Any]:
    with ctx.store.transaction():
        res = common.require(ctx, KIND, params["recommenderArn"])
        if res.status != source:
            raise ResourceInUseException(
                f"Recommender {res.arn} is {res.status}; only a recommender that is "
                f"{source} can be {action}ed.")
        res.status = target
        ctx.store.save(res)
        ctx.store.enqueue(res.arn, action)
    return {"recommenderArn": res.arn}


def start_recommender(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _move(ctx, params, Status.INACTIVE, Status.START_PENDING, "start")


def stop_recommender(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _move(ctx, params, Status.ACTIVE, Status.STOP_PENDING, "stop")


def retrain_due(ctx: Context, now: float | None = None) -> list[str]:
    """Queue a full retraining of every ACTIVE recommender whose latest training started
    ``RETRAIN_DAYS`` ago (stopped ones are not retrained); their ARNs. It serves its
    current model until the new one is trained."""
    now = time.time() if now is None else now
    queued = []
    for res in ctx.store.find(KIND.name, statuses=frozenset({Status.ACTIVE})):
        if res.attrs.get(TRAINING_STARTED, res.created) + RETRAIN_DAYS * DAY > now:
            continue
        with ctx.store.transaction():
            current = ctx.store.get(res.arn)
            if current is None or current.status != Status.ACTIVE or \
                    common.pending_update(current, UPDATE_KEY):
                continue
            current.attrs[TRAINING_STARTED] = now
            ctx.store.save(current)
            ctx.store.enqueue(current.arn, "retrain")
        queued.append(res.arn)
    return queued
