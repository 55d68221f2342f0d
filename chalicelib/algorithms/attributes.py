"""Popularity refined by user attributes: what a user with no history gets.

Personalize answers a user it knows nothing about with popular items "refined by Users
metadata" (spec B.5). With X the binary users x items matrix and A the binary users x
attribute-values matrix (``GENDER=f``, ``PLAN=pro``; multi-valued categories split on
"|"), the items each attribute value over-represents are measured by their smoothed
log-lift

    lift(v, i) = log((C_vi + 1) / (pop_i * n_v / n_users + 1)),      C = AᵀX,

i.e. how many more of the value's users took the item than its popularity predicts.
Each value keeps its ``k`` most-taken items; a user's score is log(1 + pop_i) plus the
lifts of all their values (naive-Bayes style), so with no attributes it is plain
popularity.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["attribute_labels", "attribute_lifts", "attribute_scores"]


def attribute_labels(record: dict[str, object], fields: list[str]) -> list[str]:
    """``FIELD=value`` for each categorical value of one record (lower-cased; multi-valued
    fields split on "|")."""
    return [f"{f}={v.strip().lower()}" for f in fields
            for v in str(record.get(f) or "").split("|") if v.strip()]


def attribute_lifts(user_values: sp.csr_matrix, user_items: sp.csr_matrix, k: int = 200,
                    ) -> sp.csr_matrix:
    """``(n_values, n_items)`` log-lifts of each value's ``k`` most-taken items.

    Parameters
    ----------
    user_values : scipy.sparse.csr_matrix
        Binary ``(n_users, n_values)``: which attribute values each user has.
    user_items : scipy.sparse.csr_matrix
        ``(n_users, n_items)`` interactions (any positive weight counts as one).
    k : int
        Items kept per value.
    """
    x = (user_items > 0).astype(np.float32).tocsr()
    a = (user_values > 0).astype(np.float32).tocsc()
    counts = (a.T @ x).tocsr()  # values x items
    counts.sum_duplicates()
    pop = np.asarray(x.sum(axis=0)).ravel()
    share = np.asarray(a.sum(axis=0)).ravel() / max(x.shape[0], 1)
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    cols, c = counts.indices, counts.data
    order = np.lexsort((cols, -c, rows))
    rows, cols, c = rows[order], cols[order], c[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
    keep = rank < k
    rows, cols, c = rows[keep], cols[keep], c[keep]
    lift = np.log((c + 1.0) / (pop[cols] * share[rows] + 1.0)).astype(np.float32)
    return sp.csr_matrix((lift, (rows, cols)), shape=counts.shape)


def attribute_scores(popularity: np.ndarray, lifts: sp.csr_matrix, values: np.ndarray,
                     ) -> np.ndarray:
    """Scores of every item for a user with the given attribute value indices (items past
    the lifts' columns, e.g. newer than the model, get popularity only)."""
    scores = np.log1p(popularity.astype(np.float64))
    if len(values):
        scores[:lifts.shape[1]] += np.asarray(lifts[values].sum(axis=0)).ravel()
    return scores
