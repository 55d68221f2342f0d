"""Operation name -> handler, and the one request path every API call takes.

A handler is a plain function named after the operation in snake_case
(``create_dataset_group(ctx, params) -> dict``) in one of ``HANDLER_MODULES``;
the table is built from the botocore models, so a new module only has to
define the function.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import nullcontext
from functools import lru_cache
from types import ModuleType
from typing import Any

from botocore import xform_name
from chalice import Response

from chalicelib.errors import (
    InvalidInputException,
    PersonalizeError,
    SerializationException,
    UnknownOperationException,
)
from chalicelib.protocol import auth, bounds, serialize
from chalicelib.protocol.model import CONTROL, RUNTIME, TARGET_PREFIX, Operation, all_operations
from chalicelib.protocol.model import control_operation as _control_operation
from chalicelib.protocol.validate import validate
from chalicelib.resources import (
    batch_inference_jobs,
    batch_segment_jobs,
    campaigns,
    dataset_groups,
    datasets,
    deletion_jobs,
    event_trackers,
    export_jobs,
    filters,
    import_jobs,
    metric_attributions,
    recipes,
    recommenders,
    schemas,
    solution_versions,
    solutions,
    tags,
)
from chalicelib.runtime import actions, events, recommend
from chalicelib.state import arns
from chalicelib.state.context import Context

Handler = Callable[[Context, dict[str, Any]], dict[str, Any]]
HANDLER_MODULES: tuple[ModuleType, ...] = (
    dataset_groups, schemas, datasets, import_jobs, solutions, solution_versions, campaigns,
    recipes, tags, event_trackers, export_jobs, deletion_jobs, recommend, events,
    actions, recommenders, metric_attributions, batch_inference_jobs, batch_segment_jobs, filters,
)
_READ_ONLY = ("Describe", "List", "Get")
# One recommendation call at a time per process. The calls are CPU-bound and Python runs
# one thread at a time anyway, but threads that take turns at every sqlite call and large
# numpy step also evict each other's data from the CPU caches: 8 threads in one process
# took 1.5-3x the CPU per GetRecommendations, one at a time about 1.2x
# (docs/benchmarks.md, "Serving speed").
_SERVING = threading.Lock()


@lru_cache(maxsize=1)
def handlers() -> dict[str, Handler]:
    table = {}
    for op in all_operations():
        for module in HANDLER_MODULES:
            fn = getattr(module, xform_name(op.name), None)
            if fn is not None:
                table[op.name] = fn
                break
    return table


def control_operation(target: str | None) -> Operation:
    op = None
    if target and target.startswith(TARGET_PREFIX):
        op = _control_operation(target[len(TARGET_PREFIX):])
    if op is None:
        raise UnknownOperationException(
            f"Unknown operation {target!r}: the X-Amz-Target header must be "
            "AmazonPersonalize.<Operation> with an operation of the personalize API.")
    return op


def _parse(body: bytes | None) -> dict[str, Any]:
    if not body:
        return {}
    if len(body) > bounds.MAX_BODY_BYTES:
        raise InvalidInputException(bounds.too_large(len(body)))
    try:
        params = bounds.loads(body)
    except ValueError as exc:
        raise SerializationException(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(params, dict):
        raise SerializationException("The request body must be a JSON object.")
    return params


def call(ctx: Context, op: Operation, params: dict[str, Any]) -> dict[str, Any]:
    validate(op.model.input_shape, params)
    handler = handlers().get(op.name)
    if handler is None:
        raise InvalidInputException(
            f"Tailor does not implement {op.name} yet; README.md lists what is implemented.")
    with _SERVING if op.service == RUNTIME else nullcontext():
        result = handler(ctx, params)
    if op.service == CONTROL and not op.name.startswith(_READ_ONLY):
        ctx.wake()
    return result


def handle(ctx: Context, resolve: Callable[[], Operation], request: Any) -> Response:
    """Authenticate, parse, validate, run and serialize one request (a Chalice request);
    every error becomes a wire error.

    ``resolve`` names the operation (it raises for an unknown X-Amz-Target, so that
    error is serialized like any other). The operation runs in the caller's account and
    region (``arns.scoped``).
    """
    try:
        op: Operation | PersonalizeError = resolve()
    except PersonalizeError as exc:
        op = exc
    service, rest = (op.service, op.rest) if isinstance(op, Operation) else (CONTROL, False)
    try:
        scope = auth.authenticate(ctx.settings, request)  # before anything else, as AWS
        if not isinstance(op, Operation):
            raise op
        if request.method != "POST":
            raise UnknownOperationException(
                f"{op.name} is called with POST, not {request.method}.")
        with ctx.store.request(), arns.scoped(scope):
            found = call(ctx, op, _parse(request.raw_body))
        return serialize.result(found, rest)
    except Exception as exc:  # noqa: BLE001 - the one place errors become responses
        return serialize.error(exc, service, rest)
