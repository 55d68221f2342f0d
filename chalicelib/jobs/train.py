"""Training: interactions -> a model artifact + GetSolutionMetrics values.

Follows Personalize: choose interactions (eventType, eventValueThreshold), check
the data minimums, hold out 10 % of users to compute the metrics, then train the
deployed model on all the data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from chalicelib import algorithms as alg
from chalicelib.jobs import evaluate, hpo
from chalicelib.jobs.data import dataset_columns, interaction_matrix
from chalicelib.jobs.lifecycle import JobFailed, begin
from chalicelib.resources import catalogue
from chalicelib.runtime.artifacts import Artifact
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)
MIN_INTERACTIONS = 1000
MIN_USERS = 25
# EASE's item x item solve is exact and fast for small catalogues; beyond, ALS.
EASE_MAX_ITEMS = 5000
# Below this share of repeated (user, item) events, serving treats the data as
# "users do not re-consume" and ranks already-seen items last.
REPEAT_RATE_THRESHOLD = 0.1

Factory = Callable[[dict[str, str], int], alg.Recommender]


def _personalized(params: dict[str, str], n_items: int) -> alg.Recommender:
    if n_items <= EASE_MAX_ITEMS:
        return alg.EASE()
    return alg.ImplicitALS(factors=int(params.get("hidden_dimension", "64")))


def _sims(params: dict[str, str], n_items: int) -> alg.Recommender:
    return alg.Sims(popularity_discount_factor=float(params["popularity_discount_factor"]),
                    min_cointeraction_count=int(params["min_cointeraction_count"]))


# Recipes served by a sequence model: recency-weighted histories and a next-item term,
# their weights chosen per training on a validation split (jobs/evaluate.tune_sequence).
SEQUENCE_RECIPES = frozenset({
    "aws-user-personalization", "aws-user-personalization-v2", "aws-personalized-ranking",
    "aws-personalized-ranking-v2", "aws-hrnn", "aws-hrnn-metadata"})
# Above this many events the weights are not tuned (three fits instead of two).
TUNE_MAX_EVENTS = 2_000_000
# Each user's newest events kept in the artifact, in order, to build serving histories.
SEQUENCE_LENGTH = 200

# Trending-Now's trend discovery frequencies, in seconds.
TREND_WINDOWS = {"30 minutes": 1800.0, "1 hour": 3600.0, "3 hours": 10800.0, "1 day": 86400.0}

# Recipe name -> model factory: the one table of which algorithm stands in for which recipe.
RECIPE_MODELS: dict[str, Factory] = {
    "aws-popularity-count": lambda params, n: alg.PopularityCount(),
    "aws-user-personalization": _personalized,
    "aws-user-personalization-v2": _personalized,
    "aws-personalized-ranking": _personalized,
    "aws-personalized-ranking-v2": _personalized,
    "aws-hrnn": _personalized,
    "aws-hrnn-metadata": _personalized,
    "aws-sims": _sims,
    "aws-trending-now": lambda params, n: alg.TrendingNow(
        TREND_WINDOWS[params["trend_discovery_frequency"]]),
}


class _Stopped(Exception):
    pass


def _check_stop(ctx: Context, arn: str) -> None:
    res = ctx.store.get(arn)
    if res is None or res.status == Status.CREATE_STOPPING:
        raise _Stopped


def select_events(cols: dict[str, np.ndarray], event_type: str | None,
                  threshold: str | None, events_config: dict[str, Any] | None = None,
                  ) -> np.ndarray:
    """Weight of each interaction in training, 0 for those left out (spec B.7):
    ``eventType`` keeps one type, ``eventValueThreshold`` drops lower EVENT_VALUEs, and
    ``eventsConfig.eventParametersList`` keeps the listed types, each with its own
    threshold and weight (0..1)."""
    n = len(cols["USER_ID"])
    weights = np.ones(n, dtype=np.float32)
    listed = (events_config or {}).get("eventParametersList") or []
    needs_type = event_type or listed
    if needs_type and "EVENT_TYPE" not in cols:
        raise JobFailed("The solution selects interactions by event type, but the "
                        "Interactions dataset has no EVENT_TYPE column.")
    needs_value = threshold is not None or any("eventValueThreshold" in p for p in listed)
    if needs_value and "EVENT_VALUE" not in cols:
        raise JobFailed("An event value threshold is set, but the Interactions dataset has "
                        "no EVENT_VALUE column.")
    types = np.char.lower(cols["EVENT_TYPE"]) if needs_type else None
    if event_type:
        weights[types != event_type.lower()] = 0.0
    with np.errstate(invalid="ignore"):
        if threshold is not None:
            weights[~(cols["EVENT_VALUE"] >= float(threshold))] = 0.0
        if listed:
            chosen = np.zeros(n, dtype=np.float32)
            for p in listed:
                rows = types == p["eventType"].lower()
                if "eventValueThreshold" in p:
                    rows &= cols["EVENT_VALUE"] >= p["eventValueThreshold"]
                chosen[rows] = p.get("weight", 1.0)
            weights *= chosen
    return weights


def check_minimums(users: np.ndarray, what: str) -> None:
    if len(users) < MIN_INTERACTIONS:
        raise JobFailed(f"Dataset has fewer than {MIN_INTERACTIONS} interactions{what} "
                        f"({len(users)}); import more data.")
    _, counts = np.unique(users, return_counts=True)
    active = int((counts >= 2).sum())
    if active < MIN_USERS:
        raise JobFailed(f"Dataset has fewer than {MIN_USERS} users with at least 2 "
                        f"interactions each ({active}){what}; import more data.")


def _sequences(users: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
    """Each user's newest ``SEQUENCE_LENGTH`` items, oldest first, in CSR layout."""
    order = evaluate.by_user(users)
    u, i = users[order], items[order]
    counts = np.bincount(u, minlength=int(users.max()) + 1 if len(users) else 0)
    ends = np.cumsum(counts)
    keep = np.arange(len(u)) >= (ends - np.minimum(counts, SEQUENCE_LENGTH))[u]
    kept = np.minimum(counts, SEQUENCE_LENGTH)
    return {"seq_indptr": np.concatenate([[0], np.cumsum(kept)]).astype(np.int64),
            "seq_items": i[keep].astype(np.int64)}


