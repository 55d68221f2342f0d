"""Trainers of the RELATED_ITEMS recipes that read item metadata: aws-similar-items
(co-occurrence blended with metadata) and aws-semantic-similarity (item text), spec B.2,
B.5; the models are in :mod:`chalicelib.algorithms.similar`.

Their catalogue is every item of the Interactions and the Items datasets: the interacted
items first (their indices stay those of the events), then the Items records nobody has
interacted with yet, in id order. So GetRecommendations answers for a cold item with its
metadata neighbours, and cold items can be neighbours. The artifact's ``user_items`` has a
column for each of them.

Item metadata, per Items field (``trainingDataConfig`` may exclude fields or list the only
ones to use; ITEM_ID and CREATION_TIMESTAMP are never features):

* categorical strings, and plain strings, one-hot (``|`` separates several categories);
  booleans as the categories "true" / "false";
* textual strings: TF-IDF;
* numbers are left out. A shared price decile is weak evidence that two items are alike,
  yet it would weigh as much as a shared genre: on planted clusters, an unrelated PRICE
  field bucketed by decile cut the share of cold items' neighbours from their own cluster
  from 100 % to 45 %. (Nulls of int fields are also stored as 0, indistinguishable.)

Metrics (spec D.3): a model trained without 10 % of the users, each of them queried with
the last item of their history; the deployed model is then trained on all the data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from chalicelib import algorithms as alg
from chalicelib.jobs import evaluate, hpo
from chalicelib.jobs.data import interaction_matrix
from chalicelib.jobs.items import ItemData, catalogue_of, item_data, widen
from chalicelib.jobs.lifecycle import JobFailed
from chalicelib.jobs.training import Events, Trained, TrainingJob, load_events, require_events

log = logging.getLogger(__name__)

# Semantic-Similarity's LSA rank (the recipe has no hyperparameters).
SEMANTIC_DIM = 100


Fit = Callable[[sp.csr_matrix], alg.Recommender]


def _held_out(fit: Fit, ev: Events, n_items: int, mask: np.ndarray | None = None,
              seed: int = 42) -> dict[str, float]:
    """The 8 metrics of a model fitted without 10 % of the users (of the events in
    ``mask``), each test user queried with the last item of its history."""
    keep = np.ones(len(ev.users), dtype=bool) if mask is None else mask
    users, items = ev.users[keep], ev.items[keep]
    holdout = alg.holdout_split(users, items, ev.timestamps[keep], seed=seed)
    train = holdout.train_mask
    model = fit(interaction_matrix(users[train], items[train], (ev.shape[0], n_items),
                                   ev.weights[keep][train]))
    return evaluate.metrics_of(model, holdout, items, n_items, "RELATED_ITEMS",
                               ev.avoid_repeats)


Factory = Callable[[dict[str, str]], Fit]


def _similar_factory(features: sp.csr_matrix | None) -> Factory:
    def factory(params: dict[str, str]) -> Fit:
        model = alg.SimilarItems(int(params["item_id_hidden_dim"]),
                                 int(params["item_metadata_hidden_dim"]))
        return lambda x: model.fit(x, features)
    return factory


def _tune(job: TrainingJob, ev: Events, n_items: int, factory: Factory,
          ) -> tuple[dict[str, str], dict[str, str] | None]:
    """performHPO: the hpoConfig candidate with the best metric on a validation split of
    the training users (the users GetSolutionMetrics holds out never take part)."""
    if not job.version.attrs.get("performHPO"):
        return job.params, None
    mask = alg.holdout_split(ev.users, ev.items, ev.timestamps).train_mask

    def score(params: dict[str, str]) -> dict[str, float]:
        return _held_out(factory(params), ev, n_items, mask, seed=7)

    return hpo.search(job.recipe.algorithm or job.recipe.name, job.params,
                      job.config.get("hpoConfig") or {}, score)


def similar_items(job: TrainingJob) -> Trained:
    """aws-similar-items: interactions required; Items metadata used when present."""
    ev = require_events(job.ctx, job.version)
    items = item_data(job)
    catalogue = catalogue_of(ev.item_ids, items)
    features = items.features(catalogue) if items is not None else None
    factory = _similar_factory(features)
    job.check_stop()
    params, tuned = _tune(job, ev, len(catalogue), factory)
    metrics = _held_out(factory(params), ev, len(catalogue))
    job.check_stop()
    user_items = widen(ev.matrix, len(catalogue))
    model = factory(params)(user_items)
    log.info("%s: %d items (%d without interactions), %s metadata features", job.version.arn,
             len(catalogue), len(catalogue) - len(ev.item_ids),
             0 if features is None else features.shape[1])
    return Trained(model, metrics, ev, item_ids=catalogue, user_items=user_items, tuned=tuned)


def _text_items(job: TrainingJob) -> ItemData:
    """The Items data with its textual fields; JobFailed naming what is missing."""
    needs = (f"{job.recipe.name} needs an Items dataset with at least one textual field "
             '(a string field with "textual": true) holding item descriptions')
    items = item_data(job)
    if items is None:
        raise JobFailed(f"{needs}; dataset group {job.version.attrs['datasetGroupArn']} has "
                        "no Items data: create an Items dataset and import item metadata.")
    textual = [f for f in items.fields if f.textual]
    if not textual:
        names = ", ".join(f.name for f in items.fields) or "none"
        raise JobFailed(f"{needs}; none of the Items fields it may use is textual ({names}).")
    return replace(items, fields=textual)


def semantic_similarity(job: TrainingJob) -> Trained:
    """aws-semantic-similarity: Items text required; interactions optional (a popularity
    tie-break, and the metrics, which are empty without interactions)."""
    items = _text_items(job)
    ev = load_events(job.ctx, job.version, check=False)
    catalogue = catalogue_of(ev.item_ids if ev is not None else np.zeros(0, str), items)
    texts = items.text(catalogue)
    fit = lambda x: _fit_semantic(x, texts)  # noqa: E731
    metrics: dict[str, float] = {}
    if ev is not None and np.bincount(ev.users).max(initial=0) >= 2:
        metrics = _held_out(fit, ev, len(catalogue))
    job.check_stop()
    user_items = widen(ev.matrix, len(catalogue)) if ev is not None else \
        sp.csr_matrix((0, len(catalogue)), dtype=np.float32)
    model = fit(user_items)
    return Trained(model, metrics, ev, item_ids=catalogue,
                   user_ids=ev.user_ids if ev is not None else np.zeros(0, str),
                   user_items=user_items)


def _fit_semantic(user_items: sp.csr_matrix, texts: np.ndarray) -> alg.Recommender:
    try:
        return alg.SemanticSimilarity(SEMANTIC_DIM).fit(user_items, texts)
    except alg.ModelFitError as exc:
        raise JobFailed(f"aws-semantic-similarity cannot compare the items' text: {exc}; "
                        "import Items with descriptions that share words.") from None

