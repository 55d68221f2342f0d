"""Training: interactions -> a model artifact + GetSolutionMetrics values.

Follows Personalize: choose interactions (eventType, eventValueThreshold), check
the data minimums, hold out 10 % of users to compute the metrics, then train the
deployed model on all the data.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import numpy as np

from chalicelib import algorithms as alg
from chalicelib.jobs import evaluate, exploration, hpo, user_metadata
from chalicelib.jobs.lifecycle import JobFailed, begin
from chalicelib.jobs.train_actions import train_next_best_action
from chalicelib.jobs.train_coldstart import train_hrnn_coldstart
from chalicelib.jobs.train_related import semantic_similarity, similar_items
from chalicelib.jobs.train_segments import (
    train_item_affinity,
    train_item_attribute_affinity,
)
from chalicelib.jobs.training import (
    Stopped,
    Trained,
    Trainer,
    TrainingJob,
    require_events,
)
from chalicelib.resources import catalogue
from chalicelib.runtime.artifacts import Artifact
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)
# How long a version waits in the queue before it looks at its pending solution again.
SOLUTION_WAIT_SECONDS = 1.0
# EASE's item x item solve is exact and fast for small catalogues; beyond, ALS.
EASE_MAX_ITEMS = 5000

Factory = Callable[[dict[str, str], int], alg.Recommender]


# ALS for the personalized recipes: hidden_dimension (an RNN's state size in Personalize,
# default 149) scaled so the default gives 64 factors, and 10 sweeps. Against 149 factors and
# 15 sweeps, NDCG@10 is 2-4 % lower and a fit takes ~8x less time (docs/benchmarks.md,
# "Scale: 10M interactions").
ALS_FACTORS_PER_HIDDEN = 64 / 149
ALS_ITERATIONS = 10


# EASE's ridge penalty at the recipe's default hidden_dimension. hidden_dimension is the
# model's capacity: for EASE, the penalty scales with (default / hidden_dimension)², so
# HPO's range 32-256 spans l2 ~85-5,400 around Steck's 200-1,000 (l2 = 250 at 149).
EASE_L2 = 250.0


def _personalized(params: dict[str, str], n_items: int, default_hidden: int = 149,
                  ) -> alg.Recommender:
    hidden = int(params.get("hidden_dimension", default_hidden))
    if n_items <= EASE_MAX_ITEMS:
        return alg.EASE(l2=EASE_L2 * (default_hidden / hidden) ** 2)
    return alg.ImplicitALS(factors=max(1, round(hidden * ALS_FACTORS_PER_HIDDEN)),
                           iterations=ALS_ITERATIONS)


def _hrnn(params: dict[str, str], n_items: int) -> alg.Recommender:
    """The legacy HRNN recipes: the same models, around their default hidden_dimension 43."""
    return _personalized(params, n_items, default_hidden=43)


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
# Above this many events the deployed model is the one fitted without the held-out users
# ("train a second time on 100 % or simply reuse", spec D.3): serving folds every user in
# from their history, so the held-out users miss only from the item statistics, where
# their 10 % hardly moves them, and a big fit is not paid twice.
REFIT_MAX_EVENTS = 1_000_000

# Trending-Now's trend discovery frequencies, in seconds.
TREND_WINDOWS = {"30 minutes": 1800.0, "1 hour": 3600.0, "3 hours": 10800.0, "1 day": 86400.0}

# Recipe name -> model factory: the one table of which algorithm stands in for which recipe.
RECIPE_MODELS: dict[str, Factory] = {
    "aws-popularity-count": lambda params, n: alg.PopularityCount(),
    "aws-user-personalization": _personalized,
    "aws-user-personalization-v2": _personalized,
    "aws-personalized-ranking": _personalized,
    "aws-personalized-ranking-v2": _personalized,
    "aws-hrnn": _hrnn,
    "aws-hrnn-metadata": _hrnn,
    "aws-sims": _sims,
    "aws-trending-now": lambda params, n: alg.TrendingNow(
        TREND_WINDOWS[params["trend_discovery_frequency"]]),
}


def _sequences(users: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
    """Each user's newest ``SEQUENCE_LENGTH`` items, oldest first, in CSR layout."""
    indptr, order = evaluate.user_events(users)
    kept = np.minimum(np.diff(indptr), SEQUENCE_LENGTH)
    seq_indptr = np.concatenate([[0], np.cumsum(kept)]).astype(np.int64)
    # the last kept[u] of user u's events: positions indptr[u + 1] - kept[u] ... in order
    at = np.arange(seq_indptr[-1]) + np.repeat(indptr[1:] - kept - seq_indptr[:-1], kept)
    return {"seq_indptr": seq_indptr,
            "seq_items": items[order[at]].astype(np.int32 if len(items) < 2**31 else np.int64)}


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
        base = evaluate.build(lambda X: factory(candidate, shape[1]).fit(X), users[mask],
                              items[mask], shape, None, weights[mask])
        if recipe.name not in SEQUENCE_RECIPES:
            return evaluate.metrics_of(base, inner, items, shape[1], recipe.serving_type,
                                       avoid_repeats)
        # As trained: the candidate's model with its best recency and next-item weights.
        return evaluate.best_sequence(
            base, inner, items, evaluate.next_item_counts(users[mask], items[mask], shape[1]),
            avoid_repeats, candidate.get("recency_mask", "true") == "true")[1]

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


