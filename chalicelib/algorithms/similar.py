"""Similar-Items and Semantic-Similarity: related items from co-occurrence and item metadata,
cold items included (spec B.2, B.3, B.5, B.10).

Both models keep item embeddings (Similar-Items also each item's sparse list of co-occurring
items, from :class:`~.sims.Sims`) and score query items against the whole catalogue when
asked, a block of queries at a time: O(n_items · dim) per query item. Training never
compares all pairs of items, which at 100k items would be 10^10 similarities to rank per
fit (about 4 minutes on one core, measured at 10k items and scaled by n²). :meth:`related`
ranks items by similarity, then pads with popular items, as SIMS does.

**Similar-Items** (``aws-similar-items``) blends two cosines:

    co(i, j)   = C_ij / sqrt(pop_i pop_j)     SIMS' co-occurrence cosine (β = 0.5), every
                                             co-interacted pair counted, item i's
                                             ``item_id_hidden_dim`` best kept (0 for
                                             the others);
    ĉo(i, j)   = co(i, j) / max_k co(i, k)     the best co-occurring item scores 1;
    meta(i, j) = max(0, e_i · e_j)            e = l2-normalised truncated SVD, rank
                                             ``item_metadata_hidden_dim``, of the metadata
                                             features (:mod:`.item_features`);
    w_i        = n_i / (n_i + τ)              n_i = distinct users of item i; τ = 2: the
                                             metadata is worth two interactions;
    sim(i, j)  = w_i ĉo(i, j) + (1 − w_i) meta(i, j).

So an item nobody interacted with (w = 0) is placed by its metadata alone, an item with a
few interactions by both (w = 1/3, 1/2, 2/3 for 1, 2, 4 interactions), and a popular item
mostly by co-occurrence (w = 0.91 at 20), metadata then breaking its near-ties. w_i is 1
for an item without metadata and 0 for an item without any co-occurring item; without any
metadata the model is SIMS' cosine.

τ = 2 rather than the cold-item threshold 5: metadata does not know which items of a
category people prefer. On planted clusters (the API tests' data), τ = 5 lowered the
held-out NDCG@10 from 0.48 (co-occurrence only) to 0.40; τ = 2 raised it to 0.50.

The item-ID side is exact sparse co-occurrence, not a learned embedding (on planted data it
beat the cosine of a rank-100 SVD of the interactions), so ``item_id_hidden_dim`` sets its
capacity: how many co-occurring items each item remembers.

**Semantic-Similarity** (``aws-semantic-similarity``): sim(i, j) = e_i · e_j, e = LSA of the
items' text (TF-IDF with sublinear tf, l2 norm, words and word bigrams; truncated SVD to at
most 100 dimensions; l2-normalised), on CPU with numpy/scipy. Interactions are optional:
when given, ``1e-3 · log(1 + pop_j) / log(1 + max pop)`` is added to positive similarities,
which only reorders near-ties in favour of items people use.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from .base import (
    ModelFitError,
    Recommender,
    check_histories,
    check_user_items,
    register,
    scalar,
    top_n,
)
from .item_features import tfidf, truncated_svd_embeddings
from .popularity import item_popularity
from .sims import Sims, popularity_fill_keys

__all__ = ["SemanticSimilarity", "SimilarItems"]

_DENSE_CELLS = 1 << 22  # dense similarities per block of query items
MIN_SIMILARITY = 1e-6  # at or below this, two items are not neighbours
POPULARITY_TIE_BREAK = 1e-3


def _cosines(embeddings: np.ndarray, items: np.ndarray) -> np.ndarray:
    """``max(0, e_q · e_j)`` of each query item q against every item j: float32 ``(q, n)``."""
    dense = embeddings[items] @ embeddings.T
    return np.maximum(dense, 0.0, out=dense)


def _row_max_scaled(similarity: sp.csr_matrix) -> sp.csr_matrix:
    """Rows divided by their largest value (empty rows stay empty)."""
    top = similarity.max(axis=1).toarray().ravel().astype(np.float64)
    scale = np.divide(1.0, top, out=np.zeros_like(top), where=top > 0)
    return sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ similarity, dtype=np.float32)


class _ItemToItem(Recommender):
    """Shared serving of the item-to-item models: dense similarity rows computed on demand,
    ranked, and padded with popular items.

    Attributes
    ----------
    embeddings : numpy.ndarray
        float32 ``(n_items, k)`` l2-normalised rows (zero for items without features).
    popularity : numpy.ndarray
        float32 distinct users per item (zeros when trained without interactions).
    """

    def __init__(self) -> None:
        self.popularity = np.zeros(0, dtype=np.float32)
        self.embeddings = np.zeros((0, 0), dtype=np.float32)

    @property
    def n_items(self) -> int:
        return int(self.popularity.shape[0])

    @abc.abstractmethod
    def similarities(self, items: np.ndarray) -> np.ndarray:
        """float32 ``(q, n_items)`` similarities (>= 0) of each query item to every item,
        0 to itself."""

    def _bonus(self) -> np.ndarray | float:
        """Added to positive similarities when ranking; none by default."""
        return 0.0

    def related(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` most similar items of each query item, then popular items.

        Parameters
        ----------
        items : numpy.ndarray
            int item indices, shape ``(q,)``.
        n : int
            Results per query item.

        Returns
        -------
        indices : numpy.ndarray
            int64 ``(q, n)``: items with a positive similarity, most similar first, then
            the others by popularity; never the query item itself. Padded with -1 if the
            catalogue is too small.
        scores : numpy.ndarray
            float32 similarities (plus any tie-break); 0.0 for popularity fill, -inf for
            padding.
        """
        items = np.asarray(items, dtype=np.int64).ravel()
        if np.any((items < 0) | (items >= self.n_items)):
            raise IndexError("item index out of range")
        fill, bonus = popularity_fill_keys(self), self._bonus()
        out_idx = [np.empty((0, n), dtype=np.int64)]
        out_val = [np.empty((0, n), dtype=np.float32)]
        step = max(1, _DENSE_CELLS // max(self.n_items, 1))
        for start in range(0, items.size, step):
            query = items[start:start + step]
            sims = self.similarities(query)
            keys = np.where(sims > MIN_SIMILARITY, sims + bonus, fill)
            keys[np.arange(query.size), query] = -np.inf
            idx, val = top_n(keys, n)
            out_idx.append(idx)
            out_val.append(np.where(val > 0, val, np.where(np.isneginf(val), -np.inf, 0.0)))
        return np.concatenate(out_idx), np.concatenate(out_val).astype(np.float32)

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        """Sum of the history items' similarity rows, weighted by the history."""
        h = check_histories(histories, self.n_items).tocsc()
        used = np.flatnonzero(np.diff(h.indptr))  # items in some history
        out = np.zeros(h.shape, dtype=np.float32)
        step = max(1, _DENSE_CELLS // max(self.n_items, 1))
        for start in range(0, used.size, step):
            block = used[start:start + step]
            out += h[:, block] @ self.similarities(block)
        return out

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity, "embeddings": self.embeddings}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> Self:
        self.popularity = np.asarray(arrays["popularity"], dtype=np.float32)
        self.embeddings = np.asarray(arrays["embeddings"], dtype=np.float32)
        return self


@register
class SimilarItems(_ItemToItem):
    """Co-occurrence blended with metadata similarity (module docstring, Similar-Items).

    Parameters
    ----------
    item_id_hidden_dim : int, default 100
        Co-occurring items remembered per item.
    item_metadata_hidden_dim : int, default 100
        Rank of the metadata embedding (clipped to the number of items and features).
    metadata_strength : float, default 2.0
        τ in the co-occurrence weight ``n / (n + τ)``: how many interactions the metadata
        is worth.
    random_state : int, default 0
        Seed of the randomised SVD.

    Attributes
    ----------
    co_occurrence : scipy.sparse.csr_matrix
        float32 ``(n_items, n_items)`` ĉo: row i holds item i's co-occurring items.
    co_weight : numpy.ndarray
        float32 w_i, the co-occurrence share of item i's similarities.
    embeddings, popularity : numpy.ndarray
        See the base class; ``embeddings`` has 0 columns without metadata.
    """

    kind = "similar-items"
    search_space: ClassVar[Mapping[str, tuple[str, float, float]]] = {
        "item_id_hidden_dim": ("int", 30, 200),
        "item_metadata_hidden_dim": ("int", 30, 200),
    }

    def __init__(self, item_id_hidden_dim: int = 100, item_metadata_hidden_dim: int = 100,
                 metadata_strength: float = 2.0, random_state: int = 0) -> None:
        if min(item_id_hidden_dim, item_metadata_hidden_dim) < 1:
            raise ValueError("hidden dimensions must be >= 1")
        if not metadata_strength > 0:
            raise ValueError("metadata_strength must be > 0")
        super().__init__()
        self.item_id_hidden_dim = int(item_id_hidden_dim)
        self.item_metadata_hidden_dim = int(item_metadata_hidden_dim)
        self.metadata_strength = float(metadata_strength)
        self.random_state = int(random_state)
        self.co_occurrence = sp.csr_matrix((0, 0), dtype=np.float32)
        self.co_weight = np.zeros(0, dtype=np.float32)

    def fit(self, user_items: sp.csr_matrix, item_features: sp.csr_matrix | None = None,
            ) -> Self:
        """Co-occurrence neighbours, metadata embeddings and each item's blend weight.

        Parameters
        ----------
        user_items : scipy.sparse.csr_matrix
            ``(n_users, n_items)`` interactions over the whole catalogue (an item without
            interactions has an empty column); weights are ignored.
        item_features : scipy.sparse.csr_matrix, optional
            ``(n_items, n_features)`` metadata rows (e.g. ``metadata_features``); without
            them the model is co-occurrence only.

        Returns
        -------
        Self
        """
        x = check_user_items(user_items)
        n_items = x.shape[1]
        sims = Sims(0.5, 1, self.item_id_hidden_dim).fit(x)
        co = _row_max_scaled(sims.similarity)
        emb = np.zeros((n_items, 0), dtype=np.float32)
        if item_features is not None and item_features.shape[1] > 0:
            if item_features.shape[0] != n_items:
                raise ValueError(f"item_features has {item_features.shape[0]} rows for "
                                 f"{n_items} items")
            emb = truncated_svd_embeddings(item_features, self.item_metadata_hidden_dim,
                                           seed=self.random_state)
        pop = sims.popularity.astype(np.float64)
        weight = pop / (pop + self.metadata_strength)
        weight[~np.any(emb != 0, axis=1)] = 1.0
        weight[np.diff(co.indptr) == 0] = 0.0
        self.co_occurrence, self.co_weight = co, weight.astype(np.float32)
        self.embeddings, self.popularity = emb, sims.popularity
        return self

    def similarities(self, items: np.ndarray) -> np.ndarray:
        """``(1 − w_q) meta(q, ·) + w_q ĉo(q, ·)`` for each query item q."""
        items = np.asarray(items, dtype=np.int64)
        w = self.co_weight[items]
        dense = _cosines(self.embeddings, items)
        dense *= (1.0 - w)[:, None]
        block = self.co_occurrence[items].tocoo()
        dense[block.row, block.col] += w[block.row] * block.data
        dense[np.arange(items.size), items] = 0.0
        return dense

    def to_arrays(self) -> dict[str, np.ndarray]:
        co = self.co_occurrence
        return {**self._arrays(), "co_weight": self.co_weight,
                "co_indptr": co.indptr.astype(np.int64), "co_indices": co.indices.astype(np.int32),
                "co_data": co.data.astype(np.float32),
                "item_id_hidden_dim": np.asarray(self.item_id_hidden_dim),
                "item_metadata_hidden_dim": np.asarray(self.item_metadata_hidden_dim),
                "metadata_strength": np.asarray(self.metadata_strength),
                "random_state": np.asarray(self.random_state)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Self:
        model = cls(**{name: int(scalar(arrays, name)) for name in (
            "item_id_hidden_dim", "item_metadata_hidden_dim", "random_state")},
            metadata_strength=float(scalar(arrays, "metadata_strength")))
        model._restore(arrays)
        n = model.n_items
        model.co_weight = np.asarray(arrays["co_weight"], dtype=np.float32)
        model.co_occurrence = sp.csr_matrix(
            (arrays["co_data"], arrays["co_indices"], arrays["co_indptr"]), shape=(n, n))
        return model


@register
class SemanticSimilarity(_ItemToItem):
    """Cosine of LSA text embeddings (module docstring, Semantic-Similarity).

    Parameters
    ----------
    dim : int, default 100
        LSA rank (clipped to the number of items and terms).
    bigrams : bool, default True
        Count word bigrams as terms too.
    random_state : int, default 0
        Seed of the randomised SVD.
    """

    kind = "semantic-similarity"

    def __init__(self, dim: int = 100, bigrams: bool = True, random_state: int = 0) -> None:
        if dim < 1:
            raise ValueError("dim must be >= 1")
        super().__init__()
        self.dim = int(dim)
        self.bigrams = bool(bigrams)
        self.random_state = int(random_state)

    def fit(self, user_items: sp.csr_matrix | None, texts: np.ndarray | None = None) -> Self:
        """Embed the items' text; ``user_items`` (optional) only breaks near-ties.

        Parameters
        ----------
        user_items : scipy.sparse.csr_matrix or None
            ``(n_users, n_items)`` interactions over the same catalogue, or None.
        texts : numpy.ndarray
            ``(n_items,)`` strings: each item's text ("" when it has none).

        Returns
        -------
        Self

        Raises
        ------
        ModelFitError
            Without texts, or if no two items share a word (nothing to compare).
        """
        if texts is None:
            raise ModelFitError("semantic similarity needs the items' texts")
        n_items = len(texts)
        features = tfidf(np.asarray(texts, dtype=str), bigrams=self.bigrams)
        if features.nnz == 0:
            raise ModelFitError("no two items share a word of text")
        pop = np.zeros(n_items, dtype=np.float32)
        if user_items is not None and user_items.nnz:
            if user_items.shape[1] != n_items:
                raise ValueError(f"user_items has {user_items.shape[1]} columns for "
                                 f"{n_items} items")
            pop = item_popularity(check_user_items(user_items))
        self.embeddings = truncated_svd_embeddings(features, self.dim, seed=self.random_state)
        self.popularity = pop
        return self

    def similarities(self, items: np.ndarray) -> np.ndarray:
        """``max(0, e_q · e_j)`` for each query item q."""
        items = np.asarray(items, dtype=np.int64)
        dense = _cosines(self.embeddings, items)
        dense[np.arange(items.size), items] = 0.0
        return dense

    def _bonus(self) -> np.ndarray | float:
        """``1e-3 · log(1 + pop) / log(1 + max pop)``: popular items first among near-ties."""
        top = float(np.log1p(self.popularity.max(initial=0.0)))
        if top == 0.0:
            return 0.0
        return (POPULARITY_TIE_BREAK / top * np.log1p(self.popularity)).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {**self._arrays(), "dim": np.asarray(self.dim),
                "bigrams": np.asarray(self.bigrams),
                "random_state": np.asarray(self.random_state)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Self:
        model = cls(dim=int(scalar(arrays, "dim")), bigrams=bool(scalar(arrays, "bigrams")),
                    random_state=int(scalar(arrays, "random_state")))
        return model._restore(arrays)
