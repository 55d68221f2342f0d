"""Tailor: the Personalize control plane, runtime and events APIs as one Chalice app.

Routes only; the work happens in ``chalicelib``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from chalice import Chalice, Rate
from chalice.app import S3Event

from chalicelib.jobs import attribution_reports, runner, s3_trigger
from chalicelib.protocol import dispatch
from chalicelib.protocol.model import rest_routes
from chalicelib.resources import auto_training
from chalicelib.state import arns
from chalicelib.state.context import Context
from chalicelib.state.context import context as _context

app = Chalice(app_name="tailor")
# Any content type and any method reach the views, so a wrong one gets an error in the
# API's wire format (the body decides: JSON, or SerializationException; a method other
# than POST gets UnknownOperationException), never Chalice's own 415 / 405 body.
CONTENT_TYPES = ["*/*"]
METHODS = ["POST", "GET", "PUT", "DELETE", "PATCH", "HEAD"]


def context() -> Context:
    """The process's state; under ``chalice local`` this also starts the job worker."""
    ctx = _context()
    if ctx.settings.inprocess_worker:
        runner.start_worker(ctx, clock)
    return ctx


def clock(ctx: Context) -> None:
    """The periodic work besides the queue, for the serve worker's clock: start the due
    automatic trainings, publish the due metric attribution reports."""
    auto_training.start_due(ctx)
    attribution_reports.publish_due(ctx)


@app.route("/", methods=METHODS, content_types=CONTENT_TYPES)
def control_plane() -> object:
    """AWS JSON 1.1: POST / with X-Amz-Target: AmazonPersonalize.<Operation>."""
    request = app.current_request
    target = request.headers.get("x-amz-target")
    return dispatch.handle(context(), partial(dispatch.control_operation, target), request)


def _rest_view(path: str) -> object:
    op = rest_routes()[path]
    return lambda: dispatch.handle(context(), lambda: op, app.current_request)


# personalize-runtime and personalize-events: POST /recommendations, /events, ...
for _path in rest_routes():
    app.route(_path, methods=METHODS, content_types=CONTENT_TYPES,
              name=_path.strip("/").replace("-", "_"))(_rest_view(_path))


def create_import_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """CreateDatasetImportJob on the API's own path (validation, quotas), in the account
    and region of the dataset: S3 imports use it."""
    op = dispatch.control_operation("AmazonPersonalize.CreateDatasetImportJob")
    with arns.scoped(arns.scope_of(params["datasetArn"])):
        return dispatch.call(ctx, op, params)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def drain_jobs(event: object) -> dict[str, int]:
    """Start the automatic trainings that are due, run every queued job (imports,
    training, campaign deploys, deletions) and the S3 imports that waited for an earlier
    import of their dataset, then publish the due metric attribution reports (so an
    import that just finished is reported at once)."""
    ctx = context()
    auto_training.start_due(ctx)
    jobs = s3_trigger.drain(ctx, create_import_job)
    attribution_reports.publish_due(ctx)
    return {"jobs": jobs}


@app.on_s3_event(bucket=s3_trigger.trigger_bucket(), events=["s3:ObjectCreated:*"])
def import_from_s3(event: S3Event) -> dict[str, int]:
    """A CSV under a prefix TAILOR_S3_IMPORTS maps to a dataset: import it (see s3_trigger)."""
    return s3_trigger.on_event(context(), event.to_dict(), create_import_job)
