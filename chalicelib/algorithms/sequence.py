"""Order and recency for next-item recommendation.

Personalize's user-personalization recipes are sequence models: a user's latest
events predict the next one best. ``SequenceAware`` adds that to any history
model: the history rows it scores are recency-weighted (an event's weight halves
every ``half_life`` newer events), and a first-order next-item term
``gamma * T[last item]`` (``T``: row-normalised counts of item -> next distinct
item in users' time-ordered events) is added to the base scores scaled to [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

import numpy as np
import scipy.sparse as sp

from .base import MODELS, Recommender, register, scalar

__all__ = ["SequenceAware", "recency_weights", "sequence_histories", "transitions"]


def recency_weights(indptr: np.ndarray, half_life: float) -> np.ndarray:
    """float32 weight of each event of CSR-grouped, oldest-first event rows.

    The newest event of a row weighs 1; each newer event halves an event's weight
    after ``half_life`` steps. ``half_life=inf`` gives all ones.
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    n = int(indptr[-1])
    if not np.isfinite(half_life):
        return np.ones(n, dtype=np.float32)
    if len(indptr) == 2 and indptr[0] == 0:  # one row (serving): the same ages, directly
        age = np.arange(n - 1, -1, -1, dtype=np.int64)
    else:
        age = np.repeat(indptr[1:], np.diff(indptr)) - 1 - np.arange(n)
    return np.power(0.5, age / half_life).astype(np.float32)


