"""Offline metrics against the normative reference of spec D.6, and the hold-out split."""

from __future__ import annotations

import numpy as np
import pytest

from chalicelib.algorithms import METRIC_NAMES, ModelFitError, holdout_split, ranking_metrics

# ---- reference implementation, copied verbatim from spec D.6 --------------------------------


def ndcg_at_k(ranked, relevant, k):
    gains = [1.0 / np.log(1 + i) for i, it in enumerate(ranked[:k], start=1) if it in relevant]
    ideal = sum(1.0 / np.log(1 + i) for i in range(1, min(len(relevant), k) + 1))
    return (sum(gains) / ideal) if ideal > 0 else 0.0


def precision_at_k(ranked, relevant, k):
    return sum(1 for it in ranked[:k] if it in relevant) / float(k)


def reciprocal_rank_at_25(ranked, relevant):
    for i, it in enumerate(ranked[:25], start=1):
        if it in relevant:
            return 1.0 / i
    return 0.0


def evaluate(test_users, recommend, catalogue_size):
    """test_users: {user: (history_items_in_time_order, relevant_set)}; recommend(user, history) -> list of 25 ids"""  # noqa: E501
    acc = {k: [] for k in ("mrr", "p5", "p10", "p25", "n5", "n10", "n25")}
    seen = set()
    for u, (hist, rel) in test_users.items():
        if not rel:
            continue
        recs = recommend(u, hist)[:25]
        seen.update(recs)
        acc["mrr"].append(reciprocal_rank_at_25(recs, rel))
        for k in (5, 10, 25):
            acc[f"p{k}"].append(precision_at_k(recs, rel, k))
            acc[f"n{k}"].append(ndcg_at_k(recs, rel, k))
    m = lambda xs: round(float(np.mean(xs)) if xs else 0.0, 4)  # noqa: E731
    return {
        "coverage": round(len(seen) / float(catalogue_size), 4),
        "mean_reciprocal_rank_at_25": m(acc["mrr"]),
        "normalized_discounted_cumulative_gain_at_5": m(acc["n5"]),
        "normalized_discounted_cumulative_gain_at_10": m(acc["n10"]),
        "normalized_discounted_cumulative_gain_at_25": m(acc["n25"]),
        "precision_at_5": m(acc["p5"]),
        "precision_at_10": m(acc["p10"]),
        "precision_at_25": m(acc["p25"]),
    }


# ---- helpers ---------------------------------------------------------------------------------


