"""GetRecommendations and GetPersonalizedRanking."""

from __future__ import annotations

import zlib
from functools import cache
from typing import Any

import numpy as np

from chalicelib.algorithms import (
    TrendingNow,
    cold_candidates,
    explore,
    member,
    softmax,
    top_n,
)
from chalicelib.errors import InvalidInputException
from chalicelib.resources.catalogue import Recipe
from chalicelib.runtime import filters, item_metadata, promotions, recommend_ids
from chalicelib.runtime.artifacts import Artifact
from chalicelib.runtime.models import campaign_model, recommender_model
from chalicelib.runtime.promotions import Ranked, Ranker
from chalicelib.runtime.recommenders import use_case_request
from chalicelib.runtime.scoring import UserMemo, mask_digest, remember, score_user
from chalicelib.state.context import Context
from chalicelib.state.store import Resource

DEFAULT_RESULTS = 25
MAX_RESULTS = 500
MAX_INPUT_LIST = 500
# Exploration (spec B.3/B.4): the service's defaults, and the most interactions an item
# may have to count as cold.
DEFAULT_EXPLORATION_WEIGHT = 0.3
DEFAULT_EXPLORATION_AGE_DAYS = 30.0
COLD_MAX_INTERACTIONS = 5
DAY = 86400.0
# Recipe types GetRecommendations does not serve -> the call that does.
WRONG_CALL = {"PERSONALIZED_RANKING": "GetPersonalizedRanking",
              "PERSONALIZED_ACTIONS": "GetActionRecommendations"}
# Recipes whose items carry ``reason`` (spec E.1: User-Personalization-v2 only).
REASON_RECIPES = frozenset({"aws-user-personalization-v2"})


def _recommendation_id(source_arn: str) -> str:
    """An id that names the campaign or recommender serving it (see recommend_ids)."""
    return recommend_ids.new_id(source_arn)


def wire_score(value: float) -> float:
    """A score as the service sends it: six significant digits."""
    return float(f"{value:.6g}")


def raw_scores(ctx: Context, artifact: Artifact, user_id: str | None,
               ) -> tuple[np.ndarray, np.ndarray, UserMemo | None]:
    """Model scores over the catalogue for one user, the items the user has seen
    (training history plus the events sent since training; see ``scoring.score_users``,
    which batch inference jobs call for many users at once), and the memo kept with
    remembered scores (``scoring.score_user``)."""
    return score_user(ctx, artifact, user_id)


def rank_key(artifact: Artifact, probs: np.ndarray, seen: np.ndarray,
             idx: np.ndarray | None = None) -> np.ndarray:
    """Sort key: the probability, minus 2 for already-seen items when the model learned
    that users do not re-consume (they rank last but keep their score)."""
    if not (artifact.avoid_repeats and len(seen)):
        return probs
    if idx is None:
        key = probs.copy()
        key[seen] -= 2.0
        return key
    return probs - 2.0 * _flags(seen, len(artifact.item_ids))[idx]


def _flags(indices: np.ndarray, size: int) -> np.ndarray:
    """bool per catalogue item: True at ``indices`` (cheaper than ``np.isin`` per request)."""
    flags = np.zeros(size, dtype=bool)
    flags[indices] = True
    return flags


def _num_results(params: dict[str, Any]) -> int:
    n = params.get("numResults") or DEFAULT_RESULTS
    if n > MAX_RESULTS:
        raise InvalidInputException(f"numResults must be at most {MAX_RESULTS}, got {n}.")
    return n


