"""Model scores for many users at once: the one code path GetRecommendations,
GetPersonalizedRanking and batch inference jobs rank with, so that a batch line equals the
real-time answer for the same user."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms import SequenceAware, sequence_histories
from chalicelib.runtime.artifacts import Artifact
from chalicelib.runtime.cold_users import cold_user_scores
from chalicelib.state.context import Context

# How many of a user's newest streamed events extend the history at serving time.
LIVE_EVENTS = 100
_NONE = np.zeros(0, dtype=np.int64)
# What an entry of the score cache costs beside its arrays: key, tuple, dict slot, and the
# answers remembered with it (at most USER_MEMO_SIZE small lists; see recommend.user_ranker).
_ENTRY_OVERHEAD = 8192
USER_MEMO_SIZE = 16
UserMemo = dict[Hashable, Any]


def mask_digest(mask: np.ndarray | None) -> bytes | None:
    """A fingerprint of a filter's mask (None: no filter), to remember answers by."""
    if mask is None:
        return None
    return hashlib.blake2b(np.ascontiguousarray(mask, dtype=bool).tobytes(),
                           digest_size=16).digest()


def remember(memo: UserMemo, key: Hashable, value: Any, *arrays: np.ndarray | None) -> None:
    """Keep ``value`` in a user's memo (started afresh when full); ``arrays`` (its arrays)
    are made read-only, since every later request shares them."""
    for array in arrays:
        if array is not None:
            array.flags.writeable = False
    if len(memo) >= USER_MEMO_SIZE:
        memo.clear()
    memo[key] = value


class ScoreCache:
    """Recently served users' scores of one loaded model, least recently used out first
    once the entries take more than ``max_bytes``.

    Keyed by the user and the live events the scores were computed from, so a new event
    simply misses (and the stale entry ages out). The arrays are made read-only: callers
    share them. Each entry also carries a small dict (the user's memo) in which serving
    keeps answers derived from these scores; it goes when the entry goes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[Hashable, tuple[np.ndarray, np.ndarray, UserMemo]] = \
            OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def _size(scores: np.ndarray, seen: np.ndarray) -> int:
        return scores.nbytes + seen.nbytes + _ENTRY_OVERHEAD

    def get(self, key: Hashable) -> tuple[np.ndarray, np.ndarray, UserMemo] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, scores: np.ndarray, seen: np.ndarray) -> UserMemo | None:
        """Keep ``scores`` and ``seen`` (made read-only); returns the entry's memo (None:
        larger than the whole budget, not kept)."""
        size = self._size(scores, seen)
        if size > self.max_bytes:
            return None
        scores.flags.writeable = seen.flags.writeable = False
        memo: UserMemo = {}
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= self._size(old[0], old[1])
            self._entries[key] = (scores, seen, memo)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (s, v, _) = self._entries.popitem(last=False)
                self.bytes -= self._size(s, v)
        return memo


def score_cache(ctx: Context, artifact: Artifact) -> ScoreCache | None:
    """The artifact's score cache (None when ``TAILOR_SCORE_CACHE_MB`` is 0)."""
    cache = artifact.derived.get("score_cache")
    if cache is None:
        max_bytes = int(ctx.settings.score_cache_mb * 2**20)
        if max_bytes <= 0:
            return None
        cache = artifact.derived.setdefault("score_cache", ScoreCache(max_bytes))
    assert isinstance(cache, ScoreCache)
    return cache


def live_items(ctx: Context, artifact: Artifact, user_id: str) -> np.ndarray:
    """Indices of known items the user interacted with through PutEvents after the
    model's training data were read (newest first, at most ``LIVE_EVENTS``)."""
    if artifact.live_source is None:
        return _NONE
    dataset, watermark = artifact.live_source
    # Remembered until anything is written (Store.memo): a quiet user costs no query.
    items = ctx.store.memo(("live_items", dataset, user_id, watermark), lambda: tuple(
        r[0] for r in ctx.store.db.execute(
            "SELECT record_id FROM put_rows WHERE dataset_arn = ? AND user_id = ? AND id > ? "
            "ORDER BY id DESC LIMIT ?", [dataset, user_id, watermark, LIVE_EVENTS])))
    if not items:
        return _NONE
    index = artifact.item_index
    return np.array([index[i] for i in items if i in index], dtype=np.int64)


def _take_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """``matrix[rows]`` where row -1 is an empty row."""
    safe = np.maximum(rows, 0)
    starts = np.where(rows >= 0, matrix.indptr[safe], 0)
    lengths = np.where(rows >= 0, matrix.indptr[safe + 1], 0) - starts
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    take = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
    return sp.csr_matrix((matrix.data[take], matrix.indices[take], indptr),
                         shape=(len(rows), matrix.shape[1]))


