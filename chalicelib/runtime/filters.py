"""Filters at serving time (spec F.3, F.4): a filter expression compiled to numpy masks.

``apply_filter`` (items), ``apply_action_filter`` (actions) and ``apply_user_filter``
(users, for batch segment jobs) return a boolean mask over an artifact's catalogue, True
where the filter lets the entry through; ``filter_ids`` does the same for any list of
item ids (GetPersonalizedRanking's ``inputList``).

How a request is evaluated:

* the expression is parsed once per text (``filter_grammar.parse`` is cached);
* record conditions (``Items.X``, ``Actions.X``, ``Users.X``, ``CurrentUser.X``) read a
  :class:`~chalicelib.runtime.filter_data.RecordTable` cached per dataset state; each leaf's
  mask over the table's rows is cached by (column, operator, values), so a repeated
  request gathers cached masks through the cached catalogue -> row alignment;
* event conditions (``Interactions.X``, ``Action_Interactions.X``) read the requesting
  user's events: the cached table's slice for the user plus the events streamed since it
  was built (one indexed query), the newest 100 per event type;
* expressions joined with ``|``: the union of the INCLUDE results minus the union of the
  EXCLUDE results (no INCLUDE: everything); an expression whose ``IF CurrentUser`` test
  fails, or an EXCLUDE expression whose placeholders were all left out, is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np

from chalicelib.errors import InvalidInputException, ResourceNotFoundException
from chalicelib.resources import filter_grammar as grammar
from chalicelib.resources.filter_grammar import (
    CMP_OPS,
    EVENT_TYPE,
    All,
    Any_,
    Condition,
    Expression,
    Node,
    Value,
)
from chalicelib.resources.filter_values import bind
from chalicelib.runtime import filter_data as data
from chalicelib.runtime.artifacts import Artifact
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status

ITEMS, ACTIONS, USERS = "ItemID", "ActionID", "UserID"
_COMPARE = {"=": np.equal, "<": np.less, "<=": np.less_equal, ">": np.greater,
            ">=": np.greater_equal}
_NEEDS_USER = ("Interactions", "Action_Interactions", grammar.CURRENT_USER)


@dataclass(frozen=True)
class ActiveFilter:
    arn: str
    group_arn: str
    parsed: grammar.Filter

    @property
    def needs_user(self) -> bool:
        """Whether it reads the requesting user (events or CurrentUser)."""
        return self.parsed.target != USERS and self.parsed.uses(*_NEEDS_USER)


def active_filter(ctx: Context, filter_arn: str, target: str = ITEMS,
                  group_arn: str | None = None, what: str = "filterArn") -> ActiveFilter:
    """The ACTIVE filter at ``filter_arn``, of the dataset group ``group_arn`` (if given),
    whose expressions select ``target``s."""
    res = ctx.store.get_shared(filter_arn)
    if res is None or res.kind != "filter":
        raise ResourceNotFoundException(f"Filter {filter_arn} ({what}) does not exist.")
    if res.status != Status.ACTIVE:
        raise InvalidInputException(
            f"Filter {filter_arn} ({what}) is {res.status}; it can be used once ACTIVE.")
    group = res.attrs["datasetGroupArn"]
    if group_arn is not None and group != group_arn:
        raise InvalidInputException(
            f"Filter {filter_arn} ({what}) belongs to dataset group {group}; this model "
            f"serves {group_arn}. Use a filter of the same dataset group.")
    parsed = grammar.parse(res.attrs["filterExpression"])
    if parsed.target != target:
        raise InvalidInputException(
            f"Filter {filter_arn} ({what}) selects {parsed.target}s; this call needs a "
            f"filter of {target}s (INCLUDE/EXCLUDE {target} WHERE ...).")
    return ActiveFilter(filter_arn, group, parsed)


# -- where the masks go --------------------------------------------------------------------

class _Targets:
    """The entries a mask is over: a model's catalogue (alignment cached) or any ids."""

    def __init__(self, ids: np.ndarray, index: dict[str, int] | None = None) -> None:
        self.ids, self.index = ids, index

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, table: data.RecordTable) -> np.ndarray:
        return table.aligned_to(self.ids) if self.index is not None else \
            table.positions(self.ids)

    def from_events(self, table: data.EventsTable, codes: np.ndarray,
                    live_ids: np.ndarray) -> np.ndarray:
        """True for the entries among the event items (codes of ``table`` and ids)."""
        if self.index is None:
            found = np.concatenate([table.item_vocab[codes], live_ids])
            return np.isin(self.ids, found)
        mask = np.zeros(len(self.ids), dtype=bool)
        at = table.to_catalogue(self.ids, self.index)[codes]
        mask[at[at >= 0]] = True
        live = [self.index.get(i, -1) for i in live_ids.tolist()]
        mask[[i for i in live if i >= 0]] = True
        return mask


