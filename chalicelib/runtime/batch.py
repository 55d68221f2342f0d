"""Batch inference answers (spec H.2): the GetRecommendations / GetPersonalizedRanking
answer for many input lines at once, computed by the serving code itself.

Users are scored together (:func:`scoring.score_users`, one model call per chunk); each
line is then ranked with the same helpers the real-time calls use (``user_ranker``,
``rank_key``, ``related_ranker``, ``ordered``), so a batch line equals the
real-time answer for the same request, except that batch jobs use only the interactions
the model was trained on (spec H.1: events sent after training wait for a retraining).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chalicelib.algorithms import softmax
from chalicelib.errors import InvalidInputException, PersonalizeError
from chalicelib.resources.catalogue import Recipe
from chalicelib.runtime import filters
from chalicelib.runtime.artifacts import Artifact
from chalicelib.runtime.recommend import (
    ordered,
    rank_key,
    related_ranker,
    user_ranker,
    wire_score,
)
from chalicelib.runtime.scoring import score_users
from chalicelib.state.context import Context


@dataclass
class Line:
    """One parsed input line (spec H.2)."""

    user_id: str | None = None
    item_id: str | None = None
    item_list: list[str] | None = None
    filter_values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """What every line of a batch inference job shares."""

    artifact: Artifact
    recipe: Recipe
    n: int
    filter_arn: str | None = None
    exploration: dict[str, str] = field(default_factory=dict)
    seed: str = ""  # exploration draws: the solution version ARN


Answer = dict[str, Any] | str  # the line's output, or its error message


# --- the filter call sites -------------------------------------------------------------
# Create* has checked that filterArn names an ACTIVE filter of the version's dataset group
# (ItemID filters for batch inference, UserID filters for segments). Each line's
# filterValues fill the placeholders; a bad value or a missing userId (for a filter that
# reads the user) raises InvalidInputException, which becomes that line's error.

def _check_values(job: Job, line: Line) -> None:
    if job.filter_arn is None and line.filter_values:
        raise InvalidInputException("filterValues is only used with filterArn (the job has "
                                    "no filter).")


def item_filter(ctx: Context, job: Job, line: Line) -> np.ndarray | None:
    """The catalogue items this line may get (bool over ``artifact.item_ids``), or None
    without a filter."""
    _check_values(job, line)
    if job.filter_arn is None:
        return None
    return filters.apply_filter(ctx, job.artifact, job.filter_arn, line.filter_values,
                                line.user_id)


def input_filter(ctx: Context, job: Job, line: Line, ids: list[str]) -> list[str]:
    """The ids of a ranking line's itemList the filter lets through."""
    _check_values(job, line)
    if job.filter_arn is None:
        return ids
    keep = filters.filter_ids(ctx, np.array(ids, dtype=str), job.filter_arn,
                              line.filter_values, line.user_id)
    return np.array(ids, dtype=str)[keep].tolist()


def user_filter(ctx: Context, artifact: Artifact, filter_arn: str | None,
                filter_values: dict[str, str]) -> np.ndarray | None:
    """The users a segment line may list (bool over ``artifact.user_ids``), or None
    without a filter."""
    if filter_arn is None:
        if filter_values:
            raise InvalidInputException("filterValues is only used with filterArn (the job "
                                        "has no filter).")
        return None
    return filters.apply_user_filter(ctx, artifact, filter_arn, filter_values)
# -----------------------------------------------------------------------------------------


def _user_line(ctx: Context, job: Job, line: Line, scores: np.ndarray,
               seen: np.ndarray) -> dict[str, Any]:
    """USER_PERSONALIZATION, as GetRecommendations (``recommend._ranker``): softmax over
    the catalogue, the no-repeat penalty, the filter, top n, exploration of allowed items."""
    rank = user_ranker(job.artifact, job.recipe.explores, job.exploration, job.seed,
                       line.user_id, scores, seen)
    ranked = rank(item_filter(ctx, job, line), job.n)
    return {"recommendedItems": job.artifact.item_ids[ranked.idx].tolist(),
            "scores": [wire_score(p) for p in ranked.scores]}


def _ranking_line(ctx: Context, job: Job, line: Line, scores: np.ndarray,
                  seen: np.ndarray) -> dict[str, Any]:
    """PERSONALIZED_RANKING, as GetPersonalizedRanking: the filter, softmax over the known
    items of the list, stable order by the rank key; unknown items last (null score)."""
    artifact, index = job.artifact, job.artifact.item_index
    inputs = input_filter(ctx, job, line, list(dict.fromkeys(line.item_list or [])))
    known = [i for i in inputs if i in index]
    items: list[str] = []
    values: list[float | None] = []
    if known:
        idx = np.array([index[i] for i in known])
        probs = softmax(scores[idx])
        order = np.argsort(-rank_key(artifact, probs, seen, idx), kind="stable")
        items = [known[j] for j in order]
        values = [wire_score(probs[j]) for j in order]
    unknown = [i for i in inputs if i not in index]
    return {"recommendedItems": items + unknown, "scores": values + [None] * len(unknown)}


def _related_line(ctx: Context, job: Job, line: Line) -> dict[str, Any]:
    """RELATED_ITEMS, as GetRecommendations with itemId (no scores)."""
    rank = related_ranker(job.artifact, line.item_id, job.recipe.name)
    idx = rank(item_filter(ctx, job, line), job.n, False).idx
    return {"recommendedItems": job.artifact.item_ids[idx].tolist()}


def _popular_line(ctx: Context, job: Job, line: Line) -> dict[str, Any]:
    """Popularity-Count, as GetRecommendations: the same list for everyone (no scores)."""
    rank = ordered(job.artifact.popularity_order, None)
    idx = rank(item_filter(ctx, job, line), job.n, False).idx
    return {"recommendedItems": job.artifact.item_ids[idx].tolist()}


def _safely(fn: Callable[..., dict[str, Any]], *args: Any) -> Answer:
    try:
        return fn(*args)
    except PersonalizeError as exc:  # e.g. bad filterValues: this line's error
        return exc.message


def answer(ctx: Context, job: Job, lines: list[Line]) -> list[Answer]:
    """The output of each line (``recommendedItems``, and ``scores`` for the recipes that
    score), or its error message. Users are scored together, in one model call."""
    kind = job.recipe.serving_type
    if kind == "RELATED_ITEMS":
        return [_safely(_related_line, ctx, job, line) for line in lines]
    if kind == "POPULAR_ITEMS":
        return [_safely(_popular_line, ctx, job, line) for line in lines]
    raw, seen = score_users(ctx, job.artifact, [line.user_id for line in lines], live=False)
    one = _ranking_line if kind == "PERSONALIZED_RANKING" else _user_line
    return [_safely(one, ctx, job, line, scores, had)
            for line, scores, had in zip(lines, raw, seen, strict=True)]
