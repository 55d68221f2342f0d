"""GetSolutionMetrics values: Personalize's holdout protocol (spec D.3).

10 % of users are held out; the model is trained on the others; each held-out
user's oldest 90 % of events are its history and the newest 10 % the items it
should be recommended. Recommendations are produced exactly as serving does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chalicelib import algorithms as alg
from chalicelib.jobs.data import interaction_matrix

TOP_K = 25
# Score at most this many (users x items) cells at once, to bound memory.
CHUNK_CELLS = 1 << 24


def holdout_metrics(serving_type: str, fit: Callable[..., alg.Recommender],
                    users: np.ndarray, items: np.ndarray, timestamps: np.ndarray,
                    shape: tuple[int, int], avoid_repeats: bool, seed: int = 42,
                    ) -> dict[str, float]:
    """Fit on the training users and score the held-out ones; returns the 8 metrics."""
    holdout = alg.holdout_split(users, items, timestamps, seed=seed)
    mask = holdout.train_mask
    model = fit(interaction_matrix(users[mask], items[mask], shape))
    n_items = shape[1]
    if serving_type == "RELATED_ITEMS":
        recommended, _ = model.related(items[holdout.last_history_events()], TOP_K)
    else:
        exclude = avoid_repeats and serving_type != "POPULAR_ITEMS"
        recommended = _top_k(model, holdout.history_matrix(items, n_items), exclude)
    return alg.ranking_metrics(recommended, holdout.relevant_indptr, holdout.relevant_items,
                               n_items)


def _top_k(model: alg.Recommender, histories: object, exclude_seen: bool) -> np.ndarray:
    n_rows, n_items = histories.shape
    chunk = max(1, CHUNK_CELLS // max(n_items, 1))
    out = np.full((n_rows, TOP_K), -1, dtype=np.int64)
    for start in range(0, n_rows, chunk):
        rows = histories[start:start + chunk]
        scores = model.score(rows)
        seen = rows.toarray() > 0 if exclude_seen else None
        out[start:start + chunk], _ = alg.top_n(scores, TOP_K, exclude=seen)
    return out
