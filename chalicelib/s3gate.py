"""The door of Tailor's local S3: a WSGI middleware in front of the moto server.

moto serves, beside S3, IAM and STS, its own control API under ``/moto-api/``: download
the recording (every object uploaded), upload a recording to be replayed, reset every
backend. Tailor's local S3 is Tailor's, not the world's, so the gate refuses those paths
with an S3-style ``AccessDenied`` before moto sees them.

Every request passes through ``S3Gate.__call__``: ``refusal`` looks at it and names an
error, or ``None`` lets it through to moto. A check of the request's signature belongs in
``refusal`` too. The journal's replay (``chalicelib.s3server``) calls moto's app
directly, not through the gate.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Refusal:
    """An S3-style error answer: HTTP status, ``<Code>`` and ``<Message>``."""

    status: int
    code: str
    message: str

    def body(self) -> bytes:
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(self.code)}'
                f"</Code><Message>{escape(self.message)}</Message></Error>").encode()


STATUS_TEXT = {400: "Bad Request", 403: "Forbidden"}
MOTO_API = Refusal(403, "AccessDenied",
                   "The moto control API (/moto-api) is not served by Tailor's local S3.")


class S3Gate:
    """Let a request through to moto's WSGI app, or answer it with a ``Refusal``."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse,
                 ) -> Iterable[bytes]:
        refusal = self.refusal(environ)
        if refusal is None:
            return self.app(environ, start_response)
        body = refusal.body()
        start_response(f"{refusal.status} {STATUS_TEXT.get(refusal.status, '')}".rstrip(),
                       [("Content-Type", "application/xml"),
                        ("Content-Length", str(len(body)))])
        return [body]

    def refusal(self, environ: dict[str, Any]) -> Refusal | None:
        """Why this request may not reach moto, or None."""
        if _is_moto_api(environ.get("PATH_INFO", "")):
            return MOTO_API
        return None


def _is_moto_api(path: str | bytes) -> bool:
    """``/moto-api`` however spelled (``//moto-api/``, ``/x/../moto-api``; werkzeug has
    already decoded ``%XX``); moto routes on the raw prefix, this looks at what it means
    too."""
    if isinstance(path, bytes):
        path = path.decode("utf-8", "replace")
    return any(p.startswith("/moto-api")
               for p in (path, posixpath.normpath("/" + path.lstrip("/"))))
