"""Baselines and adapters, all with one interface (numpy/scipy, vectorised).

``fit(train)`` gets a :class:`Train` (the training users' event count matrix plus their
events in time order); ``score(query)`` gets a :class:`Query` (the held-out users' history
count matrix plus each history as an item sequence, oldest first) and returns dense
``(n_query, n_items)`` scores. Excluding already-seen items and taking the top 25 is done by
the runner, identically for every model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from chalicelib import algorithms as alg

SESSION_GAP = 3600  # seconds of inactivity that end a session (SKNN)


@dataclass
class Train:
    matrix: sp.csr_matrix  # (n_users, n_items) event counts, as Tailor's interaction_matrix
    users: np.ndarray  # training events, sorted by (user, time)
    items: np.ndarray
    timestamps: np.ndarray

    @property
    def n_items(self) -> int:
        return int(self.matrix.shape[1])


@dataclass
class Query:
    matrix: sp.csr_matrix  # (n_query, n_items) history event counts
    indptr: np.ndarray  # history sequences in CSR layout, oldest first
    items: np.ndarray

    def last_items(self, k: int) -> sp.csr_matrix:
        """Binary rows of the ``k`` most recent distinct items, weighted by recency.

        Weight of the j-th most recent (j = 0 newest) occurrence is ``1 / (1 + j)`` over the
        last ``k`` events (V-SKNN style linear-ish decay); duplicates keep the largest weight.
        """
        n = self.indptr.size - 1
        lengths = np.diff(self.indptr)
        take = np.minimum(lengths, k)
        rows = np.repeat(np.arange(n), take)
        # position from the end: 0 = newest
        back = np.arange(take.sum()) - np.repeat(np.cumsum(take) - take, take)
        src = np.repeat(self.indptr[1:], take) - 1 - back
        cols = self.items[src]
        w = 1.0 / (1.0 + back)
        m = sp.coo_matrix((w, (rows, cols)), shape=(n, self.matrix.shape[1])).tocsr()
        m.sum_duplicates()  # (sums repeated occurrences; fine as a weight)
        return m

    def last_item(self) -> np.ndarray:
        return self.items[self.indptr[1:] - 1]


def _binary(x: sp.csr_matrix) -> sp.csr_matrix:
    b = x.copy().tocsr()
    b.data[:] = 1.0
    return b.astype(np.float32)


def _prune_rows(dense: np.ndarray, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of every row of a dense item-item matrix."""
    n = dense.shape[0]
    if k >= n:
        return sp.csr_matrix(dense)
    idx = np.argpartition(-dense, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(dense, idx, axis=1)
    rows = np.repeat(np.arange(n), k)
    m = sp.csr_matrix((vals.ravel(), (rows, idx.ravel())), shape=dense.shape)
    m.eliminate_zeros()
    return m


class Model:
    """The benchmark's model interface: ``fit(train)``, then ``score(query)``."""

    name = ""
    params: dict[str, Any]

    def fit(self, train: Train) -> Model:
        raise NotImplementedError

    def score(self, query: Query) -> np.ndarray:
        raise NotImplementedError


class TailorModel(Model):
    """Any ``chalicelib.algorithms`` Recommender, fed exactly as Tailor feeds it."""

    def __init__(self, factory, **params: Any) -> None:
        self.factory, self.params = factory, params

    def fit(self, train: Train) -> Model:
        self.model = self.factory(**self.params).fit(train.matrix)
        return self

    def score(self, query: Query) -> np.ndarray:
        return self.model.score(query.matrix)


class TailorRecipe(Model):
    """aws-user-personalization exactly as ``chalicelib.jobs.train`` trains and serves it:
    the recipe's model, with recency half-life and next-item weight chosen on a validation
    split of the training users (``evaluate.tune_sequence``), scored from ordered histories."""

    def __init__(self, fit: Any, avoid_repeats: bool) -> None:
        self.fit_model, self.avoid_repeats = fit, avoid_repeats
        self.params: dict[str, Any] = {}

    def fit(self, train: Train) -> Model:
        from chalicelib.jobs import evaluate

        shape = train.matrix.shape
        sequence = evaluate.tune_sequence(self.fit_model, train.users, train.items,
                                          train.timestamps, shape, self.avoid_repeats, True)
        self.params = {"half_life": sequence[0], "gamma": sequence[1]}
        self.model = evaluate.build(self.fit_model, train.users, train.items, shape, sequence)
        return self

    def score(self, query: Query) -> np.ndarray:
        histories, last = alg.sequence_histories(query.indptr, query.items,
                                                  self.model.n_items, self.model.half_life)
        return self.model.score(histories, last)


class ItemKNN(Model):
    """Item-based kNN: cosine over binary user vectors with shrinkage, top-k neighbours."""

    def __init__(self, k: int = 100, shrink: float = 10.0) -> None:
        self.params = {"k": k, "shrink": shrink}

    def fit(self, train: Train) -> Model:
        x = _binary(train.matrix)
        co = (x.T @ x).toarray()
        norms = np.sqrt(np.diag(co).copy())
        sim = co / (np.outer(norms, norms) + self.params["shrink"] + 1e-9)
        np.fill_diagonal(sim, 0.0)
        # neighbours of each target item j among history items i: prune columns
        self.sim = _prune_rows(sim.T.astype(np.float32), self.params["k"]).T.tocsr()
        return self

    def score(self, query: Query) -> np.ndarray:
        return (_binary(query.matrix) @ self.sim).toarray()


class RP3beta(Model):
    """RP3beta (Paudel et al. 2017): 3-step random walk item→user→item, popularity^-β."""

    def __init__(self, alpha: float = 1.0, beta: float = 0.5, k: int = 200) -> None:
        self.params = {"alpha": alpha, "beta": beta, "k": k}

    def fit(self, train: Train) -> Model:
        x = _binary(train.matrix)
        a = self.params["alpha"]
        deg_u = np.asarray(x.sum(axis=1)).ravel()
        deg_i = np.asarray(x.sum(axis=0)).ravel()
        p_ui = sp.diags(1.0 / np.maximum(deg_u, 1)) @ x
        p_iu = sp.diags(1.0 / np.maximum(deg_i, 1)) @ x.T.tocsr()
        p_ui.data **= a
        p_iu.data **= a
        w = (p_iu @ p_ui).toarray()
        w *= np.power(np.maximum(deg_i, 1), -self.params["beta"])[None, :]
        np.fill_diagonal(w, 0.0)
        self.w = _prune_rows(w.astype(np.float32), self.params["k"])
        return self

    def score(self, query: Query) -> np.ndarray:
        return (_binary(query.matrix) @ self.w).toarray()


def _transitions(train: Train, window: int) -> sp.csr_matrix:
    """Counts of item j following item i within ``window`` steps in a user's sequence.

    Consecutive repeats of the same item (e.g. view→click→purchase) are collapsed first;
    a step j further away counts ``1 / j``.
    """
    u, it = train.users, train.items
    keep = np.ones(u.size, dtype=bool)
    keep[1:] = (u[1:] != u[:-1]) | (it[1:] != it[:-1])
    u, it = u[keep], it[keep]
    n = train.n_items
    rows, cols, vals = [], [], []
    for d in range(1, window + 1):
        same = u[d:] == u[:-d]
        rows.append(it[:-d][same])
        cols.append(it[d:][same])
        vals.append(np.full(int(same.sum()), 1.0 / d, dtype=np.float32))
    t = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n, n))
    t.sum_duplicates()
    t.setdiag(0)
    t.eliminate_zeros()
    return t


