"""Promotions in GetRecommendations (spec E.1): a share of the list chosen by another
filter, placed at seeded random positions, each marked with ``promotionName``.

1. ``n_promo = round(numResults * percentPromotedItems / 100)`` (halves round up);
2. the promoted items are the model's best items that pass the promotion's filter;
3. the other slots are filled, as without a promotion, from the items that pass the
   request's filter, minus the promoted ones (the request filter does not apply to
   promoted items and the promotion filter not to the others);
4. promoted items keep their order and go to random positions among the others; the draw
   is seeded by the serving ARN, the user / item and the promotion, so a repeated request
   gives the same list;
5. with fewer promotable items than ``n_promo``, the rest of the list is filled normally.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chalicelib.errors import InvalidInputException
from chalicelib.runtime import filters
from chalicelib.runtime.artifacts import Artifact
from chalicelib.runtime.scoring import UserMemo, mask_digest, remember
from chalicelib.state.context import Context

# Recommender use cases that cannot promote (spec E.1).
NO_PROMOTIONS = frozenset({"aws-vod-trending-now"})


@dataclass
class Ranked:
    """A list of catalogue indices, best first; ``scores`` None for recipes that do not
    score; ``explored`` marks the items exploration added (None: none)."""

    idx: np.ndarray
    scores: np.ndarray | None = None
    explored: np.ndarray | None = None
    promoted: np.ndarray | None = None


# rank(allowed items or None, how many, explore?) -> the best allowed items.
Ranker = Callable[[np.ndarray | None, int, bool], Ranked]


def promoted_count(n: int, percent: int) -> int:
    return int(np.floor(n * percent / 100 + 0.5))


def check(promotion: dict[str, Any], recipe_name: str) -> tuple[str, int, str]:
    """(name, percentPromotedItems, filterArn) of the request's one promotion."""
    if recipe_name in NO_PROMOTIONS:
        raise InvalidInputException(
            f"{recipe_name} recommenders do not support promotions.")
    missing = [k for k in ("name", "percentPromotedItems", "filterArn")
               if promotion.get(k) is None]
    if missing:
        raise InvalidInputException(
            f"promotions.1 needs {', '.join(missing)}: a promotion is a name, the share of "
            "the list it fills (percentPromotedItems, 1-100) and the filter choosing its "
            "items (filterArn, with filterValues if it has placeholders).")
    return promotion["name"], int(promotion["percentPromotedItems"]), promotion["filterArn"]


def promote(ctx: Context, artifact: Artifact, rank: Ranker, allowed: np.ndarray | None,
            n: int, promotion: dict[str, Any], recipe_name: str, group_arn: str,
            user_id: str | None, seed: str, memo: UserMemo | None = None,
            ) -> tuple[Ranked, str]:
    """The list with its promoted items (``Ranked.promoted``), and the promotion's name.
    With ``memo`` (the user's, kept with ``rank``'s scores) the list is remembered under
    the promotion, both filters' masks (by digest), ``n`` and the seed."""
    name, percent, filter_arn = check(promotion, recipe_name)
    chosen = filters.apply_filter(ctx, artifact, filter_arn, promotion.get("filterValues"),
                                  user_id, group_arn=group_arn, what="promotions.1.filterArn")
    key = None
    if memo is not None:
        key = ("promotion", name, percent, mask_digest(chosen), mask_digest(allowed), n, seed)
        found = memo.get(key)
        if found is not None:
            return found, name
    merged = _merge(rank, chosen, allowed, n, percent, len(artifact.item_ids), f"{seed}|{name}")
    if memo is not None:
        remember(memo, key, merged, merged.idx, merged.scores, merged.explored,
                 merged.promoted)
    return merged, name


def _merge(rank: Ranker, chosen: np.ndarray | None, allowed: np.ndarray | None, n: int,
           percent: int, n_items: int, seed: str) -> Ranked:
    """Steps 2-4: the promoted items from ``chosen``, the others from ``allowed``, the
    promoted ones at positions drawn from ``seed``."""
    top = rank(chosen, promoted_count(n, percent), False)
    rest_allowed = np.ones(n_items, dtype=bool) if allowed is None else allowed.copy()
    rest_allowed[top.idx] = False
    rest = rank(rest_allowed, n - len(top.idx), True)
    total = len(top.idx) + len(rest.idx)
    rng = np.random.default_rng(zlib.crc32(seed.encode()))
    slots = np.zeros(total, dtype=bool)
    slots[rng.choice(total, size=len(top.idx), replace=False)] = True
    idx = np.empty(total, dtype=np.int64)
    idx[slots], idx[~slots] = top.idx, rest.idx
    merged = Ranked(idx, promoted=slots)
    if top.scores is not None and rest.scores is not None:
        merged.scores = np.empty(total)
        merged.scores[slots], merged.scores[~slots] = top.scores, rest.scores
    if rest.explored is not None:
        merged.explored = np.zeros(total, dtype=bool)
        merged.explored[~slots] = rest.explored
    return merged
