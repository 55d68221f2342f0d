"""What serving needs to explore cold items (spec B.4), computed at training time.

User-Personalization versions know every item of the Items dataset, not only those with
interactions: items nobody has interacted with yet are appended to the catalogue (after
the items the model was fitted on, so model indices stay valid) and can be shown through
exploration. For each catalogue item the artifact keeps its interaction count and its
age — seconds from its CREATION_TIMESTAMP (or first interaction) to the newest
interaction in the data — from which serving picks the campaign's candidates.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from chalicelib.jobs.data import dataset_columns
from chalicelib.jobs.training import Events
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.store import Resource


def item_metadata(ctx: Context, version: Resource) -> dict[str, np.ndarray] | None:
    """The Items dataset of the version's dataset group (newest record per item), if any."""
    group = ctx.store.one(version.attrs["datasetGroupArn"])
    arn = arns.arn("dataset", group.name, "ITEMS")
    return dataset_columns(ctx, arn) if ctx.store.get(arn) else None


def extend_catalogue(ctx: Context, version: Resource, events: Events,
                     ) -> tuple[np.ndarray, sp.csr_matrix, dict[str, np.ndarray]]:
    """(item ids, user x item matrix, extras): the events' catalogue plus the Items
    dataset's items without interactions, and each item's count and age."""
    items = item_metadata(ctx, version)
    known = events.item_ids
    ids = items["ITEM_ID"].astype(str) if items is not None else known[:0]
    catalogue = np.concatenate([known, np.setdiff1d(ids, known)])
    created = np.full(len(catalogue), np.nan)
    if items is not None and "CREATION_TIMESTAMP" in items:
        order = np.argsort(catalogue)
        stamps = items["CREATION_TIMESTAMP"].astype(np.float64)
        created[order[np.searchsorted(catalogue, ids, sorter=order)]] = np.where(
            stamps > 0, stamps, np.nan)
    n = len(catalogue)
    newest = float(events.timestamps.max())
    first = np.full(n, np.nan)
    # Events are oldest first: assigning in reverse leaves each item's first event.
    first[events.items[::-1]] = events.timestamps[::-1]
    born = np.where(np.isnan(created), first, created)
    counts = np.bincount(events.items, minlength=n).astype(np.int64)
    matrix = events.matrix
    if n > len(known):
        matrix = sp.csr_matrix((matrix.data, matrix.indices, matrix.indptr),
                               shape=(matrix.shape[0], n))
    extras = {"item_counts": counts, "item_ages": newest - born}
    return catalogue, matrix, extras
