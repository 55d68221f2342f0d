"""Pure numpy/scipy recommendation algorithms: integer indices in, arrays out."""

from .actions import NextBestAction, beta_take_rates, fit_calibration
from .affinity import (
    SEGMENT_METRIC_NAMES,
    ItemAffinity,
    match_items,
    parse_item_query,
    segment_metrics,
    segment_size,
    segment_split,
)
from .als import ImplicitALS
from .attributes import attribute_labels, attribute_lifts, attribute_scores
from .base import (
    MODELS,
    ModelFitError,
    Recommender,
    load_model,
    register,
    save_model,
    softmax,
    top_n,
)
from .ease import EASE
from .exploration import cold_candidates, explore
from .metrics import METRIC_NAMES, Holdout, holdout_split, ranking_metrics
from .popularity import PopularityCount
from .sequence import SequenceAware, recency_weights, sequence_histories, transitions
from .sims import Sims
from .trending import TrendingNow, trend_prediction_accuracy, window_counts

__all__ = [
    "EASE",
    "METRIC_NAMES",
    "MODELS",
    "SEGMENT_METRIC_NAMES",
    "Holdout",
    "ImplicitALS",
    "ItemAffinity",
    "ModelFitError",
    "NextBestAction",
    "PopularityCount",
    "Recommender",
    "SequenceAware",
    "Sims",
    "TrendingNow",
    "attribute_labels",
    "attribute_lifts",
    "attribute_scores",
    "beta_take_rates",
    "cold_candidates",
    "explore",
    "fit_calibration",
    "holdout_split",
    "load_model",
    "match_items",
    "parse_item_query",
    "ranking_metrics",
    "recency_weights",
    "register",
    "save_model",
    "segment_metrics",
    "segment_size",
    "segment_split",
    "sequence_histories",
    "softmax",
    "top_n",
    "transitions",
    "trend_prediction_accuracy",
    "window_counts",
]