class Markov(Model):
    """First-order Markov / last-item transitions: score(j) = T[last, j], popularity backfill.

    ``window`` > 1 also counts items 2..window steps later (discounted 1/d): a smoothed
    first-order chain; ``beta`` discounts the target's popularity.
    """

    def __init__(self, window: int = 1, beta: float = 0.0) -> None:
        self.params = {"window": window, "beta": beta}

    def fit(self, train: Train) -> Model:
        t = _transitions(train, self.params["window"])
        pop = np.bincount(train.items, minlength=train.n_items).astype(np.float64)
        t = t @ sp.diags(np.power(np.maximum(pop, 1), -self.params["beta"]))
        self.t = t.tocsr().astype(np.float32)
        self.backfill = (pop / pop.max() * 1e-6).astype(np.float32)
        return self

    def score(self, query: Query) -> np.ndarray:
        s = self.t[query.last_item()].toarray()
        return s + self.backfill[None, :]


class SKNN(Model):
    """Session-based kNN (Jannach & Ludewig 2017) over the training users' recent sessions.

    Training sessions split each user's events at gaps > 1 h. The query is the user's last
    ``last_k`` events with recency weights (V-SKNN); cosine similarity to every training
    session; the ``neighbors`` most similar sessions vote for their items.
    """

    def __init__(self, last_k: int = 10, neighbors: int = 200) -> None:
        self.params = {"last_k": last_k, "neighbors": neighbors}

    def fit(self, train: Train) -> Model:
        u, t = train.users, train.timestamps
        new = np.ones(u.size, dtype=bool)
        new[1:] = (u[1:] != u[:-1]) | (t[1:] - t[:-1] > SESSION_GAP)
        sid = np.cumsum(new) - 1
        s = sp.csr_matrix((np.ones(u.size, dtype=np.float32), (sid, train.items)),
                          shape=(int(sid[-1]) + 1, train.n_items))
        s.sum_duplicates()
        s.data[:] = 1.0
        self.sessions = s
        self.st = s.T.tocsr()
        self.norm = np.sqrt(np.asarray(s.sum(axis=1)).ravel()).astype(np.float32)
        pop = np.bincount(train.items, minlength=train.n_items).astype(np.float32)
        self.backfill = pop / pop.max() * 1e-6
        return self

    def score(self, query: Query) -> np.ndarray:
        q = query.last_items(self.params["last_k"]).astype(np.float32)
        k = self.params["neighbors"]
        out = np.empty(q.shape, dtype=np.float32)
        qn = np.sqrt(np.asarray(q.multiply(q).sum(axis=1)).ravel()) + 1e-9
        for start in range(0, q.shape[0], 128):
            block = q[start:start + 128]
            sim = (block @ self.st).toarray()
            sim /= self.norm[None, :] * qn[start:start + 128, None]
            if k < sim.shape[1]:
                thresh = -np.partition(-sim, k - 1, axis=1)[:, k - 1:k]
                sim[sim < thresh] = 0.0
            out[start:start + 128] = (sp.csr_matrix(sim) @ self.sessions).toarray()
        return out + self.backfill[None, :]


