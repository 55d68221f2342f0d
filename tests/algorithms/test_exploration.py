"""Item exploration: which items are cold, and how they are mixed into a list."""

from __future__ import annotations

import numpy as np

from chalicelib.algorithms import cold_candidates, explore
from chalicelib.algorithms.exploration import PROTECTED_SLOTS

DAY = 86400.0


def test_cold_items_are_young_and_rarely_used() -> None:
    counts = np.array([0, 2, 2, 50, 0])
    ages = np.array([1 * DAY, 3 * DAY, 40 * DAY, 1 * DAY, np.nan])
    # new; young and rare; too old; too popular; no interactions, age unknown -> new
    assert cold_candidates(counts, ages, 30 * DAY, 5).tolist() == [True, True, False, False,
                                                                   True]
    assert cold_candidates(counts, ages, 2 * DAY, 5).tolist() == [True, False, False, False,
                                                                  True]


def test_weight_zero_keeps_the_list() -> None:
    ranked = np.arange(10)
    out = explore(ranked, np.full(20, 0.05), np.arange(15, 20), 0.0, np.random.default_rng(0))
    assert out.tolist() == ranked.tolist()


def test_exploration_replaces_a_share_of_slots_after_the_top() -> None:
    ranked = np.arange(10)
    probs = np.full(30, 1 / 30)
    candidates = np.arange(20, 30)
    out = explore(ranked, probs, candidates, 0.5, np.random.default_rng(1))
    assert len(out) == 10 and len(set(out.tolist())) == 10
    assert out[:PROTECTED_SLOTS].tolist() == ranked[:PROTECTED_SLOTS].tolist()
    explored = np.isin(out, candidates)
    assert explored.sum() == round(0.5 * (10 - PROTECTED_SLOTS))
    # The exploitation items that stay keep their relative order.
    kept = out[~explored]
    assert kept.tolist() == sorted(kept.tolist())
    full = explore(ranked, probs, candidates, 1.0, np.random.default_rng(1))
    assert np.isin(full[PROTECTED_SLOTS:], candidates).all()


def test_draw_is_reproducible_and_prefers_likely_items() -> None:
    ranked = np.arange(5)
    probs = np.zeros(200)
    probs[100] = 0.9  # a cold item the model already likes
    candidates = np.arange(100, 200)
    a = explore(ranked, probs, candidates, 0.25, np.random.default_rng(7))
    b = explore(ranked, probs, candidates, 0.25, np.random.default_rng(7))
    assert a.tolist() == b.tolist()
    hits = sum(100 in explore(ranked, probs, candidates, 0.25, np.random.default_rng(s))
               for s in range(50))
    assert hits > 25  # uniform drawing would pick it about once in 50


def test_fewer_candidates_than_slots() -> None:
    out = explore(np.arange(8), np.full(12, 0.1), np.array([10, 11]), 1.0,
                  np.random.default_rng(0))
    assert sorted(out[np.isin(out, [10, 11])].tolist()) == [10, 11]
    assert len(set(out.tolist())) == 8


def test_explored_slots_are_spread_as_linspace_would() -> None:
    from chalicelib.algorithms.exploration import _spread

    for stop in range(120):
        for num in range(1, 30):
            np.testing.assert_array_equal(_spread(stop, num), np.linspace(0, stop, num))