def _subset(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    return matrix if len(rows) == matrix.shape[0] else matrix[rows]


def _histories(artifact: Artifact, users: np.ndarray, live: list[np.ndarray],
               ) -> tuple[sp.csr_matrix, Callable[[np.ndarray], np.ndarray]]:
    """Each user's history row (-1: no training history) plus the live events, and a
    function scoring some of those rows (all of them, in the usual case)."""
    model = artifact.model
    n_items = model.n_items
    if isinstance(model, SequenceAware):
        events = [_sequence(artifact, user, new) for user, new in
                  zip(users.tolist(), live, strict=True)]
        ptr = np.concatenate([[0], np.cumsum([len(e) for e in events])])
        history, last = sequence_histories(ptr, np.concatenate(events), n_items,
                                           model.half_life)
        return history, lambda rows: model.score(_subset(history, rows), last[rows])
    history = _take_rows(artifact.user_items, users)
    if history.shape[1] != n_items:
        history = history[:, :n_items]
    counts = [len(new) for new in live]
    if sum(counts):
        rows = np.repeat(np.arange(len(live)), counts)
        history = history + sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, np.concatenate(live))),
            shape=history.shape)
    return history, lambda rows: model.score(_subset(history, rows))


def score_users(ctx: Context, artifact: Artifact, user_ids: Sequence[str | None],
                live: bool = True) -> tuple[np.ndarray, list[np.ndarray]]:
    """Model scores over the catalogue for each user, and the items each user has seen.

    A user's history is the training history plus, with ``live``, the events sent since
    training (PutEvents), so a new event changes the next recommendations without
    retraining; a sequence model weighs the newest events most and follows on from the
    last one. A user with no history at all gets log-popularity (so softmax gives the
    popularity distribution, smoothed by one), refined by the user's Users-dataset
    attributes. Batch jobs pass ``live=False``: they use only the interactions the model
    was trained on (spec H.1).

    Returns
    -------
    scores : numpy.ndarray
        float64 ``(len(user_ids), len(artifact.item_ids))``; ``-inf`` for items the model
        does not score (an exploring recipe's catalogue lists newer items the model was
        not fitted on: only exploration shows them).
    seen : list of numpy.ndarray
        Item indices in each user's history.
    """
    model = artifact.model
    n_items = model.n_items
    if not user_ids:
        return np.full((0, len(artifact.item_ids)), -np.inf), []
    index = artifact.user_index
    users = np.array([index.get(u, -1) if u is not None else -1 for u in user_ids],
                     dtype=np.int64)
    fresh = [live_items(ctx, artifact, u)[::-1] if live and u is not None else _NONE
             for u in user_ids]
    history, score = _histories(artifact, users, [f[f < n_items] for f in fresh])
    scored = np.diff(history.indptr) > 0
    if model.scores_empty_history and not isinstance(model, SequenceAware):
        scored[:] = True
    out = np.full((len(users), len(artifact.item_ids)), -np.inf)
    seen = [_NONE] * len(users)
    rows = np.flatnonzero(scored)
    if len(rows):
        out[rows, :n_items] = score(rows)
        for r in rows.tolist():
            seen[r] = history.indices[history.indptr[r]:history.indptr[r + 1]]
    for r in np.flatnonzero(~scored).tolist():
        out[r] = cold_user_scores(ctx, artifact, user_ids[r])
    return out, seen


def score_user(ctx: Context, artifact: Artifact, user_id: str | None,
               ) -> tuple[np.ndarray, np.ndarray, UserMemo | None]:
    """:func:`score_users` for one request's user: the same numbers (the same history row
    and model call), without the batch bookkeeping, for a sequence model's user with a
    history; every other case goes through :func:`score_users`.

    A sequence model's scores depend only on the user's events, so they are remembered
    (:class:`ScoreCache`) under the user and the live events: a user served again before
    sending a new event is not scored again. The returned arrays may be shared read-only
    ones; the third value is the cached entry's memo (None when not cached)."""
    model = artifact.model
    if user_id is None or not isinstance(model, SequenceAware):
        scores, seen = score_users(ctx, artifact, [user_id])
        return scores[0], seen[0], None
    n_items = model.n_items
    new = live_items(ctx, artifact, user_id)[::-1]
    new = new[new < n_items]
    cache = score_cache(ctx, artifact)
    key = (user_id, new.tobytes())
    found = cache.get(key) if cache is not None else None
    if found is not None:
        return found
    events = _sequence(artifact, artifact.user_index.get(user_id, -1), new)
    out = np.full(len(artifact.item_ids), -np.inf)
    if not len(events):
        # No history: popularity and the user's attributes. Not remembered, since PutUsers
        # may change the attributes without an event.
        out[:] = cold_user_scores(ctx, artifact, user_id)
        return out, _NONE, None
    history, last = sequence_histories(np.array([0, len(events)]), events, n_items,
                                       model.half_life)
    out[:n_items] = model.score(history, last)[0]
    seen = history.indices
    return out, seen, cache.put(key, out, seen) if cache is not None else None


def _sequence(artifact: Artifact, user: int, new: np.ndarray) -> np.ndarray:
    """A sequence model's events of one user, oldest first: the training sequence (user
    -1: none) then ``new``, the live events."""
    indptr, seq = artifact.extras["seq_indptr"], artifact.extras["seq_items"]
    past = seq[indptr[user]:indptr[user + 1]] if user >= 0 else seq[:0]
    past = past[past < artifact.model.n_items]  # an UPDATE version's hold new items too
    return np.concatenate([past, new]) if len(new) else past
