"""Read a dataset back as typed columns: bulk segments (imports) plus PUT records."""

from __future__ import annotations

import ctypes
import io
import json
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from chalicelib.resources.schema_rules import DatasetSchema, Field, parse_schema
from chalicelib.state.blobs import LocalBlobs, get_arrays
from chalicelib.state.context import Context

SOURCES = frozenset({"BULK", "PUT"})
# Segments read and factorised at once by coded_columns (numpy sorts release the GIL).
READ_THREADS = 2
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


@dataclass(frozen=True)
class Parts:
    """What a dataset holds at one moment: its bulk segments, oldest first, and its PUT
    records up to id ``put_upto``; reading the same ``Parts`` again gives the same rows."""

    segment_keys: tuple[str, ...]
    put_upto: int


def dataset_parts(ctx: Context, dataset_arn: str) -> Parts:
    keys = tuple(r[0] for r in ctx.store.db.execute(
        "SELECT key FROM segments WHERE dataset_arn = ? ORDER BY created, key", [dataset_arn]))
    upto = ctx.store.db.execute("SELECT coalesce(max(id), 0) FROM put_rows WHERE "
                                "dataset_arn = ?", [dataset_arn]).fetchone()[0]
    return Parts(keys, int(upto))


def put_columns(ctx: Context, dataset_arn: str, schema: DatasetSchema,
                upto: int | None = None) -> dict[str, np.ndarray] | None:
    rows = ctx.store.db.execute(
        "SELECT fields FROM put_rows WHERE dataset_arn = ? AND id <= ? ORDER BY id",
        [dataset_arn, (1 << 62) if upto is None else upto]).fetchall()
    if not rows:
        return None
    parsed = [json.loads(r[0]) for r in rows]
    return {f.name: _typed(f, [p.get(f.name) for p in parsed]) for f in schema.fields}


def bulk_parts(ctx: Context, dataset_arn: str) -> list[dict[str, np.ndarray]]:
    return [get_arrays(ctx.blobs, k) for k in dataset_parts(ctx, dataset_arn).segment_keys]


def _segment(ctx: Context, key: str, fields: Collection[str]) -> dict[str, np.ndarray]:
    """Only ``fields`` of a stored segment (from a local folder, the others are not read)."""
    source = ctx.blobs.root / key if isinstance(ctx.blobs, LocalBlobs) else \
        io.BytesIO(ctx.blobs.get(key))
    with np.load(source, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files if k in fields}


def _parts(ctx: Context, dataset_arn: str, schema: DatasetSchema, sources: set[str],
           parts: Parts | None, fields: Collection[str]) -> Iterable[dict[str, np.ndarray]]:
    """Each bulk segment, then the PUT records, as ``fields`` -> array; one at a time."""
    parts = parts or dataset_parts(ctx, dataset_arn)
    if "BULK" in sources:
        for key in parts.segment_keys:
            yield _segment(ctx, key, fields)
    put = put_columns(ctx, dataset_arn, schema, parts.put_upto) if "PUT" in sources else None
    if put is not None:
        yield {k: v for k, v in put.items() if k in fields}


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


def _rows(part: dict[str, np.ndarray], schema: DatasetSchema) -> int:
    return next(len(part[f.name]) for f in schema.fields if f.name in part)


