"""Tailor's recipes, built the way its training jobs build them.

* aws-user-personalization / aws-personalized-ranking with default hyperparameters, and
  with ``performHPO=true`` (``chalicelib/jobs/train.py``, ``_collaborative``);
* aws-sims, aws-similar-items and aws-semantic-similarity, the related-items recipes
  (``chalicelib/jobs/train.py`` and ``chalicelib/jobs/train_related.py``).

Nothing here changes a hyperparameter mapping: the benchmark reports what Tailor does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from chalicelib import algorithms as alg
from chalicelib.jobs import evaluate, hpo
from chalicelib.jobs import train as train_job
from chalicelib.jobs.train import RECIPE_MODELS
from chalicelib.jobs.train_related import SEMANTIC_DIM
from chalicelib.resources import catalogue

from . import baselines as bl
from .synthetic import EventLog

HPO_CANDIDATES = 8  # maxNumberOfTrainingJobs of the benchmark's hpoConfig
UP = "aws-user-personalization"


def _defaults(recipe_name: str) -> tuple[catalogue.Recipe, str, dict[str, str]]:
    """(recipe, algorithm name, effective default hyperparameters), as training resolves them."""
    recipe = catalogue.recipe_by_name(recipe_name)
    assert recipe is not None, recipe_name
    algorithm = recipe.algorithm or recipe.name
    return recipe, algorithm, catalogue.validate_hyperparameters(algorithm, {})


def tailor_default(n_items: int, avoid_repeats: bool = True, recipe_name: str = UP,
                   ) -> bl.TailorRecipe:
    """A sequence recipe exactly as chalicelib.jobs.train builds it: default
    hyperparameters; its sequence weights chosen on the training users, as training does."""
    _, _, params = _defaults(recipe_name)
    factory = RECIPE_MODELS[recipe_name]
    model = bl.TailorRecipe(lambda x: factory(params, n_items).fit(x), avoid_repeats)
    model.kind = "sequence/" + factory(params, n_items).kind
    return model


def default_hpo_config(algorithm: str, jobs: int = HPO_CANDIDATES) -> dict[str, Any]:
    """An hpoConfig as a user would write it from DescribeAlgorithm: every tunable
    hyperparameter over its ``defaultHyperParameterRanges``, the default objective, and
    ``jobs`` training jobs. CreateSolution's range check must accept it."""
    wire = catalogue.algorithm_wire(algorithm)["defaultHyperParameterRanges"]
    ranges = {group: [{k: v for k, v in r.items() if k != "isTunable"}
                      for r in rows if r["isTunable"]] for group, rows in wire.items()}
    catalogue.check_hpo_ranges(algorithm, ranges)
    return {"hpoObjective": {"type": "Maximize", "metricName": hpo.DEFAULT_METRIC},
            "hpoResourceConfig": {"maxNumberOfTrainingJobs": str(jobs),
                                  "maxParallelTrainingJobs": "1"},
            "algorithmHyperParameterRanges": ranges}


