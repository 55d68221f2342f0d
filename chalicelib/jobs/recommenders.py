"""Jobs of domain recommenders (spec A.10, C): training and the lifecycle around it.

A recommender's model is trained by the trainer of its use case's custom recipe
(``resources.use_cases``): the recommender is handed to it as the solution version it
expects (dataset group, ``eventType``, ``trainingDataConfig``), so the data minimums,
the hold-out metrics (``modelMetrics``) and the model are those of that recipe.

* create: CREATE IN_PROGRESS -> ACTIVE, or CREATE FAILED with the reason (e.g. too few
  events of the use case's type).
* update: switches to ``latestRecommenderUpdate``; a new ``trainingDataConfig`` retrains
  first (the old model serves meanwhile; an INACTIVE one retrains at its next start).
* stop: STOP IN_PROGRESS -> INACTIVE. start: START IN_PROGRESS -> ACTIVE, retraining
  first when the data or the training columns changed since the model was trained, or
  the model is a week old.
* retrain: the weekly retraining of an ACTIVE recommender (``resources.recommenders.
  retrain_due`` queues it); it keeps serving the old model until the new one is ready.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import secrets
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from chalicelib.jobs import train
from chalicelib.jobs.data import dataset_parts
from chalicelib.jobs.lifecycle import JobFailed, begin
from chalicelib.jobs.training import (
    MIN_INTERACTIONS,
    Stopped,
    TrainingJob,
    load_events,
)
from chalicelib.resources import catalogue
from chalicelib.resources.use_cases import UseCase, use_case
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)
UPDATE_KEY = "latestRecommenderUpdate"
TRAINING_STARTED = "_trainingStarted"  # as resources.recommenders names it
RETRAIN_SECONDS = 7 * 86400.0
_DATASETS = ("INTERACTIONS", "ITEMS", "USERS")
# A model trained by an update or a retraining replaces the current one in these statuses
# (also when the recommender was stopped or started meanwhile).
SERVING = frozenset({Status.ACTIVE, Status.STOP_PENDING, Status.STOP_IN_PROGRESS,
                     Status.INACTIVE, Status.START_PENDING, Status.START_IN_PROGRESS})


def _case(res: Resource) -> UseCase:
    recipe = catalogue.recipe_from_arn(res.attrs["recipeArn"])
    found = use_case(recipe.name) if recipe is not None else None
    if found is None:
        raise JobFailed(f"{res.attrs['recipeArn']} is not a use case Tailor can train.")
    return found


def _as_version(res: Resource, case: UseCase, config: dict[str, Any]) -> Resource:
    """The recommender as the solution version its model recipe's trainer reads."""
    model = catalogue.recipe_by_name(case.model)
    assert model is not None
    solution_config = {"trainingDataConfig": config["trainingDataConfig"]} \
        if config.get("trainingDataConfig") else {}
    return dataclasses.replace(res, attrs={
        "datasetGroupArn": res.attrs["datasetGroupArn"], "recipeArn": model.arn,
        "eventType": case.event_type, "solutionConfig": solution_config})


def _with_event_type(version: Resource, event_type: str) -> Resource:
    return dataclasses.replace(version, attrs={**version.attrs, "eventType": event_type,
                                               "solutionConfig": {}})


def _check_required_events(ctx: Context, version: Resource, case: UseCase) -> None:
    if case.required_event is None:
        return
    events = load_events(ctx, _with_event_type(version, case.required_event), check=False)
    count = 0 if events is None else len(events.users)
    if count < MIN_INTERACTIONS:
        raise JobFailed(
            f"Dataset has fewer than {MIN_INTERACTIONS} interactions after filtering by event "
            f"type: {case.required_event} ({count}); {case.recipe} needs at least "
            f"{MIN_INTERACTIONS} {case.required_event} events.")


def _exclusions(ctx: Context, version: Resource, case: UseCase, item_ids: np.ndarray,
                ) -> dict[str, np.ndarray]:
    """Each user's items with the use case's excluded event type (e.g. Purchase), which
    serving removes from the user's recommendations: users and CSR rows of item indices."""
    if case.excluded_event is None:
        return {}
    events = load_events(ctx, _with_event_type(version, case.excluded_event), check=False)
    if events is None:
        users, rows = np.zeros(0, dtype=str), sp.csr_matrix((0, len(item_ids)))
    else:
        index = {item: i for i, item in enumerate(item_ids.tolist())}
        position = np.array([index.get(i, -1) for i in events.item_ids.tolist()],
                            dtype=np.int64)[events.items]
        keep = position >= 0
        users = events.user_ids
        rows = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32),
                              (events.users[keep], position[keep])),
                             shape=(len(users), len(item_ids)))
        rows.sum_duplicates()
    return {"excluded_users": users.astype(str), "excluded_indptr": rows.indptr.astype(np.int64),
            "excluded_items": rows.indices.astype(np.int64)}


def fingerprint(ctx: Context, group_arn: str) -> str:
    """Changes whenever data is imported, streamed or deleted in the group's datasets."""
    parts = []
    for kind in _DATASETS:
        arn = arns.dataset(group_arn, kind)
        if ctx.store.get(arn) is not None:
            found = dataset_parts(ctx, arn)
            parts.append([kind, list(found.segment_keys), found.put_upto])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _training_columns(config: dict[str, Any]) -> str:
    return json.dumps(config.get("trainingDataConfig") or {}, sort_keys=True)


