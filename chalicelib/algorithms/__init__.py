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
from .coldstart import ColdStart, cold_items
from .ease import EASE
from .exploration import cold_candidates, explore, member
from .item_features import (
    metadata_features,
    one_hot,
    tfidf,
    truncated_svd_embeddings,
)
from .metrics import METRIC_NAMES, Holdout, holdout_split, ranking_metrics
from .popularity import PopularityCount
from .sequence import SequenceAware, recency_weights, sequence_histories, transitions
from .similar import SemanticSimilarity, SimilarItems
from .sims import Sims
from .trending import TrendingNow, trend_prediction_accuracy, window_counts

__all__ = [
    "EASE",
    "METRIC_NAMES",
    "MODELS",
    "SEGMENT_METRIC_NAMES",
    "ColdStart",
    "Holdout",
    "ImplicitALS",
    "ItemAffinity",
    "ModelFitError",
    "NextBestAction",
    "PopularityCount",
    "Recommender",
    "SemanticSimilarity",
    "SequenceAware",
    "SimilarItems",
    "Sims",
    "TrendingNow",
    "attribute_labels",
    "attribute_lifts",
    "attribute_scores",
    "beta_take_rates",
    "cold_candidates",
    "cold_items",
    "explore",
    "fit_calibration",
    "holdout_split",
    "load_model",
    "match_items",
    "member",
    "metadata_features",
    "one_hot",
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
    "tfidf",
    "top_n",
    "transitions",
    "trend_prediction_accuracy",
    "truncated_svd_embeddings",
    "window_counts",
]
