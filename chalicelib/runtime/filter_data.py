"""What filters read, loaded once per dataset state and kept in memory.

* :class:`RecordTable`: an Items / Users / Actions dataset as it is now (bulk imports plus
  PutItems / PutUsers / PutActions records, newest record per id), rows sorted by id and a
  last all-null row for ids without a record. Columns are read on first use; each string
  column becomes an incidence matrix (row x distinct value, ``|``-separated values split
  for categorical fields), each numeric one float64 (NaN = null), and the mask of every
  leaf condition is cached, so a request only gathers and combines cached masks.
* :class:`EventsTable`: an Interactions / Action_Interactions dataset's events grouped
  by user (newest first, the newest ``INTERACTIONS_PER_TYPE`` per user and event type),
  with the events streamed after it was built read per request from ``put_rows``.

A table is keyed by its dataset's state (bulk segment keys, and for records the newest
PUT row), so an import or a PutItems call gives the next request a fresh table.
"""

from __future__ import annotations

import bisect
import io
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from chalicelib.resources.schema_rules import NUMERIC, DatasetSchema, Field, parse_schema
from chalicelib.state import arns
from chalicelib.state.blobs import LocalBlobs
from chalicelib.state.context import Context

# Spec F.3 / I.5: a filter considers a user's newest 100 interactions of each event type.
INTERACTIONS_PER_TYPE = 100
# Newest streamed events per user read by a request (on top of the cached table).
LIVE_EVENTS = 500
TABLES_KEPT = 16
LEAF_MASKS_KEPT = 256
ID_FIELDS = {"Items": "ITEM_ID", "Users": "USER_ID", "Actions": "ACTION_ID",
             "Interactions": "ITEM_ID", "Action_Interactions": "ACTION_ID"}
ARN_SUFFIX = {"Items": "ITEMS", "Users": "USERS", "Actions": "ACTIONS",
              "Interactions": "INTERACTIONS", "Action_Interactions": "ACTION_INTERACTIONS"}
_SEP = "\x1f"
_STATE = (
    "SELECT (SELECT created FROM resources WHERE arn = ?1), "
    "(SELECT coalesce(json_extract(attrs, '$._putDeletions'), 0) FROM resources "
    "WHERE arn = ?1), "
    "(SELECT group_concat(key, char(31)) FROM (SELECT key FROM segments "
    "WHERE dataset_arn = ?1 ORDER BY created, key)), "
    "(SELECT coalesce(max(id), 0) FROM put_rows WHERE dataset_arn = ?1)")
ALIGNMENTS_KEPT = 8


def dataset_arn(group_arn: str, dataset_type: str) -> str:
    return arns.dataset(group_arn, ARN_SUFFIX[dataset_type])


@dataclass(frozen=True)
class State:
    """A dataset's contents at one moment: bulk segments (oldest first), PUT rows <= put.
    ``created`` tells a dataset from one deleted and created again under the same ARN;
    ``deletions`` counts the times PUT rows changed other than by being appended (a data
    deletion job removed some, PutEvents gave a session's anonymous events their user):
    then ``put`` alone would not change (see :func:`put_rows_rewritten`)."""

    arn: str
    created: float | None
    segments: tuple[str, ...]
    put: int
    deletions: int = 0


def put_rows_rewritten(ctx: Context, arn: str) -> None:
    """Count a change to dataset ``arn``'s PUT rows that is not an append (inside the
    write's transaction), so serving's tables of it are built again."""
    dataset = ctx.store.one(arn)
    dataset.attrs["_putDeletions"] = dataset.attrs.get("_putDeletions", 0) + 1
    ctx.store.save(dataset)


def state_of(ctx: Context, arn: str) -> State:
    return ctx.store.memo(("state", arn), lambda: _read_state(ctx, arn))


def _read_state(ctx: Context, arn: str) -> State:
    created, deletions, keys, put = ctx.store.db.execute(_STATE, [arn]).fetchone()
    return State(arn, created, tuple(keys.split(_SEP)) if keys else (), int(put),
                 int(deletions or 0))


