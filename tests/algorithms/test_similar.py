"""Similar-Items and Semantic-Similarity: feature helpers, known answers on tiny data, and
planted clusters where metadata must place cold items and beat popularity."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp

from chalicelib.algorithms import (
    ModelFitError,
    PopularityCount,
    SemanticSimilarity,
    SimilarItems,
    Sims,
    holdout_split,
    item_features,
    load_model,
    metadata_features,
    one_hot,
    ranking_metrics,
    save_model,
    tfidf,
    top_n,
    truncated_svd_embeddings,
)
from chalicelib.algorithms import similar as similar_module

from .synthetic import Events, planted_events

NDCG10 = "normalized_discounted_cumulative_gain_at_10"

# -- feature helpers ------------------------------------------------------------------


def test_tfidf__sublinear_tf_smooth_idf_l2_rows() -> None:
    docs = np.array(["Red red apple", "red pear", "", "apple pear"])
    m = tfidf(docs, bigrams=False).toarray()
    # terms (first seen): red (df 2), apple (df 2), pear (df 2); idf = ln(5/3) + 1 for all
    raw = np.array([[1 + np.log(2), 1, 0], [1, 0, 1], [0, 0, 0], [0, 1, 1]])
    expected = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)
    np.testing.assert_allclose(m, expected, rtol=1e-6)
    assert m.dtype == np.float32


def test_tfidf__min_df_drops_single_item_terms_and_bigrams_add_pairs() -> None:
    docs = np.array(["new york city", "new york pizza", "rome"])
    assert tfidf(docs, bigrams=False).shape == (3, 2)  # new, york
    assert tfidf(docs, bigrams=True).shape == (3, 3)  # + "new york"
    assert tfidf(docs, bigrams=True, min_df=1).shape == (3, 8)  # 5 words, 3 bigrams


def test_tfidf__separator_and_unicode_inside_values() -> None:
    docs = np.array(["caf\u00e9 a\x1fb", "CAF\u00c9 b"])
    m = tfidf(docs, bigrams=False)
    assert m.shape == (2, 2)  # café, b (a\x1fb is read as "a b")


def test_tfidf__chunked_reading_gives_the_same_matrix(
        clusters: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = tfidf(clusters.texts)
    monkeypatch.setattr(item_features, "_CHUNK_ROWS", 7)
    chunked = tfidf(clusters.texts)
    assert whole.shape == chunked.shape and (whole != chunked).nnz == 0


def test_one_hot__multi_valued_categories_lowercased_and_stripped() -> None:
    m = one_hot(np.array(["Drama|comedy", " drama ", "", "x||Comedy"])).toarray()
    # columns in sorted order: comedy, drama, x
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 0], [1, 0, 1]]


def test_metadata_features__each_field_weighs_the_same() -> None:
    x = metadata_features(categorical={"genre": np.array(["a|b|c", "a", ""])},
                          textual={"desc": np.array(["big dog", "big cat", "big"])})
    assert x is not None
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms ** 2, [2, 2, 1], rtol=1e-6)
    assert metadata_features({"genre": np.array(["", ""])}) is None


def test_truncated_svd__clipped_rank_zero_rows_and_exact_cosines(
        rng: np.random.Generator) -> None:
    dense = rng.random((30, 6)) * (rng.random((30, 6)) < 0.5)
    dense[4] = 0.0
    emb = truncated_svd_embeddings(sp.csr_matrix(dense), dim=100)
    assert emb.shape == (30, 6)  # clipped to the number of features
    assert not emb[4].any()
    unit = dense / np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)
    np.testing.assert_allclose(emb @ emb.T, unit @ unit.T, atol=1e-5)  # full rank: exact
    low = truncated_svd_embeddings(sp.csr_matrix(dense), dim=2)
    assert low.shape == (30, 2)
    np.testing.assert_allclose(np.linalg.norm(low[np.arange(30) != 4], axis=1), 1, rtol=1e-5)


def test_related_and_score__blocks_give_the_one_block_answer(
        clusters: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:
    model = SimilarItems().fit(clusters.train, clusters.features)
    items = np.arange(clusters.n_items)
    history = clusters.train[:40]
    whole, score = model.related(items, 30), model.score(history)
    monkeypatch.setattr(similar_module, "_DENSE_CELLS", 1)  # one item per block
    blocks = model.related(items, 30)
    np.testing.assert_array_equal(whole[0], blocks[0])
    np.testing.assert_allclose(whole[1], blocks[1], rtol=1e-5)  # BLAS: gemv vs gemm
    np.testing.assert_allclose(model.score(history), score, rtol=1e-5, atol=1e-6)
    dense = model.similarities(items)
    np.testing.assert_allclose(score, history @ dense, rtol=1e-5, atol=1e-6)
    assert not dense.diagonal().any() and dense.min() >= 0


# -- known answers on tiny data -------------------------------------------------------

# 8 users x 6 items: items 0-2 are watched together, items 3-4 together; item 5: nobody.
TINY = sp.csr_matrix(np.array([
    [1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0], [1, 0, 1, 0, 0, 0],
    [0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 1, 0], [1, 0, 0, 0, 1, 0],
], dtype=np.float32))
TINY_GENRES = np.array(["rock", "rock", "rock", "jazz", "jazz", "jazz"])


def test_similar_items__cold_item_gets_neighbours_from_its_category() -> None:
    model = SimilarItems().fit(TINY, metadata_features({"genre": TINY_GENRES}))
    idx, scores = model.related(np.array([5]), 5)
    assert set(idx[0, :2].tolist()) == {3, 4}  # the other jazz items, by metadata alone
    assert np.all(scores[0, :2] > 0.99)
    assert model.co_weight[5] == 0.0


def test_similar_items__cold_items_are_neighbours_of_their_category() -> None:
    model = SimilarItems().fit(TINY, metadata_features({"genre": TINY_GENRES}))
    idx, _ = model.related(np.array([3]), 5)
    assert idx[0, :2].tolist() == [4, 5]  # co-occurring jazz item first, then the cold one


def test_similar_items__co_occurrence_weight_grows_with_interactions() -> None:
    model = SimilarItems(metadata_strength=5).fit(TINY, metadata_features({"genre": TINY_GENRES}))
    pop = np.asarray((TINY > 0).sum(axis=0)).ravel()
    np.testing.assert_allclose(model.co_weight[:5], pop[:5] / (pop[:5] + 5), rtol=1e-6)
    order = np.argsort(pop[:5], kind="stable")
    assert np.all(np.diff(model.co_weight[:5][order]) >= 0)


def test_similar_items__without_metadata_is_sims_cosine() -> None:
    model = SimilarItems().fit(TINY)
    sims = Sims(popularity_discount_factor=0.5, min_cointeraction_count=1).fit(TINY)
    assert np.all(model.co_weight[:5] == 1.0)
    ours, _ = model.related(np.arange(6), 5)
    theirs, _ = sims.related(np.arange(6), 5)
    assert ours.tolist() == theirs.tolist()


def test_semantic__two_items_sharing_a_rare_token_are_each_others_top_neighbour() -> None:
    texts = np.array([
        "the best wool scarf", "the best cotton shirt", "the best zanzibar spice",
        "the best cotton dress", "the best wool socks", "the best guide to zanzibar", "",
    ])
    model = SemanticSimilarity().fit(None, texts)
    idx, scores = model.related(np.arange(6), 3)
    assert idx[:, 0].tolist() == [4, 3, 5, 1, 0, 2]  # everyone shares "the best"
    assert np.all(scores[:, 0] > scores[:, 1])
    empty, _ = model.related(np.array([6]), 3)
    assert not model.similarities(np.array([6])).any() and np.all(empty >= 0)  # popular fill


def test_semantic__popularity_breaks_ties_only() -> None:
    texts = np.array(["red shoe", "red shoe", "red shoe", "blue hat", "blue hat"])
    users = sp.csr_matrix(np.array([[0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [0, 1, 0, 1, 0]],
                                   dtype=np.float32))
    idx, scores = SemanticSimilarity().fit(users, texts).related(np.array([0]), 4)
    assert idx[0].tolist() == [2, 1, 3, 4]  # same text: the more popular first; then fill
    assert scores[0, 0] > scores[0, 1] > 0.99 and scores[0, 2:].tolist() == [0.0, 0.0]


def test_semantic__no_shared_words() -> None:
    with pytest.raises(ModelFitError):
        SemanticSimilarity().fit(None, np.array(["alpha", "beta", ""]))
    with pytest.raises(ModelFitError):
        SemanticSimilarity().fit(None)


# -- determinism and persistence ------------------------------------------------------


@pytest.mark.parametrize("kind", ["similar", "semantic"])
def test_fit__deterministic_and_round_trips(kind: str, clusters: Catalogue) -> None:
    def fit() -> SimilarItems | SemanticSimilarity:
        if kind == "similar":
            return SimilarItems(item_metadata_hidden_dim=30).fit(clusters.train,
                                                                 clusters.features)
        return SemanticSimilarity(dim=30).fit(clusters.train, clusters.texts)

    first, second = fit(), fit()
    a, b = first.to_arrays(), second.to_arrays()
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    buf = io.BytesIO()
    save_model(first, buf)
    buf.seek(0)
    loaded = load_model(buf)
    assert type(loaded) is type(first)
    items = np.arange(0, clusters.n_items, 7)
    np.testing.assert_array_equal(loaded.related(items, 30)[0], first.related(items, 30)[0])


# -- planted clusters -----------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    events: Events
    train_events: np.ndarray  # bool mask: events of warm items
    cold: np.ndarray  # item indices without training interactions
    train: sp.csr_matrix
    features: sp.csr_matrix
    texts: np.ndarray

    @property
    def n_items(self) -> int:
        return self.events.n_items


def _cluster_metadata(cluster: np.ndarray, rng: np.random.Generator,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Per item: genre "g<cluster>" plus a random tag shared across clusters, and a text
    of 4 of its cluster's 10 words among common words."""
    n = cluster.size
    tags = np.char.add("tag", rng.integers(0, 4, n).astype(str))
    genres = np.char.add(np.char.add(np.char.add("g", cluster.astype(str)), "|"), tags)
    words = np.char.add("w", (cluster[:, None] * 10 + rng.integers(0, 10, (n, 4))).astype(str))
    common = np.array(["the", "best", "new", "great", "item"])[rng.integers(0, 5, (n, 3))]
    text = np.concatenate([words, common], axis=1)
    texts = np.array([" ".join(row) for row in text.tolist()])
    return genres, texts


