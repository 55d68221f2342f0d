"""The local S3 of ``tailor serve``: a moto server (S3, IAM, STS) in a process of its own.

Run as ``python -m chalicelib.s3server --port 0 --journal <data-dir>/s3-journal.jsonl``:
prints its endpoint URL on the first line of stdout and serves until SIGTERM/SIGINT.
Writes are journaled to ``--journal`` and replayed at the next start, so the local
buckets survive a restart.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def _journal_moto(path: Path, endpoint: str) -> None:
    """Keep the local S3 under the data dir: moto's request recorder, limited to writes,
    is the journal; at start it is replayed into the fresh moto server."""
    from moto.moto_api import recorder

    recorder._location = str(path)
    recorder._user_enabled = False
    if path.exists() and path.stat().st_size:
        log.info("restoring the local S3 from %s", path)
        recorder.replay_recording(target_host=endpoint)
    record = recorder._record_request

    def record_writes(request: object, body: bytes | None = None) -> None:
        if getattr(request, "method", "GET") not in ("GET", "HEAD", "OPTIONS"):
            record(request, body)

    recorder._record_request = record_writes
    recorder._user_enabled = True



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
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    server = make_server(args.host, args.port, DomainDispatcherApplication(create_backend_app),
                         threaded=True, request_handler=MotoRequestHandler,
                         fd=sock.fileno())
    sock.close()  # werkzeug serves a duplicate of it
    host, port = server.server_address[:2]
    endpoint = f"http://{host}:{port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="moto")
    thread.start()
    _journal_moto(args.journal, endpoint)
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
