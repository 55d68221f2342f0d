"""Batched conjugate-gradient solver of the implicit-ALS least-squares problems.

For each row u of a weight matrix R (a user; or an item, with the roles swapped) and fixed
factors Y, with confidence c_ui = 1 + alpha·w_ui, :func:`solve` approximates

    (YᵀY + λ_u I + Yᵀ(C_u − I)Y) x_u = Yᵀ C_u p_u,

where p_ui = 1 on observed items. Like ``implicit``'s ``cg`` solver (Takács, Pilászy & Tikk
2011) it runs a few CG steps from a warm start, but batched over all rows with numpy:

* rows are sorted by length and cut into cache-sized chunks of similar-length rows; a chunk's
  observed item factors are gathered into a zero-weight-padded ``(rows, length, f)`` array,
  so the sparse term Yᵀ(C_u − I)Y·d is two batched matrix products (``G @ d`` for the dot
  products y_i·d_u, then the confidence-weighted sum of the rows of ``G``), and the shared
  term (YᵀY + λ_u I)·d one small dense product; diag(YᵀY) + λ_u is the (Jacobi)
  preconditioner;
* chunks run on a small thread pool (numpy releases the GIL); each chunk writes its own rows,
  so results do not depend on scheduling. BLAS calls are kept small enough that OpenBLAS
  does not start its own threads, whose busy-waiting would compete with the pool.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["Plan", "gram", "solve"]

_CHUNK_BYTES = 1 << 22  # gathered factors per chunk: small enough to stay in cache
_CHUNK_ROWS = 2048
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


def gram(y: np.ndarray) -> np.ndarray:
    """float32 ``yᵀy``, as :func:`solve` uses it."""
    return _gram(y).astype(np.float32)


def _plan(indptr: np.ndarray, f: int) -> list[np.ndarray]:
    """Non-empty rows sorted by length, cut into chunks of about ``_CHUNK_BYTES`` of factors."""
    lengths = np.diff(indptr)
    order = np.argsort(lengths, kind="stable")
    order = order[lengths[order] > 0]
    total = np.concatenate([[0], np.cumsum(lengths[order])])
    by_size = np.searchsorted(total, np.arange(0, total[-1], max(1, _CHUNK_BYTES // (4 * f))))
    by_rows = np.arange(0, order.size, _CHUNK_ROWS)
    bounds = np.unique(np.concatenate([by_size, by_rows, [order.size]])).tolist()
    return [order[a:b] for a, b in itertools.pairwise(bounds)]


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


@dataclass(frozen=True)
class _Layout:
    """A chunk of rows, each padded to ``n_blocks * depth`` entries (depth <= _BLAS_DEPTH)."""

    rows: np.ndarray
    n_blocks: int
    depth: int
    columns: np.ndarray  # (n * width,) column index of every entry, 0 on padding
    conf: np.ndarray  # float32 (n, width): c_ui - 1 = alpha·w_ui, 0 on padding
    valid: np.ndarray  # bool (n, width): False on padding


def _layout(r: sp.csr_matrix, rows: np.ndarray, alpha: float) -> _Layout:
    starts = r.indptr[rows]
    lengths = r.indptr[rows + 1] - starts
    longest = int(lengths.max())
    n_blocks = -(-longest // _BLAS_DEPTH)
    depth = -(-longest // n_blocks)
    width = n_blocks * depth
    valid = np.arange(width)[None, :] < lengths[:, None]
    flat = np.where(valid, starts[:, None] + np.arange(width)[None, :], 0)
    conf = np.where(valid, alpha * r.data[flat], np.float32(0))
    return _Layout(rows, n_blocks, depth, r.indices[flat].ravel(), conf, valid)


class Plan:
    """How :func:`solve` cuts the rows of ``r`` into chunks, with each chunk's padded layout
    when ``keep``: reused by every sweep of a fit (about 9 bytes per stored entry)."""

    def __init__(self, r: sp.csr_matrix, alpha: float, f: int, keep: bool = True) -> None:
        self.r, self.alpha = r, alpha
        self.chunks = _plan(r.indptr, f)
        self.layouts = [_layout(r, c, alpha) for c in self.chunks] if keep else None
        lengths = np.diff(r.indptr)
        longest = (int(lengths[c[-1]]) for c in self.chunks)
        self.scratch = max((c.size * (m + m // _BLAS_DEPTH + 1) * f
                            for c, m in zip(self.chunks, longest, strict=True)), default=0)

    def layout(self, k: int) -> _Layout:
        return self.layouts[k] if self.layouts is not None else \
            _layout(self.r, self.chunks[k], self.alpha)


def _cg_chunk(
    part: _Layout,
    y: np.ndarray,
    gram: np.ndarray,
    reg: np.ndarray,
    steps: int,
    x0: np.ndarray | None,
    out: np.ndarray,
    buffer: np.ndarray,
) -> None:
    """Preconditioned CG for the rows of ``part`` against fixed factors ``y``; writes
    ``out[part.rows]``.

    ``gram`` is YᵀY, ``x0`` the warm start (None: zeros) and ``buffer`` this thread's float32
    scratch, large enough for the chunk's padded gathered factors.
    """
    rows, n_blocks, depth, conf = part.rows, part.n_blocks, part.depth, part.conf
    n, f = rows.size, y.shape[1]
    width = n_blocks * depth
    scratch = buffer[: n * width * f].reshape(n * width, f)
    factors = np.take(y, part.columns, axis=0, out=scratch, mode="clip")
    factors = factors.reshape(n, n_blocks, depth, f)

    def correction(v: np.ndarray, coef: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Σ_i coef(y_i·v_u) y_i for every row u of the chunk."""
        dots = np.matmul(factors, v[:, None, :, None]).reshape(n, width)
        weights = coef(dots).reshape(n, n_blocks, 1, depth)
        return np.matmul(weights, factors).sum(axis=(1, 2))

    lam = reg[rows, None]
    precond = np.diag(gram)[None, :] + lam  # Jacobi preconditioner of the shared part
    x = np.zeros((n, f), dtype=np.float32) if x0 is None else x0[rows]
    target = part.valid + conf  # c_ui on observed items, 0 on padding
    resid = correction(x, lambda d: target - conf * d)  # Σ (c − (c − 1) y·x) y
    resid -= _matmul(x, gram)
    resid -= lam * x
    z = resid / precond
    direction = z.copy()
    rz = _rowdot(resid, z)
    for _ in range(steps):
        if not np.any(rz > 1e-20):
            break
        a_dir = correction(direction, lambda d: conf * d)
        a_dir += _matmul(direction, gram)
        a_dir += lam * direction
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
    out[rows] = x