def _trending(window: float, items: np.ndarray, timestamps: np.ndarray, n_items: int,
              ) -> tuple[alg.Recommender, dict[str, float], dict[str, np.ndarray]]:
    """Trending-Now: the trend as of the newest event, its trend_prediction_accuracy on the
    last window (predicted from the windows before it), and the recent events serving
    recomputes the trend from as new events stream in."""
    end = float(timestamps.max())
    before = timestamps <= end - window
    predicted = alg.TrendingNow(window).fit_events(items[before], timestamps[before], n_items,
                                                   end - window).ranking()
    current, previous = alg.window_counts(items, timestamps, n_items, end, window)
    metrics = {"trend_prediction_accuracy": round(
        alg.trend_prediction_accuracy(predicted, current - previous), 4)}
    model = alg.TrendingNow(window).fit_events(items, timestamps, n_items, end)
    recent = timestamps > end - 2 * window
    return model, metrics, {"trend_items": items[recent].astype(np.int64),
                            "trend_ts": timestamps[recent].astype(np.int64)}


def _validation(factory: Factory, recipe: catalogue.Recipe, users: np.ndarray,
                items: np.ndarray, timestamps: np.ndarray, weights: np.ndarray,
                shape: tuple[int, int], avoid_repeats: bool,
                ) -> Callable[[dict[str, str]], dict[str, float]]:
    """Metrics of a recipe's model with given hyperparameters on a validation split of
    these (training) users' events — what HPO and AutoML compare candidates on."""
    inner = alg.holdout_split(users, items, timestamps, seed=7)
    mask = inner.train_mask

    def score(candidate: dict[str, str]) -> dict[str, float]:
        model = evaluate.build(lambda X: factory(candidate, shape[1]).fit(X), users[mask],
                               items[mask], shape, None, weights[mask])
        return evaluate.metrics_of(model, inner, items, shape[1], recipe.serving_type,
                                   avoid_repeats)

    return score


def _automl(version: Resource,
            events: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
            shape: tuple[int, int], avoid_repeats: bool) -> catalogue.Recipe:
    """performAutoML: the candidate recipe with the best validation metric."""
    config = version.attrs.get("solutionConfig") or {}
    automl = config.get("autoMLConfig") or {}
    metric = automl.get("metricName") if automl.get("metricName") in alg.METRIC_NAMES \
        else hpo.DEFAULT_METRIC
    names = [n.rsplit("/", 1)[1] for n in automl.get("recipeList") or []] or \
        ["aws-user-personalization", "aws-popularity-count"]
    scored = []
    for name in names:
        recipe = catalogue.recipe_by_name(name)
        if recipe is None or name not in RECIPE_MODELS:
            continue
        params = catalogue.validate_hyperparameters(recipe.algorithm or recipe.name, {})
        value = _validation(RECIPE_MODELS[name], recipe, *events, shape, avoid_repeats)(
            params)[metric]
        scored.append((-value, len(scored), recipe))
    if not scored:
        raise JobFailed(f"None of the AutoML candidate recipes {names} can be trained by "
                        "Tailor yet.")
    best = min(scored, key=lambda s: s[:2])[2]
    log.info("AutoML chose %s among %s by %s", best.name, names, metric)
    return best


def run(ctx: Context, version: Resource) -> None:
    begin(ctx, version)
    started = time.time()
    try:
        _train(ctx, version, started)
    except _Stopped:
        ctx.store.set_status(version.arn, Status.CREATE_STOPPED)
        log.info("training of %s stopped on request", version.arn)


