"""Next-item task: the related-items recipes (aws-sims, aws-similar-items,
aws-semantic-similarity) seeded with the user's last history item, as spec D.3 evaluates
RELATED_ITEMS, against ItemKNN seeded the same way; relevant = the first held-out item that
is not already in the history. The main-table models are listed for reference.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from chalicelib import algorithms as alg

from . import baselines as bl
from . import recipes
from .core import MRR, N10, TOP_K, Row, Split, metrics, say, top25
from .synthetic import EventLog

# Main-table rows repeated in the next-item table (sequence models score from the last
# event(s), so they are not marked "full history").
REFERENCE_ROWS = ("Tailor aws-user-personalization (default)", "Tailor popularity-count",
                  "ItemKNN", "RP3beta", "Markov (last item)", "SKNN (last k events)")
SEQUENTIAL = ("Markov (last item)", "SKNN (last k events)")


def per_user_next(recs: np.ndarray, split: Split) -> dict[str, np.ndarray]:
    """NDCG@10 and reciprocal rank@25 of each user with a next item (one relevant item, so
    NDCG@10 = ln 2 / ln(1 + rank) within the top 10), as ``ranking_metrics`` averages them."""
    users = np.flatnonzero(np.diff(split.next_indptr) > 0)
    target = split.next_items[split.next_indptr[users]]
    found = recs[users, :TOP_K] == target[:, None]
    rank = np.where(found.any(axis=1), np.argmax(found, axis=1) + 1, TOP_K + 1)
    return {N10: np.where(rank <= 10, np.log(2.0) / np.log1p(rank), 0.0),
            MRR: np.where(rank <= TOP_K, 1.0 / rank, 0.0)}


def related_recs(model: alg.Recommender, split: Split) -> np.ndarray:
    """Top 25 of ``model.related(last history item)``, history items removed, as a
    related-items campaign would serve the user's last item."""
    q = split.query
    n = int(min(split.n_items, TOP_K + 1 + np.diff(q.indptr).max()))
    idx, _ = model.related(q.last_item(), n)
    scores = np.full((idx.shape[0], split.n_items), -np.inf, dtype=np.float32)
    rank = np.broadcast_to(np.arange(n, 0, -1, dtype=np.float32), idx.shape)
    valid = idx >= 0
    scores[np.nonzero(valid)[0], idx[valid]] = rank[valid]
    return top25(scores, q)


def _fit_related(fit: Callable[[sp.csr_matrix], alg.Recommender], split: Split,
                 ) -> tuple[np.ndarray, float, float]:
    t0 = time.perf_counter()
    model = fit(split.train.matrix)
    t1 = time.perf_counter()
    recs = related_recs(model, split)
    return recs, t1 - t0, time.perf_counter() - t1


def _knn_seeded(params: dict[str, Any], split: Split) -> tuple[np.ndarray, float, float]:
    """ItemKNN (tuned on the main task) with the last history item as the only query item."""
    t0 = time.perf_counter()
    knn = bl.ItemKNN(**params).fit(split.train)
    t1 = time.perf_counter()
    q = split.query
    n = q.indptr.size - 1
    seed_only = bl.Query(sp.csr_matrix((np.ones(n, dtype=np.float32),
                                        (np.arange(n), q.last_item())), shape=q.matrix.shape),
                         q.indptr, q.items)
    recs = top25(knn.score(seed_only), q)
    return recs, t1 - t0, time.perf_counter() - t1


def related_models(log: EventLog, split: Split) -> list[tuple[str, Any, dict]]:
    """(row name, fit function, parameters) of Tailor's related-items recipes."""
    sims = recipes.tailor_sims(split.n_items)
    out = [("Tailor SIMS (aws-sims defaults, seed = last item)", sims.fit,
            {"popularity_discount_factor": 0.5, "min_cointeraction_count": 3})]
    if log.item_categories is not None:
        fit, params = recipes.similar_items(log)
        out.append(("Tailor similar-items (defaults, metadata, seed = last item)", fit, params))
    if log.item_texts is not None:
        fit, params = recipes.semantic_similarity(log)
        out.append(("Tailor semantic-similarity (item text, seed = last item)", fit, params))
    return out


def next_item_task(log: EventLog, split: Split, main: list[Row],
                   knn_params: dict[str, Any]) -> list[Row]:
    """Every row of the next-item table."""
    rows: list[Row] = []

    def add(name: str, family: str, recs: np.ndarray, fit_s: float, score_s: float,
            params: dict) -> None:
        row = Row(name, family, params, metrics(recs, split, "next"), fit_s, score_s)
        row.per_user = per_user_next(recs, split)
        say(f"{log.name} next-item: {name}: NDCG@10 {row.metrics[N10]:.4f}")
        rows.append(row)

    for name, fit, params in related_models(log, split):
        add(name, "tailor", *_fit_related(fit, split), params)
    for row in main:
        if row.name in REFERENCE_ROWS:
            label = row.name if row.name in SEQUENTIAL else row.name + " (full history)"
            add(label, "reference", row.recs, row.fit_seconds, row.score_seconds, row.params)
    add("ItemKNN (seed = last item)", "baseline", *_knn_seeded(knn_params, split), knn_params)
    return rows
