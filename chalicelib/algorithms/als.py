"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008) solved by batched conjugate gradient.

For each user u the least-squares problem with confidence c_ui = 1 + alpha·w_ui is

    (YᵀY + λ_u I + Yᵀ(C_u − I)Y) x_u = Yᵀ C_u p_u,

where p_ui = 1 on observed items (items are solved the same way with the roles swapped).
Like ``implicit``'s ``cg`` solver (Takács, Pilászy & Tikk 2011) each sweep runs a few CG
steps warm-started from the previous factors, but batched over all rows with numpy:

* the factors are rotated into the eigenbasis of YᵀY (orthogonal, dot products unchanged),
  where YᵀY + λ_u I is diagonal: no dense f x f product inside the CG loop, and that diagonal
  is an exact Jacobi preconditioner for the shared part of every system;
* rows are sorted by length and cut into cache-sized chunks of similar-length rows; a chunk's
  observed item factors are gathered into a zero-weight-padded ``(rows, length, f)`` array,
  so the sparse term Yᵀ(C_u − I)Y·d is two batched matrix products (``G @ d`` for the dot
  products y_i·d_u, then the confidence-weighted sum of the rows of ``G``);
* chunks run on a small thread pool (numpy releases the GIL); each chunk writes its own rows,
  so results do not depend on scheduling.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Self

import numpy as np
import scipy.sparse as sp

from .base import ModelFitError, Recommender, check_histories, check_user_items, register, scalar

__all__ = ["ImplicitALS"]