def _train(ctx: Context, version: Resource, started: float) -> None:
    recipe = catalogue.recipe_from_arn(version.attrs["recipeArn"])
    assert recipe is not None
    factory = RECIPE_MODELS.get(recipe.name)
    if factory is None:
        raise JobFailed(f"Tailor cannot train {recipe.name} yet; see README.md for the recipes "
                        "it implements (e.g. aws-user-personalization, aws-sims).")
    config = version.attrs.get("solutionConfig") or {}
    params = catalogue.validate_hyperparameters(recipe.algorithm or recipe.name, {
        **config.get("algorithmHyperParameters", {}),
        **config.get("featureTransformationParameters", {})})
    group = ctx.store.one(version.attrs["datasetGroupArn"])
    dataset_arn = arns.arn("dataset", group.name, "INTERACTIONS")
    # Streamed events up to here are training data; later ones extend users' histories
    # at serving time (runtime.recommend.live_items).
    watermark = ctx.store.db.execute("SELECT coalesce(max(id), 0) FROM put_rows WHERE "
                                     "dataset_arn = ?", [dataset_arn]).fetchone()[0]
    cols = dataset_columns(ctx, dataset_arn)
    if cols is None:
        raise JobFailed(f"Dataset group {group.arn} has no Interactions data; import some with "
                        "CreateDatasetImportJob first.")
    event_weights = select_events(cols, version.attrs.get("eventType"),
                                  config.get("eventValueThreshold"), config.get("eventsConfig"))
    keep = event_weights > 0
    what = " after filtering by event type and value" if not keep.all() else ""
    order = np.flatnonzero(keep)[np.argsort(cols["TIMESTAMP"][keep], kind="stable")]
    weights = event_weights[order]
    user_ids, users = np.unique(cols["USER_ID"][order], return_inverse=True)
    item_ids, items = np.unique(cols["ITEM_ID"][order], return_inverse=True)
    timestamps = cols["TIMESTAMP"][order]
    check_minimums(users, what)
    shape = (len(user_ids), len(item_ids))
    full = interaction_matrix(users, items, shape, weights)
    avoid_repeats = 1.0 - full.nnz / len(users) < REPEAT_RATE_THRESHOLD

    _check_stop(ctx, version.arn)
    tuned: dict[str, str] | None = None
    extras: dict[str, np.ndarray] = {}
    sequence: tuple[float, float] | None = None
    if recipe.name == "aws-trending-now":
        window = TREND_WINDOWS[params["trend_discovery_frequency"]]
        model, metrics, extras = _trending(window, items, timestamps, shape[1])
    else:
        holdout = alg.holdout_split(users, items, timestamps)
        mask = holdout.train_mask
        if version.attrs.get("performAutoML"):
            recipe = _automl(version, (users[mask], items[mask], timestamps[mask], weights[mask]),
                             shape, avoid_repeats)
            factory = RECIPE_MODELS[recipe.name]
            params = catalogue.validate_hyperparameters(recipe.algorithm or recipe.name, {})
        elif version.attrs.get("performHPO"):
            score = _validation(factory, recipe, users[mask], items[mask], timestamps[mask],
                                weights[mask], shape, avoid_repeats)
            params, tuned = hpo.search(recipe.algorithm or recipe.name, params,
                                       config.get("hpoConfig") or {}, score)
        _check_stop(ctx, version.arn)
        fit = lambda X: factory(params, shape[1]).fit(X)  # noqa: E731
        if recipe.name in SEQUENCE_RECIPES:
            sequence = (float("inf"), 0.0)
            if len(users) <= TUNE_MAX_EVENTS:
                sequence = evaluate.tune_sequence(fit, users[mask], items[mask], timestamps[mask],
                                                  shape, avoid_repeats,
                                                  params.get("recency_mask", "true") == "true",
                                                  weights[mask])
        held_out = evaluate.build(fit, users[mask], items[mask], shape, sequence, weights[mask])
        metrics = evaluate.metrics_of(held_out, holdout, items, shape[1], recipe.serving_type,
                                      avoid_repeats)
        _check_stop(ctx, version.arn)
        model = evaluate.build(fit, users, items, shape, sequence, weights)
    artifact = Artifact(recipe.name, model, item_ids, user_ids, full, avoid_repeats,
                        extras={"dataset_arn": np.array(dataset_arn),
                                "put_watermark": np.array(watermark),
                                **_sequences(users, items), **extras})
    key = f"models/{version.arn.rsplit(':', 1)[1]}.npz"
    ctx.blobs.put(key, artifact.to_bytes())
    with ctx.store.transaction():
        res = ctx.store.one(version.arn)
        if res.status == Status.CREATE_STOPPING:
            raise _Stopped
        if tuned is not None:
            res.attrs["tunedHPOParams"] = {"algorithmHyperParameters": tuned}
        if version.attrs.get("performAutoML"):
            res.attrs["recipeArn"] = recipe.arn
            solution = ctx.store.one(res.attrs["solutionArn"])
            solution.attrs["autoMLResult"] = {"bestRecipeArn": recipe.arn}
            ctx.store.save(solution)
        res.attrs.update(_artifact=key, _metrics=metrics,
                         trainingHours=round((time.time() - started) / 3600, 6))
        res.status = Status.ACTIVE
        ctx.store.save(res)
    log.info("trained %s (%s, %s, sequence %s) on %d events, %d users, %d items in %.2fs: %s",
             version.arn, recipe.name, model.kind, sequence, len(users), shape[0], shape[1],
             time.time() - started, metrics)
