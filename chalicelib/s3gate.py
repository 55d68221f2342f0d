"""The door of Tailor's local S3: a WSGI middleware in front of the moto server.

moto serves, beside S3, IAM and STS, its own control API under ``/moto-api/``: download
the recording (every object uploaded), upload a recording to be replayed, reset every
backend. Tailor's local S3 is Tailor's, not the world's, so the gate refuses those paths
with an S3-style ``AccessDenied`` before moto sees them.

With auth on (``tailor serve`` without ``--no-auth``) the gate also checks every request's
SigV4 signature (``protocol.sigv4``, as the Personalize APIs do) and what its caller may do
(``s3auth``), and tells moto the caller's account (``x-moto-account-id``, never taken from
the client). Refusals use each protocol's codes: S3's XML ``<Error>`` (AccessDenied,
InvalidAccessKeyId, SignatureDoesNotMatch, RequestTimeTooSkewed, ...) and the query
protocol's ``<ErrorResponse>`` for IAM and STS (MissingAuthenticationToken,
InvalidClientTokenId, SignatureDoesNotMatch, AccessDenied, ...).

Every request passes through ``S3Gate.__call__``: ``refusal`` looks at it and names an
error, or ``None`` lets it through to moto. The journal's replay (``chalicelib.s3server``)
calls moto's app directly, not through the gate.
"""

from __future__ import annotations

import io
import logging
import posixpath
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

from chalicelib import s3auth
from chalicelib.errors import clip
from chalicelib.protocol import sigv4

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Refusal:
    """An error answer: HTTP status, code and message, in S3's XML or (``query``) the
    IAM/STS query protocol's."""

    status: int
    code: str
    message: str
    query: bool = False

    def body(self) -> bytes:
        code, message = escape(self.code), escape(self.message)
        if self.query:
            return (f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
                    f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}"
                    f"</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
                    "</ErrorResponse>").encode()
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}'
                f"</Code><Message>{message}</Message></Error>").encode()


STATUS_TEXT = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error"}
MOTO_API = Refusal(403, "AccessDenied",
                   "The moto control API (/moto-api) is not served by Tailor's local S3.")
SERVICES = ("s3", "iam", "sts")
# How each refusal reads: (S3 status, S3 code), (IAM/STS status, IAM/STS code).
_CODES = {
    sigv4.MISSING: ((403, "AccessDenied"), (403, "MissingAuthenticationToken")),
    sigv4.INCOMPLETE: ((400, "AuthorizationHeaderMalformed"), (400, "IncompleteSignature")),
    sigv4.UNKNOWN_KEY: ((403, "InvalidAccessKeyId"), (403, "InvalidClientTokenId")),
    sigv4.MISMATCH: ((403, "SignatureDoesNotMatch"), (403, "SignatureDoesNotMatch")),
    sigv4.EXPIRED: ((403, "RequestTimeTooSkewed"), (403, "SignatureDoesNotMatch")),
    sigv4.PAYLOAD: ((400, "XAmzContentSHA256Mismatch"), (403, "SignatureDoesNotMatch")),
}
_S3_MESSAGES = {
    sigv4.MISSING: "Access Denied: the request is not signed.",
    sigv4.UNKNOWN_KEY: "The AWS Access Key Id you provided does not exist in our records.",
}