@pytest.fixture(scope="module")
def clusters() -> Catalogue:
    events = planted_events(n_users=600, n_items=300, n_clusters=8, seed=3)
    rng = np.random.default_rng(11)
    cold = np.flatnonzero(rng.random(events.n_items) < 0.1)
    warm = ~np.isin(events.items, cold)
    genres, texts = _cluster_metadata(events.item_cluster, rng)
    features = metadata_features({"genres": genres}, {"description": texts})
    assert features is not None
    return Catalogue(events, warm, cold, events.matrix(warm), features, texts)


def _same_cluster_share(cat: Catalogue, neighbours: np.ndarray, queries: np.ndarray) -> float:
    found = neighbours >= 0
    same = cat.events.item_cluster[np.maximum(neighbours, 0)] == \
        cat.events.item_cluster[queries][:, None]
    return float((same & found).sum() / found.sum())


def test_planted__cold_items_get_neighbours_from_their_own_cluster(clusters: Catalogue) -> None:
    model = SimilarItems().fit(clusters.train, clusters.features)
    neighbours, scores = model.related(clusters.cold, 10)
    assert np.all(scores > 0)  # real metadata neighbours, not popularity fill
    assert _same_cluster_share(clusters, neighbours, clusters.cold) >= 0.9


def test_planted__cold_items_appear_as_neighbours(clusters: Catalogue) -> None:
    """Every cold item is a scored (not popularity-fill) neighbour in some top-50 list."""
    model = SimilarItems().fit(clusters.train, clusters.features)
    neighbours, scores = model.related(np.arange(clusters.n_items), 50)
    assert np.isin(clusters.cold, neighbours[scores > 0]).all()


