"""What batch inference and batch segment jobs share at create time: the solution version,
the filter, the S3 paths, numResults, the per-region quota (spec A.12, A.13, A.16, H.1)."""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.errors import InvalidInputException, ResourceNotFoundException
from chalicelib.resources import (
    catalogue,
    common,
    filters,
    quotas,
    solution_versions,
    solutions,
)
from chalicelib.resources import filter_grammar as grammar
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import PENDING
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)
DEFAULT_RESULTS = 25
# Input limits the job checks when it reads its input, resolved (adjustable quotas) at
# create time and kept with the job.
_LIMITS = ("batch_input_files", "batch_input_bytes", "batch_records_per_file",
           "item_affinity_queries", "item_attribute_affinity_queries")


def _s3_url(value: str, which: str, folder: bool) -> str:
    bucket = value[len("s3://"):].partition("/")[0] if value.startswith("s3://") else ""
    if not bucket:
        example = "s3://bucket/out/" if folder else "s3://bucket/in/users.json or s3://bucket/in/"
        raise InvalidInputException(
            f"Invalid S3 {which} path {value!r}: give an S3 URL such as {example}.")
    return value


def check_paths(params: dict[str, Any], input_key: str = "jobInput",
                output_key: str = "jobOutput") -> None:
    """jobInput.s3DataSource.path (a file or a folder) and jobOutput.s3DataDestination.path
    (a folder) must be s3:// URLs. The same location for both is allowed, with a warning
    (AWS advises against it; the job does not read back its own .out files)."""
    source = _s3_url(params[input_key]["s3DataSource"]["path"], "input", folder=False)
    target = _s3_url(params[output_key]["s3DataDestination"]["path"], "output", folder=True)
    if source.rstrip("/") == target.rstrip("/"):
        log.warning("batch job %s reads and writes %s: AWS advises separate locations",
                    params.get("jobName"), source)


def num_results(params: dict[str, Any], maximum: int) -> int:
    """numResults: default 25 (also for 0, as the runtime does), at most ``maximum``."""
    n = params.get("numResults") or DEFAULT_RESULTS
    if n < 0 or n > maximum:
        raise InvalidInputException(f"numResults must be between 1 and {maximum}, got {n}.")
    return n


def active_version(ctx: Context, arn: str) -> tuple[Resource, catalogue.Recipe]:
    version = common.require(ctx, solution_versions.KIND, arn)
    solution_versions.require_usable(ctx, version, "before a batch job can use it")
    return version, solutions.recipe_of(version.attrs["recipeArn"])


def check_filter(ctx: Context, filter_arn: str | None, version: Resource, target: str,
                 interactions: bool = True) -> None:
    """The filter exists, is ACTIVE, belongs to the version's dataset group and selects
    ``target`` (ItemID for batch inference, UserID for segments); ``interactions=False``
    also refuses Interactions conditions (Item-Attribute-Affinity, spec H.3)."""
    if filter_arn is None:
        return
    found = ctx.store.get(filter_arn)
    if found is None or found.kind != filters.KIND.name:
        raise ResourceNotFoundException(f"Filter {filter_arn} does not exist.")
    common.require_active(found, filters.KIND, "before a batch job uses it")
    group = found.attrs["datasetGroupArn"]
    if group != version.attrs["datasetGroupArn"]:
        raise InvalidInputException(
            f"Filter {filter_arn} belongs to dataset group {group}, but solution version "
            f"{version.arn} was trained in {version.attrs['datasetGroupArn']}.")
    parsed = grammar.parse(found.attrs["filterExpression"])
    if parsed.target != target:
        raise InvalidInputException(
            f"Filter {filter_arn} selects {parsed.target}s; this job needs a filter of "
            f"{target}s (INCLUDE/EXCLUDE {target} WHERE ...).")
    if not interactions and parsed.uses("Interactions"):
        raise InvalidInputException(
            f"Filter {filter_arn} has an Interactions condition, which Item-Attribute-"
            "Affinity segment jobs do not allow; filter on Users fields instead.")


def create_job(ctx: Context, kind: common.Kind, params: dict[str, Any], version: Resource,
               attrs: dict[str, Any], quota: str) -> Resource:
    """Name check, per-region quota of pending jobs, then the row and its queued job
    (inside the caller's transaction)."""
    name = params["jobName"]
    common.check_access(ctx, params["roleArn"], params["jobInput"]["s3DataSource"]["path"],
                        params["jobOutput"]["s3DataDestination"]["path"])
    common.check_name_free(ctx, kind, name)
    pending = ctx.store.find(kind.name, statuses=PENDING)
    quotas.check(quota, len(pending), "More than 5 resources with PENDING or IN_PROGRESS status")
    attrs = common.drop_none({
        **attrs, "solutionVersionArn": version.arn, "filterArn": params.get("filterArn"),
        "jobInput": params["jobInput"], "jobOutput": params["jobOutput"],
        "roleArn": params["roleArn"],
        "_limits": {key: quotas.quota(key) for key in _LIMITS}})
    return common.create(ctx, kind, arns.arn(kind.name, name), name, version.arn, attrs,
                         params.get("tags"))
