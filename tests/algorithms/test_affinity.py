"""User segmentation (Item-Affinity, Item-Attribute-Affinity): known answers on tiny data,
planted taste clusters, determinism."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp

from chalicelib.algorithms import (
    ItemAffinity,
    load_model,
    match_items,
    parse_item_query,
    save_model,
    segment_metrics,
    segment_size,
    segment_split,
)

# -- known answers ----------------------------------------------------------------------

# 3 users x 3 items. Test: users 0 and 1 took item 0, user 2 took item 1; item 2 has none.
TEST = sp.csr_matrix(np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32))
# affinity[item, user]
AFFINITY = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.3], [0.0, 0.0, 0.0]], dtype=np.float32)


def scores(items: np.ndarray) -> np.ndarray:
    return AFFINITY[items]


def test_segment_size__one_percent_rounded_up() -> None:
    assert [segment_size(n) for n in (0, 3, 100, 101, 250, 1000)] == [1, 1, 1, 2, 3, 10]


def test_segment_metrics__hand_computed() -> None:
    # 3 users -> segments of 1. Item 0: user 0 is a test user (hit 1 of 2 -> recall 0.5).
    # Item 1: user 0 is not (hit 0 of 1). Item 2 has no test users and is not averaged.
    assert segment_metrics(scores, TEST) == {"hits_at_1_percent": 0.5,
                                             "recall_at_1_percent": 0.25}


def test_segment_metrics__excluded_pairs_leave_the_segment() -> None:
    # User 0 already had item 1: its segment becomes user 2, a test user (hit 1 of 1).
    exclude = sp.csr_matrix(([1.0], ([0], [1])), shape=(3, 3))
    assert segment_metrics(scores, TEST, exclude) == {"hits_at_1_percent": 1.0,
                                                      "recall_at_1_percent": 0.75}


def test_segment_metrics__blocks_and_sampling_do_not_change_the_answer() -> None:
    assert segment_metrics(scores, TEST, block_cells=1) == segment_metrics(scores, TEST)
    one = segment_metrics(scores, TEST, max_items=1, seed=3)
    assert one in ({"hits_at_1_percent": 1.0, "recall_at_1_percent": 0.5},
                   {"hits_at_1_percent": 0.0, "recall_at_1_percent": 0.0})


def test_segment_metrics__no_test_items() -> None:
    assert segment_metrics(scores, sp.csr_matrix((3, 3))) == {
        "hits_at_1_percent": 0.0, "recall_at_1_percent": 0.0}


def test_segment_split__oldest_80_percent_of_each_user_train() -> None:
    # user 0: 5 events -> 4 train; user 1: 2 -> 1; user 2: 1 -> 1 (never only test).
    users = np.array([0, 1, 0, 0, 0, 2, 1, 0])
    assert segment_split(users).tolist() == [True, True, True, True, True, True, False, False]


ITEMS = {
    "GENRE": np.array(["comedy|drama", "comedy", "action", "", 'say "hi"']),
    "YEAR": np.array([1999, 2000, 1999, 0, 2001]),
    "PRICE": np.array([9.5, np.nan, 9.5, np.nan, 1.0]),
    "KIDS": np.array([True, False, True, False, False]),
}


@pytest.mark.parametrize(("query", "expected"), [
    ('ITEMS.GENRE = "comedy"', [1, 1, 0, 0, 0]),
    ('items.genre = "drama"', [1, 0, 0, 0, 0]),  # one of the |-separated values
    ('ITEMS.GENRE = "comedy" AND ITEMS.GENRE = "drama"', [1, 0, 0, 0, 0]),
    ('ITEMS.GENRE = "comedy" and ITEMS.YEAR = 1999', [1, 0, 0, 0, 0]),
    ('ITEMS.GENRE = "Comedy"', [0, 0, 0, 0, 0]),  # values are case-sensitive
    ('ITEMS.GENRE = "com"', [0, 0, 0, 0, 0]),  # whole values only
    ('ITEMS.GENRE = ""', [0, 0, 0, 0, 0]),
    (r'ITEMS.GENRE = "say \"hi\""', [0, 0, 0, 0, 1]),
    ('ITEMS.YEAR = "1999"', [1, 0, 1, 0, 0]),
    ("ITEMS.PRICE = 9.5", [1, 0, 1, 0, 0]),
    ('ITEMS.KIDS = "TRUE"', [1, 0, 1, 0, 0]),
    ("YEAR=2000", [0, 1, 0, 0, 0]),
])
def test_match_items(query: str, expected: list[int]) -> None:
    assert match_items(query, ITEMS).tolist() == [bool(e) for e in expected]


def test_match_items__unknown_items_never_match() -> None:
    known = np.array([True, True, True, False, True])
    assert not match_items("ITEMS.YEAR = 0", ITEMS, known).any()
    assert match_items("ITEMS.YEAR = 0", ITEMS).tolist() == [False, False, False, True, False]


@pytest.mark.parametrize(("query", "message"), [
    ('ITEMS.COLOR = "red"', "unknown item attribute"),
    ('ITEMS.GENRE == "comedy"', "cannot parse"),
    ('ITEMS.GENRE = "comedy" OR ITEMS.GENRE = "drama"', "cannot parse"),
    ('ITEMS.GENRE = "comedy" AND', "cannot parse"),
    ('ITEMS.YEAR = "recent"', "expected a number"),
    ('ITEMS.KIDS = "yes"', "expected true or false"),
])
def test_match_items__errors(query: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        match_items(query, ITEMS)


def test_parse_item_query() -> None:
    assert parse_item_query(" ITEMS.genres='a b' AND Items.Year = 3 ") == [
        ("genres", "a b"), ("Year", "3")]


# -- planted taste clusters ---------------------------------------------------------------

@dataclass(frozen=True)
class Planted:
    users: np.ndarray  # time-ordered events
    items: np.ndarray
    user_cluster: np.ndarray
    item_cluster: np.ndarray

    def matrix(self, keep: np.ndarray) -> sp.csr_matrix:
        shape = (len(self.user_cluster), len(self.item_cluster))
        m = sp.csr_matrix((np.ones(int(keep.sum()), np.float32),
                           (self.users[keep], self.items[keep])), shape=shape)
        m.sum_duplicates()
        return m


def planted_clusters(n_users: int = 500, n_items: int = 150, n_clusters: int = 6,
                     own: float = 0.85, seed: int = 0) -> Planted:
    """Users pick items of their own taste cluster with probability ``own``, otherwise by
    global (Zipf) popularity; activity is heavy-tailed, so the most active users are a real
    but cluster-blind baseline. Events are shuffled in time."""
    rng = np.random.default_rng(seed)
    item_cluster = np.arange(n_items) % n_clusters
    user_cluster = rng.integers(0, n_clusters, n_users)
    counts = np.minimum(5 + rng.pareto(1.5, n_users) * 10, 150).astype(np.int64)
    users = np.repeat(np.arange(n_users), counts)
    pick = rng.integers(0, n_items // n_clusters, users.size) * n_clusters
    in_cluster = pick + user_cluster[users]
    zipf = 1.0 / np.arange(1, n_items + 1)
    noise = rng.choice(n_items, users.size, p=zipf / zipf.sum())
    items = np.where(rng.random(users.size) < own, in_cluster, noise)
    order = rng.permutation(users.size)
    return Planted(users[order], items[order], user_cluster, item_cluster)


@pytest.fixture(scope="module")
def clusters() -> Planted:
    return planted_clusters()


@pytest.fixture(scope="module")
def fitted(clusters: Planted) -> ItemAffinity:
    return ItemAffinity(factors=16).fit(clusters.matrix(np.ones(clusters.users.size, bool)))


def test_item_segment_is_the_items_cluster(clusters: Planted, fitted: ItemAffinity) -> None:
    items = np.arange(0, 150, 7)
    users, scores = fitted.users_for_items(items, 20)
    assert users.shape == (len(items), 20) and np.all(np.diff(scores, axis=1) <= 0)
    same = clusters.user_cluster[users] == clusters.item_cluster[items][:, None]
    assert same.mean() >= 0.9


def test_genre_segment_is_the_genres_cluster(clusters: Planted, fitted: ItemAffinity) -> None:
    genre = np.array([f"g{c}" for c in clusters.item_cluster])
    for c in range(6):
        mask = match_items(f'ITEMS.GENRE = "g{c}"', {"GENRE": genre})
        users, _ = fitted.users_for_mask(mask, 30)
        assert (clusters.user_cluster[users] == c).mean() >= 0.9, c


def test_users_for_items__exclude_and_empty_mask(fitted: ItemAffinity,
                                                 clusters: Planted) -> None:
    seen = clusters.matrix(np.ones(clusters.users.size, bool))
    users, _ = fitted.users_for_items(np.array([3]), 40, exclude=seen)
    assert not seen[users[0], 3].toarray().any()
    users, scores = fitted.users_for_mask(np.zeros(150, bool), 5)
    assert users.tolist() == [-1] * 5 and np.isneginf(scores).all()
    with pytest.raises(IndexError):
        fitted.users_for_items(np.array([150]), 5)


def test_beats_the_most_active_users(clusters: Planted) -> None:
    train = segment_split(clusters.users)
    train_x, test_x = clusters.matrix(train), clusters.matrix(~train)
    activity = np.asarray(train_x.sum(axis=1)).ravel().astype(np.float32)
    baseline = segment_metrics(lambda items: np.tile(activity, (len(items), 1)), test_x)
    model = ItemAffinity(factors=16).fit(train_x)
    got = segment_metrics(model.item_affinity, test_x)
    assert got["hits_at_1_percent"] > 1.5 * baseline["hits_at_1_percent"], (got, baseline)
    assert got["recall_at_1_percent"] > baseline["recall_at_1_percent"]
    assert 0.0 < got["recall_at_1_percent"] <= 1.0


def test_deterministic_and_round_trips(clusters: Planted, fitted: ItemAffinity) -> None:
    again = ItemAffinity(factors=16).fit(clusters.matrix(np.ones(clusters.users.size, bool)))
    np.testing.assert_array_equal(again.user_factors, fitted.user_factors)
    np.testing.assert_array_equal(again.user_prior, fitted.user_prior)
    buf = io.BytesIO()
    save_model(fitted, buf)
    buf.seek(0)
    loaded = load_model(buf)
    assert isinstance(loaded, ItemAffinity)
    items = np.arange(10)
    np.testing.assert_array_equal(loaded.users_for_items(items, 5)[0],
                                  fitted.users_for_items(items, 5)[0])
    mask = np.arange(150) % 6 == 2
    np.testing.assert_array_equal(loaded.users_for_mask(mask, 5)[0],
                                  fitted.users_for_mask(mask, 5)[0])
