"""Shared contract, registry and helpers of the algorithms layer.

Everything here is pure numpy/scipy: integer item/user indices in, arrays out. String ids,
storage and clocks live in other layers.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Mapping
from typing import IO, Any, ClassVar, Self, TypeVar

import numpy as np
import scipy.sparse as sp

__all__ = [
    "MODELS",
    "ModelFitError",
    "Recommender",
    "check_histories",
    "check_user_items",
    "load_model",
    "register",
    "save_model",
    "scalar",
    "softmax",
    "top_n",
]

KIND_KEY = "__kind__"


class ModelFitError(ValueError):
    """Training cannot produce a usable model (empty input, too many items, NaN factors...)."""


class Recommender(abc.ABC):
    """Base class of every model: fit on a user x item matrix, score history rows.

    Subclasses set a unique class-level ``kind`` and are added to :data:`MODELS` with
    :func:`register`, which is how :func:`load_model` finds them again. ``search_space``
    declares the tunable constructor arguments for hyperparameter search as
    ``name -> (scale, low, high)`` with scale ``"int"``, ``"linear"`` or ``"log"``.
    """

    kind: ClassVar[str] = ""
    # Serving asks the model even for a user with no history (else it uses popularity).
    scores_empty_history: ClassVar[bool] = False
    search_space: ClassVar[Mapping[str, tuple[str, float, float]]] = {}

    @abc.abstractmethod
    def fit(self, user_items: sp.csr_matrix) -> Self:
        """Train on ``user_items`` (rows users, columns items, positive float weights).

        Returns
        -------
        Self
            The fitted model, for chaining.
        """

    @abc.abstractmethod
    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        """Raw scores (higher is better) of every item for each weighted history row.

        Parameters
        ----------
        histories : scipy.sparse.csr_matrix
            ``(n, n_items)`` weighted interaction rows; the users need not be training users.

        Returns
        -------
        numpy.ndarray
            Dense float32 array of shape ``(n, n_items)``.
        """

    @abc.abstractmethod
    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything needed to restore the model (hyperparameters as 0-d arrays)."""

    @classmethod
    @abc.abstractmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Self:
        """Rebuild a fitted model from the output of :meth:`to_arrays`."""

    @property
    @abc.abstractmethod
    def n_items(self) -> int:
        """Number of items (columns) the model scores."""


MODELS: dict[str, type[Recommender]] = {}

R = TypeVar("R", bound=type[Recommender])


def register(cls: R) -> R:
    """Class decorator adding a :class:`Recommender` subclass to :data:`MODELS` by ``kind``."""
    if not cls.kind:
        raise TypeError(f"{cls.__name__} has no kind")
    known = MODELS.get(cls.kind)
    if known is not None and known.__qualname__ != cls.__qualname__:
        raise TypeError(f"kind {cls.kind!r} is already registered by {known.__name__}")
    MODELS[cls.kind] = cls
    return cls


def save_model(model: Recommender, file: str | os.PathLike[str] | IO[bytes]) -> None:
    """Write ``model`` to ``file`` as an uncompressed ``.npz`` readable without pickle.

    Parameters
    ----------
    model : Recommender
        A fitted model.
    file : str, path-like or binary file object
        Destination, passed to :func:`numpy.savez`.
    """
    arrays = model.to_arrays()
    if KIND_KEY in arrays:
        raise ValueError(f"{KIND_KEY} is a reserved array name")
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"array {name!r} has dtype object")
    np.savez(file, **{KIND_KEY: np.array(model.kind)}, **arrays)


def load_model(file: str | os.PathLike[str] | IO[bytes]) -> Recommender:
    """Read a model written by :func:`save_model`.

    Raises
    ------
    ValueError
        If the file has no ``__kind__`` entry or names an unknown kind.
    """
    with np.load(file, allow_pickle=False) as data:
        if KIND_KEY not in data.files:
            raise ValueError("not a model file: no __kind__ entry")
        kind = str(data[KIND_KEY])
        arrays = {name: data[name] for name in data.files if name != KIND_KEY}
    cls = MODELS.get(kind)
    if cls is None:
        raise ValueError(f"unknown model kind {kind!r}")
    return cls.from_arrays(arrays)


def check_user_items(user_items: Any) -> sp.csr_matrix:
    """Canonical float32 CSR copy of a training matrix; :class:`ModelFitError` if unusable.

    Duplicates are summed and explicit zeros dropped. Weights must be finite and >= 0.
    """
    if not sp.issparse(user_items):
        raise ModelFitError("user_items must be a scipy.sparse matrix")
    x = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
    x.sum_duplicates()
    if not np.all(np.isfinite(x.data)) or np.any(x.data < 0):
        raise ModelFitError("interaction weights must be finite and non-negative")
    x.eliminate_zeros()
    if x.shape[0] == 0 or x.shape[1] == 0 or x.nnz == 0:
        raise ModelFitError("no interactions to train on")
    x.indices = x.indices.astype(np.int32, copy=False)
    x.indptr = x.indptr.astype(np.int64, copy=False)
    return x


