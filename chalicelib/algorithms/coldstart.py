"""HRNN-Coldstart's stand-in: recommend only cold items, by metadata (spec B.2, B.3, B.10).

Cold items have too few interactions for collaborative filtering, so the model matches
the user's taste in *metadata* space: with E the unit-norm metadata embeddings of the
catalogue (categorical one-hot + text TF-IDF reduced by SVD, see
:mod:`chalicelib.algorithms.item_features`), a user's profile is the weighted sum of the
embeddings of their history items, and a cold item j scores

    score(u, j) = cos(profile_u, E_j) + popularity_weight * log(1 + pop_j) / log(1 + max pop)

(the small popularity term orders cold items the user's profile cannot tell apart).
Items that are not cold score -inf, so only cold items are ever recommended.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

import numpy as np
import scipy.sparse as sp

from .base import Recommender, check_histories, check_user_items, register, scalar

__all__ = ["ColdStart", "cold_items"]


def cold_items(counts: np.ndarray, ages: np.ndarray, max_interactions: int,
               max_age: float) -> np.ndarray:
    """Mask of cold items: fewer than ``max_interactions`` interactions and younger than
    ``max_age`` (same unit as ``ages``; NaN ages, i.e. unknown, count as young)."""
    young = np.isnan(ages) | (ages < max_age)
    return young & (counts < max_interactions)


@register
class ColdStart(Recommender):
    """Metadata profile model restricted to cold items.

    Parameters
    ----------
    popularity_weight : float, default 0.1
        Weight of the scaled log-popularity tie-break.
    """

    kind = "coldstart"
    # An unknown user gets the most popular cold items, never other items.
    scores_empty_history = True

    def __init__(self, popularity_weight: float = 0.1) -> None:
        self.popularity_weight = float(popularity_weight)
        self.embeddings = np.zeros((0, 0), dtype=np.float32)
        self.cold = np.zeros(0, dtype=bool)
        self.prior = np.zeros(0, dtype=np.float32)

    @property
    def n_items(self) -> int:
        return int(self.cold.shape[0])

    def fit(self, user_items: sp.csr_matrix, embeddings: np.ndarray | None = None,
            cold: np.ndarray | None = None) -> Self:
        """``embeddings``: ``(n_items, k)`` unit rows; ``cold``: mask of the items to
        recommend. Both are required; ``user_items`` gives the popularity tie-break."""
        x = check_user_items(user_items)
        if embeddings is None or cold is None or embeddings.shape[0] != x.shape[1] \
                or cold.shape[0] != x.shape[1]:
            raise ValueError("ColdStart.fit needs embeddings and a cold mask, one row per item")
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        self.cold = np.asarray(cold, dtype=bool)
        pop = np.log1p(np.bincount(x.indices, minlength=x.shape[1]).astype(np.float64))
        self.prior = (pop / max(pop.max(), 1e-12)).astype(np.float32)
        return self

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        h = check_histories(histories, self.n_items)
        profile = np.asarray(h @ self.embeddings, dtype=np.float32)
        norms = np.linalg.norm(profile, axis=1, keepdims=True)
        profile /= np.maximum(norms, 1e-12)
        cold = np.flatnonzero(self.cold)
        out = np.full((h.shape[0], self.n_items), -np.inf, dtype=np.float32)
        out[:, cold] = profile @ self.embeddings[cold].T + \
            self.popularity_weight * self.prior[cold]
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"popularity_weight": np.array(self.popularity_weight),
                "embeddings": self.embeddings, "cold": self.cold, "prior": self.prior}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Self:
        model = cls(scalar(arrays, "popularity_weight"))
        model.embeddings = np.asarray(arrays["embeddings"], dtype=np.float32)
        model.cold = np.asarray(arrays["cold"], dtype=bool)
        model.prior = np.asarray(arrays["prior"], dtype=np.float32)
        return model
