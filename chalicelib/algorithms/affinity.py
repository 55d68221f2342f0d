"""User segmentation (Item-Affinity, Item-Attribute-Affinity): which users for an item.

The model is implicit ALS. A user's affinity for item i is the dot product u·v_i
*standardised over users for that item* (z-score), plus ``popularity_weight`` times the user's
standardised log activity. Standardising puts every item's scores on one scale, so that items
can be averaged (attribute queries) and the activity prior means the same for every item;
the prior helps because a heavy user is more likely to interact with any given item.

Also here, all pure: the chronological split and the ``hits_at_1_percent`` /
``recall_at_1_percent`` metrics (spec D.3, D.4), and the attribute-query matcher of batch
segment jobs (spec H.3).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from .als import ImplicitALS
from .base import check_user_items, register, scalar, top_n

__all__ = [
    "SEGMENT_METRIC_NAMES",
    "ItemAffinity",
    "match_items",
    "parse_item_query",
    "segment_metrics",
    "segment_size",
    "segment_split",
]

SEGMENT_METRIC_NAMES: tuple[str, ...] = ("hits_at_1_percent", "recall_at_1_percent")
# Users x queries scored at once, to bound memory: 16 MiB of float32 scores, plus top_n's
# int64 partition indices and masks, stays under ~100 MiB.
BLOCK_CELLS = 1 << 22


def _standardise(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance (float64); constant input becomes zeros."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x
    std = x.std()
    return (x - x.mean()) / std if std > 0 else np.zeros_like(x)


@register
class ItemAffinity(ImplicitALS):
    """Implicit ALS read column-wise: the users most likely to interact with an item.

    Parameters
    ----------
    popularity_weight : float, default 0.5
        Weight of the user-activity prior added to the per-item standardised score; 0 ranks by
        the collaborative score alone.
    **als
        :class:`~chalicelib.algorithms.ImplicitALS` parameters (``factors``, ``alpha`` ...).

    Attributes
    ----------
    user_prior : numpy.ndarray
        float32 ``(n_users,)`` standardised log(1 + training interaction weight) per user.
    """

    kind = "item_affinity"
    search_space: ClassVar[Mapping[str, tuple[str, float, float]]] = {}

    def __init__(self, popularity_weight: float = 0.5, **als: Any) -> None:
        super().__init__(**als)
        if not np.isfinite(popularity_weight):
            raise ValueError("popularity_weight must be finite")
        self.popularity_weight = float(popularity_weight)
        self.user_prior = np.zeros(0, dtype=np.float32)
        self._stats: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n_users(self) -> int:
        return int(self.user_factors.shape[0])

    def fit(self, user_items: sp.csr_matrix) -> Self:
        """Fit ALS, then the activity prior from each user's total interaction weight."""
        super().fit(user_items)
        activity = np.asarray(check_user_items(user_items).sum(axis=1)).ravel()
        self.user_prior = _standardise(np.log1p(activity)).astype(np.float32)
        self._stats = None
        return self

    def _moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance (float64) of the user factors: a query vector w then has
        user scores U·w with mean mean·w and variance wᵀ·cov·w, without scoring every user."""
        if self._stats is None:
            u = self.user_factors.astype(np.float64)
            mean = u.mean(axis=0) if len(u) else np.zeros(self.factors)
            centred = u - mean
            self._stats = mean, centred.T @ centred / max(len(u), 1)
        return self._stats

    def _normalised(self, queries: np.ndarray) -> np.ndarray:
        """Query vectors scaled so that their user scores have unit variance."""
        _, cov = self._moments()
        w = np.asarray(queries, dtype=np.float64)
        std = np.sqrt(np.maximum(np.einsum("qf,fg,qg->q", w, cov, w), 0.0))
        return w / np.where(std > 1e-12, std, np.inf)[:, None]

    def _affinity(self, queries: np.ndarray) -> np.ndarray:
        """``(q, n_users)`` affinity of every user for each standardised query vector."""
        mean, _ = self._moments()
        z = queries.astype(np.float32) @ self.user_factors.T
        z -= (queries @ mean).astype(np.float32)[:, None]
        z += np.float32(self.popularity_weight) * self.user_prior[None, :]
        return z

    def item_affinity(self, item_idx: np.ndarray) -> np.ndarray:
        """Affinity of every user for each item.

        Parameters
        ----------
        item_idx : numpy.ndarray
            int ``(q,)`` item indices.

        Returns
        -------
        numpy.ndarray
            float32 ``(q, n_users)``: per-item z-score plus the weighted activity prior.
        """
        items = self._check_items(item_idx)
        return self._affinity(self._normalised(self.item_factors[items]))

    def users_for_items(self, item_idx: np.ndarray, n: int,
                        exclude: sp.spmatrix | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` users with the highest affinity for each item (Item-Affinity segments).

        Parameters
        ----------
        item_idx : numpy.ndarray
            int ``(q,)`` item indices.
        n : int
            Users per segment.
        exclude : scipy.sparse matrix, optional
            ``(n_users, n_items)``; a user with a stored entry for an item is left out of that
            item's segment (pass the training interactions when users rarely repeat items).

        Returns
        -------
        users, scores : numpy.ndarray
            ``(q, n)`` user indices best first, padded with -1, and their affinities.
        """
        items = self._check_items(item_idx)
        drop = None if exclude is None else sp.csc_matrix(exclude, dtype=bool)
        users = np.full((len(items), n), -1, dtype=np.int64)
        scores = np.full((len(items), n), -np.inf, dtype=np.float32)
        step = max(1, BLOCK_CELLS // max(self.n_users, 1))
        for start in range(0, len(items), step):  # blocks of queries, to bound memory
            block = items[start:start + step]
            mask = None if drop is None else drop[:, block].T.toarray()
            users[start:start + step], scores[start:start + step] = top_n(
                self.item_affinity(block), n, exclude=mask)
        return users, scores

    def users_for_mask(self, item_mask: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` users with the highest mean affinity over the masked items
        (Item-Attribute-Affinity segments, the mask from :func:`match_items`).

        Averaging standardised scores weighs every matching item equally; as the score is
        linear in the user factors, the mean is one query vector, scored in one product.

        Returns
        -------
        users, scores : numpy.ndarray
            ``(n,)`` user indices best first, padded with -1 (all -1 for an empty mask).
        """
        mask = np.asarray(item_mask, dtype=bool)
        if mask.shape != (self.n_items,):
            raise ValueError(f"item_mask must have shape ({self.n_items},), got {mask.shape}")
        if not mask.any():
            return np.full(n, -1, dtype=np.int64), np.full(n, -np.inf, dtype=np.float32)
        query = self._normalised(self.item_factors[mask]).mean(axis=0, keepdims=True)
        return top_n(self._affinity(self._normalised(query))[0], n)

    def _check_items(self, item_idx: np.ndarray) -> np.ndarray:
        items = np.asarray(item_idx, dtype=np.int64).reshape(-1)
        if items.size and (items.min() < 0 or items.max() >= self.n_items):
            raise IndexError(f"item indices must be in [0, {self.n_items})")
        return items

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {**super().to_arrays(), "user_prior": self.user_prior,
                "popularity_weight": np.asarray(self.popularity_weight)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Self:
        model = super().from_arrays(arrays)
        model.popularity_weight = float(scalar(arrays, "popularity_weight"))
        model.user_prior = np.asarray(arrays["user_prior"], dtype=np.float32)
        return model


def segment_split(users: np.ndarray, train_fraction: float = 0.8) -> np.ndarray:
    """Per user, the oldest ``train_fraction`` of events train, the newest the test (spec D.3).

    Parameters
    ----------
    users : numpy.ndarray
        int user index of every event, events in time order.
    train_fraction : float, default 0.8
        A user with n events trains on ``max(1, floor(train_fraction * n))`` of them.

    Returns
    -------
    numpy.ndarray
        bool ``(n_events,)`` training mask.
    """
    users = np.asarray(users, dtype=np.int64)
    if not 0.0 < train_fraction <= 1.0:
        raise ValueError("train_fraction must be in (0, 1]")
    if users.size == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((np.arange(users.size), users))
    grouped = users[order]
    counts = np.bincount(grouped)
    position = np.arange(users.size) - (np.cumsum(counts) - counts)[grouped]
    cut = np.maximum(1, np.floor(train_fraction * counts + 1e-9).astype(np.int64))
    train = np.empty(users.size, dtype=bool)
    train[order] = position < cut[grouped]
    return train


def segment_size(n_users: int, percent: int = 1) -> int:
    """Users in a top-``percent`` % segment: at least one, rounded up."""
    return max(1, -(-n_users * percent // 100))


def segment_metrics(affinity: Callable[[np.ndarray], np.ndarray], test: sp.spmatrix,
                    exclude: sp.spmatrix | None = None, max_items: int | None = None,
                    seed: int = 0, block_cells: int = BLOCK_CELLS) -> dict[str, float]:
    """``hits_at_1_percent`` and ``recall_at_1_percent`` of a segmentation model (spec D.4).

    For each item with test interactions, the top 1 % of users by affinity form its segment;
    hits = how many of them interacted with the item in the test set, recall = hits / the
    item's distinct test users. Both are averaged over those items.

    Parameters
    ----------
    affinity : callable
        ``item_idx (b,) -> (b, n_users)`` scores, e.g. :meth:`ItemAffinity.item_affinity`.
    test : scipy.sparse matrix
        ``(n_users, n_items)`` test interactions (any positive value).
    exclude : scipy.sparse matrix, optional
        ``(n_users, n_items)`` pairs that may not be in a segment (the training interactions,
        when users rarely repeat items and segments leave out past buyers).
    max_items : int, optional
        Average over at most this many test items, drawn with ``seed``: each item costs a
        score for every user, so large catalogues are measured on a sample.
    seed : int, default 0
        Seed of that draw.
    block_cells : int
        Users x items scored at once.

    Returns
    -------
    dict of str to float
        Keyed by :data:`SEGMENT_METRIC_NAMES`, rounded to 4 decimals; zeros without test items.
    """
    truth = sp.csr_matrix(test).T.tocsr()
    truth.sum_duplicates()
    truth.eliminate_zeros()
    n_users = truth.shape[1]
    relevant = np.diff(truth.indptr)
    items = np.flatnonzero(relevant)
    if items.size == 0:
        return dict.fromkeys(SEGMENT_METRIC_NAMES, 0.0)
    if max_items is not None and items.size > max_items:
        rng = np.random.default_rng(seed)
        items = np.sort(rng.choice(items, size=max(1, max_items), replace=False))
    drop = None if exclude is None else sp.csr_matrix(exclude, dtype=bool).T.tocsr()
    k = segment_size(n_users)
    hits = np.empty(items.size, dtype=np.float64)
    step = max(1, block_cells // max(n_users, 1))
    for start in range(0, items.size, step):  # blocks of items, to bound memory
        block = items[start:start + step]
        mask = None if drop is None else drop[block].toarray()
        top, _ = top_n(np.asarray(affinity(block)), k, exclude=mask)
        actual = truth[block].toarray() > 0
        got = np.take_along_axis(actual, np.maximum(top, 0), axis=1) & (top >= 0)
        hits[start:start + step] = got.sum(axis=1)
    return {"hits_at_1_percent": round(float(hits.mean()), 4),
            "recall_at_1_percent": round(float((hits / relevant[items]).mean()), 4)}


_TERM = re.compile(
    r"""\s*(?:ITEMS\s*\.\s*)?(?P<column>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*
        (?:"(?P<double>(?:[^"\\]|\\.)*)"|'(?P<single>(?:[^'\\]|\\.)*)'|(?P<bare>[^\s"']+))
        \s*(?:(?P<more>AND\s)|$)""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL)


def parse_item_query(query: str) -> list[tuple[str, str]]:
    """``ITEMS.<column> = "<value>"`` terms joined by AND (spec H.3) -> (column, value) pairs.

    The ``ITEMS.`` prefix and AND are case-insensitive; values may be double- or single-quoted
    (``\\`` escapes a quote) or bare numbers. Raises ValueError on anything else.
    """
    terms, pos = [], 0
    while True:
        m = _TERM.match(query, pos)
        if m is None:
            raise ValueError(f"cannot parse item attributes {query!r} at position {pos}; "
                             'expected ITEMS.<column> = "<value>" terms joined by AND')
        raw = next(v for v in (m["double"], m["single"], m["bare"]) if v is not None)
        terms.append((m["column"], re.sub(r"\\(.)", r"\1", raw, flags=re.DOTALL)))
        if not m["more"]:
            return terms
        pos = m.end()


def _term_mask(column: np.ndarray, value: str) -> np.ndarray:
    """Items whose ``column`` equals ``value``: for strings, any of its ``|``-separated
    (categorical) values; numbers compare numerically, booleans as true/false."""
    kind = column.dtype.kind
    if kind in "US":
        if value == "":
            return np.zeros(column.shape, dtype=bool)
        wrapped = np.strings.add(np.strings.add("|", column.astype(np.str_)), "|")
        return np.strings.find(wrapped, f"|{value}|") >= 0
    if kind == "b":
        if value.lower() not in ("true", "false"):
            raise ValueError(f"expected true or false, got {value!r}")
        return column == (value.lower() == "true")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None
    return column == number


def match_items(query: str, columns: Mapping[str, np.ndarray],
                known: np.ndarray | None = None) -> np.ndarray:
    """The items an attribute query selects: every term must hold (AND).

    Parameters
    ----------
    query : str
        E.g. ``ITEMS.GENRE = "comedy" AND ITEMS.YEAR = 1999``; see :func:`parse_item_query`.
    columns : mapping of str to numpy.ndarray
        Item attribute columns, each ``(n_items,)``; names match case-insensitively.
    known : numpy.ndarray, optional
        bool ``(n_items,)``: items that have metadata (others never match, whatever their
        placeholder null values).

    Returns
    -------
    numpy.ndarray
        bool ``(n_items,)`` mask.

    Raises
    ------
    ValueError
        Unparseable query, unknown column, or a value of the wrong kind for its column.
    """
    by_name = {name.upper(): col for name, col in columns.items()}
    n = len(next(iter(by_name.values()))) if by_name else 0
    mask = np.ones(n, dtype=bool) if known is None else np.asarray(known, dtype=bool).copy()
    for name, value in parse_item_query(query):
        column = by_name.get(name.upper())
        if column is None:
            raise ValueError(f"unknown item attribute {name!r}; the model knows "
                             f"{', '.join(sorted(columns)) or 'none'}")
        try:
            mask &= _term_mask(np.asarray(column), value)
        except ValueError as exc:
            raise ValueError(f"item attribute {name}: {exc}") from None
    return mask
