"""The local S3 of ``tailor serve``: a moto server (S3, IAM, STS) in a process of its own.

Run as ``python -m chalicelib.s3server --port 0 --journal <data-dir>/s3-journal.jsonl``:
prints its endpoint URL on the first line of stdout and serves until SIGTERM/SIGINT.
Writes are journaled to ``--journal`` and replayed at the next start, so the local
buckets survive a restart.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

log = logging.getLogger(__name__)


# What a journal entry keeps of a request: nothing that proves who sent it. Signatures,
# credentials (the access key id), session tokens and signing dates are left out of the
# headers and of presigned URLs' query strings; the credential scope's region and service
# are kept as ``scope``, for the replay to reach the same backend (moto routes an
# unsigned request to S3).
SECRET_HEADERS = frozenset({"authorization", "x-amz-security-token", "x-amz-date",
                            "transfer-encoding"})  # the body is kept de-chunked
SIGNATURE_PARAMS = frozenset({
    "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires",
    "x-amz-signedheaders", "x-amz-signature", "x-amz-security-token",
    "awsaccesskeyid", "signature", "expires"})  # the last three: SigV2 presigned URLs
UNRECORDED = frozenset({"GET", "HEAD", "OPTIONS"})


def _scope(headers: dict[str, str], query: str) -> str | None:
    """``region/service`` of a SigV4 request (header or presigned), else None."""
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    credential = auth.split("Credential=", 1)[1].split(",", 1)[0] if "Credential=" in auth \
        else next((unquote(v) for k, _, v in (p.partition("=") for p in query.split("&"))
                   if unquote(k).lower() == "x-amz-credential"), "")
    parts = credential.strip().split("/")
    return f"{parts[2]}/{parts[3]}" if len(parts) == 5 else None


def _without_signature(query: str) -> str:
    return "&".join(p for p in query.split("&") if p and
                    unquote(p.partition("=")[0]).lower() not in SIGNATURE_PARAMS)


def clean_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A journal entry without credentials or signature (idempotent; also cleans the
    entries moto's own recorder wrote before Tailor did this)."""
    url = entry["url"]
    if url.startswith(("http://", "https://")):  # moto's recorder: the whole URL
        parsed = urlsplit(url)
        path, query = parsed.path, parsed.query
    else:  # ours: path and query (a path may start with //)
        path, _, query = url.partition("?")
    headers = entry.get("headers") or {}
    scope = entry.get("scope") or _scope(headers, query)
    query = _without_signature(query)
    return {"method": entry["method"], "url": path + (f"?{query}" if query else ""),
            "scope": scope,
            "headers": {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS},
            "body": entry.get("body") or "", "body_encoded": bool(entry.get("body_encoded"))}


def _body_of(request: Any) -> bytes:
    """The request body, leaving it readable for moto (as moto's recorder does)."""
    environ = request.environ
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = environ["wsgi.input"].read(int(length))
    elif environ.get("wsgi.input_terminated"):  # chunked: werkzeug de-chunks to the end
        body = environ["wsgi.input"].read()
    else:
        return b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


class Journal:
    """The local S3's writes, one JSON line each, appended as moto receives them (before
    it answers, so a write a client saw acknowledged is in it); replayed at start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None

    def read(self) -> tuple[list[dict[str, Any]], bool]:
        """The entries, cleaned, and whether the file differs from them (entries with
        credentials from an older Tailor, a line a crash cut short)."""
        if not self.path.exists():
            return [], False
        entries, dirty = [], False
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            try:
                raw = json.loads(line)
                entry = clean_entry(raw)
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("%s line %d is not a journal entry (cut short by a crash?); "
                            "skipped", self.path, number)
                dirty = True
                continue
            dirty = dirty or entry != raw
            entries.append(entry)
        return entries, dirty

    def rewrite(self, entries: list[dict[str, Any]]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(e) + "\n" for e in entries))
        os.replace(tmp, self.path)

    def record(self, request: Any, body: bytes | None = None) -> None:
        """moto's recorder hook: append a write request, cleaned."""
        if request.method in UNRECORDED:
            return
        data = _body_of(request) if body is None else body
        entry = clean_entry({"method": request.method, "url": request.raw_url,
                             "headers": dict(request.headers),
                             "body": base64.b64encode(data).decode("ascii"),
                             "body_encoded": True})
        if _read_or_session(entry["scope"], data):
            return
        line = (json.dumps(entry) + "\n").encode()
        with self._lock:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(self._fd, line)  # one write: a kill cuts at most this line


