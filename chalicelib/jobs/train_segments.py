"""Trainers of the USER_SEGMENTATION recipes, aws-item-affinity and
aws-item-attribute-affinity: an :class:`~chalicelib.algorithms.ItemAffinity` model and
its ``hits_at_1_percent`` / ``recall_at_1_percent`` (spec D.2-D.4).

The metrics come from a model trained on each user's oldest 80 % of interactions and tested
on the newest 20 %; the weight of the user-activity prior is chosen on the same kind of split
inside the training part; the deployed model is then trained on all the data. Batch segment
jobs read from the artifact the model (user and item factors, activity prior) and, for
Item-Attribute-Affinity, the item attribute columns stored in ``extras``.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import scipy.sparse as sp

from chalicelib import algorithms as alg
from chalicelib.jobs.data import dataset_columns, interaction_matrix, null_column, schema_of
from chalicelib.jobs.items import RESERVED_ITEM_FIELDS
from chalicelib.jobs.lifecycle import JobFailed
from chalicelib.jobs.training import Events, Trained, TrainingJob, require_events
from chalicelib.resources.schema_rules import Field
from chalicelib.state import arns

log = logging.getLogger(__name__)

# The catalogue's hidden_dimension (default 149) sizes AWS's neural models. ALS factors
# beyond what the data supports only overfit and cost f² per row: on planted-cluster data
# 16 factors give higher hits_at_1_percent than 64 or 149, and 149 trains ~10x slower than
# 64. So factors = min(hidden_dimension, MAX_FACTORS, max(MIN_FACTORS, sqrt(nnz) / 4)).
MAX_FACTORS = 64
MIN_FACTORS = 8
# Candidate weights of the activity prior. It helps on data where users have similar
# tastes but different activity, and hurts where ALS already ranks heavy users first, so
# each training picks it on a validation split.
POPULARITY_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
# Test items the metrics average over at most (each one scores every user).
EVAL_ITEMS = 2000
TUNE_ITEMS = 500
ATTRIBUTE_PREFIX = "attr."
ATTRIBUTE_KNOWN = "attr_known"


def factors_for(hidden_dimension: int, nnz: int) -> int:
    """ALS factors for a solution's hidden_dimension and distinct (user, item) pairs."""
    by_data = max(MIN_FACTORS, int(math.sqrt(nnz) / 4))
    return max(1, min(hidden_dimension, MAX_FACTORS, by_data))


def attribute_fields(job: TrainingJob) -> tuple[str, list[Field]]:
    """The Items dataset ARN and the fields Item-Attribute-Affinity queries can use: all but
    textual and reserved ones. Checked before reading any interactions.

    Raises JobFailed when the group has no Items dataset or it has no usable field.
    """
    group = job.ctx.store.one(job.version.attrs["datasetGroupArn"])
    arn = arns.dataset(group.arn, "ITEMS")
    needs = (f"{job.recipe.name} needs an Items dataset with at least one metadata field "
             "that is neither textual nor reserved (a categorical, numeric or boolean field)")
    if job.ctx.store.get(arn) is None:
        raise JobFailed(f"{needs}; dataset group {group.arn} has no Items dataset.")
    fields = [f for f in schema_of(job.ctx, arn).fields
              if f.name not in RESERVED_ITEM_FIELDS and not f.textual]
    if not fields:
        raise JobFailed(f"{needs}; the schema of {arn} has only textual or reserved fields.")
    return arn, fields