def get_recommendations(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    campaign_arn, recommender_arn = params.get("campaignArn"), params.get("recommenderArn")
    if bool(campaign_arn) == bool(recommender_arn):
        raise InvalidInputException("Give exactly one of campaignArn and recommenderArn.")
    n = _num_results(params)
    excluded: frozenset[str] = frozenset()  # a recommender's automatic filtering
    if recommender_arn:
        campaign, artifact, recipe = recommender_model(ctx, recommender_arn)
        excluded = use_case_request(ctx, campaign, artifact, params)
    else:
        campaign, artifact, recipe = campaign_model(ctx, campaign_arn)
    kind = recipe.serving_type
    if kind in WRONG_CALL:
        raise InvalidInputException(
            f"Campaign {campaign_arn} serves {recipe.name}: call {WRONG_CALL[kind]}.")
    group, user_id = group_of(campaign), params.get("userId")
    columns = item_metadata.requested(ctx, params.get("metadataColumns"), config_of(campaign),
                                      group, n, "numResults", campaign.arn)
    rank, memo = _ranker(ctx, campaign, artifact, recipe, params)
    allowed = _allowed(ctx, artifact, params, group, excluded)
    promotion, name = (params.get("promotions") or [None])[0], None
    if promotion:
        ranked, name = promotions.promote(
            ctx, artifact, rank, allowed, n, promotion, _served_recipe(campaign, recipe.name),
            group, user_id, f"{campaign.arn}|{user_id}|{params.get('itemId')}", memo)
    else:
        ranked = rank(allowed, n, True)
    items = _item_list(artifact, ranked, name, recipe.name)
    if columns:
        found = item_metadata.metadata_of(ctx, group, artifact.item_ids[ranked.idx], columns)
        for item, metadata in zip(items, found, strict=True):
            item["metadata"] = metadata
    return {"itemList": items, "recommendationId": _recommendation_id(campaign.arn)}


def group_of(source: Resource) -> str:
    """The dataset group of a campaign or recommender."""
    return source.attrs.get("_datasetGroupArn") or source.attrs["datasetGroupArn"]


def config_of(source: Resource) -> dict[str, Any]:
    """campaignConfig or recommenderConfig."""
    return source.attrs.get("campaignConfig") or source.attrs.get("recommenderConfig") or {}


def _served_recipe(source: Resource, recipe: str) -> str:
    """A recommender's use case (its recipeArn), else the campaign's recipe."""
    return str(source.attrs.get("recipeArn", recipe)).rsplit("/", 1)[-1] \
        if source.kind == "recommender" else recipe


def _allowed(ctx: Context, artifact: Artifact, params: dict[str, Any], group: str,
             excluded: frozenset[str]) -> np.ndarray | None:
    """bool per catalogue item: passes the request's filter and is not removed by the
    recommender's automatic filtering (None: every item)."""
    allowed = None
    if params.get("filterArn"):
        allowed = filters.apply_filter(ctx, artifact, params["filterArn"],
                                       params.get("filterValues"), params.get("userId"),
                                       group_arn=group)
    elif params.get("filterValues"):
        raise InvalidInputException("filterValues is only used with filterArn.")
    if excluded:
        drop = np.isin(artifact.item_ids, np.array(sorted(excluded), dtype=str))
        allowed = ~drop if allowed is None else allowed & ~drop
    return allowed


def _ranker(ctx: Context, campaign: Resource, artifact: Artifact, recipe: Recipe,
            params: dict[str, Any]) -> tuple[Ranker, UserMemo | None]:
    """``rank(allowed, k, explore)``: the best ``k`` allowed items of this request; and
    the memo of the user's remembered scores (None: not remembered)."""
    kind = recipe.serving_type
    if kind == "RELATED_ITEMS":
        return related_ranker(artifact, params.get("itemId"), recipe.name), None
    if isinstance(artifact.model, TrendingNow):
        return ordered(*_trend(ctx, artifact)), None
    if kind == "POPULAR_ITEMS":
        return ordered(artifact.popularity_order, None), None
    user_id = params.get("userId")
    if not user_id:
        raise InvalidInputException(
            f"userId is required for campaigns of {recipe.name} ({kind}).")
    config = config_of(campaign).get("itemExplorationConfig") or {}
    raw, seen, memo = raw_scores(ctx, artifact, user_id)
    return user_ranker(artifact, recipe.explores, config, campaign.arn, user_id, raw, seen,
                       memo), memo


def user_ranker(artifact: Artifact, explores: bool, exploration: dict[str, str], seed: str,
                user_id: str | None, raw: np.ndarray, seen: np.ndarray,
                memo: UserMemo | None = None) -> Ranker:
    """USER_PERSONALIZATION ranking of one user's raw scores: softmax over the catalogue,
    the no-repeat penalty, the filter, top k, then exploration of allowed cold items
    (GetRecommendations and batch inference lines both rank through this).

    With ``memo`` (the dict kept with a user's remembered scores) an answer is remembered
    under everything it depends on besides those scores: the seed, the exploration
    config, ``k``, ``exploring`` and the allowed items (by digest). The draw is seeded, so
    the same request gets the same list either way; a remembered one is not recomputed."""
    @cache
    def probs_and_key() -> tuple[np.ndarray, np.ndarray]:  # only when not remembered
        probs = softmax(raw)
        return probs, rank_key(artifact, probs, seen)

    setting = (seed, explores, tuple(sorted(exploration.items())))

    def rank(allowed: np.ndarray | None, k: int, exploring: bool = True) -> Ranked:
        remembered = None
        if memo is not None:
            remembered = (setting, k, exploring, mask_digest(allowed))
            found = memo.get(remembered)
            if found is not None:
                return found  # type: ignore[no-any-return]
        probs, key = probs_and_key()
        idx, _ = top_n(key, k, exclude=None if allowed is None else ~allowed)
        idx = idx[idx >= 0]
        explored = None
        if exploring and explores:
            exploited = idx
            idx = explore_items(artifact, exploration, seed, user_id, probs, seen, idx,
                                allowed)
            explored = ~member(idx, exploited)
        ranked = Ranked(idx, probs[idx], explored)
        if memo is not None:
            remember(memo, remembered, ranked, ranked.idx, ranked.scores, ranked.explored)
        return ranked
    return rank


def ordered(order: np.ndarray, scores: np.ndarray | None) -> Ranker:
    """The same ranking for everyone (popularity, trend)."""
    def rank(allowed: np.ndarray | None, k: int, exploring: bool = True) -> Ranked:
        idx = (order if allowed is None else order[allowed[order]])[:k]
        return Ranked(idx, None if scores is None else scores[idx])
    return rank


def related_ranker(artifact: Artifact, item_id: str | None, recipe: str) -> Ranker:
    if not item_id:
        raise InvalidInputException(f"itemId is required for campaigns of {recipe} "
                                    "(RELATED_ITEMS).")
    item, model, total = artifact.item_index.get(item_id), artifact.model, len(artifact.item_ids)
    query = -1 if item is None else item

    def neighbours(size: int) -> np.ndarray:
        if item is None or item >= model.n_items:  # unknown item: popular items, as AWS
            return artifact.popularity_order[:size]
        return model.related(np.array([item]), size)[0][0]

    def rank(allowed: np.ndarray | None, k: int, exploring: bool = True) -> Ranked:
        # One more than asked (the query item is dropped); with a filter, more, then all.
        size = k + 1 if allowed is None else min(4 * (k + 1), total)
        while True:
            idx = neighbours(size)
            idx = idx[(idx >= 0) & (idx != query)]
            if allowed is not None:
                idx = idx[allowed[idx]]
            if len(idx) >= k or size >= total:
                return Ranked(idx[:k])
            size = total
    return rank


def _item_list(artifact: Artifact, ranked: Ranked, promotion: str | None,
               recipe: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"itemId": i} for i in artifact.item_ids[ranked.idx].tolist()]
    if ranked.scores is not None:
        for item, score in zip(items, ranked.scores.tolist(), strict=True):
            item["score"] = wire_score(score)
    if ranked.promoted is not None:
        for item, promoted in zip(items, ranked.promoted.tolist(), strict=True):
            if promoted:
                item["promotionName"] = promotion
    if recipe in REASON_RECIPES:
        n = len(items)
        promoted = ranked.promoted if ranked.promoted is not None else np.zeros(n, bool)
        explored = ranked.explored if ranked.explored is not None else np.zeros(n, bool)
        for item, p, e in zip(items, promoted.tolist(), explored.tolist(), strict=True):
            if p or e:
                item["reason"] = ["Promoted item" if p else "Exploration"]
    return items


