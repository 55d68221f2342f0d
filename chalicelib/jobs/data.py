"""Read a dataset back as typed columns: bulk segments (imports) plus PUT records."""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

from chalicelib.resources.schema_rules import DatasetSchema, Field, parse_schema
from chalicelib.state.blobs import get_arrays
from chalicelib.state.context import Context

SOURCES = frozenset({"BULK", "PUT"})
# Dataset types whose rows are records keyed by an id: a newer record replaces an older one.
RECORD_IDS = {"Items": "ITEM_ID", "Users": "USER_ID", "Actions": "ACTION_ID"}


def schema_of(ctx: Context, dataset_arn: str) -> DatasetSchema:
    dataset = ctx.store.one(dataset_arn)
    return parse_schema(ctx.store.one(dataset.attrs["schemaArn"]).attrs["schema"])


def _typed(field: Field, values: list[object]) -> np.ndarray:
    if field.type == "string":
        return np.array(["" if v is None else str(v) for v in values], dtype=np.str_)
    if field.type == "boolean":
        return np.array([bool(v) for v in values], dtype=bool)
    if field.type in ("int", "long"):
        return np.array([0 if v is None else v for v in values], dtype=np.int64)
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def null_column(field: Field, n: int) -> np.ndarray:
    """``n`` nulls as stored: "" for strings, False, 0 for integers, NaN for floats."""
    if field.type == "string":
        return np.zeros(n, "U1")
    if field.type == "boolean":
        return np.zeros(n, bool)
    return np.zeros(n, np.int64) if field.type in ("int", "long") else np.full(n, np.nan)


def put_columns(ctx: Context, dataset_arn: str, schema: DatasetSchema,
                ) -> dict[str, np.ndarray] | None:
    rows = ctx.store.db.execute("SELECT fields FROM put_rows WHERE dataset_arn = ? ORDER BY id",
                                [dataset_arn]).fetchall()
    if not rows:
        return None
    parsed = [json.loads(r[0]) for r in rows]
    return {f.name: _typed(f, [p.get(f.name) for p in parsed]) for f in schema.fields}


def bulk_parts(ctx: Context, dataset_arn: str) -> list[dict[str, np.ndarray]]:
    keys = [r[0] for r in ctx.store.db.execute(
        "SELECT key FROM segments WHERE dataset_arn = ? ORDER BY created, key", [dataset_arn])]
    return [get_arrays(ctx.blobs, k) for k in keys]


def newest_per_id(columns: dict[str, np.ndarray], id_field: str) -> dict[str, np.ndarray]:
    """Only the last row of each id (rows are oldest first), in the order of those rows."""
    ids = columns.get(id_field)
    if ids is None or len(ids) < 2:
        return columns
    _, first_from_end = np.unique(ids[::-1], return_index=True)
    if len(first_from_end) == len(ids):
        return columns
    keep = np.sort(len(ids) - 1 - first_from_end)
    return {name: col[keep] for name, col in columns.items()}


def dataset_columns(ctx: Context, dataset_arn: str,
                    sources: Iterable[str] = SOURCES) -> dict[str, np.ndarray] | None:
    """All rows of a dataset from the given sources (bulk first, oldest first), or None.

    Interactions keep every row. Items, Users and Actions keep only the newest record of
    each id (a later import, a later row of the same import, or a PUT record replaces an
    earlier one), as INCREMENTAL imports and PutItems/PutUsers/PutActions do in AWS.
    """
    sources = set(sources)
    schema = schema_of(ctx, dataset_arn)
    parts = bulk_parts(ctx, dataset_arn) if "BULK" in sources else []
    put = put_columns(ctx, dataset_arn, schema) if "PUT" in sources else None
    if put is not None:
        parts.append(put)
    if not parts:
        return None
    # A segment imported before UpdateDataset added a (nullable) field has nulls there.
    rows = [next(len(p[f.name]) for f in schema.fields if f.name in p) for p in parts]
    columns = {f.name: np.concatenate([p[f.name] if f.name in p else null_column(f, n)
                                       for p, n in zip(parts, rows, strict=True)])
               for f in schema.fields if any(f.name in p for p in parts)}
    id_field = RECORD_IDS.get(schema.dataset_type)
    return newest_per_id(columns, id_field) if id_field else columns


def interaction_matrix(users: np.ndarray, items: np.ndarray, shape: tuple[int, int],
                       weights: np.ndarray | None = None) -> sp.csr_matrix:
    """User x item event weights (1 per event unless ``weights``; repeats summed)."""
    data = np.ones(len(users), dtype=np.float32) if weights is None else \
        np.asarray(weights, dtype=np.float32)
    m = sp.csr_matrix((data, (users, items)), shape=shape)
    m.sum_duplicates()
    return m