def _remember(found: dict[int, tuple[np.ndarray, np.ndarray]], ids: np.ndarray,
              build: Callable[[], np.ndarray]) -> np.ndarray:
    """A per-array cache (keyed by identity: a model's catalogue array is reused)."""
    hit = found.get(id(ids))
    if hit is None or hit[0] is not ids:
        if len(found) >= ALIGNMENTS_KEPT:
            found.clear()
        hit = found[id(ids)] = (ids, build())
    return hit[1]


def _schema(ctx: Context, arn: str) -> DatasetSchema | None:
    dataset = ctx.store.get(arn)
    if dataset is None:
        return None
    return parse_schema(ctx.store.one(dataset.attrs["schemaArn"]).attrs["schema"])


def _segment(ctx: Context, key: str, fields: Collection[str]) -> dict[str, np.ndarray]:
    source = ctx.blobs.root / key if isinstance(ctx.blobs, LocalBlobs) else \
        io.BytesIO(ctx.blobs.get(key))
    with np.load(source, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files if k in fields}


def null_column(f: Field, n: int) -> np.ndarray:
    """``n`` nulls as imports store them: "", False, 0, NaN."""
    if f.type == "string":
        return np.zeros(n, "U1")
    if f.type == "boolean":
        return np.zeros(n, bool)
    return np.zeros(n, np.int64) if f.type in ("int", "long") else np.full(n, np.nan)


def typed(f: Field, values: Sequence[object]) -> np.ndarray:
    if f.type == "string":
        return np.array(["" if v is None else str(v) for v in values], dtype=np.str_)
    if f.type == "boolean":
        return np.array([bool(v) for v in values], dtype=bool)
    if f.type in ("int", "long"):
        return np.array([0 if v is None else v for v in values], dtype=np.int64)
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _put_rows(ctx: Context, state: State, after: int = 0) -> list[tuple[int, Any]]:
    """(id, parsed fields) of the state's PUT rows with ids in (``after``, ``state.put``]."""
    rows = ctx.store.db.execute(
        "SELECT id, fields FROM put_rows WHERE dataset_arn = ? AND id > ? AND id <= ? "
        "ORDER BY id", [state.arn, after, state.put]).fetchall()
    return [(i, json.loads(f)) for i, f in rows]


# PutItems / PutUsers rows parsed so far, per dataset incarnation and deletion count: those
# rows are only ever appended, so a newer state parses only the rows after the last one.
_records_put: OrderedDict[tuple[str, float | None, int], tuple[tuple[int, ...],
                                                             tuple[Any, ...]]] = OrderedDict()
_records_put_lock = threading.Lock()


def _appended_rows(ctx: Context, state: State) -> Sequence[Any]:
    """The parsed PUT rows of a records dataset (Items, Users, Actions) up to ``state``.

    Not for Interactions, whose tables are built only on bulk changes and whose PUT rows
    (every streamed event) would stay parsed in memory for little gain."""
    key = (state.arn, state.created, state.deletions)
    with _records_put_lock:
        ids, rows = _records_put.get(key, ((), ()))
    last = ids[-1] if ids else 0
    if last > state.put:  # an older state than the one read last: take its prefix
        return rows[:bisect.bisect_right(ids, state.put)]
    if last < state.put:
        new = _put_rows(ctx, state, last)
        ids, rows = ids + tuple(i for i, _ in new), rows + tuple(r for _, r in new)
        with _records_put_lock:
            _records_put[key] = (ids, rows)
            _records_put.move_to_end(key)
            while len(_records_put) > TABLES_KEPT:
                _records_put.popitem(last=False)
    return rows


class _Reader:
    """Reads columns of one dataset state: each bulk segment, then the PUT rows (``put``:
    already parsed; default: read them all)."""

    def __init__(self, ctx: Context, state: State, schema: DatasetSchema,
                 put: Sequence[Any] | None = None) -> None:
        self.ctx, self.state, self.schema = ctx, state, schema
        self.put = [r for _, r in _put_rows(ctx, state)] if put is None else put
        self.sizes: list[int] | None = None

    def columns(self, names: Collection[str]) -> dict[str, np.ndarray]:
        fields = [f for f in self.schema.fields if f.name in names]
        chunks = [_segment(self.ctx, key, {f.name for f in fields} | set(ID_FIELDS.values()))
                  for key in self.state.segments]
        if self.sizes is None:
            self.sizes = [len(next(iter(c.values()))) if c else 0 for c in chunks]
        out = {}
        for f in fields:
            parts = [c[f.name] if f.name in c else null_column(f, n)
                     for c, n in zip(chunks, self.sizes, strict=True)]
            if self.put:
                parts.append(typed(f, [p.get(f.name) for p in self.put]))
            out[f.name] = np.concatenate(parts) if parts else null_column(f, 0)
        return out


