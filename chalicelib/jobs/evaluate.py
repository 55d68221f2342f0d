"""GetSolutionMetrics values: Personalize's holdout protocol (spec D.3), and the choice of
a sequence model's recency and next-item weights.

10 % of users are held out; the model is trained on the others; each held-out
user's oldest 90 % of events are its history and the newest 10 % the items it
should be recommended. Recommendations are produced exactly as serving does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from chalicelib import algorithms as alg
from chalicelib.jobs.data import interaction_matrix

TOP_K = 25
# Score at most this many (users x items) cells at once, to bound memory.
CHUNK_CELLS = 1 << 24
# Candidate recency half-lives (events) and next-item weights, tried on a validation split.
HALF_LIVES = (float("inf"), 20.0, 5.0)
GAMMAS = (0.0, 0.5, 2.0, 8.0)
TUNING_METRIC = "normalized_discounted_cumulative_gain_at_10"

Fit = Callable[[sp.csr_matrix], alg.Recommender]


def by_user(users: np.ndarray) -> np.ndarray:
    """Order grouping time-ordered events by user (time order kept within a user)."""
    return np.lexsort((np.arange(len(users)), users))


def build(fit: Fit, users: np.ndarray, items: np.ndarray, shape: tuple[int, int],
          sequence: tuple[float, float] | None,
          weights: np.ndarray | None = None) -> alg.Recommender:
    """Fit on time-ordered events (``weights``: per-event confidence, eventsConfig);
    ``sequence`` = (half-life, gamma) wraps the model in
    :class:`~chalicelib.algorithms.SequenceAware`."""
    base = fit(interaction_matrix(users, items, shape, weights))
    if sequence is None:
        return base
    order = by_user(users)
    next_items = alg.transitions(users[order], items[order], shape[1])
    return alg.SequenceAware(base, sequence[0], sequence[1], next_items)


def metrics_of(model: alg.Recommender, holdout: alg.Holdout, items: np.ndarray,
               n_items: int, serving_type: str, avoid_repeats: bool) -> dict[str, float]:
    """The 8 metrics of ``model`` (trained without the held-out users) on ``holdout``."""
    if serving_type == "RELATED_ITEMS":
        recommended, _ = model.related(items[holdout.last_history_events()], TOP_K)
    else:
        half_life = getattr(model, "half_life", float("inf"))
        histories, last = alg.sequence_histories(
            holdout.history_indptr, items[holdout.history_events], n_items, half_life)
        exclude = avoid_repeats and serving_type != "POPULAR_ITEMS"
        recommended = _top_k(model, histories, last, exclude)
    return alg.ranking_metrics(recommended, holdout.relevant_indptr, holdout.relevant_items,
                               n_items)


def tune_sequence(fit: Fit, users: np.ndarray, items: np.ndarray, timestamps: np.ndarray,
                  shape: tuple[int, int], avoid_repeats: bool, recency: bool,
                  weights: np.ndarray | None = None) -> tuple[float, float]:
    """(half-life, gamma) with the best NDCG@10 on a validation split of these events'
    users (pass only training users' events: the test users never take part)."""
    inner = alg.holdout_split(users, items, timestamps, seed=7)
    mask = inner.train_mask
    base = build(fit, users[mask], items[mask], shape, (float("inf"), 0.0),
                 None if weights is None else weights[mask])
    best, best_score = (float("inf"), 0.0), -1.0
    for half_life in HALF_LIVES if recency else HALF_LIVES[:1]:
        for gamma in GAMMAS:
            assert isinstance(base, alg.SequenceAware)
            candidate = alg.SequenceAware(base.base, half_life, gamma, base.next_items)
            score = metrics_of(candidate, inner, items, shape[1], "USER_PERSONALIZATION",
                               avoid_repeats)[TUNING_METRIC]
            if score > best_score + 1e-9:
                best, best_score = (half_life, gamma), score
    return best


def _top_k(model: alg.Recommender, histories: sp.csr_matrix, last: np.ndarray,
           exclude_seen: bool) -> np.ndarray:
    n_rows, n_items = histories.shape
    chunk = max(1, CHUNK_CELLS // max(n_items, 1))
    out = np.full((n_rows, TOP_K), -1, dtype=np.int64)
    for start in range(0, n_rows, chunk):
        rows = histories[start:start + chunk]
        if isinstance(model, alg.SequenceAware):
            scores = model.score(rows, last[start:start + chunk])
        else:
            scores = model.score(rows)
        seen = rows.toarray() > 0 if exclude_seen else None
        out[start:start + chunk], _ = alg.top_n(scores, TOP_K, exclude=seen)
    return out
