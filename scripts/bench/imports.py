"""Benchmark: import throughput and the memory an import takes.

Run from the repository root::

    .venv/bin/python -m scripts.bench.imports              # 100k and 10M rows
    .venv/bin/python -m scripts.bench.imports --rows 100000 --s3 separate

For each size it

1. writes a synthetic interactions CSV (``USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE``, random
   users and items, no quotes) to a temporary directory, never into the repository;
2. starts Tailor in a subprocess on free ports with a fresh data directory;
3. uploads the CSV to the local S3 (multipart, 64 MB parts) and creates a dataset group,
   schema and Interactions dataset;
4. runs a 1,000-row warm-up import (the worker creates its S3 client once; its time is
   reported as ``warmup_import_s``);
5. resets the server's peak-RSS counter (``/proc/<pid>/clear_refs``), times
   CreateDatasetImportJob until DescribeDatasetImportJob says ACTIVE (polled every 10 ms),
   and reads the server's ``VmHWM`` (peak RSS during the import) and ``VmRSS``.

``--s3 inprocess`` (the default) runs ``tailor serve`` as users do: moto serves S3 from
inside the Tailor process, so the object being imported is read into that process's
memory by moto itself (moto answers a GET with the whole object as one ``bytes``).
``--s3 separate`` runs moto in its own process and Tailor pointed at it (``tailor
serve`` with its in-process moto replaced, in the benchmark only), so the Tailor process's
peak RSS is the import's own. ``--s3 both`` does both. Results go to stdout as a table
and to ``--out`` as JSON. Processes are stopped in a ``finally``; every wait is bounded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from boto3.s3.transfer import TransferConfig

from scripts.bench.workflow import (
    ROLE,
    Server,
    client,
    server_env,
    start_server,
    stop_server,
)

SCHEMA = json.dumps({
    "type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
               {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"}],
    "version": "1.0"})
TERMINAL = {"ACTIVE", "CREATE FAILED"}
POLL_SECONDS = 0.01
TARGET_ROWS_PER_S = 500_000
TARGET_PEAK_RSS_MB = 1024  # for 1 GB of CSV
PART_BYTES = 64 * 2**20


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def write_csv(path: Path, rows: int, seed: int = 0, batch: int = 1_000_000) -> int:
    """A synthetic interactions CSV: 200k users, 50k items, 8 event types. Returns bytes."""
    rng = np.random.default_rng(seed)
    kinds = ["click", "view", "purchase", "like", "share", "rate", "watch", "add-to-cart"]
    with path.open("w", newline="") as out:
        out.write("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n")
        for start in range(0, rows, batch):
            n = min(batch, rows - start)
            users = rng.integers(0, 200_000, n).tolist()
            items = rng.integers(0, 50_000, n).tolist()
            stamps = (1_600_000_000 + np.sort(rng.integers(0, 10**8, n))).tolist()
            events = rng.integers(0, len(kinds), n).tolist()
            out.write("".join(f"user{u},item{i},{t},{kinds[e]}\n"
                              for u, i, t, e in zip(users, items, stamps, events, strict=True)))
    return path.stat().st_size


# --------------------------------------------------------------------------- memory

def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS since start or the last reset) of a process, in MB."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------- processes

def _serve_with_external_s3(s3_endpoint: str, argv: list[str]) -> int:
    """``tailor serve`` with moto replaced by an S3 endpoint elsewhere (benchmark only)."""
    from chalicelib import cli, server

    def use_external(self: Any) -> None:
        self.s3_endpoint = s3_endpoint

    server.TailorServer._start_moto = use_external  # type: ignore[method-assign]
    return cli.main(argv)


def _moto(port: int) -> int:
    """A standalone moto server; prints its endpoint as JSON and serves until killed."""
    import signal
    import threading

    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    host, bound = moto.get_host_and_port()
    print(json.dumps({"endpoint": f"http://{host}:{bound}"}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    moto.stop()
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(mode: str, data_dir: Path, logs: Path) -> tuple[Server, Server | None, str]:
    """(Tailor, separate moto or None, S3 endpoint)."""
    env = server_env(data_dir, {})
    serve = ["serve", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", "0",
             "--s3-port", "0", "--json"]
    if mode == "inprocess":
        tailor = start_server("tailor", [sys.executable, "-m", "chalicelib.cli", *serve],
                              env, logs / "tailor.log")
        return tailor, None, tailor.info["AWS_ENDPOINT_URL_S3"]
    moto = start_server("moto", [sys.executable, "-m", "scripts.bench.imports", "_moto",
                                 "--port", str(_free_port())], env, logs / "moto.log")
    endpoint = moto.info["endpoint"]
    try:
        tailor = start_server("tailor", [sys.executable, "-m", "scripts.bench.imports",
                                         "_serve", "--s3-endpoint", endpoint, *serve],
                              env, logs / "tailor.log")
    except BaseException:
        stop_server(moto)
        raise
    return tailor, moto, endpoint


def clients(tailor: Server, s3_endpoint: str) -> tuple[Any, Any]:
    """Personalize and S3 clients signing with the key Tailor printed (moto checks none)."""
    return (client("personalize", tailor.info["AWS_ENDPOINT_URL_PERSONALIZE"], "us-east-1",
                   tailor.key, read_timeout=600),
            client("s3", s3_endpoint, "us-east-1", tailor.key, read_timeout=600))


def wait(describe: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        res = describe()
        if res.get("status") in TERMINAL:
            return res
        if time.monotonic() > deadline:
            raise RuntimeError(f"still {res.get('status')} after {timeout:.0f}s: {res}")
        time.sleep(POLL_SECONDS)


def import_job(personalize: Any, dataset: str, name: str, key: str,
               timeout: float) -> dict[str, Any]:
    """CreateDatasetImportJob (FULL) of s3://bench/<key>, then poll until it ends."""
    job = personalize.create_dataset_import_job(
        jobName=name, datasetArn=dataset, dataSource={"dataLocation": f"s3://bench/{key}"},
        roleArn=ROLE)["datasetImportJobArn"]
    return wait(lambda: personalize.describe_dataset_import_job(
        datasetImportJobArn=job)["datasetImportJob"], timeout)


