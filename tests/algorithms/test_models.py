"""Contract tests every model passes, on benfred/implicit's checkerboard and friends."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from chalicelib.algorithms import (
    EASE,
    ImplicitALS,
    ModelFitError,
    PopularityCount,
    Recommender,
    Sims,
    _cg,
    load_model,
    save_model,
)

FACTORIES: dict[str, Callable[[], Recommender]] = {
    "popularity": PopularityCount,
    "ease": EASE,
    "als": lambda: ImplicitALS(factors=16, iterations=10, random_state=3),
    "sims": Sims,
}
PERSONALIZED = ["ease", "als", "sims"]


@pytest.fixture(params=sorted(FACTORIES))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def fitted(checker: sp.csr_matrix) -> dict[str, Recommender]:
    return {name: make().fit(checker) for name, make in FACTORIES.items()}


def test_fit__returns_self_and_kind(kind: str, checker: sp.csr_matrix) -> None:
    model = FACTORIES[kind]()
    assert model.fit(checker) is model
    assert model.kind == kind and model.n_items == 50


def test_score__shape_and_dtype(kind: str, fitted: dict[str, Recommender]) -> None:
    histories = sp.csr_matrix(np.eye(3, 50, dtype=np.float32))
    scores = fitted[kind].score(histories)
    assert scores.shape == (3, 50) and scores.dtype == np.float32
    assert np.all(np.isfinite(scores))


def test_score__empty_history_row_is_finite(kind: str, fitted: dict[str, Recommender]) -> None:
    scores = fitted[kind].score(sp.csr_matrix((2, 50), dtype=np.float32))
    assert scores.shape == (2, 50) and np.all(np.isfinite(scores))


def test_score__wrong_item_count(kind: str, fitted: dict[str, Recommender]) -> None:
    with pytest.raises(ValueError, match="columns"):
        fitted[kind].score(sp.csr_matrix((1, 49), dtype=np.float32))


@pytest.mark.parametrize("name", PERSONALIZED)
def test_checkerboard__withheld_item_beats_other_parity(
    name: str, fitted: dict[str, Recommender], checker: sp.csr_matrix
) -> None:
    """User u liked every item of u's parity but u: u must outrank every other-parity item."""
    scores = fitted[name].score(checker)
    users = np.arange(50)
    other = (users[:, None] % 2) != (users[None, :] % 2)
    best_other = np.where(other, scores, -np.inf).max(axis=1)
    assert np.all(scores[users, users] > best_other)
    unseen = np.where(checker.toarray() > 0, -np.inf, scores)
    assert np.all(unseen.argmax(axis=1) == users)


def test_save_load__round_trip_through_npz(
    kind: str, fitted: dict[str, Recommender], checker: sp.csr_matrix, tmp_path: Path
) -> None:
    model = fitted[kind]
    path = tmp_path / f"{kind}.npz"
    save_model(model, path)
    with np.load(path, allow_pickle=False) as stored:
        assert str(stored["__kind__"]) == kind
        assert all(stored[name].dtype != object for name in stored.files)
    loaded = load_model(path)
    assert type(loaded) is type(model)
    before, after = model.to_arrays(), loaded.to_arrays()
    assert before.keys() == after.keys()
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)
        assert np.asarray(after[name]).dtype == np.asarray(value).dtype, name
    np.testing.assert_array_equal(loaded.score(checker), model.score(checker))


def test_search_space__names_constructor_arguments(kind: str) -> None:
    cls = type(FACTORIES[kind]())
    params = inspect.signature(cls.__init__).parameters
    for name, (scale, low, high) in cls.search_space.items():
        assert name in params and scale in ("int", "linear", "log") and low < high
        cls(**{name: int(low) if scale == "int" else low})


def test_fit__is_deterministic(kind: str, checker: sp.csr_matrix) -> None:
    first, second = FACTORIES[kind]().fit(checker), FACTORIES[kind]().fit(checker)
    for name, value in first.to_arrays().items():
        np.testing.assert_array_equal(second.to_arrays()[name], value, err_msg=name)


@pytest.mark.parametrize(
    "bad",
    [sp.csr_matrix((4, 5), dtype=np.float32), sp.csr_matrix((0, 0)), sp.csr_matrix([[1.0, -2.0]])],
    ids=["no-interactions", "empty-shape", "negative"],
)
def test_fit__unusable_input(kind: str, bad: sp.csr_matrix) -> None:
    with pytest.raises(ModelFitError):
        FACTORIES[kind]().fit(bad)


