"""Static, service-owned catalogue: recipes, algorithms, feature transformations.

Seed data for ListRecipes / DescribeRecipe / DescribeAlgorithm /
DescribeFeatureTransformation (spec B.2, B.3, B.6, B.12, C.2) plus the
hyperparameter validation used by CreateSolution.  Pure data: no I/O; service-owned
ARN prefixes come from ``state.arns``, the one place ARNs are formatted.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from chalicelib.state.arns import service_arn_prefix

Kind = Literal["integer", "continuous", "categorical"]
Scope = Literal["algorithm", "featurization"]

CATALOGUE_EPOCH = 1543622400.0  # 2018-12-01T00:00:00Z, creation/update date of every entry
RECIPE_ARN_PREFIX = service_arn_prefix("recipe")
ALGORITHM_ARN_PREFIX = service_arn_prefix("algorithm")
FEATURE_TRANSFORMATION_ARN_PREFIX = service_arn_prefix("feature-transformation")
DOMAINS: tuple[str, ...] = ("ECOMMERCE", "VIDEO_ON_DEMAND")
DEFAULT_RESOURCE_CONFIG: Mapping[str, str] = MappingProxyType(
    {"maxNumberOfTrainingJobs": "20", "maxParallelTrainingJobs": "5"})
# Model bounds of IntegerMinValue/IntegerMaxValue (also used for open-ended ranges).
_MODEL_MIN, _MODEL_MAX = -1_000_000, 1_000_000
_BOOL: tuple[str, ...] = ("true", "false")


@dataclass(frozen=True)
class HyperParameter:
    """One hyperparameter (scope "algorithm") or feature-transformation parameter."""
    name: str
    kind: Kind
    default: str
    min_value: int | float | None = None  # None = unbounded (validation only)
    max_value: int | float | None = None
    values: tuple[str, ...] = ()  # categorical only
    tunable: bool = False
    scope: Scope = "algorithm"
    hpo_only: bool = False  # may only be tuned through HPO ranges, never fixed
    min_exclusive: bool = False  # value must be strictly greater than min_value

    @property
    def is_boolean(self) -> bool:
        return self.kind == "categorical" and self.values == _BOOL

    def describe_range(self) -> str:
        if self.kind == "categorical":
            return "one of " + ", ".join(repr(v) for v in self.values) + (
                " (case-insensitive)" if self.is_boolean else "")
        lo = "-inf" if self.min_value is None else str(self.min_value)
        hi = "+inf)" if self.max_value is None else f"{self.max_value}]"
        return ("(" if self.min_exclusive or self.min_value is None else "[") + f"{lo}, {hi}"


def _int(name: str, default: int, lo: int | None, hi: int | None, *, tunable: bool = True,
         scope: Scope = "algorithm", hpo_only: bool = False) -> HyperParameter:
    return HyperParameter(name, "integer", str(default), lo, hi, (), tunable, scope, hpo_only)


def _float(name: str, default: str, lo: float | None, hi: float | None, *,
           tunable: bool = False, scope: Scope = "featurization",
           min_exclusive: bool = False) -> HyperParameter:
    return HyperParameter(name, "continuous", default, lo, hi, (), tunable, scope,
                          False, min_exclusive)


def _cat(name: str, default: str, values: tuple[str, ...], *, tunable: bool = True,
         scope: Scope = "algorithm") -> HyperParameter:
    return HyperParameter(name, "categorical", default, None, None, values, tunable, scope)


def _rnn(hidden_default: int) -> tuple[HyperParameter, ...]:
    return (_int("hidden_dimension", hidden_default, 32, 256),
            _int("bptt", 32, 2, 32),
            _cat("recency_mask", "true", _BOOL))


_HISTORY = (_float("min_user_history_length_percentile", "0.0", 0.0, 1.0),
            _float("max_user_history_length_percentile", "0.99", 0.0, 1.0))
_RECENCY_BIAS = _cat("apply_recency_bias", "true", _BOOL, tunable=False)
_COLD_START = (
    _int("cold_start_max_interactions", 15, 1, None, tunable=False, scope="featurization"),
    _float("cold_start_max_duration", "5.0", 0.0, None, min_exclusive=True),
    _cat("cold_start_relative_from", "latestItem", ("latestItem", "currentTime"),
         tunable=False, scope="featurization"),
)
_AFFINITY = (_int("hidden_dimension", 149, 32, 256, tunable=False),)

HYPERPARAMETERS: Mapping[str, tuple[HyperParameter, ...]] = MappingProxyType({
    "aws-user-personalization": _rnn(149) + _HISTORY,
    "aws-user-personalization-v2": _rnn(149) + (_RECENCY_BIAS,) + _HISTORY,
    "aws-personalized-ranking": _rnn(149) + _HISTORY,
    "aws-personalized-ranking-v2": _rnn(149) + (_RECENCY_BIAS,) + _HISTORY,
    "aws-popularity-count": (),
    "aws-trending-now-custom": (
        _cat("trend_discovery_frequency", "30 minutes",
             ("30 minutes", "1 hour", "3 hours", "1 day"), tunable=False, scope="featurization"),),
    "aws-sims": (
        _float("popularity_discount_factor", "0.5", 0.0, 1.0, tunable=True, scope="algorithm"),
        _int("min_cointeraction_count", 3, 0, 10),
        _float("min_user_history_length_percentile", "0.005", 0.0, 1.0),
        _float("max_user_history_length_percentile", "0.995", 0.0, 1.0),
        _float("min_item_interaction_count_percentile", "0.01", 0.0, 1.0),
        _float("max_item_interaction_count_percentile", "0.9", 0.0, 1.0)),
    "aws-similar-items": (
        _int("item_id_hidden_dim", 100, 30, 200, hpo_only=True),
        _int("item_metadata_hidden_dim", 100, 30, 200, hpo_only=True)),
    "aws-semantic-similarity": (),
    "aws-item-affinity": _AFFINITY,
    "aws-item-attribute-affinity": _AFFINITY,
    "aws-next-best-action": (),
    "aws-hrnn": _rnn(43) + _HISTORY,
    "aws-hrnn-metadata": _rnn(43) + _HISTORY,
    "aws-hrnn-coldstart": _rnn(149) + _COLD_START + _HISTORY,
})
ALGORITHMS: tuple[str, ...] = tuple(HYPERPARAMETERS)


def _featurization_defaults(algorithm: str) -> Mapping[str, str]:
    return MappingProxyType({p.name: p.default for p in HYPERPARAMETERS[algorithm]
                             if p.scope == "featurization"})


FEATURE_TRANSFORMATIONS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "JSON-percentile-filtering": _featurization_defaults("aws-personalized-ranking"),
    "featurize_metadata": _featurization_defaults("aws-hrnn-metadata"),
    "featurize_coldstart": _featurization_defaults("aws-hrnn-coldstart"),
    "sims": _featurization_defaults("aws-sims"),
    "item-affinity": _featurization_defaults("aws-item-affinity"),
    "item-attribute-affinity": _featurization_defaults("aws-item-attribute-affinity"),
})


@dataclass(frozen=True)
class Recipe:
    name: str
    recipe_type: str  # as reported by DescribeRecipe
    algorithm: str | None  # ARN suffix
    feature_transformation: str | None  # ARN suffix
    domain: str | None  # set only for domain use cases
    description: str
    hyperparameters: tuple[HyperParameter, ...]

    @property
    def arn(self) -> str:
        return RECIPE_ARN_PREFIX + self.name

    @property
    def algorithm_arn(self) -> str | None:
        return None if self.algorithm is None else ALGORITHM_ARN_PREFIX + self.algorithm

    @property
    def feature_transformation_arn(self) -> str | None:
        if self.feature_transformation is None:
            return None
        return FEATURE_TRANSFORMATION_ARN_PREFIX + self.feature_transformation

    @property
    def is_use_case(self) -> bool:
        return self.domain is not None

    @property
    def is_legacy(self) -> bool:
        return self.name in LEGACY_RECIPES

    @property
    def serving_type(self) -> str:
        """Recipe type used by serving (B.2 [clone]: popularity-count serves POPULAR_ITEMS)."""
        return "POPULAR_ITEMS" if self.name == "aws-popularity-count" else self.recipe_type

    @property
    def explores(self) -> bool:
        """Whether its campaigns mix cold items in (campaignConfig.itemExplorationConfig)."""
        return self.name in EXPLORING_RECIPES


EXPLORING_RECIPES = frozenset({"aws-user-personalization", "aws-user-personalization-v2"})
LEGACY_RECIPES: frozenset[str] = frozenset({"aws-hrnn", "aws-hrnn-metadata", "aws-hrnn-coldstart"})


def _custom(name: str, recipe_type: str, algorithm: str, ft: str | None, desc: str) -> Recipe:
    return Recipe(name, recipe_type, algorithm, ft, None, desc, HYPERPARAMETERS[algorithm])


def _use_case(name: str, recipe_type: str, domain: str, desc: str) -> Recipe:
    return Recipe(name, recipe_type, None, None, domain, desc, ())


_UP, _PR, _POP, _REL = ("USER_PERSONALIZATION", "PERSONALIZED_RANKING", "POPULAR_ITEMS",
                        "RELATED_ITEMS")
RECIPES: tuple[Recipe, ...] = (
    _custom("aws-user-personalization", _UP, "aws-user-personalization", None,
            "Personalised item recommendations with exploration of new items"),
    _custom("aws-user-personalization-v2", _UP, "aws-user-personalization-v2", None,
            "Large-catalogue personalised recommendations"),
    _custom("aws-personalized-ranking", _PR, "aws-personalized-ranking",
            "JSON-percentile-filtering", "Re-rank a list of items for a user"),
    _custom("aws-personalized-ranking-v2", _PR, "aws-personalized-ranking-v2", None,
            "Large-catalogue re-ranking"),
    _custom("aws-popularity-count", _UP, "aws-popularity-count", "sims",
            "Most popular items by distinct users"),
    _custom("aws-trending-now", _POP, "aws-trending-now-custom", None,
            "Items with the fastest-growing interaction counts"),
    _custom("aws-sims", _REL, "aws-sims", "sims", "Item-to-item co-occurrence similarity"),
    _custom("aws-similar-items", _REL, "aws-similar-items", None,
            "Similar items from co-occurrence and metadata"),
    _custom("aws-semantic-similarity", _REL, "aws-semantic-similarity", None,
            "Similar items from text embeddings"),
    _custom("aws-item-affinity", "USER_SEGMENTATION", "aws-item-affinity", "item-affinity",
            "Users most likely to interact with each item"),
    _custom("aws-item-attribute-affinity", "USER_SEGMENTATION", "aws-item-attribute-affinity",
            "item-attribute-affinity",
            "Users most likely to interact with items having an attribute"),
    _custom("aws-next-best-action", "PERSONALIZED_ACTIONS", "aws-next-best-action", None,
            "Actions a user is most likely to take"),
    _custom("aws-hrnn", _UP, "aws-hrnn", "JSON-percentile-filtering",
            "Session-aware recurrent model"),
    _custom("aws-hrnn-metadata", _UP, "aws-hrnn-metadata", "featurize_metadata",
            "HRNN with user/item/context metadata"),
    _custom("aws-hrnn-coldstart", _UP, "aws-hrnn-coldstart", "featurize_coldstart",
            "HRNN trained on cold items"),
    _use_case("aws-ecomm-popular-items-by-views", _POP, "ECOMMERCE", "Most viewed"),
    _use_case("aws-ecomm-popular-items-by-purchases", _POP, "ECOMMERCE", "Best sellers"),
    _use_case("aws-ecomm-frequently-bought-together", _REL, "ECOMMERCE",
              "Frequently bought together"),
    _use_case("aws-ecomm-customers-who-viewed-x-also-viewed", _REL, "ECOMMERCE",
              "Customers who viewed X also viewed"),
    _use_case("aws-ecomm-recommended-for-you", _UP, "ECOMMERCE", "Recommended for you"),
    _use_case("aws-vod-because-you-watched-x", _REL, "VIDEO_ON_DEMAND", "Because you watched X"),
    _use_case("aws-vod-more-like-x", _REL, "VIDEO_ON_DEMAND", "More like X"),
    _use_case("aws-vod-most-popular", _POP, "VIDEO_ON_DEMAND", "Most popular"),
    _use_case("aws-vod-trending-now", _POP, "VIDEO_ON_DEMAND", "Trending now"),
    _use_case("aws-vod-top-picks", _UP, "VIDEO_ON_DEMAND", "Top picks for you"),
)
_RECIPES_BY_NAME: Mapping[str, Recipe] = MappingProxyType({r.name: r for r in RECIPES})


# ---------------------------------------------------------------- accessors
def _suffix(arn: str, prefix: str) -> str | None:
    if isinstance(arn, str) and arn.startswith(prefix):
        return arn[len(prefix):]
    return None


def recipe_by_name(name: str) -> Recipe | None:
    return _RECIPES_BY_NAME.get(name)


def recipe_from_arn(arn: str) -> Recipe | None:
    name = _suffix(arn, RECIPE_ARN_PREFIX)
    return None if name is None else _RECIPES_BY_NAME.get(name)


def algorithm_from_arn(arn: str) -> str | None:
    """Algorithm name for a known `arn:aws:personalize:::algorithm/<name>`, else None."""
    name = _suffix(arn, ALGORITHM_ARN_PREFIX)
    return name if name in HYPERPARAMETERS else None


def feature_transformation_from_arn(arn: str) -> str | None:
    """Feature-transformation name for a known ARN, else None."""
    name = _suffix(arn, FEATURE_TRANSFORMATION_ARN_PREFIX)
    return name if name in FEATURE_TRANSFORMATIONS else None


def list_recipes(domain: str | None = None) -> list[Recipe]:
    """All recipes (custom + use cases) without a domain; that domain's use cases with one."""
    if domain is None:
        return list(RECIPES)
    if domain not in DOMAINS:
        raise ValueError(f"Invalid domain {domain!r}; valid values: {', '.join(DOMAINS)}")
    return [r for r in RECIPES if r.domain == domain]


