"""Offline evaluation of GetSolutionMetrics (spec D.3, D.4, D.6): hold-out split and metrics.

The split holds out whole users; each test user's oldest 90 % of events become the history
that is fed to the model and the rest the relevant set. :func:`ranking_metrics` matches the
reference implementation of spec D.6 exactly (it is checked against it in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .base import ModelFitError

__all__ = ["METRIC_NAMES", "Holdout", "holdout_split", "ranking_metrics"]

METRIC_NAMES: tuple[str, ...] = (
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
)

_KS = (5, 10, 25)


@dataclass(frozen=True)
class Holdout:
    """A user hold-out split of an event log, with per-test-user data in CSR layout.

    Attributes
    ----------
    train_mask : numpy.ndarray
        bool ``(n_events,)``: events of users that are not test users.
    test_users : numpy.ndarray
        int64 ``(n_test,)`` test user indices, ascending; row ``t`` below is ``test_users[t]``.
    history_indptr, history_events : numpy.ndarray
        Row ``t``'s history is ``history_events[history_indptr[t]:history_indptr[t + 1]]``:
        indices into the event arrays, oldest first (ties in original order).
    relevant_indptr, relevant_items : numpy.ndarray
        Row ``t``'s relevant set: distinct item indices of its held-out events, ascending.
    """

    train_mask: np.ndarray
    test_users: np.ndarray
    history_indptr: np.ndarray
    history_events: np.ndarray
    relevant_indptr: np.ndarray
    relevant_items: np.ndarray

    def history_matrix(
        self, items: np.ndarray, n_items: int, weights: np.ndarray | None = None
    ) -> sp.csr_matrix:
        """``(n_test, n_items)`` float32 CSR history rows (duplicate events summed).

        Parameters
        ----------
        items : numpy.ndarray
            Item index of every event (the array given to :func:`holdout_split`).
        n_items : int
            Catalogue size.
        weights : numpy.ndarray, optional
            Weight of every event; 1.0 if omitted.
        """
        cols = np.asarray(items)[self.history_events]
        data = (
            np.ones(cols.size, dtype=np.float32)
            if weights is None
            else np.asarray(weights, dtype=np.float32)[self.history_events]
        )
        shape = (self.test_users.size, n_items)
        matrix = sp.csr_matrix((data, cols, self.history_indptr), shape=shape)
        matrix.sum_duplicates()
        return matrix

    def last_history_events(self) -> np.ndarray:
        """Event index of each test user's most recent history event (the SIMS seed)."""
        return self.history_events[self.history_indptr[1:] - 1]


def holdout_split(
    users: np.ndarray,
    items: np.ndarray,
    timestamps: np.ndarray,
    test_fraction: float = 0.1,
    seed: int = 42,
) -> Holdout:
    """Hold out ``test_fraction`` of the users with at least two events (spec D.3).

    Parameters
    ----------
    users, items : numpy.ndarray
        int user / item index of every event.
    timestamps : numpy.ndarray
        int64 event times.
    test_fraction : float, default 0.1
        Fraction of eligible users to hold out; at least one is picked.
    seed : int, default 42
        Seed of ``numpy.random.default_rng`` choosing the test users.

    Returns
    -------
    Holdout
        Test users get ``cut = max(1, floor(0.9 n))`` oldest events as history, the rest
        (as a set) as relevant items.

    Raises
    ------
    ModelFitError
        If no user has two or more events.
    """
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    timestamps = np.asarray(timestamps, dtype=np.int64)
    if not users.shape == items.shape == timestamps.shape or users.ndim != 1:
        raise ValueError("users, items and timestamps must be 1-D arrays of equal length")
    if users.size and users.min() < 0:
        raise ValueError("user indices must be >= 0")
    if not 0.0 < test_fraction <= 1.0:
        raise ValueError("test_fraction must be in (0, 1]")
    ids, counts = np.unique(users, return_counts=True)
    eligible = ids[counts >= 2]
    if eligible.size == 0:
        raise ModelFitError("no user has at least two interactions")
    size = max(1, round(test_fraction * eligible.size))
    rng = np.random.default_rng(seed)
    test_users = np.sort(rng.choice(eligible, size=size, replace=False))

    is_test = np.zeros(int(users.max()) + 1, dtype=bool)
    is_test[test_users] = True
    train_mask = ~is_test[users]
    events = np.flatnonzero(~train_mask)
    order = np.lexsort((events, timestamps[events], users[events]))
    events = events[order]
    row = np.searchsorted(test_users, users[events])
    n_per_user = np.bincount(row, minlength=test_users.size)
    starts = np.concatenate([[0], np.cumsum(n_per_user)])
    cut = np.maximum(1, np.floor(0.9 * n_per_user).astype(np.int64))
    position = np.arange(events.size) - starts[row]
    in_history = position < cut[row]

    history_events = events[in_history]
    history_indptr = np.concatenate([[0], np.cumsum(cut)])
    rel_rows, rel_items = row[~in_history], items[events[~in_history]]
    n_items = int(items.max()) + 1
    rel_rows, rel_items = np.divmod(np.unique(rel_rows * n_items + rel_items), n_items)
    relevant_indptr = np.concatenate([[0], np.cumsum(np.bincount(rel_rows, minlength=size))])
    return Holdout(
        train_mask=train_mask,
        test_users=test_users,
        history_indptr=history_indptr,
        history_events=history_events,
        relevant_indptr=relevant_indptr,
        relevant_items=rel_items,
    )


