"""Popularity refined by user attributes: known answers on a tiny matrix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms import attribute_labels, attribute_lifts, attribute_scores


def test_lift_measures_over_representation() -> None:
    # 4 users; users 0 and 1 have value 0, users 2 and 3 value 1.
    values = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.float32))
    # item 0: both value-0 users; item 1: everyone; item 2: user 3 only.
    items = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1]],
                                   dtype=np.float32))
    lifts = attribute_lifts(values, items).toarray()
    # value 0, item 0: 2 takers where popularity predicts 2 * 0.5 = 1 -> log(3 / 2).
    assert np.isclose(lifts[0, 0], np.log(3 / 2))
    # item 1 is taken by everyone: no lift for anyone.
    assert np.isclose(lifts[0, 1], 0.0) and np.isclose(lifts[1, 1], 0.0)
    assert np.isclose(lifts[1, 2], np.log(2 / 1.5))
    assert lifts[0, 2] == 0.0  # never taken by value-0 users: not kept
    top_only = attribute_lifts(values, items, k=1).toarray()
    assert (top_only != 0).sum(axis=1).max() <= 1


def test_scores_are_popularity_plus_lifts() -> None:
    pop = np.array([2, 4, 1])
    lifts = sp.csr_matrix(np.array([[0.5, 0.0], [0.0, 1.0]]))  # model knows 2 items
    plain = attribute_scores(pop, lifts, np.zeros(0, dtype=np.int64))
    assert np.allclose(plain, np.log1p(pop))
    refined = attribute_scores(pop, lifts, np.array([0, 1]))
    assert np.allclose(refined, np.log1p(pop) + [0.5, 1.0, 0.0])


def test_labels_split_multi_valued_fields() -> None:
    assert attribute_labels({"A": "X|y ", "B": None, "C": "z"}, ["A", "B", "C"]) == \
        ["A=x", "A=y", "C=z"]
