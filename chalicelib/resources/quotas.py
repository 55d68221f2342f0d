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
    "filters_per_group": 10,      # filters per dataset group (spec I.5)
    "filter_fields": 5,           # distinct dataset fields one filter uses
    "filter_fields_per_group": 10,  # distinct dataset fields of all a group's filters
    "recommenders_per_group": 5,  # recommenders per (domain) dataset group
    "recommenders": 15,           # recommenders per region
    "pending_batch_inference_jobs": 5,  # pending/in-progress batch jobs per region
    "pending_batch_segment_jobs": 5,
    # Batch job inputs (spec I.6), checked when the job reads them.
    "batch_input_files": 1000,
    "batch_input_bytes": 1 << 30,
    "batch_records_per_file": 50_000_000,
    "item_affinity_queries": 500,        # lines per input file
    "item_attribute_affinity_queries": 10,
}


def quota(name: str) -> int:
    return int(os.environ.get(f"TAILOR_QUOTA_{name.upper()}", DEFAULTS[name]))


def check(name: str, current: int, message: str) -> None:
    """Raise LimitExceededException if one more would pass the quota."""
    limit = quota(name)
    if current >= limit:
        raise LimitExceededException(
            f"{message} (quota {limit}; raise it with TAILOR_QUOTA_{name.upper()}).")
