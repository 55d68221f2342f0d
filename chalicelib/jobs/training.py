"""What every recipe's trainer shares: the interactions chosen for training, and the
shape of a trained result.

A trainer is ``(TrainingJob) -> Trained``; ``jobs.train`` picks it by recipe name,
then writes the artifact and the metrics. Trainers for the recipe families live in
their own modules (``train_related``, ``train_segments``, ``train_actions`` ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from chalicelib import algorithms as alg
from chalicelib.jobs.data import (
    coded_columns,
    dataset_columns,
    dataset_parts,
    interaction_matrix,
)
from chalicelib.jobs.lifecycle import JobFailed
from chalicelib.resources import catalogue
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.store import Resource

MIN_INTERACTIONS = 1000
MIN_USERS = 25
# Below this share of repeated (user, item) events, serving treats the data as
# "users do not re-consume" and ranks already-seen items last.
REPEAT_RATE_THRESHOLD = 0.1


class Stopped(Exception):
    """StopSolutionVersionCreation was called: the version ends CREATE STOPPED."""


def select_events(cols: dict[str, np.ndarray], event_type: str | None,
                  threshold: str | None, events_config: dict[str, Any] | None = None,
                  ) -> np.ndarray:
    """Weight of each interaction in training, 0 for those left out (spec B.7):
    ``eventType`` keeps one type, ``eventValueThreshold`` drops lower EVENT_VALUEs, and
    ``eventsConfig.eventParametersList`` keeps the listed types, each with its own
    threshold and weight (0..1)."""
    n = len(cols["USER_ID"])
    weights = np.ones(n, dtype=np.float32)
    listed = (events_config or {}).get("eventParametersList") or []
    needs_type = event_type or listed
    if needs_type and "EVENT_TYPE" not in cols:
        raise JobFailed("The solution selects interactions by event type, but the "
                        "Interactions dataset has no EVENT_TYPE column.")
    needs_value = threshold is not None or any("eventValueThreshold" in p for p in listed)
    if needs_value and "EVENT_VALUE" not in cols:
        raise JobFailed("An event value threshold is set, but the Interactions dataset has "
                        "no EVENT_VALUE column.")
    types = np.char.lower(cols["EVENT_TYPE"]) if needs_type else None
    if event_type:
        weights[types != event_type.lower()] = 0.0
    with np.errstate(invalid="ignore"):
        if threshold is not None:
            weights[~(cols["EVENT_VALUE"] >= float(threshold))] = 0.0
        if listed:
            chosen = np.zeros(n, dtype=np.float32)
            for p in listed:
                rows = types == p["eventType"].lower()
                if "eventValueThreshold" in p:
                    rows &= cols["EVENT_VALUE"] >= p["eventValueThreshold"]
                chosen[rows] = p.get("weight", 1.0)
            weights *= chosen
    return weights


def check_minimums(users: np.ndarray, what: str) -> None:
    if len(users) < MIN_INTERACTIONS:
        raise JobFailed(f"Dataset has fewer than {MIN_INTERACTIONS} interactions{what} "
                        f"({len(users)}); import more data.")
    active = int((np.bincount(users) >= 2).sum())  # users are indices
    if active < MIN_USERS:
        raise JobFailed(f"Dataset has fewer than {MIN_USERS} users with at least 2 "
                        f"interactions each ({active}){what}; import more data.")


@dataclass
class Events:
    """A dataset group's interactions chosen for training, oldest first, as indices."""

    dataset_arn: str
    # Last PutEvents row read: later ones extend histories at serving time.
    watermark: int
    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    weights: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    # Reads every column of these events, in their order: only when ``columns`` is used
    # (for 10M events of short ids the string columns alone take about 1 GB).
    read_columns: Callable[[], dict[str, np.ndarray]] = field(default=dict, repr=False)

    @cached_property
    def columns(self) -> dict[str, np.ndarray]:
        return self.read_columns()

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_ids), len(self.item_ids)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        return interaction_matrix(self.users, self.items, self.shape, self.weights)

    @cached_property
    def avoid_repeats(self) -> bool:
        return 1.0 - self.matrix.nnz / max(len(self.users), 1) < REPEAT_RATE_THRESHOLD


Selection = tuple[str | None, str | None, dict[str, Any] | None]