def check_histories(histories: Any, n_items: int, copy: bool = True) -> sp.csr_matrix:
    """Canonical float32 CSR copy of history rows with ``n_items`` columns.

    With ``copy=False`` (for callers that only read the rows) a float32 CSR matrix already
    in canonical form without zeros is checked and returned as it is: one request's row
    is scored without copying it.

    Raises
    ------
    ValueError
        On a wrong column count or negative / non-finite weights.
    """
    if not sp.issparse(histories):
        histories = np.atleast_2d(np.asarray(histories, dtype=np.float32))
    elif (not copy and histories.format == "csr" and histories.dtype == np.float32
          and histories.has_canonical_format):
        h = histories
        if h.shape[1] != n_items:
            raise ValueError(f"histories have {h.shape[1]} columns, model has {n_items} items")
        if not (h.data > 0).all() or not np.isfinite(h.data).all():  # zeros: prune a copy
            return check_histories(h, n_items)
        return h
    h = sp.csr_matrix(histories, dtype=np.float32, copy=True)
    if h.shape[1] != n_items:
        raise ValueError(f"histories have {h.shape[1]} columns, model has {n_items} items")
    h.sum_duplicates()
    if not np.all(np.isfinite(h.data)) or np.any(h.data < 0):
        raise ValueError("history weights must be finite and non-negative")
    h.eliminate_zeros()
    return h


def scalar(arrays: Mapping[str, np.ndarray], name: str) -> Any:
    """The Python scalar stored as a 0-d array under ``name``."""
    return np.asarray(arrays[name]).item()


def top_n(
    scores: np.ndarray, n: int, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the ``n`` best items per row, best first.

    Parameters
    ----------
    scores : numpy.ndarray
        ``(n_rows, n_items)`` scores, or a 1-D ``(n_items,)`` vector. NaN counts as -inf.
    n : int
        How many items to return per row.
    exclude : numpy.ndarray of bool, optional
        Items to drop (scored -inf): same shape as ``scores`` or 1-D ``(n_items,)``.

    Returns
    -------
    indices : numpy.ndarray
        ``(n_rows, n)`` int64 item indices (1-D if ``scores`` is 1-D), padded with -1 when a
        row has fewer than ``n`` finite-or-+inf items. Ties are broken by lower index.
    values : numpy.ndarray
        Matching scores, padded with -inf.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    s = np.asarray(scores)
    if s.dtype.kind not in "fiub":
        raise TypeError("scores must be numeric")
    s = s.astype(np.result_type(s.dtype, np.float32), copy=False)
    one_d = s.ndim == 1
    if one_d:
        if exclude is None or np.ndim(exclude) == 1:
            return _top_n_1d(s, n, exclude)
        s = s[None, :]
    if s.ndim != 2:
        raise ValueError("scores must be 1-D or 2-D")
    drop = np.isnan(s)
    if exclude is not None:
        mask = np.asarray(exclude, dtype=bool)
        if mask.shape not in (s.shape, s.shape[1:]):
            raise ValueError(f"exclude shape {mask.shape} does not match scores {s.shape}")
        drop = drop | mask
    masked = np.where(drop, -np.inf, s)
    n_rows, n_items = masked.shape
    k = min(n, n_items)
    if k == 0:
        idx = np.empty((n_rows, 0), dtype=np.int64)
    elif k < n_items:
        idx = np.argpartition(-masked, k - 1, axis=1)[:, :k].astype(np.int64)
    else:
        idx = np.broadcast_to(np.arange(n_items, dtype=np.int64), (n_rows, n_items))
    vals = np.take_along_axis(masked, idx, axis=1)
    order = np.lexsort((idx, -vals), axis=1)
    idx = np.take_along_axis(idx, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    idx = np.where(np.isneginf(vals), -1, idx)
    if n > k:
        idx = np.pad(idx, ((0, 0), (0, n - k)), constant_values=-1)
        vals = np.pad(vals, ((0, 0), (0, n - k)), constant_values=-np.inf)
    if one_d:
        return idx[0], vals[0]
    return idx, vals


def _top_n_1d(s: np.ndarray, n: int, exclude: np.ndarray | None,
              ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_n` of one row (a request's scores), in fewer passes over the catalogue."""
    n_items = len(s)
    neg = -s
    nan = np.isnan(neg)
    if nan.any():
        np.copyto(neg, np.inf, where=nan)
    if exclude is not None:
        mask = np.asarray(exclude, dtype=bool)
        if mask.shape != s.shape:
            raise ValueError(f"exclude shape {mask.shape} does not match scores {s.shape}")
        np.copyto(neg, np.inf, where=mask)
    k = min(n, n_items)
    if k < n_items:
        idx = np.argpartition(neg, k - 1)[:k].astype(np.int64)
    else:
        idx = np.arange(n_items, dtype=np.int64)
    keys = neg[idx]
    order = np.lexsort((idx, keys))
    idx, vals = idx[order], -keys[order]
    idx[np.isneginf(vals)] = -1
    if n > k:
        idx = np.pad(idx, (0, n - k), constant_values=-1)
        vals = np.pad(vals, (0, n - k), constant_values=-np.inf)
    return idx, vals


def softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``.

    ``-inf`` entries get probability 0; a slice that is entirely ``-inf`` comes back as zeros.

    Parameters
    ----------
    scores : numpy.ndarray
        Real-valued scores.
    axis : int, default -1
        Axis along which the result sums to 1.

    Returns
    -------
    numpy.ndarray
        Probabilities with the dtype of ``scores`` (float64 for non-float input).
    """
    s = np.asarray(scores)
    s = s.astype(np.result_type(s.dtype, np.float32), copy=False)
    if s.ndim == 1 and len(s):  # one request's scores: the same result in fewer steps
        top = s.max()
        if not np.isfinite(top):
            return _softmax_rows(s[None, :], -1)[0]
        e = np.exp(s - top)
        e /= e.sum()  # >= 1: the maximum contributes exp(0)
        return e
    return _softmax_rows(s, axis)


def _softmax_rows(s: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(s, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    e = np.exp(s - top)
    total = np.sum(e, axis=axis, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)
