"""Measure where a request's time goes inside a Chalice local server, without editing Tailor.

Patches, in the serving process only, ``chalice.local.ChaliceRequestHandler.do_POST``
and the view functions of the chosen routes, for requests to those routes:

- ``stages``: per request, ``perf_counter`` stamps around (a) the whole ``do_POST``
  (read the body, run the gateway, write the response), (b) ``LocalGateway.handle_request``
  (building the Lambda event, Chalice's routing and content-type checks, the view, turning
  the Response into a dict), (c) the view function itself (for Tailor: authenticate,
  parse, validate, handler, serialize) and (d) the SigV4 check within it
  (``protocol.auth.authenticate``). Overhead is a few microseconds. Samples are grouped
  by path and, when the client sends one, by the ``X-Bench-Series`` header.
- ``cprofile``: a ``cProfile`` profile of every such ``do_POST`` (the client is sequential,
  so one at a time; a lock makes sure), saved as ``profile.pstats`` and ``profile.txt``.

The HTTP request line and header parsing (``BaseHTTPRequestHandler.handle_one_request``)
happen before ``do_POST`` and are in neither figure.

``python -m scripts.bench.instrument --mode stages --out DIR serve ...`` runs
``tailor serve ...`` instrumented (the workflow benchmark's ``--instrument``);
``floor_server.py`` uses ``install`` directly.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

MODES = ("stages", "cprofile")
RUNTIME_PATHS = ("/recommendations", "/personalize-ranking")
# Stage timings are kept per value of this request header when the client sends it.
SERIES_HEADER = "X-Bench-Series"


class Instrument:
    def __init__(self, mode: str, out: Path, paths: Iterable[str]) -> None:
        if mode not in MODES:
            raise SystemExit(f"unknown instrument mode {mode!r}; choose from {MODES}")
        self.mode, self.out, self.paths = mode, out, set(paths)
        self.samples: dict[str, dict[str, list[float]]] = {}
        self.profile = cProfile.Profile() if mode == "cprofile" else None
        self._lock = threading.Lock()
        self._local = threading.local()

    def _record(self, path: str, stage: str, seconds: float) -> None:
        self.samples.setdefault(path, {}).setdefault(stage, []).append(seconds)

    def install(self, app: Any) -> None:
        from chalice.local import ChaliceRequestHandler, LocalGateway

        inst = self
        generic = ChaliceRequestHandler._generic_handle
        gateway_call = LocalGateway.handle_request

        def do_post(handler: Any) -> None:
            path = handler.path.split("?", 1)[0]
            if path not in inst.paths:
                return generic(handler)
            if inst.profile is not None:
                with inst._lock:
                    inst.profile.enable()
                    try:
                        generic(handler)
                    finally:
                        inst.profile.disable()
                return None
            series = handler.headers.get(SERIES_HEADER)
            inst._local.key = f"{path} [{series}]" if series else path
            started = time.perf_counter()
            generic(handler)
            inst._record(inst._local.key, "do_post", time.perf_counter() - started)
            return None

        def handle_request(gateway: Any, method: str, path: str, headers: Any,
                           body: Any) -> Any:
            if inst.profile is not None or path.split("?", 1)[0] not in inst.paths:
                return gateway_call(gateway, method, path, headers, body)
            started = time.perf_counter()
            try:
                return gateway_call(gateway, method, path, headers, body)
            finally:
                inst._record(inst._local.key, "gateway", time.perf_counter() - started)

        ChaliceRequestHandler.do_POST = do_post
        # tailor serve's handler (chalicelib.local_http) has its own do_POST, which reaches
        # Chalice's through super()._generic_handle()
        ChaliceRequestHandler._generic_handle = do_post
        LocalGateway.handle_request = handle_request
        if self.profile is None:
            for path in self.paths:
                for entry in app.routes.get(path, {}).values():
                    entry.view_function = self._timed_view(path, entry.view_function)
            self._time_authenticate()

    def _time_authenticate(self) -> None:
        """Stage (d): the SigV4 check (``protocol.auth.authenticate``), part of the view."""
        from chalicelib.protocol import auth

        authenticate, inst = auth.authenticate, self

        def timed(*args: Any, **kwargs: Any) -> Any:
            key = getattr(inst._local, "key", None)
            if key is None:
                return authenticate(*args, **kwargs)
            started = time.perf_counter()
            try:
                return authenticate(*args, **kwargs)
            finally:
                inst._record(key, "authenticate", time.perf_counter() - started)

        auth.authenticate = timed  # type: ignore[assignment]

    def _timed_view(self, path: str, view: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return view(*args, **kwargs)
            finally:
                self._record(getattr(self._local, "key", path), "view",
                             time.perf_counter() - started)
        return timed

    def dump(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        if self.profile is not None:
            self.profile.dump_stats(str(self.out / "profile.pstats"))
            text = io.StringIO()
            stats = pstats.Stats(self.profile, stream=text)
            stats.sort_stats("cumulative").print_stats(60)
            stats.sort_stats("tottime").print_stats(40)
            (self.out / "profile.txt").write_text(text.getvalue())
            return
        summary = {path: {stage: summarize(values) for stage, values in stages.items()}
                   for path, stages in self.samples.items()}
        (self.out / "stages.json").write_text(json.dumps(summary, indent=2))


def summarize(seconds: list[float]) -> dict[str, float]:
    """Percentiles in milliseconds (numpy's default linear interpolation)."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    if not len(ms):
        return {"n": 0}
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"n": len(ms), "p50_ms": round(float(p50), 4), "p90_ms": round(float(p90), 4),
            "p99_ms": round(float(p99), 4), "mean_ms": round(float(ms.mean()), 4),
            "min_ms": round(float(ms.min()), 4), "max_ms": round(float(ms.max()), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run `tailor serve` instrumented")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("serve_args", nargs=argparse.REMAINDER,
                        help="arguments for `tailor` (e.g. serve --port 0 ...)")
    args = parser.parse_args(argv)

    import app as tailor_app
    from chalicelib import cli

    inst = Instrument(args.mode, args.out, RUNTIME_PATHS)
    inst.install(tailor_app.app)
    try:
        return cli.main(args.serve_args)
    finally:
        inst.dump()
        print(f"instrument: wrote {args.mode} results to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
