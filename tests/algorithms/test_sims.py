"""SIMS similarity formula, pruning and related-items fallback on a hand-checked matrix."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from chalicelib.algorithms import Sims

# users x items; pop = [3, 4, 2, 2]; co-counts C01=3 C02=1 C03=1 C12=2 C13=1 C23=0
HAND = sp.csr_matrix(
    np.array(
        [
            [1, 1, 1, 0],
            [2, 1, 0, 0],  # a weight of 2 counts like 1: SIMS binarizes
            [1, 1, 0, 1],
            [0, 1, 1, 0],
            [0, 0, 0, 1],
        ],
        dtype=np.float32,
    )
)
POP = np.array([3.0, 4.0, 2.0, 2.0])
CO = np.array([[0, 3, 1, 1], [3, 0, 2, 1], [1, 2, 0, 0], [1, 1, 0, 0]], dtype=np.float64)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_similarity__asymmetric_cosine_formula(beta: float) -> None:
    model = Sims(popularity_discount_factor=beta, min_cointeraction_count=1).fit(HAND)
    expected = CO / (POP[:, None] ** (1 - beta) * POP[None, :] ** beta)
    np.testing.assert_allclose(model.similarity.toarray(), expected, rtol=1e-6)
    assert model.popularity.tolist() == POP.tolist()


def test_similarity__discount_factor_moves_from_popular_to_specific() -> None:
    """Row 0: item 1 co-occurs 3 times but is popular; items 2 and 3 once each."""
    popular = Sims(popularity_discount_factor=0.0, min_cointeraction_count=1).fit(HAND)
    specific = Sims(popularity_discount_factor=1.0, min_cointeraction_count=1).fit(HAND)
    assert popular.similarity[0].toarray().ravel().tolist() == pytest.approx([0, 1, 1 / 3, 1 / 3])
    assert specific.similarity[0].toarray().ravel().tolist() == pytest.approx([0, 0.75, 0.5, 0.5])


def test_min_cointeraction_count__prunes_rare_pairs() -> None:
    model = Sims(min_cointeraction_count=2).fit(HAND)
    pairs = set(zip(*model.similarity.nonzero(), strict=True))
    assert pairs == {(0, 1), (1, 0), (1, 2), (2, 1)}
    assert Sims(min_cointeraction_count=4).fit(HAND).similarity.nnz == 0


def test_max_neighbors__keeps_the_best_per_item() -> None:
    model = Sims(min_cointeraction_count=1, max_neighbors=1).fit(HAND)
    assert np.diff(model.similarity.indptr).tolist() == [1, 1, 1, 1]
    assert model.similarity.indices.tolist() == [1, 0, 1, 0]


def test_related__neighbours_then_popularity_then_padding() -> None:
    model = Sims(min_cointeraction_count=2).fit(HAND)
    idx, scores = model.related(np.array([2, 3]), n=4)
    assert idx.tolist() == [[1, 0, 3, -1], [1, 0, 2, -1]]
    assert scores[0, 0] == pytest.approx(2 / np.sqrt(8))
    assert scores[0, 1:3].tolist() == [0.0, 0.0] and scores[1, :3].tolist() == [0.0] * 3
    assert np.all(np.isneginf(scores[:, 3]))
    assert scores.dtype == np.float32 and idx.dtype == np.int64


def test_related__never_returns_the_query_item(checker: sp.csr_matrix) -> None:
    model = Sims().fit(checker)
    items = np.arange(50)
    idx, _ = model.related(items, n=49)
    assert not np.any(idx == items[:, None])
    assert np.all(idx >= 0)
    same_parity = idx[:, :24] % 2 == items[:, None] % 2
    assert same_parity.all()


def test_related__bad_index_and_empty_query() -> None:
    model = Sims().fit(HAND)
    with pytest.raises(IndexError):
        model.related(np.array([4]), n=2)
    idx, scores = model.related(np.array([], dtype=np.int64), n=3)
    assert idx.shape == scores.shape == (0, 3)


def test_score__sums_neighbour_rows() -> None:
    model = Sims(min_cointeraction_count=1).fit(HAND)
    history = sp.csr_matrix(np.array([[1.0, 0.0, 2.0, 0.0]], dtype=np.float32))
    expected = history.toarray() @ model.similarity.toarray()
    np.testing.assert_allclose(model.score(history), expected, rtol=1e-6)


def test_fit__item_blocks_do_not_change_the_result(
    planted_matrix: sp.csr_matrix, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = Sims(max_neighbors=20).fit(planted_matrix)
    monkeypatch.setattr("chalicelib.algorithms.sims._BLOCK_WORK", 5_000)
    blocked = Sims(max_neighbors=20).fit(planted_matrix)
    assert (whole.similarity != blocked.similarity).nnz == 0


def test_parameters__validated() -> None:
    with pytest.raises(ValueError):
        Sims(popularity_discount_factor=1.5)
    with pytest.raises(ValueError):
        Sims(min_cointeraction_count=-1)
    with pytest.raises(ValueError):
        Sims(max_neighbors=0)
