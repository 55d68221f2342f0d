"""Status strings, spelled as AWS spells them (a SPACE between verb and phase)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    CREATE_PENDING = "CREATE PENDING"
    CREATE_IN_PROGRESS = "CREATE IN_PROGRESS"
    ACTIVE = "ACTIVE"
    CREATE_FAILED = "CREATE FAILED"
    CREATE_STOPPING = "CREATE STOPPING"
    CREATE_STOPPED = "CREATE STOPPED"
    DELETE_PENDING = "DELETE PENDING"
    DELETE_IN_PROGRESS = "DELETE IN_PROGRESS"
    # Recommenders can be stopped (no serving, no retraining) and started again.
    STOP_PENDING = "STOP PENDING"
    STOP_IN_PROGRESS = "STOP IN_PROGRESS"
    INACTIVE = "INACTIVE"
    START_PENDING = "START PENDING"
    START_IN_PROGRESS = "START IN_PROGRESS"
    # Data deletion jobs use their own vocabulary.
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


PENDING = frozenset({Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS, Status.PENDING,
                     Status.IN_PROGRESS})
DELETING = frozenset({Status.DELETE_PENDING, Status.DELETE_IN_PROGRESS})

# Allowed (from, to) moves; anything else is a bug in the caller.
TRANSITIONS = frozenset({
    (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS),
    (Status.CREATE_PENDING, Status.CREATE_FAILED),
    (Status.CREATE_PENDING, Status.CREATE_STOPPED),
    (Status.CREATE_IN_PROGRESS, Status.ACTIVE),
    (Status.CREATE_IN_PROGRESS, Status.CREATE_FAILED),
    (Status.CREATE_IN_PROGRESS, Status.CREATE_STOPPING),
    (Status.CREATE_IN_PROGRESS, Status.CREATE_PENDING),  # a job resumed after a crash
    (Status.CREATE_STOPPING, Status.CREATE_STOPPED),
    (Status.ACTIVE, Status.DELETE_PENDING),
    (Status.CREATE_FAILED, Status.DELETE_PENDING),
    (Status.CREATE_STOPPED, Status.DELETE_PENDING),
    (Status.DELETE_PENDING, Status.DELETE_IN_PROGRESS),
    (Status.ACTIVE, Status.STOP_PENDING),
    (Status.STOP_PENDING, Status.STOP_IN_PROGRESS),
    (Status.STOP_IN_PROGRESS, Status.INACTIVE),
    (Status.STOP_IN_PROGRESS, Status.STOP_PENDING),  # resumed after a crash
    (Status.INACTIVE, Status.START_PENDING),
    (Status.START_PENDING, Status.START_IN_PROGRESS),
    (Status.START_IN_PROGRESS, Status.ACTIVE),
    (Status.START_IN_PROGRESS, Status.START_PENDING),  # resumed after a crash
    (Status.INACTIVE, Status.DELETE_PENDING),
    (Status.PENDING, Status.IN_PROGRESS),
    (Status.PENDING, Status.FAILED),
    (Status.IN_PROGRESS, Status.COMPLETED),
    (Status.IN_PROGRESS, Status.FAILED),
    (Status.IN_PROGRESS, Status.PENDING),  # resumed after a crash
})


def can_move(current: str, new: str) -> bool:
    return current == new or (Status(current), Status(new)) in TRANSITIONS
