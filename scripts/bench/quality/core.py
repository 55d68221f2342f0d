"""What every task of the benchmark shares: the split, top-25 scoring and the result row.

One split per data set (``holdout_split`` seed 42, Tailor's default): 10 % of the users with
>= 2 events are test users; their oldest 90 % events are fed as history, the newest 10 % are
the relevant set. Every model is scored on that same split with ``ranking_metrics``, after
removing the items of the user's history from its top 25.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chalicelib import algorithms as alg
from chalicelib.jobs.data import interaction_matrix

from . import baselines as bl

TOP_K = 25
TEST_SEED = 42  # Tailor's holdout seed (chalicelib.jobs.evaluate)
VALIDATION_SEED = 7
N10, MRR = "normalized_discounted_cumulative_gain_at_10", "mean_reciprocal_rank_at_25"


def say(msg: str) -> None:
    print(f"[quality] {msg}", file=sys.stderr, flush=True)


@dataclass
class Split:
    train: bl.Train
    query: bl.Query
    relevant_indptr: np.ndarray
    relevant_items: np.ndarray
    next_indptr: np.ndarray  # next-item task: the first held-out item not in the history
    next_items: np.ndarray
    n_items: int


def make_split(users: np.ndarray, items: np.ndarray, ts: np.ndarray, n_users: int,
               n_items: int, seed: int) -> Split:
    h = alg.holdout_split(users, items, ts, seed=seed)
    m = h.train_mask
    tr = np.flatnonzero(m)
    tr = tr[np.lexsort((tr, ts[tr], users[tr]))]
    train = bl.Train(interaction_matrix(users[m], items[m], (n_users, n_items)),
                     users[tr], items[tr], ts[tr])
    hist = h.history_matrix(items, n_items)
    query = bl.Query(hist, h.history_indptr, items[h.history_events])

    # held-out events in the order holdout_split uses; first one whose item is new to the user
    ev = np.flatnonzero(~m)
    ev = ev[np.lexsort((ev, ts[ev], users[ev]))]
    row = np.searchsorted(h.test_users, users[ev])
    starts = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=h.test_users.size))])
    pos = np.arange(ev.size) - starts[row]
    cut = np.diff(h.history_indptr)
    held = pos >= cut[row]
    r, it = row[held], items[ev[held]]
    seen = np.asarray(hist[r, it]).ravel() > 0
    r, it = r[~seen], it[~seen]
    first_rows, first = np.unique(r, return_index=True)
    counts = np.bincount(first_rows, minlength=h.test_users.size)
    return Split(train, query, h.relevant_indptr, h.relevant_items,
                 np.concatenate([[0], np.cumsum(counts)]), it[first], n_items)


def validation_split(split: Split, n_users: int, seed: int = VALIDATION_SEED) -> Split:
    """A second holdout split of the training users' events only (tuning data)."""
    t = split.train
    return make_split(t.users, t.items, t.timestamps, n_users, split.n_items, seed)


def top25(scores: np.ndarray, query: bl.Query) -> np.ndarray:
    seen = query.matrix.toarray() > 0
    idx, _ = alg.top_n(np.asarray(scores, dtype=np.float32), TOP_K, exclude=seen)
    return idx


def metrics(recs: np.ndarray, split: Split, task: str) -> dict[str, float]:
    if task == "next":
        return alg.ranking_metrics(recs, split.next_indptr, split.next_items, split.n_items)
    return alg.ranking_metrics(recs, split.relevant_indptr, split.relevant_items, split.n_items)


@dataclass
class Row:
    name: str
    family: str  # "tailor" | "baseline" | "reference"
    params: dict[str, Any]
    metrics: dict[str, float]
    fit_seconds: float
    score_seconds: float
    tuned_on: str = "-"
    recs: np.ndarray | None = field(default=None, repr=False)
    scores: np.ndarray | None = field(default=None, repr=False)  # (n_test, n_items)
    per_user: dict[str, np.ndarray] | None = field(default=None, repr=False)


def run_model(model: bl.Model, split: Split,
              ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Fit on the training users, score the test users: (top 25, scores, fit s, score s)."""
    t0 = time.perf_counter()
    model.fit(split.train)
    t1 = time.perf_counter()
    scores = np.asarray(model.score(split.query), dtype=np.float32)
    recs = top25(scores, split.query)
    t2 = time.perf_counter()
    if getattr(model, "fit_in_score", False):  # implicit BPR trains inside score()
        return recs, scores, t2 - t0, 0.0
    return recs, scores, t1 - t0, t2 - t1


def paired_difference(ours: Row, other: Row, key: str) -> tuple[float, float]:
    """Mean and standard error of the per-user difference ``ours - other`` on ``key`` (both
    rows scored on the same users, ``Row.per_user``)."""
    assert ours.per_user is not None and other.per_user is not None
    d = ours.per_user[key] - other.per_user[key]
    se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else 0.0
    return float(d.mean()), se