# -- condition values ----------------------------------------------------------------------

def _values(cond: Condition, bound: Mapping[str, tuple[Value, ...]]) -> tuple[Value, ...]:
    return bound[cond.placeholder] if cond.placeholder else cond.values


def _numbers(cond: Condition, values: tuple[Value, ...]) -> np.ndarray:
    nums = [v.number for v in values]
    if any(x is None for x in nums):
        bad = next(v.text for v, x in zip(values, nums, strict=True) if x is None)
        where = f"filterValues.{cond.placeholder}" if cond.placeholder else cond.source
        raise InvalidInputException(
            f"{where}: {bad!r} is not a number, but {cond.source} is numeric.")
    if cond.op in CMP_OPS and len(nums) != 1:
        raise InvalidInputException(
            f"filterValues.{cond.placeholder}: {cond.source} {cond.op} ${cond.placeholder} "
            f"compares with one number; got {len(nums)} values.")
    return np.array(nums, dtype=np.float64)


def _compare(column: np.ndarray, cond: Condition, nums: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if cond.op in CMP_OPS:
            return _COMPARE[cond.op](column, nums[0])
        hit = np.isin(column, nums)
    return hit if cond.op == "IN" else ~hit


def _no_strings(cond: Condition) -> None:
    if cond.op in CMP_OPS:
        raise InvalidInputException(
            f"{cond.source} is not numeric: {cond.op} cannot compare it; recreate the filter "
            "with IN / NOT IN.")


# -- record conditions (Items, Actions, Users, CurrentUser) ---------------------------------

def _record_leaf(table: data.RecordTable, cond: Condition,
                 values: tuple[Value, ...]) -> np.ndarray:
    """Mask over the table's rows (+ the null row), cached per (column, op, values)."""
    return table.cached_mask((cond.column, cond.op, values),
                             lambda: _compute_record_leaf(table, cond, values))


def _compute_record_leaf(table: data.RecordTable, cond: Condition,
                         values: tuple[Value, ...]) -> np.ndarray:
    if table.field(cond.column) is None:  # the dataset lost the column: every value null
        return np.full(len(table.ids) + 1, cond.op == "NOT IN")
    if data.is_numeric(table.field(cond.column)):
        return _compare(table.number(cond.column), cond, _numbers(cond, values))
    _no_strings(cond)
    column = table.string(cond.column)
    codes = [column.vocab[v.text] for v in values if v.text in column.vocab]
    hit = np.zeros(len(table.ids) + 1, dtype=bool)
    if codes:
        csc = column.by_value
        hit[np.concatenate([csc.indices[csc.indptr[c]:csc.indptr[c + 1]] for c in codes])] = \
            True
    return hit if cond.op == "IN" else ~hit


def _record_row(table: data.RecordTable, cond: Condition, values: tuple[Value, ...],
                row: int) -> bool:
    """One row's truth (for CurrentUser, without touching the other users' rows)."""
    if table.field(cond.column) is None:
        return cond.op == "NOT IN"
    if data.is_numeric(table.field(cond.column)):
        return bool(_compare(table.number(cond.column)[row:row + 1], cond,
                             _numbers(cond, values))[0])
    _no_strings(cond)
    column = table.string(cond.column)
    mine = column.by_row.indices[column.by_row.indptr[row]:column.by_row.indptr[row + 1]]
    hit = any(column.vocab.get(v.text, -1) in mine for v in values)
    return hit if cond.op == "IN" else not hit


def _tree(node: Node, leaf: Any) -> np.ndarray:
    if isinstance(node, Condition):
        return leaf(node)
    assert isinstance(node, All | Any_)
    combine = np.logical_and if isinstance(node, All) else np.logical_or
    return reduce(combine, [_tree(part, leaf) for part in node.parts])


# -- event conditions (Interactions, Action_Interactions) -----------------------------------

@dataclass
class _UserEvents:
    codes: np.ndarray      # item codes of the table's events
    live_ids: np.ndarray   # item ids of the events streamed since
    columns: dict[str, data.Column]   # both, table events first


def _user_events(ctx: Context, table: data.EventsTable, user_id: str,
                 wanted: frozenset[str]) -> _UserEvents:
    at = int(np.searchsorted(table.users, user_id))
    if at < len(table.users) and table.users[at] == user_id:
        lo, hi = int(table.indptr[at]), int(table.indptr[at + 1])
    else:
        lo = hi = 0
    codes = table.items[lo:hi]
    columns = {k: v[lo:hi] for k, v in table.columns.items()}
    fields = data.event_columns(table.schema, wanted)
    live = data.live_events(ctx, table, user_id, fields)
    if not live:
        return _UserEvents(codes, np.zeros(0, str), columns)
    rows = list(zip(*live, strict=True))
    merged: dict[str, np.ndarray] = {}
    for j, f in enumerate(fields):
        value = data.typed(f, rows[2 + j]) if f.name != "TIMESTAMP" else \
            np.array(rows[1], dtype=np.int64)
        mine = columns[f.name]
        merged[f.name] = np.concatenate([
            mine.strings() if isinstance(mine, data.Coded) else mine,
            data.lower(value) if f.name == EVENT_TYPE else value])
    ids = np.array(rows[0], dtype=str)
    if EVENT_TYPE in merged:  # the newest INTERACTIONS_PER_TYPE of each type, again
        types = np.unique(merged[EVENT_TYPE], return_inverse=True)[1].reshape(-1)
        keep = np.sort(data.newest_per_type(np.zeros(len(types), np.int64), types,
                                            merged["TIMESTAMP"]))
        merged = {k: v[keep] for k, v in merged.items()}
        split = len(codes)
        codes, ids = codes[keep[keep < split]], ids[keep[keep >= split] - split]
    return _UserEvents(codes, ids, dict(merged))


def _event_leaf(table: data.EventsTable, columns: dict[str, data.Column], cond: Condition,
                values: tuple[Value, ...], n: int) -> np.ndarray:
    if cond.column == EVENT_TYPE and any(v.kind == "star" for v in values):
        return np.ones(n, dtype=bool) if cond.op == "IN" else np.zeros(n, dtype=bool)
    f = table.schema.field(cond.column) if table.schema is not None else None
    column = columns.get(cond.column)
    if column is None:  # the dataset has no such column (any more): all null
        return np.zeros(n, dtype=bool) if cond.op != "NOT IN" else np.ones(n, dtype=bool)
    if data.is_numeric(f) and not isinstance(column, data.Coded):
        return _compare(column.astype(np.float64), cond, _numbers(cond, values))
    _no_strings(cond)
    texts = np.array([v.text.lower() if cond.column == EVENT_TYPE else v.text
                      for v in values], dtype=str)
    if isinstance(column, data.Coded):  # test each distinct value once
        hit = np.isin(column.vocab, texts)[column.codes]
    else:
        hit = np.isin(column, texts)
    return hit if cond.op == "IN" else ~hit


def _wanted(e: Expression) -> frozenset[str]:
    return frozenset(c.column for c in grammar.conditions(e.where)
                     if c.column not in ("EVENT_TYPE", "TIMESTAMP"))


# -- one expression, one request -----------------------------------------------------------

class _Request:
    def __init__(self, ctx: Context, active: ActiveFilter,
                 filter_values: Mapping[str, str] | None, user_id: str | None,
                 tables: dict[Any, Any] | None = None) -> None:
        self.ctx, self.active, self.user_id = ctx, active, user_id
        self.bound, self.expressions = bind(active.parsed, filter_values)
        self.tables = {} if tables is None else tables

    def records(self, dataset: str) -> data.RecordTable:
        found = self.tables.get(dataset)
        if found is None:
            found = self.tables[dataset] = data.record_table(
                self.ctx, self.active.group_arn, dataset)
        return found  # type: ignore[no-any-return]

    def events(self, dataset: str, wanted: frozenset[str]) -> data.EventsTable:
        found = self.tables.get((dataset, wanted))
        if found is None:
            found = self.tables[(dataset, wanted)] = data.events_table(
                self.ctx, self.active.group_arn, dataset, wanted)
        return found  # type: ignore[no-any-return]

    def if_holds(self, e: Expression) -> bool:
        if not e.if_clause:
            return True
        if self.user_id is None:
            return False
        table = self.records("Users")
        row = int(table.positions(np.array([self.user_id]))[0])
        return all(_record_row(table, c, _values(c, self.bound), row) for c in e.if_clause)

    def expression_mask(self, e: Expression, targets: _Targets) -> np.ndarray:
        if not e.on_events:
            table = self.records(e.dataset)
            rows = _tree(e.where, lambda c: _record_leaf(table, c, _values(c, self.bound)))
            return rows[targets.rows(table)]
        if self.user_id is None:
            return np.zeros(len(targets), dtype=bool)
        wanted = _wanted(e)
        events = _user_events(self.ctx, self.events(e.dataset, wanted), self.user_id, wanted)
        table = self.events(e.dataset, wanted)
        n = len(events.codes) + len(events.live_ids)
        hit = _tree(e.where, lambda c: _event_leaf(table, events.columns, c,
                                                   _values(c, self.bound), n))
        split = len(events.codes)
        return targets.from_events(table, events.codes[hit[:split]],
                                   events.live_ids[hit[split:]])

    def mask(self, targets: _Targets,
             expression_mask: Callable[[Expression, _Targets], np.ndarray] | None = None,
             ) -> np.ndarray:
        include: np.ndarray | None = None
        exclude: np.ndarray | None = None
        for e in self.expressions:
            if not self.if_holds(e):
                continue
            m = (expression_mask or self.expression_mask)(e, targets)
            if e.action == "INCLUDE":
                include = m if include is None else include | m
            else:
                exclude = m if exclude is None else exclude | m
        allowed = np.ones(len(targets), dtype=bool) if include is None else include
        return allowed if exclude is None else allowed & ~exclude


def _check_user(active: ActiveFilter, user_id: str | None) -> None:
    if user_id is None and active.needs_user:
        raise InvalidInputException(
            f"Filter {active.arn} uses the requesting user's interactions or CurrentUser: "
            "give userId.")


# -- the API -------------------------------------------------------------------------------

def apply_filter(ctx: Context, artifact: Artifact, filter_arn: str,
                 filter_values: Mapping[str, str] | None, user_id: str | None, *,
                 group_arn: str | None = None, what: str = "filterArn") -> np.ndarray:
    """bool per item of ``artifact.item_ids``: True = the item filter lets it through.

    Raises ResourceNotFoundException (no such filter) or InvalidInputException (not
    ACTIVE, another dataset group, not an ItemID filter, bad or missing filterValues,
    or no ``user_id`` for a filter that reads the user)."""
    active = active_filter(ctx, filter_arn, ITEMS, group_arn, what)
    _check_user(active, user_id)

    def mask() -> np.ndarray:
        return _Request(ctx, active, filter_values, user_id).mask(
            _Targets(artifact.item_ids, artifact.item_index))
    if active.needs_user:
        return mask()
    # The same for every user: remembered per value set until the data change (the mask
    # is read-only, as it is shared; the catalogue array is kept to check it is this one).
    key = ("mask", filter_arn, id(artifact.item_ids), tuple(sorted((filter_values or {}).items())))
    ids, found = ctx.store.memo(key, lambda: (artifact.item_ids, _read_only(mask())))
    return found if ids is artifact.item_ids else mask()


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def apply_action_filter(ctx: Context, artifact: Artifact, filter_arn: str,
                        filter_values: Mapping[str, str] | None, user_id: str | None, *,
                        group_arn: str | None = None) -> np.ndarray:
    """bool per action of ``artifact.item_ids`` (a next-best-action model's actions)."""
    active = active_filter(ctx, filter_arn, ACTIONS, group_arn)
    _check_user(active, user_id)
    return _Request(ctx, active, filter_values, user_id).mask(
        _Targets(artifact.item_ids, artifact.item_index))


def filter_ids(ctx: Context, ids: np.ndarray, filter_arn: str,
               filter_values: Mapping[str, str] | None, user_id: str | None, *,
               group_arn: str | None = None) -> np.ndarray:
    """bool per item id of ``ids`` (any ids, known to a model or not)."""
    active = active_filter(ctx, filter_arn, ITEMS, group_arn)
    _check_user(active, user_id)
    return _Request(ctx, active, filter_values, user_id).mask(_Targets(ids))


def apply_user_filter(ctx: Context, artifact: Artifact, filter_arn: str,
                      filter_values: Mapping[str, str] | None = None, *,
                      group_arn: str | None = None) -> np.ndarray:
    """bool per user of ``artifact.user_ids`` for a UserID filter (batch segment jobs):
    ``Users.X`` conditions on the user's record, ``Interactions.X`` conditions true when
    the user has a matching event (imported or streamed)."""
    active = active_filter(ctx, filter_arn, USERS, group_arn)
    request = _Request(ctx, active, filter_values, None)
    return request.mask(_Targets(artifact.user_ids, artifact.user_index),
                        lambda e, t: _user_expression(request, e, t))


def _user_expression(request: _Request, e: Expression, targets: _Targets) -> np.ndarray:
    if not e.on_events:
        table = request.records(e.dataset)
        rows = _tree(e.where, lambda c: _record_leaf(table, c, _values(c, request.bound)))
        return rows[targets.rows(table)]
    wanted = _wanted(e)
    table = request.events(e.dataset, wanted)
    n = len(table.items)
    hit = _tree(e.where, lambda c: _event_leaf(table, table.columns, c,
                                               _values(c, request.bound), n))
    users = table.users[np.repeat(np.arange(len(table.users)), np.diff(table.indptr))[hit]]
    fields = data.event_columns(table.schema, wanted)
    live = data.live_events(request.ctx, table, None, fields)
    if live:
        rows = list(zip(*live, strict=True))
        columns: dict[str, data.Column] = {
            f.name: (data.lower(data.typed(f, rows[3 + j])) if f.name == EVENT_TYPE
                     else np.array(rows[2], dtype=np.int64) if f.name == "TIMESTAMP"
                     else data.typed(f, rows[3 + j])) for j, f in enumerate(fields)}
        live_hit = _tree(e.where, lambda c: _event_leaf(table, columns, c,
                                                        _values(c, request.bound), len(live)))
        users = np.concatenate([users, np.array(rows[0], dtype=str)[live_hit]])
    return np.isin(targets.ids, users)


class PreparedFilter:
    """A filter checked once and read against the datasets as they were when prepared:
    for a batch job, which asks for a mask per input line. ``items`` / ``actions`` /
    ``users`` take the line's filterValues (and user)."""

    def __init__(self, ctx: Context, filter_arn: str, target: str = ITEMS,
                 group_arn: str | None = None) -> None:
        self.ctx = ctx
        self.active = active_filter(ctx, filter_arn, target, group_arn)
        self.tables: dict[Any, Any] = {}

    def _request(self, filter_values: Mapping[str, str] | None,
                 user_id: str | None) -> _Request:
        _check_user(self.active, user_id)
        return _Request(self.ctx, self.active, filter_values, user_id, self.tables)

    def items(self, artifact: Artifact, filter_values: Mapping[str, str] | None,
              user_id: str | None) -> np.ndarray:
        """As :func:`apply_filter` (or :func:`apply_action_filter` for an ActionID one)."""
        return self._request(filter_values, user_id).mask(
            _Targets(artifact.item_ids, artifact.item_index))

    def users(self, artifact: Artifact,
              filter_values: Mapping[str, str] | None = None) -> np.ndarray:
        """As :func:`apply_user_filter`."""
        request = self._request(filter_values, None)
        return request.mask(_Targets(artifact.user_ids, artifact.user_index),
                            lambda e, t: _user_expression(request, e, t))
