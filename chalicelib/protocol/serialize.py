"""Results and errors to Chalice responses: the one place the wire format is written."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from chalice import Response

from chalicelib.errors import InternalFailure, PersonalizeError
from chalicelib.protocol.model import error_status

log = logging.getLogger(__name__)

JSON_11 = "application/x-amz-json-1.1"
REST_JSON = "application/json"


def _dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _headers(rest: bool, **more: str) -> dict[str, str]:
    """Every response names itself (boto3's ResponseMetadata.RequestId, the JavaScript
    SDK's $metadata.requestId)."""
    return {"Content-Type": REST_JSON if rest else JSON_11,
            "x-amzn-RequestId": str(uuid.uuid4()), **more}


def result(body: dict[str, Any], rest: bool) -> Response:
    return Response(body=_dumps(body), status_code=200, headers=_headers(rest))


def error(exc: BaseException, service: str, rest: bool) -> Response:
    """AWS JSON 1.1: 400 + ``__type``; REST-JSON: the modelled status + ``x-amzn-ErrorType``."""
    if not isinstance(exc, PersonalizeError):
        log.exception("internal failure", exc_info=exc)
        exc = InternalFailure("Tailor hit an internal error; the server log has the details.")
    status = (error_status(service, exc.code, exc.rest_status) if rest and exc.status < 500
              else exc.status)
    return Response(
        body=_dumps({"__type": exc.code, "message": exc.message}),
        status_code=status, headers=_headers(rest, **{"x-amzn-ErrorType": exc.code}),
    )
