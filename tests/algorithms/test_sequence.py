"""Recency weights, next-item transitions and the sequence-aware wrapper."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms import (
    EASE,
    SequenceAware,
    load_model,
    recency_weights,
    save_model,
    sequence_histories,
    top_n,
    transitions,
)


def test_recency_weights_halve_every_half_life() -> None:
    w = recency_weights(np.array([0, 3, 3, 4]), half_life=1.0)
    assert np.allclose(w, [0.25, 0.5, 1.0, 1.0])
    assert np.allclose(recency_weights(np.array([0, 2]), float("inf")), [1.0, 1.0])


def test_sequence_histories_rows_and_last_items() -> None:
    rows, last = sequence_histories(np.array([0, 3, 3]), np.array([2, 0, 2]), 4, 1.0)
    assert last.tolist() == [2, -1]
    assert np.allclose(rows.toarray(), [[0.5, 0, 1.25, 0], [0, 0, 0, 0]])


def test_transitions_count_consecutive_distinct_items_per_user() -> None:
    users = np.array([0, 0, 0, 0, 1, 1])
    items = np.array([1, 1, 2, 1, 2, 0])
    t = transitions(users, items, 3).toarray()
    # user 0: 1->2, 2->1 (the repeat 1,1 is not a step); user 1: 2->0; user 0->1 boundary none
    assert np.allclose(t, [[0, 0, 0], [0, 0, 1], [0.5, 0.5, 0]])


def test_next_item_term_follows_the_last_item(tmp_path: object) -> None:
    # Item i is always followed by i+1 (mod 6); co-occurrence alone cannot tell the order.
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(300):
        start = rng.integers(0, 6)
        for step in range(4):
            users.append(u)
            items.append((start + step) % 6)
    users, items = np.array(users), np.array(items)
    x = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)), shape=(300, 6))
    model = SequenceAware(EASE(l2=10.0).fit(x), half_life=2.0, gamma=2.0,
                          next_items=transitions(users, items, 6))
    rows, last = sequence_histories(np.array([0, 2]), np.array([3, 4]), 6, 2.0)
    seen = rows.toarray() > 0
    idx, _ = top_n(model.score(rows, last), 1, exclude=seen)
    assert idx[0, 0] == 5  # the successor of the last item
    path = f"{tmp_path}/m.npz"
    save_model(model, path)
    again = load_model(path)
    assert isinstance(again, SequenceAware) and again.gamma == 2.0 and again.half_life == 2.0
    assert np.allclose(again.score(rows, last), model.score(rows, last))


def test_one_row_scores_equal_the_rows_of_a_batch() -> None:
    """A request scores one user through shorter paths (sequence_histories' one-row branch,
    SequenceAware's in-place arithmetic); a batch job scores many at once. They must give
    the same numbers, bit for bit, or a batch line would differ from the real-time answer."""
    rng = np.random.default_rng(3)
    n_users, n_items = 60, 40
    users = np.repeat(np.arange(n_users), 12)
    items = rng.integers(0, n_items, len(users))
    x = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)),
                      shape=(n_users, n_items))
    model = SequenceAware(EASE(l2=5.0).fit(x), half_life=3.0, gamma=1.5,
                          next_items=transitions(users, items, n_items))
    lengths = rng.integers(0, 15, 8)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    events = rng.integers(0, n_items, indptr[-1])
    rows, last = sequence_histories(indptr, events, n_items, model.half_life)
    batch = model.score(rows, last)
    for r in range(len(lengths)):
        one, one_last = sequence_histories(np.array([0, lengths[r]]),
                                           events[indptr[r]:indptr[r + 1]], n_items,
                                           model.half_life)
        assert one.indices.tolist() == rows.indices[rows.indptr[r]:rows.indptr[r + 1]].tolist()
        assert one_last.tolist() == [last[r]]
        np.testing.assert_array_equal(model.score(one, one_last)[0], batch[r])