def explore_items(artifact: Artifact, config: dict[str, str], seed: str, user_id: str | None,
                  probs: np.ndarray, seen: np.ndarray, idx: np.ndarray,
                  allowed: np.ndarray | None = None) -> np.ndarray:
    """Mix cold items into the list ``idx`` as an itemExplorationConfig asks (spec B.4;
    defaults: weight 0.3, items up to 30 days old). The draw is seeded by ``seed`` (the
    campaign; for batch jobs the solution version), the user and the length of the user's
    history, so a repeated request gives the same list and a new event reshuffles it.
    ``allowed`` (bool per item) limits the explored items to those a filter lets through."""
    weight = float(config.get("explorationWeight", DEFAULT_EXPLORATION_WEIGHT))
    if "item_counts" not in artifact.extras or weight <= 0:
        return idx
    cold = _cold_items(artifact, float(config.get("explorationItemAgeCutOff",
                                                  DEFAULT_EXPLORATION_AGE_DAYS)))
    if len(seen) and len(cold):
        cold = cold[~_flags(seen, len(probs))[cold]]
    if allowed is not None:
        cold = cold[allowed[cold]]
    if not len(cold):
        return idx
    rng = np.random.default_rng(zlib.crc32(f"{seed}|{user_id}|{len(seen)}".encode()))
    return explore(idx, probs, cold, weight, rng)


