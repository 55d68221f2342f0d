"""Pure numpy/scipy recommendation algorithms: integer indices in, arrays out."""

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
    "Holdout",
    "ImplicitALS",
    "ModelFitError",
    "PopularityCount",
    "Recommender",
    "SequenceAware",
    "Sims",
    "TrendingNow",
    "attribute_labels",
    "attribute_lifts",
    "attribute_scores",
    "cold_candidates",
    "explore",
    "holdout_split",
    "load_model",
    "ranking_metrics",
    "recency_weights",
    "register",
    "save_model",
    "sequence_histories",
    "softmax",
    "top_n",
    "transitions",
    "trend_prediction_accuracy",
    "window_counts",
]
