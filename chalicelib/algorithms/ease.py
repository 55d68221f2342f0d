"""EASE: Embarrassingly Shallow Autoencoder (Steck, WWW 2019).

Closed form item-item model: with G = XᵀX + λI and P = G⁻¹,
B = I − P·diag(1/diag(P)), i.e. B_ij = −P_ij / P_jj off the diagonal and B_ii = 0.
Scores are ``H @ B``. Memory and time grow as n_items² and n_items³, hence ``max_items``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Self

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from .base import ModelFitError, Recommender, check_histories, check_user_items, register, scalar

__all__ = ["EASE"]

_BLOCK = 1024  # item rows per block when building / symmetrising the dense Gram matrix


def _gram(x: sp.csr_matrix) -> np.ndarray:
    """Dense float64 XᵀX, built a block of item rows at a time to bound sparse temporaries."""
    n_items = x.shape[1]
    x64 = x.astype(np.float64)
    xt = x64.T.tocsr()
    gram = np.empty((n_items, n_items), dtype=np.float64)
    for start in range(0, n_items, _BLOCK):
        stop = min(start + _BLOCK, n_items)
        gram[start:stop] = (xt[start:stop] @ x64).toarray()
    return gram


def _inverse_spd(a: np.ndarray) -> np.ndarray:
    """In-place inverse of a symmetric positive definite matrix via Cholesky (LAPACK potri)."""
    potrf, potri = scipy.linalg.get_lapack_funcs(("potrf", "potri"), (a,))
    # a is symmetric, so its transpose is the same matrix in Fortran order: LAPACK works in place.
    chol, info = potrf(a.T, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise ModelFitError(f"Gram matrix is not positive definite (potrf info={info})")
    inv, info = potri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise ModelFitError(f"cannot invert the Gram matrix (potri info={info})")
    n = inv.shape[0]
    for start in range(0, n, _BLOCK):  # copy the upper triangle into the lower one
        stop = min(start + _BLOCK, n)
        inv[start:stop, :start] = inv[:start, start:stop].T
        block = inv[start:stop, start:stop]
        block[...] = np.triu(block) + np.triu(block, 1).T
    return inv


@register
class EASE(Recommender):
    """Item-item linear autoencoder with closed-form ridge solution.

    Parameters
    ----------
    l2 : float, default 250.0
        Ridge penalty λ added to the diagonal of XᵀX. Larger values favour popular items less
        sharply and smooth rare-item weights; Steck reports 200–1000 on public datasets.
    binarize : bool, default False
        Replace interaction weights by 1 before training.
    max_items : int, default 6000
        Refuse (:class:`ModelFitError`) larger catalogues, so callers fall back to ALS.

    Attributes
    ----------
    weights : numpy.ndarray
        float32 ``(n_items, n_items)`` matrix B with zero diagonal.
    """

    kind = "ease"
    search_space: ClassVar[Mapping[str, tuple[str, float, float]]] = {"l2": ("log", 10.0, 5000.0)}

    def __init__(self, l2: float = 250.0, binarize: bool = False, max_items: int = 6000) -> None:
        if not l2 > 0:
            raise ValueError("l2 must be > 0")
        if max_items < 1:
            raise ValueError("max_items must be >= 1")
        self.l2 = float(l2)
        self.binarize = bool(binarize)
        self.max_items = int(max_items)
        self.weights = np.zeros((0, 0), dtype=np.float32)

    @property
    def n_items(self) -> int:
        return int(self.weights.shape[0])

    def fit(self, user_items: sp.csr_matrix) -> Self:
        """Solve for B in closed form.

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
            Empty input, more than ``max_items`` items, or a non-finite solution.
        """
        x = check_user_items(user_items)
        n_items = x.shape[1]
        if n_items > self.max_items:
            raise ModelFitError(f"EASE supports at most {self.max_items} items, got {n_items}")
        if self.binarize:
            x.data[:] = 1.0
        gram = _gram(x)
        gram[np.diag_indices(n_items)] += self.l2
        p = _inverse_spd(gram)
        diag = np.diag(p).copy()
        weights = np.empty((n_items, n_items), dtype=np.float32)
        np.divide(p, -diag[None, :], out=weights, casting="same_kind")
        weights[np.diag_indices(n_items)] = 0.0
        if not np.all(np.isfinite(weights)):
            raise ModelFitError("EASE weights are not finite")
        self.weights = weights
        return self

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        """``histories @ B`` as a dense float32 ``(n, n_items)`` array."""
        h = check_histories(histories, self.n_items, copy=False)
        return np.asarray(h @ self.weights, dtype=np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "weights": self.weights,
            "l2": np.asarray(self.l2),
            "binarize": np.asarray(self.binarize),
            "max_items": np.asarray(self.max_items),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Self:
        model = cls(
            l2=float(scalar(arrays, "l2")),
            binarize=bool(scalar(arrays, "binarize")),
            max_items=int(scalar(arrays, "max_items")),
        )
        model.weights = np.asarray(arrays["weights"], dtype=np.float32)
        return model