def recipe_wire(recipe: Recipe, summary: bool = False) -> dict[str, Any]:
    """botocore `Recipe` (DescribeRecipe) or `RecipeSummary` (ListRecipes) dict."""
    if summary:
        out: dict[str, Any] = {"name": recipe.name, "recipeArn": recipe.arn, "status": "ACTIVE",
                               "creationDateTime": CATALOGUE_EPOCH,
                               "lastUpdatedDateTime": CATALOGUE_EPOCH, "domain": recipe.domain}
    else:  # the Recipe shape has no `domain` member
        out = {"name": recipe.name, "recipeArn": recipe.arn,
               "algorithmArn": recipe.algorithm_arn,
               "featureTransformationArn": recipe.feature_transformation_arn,
               "status": "ACTIVE", "description": recipe.description,
               "creationDateTime": CATALOGUE_EPOCH, "recipeType": recipe.recipe_type,
               "lastUpdatedDateTime": CATALOGUE_EPOCH}
    return {k: v for k, v in out.items() if v is not None}


def _lookup_algorithm(name: str) -> tuple[HyperParameter, ...]:
    try:
        return HYPERPARAMETERS[name]
    except KeyError:
        raise KeyError(f"Unknown algorithm {name!r}; known: {', '.join(ALGORITHMS)}") from None


