"""The latency floor: Tailor's own Chalice app, served exactly as ``tailor serve`` serves
it, plus one route that answers a GetRecommendations-shaped call with a constant.

``POST /floor/recommendations`` returns ``{"itemList":[],"recommendationId":"RID-x"}``
without touching Tailor's dispatch, state or models, so a boto3 ``personalize-runtime``
client with ``endpoint_url=http://127.0.0.1:<port>/floor`` measures what the HTTP server,
Chalice's local gateway and boto3 cost on their own. Prints one JSON line
(``{"port": ..., "endpoint": ...}``) on stdout and serves until SIGTERM.

Run it from the repository root: ``python -m scripts.bench.floor_server``.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--instrument", choices=("stages", "cprofile"),
                        help="time or profile the floor route (scripts/bench/instrument.py)")
    parser.add_argument("--instrument-out", type=Path, default=Path("floor-instrument"))
    args = parser.parse_args(argv)

    from chalice import Response
    from chalice.config import Config
    from chalice.local import ChaliceRequestHandler, create_local_server

    import app as tailor_app

    @tailor_app.app.route(FLOOR_PATH, methods=["POST"], content_types=tailor_app.CONTENT_TYPES)
    def floor_recommendations() -> Response:
        return Response(body=FLOOR_BODY, headers={"Content-Type": "application/json"})

    inst = None
    if args.instrument:
        from scripts.bench.instrument import Instrument

        inst = Instrument(args.instrument, args.instrument_out, [FLOOR_PATH])
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
