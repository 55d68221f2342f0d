"""GetRecommendations and GetPersonalizedRanking."""

from __future__ import annotations

import uuid
import zlib
from typing import Any

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms import (
    SequenceAware,
    TrendingNow,
    cold_candidates,
    explore,
    sequence_histories,
    softmax,
    top_n,
)
from chalicelib.errors import InvalidInputException, ResourceNotFoundException
from chalicelib.runtime.artifacts import Artifact
from chalicelib.runtime.cold_users import cold_user_scores
from chalicelib.runtime.models import campaign_model
from chalicelib.state.context import Context
from chalicelib.state.store import Resource

DEFAULT_RESULTS = 25
MAX_RESULTS = 500
MAX_INPUT_LIST = 500
# How many of a user's newest streamed events extend the history at serving time.
LIVE_EVENTS = 100
# Exploration (spec B.3/B.4): the service's defaults, and the most interactions an item
# may have to count as cold.
DEFAULT_EXPLORATION_WEIGHT = 0.3
DEFAULT_EXPLORATION_AGE_DAYS = 30.0
COLD_MAX_INTERACTIONS = 5
DAY = 86400.0
# Recipe types GetRecommendations does not serve -> the call that does.
WRONG_CALL = {"PERSONALIZED_RANKING": "GetPersonalizedRanking",
              "PERSONALIZED_ACTIONS": "GetActionRecommendations"}


def _recommendation_id() -> str:
    return f"RID-{uuid.uuid4()}"


def _score(value: float) -> float:
    return float(f"{value:.6g}")


def live_items(ctx: Context, artifact: Artifact, user_id: str) -> np.ndarray:
    """Indices of known items the user interacted with through PutEvents after the
    model's training data were read (newest first, at most ``LIVE_EVENTS``)."""
    dataset = artifact.extras.get("dataset_arn")
    if dataset is None:
        return np.zeros(0, dtype=np.int64)
    rows = ctx.store.db.execute(
        "SELECT record_id FROM put_rows WHERE dataset_arn = ? AND user_id = ? AND id > ? "
        "ORDER BY id DESC LIMIT ?",
        [str(dataset), user_id, int(artifact.extras["put_watermark"]), LIVE_EVENTS]).fetchall()
    index = artifact.item_index
    return np.array([index[r[0]] for r in rows if r[0] in index], dtype=np.int64)


def raw_scores(ctx: Context, artifact: Artifact, user_id: str | None,
               ) -> tuple[np.ndarray, np.ndarray]:
    """Model scores over the catalogue for one user, and the items the user has seen.

    The user's history is the training history plus the events sent since training
    (PutEvents), so a new event changes the next recommendations without retraining;
    a sequence model weighs the newest events most and follows on from the last one.
    A user with no history at all gets log-popularity (so softmax gives the popularity
    distribution, smoothed by one), refined by the user's Users-dataset attributes.
    """
    model = artifact.model
    # The model scores the items it was fitted on; an exploring recipe's catalogue also
    # lists newer items, which get no model score (-inf) and are shown only by exploration.
    n_items = model.n_items
    user = artifact.user_index.get(user_id) if user_id is not None else None
    live = live_items(ctx, artifact, user_id)[::-1] if user_id is not None else \
        np.zeros(0, dtype=np.int64)
    live = live[live < n_items]
    scores = None
    if isinstance(model, SequenceAware):
        indptr, seq = artifact.extras["seq_indptr"], artifact.extras["seq_items"]
        past = seq[indptr[user]:indptr[user + 1]] if user is not None else seq[:0]
        past = past[past < n_items]  # an UPDATE version's histories hold new items too
        events = np.concatenate([past, live])
        history, last = sequence_histories(np.array([0, len(events)]), events, n_items,
                                           model.half_life)
        if history.nnz:
            scores = model.score(history, last)[0]
    else:
        history = artifact.user_items[user] if user is not None else \
            sp.csr_matrix((1, n_items), dtype=np.float32)
        if history.shape[1] != n_items:
            history = history[:, :n_items]
        if len(live):
            history = history + sp.csr_matrix(
                (np.ones(len(live), dtype=np.float32), (np.zeros(len(live), dtype=np.int64),
                                                        live)), shape=(1, n_items))
        if history.nnz or model.scores_empty_history:
            scores = model.score(history)[0]
    if scores is None:
        return cold_user_scores(ctx, artifact, user_id), np.zeros(0, dtype=np.int64)
    padded = np.full(len(artifact.item_ids), -np.inf)
    padded[:n_items] = scores
    return padded, history.indices


def rank_key(artifact: Artifact, probs: np.ndarray, seen: np.ndarray,
             idx: np.ndarray | None = None) -> np.ndarray:
    """Sort key: the probability, minus 2 for already-seen items when the model learned
    that users do not re-consume (they rank last but keep their score)."""
    key = probs.copy()
    if artifact.avoid_repeats and len(seen):
        penalty = np.zeros(len(artifact.item_ids))
        penalty[seen] = 2.0
        key -= penalty if idx is None else penalty[idx]
    return key


def _num_results(params: dict[str, Any]) -> int:
    n = params.get("numResults") or DEFAULT_RESULTS
    if n > MAX_RESULTS:
        raise InvalidInputException(f"numResults must be at most {MAX_RESULTS}, got {n}.")
    return n


