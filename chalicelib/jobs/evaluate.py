"""GetSolutionMetrics values: Personalize's holdout protocol (spec D.3), and the choice of
a sequence model's recency and next-item weights.

10 % of users are held out; the model is trained on the others; each held-out
user's oldest 90 % of events are its history and the newest 10 % the items it
should be recommended. Recommendations are produced exactly as serving does.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from chalicelib import algorithms as alg
from chalicelib.jobs.data import interaction_matrix, release_memory

TOP_K = 25
# Score at most this many (users x items) cells at once, to bound memory.
CHUNK_CELLS = 1 << 24
# Metrics are averaged over at most this many held-out users, a seeded sample of them:
# scoring is held-out users x catalogue (20,000 x 100,000 cells for 10M events) and the
# sample's standard error on NDCG is about 0.005.
MAX_METRIC_USERS = 5000
# Threads scoring chunks of held-out users at once.
SCORE_THREADS = 2
# Candidate recency half-lives (events) and next-item weights, tried on a validation split.
HALF_LIVES = (float("inf"), 20.0, 5.0)
GAMMAS = (0.0, 0.5, 2.0, 8.0)
TUNING_METRIC = "normalized_discounted_cumulative_gain_at_10"

Fit = Callable[[sp.csr_matrix], alg.Recommender]


def by_user(users: np.ndarray) -> np.ndarray:
    """Order grouping time-ordered events by user (time order kept within a user)."""
    return user_events(users)[1]


def user_events(users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, order): :func:`by_user`'s order, in which user u's events are
    ``order[indptr[u]:indptr[u + 1]]``.

    A counting sort, ``np.argsort(users, kind="stable")`` in O(n): a CSR matrix with a row per
    user and a column per event lists each row's events in their order.
    """
    n = len(users)
    if n == 0:
        return np.zeros(1, dtype=np.intp), np.zeros(0, dtype=np.intp)
    grouped = sp.csr_matrix((np.ones(n, dtype=np.int8), (users, np.arange(n))),
                            shape=(int(users.max()) + 1, n))
    return grouped.indptr, grouped.indices


def build(fit: Fit, users: np.ndarray, items: np.ndarray, shape: tuple[int, int],
          sequence: tuple[float, float] | None,
          weights: np.ndarray | None = None) -> alg.Recommender:
    """Fit on time-ordered events (``weights``: per-event confidence, eventsConfig);
    ``sequence`` = (half-life, gamma) wraps the model as :func:`with_sequence` does."""
    base = fit(interaction_matrix(users, items, shape, weights))
    return with_sequence(base, sequence, lambda: next_item_counts(users, items, shape[1]))


def with_sequence(base: alg.Recommender, sequence: tuple[float, float] | None,
                  next_items: Callable[[], sp.csr_matrix]) -> alg.Recommender:
    """``base`` in a :class:`~chalicelib.algorithms.SequenceAware` with ``sequence`` =
    (half-life, gamma), or itself for None; the transitions (``next_items()``) only when
    gamma > 0: without, they are never read."""
    if sequence is None:
        return base
    return alg.SequenceAware(base, sequence[0], sequence[1],
                             next_items() if sequence[1] > 0 else None)


def without_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """A canonical CSR ``matrix`` with ``rows`` emptied: the interaction matrix of the other
    users' events, as :func:`interaction_matrix` of those events builds it."""
    keep = np.ones(matrix.shape[0], dtype=bool)
    keep[rows] = False
    lengths = np.diff(matrix.indptr)
    entries = np.repeat(keep, lengths)
    indptr = np.concatenate([[0], np.cumsum(lengths * keep)])
    out = sp.csr_matrix((matrix.data[entries], matrix.indices[entries], indptr),
                        shape=matrix.shape)
    out.has_canonical_format = True
    return out


def next_item_counts(users: np.ndarray, items: np.ndarray, n_items: int) -> sp.csr_matrix:
    """:func:`~chalicelib.algorithms.transitions` of time-ordered events."""
    order = by_user(users)
    return alg.transitions(users[order], items[order], n_items)


def metrics_of(model: alg.Recommender, holdout: alg.Holdout, items: np.ndarray,
               n_items: int, serving_type: str, avoid_repeats: bool) -> dict[str, float]:
    """The 8 metrics of ``model`` (trained without the held-out users) on ``holdout``
    (on a sample of MAX_METRIC_USERS of them when there are more)."""
    holdout = sample_users(holdout, MAX_METRIC_USERS)
    if serving_type == "RELATED_ITEMS":
        recommended, _ = model.related(items[holdout.last_history_events()], TOP_K)
    else:
        half_life = getattr(model, "half_life", float("inf"))
        histories, last = alg.sequence_histories(
            holdout.history_indptr, items[holdout.history_events], n_items, half_life)
        exclude = avoid_repeats and serving_type != "POPULAR_ITEMS"
        recommended = _top_k(model, histories, last, exclude)
        release_memory()  # what the scoring threads (and a fit before) freed
    return alg.ranking_metrics(recommended, holdout.relevant_indptr, holdout.relevant_items,
                               n_items)