def _collaborative(job: TrainingJob) -> Trained:
    """The recipes trained from interactions alone and measured on held-out users
    (spec D.3): user-personalization, personalized-ranking, HRNN, popularity, SIMS;
    with performHPO / performAutoML when asked."""
    ev = require_events(job.ctx, job.version)
    recipe, params, factory = job.recipe, job.params, RECIPE_MODELS[job.recipe.name]
    users, items, timestamps, weights, shape = (ev.users, ev.items, ev.timestamps,
                                                 ev.weights, ev.shape)
    job.check_stop()
    holdout = alg.holdout_split(users, items, timestamps)
    mask = holdout.train_mask
    tuned = None
    automl = bool(job.version.attrs.get("performAutoML"))
    if automl:
        recipe = _automl(job.version, (users[mask], items[mask], timestamps[mask], weights[mask]),
                         shape, ev.avoid_repeats)
        factory = RECIPE_MODELS[recipe.name]
        params = catalogue.validate_hyperparameters(recipe.algorithm or recipe.name, {})
    elif job.version.attrs.get("performHPO"):
        score = _validation(factory, recipe, users[mask], items[mask], timestamps[mask],
                            weights[mask], shape, ev.avoid_repeats)
        params, tuned = hpo.search(recipe.algorithm or recipe.name, params,
                                   job.config.get("hpoConfig") or {}, score)
    job.check_stop()
    fit = lambda X: factory(params, shape[1]).fit(X)  # noqa: E731
    sequence: tuple[float, float] | None = None
    if recipe.name in SEQUENCE_RECIPES:
        sequence = (float("inf"), 0.0)
        if len(users) <= TUNE_MAX_EVENTS:
            sequence = evaluate.tune_sequence(fit, users[mask], items[mask], timestamps[mask],
                                              shape, ev.avoid_repeats,
                                              params.get("recency_mask", "true") == "true",
                                              weights[mask])
    started = time.perf_counter()
    held_out = evaluate.with_sequence(
        fit(evaluate.without_rows(ev.matrix, holdout.test_users)), sequence,
        lambda: evaluate.next_item_counts(users[mask], items[mask], shape[1]))
    fitted = time.perf_counter()
    metrics = evaluate.metrics_of(held_out, holdout, items, shape[1], recipe.serving_type,
                                  ev.avoid_repeats)
    measured = time.perf_counter()
    job.check_stop()
    if len(users) <= REFIT_MAX_EVENTS:
        model = evaluate.build(fit, users, items, shape, sequence, weights)
    elif isinstance(held_out, alg.SequenceAware) and held_out.gamma > 0:
        model = alg.SequenceAware(held_out.base, held_out.half_life, held_out.gamma,
                                  evaluate.next_item_counts(users, items, shape[1]))
    else:
        model = held_out
    log.info("%s: sequence weights %s; %d events, fit %.2fs, metrics %.2fs, %s", job.version.arn,
             sequence, len(users), fitted - started, measured - fitted,
             "refit on all events" if len(users) <= REFIT_MAX_EVENTS else "held-out fit kept")
    return Trained(model, metrics, ev, extras=_sequences(users, items), tuned=tuned,
                   recipe=recipe if automl else None)