def item_attributes(job: TrainingJob, arn: str, fields: list[Field],
                    item_ids: np.ndarray) -> dict[str, np.ndarray]:
    """The ``extras`` batch segment jobs match attribute queries on: each field of the Items
    dataset ``arn`` as ``attr.<FIELD>``, aligned with ``item_ids`` (nulls for an item without
    a record), and ``attr_known``, which items have a record.

    Raises JobFailed when the dataset has no data or no record for any interacted item.
    """
    columns = dataset_columns(job.ctx, arn)
    if columns is None:
        raise JobFailed(f"{job.recipe.name} needs item metadata, but {arn} has no data yet; "
                        "import some with CreateDatasetImportJob first.")
    ids = columns["ITEM_ID"]
    pos = np.minimum(np.searchsorted(item_ids, ids), len(item_ids) - 1)
    found = item_ids[pos] == ids
    if not found.any():
        raise JobFailed(f"None of the {len(item_ids)} items in the interactions has a record "
                        f"in {arn}; their attributes are unknown.")
    known = np.zeros(len(item_ids), dtype=bool)
    known[pos[found]] = True
    extras = {ATTRIBUTE_KNOWN: known}
    for f in fields:
        values = null_column(f, len(item_ids))
        if f.name in columns:  # a field added by UpdateDataset may have no data yet
            values = values.astype(columns[f.name].dtype)  # wide enough for the strings
            values[pos[found]] = columns[f.name][found]
        extras[ATTRIBUTE_PREFIX + f.name] = values
    return extras


def _fit(x: sp.csr_matrix, factors: int, weight: float = 0.0) -> alg.ItemAffinity:
    return alg.ItemAffinity(popularity_weight=weight, factors=factors).fit(x)


def _matrix(ev: Events, keep: np.ndarray) -> sp.csr_matrix:
    """User x item matrix of the events in ``keep`` (all users and items, so indices agree)."""
    return interaction_matrix(ev.users[keep], ev.items[keep], ev.shape, ev.weights[keep])


def choose_popularity_weight(ev: Events, train: np.ndarray, factors: int) -> float:
    """The prior weight with the best hits_at_1_percent on a chronological split of the
    training events alone (the test events take no part; ties go to the smaller weight)."""
    inner = np.zeros_like(train)
    inner[train] = alg.segment_split(ev.users[train])
    fit_x = _matrix(ev, inner)
    model = _fit(fit_x, factors)
    check_x = _matrix(ev, train & ~inner)
    exclude = fit_x if ev.avoid_repeats else None
    scored = []
    for weight in POPULARITY_WEIGHTS:
        model.popularity_weight = weight
        hits = alg.segment_metrics(model.item_affinity, check_x, exclude,
                                   max_items=TUNE_ITEMS)["hits_at_1_percent"]
        scored.append((-hits, weight))
    return min(scored)[1]


def _segments(job: TrainingJob, attributes: bool) -> Trained:
    """Check the Items requirement first (cheap), then: prior weight on a validation split,
    metrics of a model trained on the 80 % split, deployed model on all events. Segments
    leave out past interactions only when users rarely repeat items (``avoid_repeats``)."""
    items = attribute_fields(job) if attributes else None
    ev = require_events(job.ctx, job.version)
    extras = item_attributes(job, *items, ev.item_ids) if items else {}
    factors = factors_for(int(job.params["hidden_dimension"]), ev.matrix.nnz)
    train = alg.segment_split(ev.users)
    job.check_stop()
    weight = choose_popularity_weight(ev, train, factors)
    job.check_stop()
    train_x, test_x = _matrix(ev, train), _matrix(ev, ~train)
    held_out = _fit(train_x, factors, weight)
    metrics = alg.segment_metrics(held_out.item_affinity, test_x,
                                  train_x if ev.avoid_repeats else None, max_items=EVAL_ITEMS)
    job.check_stop()
    model = _fit(ev.matrix, factors, weight)
    log.info("%s: %d factors, popularity weight %s", job.version.arn, factors, weight)
    return Trained(model, metrics, ev, extras=extras)


def train_item_affinity(job: TrainingJob) -> Trained:
    """aws-item-affinity: interactions only."""
    return _segments(job, attributes=False)


def train_item_attribute_affinity(job: TrainingJob) -> Trained:
    """aws-item-attribute-affinity: interactions, plus the Items columns queries match."""
    return _segments(job, attributes=True)
