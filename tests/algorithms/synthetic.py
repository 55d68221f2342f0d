"""Synthetic interaction data with known structure for the algorithm tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Events:
    """An event log: parallel int arrays plus the catalogue size."""

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    n_users: int
    n_items: int
    item_cluster: np.ndarray

    def matrix(self, mask: np.ndarray | None = None) -> sp.csr_matrix:
        """``(n_users, n_items)`` count matrix of the (masked) events."""
        keep = slice(None) if mask is None else mask
        ones = np.ones(self.users[keep].size, dtype=np.float32)
        shape = (self.n_users, self.n_items)
        return sp.csr_matrix((ones, (self.users[keep], self.items[keep])), shape=shape)


def checkerboard(n: int = 50) -> sp.csr_matrix:
    """benfred/implicit's checkerboard: user u likes items of u's parity except item u."""
    u, i = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    liked = (u % 2 == i % 2) & (u != i)
    return sp.csr_matrix(liked.astype(np.float32))


def planted_events(
    n_users: int = 600,
    n_items: int = 300,
    n_clusters: int = 8,
    events_per_user: tuple[int, int] = (10, 40),
    p_cluster: float = 0.8,
    seed: int = 0,
) -> Events:
    """Users belong to taste clusters; most events pick an item of their cluster.

    Each event comes with probability ``p_cluster`` from the user's cluster (items weighted by
    a mild within-cluster popularity), otherwise from a global power-law popularity (Zipf,
    exponent 1) that ignores clusters. Timestamps are random, so the hold-out split cuts
    histories at arbitrary points.
    """
    rng = np.random.default_rng(seed)
    item_cluster = rng.permutation(np.arange(n_items) % n_clusters)
    zipf = 1.0 / np.arange(1, n_items + 1)
    global_pop = zipf[rng.permutation(n_items)]
    within = rng.uniform(0.5, 2.0, n_items)

    user_cluster = rng.integers(0, n_clusters, n_users)
    n_events = rng.integers(events_per_user[0], events_per_user[1] + 1, n_users)
    users = np.repeat(np.arange(n_users), n_events)
    cluster = user_cluster[users]

    # inverse-CDF sampling inside each cluster: segment c of `keys` spans (c, c + 1]
    by_cluster = np.lexsort((np.arange(n_items), item_cluster))
    weights = within[by_cluster]
    seg = item_cluster[by_cluster]
    totals = np.bincount(seg, weights=weights, minlength=n_clusters)
    cum = np.cumsum(weights) - np.concatenate([[0.0], np.cumsum(totals)[:-1]])[seg]
    keys = seg + cum / totals[seg]
    draws = cluster + rng.random(users.size) * (1 - 1e-12)
    in_cluster = by_cluster[np.minimum(np.searchsorted(keys, draws), n_items - 1)]

    global_cdf = np.cumsum(global_pop) / global_pop.sum()
    noise = np.minimum(np.searchsorted(global_cdf, rng.random(users.size)), n_items - 1)
    items = np.where(rng.random(users.size) < p_cluster, in_cluster, noise)
    timestamps = rng.integers(1_600_000_000, 1_700_000_000, users.size, dtype=np.int64)
    return Events(users, items, timestamps, n_users, n_items, item_cluster)