def dataset_columns(ctx: Context, dataset_arn: str, sources: Iterable[str] = SOURCES,
                    fields: Collection[str] | None = None, parts: Parts | None = None,
                    ) -> dict[str, np.ndarray] | None:
    """All rows of a dataset from the given sources (bulk first, oldest first), or None.

    Interactions keep every row. Items, Users and Actions keep only the newest record of
    each id (a later import, a later row of the same import, or a PUT record replaces an
    earlier one), as INCREMENTAL imports and PutItems/PutUsers/PutActions do in AWS.
    ``fields`` reads only those columns (default: all); ``parts`` reads the dataset as it
    was when :func:`dataset_parts` returned them (default: as it is now).
    """
    schema = schema_of(ctx, dataset_arn)
    id_field = RECORD_IDS.get(schema.dataset_type)
    wanted = {f.name for f in schema.fields} if fields is None else set(fields)
    read = wanted | ({id_field} if id_field else set())
    chunks = list(_parts(ctx, dataset_arn, schema, set(sources), parts, read))
    if not chunks:
        return None
    # A segment imported before UpdateDataset added a (nullable) field has nulls there.
    rows = [_rows(p, schema) for p in chunks]
    columns = {f.name: np.concatenate([p[f.name] if f.name in p else null_column(f, n)
                                       for p, n in zip(chunks, rows, strict=True)])
               for f in schema.fields
               if f.name in read and any(f.name in p for p in chunks)}
    if id_field:
        columns = newest_per_id(columns, id_field)
    return {k: v for k, v in columns.items() if k in wanted}


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)``, faster for unicode ids.

    A string column is packed, without loss and in the same order, into one or a few
    uint64 words per row (7 bits a character when all are ASCII, else 21), so the sort
    compares integers instead of strings.
    """
    n = len(values)
    if values.dtype.kind != "U" or n == 0 or values.dtype.itemsize == 0:
        uniques, inverse = np.unique(values, return_inverse=True)
        return uniques, inverse.reshape(-1)
    width = values.dtype.itemsize // 4
    chars = np.ascontiguousarray(values).view(np.uint32).reshape(n, width)
    bits = 7 if int(chars.max()) < 128 else 21
    per_word = 63 // bits
    keys = np.zeros((n, -(-width // per_word)), dtype=np.uint64)
    for j in range(width):  # character positions, most significant first within a word
        shift = np.uint64(bits * (per_word - 1 - j % per_word))
        keys[:, j // per_word] |= chars[:, j].astype(np.uint64) << shift
    if keys.shape[1] == 1:
        _, first, inverse = np.unique(keys[:, 0], return_index=True, return_inverse=True)
        return values[first], inverse.reshape(-1)
    order = np.lexsort(keys.T[::-1])  # by the first word, then the second...
    ordered = keys[order]
    starts = np.concatenate([[True], (ordered[1:] != ordered[:-1]).any(axis=1)])
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(starts) - 1
    return values[order[starts]], inverse


Coded = tuple[np.ndarray, np.ndarray]


def _coded_part(part: dict[str, np.ndarray], schema: DatasetSchema, fields: list[Field],
                coded: Collection[str]) -> tuple[int, dict[str, np.ndarray], dict[str, Coded]]:
    n = _rows(part, schema)
    plain, local = {}, {}
    for f in fields:
        column = part[f.name] if f.name in part else null_column(f, n)
        if f.name in coded:
            values, inverse = factorize(column)
            local[f.name] = values, inverse.astype(np.int32)  # a part has < 2^31 rows
        else:
            plain[f.name] = column
    return n, plain, local


def coded_columns(ctx: Context, dataset_arn: str, fields: Collection[str],
                  coded: Collection[str], parts: Parts | None = None,
                  ) -> tuple[dict[str, np.ndarray], dict[str, Coded]] | None:
    """An Interactions-like dataset's ``fields`` as arrays, and each string field in ``coded``
    as (sorted distinct values, int64 index of every row's value), or None when empty.

    Segments are read and factorised one at a time per thread: the coded columns are never
    held as strings for all rows (for 10M rows of short ids, ~300 MB a column and a slow
    string sort).
    """
    schema = schema_of(ctx, dataset_arn)
    fields_ = [f for f in schema.fields if f.name in set(fields) | set(coded)]
    read = {f.name for f in fields_}
    parts = parts or dataset_parts(ctx, dataset_arn)
    with ThreadPoolExecutor(READ_THREADS) as pool:
        results = list(pool.map(
            lambda key: _coded_part(_segment(ctx, key, read), schema, fields_, coded),
            parts.segment_keys))
    put = put_columns(ctx, dataset_arn, schema, parts.put_upto)
    if put is not None:
        results.append(_coded_part(put, schema, fields_, coded))
    if not results:
        return None
    rows = np.cumsum([0] + [n for n, _, _ in results])
    columns = {f.name: np.concatenate([plain.pop(f.name) for _, plain, _ in results])
               for f in fields_ if f.name not in coded}
    codes = {}
    for name in coded:
        # Merge the parts' distinct values, then map each part's codes to the merged ones.
        values, where = factorize(np.concatenate([local[name][0] for _, _, local in results]))
        out = np.empty(rows[-1], dtype=np.int64)
        start = 0
        for k, (_, _, local) in enumerate(results):
            part_values, inverse = local.pop(name)
            out[rows[k]:rows[k + 1]] = where[start:start + len(part_values)][inverse]
            start += len(part_values)
        codes[name] = (values, out)
    release_memory()
    return columns, codes


def release_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``).

    Freed numpy buffers of a few MB (a segment, its temporaries) stay in malloc's arenas:
    after reading 10M events that is ~350 MB of resident memory nothing uses any more.
    Elsewhere (no glibc) this does nothing.
    """
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def interaction_matrix(users: np.ndarray, items: np.ndarray, shape: tuple[int, int],
                       weights: np.ndarray | None = None) -> sp.csr_matrix:
    """User x item event weights (1 per event unless ``weights``; repeats summed)."""
    data = np.ones(len(users), dtype=np.float32) if weights is None else \
        np.asarray(weights, dtype=np.float32)
    m = sp.csr_matrix((data, (users, items)), shape=shape)
    m.sum_duplicates()
    return m
