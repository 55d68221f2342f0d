"""SIMS: item-to-item co-occurrence similarity with popularity discounting (spec B.3, B.10).

With binary X (users × items), pop_i = number of users of item i and C = XᵀX:

    sim_ij = C_ij / (pop_i^(1 − β) · pop_j^β)        for i ≠ j and C_ij ≥ max(1, min_count)

where β = ``popularity_discount_factor`` (the asymmetric cosine of Aiolli, 2013). For a query
item i the factor pop_i is constant, so neighbours are ranked by C_ij / pop_j^β:

* β = 0: raw co-occurrence count, i.e. the most popular items among those co-interacted with
  i (the row is P(j | i));
* β = 0.5: cosine similarity;
* β = 1: C_ij / pop_j = P(i | j), proportional to lift, popularity of j fully discounted.

Each row keeps its ``max_neighbors`` largest similarities (ties: lower item index first).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from .base import Recommender, check_histories, check_user_items, register, scalar, top_n
from .popularity import item_popularity

__all__ = ["Sims"]

_BLOCK_WORK = 1 << 24  # co-occurrence products per block of item rows
_DENSE_CELLS = 1 << 22  # dense cells per chunk of query rows in related()


def _top_k_rows(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the ``k`` largest values per row of a COO triple (ties: lower column first)."""
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, rows, side="left")
    keep = np.arange(rows.size) - starts < k
    return rows[keep], cols[keep], vals[keep]


def popularity_fill_keys(model: Recommender) -> np.ndarray:
    """Sort keys in (-1, 0) ordering a model's items by its ``popularity`` (ties: lower
    index first), below every positive similarity; computed once per fitted model and
    kept on it (serving calls ``related`` per request)."""
    popularity = model.popularity  # type: ignore[attr-defined]
    cached = getattr(model, "_fill_cache", None)
    if cached is None or cached[0] is not popularity:
        n_items = len(popularity)
        rank = np.empty(n_items, dtype=np.float64)
        rank[np.argsort(-popularity, kind="stable")] = np.arange(n_items)
        keys = (-(rank + 1.0) / (n_items + 1.0)).astype(np.float32)
        cached = model._fill_cache = (popularity, keys)  # type: ignore[attr-defined]
    return cached[1]


