"""Next-Best-Action: each user's propensity to take each action (recipe aws-next-best-action).

Three parts, combined so that the score is a probability in [0, 1]:

1. **Base take-rate** of action ``a``: ``p_a = (t_a + s·m) / (e_a + s)``, with ``t_a`` its
   TAKEN events, ``e_a`` its TAKEN + NOT_TAKEN + VIEWED events, ``m = Σt / Σe`` the global
   take-rate and ``s`` the prior strength. That is the posterior mean under a
   ``Beta(s·m, s·(1 − m))`` prior: a rarely shown action is pulled towards the global rate
   instead of jumping to 0 or 1.
2. **Collaborative term** ``c_ua = h_u · B[:, a]``: ``B`` are EASE item-item weights (zero
   diagonal) over actions, fitted on the binarised user x action TAKEN matrix, and ``h_u`` is
   the user's binarised TAKEN row. Users who took the same actions take the same next ones.
3. **Logistic calibration** ``P(u takes a) = σ(θ0 + θ1·logit p_a + θ2·c_ua)``. ``θ`` is fitted
   by penalised Newton on the (user, action) pairs the user was shown (any event), labelled 1
   when the user took the action. ``c`` is cross-fitted on two user folds, so the weights that
   score a pair never saw it; the penalty pulls ``θ`` towards ``(0, 1, 0)`` (the base rate)
   when the data are few.

A history without any TAKEN action scores the base rates themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from .base import ModelFitError, Recommender, check_histories, check_user_items, register, scalar
from .ease import EASE

__all__ = ["NextBestAction", "beta_take_rates", "fit_calibration"]

# Probabilities are clipped this far from 0 and 1 before taking logits.
_EPS = 1e-6
# Score at most this many (users x actions) cells at once, to bound memory.
_CHUNK_CELLS = 1 << 22
_NEWTON_STEPS = 50
_THETA0 = np.array([0.0, 1.0, 0.0])
_FOLD_SEED = 42


def beta_take_rates(taken: np.ndarray, shown: np.ndarray, prior_strength: float,
                    ) -> np.ndarray:
    """Each action's take-rate, smoothed towards the global rate by a Beta prior.

    Parameters
    ----------
    taken : numpy.ndarray
        ``(n_actions,)`` TAKEN event counts.
    shown : numpy.ndarray
        ``(n_actions,)`` TAKEN + NOT_TAKEN + VIEWED event counts (raised to ``taken`` if lower).
    prior_strength : float
        ``s``: how many pseudo-events at the global rate each action starts with.

    Returns
    -------
    numpy.ndarray
        float64 ``(t_a + s·m) / (e_a + s)`` with ``m = Σt / Σe`` clipped to (0, 1).
    """
    t = np.asarray(taken, dtype=np.float64)
    e = np.maximum(np.asarray(shown, dtype=np.float64), t)
    m = float(np.clip(t.sum() / e.sum(), _EPS, 1.0 - _EPS)) if e.sum() > 0 else 0.5
    return (t + prior_strength * m) / (e + prior_strength)


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(q) - np.log1p(-q)


def _ease_weights(x: sp.csr_matrix, l2: float) -> np.ndarray:
    """EASE weights over actions; all zeros when ``x`` has no TAKEN event (an empty fold)."""
    if x.nnz == 0:
        return np.zeros((x.shape[1], x.shape[1]), dtype=np.float32)
    return EASE(l2=l2, binarize=True, max_items=max(x.shape[1], 1)).fit(x).weights


def _pair_scores(h: sp.csr_matrix, weights: np.ndarray, rows: np.ndarray,
                 cols: np.ndarray) -> np.ndarray:
    """``(h @ weights)[rows, cols]`` for rows sorted ascending, a chunk of users at a time."""
    out = np.zeros(len(rows), dtype=np.float64)
    chunk = max(1, _CHUNK_CELLS // max(weights.shape[1], 1))
    for start in range(0, h.shape[0], chunk):
        lo, hi = np.searchsorted(rows, [start, start + chunk])
        if lo < hi:
            dense = np.asarray(h[start:start + chunk] @ weights)
            out[lo:hi] = dense[rows[lo:hi] - start, cols[lo:hi]]
    return out


def _penalised_loss(x: np.ndarray, y: np.ndarray, theta: np.ndarray, l2: float) -> float:
    z = x @ theta
    # -log σ(z) = logaddexp(0, -z); -log(1 - σ(z)) = logaddexp(0, z)
    nll = np.where(y, np.logaddexp(0.0, -z), np.logaddexp(0.0, z)).sum()
    return float(nll + 0.5 * l2 * np.sum((theta - _THETA0) ** 2))


def fit_calibration(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """Logistic regression of ``y`` on the columns of ``x``, penalised towards ``(0, 1, 0)``.

    Newton steps with step halving; the penalty keeps the solution finite even when one class
    is missing or the classes are separable.

    Parameters
    ----------
    x : numpy.ndarray
        ``(n, 3)`` features ``[1, logit p_a, c_ua]``.
    y : numpy.ndarray
        ``(n,)`` bool labels.
    l2 : float
        Penalty weight (> 0).

    Returns
    -------
    numpy.ndarray
        ``θ`` of shape ``(3,)``.
    """
    theta = _THETA0.copy()
    if len(y) == 0:
        return theta
    penalty = l2 * np.eye(len(theta))
    loss = _penalised_loss(x, y, theta, l2)
    for _ in range(_NEWTON_STEPS):
        p = expit(x @ theta)
        grad = x.T @ (p - y) + l2 * (theta - _THETA0)
        hess = (x * (p * (1.0 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hess, grad)
        for _ in range(30):  # halve until the loss does not increase
            new_loss = _penalised_loss(x, y, theta - step, l2)
            if new_loss <= loss:
                break
            step = step / 2.0
        else:
            break
        theta, converged = theta - step, loss - new_loss < 1e-10 * max(1.0, abs(loss))
        loss = new_loss
        if converged:
            break
    return theta


@register
class NextBestAction(Recommender):
    """Propensity of each user to take each action: calibrated base rate + EASE over actions.

    Parameters
    ----------
    prior_strength : float, default 10.0
        Pseudo-events of the Beta prior on each action's take-rate.
    l2 : float, default 10.0
        Ridge penalty of the EASE weights over actions (catalogues of actions are small, so
        lighter than item EASE's).
    calibration_l2 : float, default 1.0
        Penalty pulling the calibration towards the plain base rate.

    Attributes
    ----------
    base_rates : numpy.ndarray
        float64 ``(n_actions,)`` smoothed take-rates ``p_a``.
    weights : numpy.ndarray
        float32 ``(n_actions, n_actions)`` EASE weights ``B`` fitted on all users.
    theta : numpy.ndarray
        float64 ``(3,)`` calibration ``(θ0, θ1, θ2)``.
    """

    kind = "next-best-action"
    search_space: ClassVar[Mapping[str, tuple[str, float, float]]] = {
        "prior_strength": ("log", 1.0, 100.0), "l2": ("log", 1.0, 1000.0)}

    def __init__(self, prior_strength: float = 10.0, l2: float = 10.0,
                 calibration_l2: float = 1.0) -> None:
        if not prior_strength > 0 or not l2 > 0 or not calibration_l2 > 0:
            raise ValueError("prior_strength, l2 and calibration_l2 must be > 0")
        self.prior_strength = float(prior_strength)
        self.l2 = float(l2)
        self.calibration_l2 = float(calibration_l2)
        self.base_rates = np.zeros(0, dtype=np.float64)
        self.weights = np.zeros((0, 0), dtype=np.float32)
        self.theta = _THETA0.copy()

    @property
    def n_items(self) -> int:
        return int(self.base_rates.shape[0])

    def fit(self, user_items: sp.csr_matrix, exposures: sp.csr_matrix | None = None) -> Self:
        """Fit base rates, EASE weights and the calibration.

        Parameters
        ----------
        user_items : scipy.sparse.csr_matrix
            ``(n_users, n_actions)`` TAKEN event counts.
        exposures : scipy.sparse.csr_matrix, optional
            Same shape: TAKEN + NOT_TAKEN + VIEWED event counts. Without it every event is
            a TAKEN one, so every rate tends to 1 and only the ranking is informative.

        Returns
        -------
        Self

        Raises
        ------
        ModelFitError
            No TAKEN event, or ``exposures`` of another shape.
        """
        taken = check_user_items(user_items)
        shown = taken if exposures is None else _exposures(exposures, taken.shape)
        self.base_rates = beta_take_rates(np.asarray(taken.sum(axis=0)).ravel(),
                                          np.asarray(shown.sum(axis=0)).ravel(),
                                          self.prior_strength)
        binary = taken.copy()
        binary.data[:] = 1.0
        self.weights = _ease_weights(binary, self.l2)
        self.theta = fit_calibration(*self._calibration_set(binary, shown), self.calibration_l2)
        if not (np.all(np.isfinite(self.weights)) and np.all(np.isfinite(self.theta))):
            raise ModelFitError("next-best-action weights are not finite")
        return self

    def _calibration_set(self, binary: sp.csr_matrix, shown: sp.csr_matrix,
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Features ``[1, logit p_a, c_ua]`` and labels of the calibration pairs."""
        rows, cols, labels = _shown_pairs(binary, shown)
        collaborative = _cross_fitted(binary, rows, cols, self.l2)
        features = np.column_stack([np.ones(len(rows)), _logit(self.base_rates)[cols],
                                    collaborative])
        return features, labels

    def score(self, histories: sp.csr_matrix) -> np.ndarray:
        """Probability that each history's user takes each action, float32 ``(n, n_actions)``.

        Rows without any TAKEN action get the base rates.
        """
        h = check_histories(histories, self.n_items)
        h.data[:] = 1.0
        collaborative = np.asarray(h @ self.weights, dtype=np.float64)
        z = self.theta[0] + self.theta[1] * _logit(self.base_rates) \
            + self.theta[2] * collaborative
        probs = expit(z)
        empty = np.diff(h.indptr) == 0
        probs[empty] = self.base_rates
        return probs.astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "base_rates": self.base_rates,
            "weights": self.weights,
            "theta": self.theta,
            "prior_strength": np.asarray(self.prior_strength),
            "l2": np.asarray(self.l2),
            "calibration_l2": np.asarray(self.calibration_l2),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Self:
        model = cls(prior_strength=float(scalar(arrays, "prior_strength")),
                    l2=float(scalar(arrays, "l2")),
                    calibration_l2=float(scalar(arrays, "calibration_l2")))
        model.base_rates = np.asarray(arrays["base_rates"], dtype=np.float64)
        model.weights = np.asarray(arrays["weights"], dtype=np.float32)
        model.theta = np.asarray(arrays["theta"], dtype=np.float64)
        return model


def _exposures(exposures: sp.csr_matrix, shape: tuple[int, int]) -> sp.csr_matrix:
    if not sp.issparse(exposures) or exposures.shape != shape:
        raise ModelFitError(f"exposures must be a sparse matrix of shape {shape}")
    shown = sp.csr_matrix(exposures, dtype=np.float32, copy=True)
    shown.sum_duplicates()
    if not np.all(np.isfinite(shown.data)) or np.any(shown.data < 0):
        raise ModelFitError("exposure counts must be finite and non-negative")
    return shown


def _shown_pairs(binary: sp.csr_matrix, shown: sp.csr_matrix,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, took) of the (user, action) pairs with any event, row-sorted, for users
    who took something: the others are served the base rates, so they do not calibrate."""
    pairs = (shown + binary).tocsr()
    pairs.sum_duplicates()
    pairs.sort_indices()
    rows = np.repeat(np.arange(pairs.shape[0]), np.diff(pairs.indptr))
    cols = pairs.indices.astype(np.int64)
    keep = (np.diff(binary.indptr) > 0)[rows]
    rows, cols = rows[keep], cols[keep]
    n_actions = binary.shape[1]
    taken_keys = np.repeat(np.arange(binary.shape[0]), np.diff(binary.indptr)) * n_actions \
        + binary.indices
    return rows, cols, np.isin(rows * n_actions + cols, taken_keys)


def _cross_fitted(binary: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray,
                  l2: float) -> np.ndarray:
    """``c`` of each pair from EASE weights fitted on the other half of the users, so the
    calibration sees scores as serving produces them for pairs the weights never saw."""
    # Random halves (fixed seed): index parity could line up with how ids were made.
    fold = np.random.default_rng(_FOLD_SEED).permutation(binary.shape[0]) % 2
    out = np.zeros(len(rows), dtype=np.float64)
    for f in (0, 1):
        other = (sp.diags((fold != f).astype(np.float32)) @ binary).tocsr()
        sel = fold[rows] == f
        out[sel] = _pair_scores(binary, _ease_weights(other, l2), rows[sel], cols[sel])
    return out
