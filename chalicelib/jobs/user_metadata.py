"""The Users dataset's categorical attributes, for users with no history (spec B.5).

At training, each attribute value (``FIELD=value``) gets the items it over-represents
(:func:`chalicelib.algorithms.attribute_lifts`); the artifact keeps those and every
Users-dataset user's values, so serving can refine popularity for a user who has
attributes but no events — including one sent by PutUsers after training.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from chalicelib import algorithms as alg
from chalicelib.jobs.data import dataset_columns, schema_of
from chalicelib.jobs.training import Events
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.store import Resource

# Recipes that use Users metadata for users without history.
USER_METADATA_RECIPES = frozenset({
    "aws-user-personalization", "aws-user-personalization-v2", "aws-personalized-ranking",
    "aws-personalized-ranking-v2", "aws-hrnn-metadata", "aws-hrnn-coldstart"})


def users_dataset(ctx: Context, version: Resource) -> str | None:
    group = ctx.store.one(version.attrs["datasetGroupArn"])
    arn = arns.dataset(group.arn, "USERS")
    return arn if ctx.store.get(arn) else None


def categorical_fields(ctx: Context, dataset_arn: str) -> list[str]:
    return [f.name for f in schema_of(ctx, dataset_arn).fields
            if f.type == "string" and f.categorical and f.name != "USER_ID"]


def _user_values(columns: dict[str, np.ndarray], fields: list[str],
                 ) -> tuple[np.ndarray, sp.csr_matrix]:
    """(distinct ``FIELD=value`` strings, binary users x values matrix) of the rows."""
    rows, labels = [], []
    for field in fields:
        col = np.char.strip(np.char.lower(columns[field].astype(str)))
        multi = np.char.find(col, "|") >= 0
        single = np.flatnonzero(~multi & (np.char.str_len(col) > 0))
        rows.append(single)
        labels.append(np.char.add(f"{field}=", col[single]))
        for n in np.flatnonzero(multi):  # only the multi-valued records
            parts = alg.attribute_labels({field: col[n]}, [field])
            rows.append(np.full(len(parts), n))
            labels.append(np.array(parts, dtype=str))
    r = np.concatenate(rows)
    values, codes = np.unique(np.concatenate(labels).astype(str), return_inverse=True)
    n_users = len(columns["USER_ID"])
    matrix = sp.csr_matrix((np.ones(len(r), np.float32), (r, codes)),
                           shape=(n_users, len(values)))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return values, matrix


def attribute_tables(ctx: Context, version: Resource, events: Events,
                     ) -> dict[str, np.ndarray]:
    """Artifact extras: attribute values, their item lifts (CSR) and the values of every
    user of the Users dataset (CSR); empty without a Users dataset or categorical field."""
    arn = users_dataset(ctx, version)
    columns = dataset_columns(ctx, arn) if arn else None
    fields = categorical_fields(ctx, arn) if columns is not None else []
    if not fields:
        return {}
    users = columns["USER_ID"].astype(str)
    values, matrix = _user_values(columns, fields)
    if not len(values):
        return {}
    # Training users' values, as rows aligned with the interaction matrix.
    order = np.argsort(users)
    at = np.minimum(np.searchsorted(users, events.user_ids, sorter=order), len(users) - 1)
    match = users[order[at]] == events.user_ids
    aligned = sp.diags(match.astype(np.float32)) @ matrix[order[at]]
    lifts = alg.attribute_lifts(aligned.tocsr(), events.matrix)
    by_id = matrix[order]  # serving finds a user by binary search
    return {"attr_dataset": np.array(arn), "attr_values": values,
            "attr_fields": np.array(fields), "attr_lift_indptr": lifts.indptr,
            "attr_lift_indices": lifts.indices, "attr_lift_data": lifts.data,
            "attr_user_ids": users[order], "attr_user_indptr": by_id.indptr.astype(np.int64),
            "attr_user_values": by_id.indices.astype(np.int64)}