def sequence_histories(indptr: np.ndarray, items: np.ndarray, n_items: int,
                       half_life: float) -> tuple[sp.csr_matrix, np.ndarray]:
    """Recency-weighted history rows and each row's last item (-1 for an empty row).

    Parameters
    ----------
    indptr, items : numpy.ndarray
        CSR layout of each row's item indices, oldest first.
    n_items : int
        Catalogue size.
    half_life : float
        See :func:`recency_weights`.
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    weights = recency_weights(indptr, half_life)
    n_rows = len(indptr) - 1
    if n_rows == 1:  # serving: one user; aggregate repeats without scipy's general path
        cols, inverse = np.unique(items, return_inverse=True)
        data = np.bincount(inverse, weights=weights, minlength=len(cols)).astype(np.float32)
        index = np.int32 if n_items < 2**31 else np.int64  # scipy's own choice: no recast
        rows = sp.csr_matrix((data, cols.astype(index), np.array([0, len(cols)], dtype=index)),
                             shape=(1, n_items))
        rows.has_canonical_format = True
        return rows, np.array([items[-1] if len(items) else -1], dtype=np.int64)
    rows = sp.csr_matrix((weights, items, indptr), shape=(n_rows, n_items))
    rows.sum_duplicates()
    counts = np.diff(indptr)
    last = np.where(counts > 0, items[np.maximum(indptr[1:] - 1, 0)] if len(items) else -1, -1)
    return rows, last.astype(np.int64)


def transitions(users: np.ndarray, items: np.ndarray, n_items: int) -> sp.csr_matrix:
    """Row-normalised item -> next distinct item counts.

    ``users`` and ``items`` describe events sorted by user, then time; consecutive
    events of the same user on different items count as one transition.
    """
    users, items = np.asarray(users), np.asarray(items, dtype=np.int64)
    step = (users[1:] == users[:-1]) & (items[1:] != items[:-1])
    counts = sp.csr_matrix((np.ones(int(step.sum()), dtype=np.float32),
                            (items[:-1][step], items[1:][step])), shape=(n_items, n_items))
    counts.sum_duplicates()
    totals = np.asarray(counts.sum(axis=1)).ravel()
    scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
    return (sp.diags(scale.astype(np.float32)) @ counts).tocsr()


@register
class SequenceAware(Recommender):
    """A history model plus recency weighting and a next-item term.

    Parameters
    ----------
    base : Recommender
        The model scoring history rows (EASE, ALS, ...).
    half_life : float
        Events; recency weighting of history rows (``inf``: none). Callers build rows
        with :func:`sequence_histories` using this value.
    gamma : float
        Weight of the next-item term relative to the base scores scaled to [0, 1].
    next_items : scipy.sparse.csr_matrix, optional
        ``transitions(...)`` of the training events; required when ``gamma > 0``.
    """

    kind = "sequence"

    def __init__(self, base: Recommender | None = None, half_life: float = float("inf"),
                 gamma: float = 0.0, next_items: sp.csr_matrix | None = None) -> None:
        self.base = base
        self.half_life = float(half_life)
        self.gamma = float(gamma)
        self.next_items = next_items

    @property
    def n_items(self) -> int:
        return self.base.n_items if self.base is not None else 0

    def fit(self, user_items: sp.csr_matrix) -> Self:
        """Fit the base model (``next_items`` come from the ordered events, given by the
        caller)."""
        assert self.base is not None
        self.base.fit(user_items)
        return self

    def score(self, histories: sp.csr_matrix, last_items: np.ndarray | None = None,
              ) -> np.ndarray:
        """Base scores of the (recency-weighted) rows, scaled to [0, 1] per row, plus
        ``gamma * T[last item]``; ``last_items`` (-1: none) defaults to no next-item term."""
        assert self.base is not None
        scores = self.base.score(histories)  # the base model checks the rows
        if self.gamma <= 0 or last_items is None or self.next_items is None:
            return scores
        if len(scores) == 1 and scores.dtype == np.float32 and last_items[0] >= 0:
            return self._score_one(scores, int(last_items[0]))
        low = scores.min(axis=1, keepdims=True)
        span = scores.max(axis=1, keepdims=True) - low
        scaled = (scores - low) / np.where(span > 0, span, 1.0)
        last = np.asarray(last_items, dtype=np.int64)
        rows = np.flatnonzero(last >= 0)
        t = self.next_items
        if len(rows) == 1:  # serving: one user; slicing the CSR arrays beats scipy indexing
            start, stop = t.indptr[last[rows[0]]], t.indptr[last[rows[0]] + 1]
            scaled[rows[0], t.indices[start:stop]] += self.gamma * t.data[start:stop]
        elif len(rows):
            scaled[rows] += self.gamma * t[last[rows]].toarray()
        return scaled.astype(np.float32, copy=False)

    def _score_one(self, scores: np.ndarray, last: int) -> np.ndarray:
        """:meth:`score`'s arithmetic for one row (a request), in place: the same float32
        operations in the same order, so the same numbers."""
        assert self.next_items is not None
        row = scores[0]
        low = row.min()
        span = row.max() - low
        row -= low
        row /= span if span > 0 else np.float32(1.0)
        t = self.next_items
        start, stop = t.indptr[last], t.indptr[last + 1]
        row[t.indices[start:stop]] += self.gamma * t.data[start:stop]
        return scores

    def to_arrays(self) -> dict[str, np.ndarray]:
        assert self.base is not None
        t = self.next_items if self.next_items is not None else \
            sp.csr_matrix((self.n_items, self.n_items), dtype=np.float32)
        return {"base_kind": np.array(self.base.kind), "half_life": np.array(self.half_life),
                "gamma": np.array(self.gamma), "t_indptr": t.indptr, "t_indices": t.indices,
                "t_data": t.data,
                **{f"base.{k}": v for k, v in self.base.to_arrays().items()}}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Self:
        base = MODELS[str(arrays["base_kind"])].from_arrays(
            {k[5:]: v for k, v in arrays.items() if k.startswith("base.")})
        n = base.n_items
        t = sp.csr_matrix((arrays["t_data"], arrays["t_indices"], arrays["t_indptr"]),
                          shape=(n, n))
        return cls(base, scalar(arrays, "half_life"), scalar(arrays, "gamma"), t)