def _cold_items(artifact: Artifact, cut_off_days: float) -> np.ndarray:
    """Indices of the exploration candidates for an age cut-off, computed once per loaded
    artifact (the request path only removes the user's items and the filtered ones)."""
    key = f"cold_items/{cut_off_days!r}"
    found = artifact.derived.get(key)
    if found is None:
        found = artifact.derived[key] = np.flatnonzero(cold_candidates(
            artifact.extras["item_counts"], artifact.extras["item_ages"], cut_off_days * DAY,
            COLD_MAX_INTERACTIONS))
    return found


def _trend(ctx: Context, artifact: Artifact) -> tuple[np.ndarray, np.ndarray]:
    """Trending-Now, recomputed with the events streamed since training (the trend window
    moves with the newest event): the ranking and the growth rates scaled to [0, 1]."""
    model = artifact.model
    assert isinstance(model, TrendingNow)
    rows = ctx.store.db.execute(
        "SELECT record_id, ts FROM put_rows WHERE dataset_arn = ? AND id > ? AND ts > ?",
        [*artifact.live_source, model.end - 2 * model.window]).fetchall()
    index = artifact.item_index
    live = [(index[item], ts) for item, ts in rows if item in index]
    if live:
        items = np.concatenate([artifact.extras["trend_items"], [i for i, _ in live]])
        stamps = np.concatenate([artifact.extras["trend_ts"], [t for _, t in live]])
        model = TrendingNow(model.window).fit_events(items, stamps, len(artifact.item_ids))
    return model.ranking(), model.rates()


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
    campaign, artifact, recipe = campaign_model(ctx, campaign_arn)
    if recipe.serving_type != "PERSONALIZED_RANKING":
        raise InvalidInputException(
            f"Campaign {campaign_arn} serves {recipe.name} ({recipe.serving_type}); "
            "GetPersonalizedRanking needs a personalized-ranking campaign.")
    group = group_of(campaign)
    columns = item_metadata.requested(ctx, params.get("metadataColumns"), config_of(campaign),
                                      group, len(inputs), "inputList", campaign_arn)
    if params.get("filterArn"):
        keep = filters.filter_ids(ctx, np.array(inputs, dtype=str), params["filterArn"],
                                  params.get("filterValues"), params["userId"],
                                  group_arn=group)
        inputs = np.array(inputs, dtype=str)[keep].tolist()
    elif params.get("filterValues"):
        raise InvalidInputException("filterValues is only used with filterArn.")
    index = artifact.item_index
    known = [i for i in inputs if i in index]
    unknown = [i for i in inputs if i not in index]
    ranked: list[dict[str, Any]] = []
    if known:
        idx = np.array([index[i] for i in known])
        raw, seen, _ = raw_scores(ctx, artifact, params["userId"])
        probs = softmax(raw[idx])
        order = np.argsort(-rank_key(artifact, probs, seen, idx), kind="stable")
        ranked = [{"itemId": known[j], "score": wire_score(probs[j])} for j in order]
    ranked += [{"itemId": i} for i in unknown]
    if columns:
        ids = np.array([item["itemId"] for item in ranked], dtype=str)
        for item, metadata in zip(ranked, item_metadata.metadata_of(ctx, group, ids, columns),
                                  strict=True):
            item["metadata"] = metadata
    return {"personalizedRanking": ranked, "recommendationId": _recommendation_id(campaign_arn)}