def tune_sequence(fit: Fit, users: np.ndarray, items: np.ndarray, timestamps: np.ndarray,
                  shape: tuple[int, int], avoid_repeats: bool, recency: bool,
                  weights: np.ndarray | None = None) -> tuple[float, float]:
    """(half-life, gamma) with the best NDCG@10 on a validation split of these events'
    users (pass only training users' events: the test users never take part)."""
    inner = alg.holdout_split(users, items, timestamps, seed=7)
    mask = inner.train_mask
    base = build(fit, users[mask], items[mask], shape, None,
                 None if weights is None else weights[mask])
    next_items = next_item_counts(users[mask], items[mask], shape[1])
    return best_sequence(base, inner, items, next_items, avoid_repeats, recency)[0]


def best_sequence(base: alg.Recommender, holdout: alg.Holdout, items: np.ndarray,
                  next_items: sp.csr_matrix, avoid_repeats: bool, recency: bool,
                  ) -> tuple[tuple[float, float], dict[str, float]]:
    """The (half-life, gamma) of ``base`` wrapped as a sequence model with the best
    NDCG@10 on ``holdout``, and that model's metrics."""
    best, best_metrics = (float("inf"), 0.0), {TUNING_METRIC: -1.0}
    for half_life in HALF_LIVES if recency else HALF_LIVES[:1]:
        for gamma in GAMMAS:
            candidate = alg.SequenceAware(base, half_life, gamma, next_items)
            metrics = metrics_of(candidate, holdout, items, base.n_items,
                                 "USER_PERSONALIZATION", avoid_repeats)
            if metrics[TUNING_METRIC] > best_metrics[TUNING_METRIC] + 1e-9:
                best, best_metrics = (half_life, gamma), metrics
    return best, best_metrics


def sample_users(holdout: alg.Holdout, limit: int, seed: int = 11) -> alg.Holdout:
    """``holdout`` restricted to a seeded sample of ``limit`` of its test users (itself when
    it has no more than that)."""
    n = len(holdout.test_users)
    if n <= limit:
        return holdout
    rows = np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))

    def pick(indptr: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.diff(indptr)[rows]
        new_indptr = np.concatenate([[0], np.cumsum(lengths)])
        at = np.arange(new_indptr[-1]) + np.repeat(indptr[rows] - new_indptr[:-1], lengths)
        return new_indptr, values[at]

    history_indptr, history_events = pick(holdout.history_indptr, holdout.history_events)
    relevant_indptr, relevant_items = pick(holdout.relevant_indptr, holdout.relevant_items)
    return alg.Holdout(holdout.train_mask, holdout.test_users[rows], history_indptr,
                       history_events, relevant_indptr, relevant_items)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """``alg.top_n(scores, k)[0]`` for 2-D scores, without a partition of every row.

    Split each row into ``k`` blocks: their maxima are ``k`` scores, so the row's k-th best
    is at least the smallest of them, and only the few items scoring that much are sorted.
    Rows where that is not enough (non-finite scores, a tie across the k-th place) go
    through ``top_n``, so the result is the same.
    """
    n_rows, n_items = scores.shape
    blocks = n_items // k if k > 0 else 0
    if n_rows == 0 or blocks < 2:
        return alg.top_n(scores, k)[0]
    floor = scores[:, :k * blocks].reshape(n_rows, k, blocks).max(axis=2).min(axis=1)
    rows, cols = np.nonzero(scores >= floor[:, None])
    vals = scores[rows, cols]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, np.arange(n_rows))[rows]
    out = np.full((n_rows, k), -1, dtype=np.int64)
    take = rank < k
    out[rows[take], rank[take]] = cols[take]
    at_k = np.flatnonzero(rank == k)
    tied = np.zeros(n_rows, dtype=bool)
    tied[rows[at_k]] = vals[at_k] == vals[at_k - 1]
    redo = ~np.isfinite(floor) | (np.bincount(rows, minlength=n_rows) < k) | tied
    if redo.any():
        out[redo] = alg.top_n(scores[redo], k)[0]
    return out


def _top_k(model: alg.Recommender, histories: sp.csr_matrix, last: np.ndarray,
           exclude_seen: bool) -> np.ndarray:
    """Each history row's TOP_K items, scored a chunk of rows at a time on SCORE_THREADS
    threads (numpy releases the GIL in the products and the selection)."""
    n_rows, n_items = histories.shape
    chunk = max(1, CHUNK_CELLS // max(n_items, 1))
    out = np.full((n_rows, TOP_K), -1, dtype=np.int64)

    def run(start: int) -> None:
        rows = histories[start:start + chunk]
        if isinstance(model, alg.SequenceAware):
            scores = model.score(rows, last[start:start + chunk])
        else:
            scores = model.score(rows)
        # score() returns a new array (the Recommender contract); seen items are set in it
        scores = np.asarray(scores, dtype=np.result_type(scores.dtype, np.float32))
        if exclude_seen:
            seen = rows.data > 0
            scores[np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))[seen],
                   rows.indices[seen]] = -np.inf
        out[start:start + chunk] = top_k(scores, TOP_K)

    starts = range(0, n_rows, chunk)
    if len(starts) == 1:
        run(0)
    else:
        with ThreadPoolExecutor(SCORE_THREADS) as pool:
            list(pool.map(run, starts))
    return out
