"""top_n, softmax, input checks and the model registry."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp

from chalicelib.algorithms import (
    EASE,
    MODELS,
    ImplicitALS,
    ModelFitError,
    PopularityCount,
    Recommender,
    SequenceAware,
    Sims,
    TrendingNow,
    load_model,
    save_model,
    softmax,
    top_n,
)
from chalicelib.algorithms.base import check_histories, check_user_items


def test_top_n__sorted_descending_with_scores() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [3.0, 1.0, 2.0, 0.0]], dtype=np.float32)
    idx, vals = top_n(scores, 3)
    assert idx.tolist() == [[1, 3, 2], [0, 2, 1]]
    np.testing.assert_array_equal(vals, np.float32([[0.9, 0.7, 0.5], [3.0, 2.0, 1.0]]))
    assert vals.dtype == np.float32


def test_top_n__matches_full_sort_on_random_rows(rng: np.random.Generator) -> None:
    scores = rng.standard_normal((50, 200))
    idx, vals = top_n(scores, 25)
    expected = np.argsort(-scores, axis=1)[:, :25]
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_array_equal(vals, np.take_along_axis(scores, expected, axis=1))


def test_top_n__exclude_mask_2d_and_broadcast_1d() -> None:
    scores = np.array([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    mask = np.array([[True, False, False, False], [False, False, False, True]])
    assert top_n(scores, 2, exclude=mask)[0].tolist() == [[1, 2], [2, 1]]
    assert top_n(scores, 2, exclude=np.array([False, True, True, False]))[0].tolist() == [
        [0, 3],
        [3, 0],
    ]


def test_top_n__pads_when_fewer_valid_items() -> None:
    scores = np.array([[1.0, 2.0, 3.0]])
    idx, vals = top_n(scores, 5, exclude=np.array([True, False, False]))
    assert idx.tolist() == [[2, 1, -1, -1, -1]]
    assert vals[0, :2].tolist() == [3.0, 2.0]
    assert np.all(np.isneginf(vals[0, 2:]))


def test_top_n__one_dimensional_input() -> None:
    idx, vals = top_n(np.array([0.2, 0.8, 0.5]), 2)
    assert idx.shape == (2,) and idx.tolist() == [1, 2]
    assert vals.tolist() == pytest.approx([0.8, 0.5])


def test_top_n__nan_and_neg_inf_are_never_recommended() -> None:
    idx, _ = top_n(np.array([np.nan, -np.inf, 1.0, 0.0]), 4)
    assert idx.tolist() == [2, 3, -1, -1]


def test_top_n__ties_prefer_lower_index_and_n_zero() -> None:
    assert top_n(np.ones(5), 3)[0].tolist() == [0, 1, 2]
    idx, vals = top_n(np.ones((2, 5)), 0)
    assert idx.shape == vals.shape == (2, 0)


def test_top_n__one_row_agrees_with_the_row_wise_path(rng: np.random.Generator) -> None:
    """A request's 1-D scores take a shorter path; it must answer as the 2-D one, ties,
    NaN, -inf, exclusions and padding included."""
    for trial in range(200):
        size = int(rng.integers(1, 40))
        row = rng.integers(0, 6, size).astype(np.float32)  # many ties
        row[rng.random(size) < 0.1] = np.nan
        row[rng.random(size) < 0.1] = -np.inf
        mask = rng.random(size) < 0.3 if trial % 2 else None
        n = int(rng.integers(0, size + 5))
        idx, vals = top_n(row, n, exclude=mask)
        ref_idx, ref_vals = top_n(row[None, :], n,
                                  exclude=None if mask is None else mask[None, :])
        valid = ref_idx[0] >= 0  # beyond the valid items only the -1 padding is defined
        assert idx.tolist() == ref_idx[0].tolist()
        np.testing.assert_array_equal(vals[valid], ref_vals[0][valid])
        assert np.all(np.isneginf(vals[~valid]))


def test_softmax__one_row_agrees_with_the_row_wise_path(rng: np.random.Generator) -> None:
    for row in (rng.standard_normal(50).astype(np.float32), np.array([-np.inf, 2.0, 3.0]),
                np.full(4, -np.inf), np.array([1e30, -1e30])):
        np.testing.assert_allclose(softmax(row), softmax(row[None, :])[0], rtol=1e-6)


def test_check_histories__no_copy_only_for_clean_rows() -> None:
    clean = sp.csr_matrix(np.float32([[0, 2, 1]]))
    assert check_histories(clean, 3, copy=False) is clean
    assert check_histories(clean, 3) is not clean
    zeros = sp.csr_matrix((np.float32([0, 1]), [0, 2], [0, 2]), shape=(1, 3))
    assert check_histories(zeros, 3, copy=False).nnz == 1 and zeros.nnz == 2
    with pytest.raises(ValueError, match="columns"):
        check_histories(clean, 4, copy=False)
    with pytest.raises(ValueError, match="finite"):
        check_histories(sp.csr_matrix(np.float32([[np.inf, 1]])), 2, copy=False)


def test_top_n__bad_arguments() -> None:
    with pytest.raises(ValueError):
        top_n(np.ones(3), -1)
    with pytest.raises(ValueError):
        top_n(np.ones((2, 3)), 1, exclude=np.ones(4, dtype=bool))
    with pytest.raises(ValueError):
        top_n(np.ones((2, 2, 2)), 1)


def test_softmax__sums_to_one_and_is_stable() -> None:
    scores = np.array([[1000.0, 1001.0, 999.0], [-5.0, 0.0, 5.0]], dtype=np.float32)
    probs = softmax(scores)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(np.isfinite(probs)) and probs.dtype == np.float32
    assert probs[0].argmax() == 1
    np.testing.assert_allclose(softmax(np.array([0.0, np.log(3.0)])), [0.25, 0.75])


def test_softmax__neg_inf_gets_zero_and_axis_argument() -> None:
    probs = softmax(np.array([0.0, -np.inf, 0.0]))
    assert probs.tolist() == [0.5, 0.0, 0.5]
    assert softmax(np.full(3, -np.inf)).tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(softmax(np.ones((3, 2)), axis=0).sum(axis=0), 1.0)


def test_registry__has_every_model_kind() -> None:
    """Every concrete model is registered under its own kind, so saved models load again."""
    def concrete(cls: type) -> list[type]:
        found = [] if getattr(cls, "__abstractmethods__", None) else [cls]
        return found + [c for sub in cls.__subclasses__() for c in concrete(sub)]

    models = {c for c in concrete(Recommender) if c.__module__.startswith("chalicelib.")}
    assert {c.kind: c for c in models} == MODELS
    assert {PopularityCount, EASE, ImplicitALS, Sims, SequenceAware, TrendingNow} <= models


def test_load_model__unknown_kind_and_missing_kind() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, __kind__=np.array("nope"), x=np.zeros(1))
    buffer.seek(0)
    with pytest.raises(ValueError, match="unknown model kind"):
        load_model(buffer)
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros(1))
    buffer.seek(0)
    with pytest.raises(ValueError, match="__kind__"):
        load_model(buffer)


def test_save_model__to_file_object(checker: sp.csr_matrix) -> None:
    buffer = io.BytesIO()
    save_model(PopularityCount().fit(checker), buffer)
    buffer.seek(0)
    model = load_model(buffer)
    assert isinstance(model, PopularityCount)
    assert model.popularity.tolist() == [24.0] * 50


def test_check_user_items__canonicalises_and_rejects_bad_input() -> None:
    x = sp.coo_matrix(([1.0, 2.0, 0.0], ([0, 0, 1], [1, 1, 0])), shape=(2, 3))
    canonical = check_user_items(x)
    assert canonical.format == "csr" and canonical.dtype == np.float32
    assert canonical.nnz == 1 and canonical[0, 1] == 3.0
    for bad in (
        sp.csr_matrix((3, 4)),
        sp.csr_matrix(np.array([[1.0, -1.0]])),
        sp.csr_matrix(np.array([[1.0, np.nan]])),
        np.ones((2, 2)),
    ):
        with pytest.raises(ModelFitError):
            check_user_items(bad)


def test_check_histories__column_count_and_dense_input() -> None:
    assert check_histories(np.array([0.0, 1.0, 2.0]), 3).shape == (1, 3)
    with pytest.raises(ValueError, match="columns"):
        check_histories(sp.csr_matrix((1, 4)), 3)
    with pytest.raises(ValueError):
        check_histories(np.array([[-1.0, 0.0, 0.0]]), 3)
