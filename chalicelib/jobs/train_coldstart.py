"""Trainer of the legacy aws-hrnn-coldstart recipe (spec B.2, B.3, B.5): recommends only
cold items, matched to the user's history through item metadata
(:class:`chalicelib.algorithms.ColdStart`).

An item is cold when it has fewer than ``cold_start_max_interactions`` interactions and
is younger than ``cold_start_max_duration`` days, its age counted from its
CREATION_TIMESTAMP (else its first interaction) to the newest item's (``latestItem``) or
to now (``currentTime``). As in AWS, training fails unless there are 100 to 80,000 cold
items. Metadata embeddings have ``hidden_dimension`` dimensions (SVD of the one-hot and
TF-IDF features of the Items dataset).
"""

from __future__ import annotations

import time

import numpy as np

from chalicelib import algorithms as alg
from chalicelib.jobs import evaluate
from chalicelib.jobs.items import (
    catalogue_of,
    creation_times,
    first_events,
    item_data,
    widen,
)
from chalicelib.jobs.lifecycle import JobFailed
from chalicelib.jobs.training import Trained, TrainingJob, require_events

COLD_ITEMS = (100, 80_000)
DAY = 86400.0


def train_hrnn_coldstart(job: TrainingJob) -> Trained:
    ev = require_events(job.ctx, job.version)
    items = item_data(job)
    if items is None or not items.fields:
        raise JobFailed("aws-hrnn-coldstart needs an Items dataset with metadata fields "
                        "(categorical or textual) to match cold items to users; import one.")
    catalogue = catalogue_of(ev.item_ids, items)
    n = len(catalogue)
    features = items.features(catalogue)
    if features is None:
        raise JobFailed("The Items dataset's metadata fields hold no values; aws-hrnn-coldstart "
                        "needs categorical or textual item metadata.")
    born = creation_times(items, catalogue,
                          first_events(ev.items, ev.timestamps, len(ev.item_ids)))
    now = time.time() if job.params["cold_start_relative_from"] == "currentTime" \
        else np.nanmax(born)
    cold = alg.cold_items(np.bincount(ev.items, minlength=n), (now - born) / DAY,
                          int(job.params["cold_start_max_interactions"]),
                          float(job.params["cold_start_max_duration"]))
    if not COLD_ITEMS[0] <= cold.sum() <= COLD_ITEMS[1]:
        raise JobFailed(
            f"aws-hrnn-coldstart needs {COLD_ITEMS[0]:,} to {COLD_ITEMS[1]:,} cold items; the "
            f"data has {int(cold.sum()):,} (fewer than {job.params['cold_start_max_interactions']} "
            f"interactions and younger than {job.params['cold_start_max_duration']} days). "
            "Adjust cold_start_max_interactions or cold_start_max_duration.")
    embeddings = alg.truncated_svd_embeddings(features, int(job.params["hidden_dimension"]))
    matrix = widen(ev.matrix, n)
    fit = lambda x: alg.ColdStart().fit(x, embeddings, cold)  # noqa: E731
    holdout = alg.holdout_split(ev.users, ev.items, ev.timestamps)
    mask = holdout.train_mask
    held_out = evaluate.build(fit, ev.users[mask], ev.items[mask], (ev.shape[0], n), None,
                              ev.weights[mask])
    metrics = evaluate.metrics_of(held_out, holdout, ev.items, n, "USER_PERSONALIZATION",
                                  ev.avoid_repeats)
    job.check_stop()
    return Trained(fit(matrix), metrics, ev, item_ids=catalogue, user_items=matrix)
