"""Popularity-Count: the number of distinct users who interacted with each item."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

import numpy as np
import scipy.sparse as sp

from .base import Recommender, check_histories, check_user_items, register

__all__ = ["PopularityCount", "item_popularity"]


def item_popularity(user_items: sp.csr_matrix) -> np.ndarray:
    """Distinct users per item of a canonical CSR matrix (no explicit zeros), as float32."""
    return np.bincount(user_items.indices, minlength=user_items.shape[1]).astype(np.float32)


@register
class PopularityCount(Recommender):
    """Non-personalized baseline: every history row gets the same popularity vector.

    Attributes
    ----------
    popularity : numpy.ndarray
        float32 ``(n_items,)`` count of distinct users per item.
    """

    kind = "popularity"

    def __init__(self) -> None:
        self.popularity = np.zeros(0, dtype=np.float32)

    @property
    def n_items(self) -> int:
        return int(self.popularity.shape[0])

    def fit(self, user_items: sp.csr_matrix) -> Self:
        """Count distinct users per item.

        Parameters
        ----------
        user_items : scipy.sparse.csr_matrix
            ``(n_users, n_items)`` positive interaction weights.

        Returns
        -------
        Self
        """
        self.popularity = item_popularity(check_user_items(user_items))
        return self

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        """The popularity vector repeated once per history row (histories are ignored)."""
        h = check_histories(histories, self.n_items)
        return np.tile(self.popularity, (h.shape[0], 1))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Self:
        model = cls()
        model.popularity = np.asarray(arrays["popularity"], dtype=np.float32)
        return model
