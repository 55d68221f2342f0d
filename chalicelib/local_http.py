"""Chalice's local HTTP server with bounds, as ``tailor serve`` runs it.

Stock ``chalice local`` gives every connection a thread that waits forever for a
request and reads whatever Content-Length announces. Here:

* a connection waits at most ``idle_timeout_seconds`` for its next request and each
  read of a request at most ``read_timeout_seconds``, then it is closed;
* at most ``max_connections`` connections are served at once; a new one waits up to
  ``CONNECTION_WAIT`` seconds for a slot, then gets 503 ServiceUnavailable;
* a body over ``bounds.MAX_BODY_BYTES`` (or a chunked one, or a bad Content-Length) is
  refused from the headers: up to ``DRAIN_BYTES`` it is read and thrown away in small
  pieces first (a client such as boto3 sends its whole body before it reads the answer,
  and would otherwise see a broken connection instead of the error), above that the
  answer comes at once and the connection is closed, nothing read;
* an unknown path, a malformed request line or header gets an error in the API's wire
  format (``serialize.error``), not Chalice's or ``http.server``'s own body.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from typing import Any

from chalice.local import ChaliceRequestHandler, ThreadedHTTPServer
from chalice.local import LocalGatewayException as _GatewayError

from chalicelib.config import settings
from chalicelib.errors import (
    InvalidInputException,
    PersonalizeError,
    SerializationException,
    ServiceUnavailable,
    UnknownOperationException,
    clip,
)
from chalicelib.protocol import bounds, serialize
from chalicelib.protocol.model import CONTROL, service_of

log = logging.getLogger(__name__)
# Seconds a new connection waits for a free slot before it gets 503.
CONNECTION_WAIT = 5.0
# A refused body up to this size is read (and discarded) before the answer.
DRAIN_BYTES = 16 * 1024 * 1024
_DRAIN_CHUNK = 64 * 1024


class Handler(ChaliceRequestHandler):
    """Chalice's request handler with Nagle's algorithm off (stock ``chalice local``
    waits ~40 ms for a delayed ACK on every response), timeouts, a body bound, and
    wire-format errors; request lines are logged at DEBUG."""

    disable_nagle_algorithm = True
    idle_timeout = 60.0
    timeout = read_timeout = 20.0  # ``timeout``: what StreamRequestHandler.setup applies

    def handle_one_request(self) -> None:
        """Wait up to ``idle_timeout`` for the next request's first byte, then read it
        with ``read_timeout`` per read."""
        self.connection.settimeout(self.idle_timeout)
        try:
            waiting = self.rfile.peek(1)
        except OSError:  # TimeoutError included: an idle keep-alive connection
            waiting = b""
        if not waiting:
            self.close_connection = True
            return
        self.connection.settimeout(self.read_timeout)
        super().handle_one_request()

    def _refusal(self) -> PersonalizeError | None:
        """Why the body is not read, from the headers alone (or None)."""
        if self.headers.get("transfer-encoding"):
            return SerializationException(
                "Tailor does not read chunked request bodies; send a Content-Length.")
        raw = self.headers.get("content-length") or "0"
        length = int(raw) if raw.isdigit() else -1
        if length < 0:
            return SerializationException(f"Content-Length {clip(raw, 40)!r} is not a number.")
        if length > bounds.MAX_BODY_BYTES:
            return InvalidInputException(bounds.too_large(length))
        return None

    def _drain(self) -> None:
        """Read and discard a refused body of at most ``DRAIN_BYTES``."""
        raw = self.headers.get("content-length") or ""
        left = int(raw) if raw.isdigit() and not self.headers.get("transfer-encoding") else 0
        if left > DRAIN_BYTES:
            return
        while left > 0:
            chunk = self.rfile.read(min(left, _DRAIN_CHUNK))
            if not chunk:
                break
            left -= len(chunk)

    def handle_expect_100(self) -> bool:
        refusal = self._refusal()
        if refusal is None:
            return bool(super().handle_expect_100())
        self._send_wire_error(refusal)
        return False

    def _generic_handle(self) -> None:
        refusal = self._refusal()
        if refusal is not None:
            self._drain()
            self._send_wire_error(refusal)
            return
        if self.command == "HEAD":  # our error bodies would follow a HEAD answer
            self.close_connection = True
        super()._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _parse_payload(self) -> tuple[dict[str, Any], bytes | None]:
        headers, body = super()._parse_payload()
        if body is not None and len(body) < int(self.headers.get("content-length", "0")):
            self.close_connection = True  # the client closed before sending it all
        return headers, body

    def _send_error_response(self, error: _GatewayError) -> None:
        """Chalice's local gateway raises only for a path no route serves."""
        self._send_wire_error(UnknownOperationException(
            f"No Personalize operation is served at {clip(self.path, 200)!r}."))

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """``http.server``'s own errors (bad request line, header too long, unknown
        method), in the wire format."""
        text = clip(message or explain or f"HTTP {code}", 200)
        self._send_wire_error(UnknownOperationException(text) if code == 501 else
                              SerializationException(f"The request is malformed: {text}"))

    def _send_wire_error(self, exc: PersonalizeError) -> None:
        """Answer ``exc`` as ``serialize.error`` writes it and close the connection (the
        rest of the request stays unread)."""
        self.close_connection = True
        path = getattr(self, "path", "/")
        service, rest = service_of(path) if isinstance(path, str) else (CONTROL, False)
        response = serialize.error(exc, service, rest)
        headers = {**response.headers, "Connection": "close"}
        self._send_http_response(response.status_code, headers, response.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), clip(format % args))


class BoundedHTTPServer(ThreadedHTTPServer):
    """One thread per connection, at most ``max_connections`` at once."""

    max_connections = 256
    # The listen backlog (socketserver's default is 5: a burst of new connections then
    # loses SYNs and waits a second for the client's retransmission).
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(self.max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(timeout=CONNECTION_WAIT):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out, hung up or reset its connection is routine (slow or
        gone clients): one debug line, not socketserver's traceback on stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            log.debug("connection from %s ended: %r", client_address, exc)
        else:
            log.exception("serving a connection from %s failed", client_address)

    def _refuse(self, request: socket.socket) -> None:
        """503 without reading the request (written by the accepting thread: a few
        hundred bytes to a new socket never block)."""
        response = serialize.error(ServiceUnavailable(
            f"Tailor is serving its maximum of {self.max_connections} connections "
            "(TAILOR_MAX_CONNECTIONS); retry later."), CONTROL, False)
        body = response.body.encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in {
            **response.headers, "Content-Length": len(body), "Connection": "close"}.items())
        try:
            request.settimeout(1.0)
            request.sendall(f"HTTP/1.1 503 Service Unavailable\r\n{head}\r\n".encode() + body)
        except OSError:
            pass
        self.shutdown_request(request)


def handler_class() -> type[Handler]:
    """The handler with the timeouts of the settings."""
    config = settings()

    class Configured(Handler):
        idle_timeout = config.idle_timeout_seconds
        timeout = read_timeout = config.read_timeout_seconds

    return Configured


def server_class() -> type[BoundedHTTPServer]:
    """The server with the connection bound of the settings."""

    class Configured(BoundedHTTPServer):
        max_connections = settings().max_connections

    return Configured