_CHUNK_BYTES = 1 << 22  # gathered factors per chunk: small enough to stay in cache
_CHUNK_ROWS = 512
# Every BLAS call is kept below OpenBLAS's multi-threading thresholds (m·n·k < 2^18 for gemm,
# m·n < 9216 for gemv): its own threads would spin and compete with the chunk thread pool.
_BLAS_ROWS = 32
_BLAS_DEPTH = 128


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a tall ``a``, as a stack of ``_BLAS_ROWS``-row products."""
    n, k = a.shape
    cut = n - n % _BLAS_ROWS
    out = np.empty((n, b.shape[1]), dtype=np.result_type(a, b))
    stack = np.ascontiguousarray(a[:cut]).reshape(-1, _BLAS_ROWS, k)
    np.matmul(stack, b, out=out[:cut].reshape(-1, _BLAS_ROWS, b.shape[1]))
    np.matmul(a[cut:], b, out=out[cut:])
    return out


def _gram(y: np.ndarray) -> np.ndarray:
    """``yᵀy`` in float64, accumulated over stacks of ``_BLAS_ROWS``-row blocks."""
    f = y.shape[1]
    gram = np.zeros((f, f))
    step = _BLAS_ROWS * 256
    for start in range(0, y.shape[0], step):
        block = y[start : start + step].astype(np.float64)
        cut = block.shape[0] - block.shape[0] % _BLAS_ROWS
        stack = block[:cut].reshape(-1, _BLAS_ROWS, f)
        gram += np.matmul(stack.transpose(0, 2, 1), stack).sum(axis=0)
        gram += block[cut:].T @ block[cut:]
    return gram


def _plan(indptr: np.ndarray, f: int) -> list[np.ndarray]:
    """Non-empty rows sorted by length, cut into chunks of about ``_CHUNK_BYTES`` of factors."""
    lengths = np.diff(indptr)
    order = np.argsort(lengths, kind="stable")
    order = order[lengths[order] > 0]
    total = np.concatenate([[0], np.cumsum(lengths[order])])
    by_size = np.searchsorted(total, np.arange(0, total[-1], max(1, _CHUNK_BYTES // (4 * f))))
    by_rows = np.arange(0, order.size, _CHUNK_ROWS)
    bounds = np.unique(np.concatenate([by_size, by_rows, [order.size]])).tolist()
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def _cg_chunk(
    r: sp.csr_matrix,
    y: np.ndarray,
    diag: np.ndarray,
    rotation: np.ndarray,
    reg: np.ndarray,
    alpha: float,
    steps: int,
    x0: np.ndarray | None,
    out: np.ndarray,
    rows: np.ndarray,
    buffer: np.ndarray,
) -> None:
    """Preconditioned CG for ``rows`` of ``r`` in the eigenbasis of YᵀY; writes ``out[rows]``.

    ``diag`` holds the eigenvalues of YᵀY and ``y`` the rotated factors; ``buffer`` is this
    thread's float32 scratch of at least ``len(rows) * max_length * f`` values.
    """
    n, f = rows.size, y.shape[1]
    starts = r.indptr[rows]
    lengths = r.indptr[rows + 1] - starts
    # pad every row to n_blocks * depth entries, depth <= _BLAS_DEPTH
    n_blocks = -(-int(lengths.max()) // _BLAS_DEPTH)
    depth = -(-int(lengths.max()) // n_blocks)
    width = n_blocks * depth
    valid = np.arange(width)[None, :] < lengths[:, None]
    flat = np.where(valid, starts[:, None] + np.arange(width)[None, :], 0)
    conf = np.where(valid, alpha * r.data[flat], np.float32(0))  # c_ui - 1, 0 on padding
    scratch = buffer[: n * width * f].reshape(n * width, f)
    factors = np.take(y, r.indices[flat].ravel(), axis=0, out=scratch, mode="clip")
    factors = factors.reshape(n, n_blocks, depth, f)

    def correction(v: np.ndarray, coef: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Σ_i coef(y_i·v_u) y_i for every row u of the chunk."""
        dots = np.matmul(factors, v[:, None, :, None]).reshape(n, width)
        weights = coef(dots).reshape(n, n_blocks, 1, depth)
        return np.matmul(weights, factors).sum(axis=(1, 2))

    precond = diag[None, :] + reg[rows, None]  # YᵀY + λ_u I, diagonal in this basis
    x = np.zeros((n, f), dtype=np.float32) if x0 is None else _matmul(x0[rows], rotation)
    target = valid + conf  # c_ui on observed items, 0 on padding
    resid = correction(x, lambda d: target - conf * d)  # Σ (c − (c − 1) y·x) y
    resid -= precond * x
    z = resid / precond
    direction = z.copy()
    rz = _rowdot(resid, z)
    for _ in range(steps):
        if not np.any(rz > 1e-20):
            break
        a_dir = correction(direction, lambda d: conf * d)
        a_dir += precond * direction
        curvature = _rowdot(direction, a_dir)
        step = np.divide(rz, curvature, out=np.zeros_like(rz), where=curvature > 0)
        x += step[:, None] * direction
        resid -= step[:, None] * a_dir
        np.divide(resid, precond, out=z)
        rz_new = _rowdot(resid, z)
        beta = np.divide(rz_new, rz, out=np.zeros_like(rz), where=rz > 0)
        direction *= beta[:, None]
        direction += z
        rz = rz_new
    out[rows] = _matmul(x, rotation.T)


def _solve(
    r: sp.csr_matrix,
    y: np.ndarray,
    reg: np.ndarray,
    alpha: float,
    steps: int,
    x0: np.ndarray | None,
    n_threads: int,
) -> np.ndarray:
    """Batched CG solve of every row of ``r`` against the fixed factors ``y``."""
    f = y.shape[1]
    eigvals, q = np.linalg.eigh(_gram(y))
    diag = np.maximum(eigvals, 0.0).astype(np.float32)
    rotation = q.astype(np.float32)
    y_rot = _matmul(y, rotation)
    out = np.zeros((r.shape[0], f), dtype=np.float32)  # empty rows solve to zero
    chunks = _plan(r.indptr, f)
    lengths = np.diff(r.indptr)
    longest = [int(lengths[c[-1]]) for c in chunks]
    scratch = max((c.size * (m + m // _BLAS_DEPTH + 1) * f for c, m in zip(chunks, longest)), default=0)
    local = threading.local()

    def run(rows: np.ndarray) -> None:
        buffer = getattr(local, "buffer", None)
        if buffer is None:
            buffer = local.buffer = np.empty(scratch, dtype=np.float32)
        _cg_chunk(r, y_rot, diag, rotation, reg, alpha, steps, x0, out, rows, buffer)

    if n_threads <= 1 or len(chunks) <= 1:
        for rows in chunks:
            run(rows)
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            list(pool.map(run, chunks))
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