def _read_or_session(scope: str | None, body: bytes) -> bool:
    """IAM and STS take every call as a POST: their reads (List*, Get*) change nothing,
    and STS sessions (AssumeRole for each job) are not state to keep across a restart."""
    service = (scope or "/").split("/")[1]
    if service == "sts":
        return True
    action = dict(parse_qsl(body[:65536].decode("utf-8", "replace"))).get("Action", "")
    return service == "iam" and action.startswith(("List", "Get"))


def replay(app: Any, entries: list[dict[str, Any]]) -> None:
    """Send the journal's requests to moto's app itself (not over HTTP, not through the
    gate), signed with nothing but their scope, which moto routes by."""
    from moto.core.request import Request
    from werkzeug.test import run_wsgi_app

    for entry in entries:
        headers = dict(entry["headers"])
        if entry["scope"]:
            region, service = entry["scope"].split("/")
            headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential=replay/19700101/"
                                        f"{region}/{service}/aws4_request, "
                                        "SignedHeaders=host, Signature=replay")
        body = base64.b64decode(entry["body"]) if entry["body_encoded"] else \
            entry["body"].encode()
        host = headers.get("Host") or headers.get("host") or "localhost"
        request = Request.from_primitives(entry["method"], f"http://{host}{entry['url']}",
                                          headers, body)
        _, status, _ = run_wsgi_app(app, request.environ, buffered=True)
        log.debug("replayed %s %s: %s", entry["method"], entry["url"], status)


def _journal_moto(path: Path, app: Any) -> None:
    """Keep the local S3 under the data dir: the journal of its writes is replayed into
    moto's ``app`` at start, then moto's request recorder appends to it."""
    from moto.moto_api import recorder

    journal = Journal(path)
    entries, dirty = journal.read()
    if entries:
        log.info("restoring the local S3 from %s (%d writes)", path, len(entries))
        replay(app, entries)
    if dirty:
        journal.rewrite(entries)
    recorder._record_request = journal.record  # type: ignore[method-assign]


def _gate(moto: Any) -> Any:
    """moto behind Tailor's gate: with auth on (``TAILOR_AUTH``), signatures checked
    against the credentials file and Tailor's service key (see ``s3gate``)."""
    from chalicelib.protocol.credentials import Keyring
    from chalicelib.s3gate import S3Gate

    if os.environ.get("TAILOR_AUTH", "1") in ("0", "false", "False"):
        return S3Gate(moto)
    keys = Keyring(Path(os.environ["TAILOR_CREDENTIALS"]))
    service = (os.environ.get("TAILOR_SERVICE_ACCESS_KEY_ID"),
               os.environ.get("TAILOR_SERVICE_SECRET_ACCESS_KEY"))
    return S3Gate(moto, keys.lookup, service if all(service) else None)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--journal", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from chalicelib.server import listen

    try:  # moto's ThreadedMotoServer would wait forever for a port in use
        sock = listen(args.host, args.port)
    except SystemExit as exc:
        print(exc, flush=True)  # the first line says why, for ``tailor serve`` to repeat
        return 1
    # IAM knows the AWS-managed policies (moto bundles their documents), so a role gets
    # service-role/AmazonPersonalizeFullAccess, AmazonS3FullAccess... as the AWS samples
    # attach them. Read when moto creates its IAM backend, at the first IAM request.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    moto = DomainDispatcherApplication(create_backend_app)
    _journal_moto(args.journal, moto)  # before serving: no request sees a partial S3
    server = make_server(args.host, args.port, _gate(moto), threaded=True,
                         request_handler=MotoRequestHandler, fd=sock.fileno())
    sock.close()  # werkzeug serves a duplicate of it
    host, port = server.server_address[:2]
    endpoint = f"http://{host}:{port}"
    threading.Thread(target=server.serve_forever, daemon=True, name="moto").start()
    print(endpoint, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