def _trending_now(job: TrainingJob) -> Trained:
    ev = require_events(job.ctx, job.version)
    window = TREND_WINDOWS[job.params["trend_discovery_frequency"]]
    model, metrics, extras = _trending(window, ev.items, ev.timestamps, ev.shape[1])
    return Trained(model, metrics, ev, extras=extras)


def _update(job: TrainingJob) -> Trained:
    """trainingMode UPDATE (spec A.8): keep the model of the solution's newest ACTIVE FULL
    version and refresh everything around it from the data as it is now — new users and
    their events (histories), the catalogue (new items, shown through exploration until the
    next FULL training gives them model scores) and the item counts and ages exploration
    reads. The metrics are those of the FULL version."""
    full = next((v for v in job.ctx.store.find(job.version.kind, parent=job.version.parent,
                                               statuses=frozenset({Status.ACTIVE}))
                 if v.attrs["trainingMode"] == "FULL"), None)
    if full is None:
        raise JobFailed("trainingMode UPDATE needs an ACTIVE version of this solution trained "
                        "with FULL; it has none (any more).")
    base = Artifact.from_bytes(job.ctx.blobs.get(full.attrs["_artifact"]))
    ev = require_events(job.ctx, job.version)
    known = base.item_ids[:base.model.n_items]
    catalogue = np.concatenate([known, np.setdiff1d(ev.item_ids, known)])
    order = np.argsort(catalogue)
    to_catalogue = order[np.searchsorted(catalogue, ev.item_ids, sorter=order)]
    ev = dataclasses.replace(ev, items=to_catalogue[ev.items], item_ids=catalogue)
    log.info("%s updates %s: %d new items, %d users", job.version.arn, full.arn,
             len(catalogue) - len(known), ev.shape[0])
    return Trained(base.model, dict(full.attrs.get("_metrics", {})), ev,
                   extras=_sequences(ev.users, ev.items))


# Recipe name -> trainer, for the recipes not trained by _collaborative.
TRAINERS: dict[str, Trainer] = {
    "aws-trending-now": _trending_now,
    "aws-next-best-action": train_next_best_action,
    "aws-hrnn-coldstart": train_hrnn_coldstart,
    "aws-item-affinity": train_item_affinity,
    "aws-item-attribute-affinity": train_item_attribute_affinity,
    "aws-similar-items": similar_items,
    "aws-semantic-similarity": semantic_similarity,
}


def trainer_of(name: str) -> Trainer | None:
    return TRAINERS.get(name) or (_collaborative if name in RECIPE_MODELS else None)


def run(ctx: Context, version: Resource) -> None:
    if version.status == Status.CREATE_STOPPED or not _solution_ready(ctx, version):
        return  # stopped while it waited in the queue, or waits for its solution
    begin(ctx, version)
    started = time.time()
    try:
        _train(ctx, version, started)
    except Stopped:
        ctx.store.set_status(version.arn, Status.CREATE_STOPPED)
        log.info("training of %s stopped on request", version.arn)