class TailorHPO(bl.TailorRecipe):
    """A sequence recipe trained with ``performHPO=true``, as ``train._collaborative`` does it:
    ``hpo.search`` over the hpoConfig's candidates, each scored by ``train._validation`` on a
    validation split of the training users; then the sequence weights are tuned (with the
    chosen ``recency_mask``) and the model is fitted on all training users.

    After ``fit``: ``chosen`` (the winning hyperparameters), ``tuned`` (its tuned subset, as
    ``tunedHPOParams``) and ``trials`` (each candidate with its validation metric)."""

    def __init__(self, n_items: int, avoid_repeats: bool = True, recipe_name: str = UP,
                 hpo_config: dict[str, Any] | None = None) -> None:
        super().__init__(None, avoid_repeats)
        self.recipe, self.algorithm, self.fixed = _defaults(recipe_name)
        self.factory = RECIPE_MODELS[recipe_name]
        self.hpo_config = hpo_config or default_hpo_config(self.algorithm)
        self.kind = "sequence/" + self.factory(self.fixed, n_items).kind
        self.trials: list[tuple[dict[str, str], float]] = []

    def fit(self, train: bl.Train) -> bl.Model:
        users, items, ts = train.users, train.items, train.timestamps
        shape = train.matrix.shape
        weights = np.ones(users.size, dtype=np.float32)  # no eventsConfig
        validate = train_job._validation(self.factory, self.recipe, users, items, ts, weights,
                                         shape, self.avoid_repeats)
        metric, _ = hpo.objective(self.hpo_config)
        self.trials = []

        def score(candidate: dict[str, str]) -> dict[str, float]:
            values = validate(candidate)
            self.trials.append((dict(candidate), values[metric]))
            return values

        params, self.tuned = hpo.search(self.algorithm, self.fixed, self.hpo_config, score)
        self.chosen = params
        fit = lambda x: self.factory(params, shape[1]).fit(x)  # noqa: E731
        sequence = evaluate.tune_sequence(fit, users, items, ts, shape, self.avoid_repeats,
                                          params.get("recency_mask", "true") == "true",
                                          weights)
        self.params = {"half_life": sequence[0], "gamma": sequence[1]}
        self.model = evaluate.build(fit, users, items, shape, sequence, weights)
        return self

    def info(self) -> dict[str, Any]:
        """What the search tried and chose: ``summary`` (a sentence), ``distinct`` (how many
        different validation scores the candidates got), ``defaults`` (defaults chosen?)."""
        values = [v for _, v in self.trials]
        chosen = ", ".join(f"{k}={self.chosen[k]}" for k in sorted(self.tuned))
        defaults = self.chosen == self.fixed
        summary = (f"chosen {chosen} ({'the defaults' if defaults else 'not the defaults'}); "
                   f"{len(self.trials)} candidates, {len(set(values))} distinct val NDCG@10 "
                   f"({min(values):.4f}-{max(values):.4f})")
        return {"summary": summary, "distinct": len(set(values)), "defaults": defaults}


def personalized_ranking_order(raw: np.ndarray) -> np.ndarray:
    """Order of each row's inputList as GetPersonalizedRanking returns it: softmax over the
    inputs' raw scores, sorted by probability, ties in input order (stable)."""
    probs = alg.softmax(np.asarray(raw, dtype=np.float32), axis=1)
    return np.argsort(-probs, axis=1, kind="stable")


# ----------------------------------------------------------------------------- related items
def tailor_sims(n_items: int) -> alg.Recommender:
    _, _, params = _defaults("aws-sims")
    return RECIPE_MODELS["aws-sims"](params, n_items)


def item_features(log: EventLog) -> sp.csr_matrix | None:
    """Items metadata as ``train_related.ItemData.features`` builds it: the categorical
    field one-hot, the textual field TF-IDF, one l2-normalised block per field."""
    if log.item_categories is None or log.item_texts is None:
        return None
    return alg.metadata_features({"CATEGORY": log.item_categories},
                                 {"TEXT": log.item_texts})


def similar_items(log: EventLog) -> tuple[Any, dict[str, str]]:
    """A fit function for aws-similar-items with the catalogue defaults (its two
    hyperparameters are HPO-only), and those parameters."""
    _, _, params = _defaults("aws-similar-items")
    features = item_features(log)
    model = alg.SimilarItems(int(params["item_id_hidden_dim"]),
                             int(params["item_metadata_hidden_dim"]))
    return (lambda x: model.fit(x, features)), params


def semantic_similarity(log: EventLog) -> tuple[Any, dict[str, str]]:
    """A fit function for aws-semantic-similarity over the items' text (LSA rank
    ``SEMANTIC_DIM``; interactions only break near-ties)."""
    if log.item_texts is None:
        raise ValueError(f"{log.name} has no item text")
    texts = np.char.strip(np.asarray(log.item_texts, dtype=str))
    return (lambda x: alg.SemanticSimilarity(SEMANTIC_DIM).fit(x, texts)), \
        {"dim": str(SEMANTIC_DIM)}