def algorithm_wire(name: str) -> dict[str, Any]:
    """botocore `Algorithm` dict (DescribeAlgorithm). KeyError for unknown names."""
    params = [p for p in _lookup_algorithm(name) if p.scope == "algorithm"]

    def bound(value: float | None, fallback: int, kind: Kind) -> int | float:
        v = fallback if value is None else value
        return float(v) if kind == "continuous" else int(v)

    ranges: dict[str, list[dict[str, Any]]] = {"integerHyperParameterRanges": [],
                                               "continuousHyperParameterRanges": [],
                                               "categoricalHyperParameterRanges": []}
    for p in params:
        if p.kind == "categorical":
            ranges["categoricalHyperParameterRanges"].append(
                {"name": p.name, "values": list(p.values), "isTunable": p.tunable})
        else:
            ranges[f"{p.kind}HyperParameterRanges"].append(
                {"name": p.name, "minValue": bound(p.min_value, _MODEL_MIN, p.kind),
                 "maxValue": bound(p.max_value, _MODEL_MAX, p.kind), "isTunable": p.tunable})
    return {"name": name, "algorithmArn": ALGORITHM_ARN_PREFIX + name,
            "algorithmImage": {"name": name, "dockerURI": f"tailor://{name}"},
            "defaultHyperParameters": {p.name: p.default for p in params},
            "defaultHyperParameterRanges": ranges,
            "defaultResourceConfig": dict(DEFAULT_RESOURCE_CONFIG),
            "trainingInputMode": "File",
            "creationDateTime": CATALOGUE_EPOCH, "lastUpdatedDateTime": CATALOGUE_EPOCH}


