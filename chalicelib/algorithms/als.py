"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008), trained by batched conjugate gradient.

Each sweep solves, for every user u and then every item, the weighted least-squares problem
with confidence c_ui = 1 + alpha·w_ui (see :mod:`._cg` for the vectorised solver). History
rows are scored by folding them in: the same user-side solve, started from zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from . import _cg
from .base import ModelFitError, Recommender, check_histories, check_user_items, register, scalar

__all__ = ["ImplicitALS"]


@register
class ImplicitALS(Recommender):
    """Weighted matrix factorisation for implicit feedback, trained by batched CG-ALS.

    Parameters
    ----------
    factors : int, default 64
        Latent dimension.
    regularization : float, default 0.1
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
    search_space: ClassVar[Mapping[str, tuple[str, float, float]]] = {
        "factors": ("int", 16, 256),
        "regularization": ("log", 0.01, 1.0),
        "alpha": ("log", 0.5, 40.0),
    }

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.1,
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
        # (item_factors, their Gram matrix): folding in reuses it while they stay the same
        self._gram: tuple[np.ndarray, np.ndarray] | None = None

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
            Empty input, overflowing confidences or non-finite factors.
        """
        x = check_user_items(user_items)
        xt = x.T.tocsr()
        rng = np.random.default_rng(self.random_state)
        scale = np.float32(0.1 / np.sqrt(self.factors))
        users = rng.standard_normal((x.shape[0], self.factors), dtype=np.float32) * scale
        items = rng.standard_normal((x.shape[1], self.factors), dtype=np.float32) * scale
        with np.errstate(all="ignore"):
            peak = np.float32(self.alpha) * x.data.max()
            user_reg, item_reg = self._row_reg(x), self._row_reg(xt)
        if not (np.isfinite(peak) and np.isfinite(user_reg).all() and np.isfinite(item_reg).all()):
            raise ModelFitError("confidence 1 + alpha * weight overflows float32")
        # every sweep solves the same rows: their chunks and padded layouts are kept
        by_user = _cg.Plan(x, self.alpha, self.factors)
        by_item = _cg.Plan(xt, self.alpha, self.factors)
        with np.errstate(all="ignore"):
            for _ in range(self.iterations):
                users = _cg.solve(
                    x, items, user_reg, self.alpha, self.cg_steps, users, self.n_threads,
                    plan=by_user,
                )
                items = _cg.solve(
                    xt, users, item_reg, self.alpha, self.cg_steps, items, self.n_threads,
                    plan=by_item,
                )
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
        y = self.item_factors
        if self._gram is None or self._gram[0] is not y:
            self._gram = (y, _cg.gram(y))
        with np.errstate(all="ignore"):
            return _cg.solve(
                h,
                y,
                self._row_reg(h),
                self.alpha,
                self.fold_in_steps,
                None,
                self.n_threads,
                self._gram[1],
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
