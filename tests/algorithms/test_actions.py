"""Next-Best-Action: smoothed base rates, calibrated propensities, planted action groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from chalicelib.algorithms import (
    ModelFitError,
    NextBestAction,
    beta_take_rates,
    fit_calibration,
    holdout_split,
    load_model,
    ranking_metrics,
    save_model,
    top_n,
)

NDCG5 = "normalized_discounted_cumulative_gain_at_5"


def planted_actions(n_users: int = 600, n_actions: int = 30, n_groups: int = 5,
                    seed: int = 0) -> dict[str, np.ndarray]:
    """Each user sees half the actions; users of group g take the actions of group g with
    probability 0.7 and any other action with its own low appeal (0.02 to 0.3)."""
    rng = np.random.default_rng(seed)
    group = np.arange(n_actions) % n_groups
    appeal = rng.uniform(0.02, 0.3, n_actions)
    user_group = rng.integers(0, n_groups, n_users)
    shown = rng.random((n_users, n_actions)) < 0.5
    p = np.where(group[None, :] == user_group[:, None], 0.7, appeal[None, :])
    took = shown & (rng.random((n_users, n_actions)) < p)
    users, actions = np.nonzero(shown)
    return {"users": users, "actions": actions, "taken": took[users, actions],
            "timestamps": rng.integers(0, 10**6, len(users)),
            "shape": np.array([n_users, n_actions])}


def matrices(data: dict[str, np.ndarray], mask: np.ndarray) -> tuple[sp.csr_matrix, ...]:
    shape = tuple(data["shape"])
    u, a, t = data["users"][mask], data["actions"][mask], data["taken"][mask]
    ones = np.ones(len(u), dtype=np.float32)
    return (sp.csr_matrix((ones[t], (u[t], a[t])), shape=shape),
            sp.csr_matrix((ones, (u, a)), shape=shape))


@pytest.fixture(scope="module")
def planted_nba() -> dict[str, np.ndarray]:
    return planted_actions()


def test_beta_take_rates__posterior_mean_of_the_global_prior() -> None:
    # global rate m = 3 / 14; prior strength 2 -> 3/7 pseudo-takes among 2 pseudo-events
    rates = beta_take_rates(np.array([3, 0]), np.array([4, 10]), prior_strength=2.0)
    np.testing.assert_allclose(rates, [(3 + 3 / 7) / 6, (3 / 7) / 12])
    assert rates.tolist() == pytest.approx([4 / 7, 1 / 28])


def test_beta_take_rates__unseen_action_gets_the_global_rate() -> None:
    rates = beta_take_rates(np.array([5, 5, 0]), np.array([10, 10, 0]), prior_strength=10.0)
    assert rates[2] == pytest.approx(0.5) and rates[0] == pytest.approx(0.5)


def test_fit__known_base_rates_and_empty_history() -> None:
    taken = sp.csr_matrix(np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32))
    shown = sp.csr_matrix(np.array([[1, 1, 1], [1, 1, 0], [1, 1, 1]], dtype=np.float32))
    model = NextBestAction(prior_strength=4.0).fit(taken, shown)
    m = 3 / 8
    np.testing.assert_allclose(model.base_rates,
                               [(2 + 4 * m) / 7, (1 + 4 * m) / 7, (0 + 4 * m) / 6])
    empty = model.score(sp.csr_matrix((2, 3), dtype=np.float32))
    np.testing.assert_allclose(empty, np.tile(model.base_rates, (2, 1)), rtol=1e-6)


def test_fit_calibration__recovers_a_logistic_model(rng: np.random.Generator) -> None:
    x = np.column_stack([np.ones(20000), rng.normal(size=20000), rng.normal(size=20000)])
    truth = np.array([-0.5, 1.5, 2.0])
    y = rng.random(20000) < 1.0 / (1.0 + np.exp(-(x @ truth)))
    np.testing.assert_allclose(fit_calibration(x, y, l2=1.0), truth, atol=0.1)
    # one class only: the penalty keeps the solution finite
    assert np.all(np.isfinite(fit_calibration(x, np.ones(20000, dtype=bool), l2=1.0)))


def test_score__probabilities_and_calibrated_on_average(
        planted_nba: dict[str, np.ndarray]) -> None:
    taken, shown = matrices(planted_nba, np.ones(len(planted_nba["users"]), dtype=bool))
    model = NextBestAction().fit(taken, shown)
    scores = model.score(taken)
    assert scores.dtype == np.float32 and scores.shape == taken.shape
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    u, a, t = planted_nba["users"], planted_nba["actions"], planted_nba["taken"]
    active = (np.diff(taken.indptr) > 0)[u]
    assert abs(scores[u[active], a[active]].mean() - t[active].mean()) < 0.03


def test_planted__beats_the_base_rate_baseline(planted_nba: dict[str, np.ndarray]) -> None:
    t = planted_nba["taken"]
    users, actions = planted_nba["users"][t], planted_nba["actions"][t]
    split = holdout_split(users, actions, planted_nba["timestamps"][t], 0.2, seed=3)
    is_test = np.zeros(planted_nba["shape"][0], dtype=bool)
    is_test[split.test_users] = True
    model = NextBestAction().fit(*matrices(planted_nba, ~is_test[planted_nba["users"]]))
    history = split.history_matrix(actions, int(planted_nba["shape"][1]))
    seen = history.toarray() > 0

    def metrics(scores: np.ndarray) -> dict[str, float]:
        recommended, _ = top_n(scores, 25, exclude=seen)
        return ranking_metrics(recommended, split.relevant_indptr, split.relevant_items,
                               int(planted_nba["shape"][1]))

    ours = metrics(model.score(history))
    baseline = metrics(np.tile(model.base_rates, (history.shape[0], 1)))
    assert ours[NDCG5] > baseline[NDCG5] + 0.03, (ours, baseline)


def test_fit__is_deterministic_and_round_trips(planted_nba: dict[str, np.ndarray],
                                               tmp_path: Path) -> None:
    taken, shown = matrices(planted_nba, np.ones(len(planted_nba["users"]), dtype=bool))
    a, b = NextBestAction().fit(taken, shown), NextBestAction().fit(taken, shown)
    for name, value in a.to_arrays().items():
        np.testing.assert_array_equal(value, b.to_arrays()[name])
    path = tmp_path / "nba.npz"
    save_model(a, path)
    again = load_model(path)
    assert isinstance(again, NextBestAction)
    np.testing.assert_array_equal(again.score(taken[:20]), a.score(taken[:20]))


def test_fit__unusable_input() -> None:
    with pytest.raises(ModelFitError):
        NextBestAction().fit(sp.csr_matrix((3, 2), dtype=np.float32))
    taken = sp.csr_matrix(np.eye(2, dtype=np.float32))
    with pytest.raises(ModelFitError, match="shape"):
        NextBestAction().fit(taken, sp.csr_matrix((3, 2), dtype=np.float32))
    with pytest.raises(ValueError):
        NextBestAction(prior_strength=0.0)