class S3Gate:
    """Let a request through to moto's WSGI app, or answer it with a ``Refusal``.

    ``keys`` (None: auth off) gives the secret of an account key; ``service_key`` is
    Tailor's own (access key, secret)."""

    def __init__(self, app: WSGIApp,
                 keys: Callable[[str], sigv4.Secret | None] | None = None,
                 service_key: tuple[str, str] | None = None) -> None:
        self.app = app
        self.lookup = None if keys is None else s3auth.lookup(keys, service_key)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse,
                 ) -> Iterable[bytes]:
        refusal = self.refusal(environ)
        if refusal is None:
            return self.app(environ, start_response)
        body = refusal.body()
        start_response(f"{refusal.status} {STATUS_TEXT.get(refusal.status, '')}".rstrip(),
                       [("Content-Type", "text/xml" if refusal.query else "application/xml"),
                        ("Content-Length", str(len(body))),
                        ("x-amzn-RequestId", str(uuid.uuid4()))])
        return [body]

    def refusal(self, environ: dict[str, Any]) -> Refusal | None:
        """Why this request may not reach moto, or None (then ``environ`` names the
        caller's account for moto)."""
        if _is_moto_api(environ.get("PATH_INFO", "")):
            return MOTO_API
        environ.pop("HTTP_X_MOTO_ACCOUNT_ID", None)  # moto's account is ours to say
        if self.lookup is None:
            return None
        request = _incoming(environ)
        service = sigv4.credential_service(request) or _unsigned_service(request)
        query = service != "s3"
        try:
            caller = _verify(request, self.lookup)
            account = s3auth.authorize(caller, s3auth.Request(
                service, request.method, request.path, dict(request.query),
                dict(request.headers), request.body))
        except sigv4.AuthFailure as exc:
            message = clip(exc.message)  # it may quote the caller's credential scope
            log.info("local %s refused a request (%s): %s", clip(service), exc.reason, message)
            status, code = _CODES[exc.reason][query]
            return Refusal(status, code, message if query else _S3_MESSAGES.get(
                exc.reason, message), query)
        except s3auth.Denied as exc:
            message = clip(exc.message)
            log.info("local %s denied a request: %s", clip(service), message)
            return Refusal(403, "AccessDenied", message, query)
        except Exception:
            log.exception("local %s: checking a request failed", service)
            return Refusal(500, "InternalError", "The local stack could not check this "
                                                 "request; its log says why.", query)
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = account
        return None


def _verify(request: sigv4.Incoming,
            lookup: Callable[[str], sigv4.Secret | None]) -> sigv4.Caller:
    """SigV4 (header or presigned); S3 URLs presigned with the legacy signature, which
    boto3 still makes by default, too."""
    names = {k for k, _ in request.query}
    if "authorization" not in request.headers and {"AWSAccessKeyId", "Signature"} <= names:
        return sigv4.verify_s3_v2_query(request, lookup)
    return sigv4.verify(request, lookup, SERVICES, s3=("s3",))


def _incoming(environ: dict[str, Any]) -> sigv4.Incoming:
    """The request as signed: the raw path, the query as decoded pairs, the headers
    lower-case and the body (read, and put back for moto)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
    path = raw.split("?", 1)[0]
    query = [(unquote(k), unquote(v)) for k, _, v in
             (part.partition("=") for part in environ.get("QUERY_STRING", "").split("&")
              if part)]
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
               if k.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    # WSGI spells "-" and "_" in header names alike: a signed name keeps its own spelling.
    signed = (headers.get("authorization", "").partition("SignedHeaders=")[2]
              .partition(",")[0].split(";"))
    for name in signed:
        value = environ.get("HTTP_" + name.strip().upper().replace("-", "_"))
        if "_" in name and value is not None:
            headers[name.strip().lower()] = value
    length = environ.get("CONTENT_LENGTH")
    if length and length.isdigit():
        body = environ["wsgi.input"].read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = environ["wsgi.input"].read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    return sigv4.Incoming(environ.get("REQUEST_METHOD", "GET"), path, query, headers, body)


def _unsigned_service(request: sigv4.Incoming) -> str:
    """An unsigned request's protocol: a query-protocol call carries an Action."""
    form = request.body[:4096].decode("latin-1") if request.method == "POST" else ""
    actions = {k for k, _ in request.query} | {p.partition("=")[0] for p in form.split("&")}
    return "sts" if "Action" in actions else "s3"


def _is_moto_api(path: str | bytes) -> bool:
    """``/moto-api`` however spelled (``//moto-api/``, ``/x/../moto-api``; werkzeug has
    already decoded ``%XX``); moto routes on the raw prefix, this looks at what it means
    too."""
    if isinstance(path, bytes):
        path = path.decode("utf-8", "replace")
    return any(p.startswith("/moto-api")
               for p in (path, posixpath.normpath("/" + path.lstrip("/"))))