def feature_transformation_wire(name: str) -> dict[str, Any]:
    """botocore `FeatureTransformation` dict. KeyError for unknown names."""
    if name not in FEATURE_TRANSFORMATIONS:
        raise KeyError(f"Unknown feature transformation {name!r}; known: "
                       f"{', '.join(FEATURE_TRANSFORMATIONS)}")
    return {"name": name, "featureTransformationArn": FEATURE_TRANSFORMATION_ARN_PREFIX + name,
            "defaultParameters": dict(FEATURE_TRANSFORMATIONS[name]),
            "creationDateTime": CATALOGUE_EPOCH, "lastUpdatedDateTime": CATALOGUE_EPOCH,
            "status": "ACTIVE"}


# ---------------------------------------------------------------- validation
_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_FLOAT_RE = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def _check_value(algorithm: str, p: HyperParameter, value: Any) -> str:
    where = f"Hyperparameter {p.name!r} of {algorithm}"
    if not isinstance(value, str):  # ValueError: callers report every bad value alike
        raise ValueError(f"{where} has value {value!r} of type {type(value).__name__}; "  # noqa: TRY004
                         f"values must be strings, e.g. {p.default!r}")
    if p.kind == "categorical":
        for allowed in p.values:
            if value.lower() == allowed.lower():
                return allowed
        expected = "a boolean, " if p.is_boolean else ""
        raise ValueError(f"{where} has value {value!r}; expected {expected}{p.describe_range()}")
    pattern = _INT_RE if p.kind == "integer" else _FLOAT_RE
    if not pattern.match(value):
        kind = "an integer" if p.kind == "integer" else "a number"
        raise ValueError(f"{where} has value {value!r}; expected {kind} in the range "
                         f"{p.describe_range()}")
    number: int | float = int(value) if p.kind == "integer" else float(value)
    too_low = p.min_value is not None and (
        number <= p.min_value if p.min_exclusive else number < p.min_value)
    too_high = p.max_value is not None and number > p.max_value
    if too_low or too_high or not math.isfinite(number):
        raise ValueError(f"{where} has value {value!r}, outside the allowed range "
                         f"{p.describe_range()}")
    return str(number) if p.kind == "integer" else value


