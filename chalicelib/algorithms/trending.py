"""Trending-Now: the items whose interaction count grew most between two consecutive
windows (the recipe's trend discovery frequency), ties broken by the newer count."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

import numpy as np
import scipy.sparse as sp

from .base import Recommender, check_histories, check_user_items, register, scalar

__all__ = ["TrendingNow", "trend_prediction_accuracy", "window_counts"]


def window_counts(items: np.ndarray, timestamps: np.ndarray, n_items: int, end: float,
                  window: float) -> tuple[np.ndarray, np.ndarray]:
    """Interactions per item in (end - window, end] and in the window before it."""
    ts = np.asarray(timestamps)
    items = np.asarray(items, dtype=np.int64)
    current = (ts > end - window) & (ts <= end)
    previous = (ts > end - 2 * window) & (ts <= end - window)
    return (np.bincount(items[current], minlength=n_items).astype(np.float32),
            np.bincount(items[previous], minlength=n_items).astype(np.float32))


def trend_prediction_accuracy(predicted: np.ndarray, increase: np.ndarray, k: int = 25,
                              ) -> float:
    """Growth captured by the predicted top-k over the growth of the actual top-k trending
    items (spec D.4); 0.0 when nothing grew."""
    best = np.sort(np.maximum(increase, 0))[::-1][:k].sum()
    got = np.maximum(increase[np.asarray(predicted)[:k]], 0).sum()
    return float(got / best) if best > 0 else 0.0


@register
class TrendingNow(Recommender):
    """Scores every item by its growth over the last two windows (same list for everyone).

    Parameters
    ----------
    window : float
        Seconds per window (30 minutes, 1 hour, 3 hours or 1 day in Personalize).
    """

    kind = "trending"

    def __init__(self, window: float = 1800.0) -> None:
        self.window = float(window)
        self.growth = np.zeros(0, dtype=np.float32)
        self.current = np.zeros(0, dtype=np.float32)
        self.end = 0.0

    @property
    def n_items(self) -> int:
        return int(self.growth.shape[0])

    def fit(self, user_items: sp.csr_matrix) -> Self:
        """Without timestamps there is no trend: every item's count is its 'growth'."""
        x = check_user_items(user_items)
        self.current = np.asarray(x.sum(axis=0), dtype=np.float32).ravel()
        self.growth = self.current.copy()
        return self

    def fit_events(self, items: np.ndarray, timestamps: np.ndarray, n_items: int,
                   end: float | None = None) -> Self:
        """The trend as of ``end`` (default: the newest event)."""
        ts = np.asarray(timestamps)
        self.end = float(end if end is not None else (ts.max() if ts.size else 0))
        self.current, previous = window_counts(items, ts, n_items, self.end, self.window)
        self.growth = self.current - previous
        return self

    def ranking(self) -> np.ndarray:
        """Item indices, most trending first."""
        return np.lexsort((np.arange(self.n_items), -self.current, -self.growth))

    def rates(self) -> np.ndarray:
        """Growth scaled to [0, 1] (the score Trending-Now campaigns return)."""
        low, high = float(self.growth.min(initial=0.0)), float(self.growth.max(initial=0.0))
        return (self.growth - low) / (high - low) if high > low else \
            np.zeros_like(self.growth)

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        h = check_histories(histories, self.n_items)
        key = np.empty(self.n_items, dtype=np.float32)
        key[self.ranking()] = np.arange(self.n_items, 0, -1, dtype=np.float32)
        return np.tile(key, (h.shape[0], 1))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"window": np.array(self.window), "end": np.array(self.end),
                "growth": self.growth, "current": self.current}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Self:
        model = cls(scalar(arrays, "window"))
        model.end = scalar(arrays, "end")
        model.growth = np.asarray(arrays["growth"], dtype=np.float32)
        model.current = np.asarray(arrays["current"], dtype=np.float32)
        return model
