"""HRNN-Coldstart stand-in: only cold items, matched to the user's metadata profile."""

from __future__ import annotations

import io

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms import ColdStart, cold_items, load_model, save_model, top_n


def test_cold_items_are_rare_and_young() -> None:
    counts = np.array([0, 3, 20, 3])
    ages = np.array([1.0, np.nan, 1.0, 9.0])
    assert cold_items(counts, ages, 15, 5.0).tolist() == [True, True, False, False]


def _clusters(n_clusters: int = 4, per: int = 30, seed: int = 0,
              ) -> tuple[np.ndarray, np.ndarray]:
    """Item embeddings near one axis per cluster, and each item's cluster."""
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), per)
    e = np.eye(n_clusters)[cluster] + 0.3 * rng.standard_normal((len(cluster), n_clusters))
    return e / np.linalg.norm(e, axis=1, keepdims=True), cluster


def test_only_cold_items_in_the_users_cluster_come_first() -> None:
    e, cluster = _clusters()
    cold = np.zeros(len(cluster), bool)
    cold[::5] = True  # every fifth item is cold
    x = sp.csr_matrix(np.ones((3, len(cluster)), dtype=np.float32))
    model = ColdStart().fit(x, e, cold)
    history = sp.csr_matrix(((cluster == 2) & ~cold).astype(np.float32)[None, :])
    scores = model.score(history)[0]
    assert np.isneginf(scores[~cold]).all()
    idx, _ = top_n(scores, 5)
    assert (cluster[idx] == 2).all() and cold[idx].all()


def test_beats_popularity_on_planted_cold_items() -> None:
    """Users stay in one cluster; the cold items they take next are those of their
    cluster. Popular-cold-items is the baseline the model must beat."""
    e, cluster = _clusters(seed=1)
    rng = np.random.default_rng(2)
    n_users, n_items = 200, len(cluster)
    cold = rng.random(n_items) < 0.3
    user_cluster = rng.integers(0, 4, n_users)
    warm = [np.flatnonzero((cluster == c) & ~cold) for c in user_cluster]
    rows = np.repeat(np.arange(n_users), 8)
    cols = np.concatenate([rng.choice(w, 8, replace=False) for w in warm])
    x = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))
    # Popularity: cold items of cluster 0 were taken a little by many users.
    x = x + sp.csr_matrix((np.ones(60, np.float32), (np.arange(60),
                           np.resize(np.flatnonzero(cold & (cluster == 0)), 60))),
                          shape=(n_users, n_items))
    model = ColdStart().fit(x.tocsr(), e, cold)
    idx, _ = top_n(model.score(x.tocsr()), 5)
    model_hits = (cluster[idx] == user_cluster[:, None]).mean()
    pop = np.where(cold, np.asarray(x.sum(axis=0)).ravel(), -np.inf)
    popular = top_n(pop, 5)[0]
    pop_hits = (cluster[popular][None, :] == user_cluster[:, None]).mean()
    assert model_hits > 0.9 > pop_hits + 0.4


def test_round_trip() -> None:
    e, cluster = _clusters()
    cold = cluster == 1
    model = ColdStart(0.2).fit(sp.csr_matrix(np.eye(len(cluster), dtype=np.float32)), e, cold)
    buf = io.BytesIO()
    save_model(model, buf)
    buf.seek(0)
    again = load_model(buf)
    h = sp.csr_matrix(np.ones((1, len(cluster)), np.float32))
    assert np.array_equal(again.score(h), model.score(h))
