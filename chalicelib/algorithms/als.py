"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008) solved by batched conjugate gradient.

For each user u the least-squares problem with confidence c_ui = 1 + alpha·w_ui is

    (YᵀY + λ_u I + Yᵀ(C_u − I)Y) x_u = Yᵀ C_u p_u,

where p_ui = 1 on observed items. Like ``implicit``'s ``cg`` solver (Takács, Pilászy & Tikk
2011) each sweep runs a few CG steps warm-started from the previous factors. All rows are
solved together: rows are cut into chunks of about ``_CHUNK_NNZ`` interactions, and for a
chunk the sparse correction Yᵀ(C_u − I)Y·p is one block-sparse mat-vec (the dot products
y_i·p_u over the chunk's interactions, a BSR matrix whose 1×f blocks are the gathered item
factors) followed by one CSR × dense product. Chunks run on a small thread pool; scipy's
sparse kernels and numpy release the GIL, and every chunk writes a disjoint slice, so the
result does not depend on scheduling.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Self

import numpy as np
import scipy.sparse as sp

from .base import ModelFitError, Recommender, check_histories, check_user_items, register, scalar

__all__ = ["ImplicitALS"]

_CHUNK_NNZ = 1 << 16
_CHUNK_ROWS = 1 << 12


def _chunk_bounds(indptr: np.ndarray) -> np.ndarray:
    """Row boundaries so each chunk holds about ``_CHUNK_NNZ`` entries / ``_CHUNK_ROWS`` rows."""
    n_rows = len(indptr) - 1
    by_nnz = np.searchsorted(indptr, np.arange(0, indptr[-1], _CHUNK_NNZ))
    by_rows = np.arange(0, n_rows, _CHUNK_ROWS)
    return np.unique(np.concatenate([by_nnz, by_rows, [n_rows]]))


def _cg_chunk(
    r: sp.csr_matrix,
    y: np.ndarray,
    gram: np.ndarray,
    reg: np.ndarray,
    alpha: float,
    steps: int,
    x0: np.ndarray | None,
    out: np.ndarray,
    a: int,
    b: int,
) -> None:
    """Run ``steps`` CG steps for rows ``a:b`` of ``r`` and write the solution to ``out[a:b]``."""
    lo, hi = int(r.indptr[a]), int(r.indptr[b])
    n_rows, nnz, f = b - a, hi - lo, y.shape[1]
    if nnz == 0:  # right-hand side is zero and the system is positive definite
        out[a:b] = 0.0
        return
    cols = r.indices[lo:hi]
    conf = alpha * r.data[lo:hi]  # c_ui - 1
    ptr = r.indptr[a : b + 1] - lo
    gathered = np.take(y, cols, axis=0)
    owner = np.repeat(np.arange(n_rows, dtype=np.int32), np.diff(ptr))
    dots = sp.bsr_matrix(
        (gathered.reshape(nnz, 1, f), owner, np.arange(nnz + 1, dtype=np.int64)),
        shape=(nnz, n_rows * f),
        blocksize=(1, f),
    )
    weighted = sp.csr_matrix((conf, cols, ptr), shape=(n_rows, y.shape[0]))
    lam = reg[a:b, None]

    x = np.zeros((n_rows, f), dtype=np.float32) if x0 is None else x0[a:b].copy()
    weighted.data = (1.0 + conf) - conf * (dots @ x.ravel())
    resid = weighted @ y - x @ gram - lam * x
    direction = resid.copy()
    rs = np.einsum("ij,ij->i", resid, resid)
    for _ in range(steps):
        if not np.any(rs > 1e-20):
            break
        weighted.data = conf * (dots @ direction.ravel())
        a_dir = weighted @ y + direction @ gram + lam * direction
        curvature = np.einsum("ij,ij->i", direction, a_dir)
        step = np.divide(rs, curvature, out=np.zeros_like(rs), where=curvature > 0)
        x += step[:, None] * direction
        resid -= step[:, None] * a_dir
        rs_new = np.einsum("ij,ij->i", resid, resid)
        beta = np.divide(rs_new, rs, out=np.zeros_like(rs), where=rs > 0)
        direction *= beta[:, None]
        direction += resid
        rs = rs_new
    out[a:b] = x


def _solve(
    r: sp.csr_matrix,
    y: np.ndarray,
    reg: np.ndarray,
    alpha: float,
    steps: int,
    x0: np.ndarray | None,
    n_threads: int,
) -> np.ndarray:
    """Batched CG solve of every row of ``r`` against fixed factors ``y``."""
    gram = (y.T.astype(np.float64) @ y).astype(np.float32)
    out = np.empty((r.shape[0], y.shape[1]), dtype=np.float32)
    bounds = _chunk_bounds(r.indptr)
    jobs = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))

    def run(job: tuple[int, int]) -> None:
        _cg_chunk(r, y, gram, reg, alpha, steps, x0, out, job[0], job[1])

    if n_threads <= 1 or len(jobs) <= 1:
        for job in jobs:
            run(job)
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            list(pool.map(run, jobs))
    return out