def _newest_sorted(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct ids, the row of each one's newest record); rows are oldest first."""
    uniq, first_from_end = np.unique(ids[::-1], return_index=True)
    return uniq, len(ids) - 1 - first_from_end


@dataclass
class StringColumn:
    vocab: dict[str, int]
    by_value: sp.csc_matrix   # rows (+ null row) x distinct values
    by_row: sp.csr_matrix


@dataclass
class RecordTable:
    """One Items / Users / Actions dataset state; see the module docstring."""

    state: State
    schema: DatasetSchema
    ids: np.ndarray            # sorted distinct record ids
    rows: np.ndarray           # for each id, its newest record's position in the reader
    reader: _Reader | None
    raw: dict[str, np.ndarray] = field(default_factory=dict)
    strings: dict[str, StringColumn] = field(default_factory=dict)
    numbers: dict[str, np.ndarray] = field(default_factory=dict)
    masks: OrderedDict[Any, np.ndarray] = field(default_factory=OrderedDict)
    aligned: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def exists(self) -> bool:
        """Whether the dataset exists (a missing one reads as an empty table)."""
        return self.reader is not None

    @property
    def null_row(self) -> int:
        return len(self.ids)

    def field(self, name: str) -> Field | None:
        return self.schema.field(name)

    def column(self, name: str) -> np.ndarray:
        """The typed values of each row (nulls as stored), then the null row's."""
        found = self.raw.get(name)
        if found is None:
            f = self.schema.field(name)
            with self.lock:
                if f is None or self.reader is None:
                    values = null_column(f or Field(name, "string", True), 0)
                else:
                    values = self.reader.columns([name])[name][self.rows]
                found = self.raw[name] = np.concatenate([values, null_column(
                    f or Field(name, "string", True), 1)])
        return found

    def number(self, name: str) -> np.ndarray:
        """float64 values; NaN for the null row (an id without a record)."""
        found = self.numbers.get(name)
        if found is None:
            found = self.column(name).astype(np.float64)
            found[-1] = np.nan
            self.numbers[name] = found
        return found

    def string(self, name: str) -> StringColumn:
        found = self.strings.get(name)
        if found is None:
            f = self.schema.field(name)
            found = self.strings[name] = _incidence(
                self.column(name).astype(str), bool(f and f.categorical))
        return found

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id (the null row when it has no record)."""
        if not len(self.ids):
            return np.zeros(len(ids), dtype=np.int64)
        at = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        return np.where(self.ids[at] == ids, at, self.null_row)

    def aligned_to(self, ids: np.ndarray) -> np.ndarray:
        """``positions(ids)`` cached for an array that is reused (a model's catalogue)."""
        return _remember(self.aligned, ids, lambda: self.positions(ids))

    def cached_mask(self, key: Any, build: Callable[[], np.ndarray]) -> np.ndarray:
        found = self.masks.get(key)
        if found is None:
            found = build()
            with self.lock:
                self.masks[key] = found
                while len(self.masks) > LEAF_MASKS_KEPT:
                    self.masks.popitem(last=False)
        return found


def _incidence(values: np.ndarray, categorical: bool) -> StringColumn:
    """Row x distinct-value incidence of a string column ("" is null: no value)."""
    n = len(values)
    if categorical:
        parts = [v.split("|") if v else [] for v in values.tolist()]
        lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=n)
        flat = np.array([v for p in parts for v in p], dtype=str)
    else:
        lengths = (values != "").astype(np.int64)
        flat = values[values != ""]
    vocab, codes = np.unique(flat, return_inverse=True) if len(flat) else \
        (np.zeros(0, str), np.zeros(0, np.int64))
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    by_row = sp.csr_matrix((np.ones(len(flat), dtype=bool), codes.reshape(-1), indptr),
                           shape=(n, len(vocab)))
    return StringColumn({v: i for i, v in enumerate(vocab.tolist())}, by_row.tocsc(), by_row)


def _build_records(ctx: Context, state: State, dataset_type: str) -> RecordTable:
    schema = _schema(ctx, state.arn)
    id_field = ID_FIELDS[dataset_type]
    if schema is None:
        schema = DatasetSchema(dataset_type, (Field(id_field, "string", False),))
        return RecordTable(state, schema, np.zeros(0, str), np.zeros(0, np.int64), None)
    reader = _Reader(ctx, state, schema, _appended_rows(ctx, state))
    ids, rows = _newest_sorted(reader.columns([id_field])[id_field].astype(str))
    return RecordTable(state, schema, ids, rows, reader)


@dataclass(frozen=True)
class Coded:
    """A string column as (sorted distinct values, int32 code of each row)."""

    vocab: np.ndarray
    codes: np.ndarray

    def __getitem__(self, rows: Any) -> Coded:
        return Coded(self.vocab, self.codes[rows])

    def strings(self) -> np.ndarray:
        return self.vocab[self.codes]


def coded(values: np.ndarray) -> Coded:
    vocab, codes = np.unique(values, return_inverse=True)
    return Coded(vocab, codes.reshape(-1).astype(np.int32))


Column = np.ndarray | Coded


@dataclass
class EventsTable:
    """One Interactions-like dataset state, events grouped by user; see the module doc."""

    state: State
    schema: DatasetSchema | None
    item_field: str
    users: np.ndarray          # sorted distinct user ids
    indptr: np.ndarray         # events of users[u]: indptr[u]:indptr[u + 1], newest first
    item_vocab: np.ndarray     # sorted distinct item ids
    items: np.ndarray          # item code of each event
    # TIMESTAMP, EVENT_TYPE (lower case) and the columns conditions use; strings coded.
    columns: dict[str, Column]
    maps: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def to_catalogue(self, ids: np.ndarray, index: dict[str, int]) -> np.ndarray:
        """Catalogue position of each item code (-1 when the catalogue lacks it), cached per
        catalogue array."""
        return _remember(self.maps, ids, lambda: np.array(
            [index.get(v, -1) for v in self.item_vocab.tolist()], dtype=np.int64))


def event_columns(schema: DatasetSchema | None, wanted: Collection[str]) -> list[Field]:
    """The fields an events table keeps: TIMESTAMP, EVENT_TYPE (when the schema has it) and
    the columns conditions use."""
    if schema is None:
        return []
    names = {"TIMESTAMP", "EVENT_TYPE", *wanted}
    return [f for f in schema.fields if f.name in names]


def lower(values: np.ndarray) -> np.ndarray:
    return np.char.lower(values.astype(str)) if len(values) else values.astype(str)


def _build_events(ctx: Context, state: State, dataset_type: str,
                  wanted: frozenset[str]) -> EventsTable:
    schema = _schema(ctx, state.arn)
    item_field = ID_FIELDS[dataset_type]
    fields = event_columns(schema, wanted)
    if schema is None:
        empty = np.zeros(0, str)
        return EventsTable(state, None, item_field, empty, np.zeros(1, np.int64), empty,
                           np.zeros(0, np.int64), {})
    reader = _Reader(ctx, state, schema)
    read = reader.columns({"USER_ID", item_field, *(f.name for f in fields)})
    users, user_codes = np.unique(read.pop("USER_ID").astype(str), return_inverse=True)
    vocab, items = np.unique(read[item_field].astype(str), return_inverse=True)
    user_codes = user_codes.reshape(-1)
    cols: dict[str, Column] = {}
    for f in fields:
        values = read.pop(f.name)
        if f.name == "EVENT_TYPE":
            values = lower(values)
        cols[f.name] = coded(values) if f.type == "string" else values
    ts = np.asarray(cols["TIMESTAMP"]).astype(np.int64)
    types = cols["EVENT_TYPE"].codes if isinstance(cols.get("EVENT_TYPE"), Coded) else \
        np.zeros(len(ts), np.int32)
    keep = newest_per_type(user_codes, types, ts)
    order = keep[np.lexsort((-ts[keep], user_codes[keep]))]
    indptr = np.searchsorted(user_codes[order], np.arange(len(users) + 1))
    return EventsTable(state, schema, item_field, users, indptr, vocab,
                       items.reshape(-1)[order].astype(np.int32),
                       {k: v[order] for k, v in cols.items()})


def newest_per_type(groups: np.ndarray, types: np.ndarray, ts: np.ndarray,
                    limit: int = INTERACTIONS_PER_TYPE) -> np.ndarray:
    """Positions of the newest ``limit`` events of each (group, type), in no order."""
    order = np.lexsort((-ts, types, groups))
    g, t = groups[order], types[order]
    start = np.concatenate([[True], (g[1:] != g[:-1]) | (t[1:] != t[:-1])]) if len(g) else \
        np.zeros(0, bool)
    first = np.maximum.accumulate(np.where(start, np.arange(len(g)), 0)) if len(g) else \
        np.zeros(0, np.int64)
    return order[np.arange(len(g)) - first < limit]


_tables: OrderedDict[Any, Any] = OrderedDict()
_lock = threading.Lock()
_build_lock = threading.Lock()


def _cached(key: Any, build: Callable[[], Any]) -> Any:
    with _lock:
        found = _tables.get(key)
        if found is not None:
            _tables.move_to_end(key)
            return found
    with _build_lock:
        with _lock:
            found = _tables.get(key)
        if found is None:
            found = build()
        with _lock:
            _tables[key] = found
            while len(_tables) > TABLES_KEPT:
                _tables.popitem(last=False)
    return found


def record_table(ctx: Context, group_arn: str, dataset_type: str) -> RecordTable:
    """The group's Items / Users / Actions dataset as it is now."""
    state = state_of(ctx, dataset_arn(group_arn, dataset_type))
    table: RecordTable = _cached(("records", state),
                                 lambda: _build_records(ctx, state, dataset_type))
    return table


def events_table(ctx: Context, group_arn: str, dataset_type: str,
                 wanted: frozenset[str]) -> EventsTable:
    """The group's Interactions / Action_Interactions events up to the last bulk change
    (later PUT rows are read per request by :func:`live_events`)."""
    state = state_of(ctx, dataset_arn(group_arn, dataset_type))
    key = ("events", state.arn, state.created, state.segments, state.deletions, wanted)
    table: EventsTable = _cached(key, lambda: _build_events(ctx, state, dataset_type, wanted))
    return table


def live_events(ctx: Context, table: EventsTable, user_id: str | None,
                fields: Sequence[Field]) -> Sequence[tuple[Any, ...]]:
    """(item id, timestamp, *fields) of the events put after ``table`` was read, newest
    first: the user's (at most ``LIVE_EVENTS``), or everybody's with ``user_id`` None
    (then user id first)."""
    extract = ", ".join(["json_extract(fields, ?)"] * len(fields))
    paths = [f"$.{f.name}" for f in fields]
    head = "record_id, ts" + (f", {extract}" if fields else "")
    if user_id is None:
        return ctx.store.db.execute(
            f"SELECT user_id, {head} FROM put_rows WHERE dataset_arn = ? AND id > ? "
            "AND user_id IS NOT NULL ORDER BY id DESC",
            [*paths, table.state.arn, table.state.put]).fetchall()
    # One user's: remembered until anything is written (Store.memo), so shared: a tuple.
    return ctx.store.memo(
        ("live_events", table.state.arn, user_id, table.state.put, head, *paths),
        lambda: tuple(ctx.store.db.execute(
            f"SELECT {head} FROM put_rows WHERE dataset_arn = ? AND user_id = ? AND id > ? "
            "ORDER BY id DESC LIMIT ?",
            [*paths, table.state.arn, user_id, table.state.put, LIVE_EVENTS])))


def is_numeric(f: Field | None) -> bool:
    return f is not None and f.type in NUMERIC
