"""The latency floor: Tailor's own Chalice app, served exactly as ``tailor serve`` serves
it, plus routes that answer runtime calls with a constant, without touching Tailor's
dispatch, state or models. A boto3 ``personalize-runtime`` client pointed at
``http://127.0.0.1:<port>/floor`` (or ``/floor-sized``) measures what the HTTP server,
Chalice's local gateway and boto3 cost on their own:

- ``POST /floor/recommendations`` returns ``{"itemList":[],"recommendationId":"RID-x"}``:
  the empty floor;
- ``POST /floor-sized/recommendations`` returns ``--results`` items and
  ``POST /floor-sized/personalize-ranking`` ``--ranking-items`` items, each with an
  ``itemId`` and a ``score`` and a 40-character ``recommendationId``, the size and shape of
  Tailor's answers, so boto3 parses as much as it does for Tailor.

Prints one JSON line (``{"port": ..., "endpoint": ...}``) on stdout and serves until
SIGTERM. Run it from the repository root: ``python -m scripts.bench.floor_server``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

FLOOR_PATH = "/floor/recommendations"
FLOOR_BODY = '{"itemList":[],"recommendationId":"RID-x"}'
SIZED_PATHS = ("/floor-sized/recommendations", "/floor-sized/personalize-ranking")
SIZED_ID = "RID-" + "0" * 8 + "-0000-4000-8000-" + "0" * 12  # as long as Tailor's ids


def sized_body(key: str, n: int) -> str:
    """A constant answer of ``n`` items shaped like Tailor's: ML-100K-like item ids and
    scores with six significant digits, best first."""
    items = [{"itemId": str(100 + 13 * i), "score": float(f"{0.0123456 / (i + 1):.6g}")}
             for i in range(n)]
    return json.dumps({key: items, "recommendationId": SIZED_ID}, separators=(",", ":"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--results", type=int, default=25,
                        help="items in the sized GetRecommendations answer")
    parser.add_argument("--ranking-items", type=int, default=50,
                        help="items in the sized GetPersonalizedRanking answer")
    parser.add_argument("--instrument", choices=("stages", "cprofile"),
                        help="time or profile the floor route (scripts/bench/instrument.py)")
    parser.add_argument("--instrument-out", type=Path, default=Path("floor-instrument"))
    args = parser.parse_args(argv)

    from chalice import Response
    from chalice.config import Config
    from chalice.local import ChaliceRequestHandler, create_local_server

    import app as tailor_app

    def constant(path: str, body: str) -> None:
        def answer() -> Response:
            return Response(body=body, headers={"Content-Type": "application/json"})
        tailor_app.app.route(path, methods=["POST"], content_types=tailor_app.CONTENT_TYPES,
                             name=path.strip("/").replace("/", "_").replace("-", "_"))(answer)

    constant(FLOOR_PATH, FLOOR_BODY)
    constant(SIZED_PATHS[0], sized_body("itemList", args.results))
    constant(SIZED_PATHS[1], sized_body("personalizedRanking", args.ranking_items))

    inst = None
    if args.instrument:
        from scripts.bench.instrument import Instrument

        inst = Instrument(args.instrument, args.instrument_out, [FLOOR_PATH, *SIZED_PATHS])
        inst.install(tailor_app.app)

    # The same serving set-up as chalicelib/server.py.
    ChaliceRequestHandler.disable_nagle_algorithm = True
    config = Config.create(chalice_stage="dev", app_name="tailor")
    server = create_local_server(tailor_app.app, config, args.host, args.port)
    port = server.server.server_address[1]
    thread = threading.Thread(target=server.server.serve_forever, daemon=True,
                              name="floor-http")
    thread.start()
    print(json.dumps({"port": port, "endpoint": f"http://{args.host}:{port}"}), flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.server.shutdown()
    server.server.server_close()
    if inst is not None:
        inst.dump()
    return 0


if __name__ == "__main__":
    sys.exit(main())