@register
class ImplicitALS(Recommender):
    """Weighted matrix factorisation for implicit feedback, trained by batched CG-ALS.

    Parameters
    ----------
    factors : int, default 64
        Latent dimension.
    regularization : float, default 0.05
        L2 penalty per row, scaled by the row's total confidence: λ_u = regularization ·
        Σ_i c_ui over observed items (ALS-WR style), so one value fits small and large data.
    alpha : float, default 2.0
        Confidence slope: c_ui = 1 + alpha · w_ui.
    iterations : int, default 15
        Alternating sweeps (users then items).
    random_state : int, default 0
        Seed of the initial factors.
    cg_steps : int, default 3
        Conjugate-gradient steps per row per sweep (warm-started).
    fold_in_steps : int, default 8
        CG steps from zero when :meth:`score` folds in history rows.
    n_threads : int, default 2
        Worker threads over row chunks (1 = run inline). Results do not depend on it.

    Attributes
    ----------
    user_factors : numpy.ndarray
        float32 ``(n_users, factors)``.
    item_factors : numpy.ndarray
        float32 ``(n_items, factors)``.
    """

    kind = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        random_state: int = 0,
        cg_steps: int = 3,
        fold_in_steps: int = 8,
        n_threads: int = 2,
    ) -> None:
        if factors < 1 or iterations < 0 or cg_steps < 1 or fold_in_steps < 1:
            raise ValueError("factors, cg_steps and fold_in_steps must be >= 1, iterations >= 0")
        if regularization < 0 or alpha < 0:
            raise ValueError("regularization and alpha must be >= 0")
        self.factors = int(factors)
        self.regularization = float(regularization)
        self.alpha = float(alpha)
        self.iterations = int(iterations)
        self.random_state = int(random_state)
        self.cg_steps = int(cg_steps)
        self.fold_in_steps = int(fold_in_steps)
        self.n_threads = int(n_threads)
        self.user_factors = np.zeros((0, self.factors), dtype=np.float32)
        self.item_factors = np.zeros((0, self.factors), dtype=np.float32)

    @property
    def n_items(self) -> int:
        return int(self.item_factors.shape[0])

    def _row_reg(self, r: sp.csr_matrix) -> np.ndarray:
        """λ per row: regularization times the row's total confidence Σ_i (1 + alpha·w_ui)."""
        counts = np.diff(r.indptr).astype(np.float64)
        sums = np.asarray(r.sum(axis=1, dtype=np.float64)).ravel()
        lam = self.regularization * (counts + self.alpha * sums)
        return np.maximum(lam, 1e-6).astype(np.float32)

    def fit(self, user_items: sp.csr_matrix) -> Self:
        """Alternate batched CG solves for user and item factors.

        Parameters
        ----------
        user_items : scipy.sparse.csr_matrix
            ``(n_users, n_items)`` positive interaction weights.

        Returns
        -------
        Self

        Raises
        ------
        ModelFitError
            Empty input or non-finite factors.
        """
        x = check_user_items(user_items)
        xt = x.T.tocsr()
        rng = np.random.default_rng(self.random_state)
        scale = np.float32(0.1 / np.sqrt(self.factors))
        users = rng.standard_normal((x.shape[0], self.factors), dtype=np.float32) * scale
        items = rng.standard_normal((x.shape[1], self.factors), dtype=np.float32) * scale
        user_reg, item_reg = self._row_reg(x), self._row_reg(xt)
        with np.errstate(all="ignore"):
            for _ in range(self.iterations):
                users = _solve(x, items, user_reg, self.alpha, self.cg_steps, users, self.n_threads)
                items = _solve(xt, users, item_reg, self.alpha, self.cg_steps, items, self.n_threads)
        if not (np.all(np.isfinite(users)) and np.all(np.isfinite(items))):
            raise ModelFitError("ALS factors are not finite; lower alpha or raise regularization")
        self.user_factors, self.item_factors = users, items
        return self

    def fold_in(self, histories: sp.csr_matrix) -> np.ndarray:
        """User factors for history rows: the user-side least-squares solve, CG from zero.

        Returns
        -------
        numpy.ndarray
            float32 ``(n, factors)``; an empty row gets a zero vector.
        """
        h = check_histories(histories, self.n_items)
        with np.errstate(all="ignore"):
            return _solve(
                h, self.item_factors, self._row_reg(h), self.alpha, self.fold_in_steps, None,
                self.n_threads,
            )

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        """Fold the history rows in and return ``U_h @ Yᵀ`` as dense float32."""
        return self.fold_in(histories) @ self.item_factors.T

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "user_factors": self.user_factors,
            "item_factors": self.item_factors,
            "factors": np.asarray(self.factors),
            "regularization": np.asarray(self.regularization),
            "alpha": np.asarray(self.alpha),
            "iterations": np.asarray(self.iterations),
            "random_state": np.asarray(self.random_state),
            "cg_steps": np.asarray(self.cg_steps),
            "fold_in_steps": np.asarray(self.fold_in_steps),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Self:
        params = ("factors", "regularization", "alpha", "iterations", "random_state")
        model = cls(
            **{name: scalar(arrays, name) for name in params},
            cg_steps=int(scalar(arrays, "cg_steps")),
            fold_in_steps=int(scalar(arrays, "fold_in_steps")),
        )
        model.user_factors = np.asarray(arrays["user_factors"], dtype=np.float32)
        model.item_factors = np.asarray(arrays["item_factors"], dtype=np.float32)
        return model
