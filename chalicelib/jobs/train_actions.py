"""aws-next-best-action: Actions + Action_Interactions -> a propensity model per action.

The Actions dataset is the catalogue (interactions with other action ids are dropped); the
model is :class:`~chalicelib.algorithms.NextBestAction`. Metrics follow Personalize's holdout
protocol (spec D.3) on the user x action TAKEN events: 10 % of users held out, each one's
newest 10 % of TAKEN actions are to be found from the older 90 %, ranked as serving ranks
them (actions taken within their REPEAT_FREQUENCY are left out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from chalicelib import algorithms as alg
from chalicelib.jobs.data import dataset_columns, interaction_matrix
from chalicelib.jobs.lifecycle import JobFailed
from chalicelib.jobs.training import (
    MIN_INTERACTIONS,
    MIN_USERS,
    Events,
    Trained,
    TrainingJob,
    load_events,
)
from chalicelib.state import arns

DAY = 86400
TAKEN, NOT_TAKEN, VIEWED = "TAKEN", "NOT_TAKEN", "VIEWED"
TOP_K = 25


@dataclass(frozen=True)
class ActionEvents:
    """Time-ordered action interactions of known actions and the three event types."""

    users: np.ndarray
    actions: np.ndarray
    timestamps: np.ndarray
    taken: np.ndarray
    shape: tuple[int, int]

    def subset(self, mask: np.ndarray) -> ActionEvents:
        return ActionEvents(self.users[mask], self.actions[mask], self.timestamps[mask],
                            self.taken[mask], self.shape)

    def matrices(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """(TAKEN counts, all-event counts) as user x action matrices."""
        t = self.taken
        return (interaction_matrix(self.users[t], self.actions[t], self.shape),
                interaction_matrix(self.users, self.actions, self.shape))


def normalize_event_types(values: np.ndarray) -> np.ndarray:
    """'Taken', 'Not Taken', 'not-taken' -> TAKEN, NOT_TAKEN: PutActionInteractions documents
    "Taken" / "Not Taken" / "Viewed", bulk CSVs use TAKEN / NOT_TAKEN / VIEWED."""
    upper = np.char.upper(np.char.strip(np.asarray(values).astype(str)))
    return np.char.replace(np.char.replace(upper, " ", "_"), "-", "_")


def load_actions(job: TrainingJob) -> dict[str, np.ndarray]:
    """The Actions dataset's columns sorted by ACTION_ID; JobFailed when there are none."""
    group = job.ctx.store.one(job.version.attrs["datasetGroupArn"])
    arn = arns.dataset(group.arn, "ACTIONS")
    cols = dataset_columns(job.ctx, arn) if job.ctx.store.get(arn) else None
    if cols is None or len(cols["ACTION_ID"]) == 0:
        raise JobFailed(f"aws-next-best-action needs an Actions dataset with at least one "
                        f"action in dataset group {group.arn}; create one and import actions "
                        "(CreateDatasetImportJob or PutActions).")
    order = np.argsort(cols["ACTION_ID"], kind="stable")
    return {name: col[order] for name, col in cols.items()}


def load_action_events(job: TrainingJob, action_ids: np.ndarray,
                       ) -> tuple[Events, ActionEvents]:
    """The action interactions with actions of the catalogue, checked against the minimums."""
    ev = load_events(job.ctx, job.version, "ACTION_INTERACTIONS", check=False)
    if ev is None:
        raise JobFailed("aws-next-best-action needs Action_Interactions data; create the "
                        "dataset and import TAKEN / NOT_TAKEN / VIEWED events first.")
    pos = np.minimum(np.searchsorted(action_ids, ev.item_ids), len(action_ids) - 1)
    known = action_ids[pos] == ev.item_ids
    types = normalize_event_types(ev.columns["EVENT_TYPE"])
    keep = known[ev.items] & np.isin(types, (TAKEN, NOT_TAKEN, VIEWED))
    events = ActionEvents(ev.users[keep], pos[ev.items[keep]], ev.timestamps[keep],
                          types[keep] == TAKEN, (len(ev.user_ids), len(action_ids)))
    check_minimums(events)
    return ev, events


