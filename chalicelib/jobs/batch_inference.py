"""Batch inference jobs: JSON lines in S3 -> ``<file>.out`` recommendations (spec H.1, H.2).

Each line is checked against the format of the version's recipe type; a bad line gets its
own ``error`` and the job goes on. Lines are answered in chunks by
:mod:`chalicelib.runtime.batch` (the serving code, users scored together).
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.algorithms import TrendingNow
from chalicelib.jobs import batch_io
from chalicelib.jobs.lifecycle import JobFailed
from chalicelib.resources import catalogue
from chalicelib.runtime import batch
from chalicelib.state.context import Context
from chalicelib.state.lifecycle import Status
from chalicelib.state.store import Resource

log = logging.getLogger(__name__)
MAX_ID_LENGTH = 256
MAX_ITEM_LIST = 500
# Users scored at once: at most about this many catalogue cells (float64 scores).
CHUNK_CELLS = 1 << 22
MAX_CHUNK_LINES = 2048
# Recipe type -> (required members, optional members) of an input line (spec H.2).
FORMATS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "USER_PERSONALIZATION": (("userId",), ("filterValues",)),
    "POPULAR_ITEMS": ((), ("userId", "filterValues")),
    "RELATED_ITEMS": (("itemId",), ("userId", "filterValues")),
    "PERSONALIZED_RANKING": (("userId", "itemList"), ("filterValues",)),
}


def _id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        raise batch_io.BadLine(f"{name} must be a string of 1 to {MAX_ID_LENGTH} characters, "
                         f"got {value!r}.")
    return value


def _item_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_ITEM_LIST:
        raise batch_io.BadLine(f"itemList must be a list of 1 to {MAX_ITEM_LIST} item ids.")
    return [_id(v, "each itemList entry") for v in value]


def parse_line(obj: dict[str, Any], kind: str, recipe: str) -> batch.Line:
    """An input line as a request; BadLine says what is wrong with it."""
    required, optional = FORMATS[kind]
    unknown = sorted(set(obj) - set(required) - set(optional))
    if unknown:
        raise batch_io.BadLine(f"Unknown field(s) {unknown}: a line for {recipe} ({kind}) has "
                         f"{', '.join(required) or 'no required field'}"
                         f"{' and may have ' + ', '.join(optional) if optional else ''}.")
    missing = [k for k in required if obj.get(k) is None]
    if missing:
        raise batch_io.BadLine(f"Missing {', '.join(missing)}: a line for {recipe} ({kind}) "
                         f"needs {', '.join(required)}.")
    return batch.Line(
        user_id=_id(obj["userId"], "userId") if obj.get("userId") is not None else None,
        item_id=_id(obj["itemId"], "itemId") if "itemId" in obj else None,
        item_list=_item_list(obj["itemList"]) if "itemList" in obj else None,
        filter_values=batch_io.filter_values(obj.get("filterValues")))


def handler(ctx: Context, job: batch.Job) -> batch_io.Handler:
    kind, recipe = job.recipe.serving_type, job.recipe.name

    def handle(chunk: list[tuple[int, bytes]]) -> tuple[list[bytes], int]:
        echoes: list[dict[str, Any]] = []
        results: list[batch.Answer | None] = []
        requests: list[batch.Line] = []
        for _, raw in chunk:
            obj, problem = batch_io.parse_json(raw)
            echoes.append({"input": obj} if obj is not None else batch_io.echo_raw(raw))
            if obj is not None:
                try:
                    requests.append(parse_line(obj, kind, recipe))
                    results.append(None)
                    continue
                except batch_io.BadLine as exc:
                    problem = str(exc)
            results.append(problem)
        answers = iter(batch.answer(ctx, job, requests) if requests else [])
        lines, errors = [], 0
        for echo, result in zip(echoes, results, strict=True):
            result = next(answers) if result is None else result
            if isinstance(result, str):
                errors += 1
                lines.append(batch_io.record(echo, None, result))
            else:
                lines.append(batch_io.record(echo, result, None))
        return lines, errors

    return handle


def chunk_lines(n_items: int) -> int:
    return max(1, min(MAX_CHUNK_LINES, CHUNK_CELLS // max(n_items, 1)))


def run(ctx: Context, res: Resource) -> None:
    artifact = batch_io.start(ctx, res)
    arn = res.attrs["solutionVersionArn"]
    recipe = catalogue.recipe_by_name(artifact.recipe)
    if recipe is None or recipe.serving_type not in FORMATS or \
            isinstance(artifact.model, TrendingNow):
        raise JobFailed(f"{arn} uses {artifact.recipe}, which has no batch inference.")
    config = res.attrs.get("batchInferenceJobConfig") or {}
    job = batch.Job(artifact, recipe, res.attrs["numResults"], res.attrs.get("filterArn"),
                    config.get("itemExplorationConfig") or {}, seed=arn)
    limits = res.attrs["_limits"]
    source = res.attrs["jobInput"]["s3DataSource"]["path"]
    output = res.attrs["jobOutput"]["s3DataDestination"]["path"]
    files = batch_io.input_files(source, output, limits["batch_input_files"],
                                 limits["batch_input_bytes"])
    log.info("%s: %s (%s), %d input files, %d lines per chunk", res.arn, recipe.name,
             recipe.serving_type, len(files), chunk_lines(len(artifact.item_ids)))
    totals = batch_io.run_files(
        res.arn, files, output, chunk_lines(len(artifact.item_ids)), handler(ctx, job),
        limits["batch_records_per_file"],
        "a batch inference input file holds at most that many records (quota "
        "batch_records_per_file)")
    batch_io.check_some_succeeded(totals, files, output)
    ctx.store.set_status(res.arn, Status.ACTIVE)
    log.info("%s: wrote %d .out files, %d lines (%d with an error)", res.arn,
             totals.outputs, totals.lines, totals.errors)