@register
class Sims(Recommender):
    """Item-item neighbourhood model of the SIMS recipe.

    Parameters
    ----------
    popularity_discount_factor : float, default 0.5
        β in [0, 1], see the module docstring.
    min_cointeraction_count : int, default 3
        Minimum number of users who interacted with both items (0 and 1 keep every pair).
    max_neighbors : int, default 200
        Neighbours kept per item.

    Attributes
    ----------
    similarity : scipy.sparse.csr_matrix
        float32 ``(n_items, n_items)``; row i holds the neighbours of item i.
    popularity : numpy.ndarray
        float32 distinct users per item, used to pad :meth:`related`.
    """

    kind = "sims"
    search_space: ClassVar[Mapping[str, tuple[str, float, float]]] = {
        "popularity_discount_factor": ("linear", 0.0, 1.0),
        "min_cointeraction_count": ("int", 0, 10),
    }

    def __init__(
        self,
        popularity_discount_factor: float = 0.5,
        min_cointeraction_count: int = 3,
        max_neighbors: int = 200,
    ) -> None:
        if not 0.0 <= popularity_discount_factor <= 1.0:
            raise ValueError("popularity_discount_factor must be in [0, 1]")
        if min_cointeraction_count < 0 or max_neighbors < 1:
            raise ValueError("min_cointeraction_count must be >= 0 and max_neighbors >= 1")
        self.popularity_discount_factor = float(popularity_discount_factor)
        self.min_cointeraction_count = int(min_cointeraction_count)
        self.max_neighbors = int(max_neighbors)
        self.popularity = np.zeros(0, dtype=np.float32)
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)

    @property
    def n_items(self) -> int:
        return int(self.popularity.shape[0])

    def fit(self, user_items: sp.csr_matrix) -> Self:
        """Build the pruned similarity matrix, a block of item rows at a time.

        Parameters
        ----------
        user_items : scipy.sparse.csr_matrix
            ``(n_users, n_items)`` interactions; weights are ignored (binarized).

        Returns
        -------
        Self
        """
        x = check_user_items(user_items)
        x.data[:] = 1.0
        n_items = x.shape[1]
        pop = item_popularity(x).astype(np.float64)
        xt = x.T.tocsr()
        beta = self.popularity_discount_factor
        row_scale = np.power(pop, beta - 1.0, where=pop > 0, out=np.zeros_like(pop))
        col_scale = np.power(pop, -beta, where=pop > 0, out=np.zeros_like(pop))
        # work of item i = Σ over its users of their history length; cut blocks by that
        work = np.cumsum(xt @ np.diff(x.indptr).astype(np.float64))
        cuts = np.searchsorted(work, np.arange(_BLOCK_WORK, work[-1], _BLOCK_WORK))
        bounds = np.unique(np.concatenate([[0], cuts, [n_items]]))
        parts = []
        for start, stop in itertools.pairwise(bounds.tolist()):
            block = (xt[start:stop] @ x).tocoo()
            rows, cols, counts = block.row.astype(np.int64) + start, block.col, block.data
            keep = (rows != cols) & (counts >= max(1, self.min_cointeraction_count))
            rows, cols, counts = rows[keep], cols[keep], counts[keep]
            sims = counts * row_scale[rows] * col_scale[cols]
            parts.append(_top_k_rows(rows, cols, sims, self.max_neighbors))
        rows, cols, sims = (np.concatenate(p) for p in zip(*parts, strict=True))
        self.similarity = sp.csr_matrix(
            (sims.astype(np.float32), (rows, cols)), shape=(n_items, n_items)
        )
        self.popularity = pop.astype(np.float32)
        return self

    def _fill_keys(self) -> np.ndarray:
        return popularity_fill_keys(self)

    def related(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` neighbours of each query item, padded with popular items.

        Parameters
        ----------
        items : numpy.ndarray
            int item indices, shape ``(q,)``.
        n : int
            Results per query item.

        Returns
        -------
        indices : numpy.ndarray
            int64 ``(q, n)``: neighbours by similarity, then (for rows with fewer than ``n``
            neighbours) the remaining items by popularity; never the query item itself.
            Padded with -1 if the catalogue is too small.
        scores : numpy.ndarray
            float32 similarities; 0.0 for popularity fill, -inf for padding.
        """
        items = np.asarray(items, dtype=np.int64).ravel()
        n_items = self.n_items
        if np.any((items < 0) | (items >= n_items)):
            raise IndexError("item index out of range")
        fill_key = self._fill_keys()
        step = max(1, _DENSE_CELLS // max(n_items, 1))
        out_idx, out_val = [], []
        for start in range(0, items.size, step):
            query = items[start : start + step]
            block = self.similarity[query]
            keys = np.tile(fill_key, (query.size, 1))
            block_rows = np.repeat(np.arange(query.size), np.diff(block.indptr))
            keys[block_rows, block.indices] = block.data
            keys[np.arange(query.size), query] = -np.inf
            idx, val = top_n(keys, n)
            out_idx.append(idx)
            out_val.append(np.where(val > 0, val, np.where(np.isneginf(val), -np.inf, 0.0)))
        if not out_idx:
            return np.empty((0, n), dtype=np.int64), np.empty((0, n), dtype=np.float32)
        return np.concatenate(out_idx), np.concatenate(out_val).astype(np.float32)

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        """``histories @ similarity``: weighted sum of the history items' neighbour rows."""
        h = check_histories(histories, self.n_items)
        return (h @ self.similarity).toarray().astype(np.float32, copy=False)

    def to_arrays(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {
            "popularity": self.popularity,
            "sim_indptr": s.indptr.astype(np.int64),
            "sim_indices": s.indices.astype(np.int32),
            "sim_data": s.data.astype(np.float32),
            "popularity_discount_factor": np.asarray(self.popularity_discount_factor),
            "min_cointeraction_count": np.asarray(self.min_cointeraction_count),
            "max_neighbors": np.asarray(self.max_neighbors),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Self:
        model = cls(
            popularity_discount_factor=float(scalar(arrays, "popularity_discount_factor")),
            min_cointeraction_count=int(scalar(arrays, "min_cointeraction_count")),
            max_neighbors=int(scalar(arrays, "max_neighbors")),
        )
        model.popularity = np.asarray(arrays["popularity"], dtype=np.float32)
        n = model.popularity.shape[0]
        model.similarity = sp.csr_matrix(
            (arrays["sim_data"], arrays["sim_indices"], arrays["sim_indptr"]), shape=(n, n)
        )
        return model
