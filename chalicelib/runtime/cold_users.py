"""Scores for a user with no history: popularity refined by the user's attributes in the
Users dataset (see :mod:`chalicelib.algorithms.attributes`). The user's record is the
newest PutUsers record if there is one, else the one the model was trained with."""

from __future__ import annotations

import json

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms import attribute_labels, attribute_scores
from chalicelib.runtime.artifacts import Artifact
from chalicelib.state.context import Context

_NONE = np.zeros(0, dtype=np.int64)


def _tables(artifact: Artifact) -> tuple[sp.csr_matrix, dict[str, int], list[str]]:
    found = artifact.derived.get("attributes")
    if found is None:
        found = artifact.derived["attributes"] = _build_tables(artifact)
    return found


def _build_tables(artifact: Artifact) -> tuple[sp.csr_matrix, dict[str, int], list[str]]:
    x = artifact.extras
    values = x["attr_values"]
    lifts = sp.csr_matrix((x["attr_lift_data"], x["attr_lift_indices"], x["attr_lift_indptr"]),
                          shape=(len(values), artifact.model.n_items))
    return lifts, {v: n for n, v in enumerate(values.tolist())}, x["attr_fields"].tolist()


def _values(ctx: Context, artifact: Artifact, user_id: str) -> np.ndarray:
    x = artifact.extras
    _, index, fields = _tables(artifact)
    row = ctx.store.db.execute(
        "SELECT fields FROM put_rows WHERE dataset_arn = ? AND record_id = ? "
        "ORDER BY id DESC LIMIT 1", [str(x["attr_dataset"]), user_id]).fetchone()
    if row is not None:
        labels = attribute_labels(json.loads(row[0]), fields)
        return np.array([index[v] for v in labels if v in index], dtype=np.int64)
    ids = x["attr_user_ids"]
    at = int(np.searchsorted(ids, user_id))
    if at == len(ids) or ids[at] != user_id:
        return _NONE
    indptr = x["attr_user_indptr"]
    return x["attr_user_values"][indptr[at]:indptr[at + 1]]


def cold_user_scores(ctx: Context, artifact: Artifact, user_id: str | None) -> np.ndarray:
    """Log-popularity, plus the lifts of the user's attribute values when the model has
    Users metadata and the user has a record."""
    if user_id is None or "attr_values" not in artifact.extras:
        return np.log1p(artifact.popularity.astype(np.float64))
    lifts, _, _ = _tables(artifact)
    return attribute_scores(artifact.popularity, lifts, _values(ctx, artifact, user_id))