class ImplicitLib(Model):
    """``implicit`` (Frederickson) ALS or BPR on the CPU.

    ALS folds the query users' histories in with ``recalculate_user`` (like Tailor's ALS).
    BPR has no fold-in, so it is trained on the training users plus the query users'
    *history* rows (never their held-out events) and their learnt factors are used; that
    happens in :meth:`score`, and its time is counted as fit time by the runner.
    """

    def __init__(self, kind: str, **params: Any) -> None:
        self.kind, self.params = kind, params
        self.fit_in_score = kind == "bpr"

    def _make(self):
        import implicit

        if self.kind == "als":
            return implicit.cpu.als.AlternatingLeastSquares(
                random_state=0, calculate_training_loss=False, **self.params)
        return implicit.cpu.bpr.BayesianPersonalizedRanking(random_state=0, **self.params)

    def fit(self, train: Train) -> Model:
        from threadpoolctl import threadpool_limits

        self.train = train
        if self.kind == "als":
            self.model = self._make()
            with threadpool_limits(1, "blas"):  # implicit's own advice (check_blas_config)
                self.model.fit(train.matrix.astype(np.float32).tocsr(), show_progress=False)
        return self

    def score(self, query: Query) -> np.ndarray:
        q = query.matrix.astype(np.float32).tocsr()
        if self.kind == "als":
            u = np.asarray(self.model.recalculate_user(np.arange(q.shape[0]), q))
            v = np.asarray(self.model.item_factors)
        else:
            x = sp.vstack([_binary(self.train.matrix), _binary(q)]).tocsr()
            model = self._make()
            model.fit(x, show_progress=False)
            u = np.asarray(model.user_factors)[-q.shape[0]:]
            v = np.asarray(model.item_factors)
        return np.asarray(u @ v.T, dtype=np.float32)


def tailor_factory(name: str):
    return {"ease": alg.EASE, "als": alg.ImplicitALS, "popularity": alg.PopularityCount}[name]