def csr(sets: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    indptr = np.concatenate([[0], np.cumsum([len(s) for s in sets])])
    items = np.array([i for s in sets for i in s], dtype=np.int64)
    return indptr, items


def padded(lists: list[list[int]], width: int = 25) -> np.ndarray:
    return np.array([row + [-1] * (width - len(row)) for row in lists], dtype=np.int64)


# ---- ranking_metrics -------------------------------------------------------------------------


def test_metric_names__spec_order() -> None:
    assert METRIC_NAMES == (
        "coverage",
        "mean_reciprocal_rank_at_25",
        "normalized_discounted_cumulative_gain_at_5",
        "normalized_discounted_cumulative_gain_at_10",
        "normalized_discounted_cumulative_gain_at_25",
        "precision_at_5",
        "precision_at_10",
        "precision_at_25",
    )


@pytest.mark.parametrize("seed", range(5))
def test_ranking_metrics__match_reference_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_users, catalogue = 300, 60
    recs, rels = [], []
    for _ in range(n_users):
        n_recs = int(rng.choice([25, 25, 25, 10, 3, 0]))
        recs.append(rng.permutation(catalogue)[:n_recs].tolist())
        # duplicates in the held-out items collapse: relevance is a set
        rels.append(rng.integers(0, catalogue, int(rng.integers(0, 8))).tolist())
    indptr, items = csr(rels)
    got = ranking_metrics(padded(recs), indptr, items, catalogue)
    users = {u: ([], set(rels[u])) for u in range(n_users)}
    expected = evaluate(users, lambda u, hist: recs[u], catalogue)
    assert list(got) == list(METRIC_NAMES)
    assert got == expected


def test_ranking_metrics__worked_examples_of_spec() -> None:
    # relevant at ranks 2 and 5, |R| = 2, K = 5
    ndcg = ranking_metrics(padded([[9, 1, 8, 7, 2]]), *csr([[1, 2]]), 10)
    assert ndcg["normalized_discounted_cumulative_gain_at_5"] == 0.6241
    assert ndcg["precision_at_5"] == 0.4
    # first hit at rank 4 (and another at 10)
    mrr = ranking_metrics(padded([[10, 11, 12, 1, 13, 14, 15, 16, 17, 2]]), *csr([[1, 2]]), 20)
    assert mrr["mean_reciprocal_rank_at_25"] == 0.25
    assert mrr["precision_at_10"] == 0.2


def test_ranking_metrics__skips_users_without_relevant_items_and_coverage() -> None:
    recs = padded([[0, 1, 2], [3, 4, 5], [0, 6]])
    result = ranking_metrics(recs, *csr([[0], [], [6]]), 20)
    assert result["precision_at_5"] == 0.2  # both counted users hit once in the top 5
    assert result["mean_reciprocal_rank_at_25"] == 0.75  # ranks 1 and 2
    assert result["coverage"] == 0.2  # items 0, 1, 2, 6 of users with relevant items
    empty = ranking_metrics(recs, *csr([[], [], []]), 20)
    assert all(value == 0.0 for value in empty.values())


def test_ranking_metrics__short_lists_and_bad_shapes() -> None:
    result = ranking_metrics(np.array([[3]]), *csr([[3]]), 4)
    assert result["precision_at_25"] == 0.04 and result["coverage"] == 0.25
    with pytest.raises(ValueError):
        ranking_metrics(np.array([[3]]), np.array([0, 1, 1]), np.array([3]), 4)


# ---- holdout_split ---------------------------------------------------------------------------


def reference_split(users, items, timestamps, fraction, seed):
    """Per-user loop version of the spec D.6 split helper (eligible users only)."""
    ids, counts = np.unique(users, return_counts=True)
    eligible = ids[counts >= 2]
    rng = np.random.default_rng(seed)
    test = sorted(rng.choice(eligible, size=max(1, round(fraction * len(eligible))), replace=False))
    result = {}
    for u in test:
        events = [e for e in range(len(users)) if users[e] == u]
        events.sort(key=lambda e: (timestamps[e], e))
        cut = max(1, int(np.floor(0.9 * len(events))))
        result[int(u)] = (events[:cut], sorted({int(items[e]) for e in events[cut:]}))
    return result


@pytest.fixture
def log(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = 3000
    users = rng.integers(0, 200, n)
    items = rng.integers(0, 80, n)
    timestamps = rng.integers(0, 50, n).astype(np.int64)  # many ties
    return users, items, timestamps


def test_holdout_split__matches_reference(log: tuple[np.ndarray, ...]) -> None:
    users, items, timestamps = log
    split = holdout_split(users, items, timestamps, test_fraction=0.1, seed=7)
    expected = reference_split(users, items, timestamps, 0.1, 7)
    assert split.test_users.tolist() == sorted(expected)
    for row, u in enumerate(split.test_users):
        history, relevant = expected[int(u)]
        lo, hi = split.history_indptr[row], split.history_indptr[row + 1]
        assert split.history_events[lo:hi].tolist() == history
        lo, hi = split.relevant_indptr[row], split.relevant_indptr[row + 1]
        assert split.relevant_items[lo:hi].tolist() == relevant
    assert np.array_equal(split.train_mask, ~np.isin(users, split.test_users))


def test_holdout_split__eligibility_size_and_determinism() -> None:
    users = np.array([0, 0, 1, 2, 2, 2, 3])
    items = np.arange(7)
    timestamps = np.array([5, 1, 0, 3, 2, 1, 0])
    split = holdout_split(users, items, timestamps, test_fraction=0.5, seed=1)
    assert split.test_users.size == 1 and split.test_users[0] in (0, 2)  # 1 of 2 eligible
    again = holdout_split(users, items, timestamps, test_fraction=0.5, seed=1)
    assert split.test_users.tolist() == again.test_users.tolist()
    everyone = holdout_split(users, items, timestamps, test_fraction=1.0, seed=1)
    assert everyone.test_users.tolist() == [0, 2]
    assert everyone.history_events.tolist() == [1, 5, 4]  # oldest first, cut = max(1, 0.9n)
    assert everyone.relevant_items.tolist() == [0, 3]
    assert everyone.last_history_events().tolist() == [1, 4]
    with pytest.raises(ModelFitError):
        holdout_split(np.array([0, 1]), np.array([0, 1]), np.array([0, 0]))


def test_holdout_split__history_matrix(log: tuple[np.ndarray, ...]) -> None:
    users, items, timestamps = log
    split = holdout_split(users, items, timestamps, seed=3)
    weights = np.linspace(0.5, 2.0, users.size)
    matrix = split.history_matrix(items, 80, weights)
    assert matrix.shape == (split.test_users.size, 80)
    dense = np.zeros((split.test_users.size, 80))
    for row in range(split.test_users.size):
        events = split.history_events[split.history_indptr[row] : split.history_indptr[row + 1]]
        np.add.at(dense[row], items[events], weights[events])
    np.testing.assert_allclose(matrix.toarray(), dense, rtol=1e-6)
    assert split.history_matrix(items, 80).sum() == split.history_events.size
