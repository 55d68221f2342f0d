"""Domain use cases (spec C.2): what each recommender trains, on which events, and what
GetRecommendations needs and removes.

Pure data, like ``catalogue``: the recommenders' resources, their training job and
serving all read this one table. Each use case stands in for a documented custom recipe
whose trainer builds its model (spec B.9 names the equivalents):

| use case | model | events trained on |
|---|---|---|
| recommended-for-you, top-picks | aws-user-personalization | every type |
| customers-who-viewed-x-also-viewed | aws-sims | View |
| because-you-watched-x | aws-sims | Watch |
| frequently-bought-together | aws-sims, raw co-purchase counts | Purchase |
| more-like-x | aws-similar-items (co-occurrence + Items metadata) | every type |
| popular-items-by-views / -by-purchases | aws-popularity-count | View / Purchase |
| most-popular | aws-popularity-count | Watch |
| trending-now | aws-trending-now, 3-hour windows | every type |

Event types are matched case-insensitively (spec C.1, clone choice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class UseCase:
    recipe: str                      # the use case's recipe name, e.g. aws-vod-top-picks
    model: str                       # the custom recipe whose trainer builds the model
    event_type: str | None = None    # only these events train the model (None: all)
    required_event: str | None = None  # at least 1000 events of this type are needed
    needs_items: bool = False        # an Items dataset must exist
    needs_user: bool = False         # GetRecommendations requires userId
    needs_item: bool = False         # GetRecommendations requires itemId
    excluded_event: str | None = None  # items the user has such events for are removed
    explores: bool = False           # recommenderConfig.itemExplorationConfig applies
    hyperparameters: Mapping[str, str] = field(default_factory=dict)


_UP, _SIMS, _POP = "aws-user-personalization", "aws-sims", "aws-popularity-count"

USE_CASES: Mapping[str, UseCase] = MappingProxyType({u.recipe: u for u in (
    UseCase("aws-ecomm-popular-items-by-views", _POP, "View", "View", needs_user=True),
    UseCase("aws-ecomm-popular-items-by-purchases", _POP, "Purchase", "Purchase",
            needs_user=True),
    # Raw co-purchase counts (no popularity discount), pairs bought by one user suffice.
    UseCase("aws-ecomm-frequently-bought-together", _SIMS, "Purchase", "Purchase",
            needs_item=True, hyperparameters={"popularity_discount_factor": "0",
                                              "min_cointeraction_count": "1"}),
    UseCase("aws-ecomm-customers-who-viewed-x-also-viewed", _SIMS, "View", "View",
            needs_user=True, needs_item=True, excluded_event="Purchase"),
    UseCase("aws-ecomm-recommended-for-you", _UP, needs_user=True,
            excluded_event="Purchase", explores=True),
    UseCase("aws-vod-because-you-watched-x", _SIMS, "Watch", "Watch", needs_user=True,
            needs_item=True, excluded_event="Watch"),
    UseCase("aws-vod-more-like-x", "aws-similar-items", needs_items=True, needs_user=True,
            needs_item=True, excluded_event="Watch"),
    UseCase("aws-vod-most-popular", _POP, "Watch", "Watch", needs_user=True),
    # The service re-evaluates trends every 2 hours: the shortest window at least as long.
    UseCase("aws-vod-trending-now", "aws-trending-now",
            hyperparameters={"trend_discovery_frequency": "3 hours"}),
    UseCase("aws-vod-top-picks", _UP, needs_items=True, needs_user=True,
            excluded_event="Watch", explores=True),
)})


def use_case(recipe_name: str) -> UseCase | None:
    return USE_CASES.get(recipe_name)
