"""PutEvents throughput: durable events per second with 1 and 8 concurrent clients.

    .venv/bin/python -m scripts.bench.events [--seconds 10] [--clients 1 8] [--processes 1]

Starts `tailor serve` (fresh temp data dir), creates a dataset group, an
Interactions dataset and an event tracker, then runs N client processes that
each send PutEvents calls of 10 events for a fixed time. Every 200 counts only
after the server committed the events to sqlite. Afterwards the script checks
that the database holds exactly the acknowledged number of events.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scripts.bench.workflow import (
    Key,
    client,
    server_env,
    start_server,
    stop_server,
    tailor_command,
)

SCHEMA = json.dumps({"type": "record", "name": "Interactions",
                     "namespace": "com.amazonaws.personalize.schema",
                     "fields": [{"name": "USER_ID", "type": "string"},
                                {"name": "ITEM_ID", "type": "string"},
                                {"name": "TIMESTAMP", "type": "long"},
                                {"name": "EVENT_TYPE", "type": "string"}], "version": "1.0"})
BATCH = 10


def _worker(endpoint: str, key: Key, tracking_id: str, seconds: float, index: int,
            out: Any) -> None:
    events = client("personalize-events", endpoint, "us-east-1", key)
    sent, calls, latencies = 0, 0, []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        now = time.time()
        batch = [{"eventType": "click", "itemId": f"i{(calls * BATCH + k) % 5000}",
                  "sentAt": now} for k in range(BATCH)]
        started = time.perf_counter()
        events.put_events(trackingId=tracking_id, userId=f"u{index}-{calls % 1000}",
                          sessionId=f"s{index}", eventList=batch)
        latencies.append(time.perf_counter() - started)
        sent += BATCH
        calls += 1
    out.put((sent, calls, latencies))


def run(endpoint: str, key: Key, tracking_id: str, clients: int,
        seconds: float) -> dict[str, float]:
    queue: Any = mp.Queue()
    procs = [mp.Process(target=_worker, args=(endpoint, key, tracking_id, seconds, i, queue))
             for i in range(clients)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    wall = time.perf_counter() - started
    events = sum(r[0] for r in results)
    latencies = sorted(x for r in results for x in r[2])
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {"clients": clients, "events": events, "calls": sum(r[1] for r in results),
            "events_per_s": events / seconds, "wall_s": wall, "call_p50_ms": pick(0.5),
            "call_p99_ms": pick(0.99)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--processes", type=int, default=1,
                        help="Tailor's serving processes (tailor serve --processes; 1)")
    args = parser.parse_args(argv)
    if not 1 <= args.processes <= 64:
        parser.error("--processes takes 1..64")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        server = start_server("tailor", tailor_command(data_dir, None, None),
                              server_env(data_dir, {"TAILOR_SERVE_PROCESSES":
                                                    str(args.processes)}),
                              Path(tmp) / "tailor.log")
        try:
            env = server.info
            pz = client("personalize", env["AWS_ENDPOINT_URL_PERSONALIZE"], "us-east-1",
                        server.key)
            group = pz.create_dataset_group(name="bench-events")["datasetGroupArn"]
            while pz.describe_dataset_group(datasetGroupArn=group)["datasetGroup"][
                    "status"] != "ACTIVE":
                time.sleep(0.05)
            schema = pz.create_schema(name="bench-events", schema=SCHEMA)["schemaArn"]
            dataset = pz.create_dataset(name="bench-events", datasetGroupArn=group,
                                        datasetType="Interactions",
                                        schemaArn=schema)["datasetArn"]
            tracker = pz.create_event_tracker(name="bench-events", datasetGroupArn=group)
            while pz.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])[
                    "eventTracker"]["status"] != "ACTIVE" or pz.describe_dataset(
                    datasetArn=dataset)["dataset"]["status"] != "ACTIVE":
                time.sleep(0.05)
            results = []
            for n in args.clients:
                print(f"PutEvents with {n} client(s) for {args.seconds:.0f}s ...",
                      file=sys.stderr)
                results.append(run(env["AWS_ENDPOINT_URL_PERSONALIZE_EVENTS"], server.key,
                                   tracker["trackingId"], n, args.seconds))
        finally:
            stop_server(server)
        stored = sqlite3.connect(data_dir / "tailor.db").execute(
            "SELECT count(*) FROM put_rows").fetchone()[0]
    acknowledged = sum(r["events"] for r in results)
    print(f"{'clients':>7} {'events/s':>10} {'calls':>7} {'call p50 ms':>12} {'p99 ms':>8}")
    for r in results:
        print(f"{r['clients']:>7} {r['events_per_s']:>10.0f} {r['calls']:>7} "
              f"{r['call_p50_ms']:>12.2f} {r['call_p99_ms']:>8.2f}")
    print(f"acknowledged {acknowledged} events, stored {stored}: "
          f"{'all durable' if stored == acknowledged else 'MISMATCH'}")
    return 0 if stored == acknowledged else 1


if __name__ == "__main__":
    sys.exit(main())
