"""End-to-end offline evaluation on planted taste clusters: every model must beat popularity."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from chalicelib.algorithms import (
    EASE,
    ImplicitALS,
    PopularityCount,
    Recommender,
    Sims,
    holdout_split,
    ranking_metrics,
    top_n,
)

from .synthetic import Events

NDCG10 = "normalized_discounted_cumulative_gain_at_10"


def drop_seen(candidates: np.ndarray, seen: np.ndarray, n: int) -> np.ndarray:
    """First ``n`` candidates per row that are not -1 and not in the row's ``seen`` mask."""
    keep = (candidates >= 0) & ~np.take_along_axis(seen, np.maximum(candidates, 0), axis=1)
    order = np.argsort(~keep, axis=1, kind="stable")[:, :n]
    return np.where(
        np.take_along_axis(keep, order, axis=1), np.take_along_axis(candidates, order, axis=1), -1
    )


@pytest.fixture(scope="module")
def evaluation(planted: Events) -> dict[str, dict[str, float]]:
    split = holdout_split(planted.users, planted.items, planted.timestamps, 0.2, seed=42)
    train = planted.matrix(split.train_mask)
    history = split.history_matrix(planted.items, planted.n_items)
    seen = history.toarray() > 0

    def evaluate(recommended: np.ndarray) -> dict[str, float]:
        return ranking_metrics(
            recommended, split.relevant_indptr, split.relevant_items, planted.n_items
        )

    def by_score(model: Recommender) -> dict[str, float]:
        return evaluate(top_n(model.fit(train).score(history), 25, exclude=seen)[0])

    sims = Sims().fit(train)
    last_items = planted.items[split.last_history_events()]
    related, _ = sims.related(last_items, 25 + int(seen.sum(axis=1).max()))
    return {
        "popularity": by_score(PopularityCount()),
        "ease": by_score(EASE()),
        "als": by_score(ImplicitALS()),
        "sims": evaluate(drop_seen(related, seen, 25)),
    }


def test_planted__split_has_enough_test_users(planted: Events) -> None:
    split = holdout_split(planted.users, planted.items, planted.timestamps, 0.2, seed=42)
    assert split.test_users.size == 120
    assert isinstance(split.history_matrix(planted.items, planted.n_items), sp.csr_matrix)


@pytest.mark.parametrize("name", ["ease", "als", "sims"])
def test_planted__model_beats_popularity(
    name: str, evaluation: dict[str, dict[str, float]]
) -> None:
    baseline = evaluation["popularity"][NDCG10]
    assert evaluation[name][NDCG10] > 1.3 * baseline + 0.01, evaluation


def test_planted__popularity_has_low_coverage(evaluation: dict[str, dict[str, float]]) -> None:
    assert evaluation["popularity"]["coverage"] < 0.2
    assert all(evaluation[name]["coverage"] > 0.5 for name in ("ease", "als", "sims"))
