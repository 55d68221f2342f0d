"""Hyperparameter optimisation (``performHPO``): a seeded random search over the
solution's ``hpoConfig`` ranges, each candidate scored on a validation split of the
training users (never the users GetSolutionMetrics holds out).

CreateSolution validates the ranges (``catalogue.check_hpo_ranges``); ``search`` runs at
training.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from chalicelib.algorithms import METRIC_NAMES
from chalicelib.resources.catalogue import RANGE_KINDS as _KINDS

log = logging.getLogger(__name__)
DEFAULT_TRAINING_JOBS = 20
MAX_TRAINING_JOBS = 40
DEFAULT_METRIC = "normalized_discounted_cumulative_gain_at_10"


def training_jobs(hpo_config: Mapping[str, Any]) -> int:
    raw = (hpo_config.get("hpoResourceConfig") or {}).get("maxNumberOfTrainingJobs")
    try:
        n = int(raw) if raw is not None else DEFAULT_TRAINING_JOBS
    except ValueError:
        raise ValueError(f"maxNumberOfTrainingJobs must be a whole number, got {raw!r}.") from None
    if not 1 <= n <= MAX_TRAINING_JOBS:
        raise ValueError(f"maxNumberOfTrainingJobs must be between 1 and {MAX_TRAINING_JOBS}.")
    return n


def objective(hpo_config: Mapping[str, Any]) -> tuple[str, bool]:
    """(metric name, maximise?) — the hpoObjective if it names a metric Tailor computes."""
    spec = hpo_config.get("hpoObjective") or {}
    metric = spec.get("metricName") if spec.get("metricName") in METRIC_NAMES else DEFAULT_METRIC
    return metric, spec.get("type", "Maximize").lower() != "minimize"


def candidates(algorithm: str, fixed: Mapping[str, str], ranges: Mapping[str, Any], n: int,
               seed: int = 0) -> list[dict[str, str]]:
    """The defaults (as ``fixed`` gives them) first, then ``n - 1`` seeded random draws."""
    rng = np.random.default_rng(seed)
    out = [dict(fixed)]
    for _ in range(n - 1):
        params = dict(fixed)
        for group, kind in _KINDS.items():
            for r in ranges.get(group) or []:
                if kind == "categorical":
                    params[r["name"]] = str(rng.choice(r["values"]))
                elif kind == "integer":
                    params[r["name"]] = str(int(rng.integers(r["minValue"], r["maxValue"] + 1)))
                else:
                    params[r["name"]] = repr(float(rng.uniform(r["minValue"], r["maxValue"])))
        if params not in out:
            out.append(params)
    return out


def search(algorithm: str, fixed: Mapping[str, str], hpo_config: Mapping[str, Any],
           score: Callable[[dict[str, str]], dict[str, float]],
           ) -> tuple[dict[str, str], dict[str, str]]:
    """Best parameters and the tuned subset (``tunedHPOParams.algorithmHyperParameters``)."""
    ranges = hpo_config.get("algorithmHyperParameterRanges") or {}
    metric, maximise = objective(hpo_config)
    tried = candidates(algorithm, fixed, ranges, training_jobs(hpo_config))
    values = [score(params)[metric] for params in tried]
    # the best value; on ties the earliest candidate (the defaults come first)
    best = min(range(len(tried)), key=lambda i: (-values[i] if maximise else values[i], i))
    best_value = values[best]
    log.info("HPO on %s: %d candidates, best %s=%.4f", algorithm, len(tried), metric, best_value)
    names = {r["name"] for group in _KINDS for r in ranges.get(group) or []}
    chosen = tried[best]
    return chosen, {k: v for k, v in chosen.items() if k in names}