def validate_hyperparameters(algorithm: str, fixed: Mapping[str, str], *,
                             allow_hpo_only: bool = False) -> dict[str, str]:
    """Effective string map: every (algorithm + featurization) default, overlaid by `fixed`.

    `algorithm` is an algorithm name or ARN. Raises ValueError naming the key, the value
    and what is allowed. HPO-only parameters (Similar-Items) may only be fixed when
    `allow_hpo_only` is true (e.g. when applying HPO winners). Booleans and other
    categorical values match case-insensitively and are returned in canonical spelling.
    """
    name = algorithm_from_arn(algorithm) or algorithm
    if name not in HYPERPARAMETERS:
        raise ValueError(f"Unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    params = {p.name: p for p in HYPERPARAMETERS[name]}
    effective = {p.name: p.default for p in params.values()}
    for key, value in (fixed or {}).items():
        p = params.get(key)
        if p is None:
            if not params:
                raise ValueError(f"Algorithm {name} takes no hyperparameters, but "
                                 f"{key!r}={value!r} was given")
            raise ValueError(f"Unknown hyperparameter {key!r} (value {value!r}) for {name}; "
                             f"valid keys: {', '.join(sorted(params))}")
        if p.hpo_only and not allow_hpo_only:
            raise ValueError(f"Hyperparameter {key!r} of {name} cannot be fixed (value "
                             f"{value!r}); tune it with performHPO=true and a range inside "
                             f"{p.describe_range()} in hpoConfig.algorithmHyperParameterRanges")
        effective[key] = _check_value(name, p, value)
    return effective


RANGE_KINDS = {"integerHyperParameterRanges": "integer",
               "continuousHyperParameterRanges": "continuous",
               "categoricalHyperParameterRanges": "categorical"}


def _tunable(algorithm: str) -> dict[str, HyperParameter]:
    return {p.name: p for p in HYPERPARAMETERS.get(algorithm, ()) if p.tunable}


def check_hpo_ranges(algorithm: str, ranges: Mapping[str, Any]) -> None:
    """Raise ValueError unless every range names a tunable hyperparameter of the right
    kind and lies inside its allowed range."""
    tunable = _tunable(algorithm)
    for group, kind in RANGE_KINDS.items():
        for r in ranges.get(group) or []:
            p = tunable.get(r["name"])
            if p is None:
                raise ValueError(f"{r['name']!r} is not a tunable hyperparameter of {algorithm}; "
                                 f"tunable: {sorted(tunable) or 'none'}.")
            if p.kind != kind:
                raise ValueError(f"{r['name']} is {p.kind}; give it in "
                                 f"{next(g for g, k in RANGE_KINDS.items() if k == p.kind)}.")
            if kind == "categorical":
                bad = [v for v in r.get("values") or [] if v.lower() not in
                       {x.lower() for x in p.values}]
                if bad or not r.get("values"):
                    raise ValueError(f"{r['name']} values must be some of {list(p.values)}.")
                continue
            low, high = r.get("minValue"), r.get("maxValue")
            if low is None or high is None or low > high:
                raise ValueError(f"{r['name']} needs minValue <= maxValue.")
            if (p.min_value is not None and low < p.min_value) or \
                    (p.max_value is not None and high > p.max_value):
                raise ValueError(f"{r['name']} range [{low}, {high}] must lie within "
                                 f"[{p.min_value}, {p.max_value}].")