def check_minimums(events: ActionEvents) -> None:
    """Spec I.1's minimums, applied to action interactions: 1000 events, and 25 users with at
    least 2 TAKEN events (the held-out users need a TAKEN history and a TAKEN answer)."""
    if len(events.users) < MIN_INTERACTIONS:
        raise JobFailed(f"Action_Interactions has fewer than {MIN_INTERACTIONS} TAKEN, "
                        f"NOT_TAKEN or VIEWED events with actions of the Actions dataset "
                        f"({len(events.users)}); import more data.")
    counts = np.bincount(events.users[events.taken], minlength=events.shape[0])
    active = int((counts >= 2).sum())
    if active < MIN_USERS:
        raise JobFailed(f"Action_Interactions has fewer than {MIN_USERS} users with at least "
                        f"2 TAKEN events each ({active}); import more data.")


def action_extras(actions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-action serving data: expiry (epoch seconds, 0 = never), repeat frequency (days,
    0 = none) and VALUE (ties in propensity go to the more valuable action)."""
    n = len(actions["ACTION_ID"])

    def column(name: str) -> np.ndarray:
        values = actions.get(name)
        return np.zeros(n) if values is None else \
            np.nan_to_num(values.astype(np.float64), nan=0.0)

    return {"expires_at": column("ACTION_EXPIRATION_TIMESTAMP").astype(np.int64),
            "repeat_days": column("REPEAT_FREQUENCY"), "action_value": column("VALUE")}


def last_taken(events: ActionEvents) -> dict[str, np.ndarray]:
    """Each user's latest TAKEN time per action, in CSR layout (rows users, sorted actions),
    which serving checks REPEAT_FREQUENCY against."""
    n_users, n_actions = events.shape
    t = events.taken
    keys, inverse = np.unique(events.users[t] * n_actions + events.actions[t],
                              return_inverse=True)
    latest = np.zeros(len(keys), dtype=np.int64)
    np.maximum.at(latest, inverse, events.timestamps[t].astype(np.int64))
    rows = keys // n_actions
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_users))])
    return {"taken_indptr": indptr.astype(np.int64),
            "taken_actions": (keys % n_actions).astype(np.int64), "taken_at": latest}


def recently_taken(holdout: alg.Holdout, actions: np.ndarray, timestamps: np.ndarray,
                   repeat_days: np.ndarray, n_actions: int) -> np.ndarray:
    """bool (n_test, n_actions): history actions taken within their REPEAT_FREQUENCY of the
    user's newest history event, which serving would not offer at that moment."""
    events = holdout.history_events
    row = np.repeat(np.arange(len(holdout.test_users)), np.diff(holdout.history_indptr))
    newest = timestamps[holdout.last_history_events()]
    acts = actions[events]
    recent = newest[row] - timestamps[events] < repeat_days[acts] * DAY
    mask = np.zeros((len(holdout.test_users), n_actions), dtype=bool)
    mask[row[recent], acts[recent]] = True
    return mask


def holdout_metrics(events: ActionEvents, repeat_days: np.ndarray) -> dict[str, float]:
    """The ranking metrics of spec D.2 on held-out users' TAKEN events (see module doc)."""
    t = events.taken
    actions, stamps = events.actions[t], events.timestamps[t]
    holdout = alg.holdout_split(events.users[t], actions, stamps)
    is_test = np.zeros(events.shape[0], dtype=bool)
    is_test[holdout.test_users] = True
    model = alg.NextBestAction().fit(*events.subset(~is_test[events.users]).matrices())
    n_actions = events.shape[1]
    scores = model.score(holdout.history_matrix(actions, n_actions))
    exclude = recently_taken(holdout, actions, stamps, repeat_days, n_actions)
    recommended, _ = alg.top_n(scores, TOP_K, exclude=exclude)
    return alg.ranking_metrics(recommended, holdout.relevant_indptr, holdout.relevant_items,
                               n_actions)


def train_next_best_action(job: TrainingJob) -> Trained:
    """aws-next-best-action: metrics on held-out users, then the model on all the data."""
    actions = load_actions(job)
    action_ids = actions["ACTION_ID"]
    ev, events = load_action_events(job, action_ids)
    extras = action_extras(actions)
    job.check_stop()
    metrics = holdout_metrics(events, extras["repeat_days"])
    job.check_stop()
    taken, shown = events.matrices()
    model = alg.NextBestAction().fit(taken, shown)
    return Trained(model, metrics, ev, extras={**extras, **last_taken(events)},
                   item_ids=action_ids, user_ids=ev.user_ids, user_items=taken)