def server_line(log: Path, url: str, timeout: float = 5.0) -> str | None:
    """Tailor's "imported N rows from <url> in Xs" line (logged just after the job turns
    ACTIVE, so it may come a moment after the client sees ACTIVE)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if f"rows from {url} in " in line:
                return line
        time.sleep(0.05)
    return None


# --------------------------------------------------------------------------- one run

def run_one(csv_path: Path, rows: int, size: int, mode: str, work: Path,
            timeout: float) -> dict[str, Any]:
    tag = f"{rows}-{mode}"
    data_dir, logs = work / f"data-{tag}", work / f"logs-{tag}"
    logs.mkdir(parents=True)
    tailor, moto, s3_endpoint = start(mode, data_dir, logs)
    result: dict[str, Any] = {"rows": rows, "csv_mb": round(size / 2**20, 1), "s3": mode}
    try:
        personalize, s3 = clients(tailor, s3_endpoint)
        pid = tailor.proc.pid
        result["rss_start_mb"] = memory_mb(pid)["VmRSS"]
        s3.create_bucket(Bucket="bench")
        started = time.perf_counter()
        s3.upload_file(str(csv_path), "bench", "interactions.csv", Config=TransferConfig(
            multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=2))
        result["upload_s"] = round(time.perf_counter() - started, 2)
        after_upload = memory_mb(pid)
        result["rss_after_upload_mb"] = after_upload["VmRSS"]
        result["peak_rss_upload_mb"] = after_upload["VmHWM"]

        group = personalize.create_dataset_group(name=f"g-{uuid.uuid4().hex[:8]}")
        group_arn = group["datasetGroupArn"]
        schema_arn = personalize.create_schema(name=f"s-{uuid.uuid4().hex[:8]}",
                                               schema=SCHEMA)["schemaArn"]
        wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group_arn)[
            "datasetGroup"], 60)
        dataset = personalize.create_dataset(
            name="d", datasetGroupArn=group_arn, datasetType="Interactions",
            schemaArn=schema_arn)["datasetArn"]
        wait(lambda: personalize.describe_dataset(datasetArn=dataset)["dataset"], 60)

        # A first, tiny import: the worker thread creates its S3 client (~0.1 s) once.
        warmup = csv_path.with_name("warmup.csv")
        write_csv(warmup, 1000, seed=1)
        s3.upload_file(str(warmup), "bench", "warmup.csv")
        started = time.perf_counter()
        res = import_job(personalize, dataset, "warmup", "warmup.csv", 60)
        result["warmup_import_s"] = round(time.perf_counter() - started, 2)
        if res["status"] != "ACTIVE":
            raise RuntimeError(f"the warm-up import failed: {res.get('failureReason')}")

        result["rss_before_import_mb"] = memory_mb(pid)["VmRSS"]
        result["peak_reset"] = reset_peak(pid)
        started = time.perf_counter()
        res = import_job(personalize, dataset, "bench", "interactions.csv", timeout)
        seconds = time.perf_counter() - started
        after = memory_mb(pid)
        if res["status"] != "ACTIVE":
            raise RuntimeError(f"the import failed: {res.get('failureReason')}")
        result.update(import_s=round(seconds, 2), rows_per_s=round(rows / seconds),
                      mb_per_s=round(size / 2**20 / seconds, 1),
                      peak_rss_import_mb=after["VmHWM"], rss_after_import_mb=after["VmRSS"])
        if moto is not None:
            result["moto_peak_rss_mb"] = memory_mb(moto.proc.pid)["VmHWM"]
        segments = list((data_dir / "artifacts" / "segments").rglob("*.npz"))
        result["segments"] = len(segments)
        result["segments_mb"] = round(sum(p.stat().st_size for p in segments) / 2**20, 1)
        line = server_line(tailor.log, "s3://bench/interactions.csv")
        if line:
            result["server_log"] = line.split(": ", 1)[-1]
            result["server_s"] = float(line.rsplit(" in ", 1)[1].split("s", 1)[0])
    finally:
        stop_server(tailor)
        if moto is not None:
            stop_server(moto)
    return result


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(line.split(":", 1)[1].strip() for line in
               Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    load = Path("/proc/loadavg").read_text().split()[:3]
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "memory": mem,
            "load_average": " ".join(load), "python": platform.python_version(),
            "numpy": np.__version__, "kernel": platform.release()}


def table(results: list[dict[str, Any]]) -> str:
    head = ("| rows | CSV MB | S3 | import s (server) | rows/s | MB/s | RSS before "
            "| peak RSS (import) | RSS after | peak RSS (upload) | segments | warm-up s |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['csv_mb']} | {r['s3']} | {r['import_s']} "
            f"({r.get('server_s', '?')}) | {r['rows_per_s']:,} | {r['mb_per_s']} | "
            f"{r['rss_before_import_mb']:.0f} MB | {r['peak_rss_import_mb']:.0f} MB | "
            f"{r['rss_after_import_mb']:.0f} MB | {r['peak_rss_upload_mb']:.0f} MB | "
            f"{r['segments']} ({r['segments_mb']} MB) | {r['warmup_import_s']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_serve"]:  # internal: Tailor with an external S3
        parser = argparse.ArgumentParser()
        parser.add_argument("--s3-endpoint", required=True)
        known, rest = parser.parse_known_args(argv[1:])
        return _serve_with_external_s3(known.s3_endpoint, rest)
    if argv[:1] == ["_moto"]:  # internal: a standalone moto
        parser = argparse.ArgumentParser()
        parser.add_argument("--port", type=int, required=True)
        return _moto(parser.parse_args(argv[1:]).port)

    parser = argparse.ArgumentParser(prog="python -m scripts.bench.imports",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=lambda s: [int(float(x)) for x in s.split(",")],
                        default=[100_000, 10_000_000],
                        help="comma-separated row counts (default 100000,10000000)")
    parser.add_argument("--s3", choices=("inprocess", "separate", "both"),
                        default="inprocess", help="where moto runs (see above)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds to wait for one import job")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--tmp", type=Path, help="parent of the temporary directory "
                        "(the CSVs need ~35 bytes per row)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    modes = ["inprocess", "separate"] if args.s3 == "both" else [args.s3]

    work = Path(tempfile.mkdtemp(prefix="tailor-bench-imports-", dir=args.tmp))
    say(f"working in {work}")
    results = []
    try:
        for rows in args.rows:
            csv_path = work / f"interactions-{rows}.csv"
            started = time.perf_counter()
            size = write_csv(csv_path, rows)
            say(f"wrote {rows:,} rows ({size / 2**20:.0f} MB) in "
                f"{time.perf_counter() - started:.1f}s")
            for mode in modes:
                result = run_one(csv_path, rows, size, mode, work, args.timeout)
                say(json.dumps(result))
                results.append(result)
            csv_path.unlink()
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        else:
            say(f"kept {work}")
    report = {"date": dt.date.today().isoformat(), "machine": machine(),
              "targets": {"rows_per_s": TARGET_ROWS_PER_S,
                          "peak_rss_mb_per_gb_csv": TARGET_PEAK_RSS_MB},
              "results": results}
    print(table(results))
    print(json.dumps(report["machine"]))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