def ranking_metrics(
    recommended: np.ndarray,
    relevant_indptr: np.ndarray,
    relevant_items: np.ndarray,
    catalogue_size: int,
) -> dict[str, float]:
    """The eight ranking metrics of spec D.2, averaged over users with a non-empty relevant set.

    Parameters
    ----------
    recommended : numpy.ndarray
        int ``(n_test, K)`` item indices, best first, padded with -1; only the first 25 count.
    relevant_indptr, relevant_items : numpy.ndarray
        CSR layout of each row's relevant items (treated as a set).
    catalogue_size : int
        Denominator of ``coverage``.

    Returns
    -------
    dict of str to float
        Keyed by :data:`METRIC_NAMES`, each rounded to 4 decimals.
    """
    recs = np.asarray(recommended, dtype=np.int64)
    if recs.ndim != 2:
        raise ValueError("recommended must be 2-D")
    recs = np.pad(recs[:, :25], ((0, 0), (0, max(0, 25 - recs.shape[1]))), constant_values=-1)
    n_rows = recs.shape[0]
    indptr = np.asarray(relevant_indptr, dtype=np.int64)
    rel = np.asarray(relevant_items, dtype=np.int64)
    if indptr.size != n_rows + 1:
        raise ValueError("relevant_indptr must have one entry more than recommended has rows")
    rel_rows = np.repeat(np.arange(n_rows), np.diff(indptr))
    base = int(max(rel.max(initial=0), recs.max(initial=0))) + 1
    rel_keys = np.unique(rel_rows * base + rel)
    n_relevant = np.bincount(rel_keys // base, minlength=n_rows)
    active = n_relevant > 0
    recs, n_relevant = recs[active], n_relevant[active]
    rec_keys = np.flatnonzero(active)[:, None] * base + recs
    hits = (recs >= 0) & np.isin(rec_keys, rel_keys)

    discount = 1.0 / np.log(1.0 + np.arange(1, 26))
    ideal = np.concatenate([[0.0], np.cumsum(discount)])
    values: dict[str, np.ndarray] = {}
    for k in _KS:
        top = hits[:, :k]
        values[f"precision_at_{k}"] = top.sum(axis=1) / float(k)
        dcg = top @ discount[:k]
        values[f"normalized_discounted_cumulative_gain_at_{k}"] = (
            dcg / ideal[np.minimum(n_relevant, k)]
        )
    first = np.argmax(hits, axis=1)
    values["mean_reciprocal_rank_at_25"] = np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0)

    seen = np.unique(recs[recs >= 0]).size
    result = {"coverage": round(seen / float(catalogue_size), 4)}
    for name in METRIC_NAMES[1:]:
        xs = values[name]
        result[name] = round(float(np.mean(xs)) if len(xs) else 0.0, 4)
    return result
