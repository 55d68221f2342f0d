"""Service quotas (spec section I.7), adjustable like AWS's: TAILOR_QUOTA_<NAME>=<n>."""

from __future__ import annotations

import os

from chalicelib.errors import LimitExceededException

DEFAULTS = {
    "dataset_groups": 5,          # active dataset groups per region
    "schemas": 500,               # per region
    "pending_import_jobs": 5,     # pending/in-progress import jobs per region
    "solutions_per_group": 10,    # active solutions per dataset group
    "pending_solution_versions": 20,
    "campaigns_per_group": 5,     # active campaigns per dataset group
}


def quota(name: str) -> int:
    return int(os.environ.get(f"TAILOR_QUOTA_{name.upper()}", DEFAULTS[name]))


def check(name: str, current: int, message: str) -> None:
    """Raise LimitExceededException if one more would pass the quota."""
    limit = quota(name)
    if current >= limit:
        raise LimitExceededException(
            f"{message} (quota {limit}; raise it with TAILOR_QUOTA_{name.upper()}).")
