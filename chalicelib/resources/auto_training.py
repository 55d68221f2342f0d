"""Automatic training (CreateSolution ``performAutoTraining``, spec A.7).

A solution with automatic training on (the default) gets a new FULL version, trainingType
AUTOMATIC, every ``solutionConfig.autoTrainingConfig.schedulingExpression`` (``rate(N
days)``, default 7 days) after its newest version; a solution with no version yet gets
its first one ``TAILOR_AUTO_TRAINING_FIRST_DELAY`` seconds (default one hour, as in AWS)
after it was created, so a version the user creates in that hour replaces it.

``start_due`` runs from the scheduled ``drain_jobs`` handler and, under ``tailor serve``
or ``chalice local``, from the job worker's clock; it also queues the weekly retraining of
ACTIVE recommenders (``recommenders.retrain_due``).
"""

from __future__ import annotations

import logging
import re
import time

from chalicelib.errors import PersonalizeError
from chalicelib.resources import recommenders, solution_versions, solutions
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import PENDING, Status
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)
DAY = 86400.0
DEFAULT_DAYS = 7
_RATE = re.compile(r"^rate\(\s*(\d+)\s+days?\s*\)$")


def interval_days(solution: Resource) -> int:
    config = (solution.attrs.get("solutionConfig") or {}).get("autoTrainingConfig") or {}
    found = _RATE.match(config.get("schedulingExpression") or "")
    return int(found.group(1)) if found else DEFAULT_DAYS


def due_at(ctx: Context, solution: Resource) -> float:
    """When the solution's next automatic version is due (epoch seconds)."""
    newest = ctx.store.find(solution_versions.KIND.name, parent=solution.arn)
    if not newest:
        return solution.created + ctx.settings.auto_training_first_delay
    return newest[0].created + interval_days(solution) * DAY


def start_due(ctx: Context, now: float | None = None) -> list[str]:
    """Queue a version for every solution whose automatic training is due; their ARNs.
    (Recommenders due for retraining are queued too, not listed.)"""
    now = time.time() if now is None else now
    recommenders.retrain_due(ctx, now)
    started = []
    for solution in ctx.store.find(solutions.KIND.name, statuses=frozenset({Status.ACTIVE})):
        if not solution.attrs.get("performAutoTraining", True) or due_at(ctx, solution) > now:
            continue
        with ctx.store.transaction():
            current = ctx.store.get(solution.arn)
            if current is None or current.status != Status.ACTIVE or \
                    ctx.store.find(solution_versions.KIND.name, parent=solution.arn,
                                   statuses=PENDING):
                continue
            try:
                version = solution_versions.start_training(ctx, current, "FULL", "AUTOMATIC")
            except PersonalizeError as exc:
                log.warning("automatic training of %s postponed: %s", solution.arn, exc)
                continue
        log.info("automatic training of %s: version %s", solution.arn, version.arn)
        started.append(version.arn)
    return started
