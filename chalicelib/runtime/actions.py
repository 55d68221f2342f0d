"""GetActionRecommendations: the actions a user is most likely to take (spec E.3).

Scores come from the campaign's :class:`~chalicelib.algorithms.NextBestAction` model, with
the user's TAKEN history extended by the TAKEN events sent through PutActionInteractions
since training. Expired actions, and actions the user took within their REPEAT_FREQUENCY
(days), are never returned. The catalogue and its expiry / repeat data are the training
snapshot: actions sent with PutActions afterwards count from the next training.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from chalicelib.errors import InvalidInputException
from chalicelib.runtime import filters, recommend_ids
from chalicelib.runtime.artifacts import Artifact
from chalicelib.runtime.models import campaign_model
from chalicelib.runtime.recommend import wire_score
from chalicelib.state.context import Context

DEFAULT_RESULTS = 5
MAX_RESULTS = 100
SERVING_TYPE = "PERSONALIZED_ACTIONS"
DAY = 86400
# How many of a user's newest streamed TAKEN events are read per request.
LIVE_EVENTS = 1000
# PutActionInteractions sends "Taken"; bulk data TAKEN: compare upper-cased, spaces as "_".
_LIVE_TAKEN = (
    "SELECT record_id, ts FROM put_rows WHERE dataset_arn = ? AND id > ? "
    "AND user_id = ? "
    "AND upper(replace(replace(trim(json_extract(fields, '$.EVENT_TYPE')), ' ', '_'), "
    "'-', '_')) = 'TAKEN' ORDER BY id DESC LIMIT ?")


def _num_results(params: dict[str, Any]) -> int:
    n = params.get("numResults") or DEFAULT_RESULTS
    if n > MAX_RESULTS:
        raise InvalidInputException(f"numResults must be at most {MAX_RESULTS}, got {n}.")
    return int(n)


def live_taken(ctx: Context, artifact: Artifact, user_id: str,
               ) -> tuple[np.ndarray, np.ndarray]:
    """(action indices, timestamps) of known actions the user TOOK through
    PutActionInteractions after the training data were read, newest first."""
    rows = ctx.store.db.execute(_LIVE_TAKEN, [*artifact.live_source, user_id,
                                              LIVE_EVENTS]).fetchall()
    index = artifact.item_index
    known = [(index[action], ts or 0) for action, ts in rows if action in index]
    return (np.array([a for a, _ in known], dtype=np.int64),
            np.array([t for _, t in known], dtype=np.int64))


def _history(artifact: Artifact, user: int | None, live: np.ndarray) -> sp.csr_matrix:
    """The user's TAKEN row: training history plus the streamed TAKEN events."""
    n_actions = len(artifact.item_ids)
    history = artifact.user_items[user] if user is not None else \
        sp.csr_matrix((1, n_actions), dtype=np.float32)
    if len(live):
        history = history + sp.csr_matrix(
            (np.ones(len(live), dtype=np.float32), (np.zeros(len(live), dtype=np.int64), live)),
            shape=(1, n_actions))
    return sp.csr_matrix(history)


def _last_taken(artifact: Artifact, user: int | None, live: np.ndarray,
                live_at: np.ndarray) -> np.ndarray:
    """Latest TAKEN time per action for the user (-inf if never), training and streamed."""
    latest = np.full(len(artifact.item_ids), -np.inf)
    if user is not None:
        x = artifact.extras
        lo, hi = x["taken_indptr"][user], x["taken_indptr"][user + 1]
        latest[x["taken_actions"][lo:hi]] = x["taken_at"][lo:hi]
    np.maximum.at(latest, live, live_at.astype(np.float64))
    return latest


def unavailable(artifact: Artifact, latest_taken: np.ndarray, now: float) -> np.ndarray:
    """bool per action: expired (ACTION_EXPIRATION_TIMESTAMP passed), or taken by the user
    within the last REPEAT_FREQUENCY days."""
    expires = artifact.extras["expires_at"]
    repeat = artifact.extras["repeat_days"]
    expired = (expires > 0) & (expires <= now)
    return expired | ((repeat > 0) & (now - latest_taken < repeat * DAY))


def rank(scores: np.ndarray, value: np.ndarray, hidden: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` best available actions: by score, then VALUE, then index."""
    order = np.lexsort((np.arange(len(scores)), -value, -scores))
    return order[~hidden[order]][:n]


def get_action_recommendations(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    campaign_arn, user_id = params.get("campaignArn"), params.get("userId")
    if not campaign_arn:
        raise InvalidInputException("campaignArn is required.")
    n = _num_results(params)
    campaign, artifact, recipe = campaign_model(ctx, campaign_arn)
    if recipe.serving_type != SERVING_TYPE:
        raise InvalidInputException(
            f"Campaign {campaign_arn} serves {recipe.name} ({recipe.serving_type}); "
            "GetActionRecommendations needs a campaign of aws-next-best-action "
            f"({SERVING_TYPE}).")
    if not user_id:
        raise InvalidInputException("userId is required for GetActionRecommendations.")
    user = artifact.user_index.get(user_id)
    live, live_at = live_taken(ctx, artifact, user_id)
    scores = artifact.model.score(_history(artifact, user, live))[0].astype(np.float64)
    hidden = unavailable(artifact, _last_taken(artifact, user, live, live_at), time.time())
    if params.get("filterArn"):
        hidden = hidden | ~filters.apply_action_filter(
            ctx, artifact, params["filterArn"], params.get("filterValues"), user_id,
            group_arn=campaign.attrs["_datasetGroupArn"])
    elif params.get("filterValues"):
        raise InvalidInputException("filterValues is only used with filterArn.")
    chosen = rank(scores, artifact.extras["action_value"], hidden, n)
    return {"actionList": [{"actionId": str(artifact.item_ids[i]), "score": wire_score(scores[i])}
                           for i in chosen],
            "recommendationId": recommend_ids.new_id(campaign.arn)}