def test_popularity__counts_distinct_users_and_ignores_history() -> None:
    x = sp.csr_matrix(np.array([[5.0, 1.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]))
    model = PopularityCount().fit(x)
    assert model.popularity.tolist() == [3.0, 1.0, 0.0]
    scores = model.score(sp.csr_matrix(np.array([[0.0, 0.0, 9.0], [1.0, 0.0, 0.0]])))
    assert scores.tolist() == [[3.0, 1.0, 0.0], [3.0, 1.0, 0.0]]


def test_ease__matches_closed_form(rng: np.random.Generator) -> None:
    x = sp.random(80, 30, density=0.2, random_state=1, format="csr", dtype=np.float32)
    x.data[:] = rng.integers(1, 4, x.nnz)
    model = EASE(l2=10.0).fit(x)
    dense = x.toarray().astype(np.float64)
    p = np.linalg.inv(dense.T @ dense + 10.0 * np.eye(30))
    expected = np.eye(30) - p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.weights, expected, atol=1e-6)
    assert np.all(np.diag(model.weights) == 0.0)
    binary = EASE(l2=10.0, binarize=True).fit(x)
    np.testing.assert_allclose(binary.weights, EASE(l2=10.0).fit((x > 0) * 1.0).weights)


def test_ease__too_many_items_and_bad_l2(checker: sp.csr_matrix) -> None:
    with pytest.raises(ModelFitError, match="at most 49"):
        EASE(max_items=49).fit(checker)
    with pytest.raises(ValueError):
        EASE(l2=0.0)


def test_als__overflowing_confidence_raises() -> None:
    x = sp.csr_matrix(np.array([[1e30, 1.0], [1.0, 1e30]], dtype=np.float32))
    with pytest.raises(ModelFitError, match="overflows"):
        ImplicitALS(alpha=1e10, factors=4, iterations=2).fit(x)


def test_als__nan_factors_raise(checker: sp.csr_matrix, monkeypatch: pytest.MonkeyPatch) -> None:
    solve = _cg.solve

    def poisoned(*args: object, **kwargs: object) -> np.ndarray:
        out = solve(*args, **kwargs)  # type: ignore[arg-type]
        out[0, 0] = np.nan
        return out

    monkeypatch.setattr(_cg, "solve", poisoned)
    with pytest.raises(ModelFitError, match="not finite"):
        ImplicitALS(factors=4, iterations=1).fit(checker)


def test_als__seed_and_thread_count(checker: sp.csr_matrix) -> None:
    base = ImplicitALS(factors=8, iterations=3, random_state=1).fit(checker)
    other_seed = ImplicitALS(factors=8, iterations=3, random_state=2).fit(checker)
    inline = ImplicitALS(factors=8, iterations=3, random_state=1, n_threads=1).fit(checker)
    assert not np.array_equal(base.item_factors, other_seed.item_factors)
    np.testing.assert_array_equal(base.item_factors, inline.item_factors)
    np.testing.assert_array_equal(base.user_factors, inline.user_factors)


def test_als__fold_in_solves_the_least_squares_problem(rng: np.random.Generator) -> None:
    """With as many CG steps as factors, fold-in equals the exact normal-equation solution."""
    x = sp.random(40, 25, density=0.3, random_state=2, format="csr", dtype=np.float32)
    x.data[:] = rng.integers(1, 5, x.nnz)
    model = ImplicitALS(factors=6, regularization=0.1, alpha=3.0, iterations=4)
    model.fit(x)
    model.fold_in_steps = 40
    y = model.item_factors.astype(np.float64)
    folded = model.fold_in(x[:5])
    for u in range(5):
        w = x[u].toarray().ravel()
        conf = 1.0 + 3.0 * w
        lam = 0.1 * conf[w > 0].sum()
        a = y.T @ y + lam * np.eye(6) + y.T @ np.diag(np.where(w > 0, conf - 1, 0)) @ y
        b = y.T @ np.where(w > 0, conf, 0.0)
        np.testing.assert_allclose(folded[u], np.linalg.solve(a, b), rtol=1e-3, atol=1e-4)


def test_als__fold_in_recovers_training_factors(planted_matrix: sp.csr_matrix) -> None:
    model = ImplicitALS(factors=16, iterations=10).fit(planted_matrix)
    folded = model.fold_in(planted_matrix)
    cos = np.sum(folded * model.user_factors, axis=1) / (
        np.linalg.norm(folded, axis=1) * np.linalg.norm(model.user_factors, axis=1)
    )
    assert cos.mean() > 0.99
