"""``tailor serve``: start Tailor locally and print what a client must export."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from pydantic import ValidationError

from chalicelib.config import MAX_SERVE_PROCESSES, from_env
from chalicelib.server import TailorServer, is_loopback


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tailor", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run Tailor and a moto S3 on localhost")
    serve.add_argument("--data-dir", type=Path,
                       default=Path(os.environ.get("TAILOR_DATA_DIR", ".tailor")),
                       help="where the sqlite database and models live (default ./.tailor)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("TAILOR_PORT", "8000")),
                       help="Tailor's port (0 = any free port; default 8000)")
    serve.add_argument("--s3-port", type=int,
                       default=int(os.environ.get("TAILOR_S3_PORT", "8001")),
                       help="the moto server's port (0 = any free port; default 8001)")
    serve.add_argument("--processes", type=int, default=None,
                       help="serving processes sharing the port, to use more cores "
                            "(default $TAILOR_SERVE_PROCESSES or 1)")
    serve.add_argument("--no-auth", action="store_true",
                       help="accept unsigned requests from anyone, as one default account "
                            "(throwaway tests only; refused with a non-loopback --host)")
    serve.add_argument("--json", action="store_true",
                       help="print the client environment as one JSON line (for scripts)")
    return parser


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stop = threading.Event()
    # Ctrl-C (SIGINT) and SIGTERM stop both servers cleanly. Installed before anything is
    # printed (a client may signal as soon as it reads the endpoints) and explicitly for
    # SIGINT (a shell may start a background job with it ignored).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        processes = args.processes if args.processes is not None else \
            from_env().serve_processes  # not settings(): cached before the data dir is set
    except ValidationError as exc:
        raise SystemExit(f"Bad setting: {exc}") from None
    if not 1 <= processes <= MAX_SERVE_PROCESSES:
        raise SystemExit(f"--processes must be between 1 and {MAX_SERVE_PROCESSES}, "
                         f"got {processes}.")
    if args.no_auth and not is_loopback(args.host):
        raise SystemExit(f"--no-auth lets anyone who reaches Tailor in; it is refused with "
                         f"--host {args.host}. Serve on 127.0.0.1, or keep auth on.")
    server = TailorServer(args.data_dir, args.host, args.port, args.s3_port,
                          processes=processes, auth=not args.no_auth,
                          s3_host="127.0.0.1" if args.no_auth else args.host)
    server.start()
    env = server.env()
    if args.json:
        print(json.dumps(env), flush=True)
    else:
        print(f"Tailor is serving on {server.endpoint} (S3/IAM/STS: moto on "
              f"{server.s3_endpoint}); state in {args.data_dir.resolve()}.")
        print("Export these in the shell of your boto3 program:\n")
        for key, value in env.items():
            print(f"export {key}={value}")
        if "AWS_ACCESS_KEY_ID" not in env:
            print("# and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: a key of "
                  f"{os.environ['TAILOR_CREDENTIALS']}")
        elif not server.auth:
            print("# --no-auth: any caller is accepted, as the default account")
        print("\nCtrl-C stops Tailor.", flush=True)
    while not stop.wait(1.0):
        pass
    server.stop()
    print("Tailor stopped.", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