def solve(
    r: sp.csr_matrix,
    y: np.ndarray,
    reg: np.ndarray,
    alpha: float,
    steps: int,
    x0: np.ndarray | None,
    n_threads: int,
    gram: np.ndarray | None = None,
    plan: Plan | None = None,
) -> np.ndarray:
    """Approximate solution of every row's least-squares problem against fixed factors ``y``.

    Parameters
    ----------
    r : scipy.sparse.csr_matrix
        Canonical float32 weights, one row per vector to solve for.
    y : numpy.ndarray
        float32 ``(r.shape[1], f)`` fixed factors.
    reg : numpy.ndarray
        float32 λ per row of ``r``.
    alpha : float
        Confidence slope, c = 1 + alpha·w.
    steps : int
        CG steps per row.
    x0 : numpy.ndarray, optional
        float32 ``(r.shape[0], f)`` warm start; zeros if None.
    n_threads : int
        Worker threads (<= 1: run inline).
    gram : numpy.ndarray, optional
        float32 ``yᵀy`` if the caller has it (see :func:`gram`).
    plan : Plan, optional
        ``Plan(r, alpha, f)`` if the caller keeps one (a fit solves the same rows each sweep).

    Returns
    -------
    numpy.ndarray
        float32 ``(r.shape[0], f)``; rows without entries are zero.
    """
    f = y.shape[1]
    gram = _gram(y).astype(np.float32) if gram is None else gram
    out = np.zeros((r.shape[0], f), dtype=np.float32)  # empty rows solve to zero
    plan = Plan(r, alpha, f, keep=False) if plan is None else plan
    local = threading.local()

    def run(k: int) -> None:
        buffer = getattr(local, "buffer", None)
        if buffer is None:
            buffer = local.buffer = np.empty(plan.scratch, dtype=np.float32)
        with np.errstate(all="ignore"):  # overflow shows up as non-finite factors
            _cg_chunk(plan.layout(k), y, gram, reg, steps, x0, out, buffer)

    if n_threads <= 1 or len(plan.chunks) <= 1:
        for k in range(len(plan.chunks)):
            run(k)
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            list(pool.map(run, range(len(plan.chunks))))
    return out