def train_model(ctx: Context, res: Resource, config: dict[str, Any]) -> dict[str, Any]:
    """Train the recommender's model with ``config``; the attributes that describe it
    (the artifact is written, nothing else is saved)."""
    started = time.time()
    case = _case(res)
    recipe = catalogue.recipe_by_name(case.model)
    trainer = train.trainer_of(case.model)
    assert recipe is not None and trainer is not None, case
    version = _as_version(res, case, config)
    data = fingerprint(ctx, res.attrs["datasetGroupArn"])
    _check_required_events(ctx, version, case)
    params = catalogue.validate_hyperparameters(recipe.algorithm or recipe.name,
                                                dict(case.hyperparameters))
    job = TrainingJob(ctx, version, recipe, params)
    trained = trainer(job)
    artifact = train.artifact_of(job, trained)
    artifact.extras.update(_exclusions(ctx, version, case, artifact.item_ids))
    key = f"models/recommenders/{res.name}/{secrets.token_hex(4)}.npz"
    ctx.blobs.put(key, artifact.to_bytes())
    log.info("trained %s (%s as %s) on %d users x %d items in %.2fs: %s", res.arn, case.recipe,
             recipe.name, len(artifact.user_ids), len(artifact.item_ids),
             time.time() - started, trained.metrics)
    return {"_artifact": key, "modelMetrics": trained.metrics, "_trainedAt": started,
            "_fingerprint": data, "_trainingColumns": _training_columns(config)}


def _install(ctx: Context, arn: str, model: dict[str, Any], allowed: frozenset[Status],
             status: Status | None = None, update: bool = False) -> None:
    """Switch the recommender to a newly trained model (and ``status``); if it moved on
    meanwhile (deleted, stopped) the new artifact is dropped instead."""
    old = None
    with ctx.store.transaction():
        res = ctx.store.get(arn)
        if res is None or res.status not in allowed:
            old = model["_artifact"]
        else:
            old = res.attrs.get("_artifact")
            res.attrs.update(model)
            if update:
                _switch_config(res)
            if status is not None:
                res.status, res.failure_reason = status, None
            ctx.store.save(res)
    if old:
        ctx.blobs.delete(old)


def _switch_config(res: Resource) -> None:
    pending = res.attrs[UPDATE_KEY]
    res.attrs["recommenderConfig"] = pending["recommenderConfig"]
    pending.update(status=Status.ACTIVE.value, lastUpdatedDateTime=time.time())


def create(ctx: Context, res: Resource) -> None:
    begin(ctx, res)
    try:
        model = train_model(ctx, res, res.attrs["recommenderConfig"])
    except Stopped:  # deleted while training
        return
    _install(ctx, res.arn, model, frozenset({Status.CREATE_IN_PROGRESS}), Status.ACTIVE)


def update(ctx: Context, res: Resource) -> None:
    new = res.attrs[UPDATE_KEY]["recommenderConfig"]
    retrain = res.status == Status.ACTIVE and \
        _training_columns(new) != res.attrs.get("_trainingColumns")
    if retrain:
        with ctx.store.transaction():
            current = ctx.store.one(res.arn)
            current.attrs[UPDATE_KEY]["status"] = Status.CREATE_IN_PROGRESS.value
            current.attrs[TRAINING_STARTED] = time.time()
            ctx.store.save(current)
        try:
            model = train_model(ctx, res, new)
        except Stopped:  # deleted while training
            return
        _install(ctx, res.arn, model, SERVING, update=True)
        return
    with ctx.store.transaction():
        current = ctx.store.get(res.arn)
        if current is not None:
            _switch_config(current)
            ctx.store.save(current)


def stop(ctx: Context, res: Resource) -> None:
    if res.status == Status.STOP_PENDING:
        ctx.store.set_status(res.arn, Status.STOP_IN_PROGRESS)
    ctx.store.set_status(res.arn, Status.INACTIVE)


def _stale(ctx: Context, res: Resource) -> str | None:
    """Why the recommender's model should be retrained before it serves again, if so."""
    if res.attrs.get("_fingerprint") != fingerprint(ctx, res.attrs["datasetGroupArn"]):
        return "its data changed"
    if res.attrs.get("_trainingColumns") != _training_columns(res.attrs["recommenderConfig"]):
        return "its trainingDataConfig changed"
    if res.attrs.get("_trainedAt", res.created) + RETRAIN_SECONDS <= time.time():
        return "its model is a week old"
    return None


def start(ctx: Context, res: Resource) -> None:
    if res.status == Status.START_PENDING:
        ctx.store.set_status(res.arn, Status.START_IN_PROGRESS)
    reason = _stale(ctx, res)
    if reason is not None:
        log.info("%s starts: retraining because %s", res.arn, reason)
        try:
            with ctx.store.transaction():
                current = ctx.store.one(res.arn)
                current.attrs[TRAINING_STARTED] = time.time()
                ctx.store.save(current)
            model = train_model(ctx, res, res.attrs["recommenderConfig"])
        except Exception:  # the model it had still serves; the weekly retrain tries again
            log.exception("%s: retraining at start failed; it serves its previous model",
                          res.arn)
        else:
            _install(ctx, res.arn, model, frozenset({Status.START_IN_PROGRESS}))
    ctx.store.set_status(res.arn, Status.ACTIVE)


def retrain(ctx: Context, res: Resource) -> None:
    if res.status != Status.ACTIVE:  # stopped or deleted since it was queued
        return
    try:
        model = train_model(ctx, res, res.attrs["recommenderConfig"])
    except Stopped:
        return
    _install(ctx, res.arn, model, SERVING)