def test_planted__semantic_neighbours_share_the_cluster_text(clusters: Catalogue) -> None:
    model = SemanticSimilarity().fit(None, clusters.texts)
    queries = np.arange(clusters.n_items)
    neighbours, _ = model.related(queries, 10)
    assert _same_cluster_share(clusters, neighbours, queries) >= 0.9


def _drop_seen(candidates: np.ndarray, seen: np.ndarray, n: int) -> np.ndarray:
    keep = (candidates >= 0) & ~np.take_along_axis(seen, np.maximum(candidates, 0), axis=1)
    order = np.argsort(~keep, axis=1, kind="stable")[:, :n]
    return np.where(np.take_along_axis(keep, order, axis=1),
                    np.take_along_axis(candidates, order, axis=1), -1)


def test_planted__next_item_beats_popularity(clusters: Catalogue) -> None:
    ev, warm = clusters.events, clusters.train_events
    users, items = ev.users[warm], ev.items[warm]
    split = holdout_split(users, items, ev.timestamps[warm], 0.2, seed=42)
    train = sp.csr_matrix((np.ones(split.train_mask.sum(), dtype=np.float32),
                           (users[split.train_mask], items[split.train_mask])),
                          shape=(ev.n_users, ev.n_items))
    seen = split.history_matrix(items, ev.n_items).toarray() > 0
    extra = int(seen.sum(axis=1).max())

    def evaluate(recommended: np.ndarray) -> dict[str, float]:
        return ranking_metrics(_drop_seen(recommended, seen, 25), split.relevant_indptr,
                               split.relevant_items, ev.n_items)

    last = items[split.last_history_events()]
    similar = SimilarItems().fit(train, clusters.features).related(last, 25 + extra)[0]
    popular = PopularityCount().fit(train).popularity
    by_popularity = top_n(np.tile(popular, (last.size, 1)), 25 + extra)[0]
    ours, baseline = evaluate(similar), evaluate(by_popularity)
    assert ours[NDCG10] > 1.3 * baseline[NDCG10] + 0.01, (ours, baseline)
    assert ours["coverage"] > 0.5 > baseline["coverage"]