def _chosen(cols: dict[str, np.ndarray], selection: Selection,
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Each event's weight, and the chosen events' positions in time order (None: all of
    them, already in time order, as an import of a log usually is)."""
    selected = select_events(cols, *selection)
    keep = selected > 0
    stamps = cols["TIMESTAMP"]
    if not keep.all():
        return selected, np.flatnonzero(keep)[np.argsort(stamps[keep], kind="stable")]
    return selected, None if bool(np.all(stamps[1:] >= stamps[:-1])) else \
        np.argsort(stamps, kind="stable")


def _used(values: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Only the distinct values some event still uses, and the events' codes into them."""
    used = np.zeros(len(values), dtype=bool)
    used[codes] = True
    if used.all():
        return values, codes
    return values[used], (np.cumsum(used) - 1)[codes]


def load_events(ctx: Context, version: Resource, dataset_type: str = "INTERACTIONS",
                check: bool = True) -> Events | None:
    """The interactions of the version's dataset group after eventType / threshold /
    eventsConfig selection (spec B.7), time-ordered; None when the dataset is empty.

    Only the columns training needs are read (ids as integer codes, a segment at a
    time); ``Events.columns`` reads the others, from the same segments, on first use.
    """
    group = ctx.store.one(version.attrs["datasetGroupArn"])
    dataset_arn = arns.dataset(group.arn, dataset_type)
    if ctx.store.get(dataset_arn) is None:
        return None
    parts = dataset_parts(ctx, dataset_arn)
    config = version.attrs.get("solutionConfig") or {}
    selection: Selection = (version.attrs.get("eventType"), config.get("eventValueThreshold"),
                            config.get("eventsConfig"))
    item_column = _ITEM_COLUMN.get(dataset_type, "ITEM_ID")
    by_type = ("EVENT_TYPE", "EVENT_VALUE") if any(s is not None for s in selection) else ()
    read = coded_columns(ctx, dataset_arn, ("TIMESTAMP", *by_type), ("USER_ID", item_column),
                         parts)
    if read is None:
        return None
    cols, coded = read
    selected, order = _chosen({**cols, "USER_ID": coded["USER_ID"][1]}, selection)
    n = len(selected)

    def pick(values: np.ndarray) -> np.ndarray:
        return values if order is None else values[order]

    # One 10M-row array at a time is gathered and its source dropped.
    user_ids, users = _used(coded["USER_ID"][0], pick(coded.pop("USER_ID")[1]))
    item_ids, items = _used(coded[item_column][0], pick(coded.pop(item_column)[1]))
    timestamps, weights = pick(cols.pop("TIMESTAMP")), pick(selected)
    del cols, selected
    if check:
        check_minimums(users, " after filtering by event type and value"
                       if len(users) < n else "")

    def read_columns() -> dict[str, np.ndarray]:
        every = dataset_columns(ctx, dataset_arn, parts=parts) or {}
        chosen = _chosen(every, selection)[1]
        return every if chosen is None else {k: v[chosen] for k, v in every.items()}

    return Events(dataset_arn, parts.put_upto, users, items, timestamps, weights, user_ids,
                  item_ids, read_columns)


_ITEM_COLUMN = {"ACTION_INTERACTIONS": "ACTION_ID"}


def require_events(ctx: Context, version: Resource) -> Events:
    events = load_events(ctx, version)
    if events is None:
        raise JobFailed(f"Dataset group {version.attrs['datasetGroupArn']} has no "
                        "Interactions data; import some with CreateDatasetImportJob first.")
    return events


@dataclass
class Trained:
    """A trainer's result. ``item_ids`` / ``user_items`` default to the events' own."""

    model: alg.Recommender
    metrics: dict[str, float]
    events: Events | None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    item_ids: np.ndarray | None = None
    user_ids: np.ndarray | None = None
    user_items: sp.csr_matrix | None = None
    tuned: dict[str, str] | None = None
    # Set by performAutoML: the recipe it chose.
    recipe: catalogue.Recipe | None = None


@dataclass
class TrainingJob:
    ctx: Context
    version: Resource
    recipe: catalogue.Recipe
    params: dict[str, str]

    @property
    def config(self) -> dict[str, Any]:
        return self.version.attrs.get("solutionConfig") or {}

    def check_stop(self) -> None:
        res = self.ctx.store.get(self.version.arn)
        if res is None or res.status == Status.CREATE_STOPPING:
            raise Stopped


Trainer = Callable[[TrainingJob], Trained]
