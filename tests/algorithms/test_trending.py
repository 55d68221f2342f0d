"""Trending-Now: growth between consecutive windows, and its accuracy metric."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms import (
    TrendingNow,
    load_model,
    save_model,
    trend_prediction_accuracy,
    window_counts,
)


def test_window_counts() -> None:
    current, previous = window_counts(np.array([0, 0, 1, 2]), np.array([1, 12, 13, 3]), 3,
                                      end=15, window=10)
    assert current.tolist() == [1, 1, 0] and previous.tolist() == [1, 0, 1]


def test_growth_ranks_rising_items_first(tmp_path: object) -> None:
    # item 0: popular but flat; item 1: small but rising; item 2: falling
    items = np.array([0] * 50 + [0] * 50 + [1] * 2 + [1] * 20 + [2] * 30 + [2] * 5)
    ts = np.array([5] * 50 + [15] * 50 + [5] * 2 + [15] * 20 + [5] * 30 + [15] * 5)
    model = TrendingNow(window=10).fit_events(items, ts, 3)
    assert model.ranking().tolist() == [1, 0, 2]
    assert model.rates()[1] == 1.0 and model.rates()[2] == 0.0
    path = f"{tmp_path}/t.npz"
    save_model(model, path)
    again = load_model(path)
    assert isinstance(again, TrendingNow) and again.ranking().tolist() == [1, 0, 2]
    scores = again.score(sp.csr_matrix((2, 3), dtype=np.float32))
    assert scores.shape == (2, 3) and scores[0].argmax() == 1


def test_trend_prediction_accuracy() -> None:
    increase = np.array([5.0, 3.0, -2.0, 0.0])
    assert trend_prediction_accuracy(np.array([0, 1]), increase, k=2) == 1.0
    assert trend_prediction_accuracy(np.array([2, 1]), increase, k=2) == 3 / 8
    assert trend_prediction_accuracy(np.array([0]), np.zeros(4), k=1) == 0.0


def test_fit_without_timestamps_falls_back_to_counts() -> None:
    x = sp.csr_matrix(np.array([[1, 0, 1], [0, 0, 1]], dtype=np.float32))
    assert TrendingNow().fit(x).ranking().tolist() == [2, 0, 1]
