"""The Items dataset as training reads it: records aligned with a model's catalogue.

Recipes that know items nobody has interacted with yet (similar-items, semantic-similarity,
hrnn-coldstart, exploration of user-personalization) list the interacted items first —
their indices stay those of the events — then the Items records without interactions, in
id order; :func:`widen` gives the interaction matrix a column for each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from chalicelib import algorithms as alg
from chalicelib.jobs.data import dataset_columns, schema_of
from chalicelib.jobs.training import TrainingJob
from chalicelib.resources.schema_rules import DatasetSchema, Field
from chalicelib.state import arns

# Items fields that are never features: the id and the reserved CREATION_TIMESTAMP.
RESERVED_ITEM_FIELDS = frozenset({"ITEM_ID", "CREATION_TIMESTAMP"})
NUMERIC_TYPES = frozenset({"int", "long", "float", "double"})  # not features


@dataclass
class ItemData:
    """The Items dataset's records (newest per item) and the fields used as features."""

    columns: dict[str, np.ndarray]
    fields: list[Field]

    @property
    def ids(self) -> np.ndarray:
        return self.columns["ITEM_ID"].astype(str)

    def aligned(self, name: str, catalogue: np.ndarray) -> np.ndarray:
        """String column ``name`` in catalogue order, "" for items without a record;
        booleans as "true" / "false"."""
        column = self.columns[name]
        if column.dtype == bool:
            column = np.where(column, "true", "false")
        order = np.argsort(catalogue, kind="stable")
        pos = order[np.searchsorted(catalogue, self.ids, sorter=order)]
        out = np.zeros(len(catalogue), dtype=column.dtype)
        out[pos] = column
        return out

    def features(self, catalogue: np.ndarray) -> sp.csr_matrix | None:
        """Metadata feature rows of the catalogue (see the module docstring)."""
        used = [f for f in self.fields if f.type not in NUMERIC_TYPES]
        return alg.metadata_features(
            {f.name: self.aligned(f.name, catalogue) for f in used if not f.textual},
            {f.name: self.aligned(f.name, catalogue) for f in used if f.textual})

    def text(self, catalogue: np.ndarray) -> np.ndarray:
        """Each catalogue item's textual fields joined by blanks ("" without text)."""
        out = np.zeros(len(catalogue), dtype=str)
        for f in self.fields:
            if f.textual:
                out = np.char.add(np.char.add(out, " "), self.aligned(f.name, catalogue))
        return np.char.strip(out)


def used_fields(job: TrainingJob, schema: DatasetSchema) -> list[Field]:
    """Items fields the solution trains on: trainingDataConfig's includedDatasetColumns
    (when it lists ITEMS) minus its excludedDatasetColumns, never the reserved ones."""
    data_config = job.config.get("trainingDataConfig") or {}
    included = (data_config.get("includedDatasetColumns") or {}).get("ITEMS")
    excluded = set((data_config.get("excludedDatasetColumns") or {}).get("ITEMS") or ())
    return [f for f in schema.fields if f.name not in RESERVED_ITEM_FIELDS
            and f.name not in excluded and (included is None or f.name in included)]


def item_data(job: TrainingJob) -> ItemData | None:
    """The dataset group's Items records and usable fields (those with data: a field added
    by UpdateDataset has none until records carry it); None without Items data."""
    group = job.ctx.store.one(job.version.attrs["datasetGroupArn"])
    arn = arns.dataset(group.arn, "ITEMS")
    if job.ctx.store.get(arn) is None:
        return None
    columns = dataset_columns(job.ctx, arn)
    if columns is None:
        return None
    fields = [f for f in used_fields(job, schema_of(job.ctx, arn)) if f.name in columns]
    return ItemData(columns, fields)


def catalogue_of(known: np.ndarray, items: ItemData | None) -> np.ndarray:
    """The interacted items (``known``, in event index order), then the other Items ids."""
    if items is None:
        return known
    return np.concatenate([known, np.setdiff1d(items.ids, known)]).astype(str)


def widen(matrix: sp.csr_matrix, n_items: int) -> sp.csr_matrix:
    """``matrix`` with empty columns appended up to ``n_items``."""
    return sp.csr_matrix((matrix.data, matrix.indices, matrix.indptr),
                         shape=(matrix.shape[0], n_items))


def creation_times(items: ItemData | None, catalogue: np.ndarray, first_event: np.ndarray,
                   ) -> np.ndarray:
    """Each catalogue item's creation time (epoch seconds): its CREATION_TIMESTAMP when
    set, else its first event (``first_event``, one per interacted item), else NaN."""
    born = np.full(len(catalogue), np.nan)
    born[:len(first_event)] = first_event
    if items is not None and "CREATION_TIMESTAMP" in items.columns:
        stamps = items.aligned("CREATION_TIMESTAMP", catalogue).astype(np.float64)
        born = np.where(stamps > 0, stamps, born)
    return born


def first_events(items: np.ndarray, timestamps: np.ndarray, n_items: int) -> np.ndarray:
    """Time of each item's first event (NaN without one); events are oldest first, so
    assigning in reverse leaves each item's earliest."""
    first = np.full(n_items, np.nan)
    first[items[::-1]] = timestamps[::-1]
    return first