def _solution_ready(ctx: Context, version: Resource) -> bool:
    """CreateSolutionVersion may follow CreateSolution at once: the version stays CREATE
    PENDING until its solution is ACTIVE (False: queued again), and fails if the solution
    does."""
    solution = ctx.store.get(version.attrs["solutionArn"])
    if solution is not None and solution.status in (Status.CREATE_PENDING,
                                                    Status.CREATE_IN_PROGRESS):
        ctx.store.enqueue(version.arn, "create", SOLUTION_WAIT_SECONDS)
        return False
    if solution is None or solution.status != Status.ACTIVE:
        state = solution.status if solution is not None else "gone"
        why = f" ({solution.failure_reason})" if solution and solution.failure_reason else ""
        raise JobFailed(f"Solution {version.attrs['solutionArn']} is {state}{why}, not "
                        "ACTIVE, so the version was not trained.")
    return True


def artifact_of(job: TrainingJob, trained: Trained) -> Artifact:
    """The artifact of a trainer's result: the model, its catalogue and users, and what
    serving needs around it (streamed-event watermark, Users-metadata tables for users
    without history, the Items dataset's new items and ages for exploration)."""
    ev = trained.events
    extras = dict(trained.extras)
    if ev is not None:
        extras.update(dataset_arn=np.array(ev.dataset_arn), put_watermark=np.array(ev.watermark))
    item_ids = trained.item_ids if trained.item_ids is not None else ev.item_ids
    user_ids = trained.user_ids if trained.user_ids is not None else ev.user_ids
    user_items = trained.user_items if trained.user_items is not None else ev.matrix
    if job.recipe.name in user_metadata.USER_METADATA_RECIPES and ev is not None:
        extras.update(user_metadata.attribute_tables(job.ctx, job.version, ev))
    if job.recipe.explores and ev is not None:
        item_ids, user_items, cold = exploration.extend_catalogue(job, ev)
        extras.update(cold)
    return Artifact(job.recipe.name, trained.model, item_ids, user_ids, user_items,
                    ev.avoid_repeats if ev is not None else False, extras=extras)


def _train(ctx: Context, version: Resource, started: float) -> None:
    recipe = catalogue.recipe_from_arn(version.attrs["recipeArn"])
    assert recipe is not None
    trainer = trainer_of(recipe.name)
    if trainer is None:
        raise JobFailed(f"Tailor cannot train {recipe.name} yet; see README.md for the recipes "
                        "it implements (e.g. aws-user-personalization, aws-sims).")
    config = version.attrs.get("solutionConfig") or {}
    params = catalogue.validate_hyperparameters(recipe.algorithm or recipe.name, {
        **config.get("algorithmHyperParameters", {}),
        **config.get("featureTransformationParameters", {})})
    if version.attrs.get("trainingMode") == "UPDATE":
        trainer = _update
    job = TrainingJob(ctx, version, recipe, params)
    trained = trainer(job)
    recipe = trained.recipe or recipe
    artifact = artifact_of(dataclasses.replace(job, recipe=recipe), trained)
    user_ids, item_ids = artifact.user_ids, artifact.item_ids
    key = f"models/{version.arn.rsplit(':', 1)[1]}.npz"
    ctx.blobs.put(key, artifact.to_bytes())
    with ctx.store.transaction():
        res = ctx.store.one(version.arn)
        if res.status == Status.CREATE_STOPPING:
            raise Stopped
        if trained.tuned is not None:
            res.attrs["tunedHPOParams"] = {"algorithmHyperParameters": trained.tuned}
        if version.attrs.get("performAutoML"):
            res.attrs["recipeArn"] = recipe.arn
            solution = ctx.store.one(res.attrs["solutionArn"])
            solution.attrs["autoMLResult"] = {"bestRecipeArn": recipe.arn}
            ctx.store.save(solution)
        res.attrs.update(_artifact=key, _metrics=trained.metrics,
                         trainingHours=round((time.time() - started) / 3600, 6))
        res.status = Status.ACTIVE
        ctx.store.save(res)
    log.info("trained %s (%s, %s) on %d users x %d items in %.2fs: %s", version.arn,
             recipe.name, trained.model.kind, len(user_ids), len(item_ids),
             time.time() - started, trained.metrics)