def get_recommendations(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    campaign_arn, recommender_arn = params.get("campaignArn"), params.get("recommenderArn")
    if bool(campaign_arn) == bool(recommender_arn):
        raise InvalidInputException("Give exactly one of campaignArn and recommenderArn.")
    if recommender_arn:
        raise ResourceNotFoundException(f"Recommender {recommender_arn} does not exist.")
    n = _num_results(params)
    campaign, artifact, recipe = campaign_model(ctx, campaign_arn)
    kind = recipe.serving_type
    if kind in WRONG_CALL:
        raise InvalidInputException(
            f"Campaign {campaign_arn} serves {recipe.name}: call {WRONG_CALL[kind]}.")
    if kind == "RELATED_ITEMS":
        items = _related(artifact, params.get("itemId"), n, recipe.name)
    elif isinstance(artifact.model, TrendingNow):
        items = _trending(ctx, artifact, n)
    elif kind == "POPULAR_ITEMS":
        items = [{"itemId": artifact.item_ids[i]} for i in artifact.popularity_order[:n]]
    else:
        if not params.get("userId"):
            raise InvalidInputException(
                f"userId is required for campaigns of {recipe.name} ({kind}).")
        raw, seen = raw_scores(ctx, artifact, params["userId"])
        probs = softmax(raw)
        idx, _ = top_n(rank_key(artifact, probs, seen), n)
        idx = idx[idx >= 0]
        if recipe.explores:
            idx = _explore(campaign, artifact, params["userId"], probs, seen, idx)
        items = [{"itemId": artifact.item_ids[i], "score": _score(probs[i])} for i in idx]
    return {"itemList": items, "recommendationId": _recommendation_id()}


def _explore(campaign: Resource, artifact: Artifact, user_id: str, probs: np.ndarray,
             seen: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mix cold items into the list as the campaign's itemExplorationConfig asks (spec
    B.4; defaults: weight 0.3, items up to 30 days old). The draw is seeded by the
    campaign, the user and the length of the user's history, so a repeated request gives
    the same list and a new event reshuffles it."""
    counts = artifact.extras.get("item_counts")
    config = campaign.attrs["campaignConfig"].get("itemExplorationConfig") or {}
    weight = float(config.get("explorationWeight", DEFAULT_EXPLORATION_WEIGHT))
    if counts is None or weight <= 0:
        return idx
    cut_off = float(config.get("explorationItemAgeCutOff", DEFAULT_EXPLORATION_AGE_DAYS))
    cold = cold_candidates(counts, artifact.extras["item_ages"], cut_off * DAY,
                           COLD_MAX_INTERACTIONS)
    cold[seen] = False
    rng = np.random.default_rng(zlib.crc32(f"{campaign.arn}|{user_id}|{len(seen)}".encode()))
    return explore(idx, probs, np.flatnonzero(cold), weight, rng)


def _trending(ctx: Context, artifact: Artifact, n: int) -> list[dict[str, Any]]:
    """Trending-Now, recomputed with the events streamed since training (the trend window
    moves with the newest event); scores are growth rates scaled to [0, 1]."""
    model = artifact.model
    assert isinstance(model, TrendingNow)
    rows = ctx.store.db.execute(
        "SELECT record_id, ts FROM put_rows WHERE dataset_arn = ? AND id > ? AND ts > ?",
        [str(artifact.extras["dataset_arn"]), int(artifact.extras["put_watermark"]),
         model.end - 2 * model.window]).fetchall()
    index = artifact.item_index
    live = [(index[item], ts) for item, ts in rows if item in index]
    if live:
        items = np.concatenate([artifact.extras["trend_items"], [i for i, _ in live]])
        stamps = np.concatenate([artifact.extras["trend_ts"], [t for _, t in live]])
        model = TrendingNow(model.window).fit_events(items, stamps, len(artifact.item_ids))
    rates = model.rates()
    return [{"itemId": artifact.item_ids[i], "score": _score(rates[i])}
            for i in model.ranking()[:n]]


def _related(artifact: Artifact, item_id: str | None, n: int, recipe: str,
             ) -> list[dict[str, Any]]:
    if not item_id:
        raise InvalidInputException(f"itemId is required for campaigns of {recipe} "
                                    "(RELATED_ITEMS).")
    item = artifact.item_index.get(item_id)
    model = artifact.model
    # One more than asked, then the query item is dropped once, here: whether or not the
    # model already left it out, exactly n items come back when the catalogue has them.
    if item is None or item >= model.n_items:  # unknown item: popular items, as AWS does
        idx = artifact.popularity_order[:n + 1]
    else:
        idx = model.related(np.array([item]), n + 1)[0][0]
    query = -1 if item is None else item
    return [{"itemId": artifact.item_ids[i]} for i in idx[(idx >= 0) & (idx != query)][:n]]


def get_personalized_ranking(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    inputs = list(dict.fromkeys(params["inputList"]))  # duplicates: keep the first
    if not inputs:
        raise InvalidInputException("inputList must name at least one item.")
    if len(inputs) > MAX_INPUT_LIST:
        raise InvalidInputException(
            f"inputList may hold at most {MAX_INPUT_LIST} items, got {len(inputs)}.")
    campaign_arn = params["campaignArn"]
    _, artifact, recipe = campaign_model(ctx, campaign_arn)
    if recipe.serving_type != "PERSONALIZED_RANKING":
        raise InvalidInputException(
            f"Campaign {campaign_arn} serves {recipe.name} ({recipe.serving_type}); "
            "GetPersonalizedRanking needs a personalized-ranking campaign.")
    index = artifact.item_index
    known = [i for i in inputs if i in index]
    unknown = [i for i in inputs if i not in index]
    ranked: list[dict[str, Any]] = []
    if known:
        idx = np.array([index[i] for i in known])
        raw, seen = raw_scores(ctx, artifact, params["userId"])
        probs = softmax(raw[idx])
        order = np.argsort(-rank_key(artifact, probs, seen, idx), kind="stable")
        ranked = [{"itemId": known[j], "score": _score(probs[j])} for j in order]
    return {"personalizedRanking": ranked + [{"itemId": i} for i in unknown],
            "recommendationId": _recommendation_id()}
