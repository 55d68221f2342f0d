"""Benchmark: Tailor at scale (10M interactions) against ``implicit``'s ALS on the same matrix.

Run from the repository root::

    .venv/bin/python -m scripts.bench.scale            # 10M events, 200k users, 100k items
    .venv/bin/python -m scripts.bench.scale --quick    # 1M events, 20k users, 10k items

What it does (everything on 127.0.0.1; this process is only the boto3 client):

1. generates a synthetic e-commerce interactions CSV once into the cache
   (``$TAILOR_BENCH_CACHE`` or ``~/.cache/tailor-bench``, never the repository) and reuses
   it: power-law item popularity, log-normal user activity, taste clusters (each user
   draws most events from two clusters of items), timestamps over some weeks, and an
   EVENT_TYPE (view / add-to-cart / purchase). Next to it, a ``.npz`` of the same events
   as integer indices, which the ``implicit`` run reads;
2. starts ``tailor serve --port 0 --s3-port 0 --json`` in a subprocess with a fresh data
   directory, as users do, and finds its moto child process;
3. uploads the CSV to Tailor's S3 (multipart, 64 MB parts), then through boto3 creates the
   schema, dataset group and Interactions dataset, and times CreateDatasetImportJob ->
   ACTIVE; then CreateSolution (``aws-user-personalization``) and times
   CreateSolutionVersion -> ACTIVE; reads GetSolutionMetrics;
4. polls the peak RSS (``VmHWM``) of the Tailor server process and, separately, of its moto
   child, per phase: the counter is reset (``/proc/<pid>/clear_refs``) before each phase
   where the kernel allows it, and ``VmRSS`` is also sampled every 0.1 s (their sum too);
5. before starting Tailor and after stopping it, times in a fresh subprocess
   ``implicit.cpu.als.AlternatingLeastSquares(factors=64, iterations=15, num_threads=2)``
   ``.fit`` on the same user x item matrix (events counted per (user, item), exactly as
   Tailor's ``interaction_matrix`` builds it), so that load from elsewhere on the machine
   hits both alike, and reports Tailor's training time over the mean of the two fits; the
   first subprocess also fits Tailor's ``ImplicitALS`` with implicit's settings on that
   matrix (``--no-parity`` skips it);
6. prints the figures and the verdict against the targets, and writes them as JSON to
   ``--out``.

Processes are stopped in a ``finally``; every wait is bounded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scripts.bench.data import default_cache
from scripts.bench.imports import machine as imports_machine
from scripts.bench.imports import memory_mb, reset_peak
from scripts.bench.workflow import (
    ROLE,
    ROOT,
    client,
    server_env,
    server_job_seconds,
    start_server,
    stop_server,
    tailor_command,
    wait_for,
)

SCHEMA = json.dumps({
    "type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
               {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"}],
    "version": "1.0"})
RECIPE = "aws-user-personalization"
SAMPLE_SECONDS = 0.1
PART_BYTES = 64 * 2**20
JOB_TIMEOUT = 1800.0
TARGETS = {"import_s": 60.0, "training_over_implicit": 1.0, "server_peak_rss_gib": 1.5}
IMPLICIT = {"factors": 64, "iterations": 15, "num_threads": 2}

EVENT_TYPES = ("view", "add-to-cart", "purchase")
EVENT_SHARES = (0.75, 0.17, 0.08)
START = 1_767_225_600  # 2026-01-01T00:00:00Z


def say(message: str) -> None:
    print(f"[bench.scale] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data

@dataclass(frozen=True)
class Shape:
    """What the generator makes. ``zipf`` is the exponent of item popularity by rank,
    ``activity_sigma`` the log-normal spread of events per user, ``in_cluster`` the share
    of a user's events drawn from its first and second taste cluster."""

    rows: int = 10_000_000
    users: int = 200_000
    items: int = 100_000
    clusters: int = 200
    zipf: float = 0.9
    activity_sigma: float = 1.1
    in_cluster: tuple[float, float] = (0.6, 0.25)
    weeks: int = 8
    seed: int = 20261124

    @property
    def stem(self) -> str:
        return f"scale-{self.rows}-{self.users}-{self.items}-{self.seed}"


FULL = Shape()
QUICK = Shape(rows=1_000_000, users=20_000, items=10_000, clusters=40)


def generate(shape: Shape) -> dict[str, np.ndarray]:
    """Events as integer arrays, in time order: user, item, timestamp, event type."""
    rng = np.random.default_rng(shape.seed)
    n, n_users, n_items = shape.rows, shape.users, shape.items
    if n < n_users:
        raise ValueError("every user needs an event: rows >= users")
    # Items: popularity ~ rank^-zipf in a random order; each belongs to one taste cluster.
    popularity = rng.permutation(np.arange(1, n_items + 1, dtype=np.float64) ** -shape.zipf)
    cluster_of_item = rng.integers(0, shape.clusters, n_items)
    by_cluster = np.argsort(cluster_of_item, kind="stable")
    # Cumulative popularity within each cluster, scaled so cluster k spans [k, k + 1).
    pop = popularity[by_cluster]
    cl = cluster_of_item[by_cluster]
    starts = np.searchsorted(cl, np.arange(shape.clusters))
    cum = np.cumsum(pop)
    before = np.concatenate([[0.0], cum])[starts][cl]
    totals = np.bincount(cl, weights=pop, minlength=shape.clusters)
    in_cluster_cdf = cl + (cum - before) / totals[cl]
    global_cdf = np.cumsum(popularity) / popularity.sum()

    # Users: at least one event each; the rest shared in proportion to a log-normal activity.
    activity = rng.lognormal(0.0, shape.activity_sigma, n_users)
    counts = 1 + rng.multinomial(n - n_users, activity / activity.sum())
    users = np.repeat(np.arange(n_users), counts)
    tastes = rng.integers(0, shape.clusters, (n_users, 2))
    which = rng.random(n)
    first, second = shape.in_cluster
    cluster = np.where(which < first, tastes[users, 0], tastes[users, 1])
    draw = rng.random(n)
    items = np.where(
        which < first + second,
        by_cluster[np.minimum(np.searchsorted(in_cluster_cdf, cluster + draw), n_items - 1)],
        np.minimum(np.searchsorted(global_cdf, draw), n_items - 1))

    # Time: each user arrives at some point in the period and is active for an
    # exponentially distributed span (mean a quarter of the period) after that.
    period = shape.weeks * 7 * 86400
    arrive = rng.integers(0, period, n_users)
    span = np.minimum(rng.exponential(period / 4, n_users), period - arrive).astype(np.int64)
    stamps = START + arrive[users] + (rng.random(n) * (span[users] + 1)).astype(np.int64)
    kinds = rng.choice(len(EVENT_TYPES), size=n, p=EVENT_SHARES).astype(np.int8)
    order = np.argsort(stamps, kind="stable")
    return {"users": users[order].astype(np.int32), "items": items[order].astype(np.int32),
            "timestamps": stamps[order], "event_types": kinds[order]}


def write_csv(path: Path, events: dict[str, np.ndarray], batch: int = 500_000) -> None:
    """``USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE`` with zero-padded ids (string order =
    numeric order, so Tailor's sorted ids index users and items as the ``.npz`` does)."""
    u_width = len(str(int(events["users"].max())))
    i_width = len(str(int(events["items"].max())))
    user_ids = [f"u{u:0{u_width}d}" for u in range(int(events["users"].max()) + 1)]
    item_ids = [f"p{i:0{i_width}d}" for i in range(int(events["items"].max()) + 1)]
    tmp = path.with_suffix(".tmp")
    total = len(events["users"])
    with tmp.open("w", newline="") as out:
        out.write("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n")
        for start in range(0, total, batch):
            cut = slice(start, start + batch)
            out.write("".join(
                f"{user_ids[u]},{item_ids[i]},{t},{EVENT_TYPES[e]}\n" for u, i, t, e in zip(
                    events["users"][cut].tolist(), events["items"][cut].tolist(),
                    events["timestamps"][cut].tolist(), events["event_types"][cut].tolist(),
                    strict=True)))
            if (start // batch) % 4 == 3:
                say(f"  wrote {min(start + batch, total):,} of {total:,} rows")
    tmp.replace(path)


def dataset(shape: Shape, cache: Path) -> tuple[Path, Path]:
    """(CSV, npz of the same events as indices), generated once into ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    csv_path, npz_path = cache / f"{shape.stem}.csv", cache / f"{shape.stem}.npz"
    if csv_path.exists() and npz_path.exists():
        say(f"using cached {csv_path} ({csv_path.stat().st_size / 2**20:.0f} MB)")
        return csv_path, npz_path
    say(f"generating {shape.rows:,} events ({shape.users:,} users, {shape.items:,} items) "
        f"into {cache}")
    started = time.perf_counter()
    events = generate(shape)
    say(f"  generated in {time.perf_counter() - started:.1f}s; writing the CSV")
    write_csv(csv_path, events)
    np.savez(npz_path, users=events["users"], items=events["items"])
    say(f"  wrote {csv_path} ({csv_path.stat().st_size / 2**20:.0f} MB) in "
        f"{time.perf_counter() - started:.1f}s")
    return csv_path, npz_path


def describe_data(npz_path: Path) -> dict[str, Any]:
    """Shape of the generated data as Tailor and implicit see it."""
    with np.load(npz_path) as z:
        users, items = z["users"], z["items"]
    pairs = np.unique(users.astype(np.int64) * (int(items.max()) + 1) + items).size
    per_user = np.bincount(users)
    per_item = np.bincount(items)
    top = np.sort(per_item)[::-1]
    return {"events": int(users.size), "users": int(per_user.size),
            "items": int((per_item > 0).sum()), "distinct_pairs": int(pairs),
            "events_per_user_p50_p99_max": [int(np.percentile(per_user, 50)),
                                            int(np.percentile(per_user, 99)),
                                            int(per_user.max())],
            "top_1pct_items_share": round(float(top[:max(1, top.size // 100)].sum()
                                                / users.size), 3)}


# --------------------------------------------------------------------------- memory

def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


class Memory:
    """Peak RSS per named process and phase: ``VmHWM`` (reset at each phase when allowed)
    and the largest ``VmRSS`` sampled every SAMPLE_SECONDS."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.phases: dict[str, dict[str, dict[str, float]]] = {}
        self.together = 0.0  # largest sampled sum of the processes' RSS
        self._phase: str | None = None
        self._sampled: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True, name="rss-sampler")
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            with self._lock:
                total = 0.0
                for name, pid in self.pids.items():
                    rss = memory_mb(pid).get("VmRSS", 0.0)
                    self._sampled[name] = max(self._sampled.get(name, 0.0), rss)
                    total += rss
                self.together = max(self.together, total)

    def begin(self, phase: str) -> None:
        self.end()
        with self._lock:
            self._phase = phase
            self._sampled = {}
            self.phases[phase] = {name: {"reset": reset_peak(pid),
                                         "rss_start_mb": memory_mb(pid).get("VmRSS", 0.0)}
                                  for name, pid in self.pids.items()}

    def end(self) -> None:
        with self._lock:
            if self._phase is None:
                return
            for name, pid in self.pids.items():
                now = memory_mb(pid)
                entry = self.phases[self._phase][name]
                entry.update(rss_end_mb=now.get("VmRSS", 0.0),
                             sampled_peak_mb=max(self._sampled.get(name, 0.0),
                                                 now.get("VmRSS", 0.0)))
                # Without a reset VmHWM is the peak since the process started.
                entry["peak_mb"] = now.get("VmHWM", 0.0) if entry["reset"] else \
                    entry["sampled_peak_mb"]
                entry["hwm_since_start_mb"] = now.get("VmHWM", 0.0)
            self._phase = None

    def close(self) -> None:
        self.end()
        self._stop.set()
        self._thread.join(5)

    def peak(self, name: str) -> float:
        """The process's peak over every phase (and since it started)."""
        return max([p[name]["peak_mb"] for p in self.phases.values()] +
                   [p[name]["hwm_since_start_mb"] for p in self.phases.values()], default=0.0)


# --------------------------------------------------------------------------- Tailor

def _name(prefix: str) -> str:
    return f"scale-{prefix}-{uuid.uuid4().hex[:8]}"


def run_tailor(csv_path: Path, work: Path, extra_env: dict[str, str]) -> dict[str, Any]:
    """Upload, import and train in a fresh ``tailor serve``; wall times and peak RSS."""
    from boto3.s3.transfer import TransferConfig

    data_dir = work / "data"
    tailor = start_server("tailor", tailor_command(data_dir, None, None),
                          server_env(data_dir, extra_env), work / "tailor.log")
    out: dict[str, Any] = {}
    memory: Memory | None = None
    try:
        env = tailor.info
        region = env["AWS_DEFAULT_REGION"]
        moto = children(tailor.proc.pid)
        if len(moto) != 1:
            raise RuntimeError(f"expected one moto child of the server, found {moto}")
        memory = Memory({"server": tailor.proc.pid, "moto": moto[0]})
        s3 = client("s3", env["AWS_ENDPOINT_URL_S3"], region, tailor.key)
        pz = client("personalize", env["AWS_ENDPOINT_URL_PERSONALIZE"], region, tailor.key)

        memory.begin("upload")
        bucket, key = "tailor-bench-scale", f"scale/{csv_path.name}"
        s3.create_bucket(Bucket=bucket)
        t = time.perf_counter()
        s3.upload_file(str(csv_path), bucket, key, Config=TransferConfig(
            multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=2))
        out["upload_s"] = round(time.perf_counter() - t, 2)
        say(f"uploaded {csv_path.stat().st_size / 2**20:.0f} MB in {out['upload_s']}s")

        memory.begin("setup")
        schema = pz.create_schema(name=_name("schema"), schema=SCHEMA)["schemaArn"]
        group = pz.create_dataset_group(name=_name("g"))["datasetGroupArn"]
        wait_for(lambda: pz.describe_dataset_group(datasetGroupArn=group)["datasetGroup"],
                    group, 60)
        ds = pz.create_dataset(name=_name("d"), datasetGroupArn=group,
                               datasetType="Interactions", schemaArn=schema)["datasetArn"]
        wait_for(lambda: pz.describe_dataset(datasetArn=ds)["dataset"], ds, 60)

        memory.begin("import")
        t = time.perf_counter()
        job = pz.create_dataset_import_job(
            jobName=_name("imp"), datasetArn=ds, dataSource={"dataLocation": f"s3://{bucket}/{key}"},
            roleArn=ROLE)["datasetImportJobArn"]
        wait_for(lambda: pz.describe_dataset_import_job(
            datasetImportJobArn=job)["datasetImportJob"], job, JOB_TIMEOUT)
        out["import_s"] = round(time.perf_counter() - t, 2)
        say(f"import -> ACTIVE in {out['import_s']}s")

        memory.begin("solution")
        solution = pz.create_solution(
            name=_name("sol"), datasetGroupArn=group, performAutoTraining=False,
            recipeArn=f"arn:aws:personalize:::recipe/{RECIPE}")["solutionArn"]
        wait_for(lambda: pz.describe_solution(solutionArn=solution)["solution"], solution, 60)

        memory.begin("training")
        t = time.perf_counter()
        version = pz.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        wait_for(lambda: pz.describe_solution_version(
            solutionVersionArn=version)["solutionVersion"], version, JOB_TIMEOUT)
        out["training_s"] = round(time.perf_counter() - t, 2)
        say(f"solution version -> ACTIVE in {out['training_s']}s")
        memory.end()
        out["metrics"] = pz.get_solution_metrics(solutionVersionArn=version)["metrics"]
        jobs = server_job_seconds(tailor.log)
        out["server_job_s"] = {"import": jobs.get(job), "training": jobs.get(version)}
        out["training_log"] = [line.split(": ", 1)[-1] for line in
                               tailor.log.read_text(errors="replace").splitlines()
                               if "chalicelib.jobs.train" in line]
    finally:
        if memory is not None:
            memory.close()
            out["memory"] = memory.phases
            out["server_peak_rss_mb"] = round(memory.peak("server"), 1)
            out["moto_peak_rss_mb"] = round(memory.peak("moto"), 1)
            out["together_peak_rss_mb"] = round(memory.together, 1)
        stop_server(tailor)
    return out


# --------------------------------------------------------------------------- implicit

def implicit_child(npz_path: Path, parity: bool) -> int:
    """(In a subprocess) time implicit's ALS fit on the events' user x item count matrix,
    and with ``parity`` Tailor's ImplicitALS with the same factors and iterations on the
    same matrix; print the result as one JSON line."""
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from chalicelib.algorithms import ImplicitALS

    with np.load(npz_path) as z:
        users, items = z["users"], z["items"]
    # Tailor indexes the sorted distinct ids; zero-padded ids sort like the integers.
    _, users = np.unique(users, return_inverse=True)
    _, items = np.unique(items, return_inverse=True)
    matrix = sp.csr_matrix((np.ones(users.size, dtype=np.float32), (users, items)))
    matrix.sum_duplicates()
    del users, items
    model = AlternatingLeastSquares(**IMPLICIT, random_state=0)
    result: dict[str, Any] = {"shape": list(matrix.shape), "nnz": int(matrix.nnz),
                              "version": __import__("implicit").__version__}
    with threadpool_limits(1, "blas"):  # implicit's own advice (check_blas_config)
        t = time.perf_counter()
        model.fit(matrix, show_progress=False)
        result["fit_s"] = round(time.perf_counter() - t, 2)
        result["peak_rss_mb"] = round(memory_mb(os.getpid())["VmHWM"], 1)
        if parity:
            tailor = ImplicitALS(factors=IMPLICIT["factors"], iterations=IMPLICIT["iterations"],
                                 n_threads=IMPLICIT["num_threads"])
            t = time.perf_counter()
            tailor.fit(matrix)
            result["tailor_als_fit_s"] = round(time.perf_counter() - t, 2)
    print(json.dumps(result), flush=True)
    return 0


def run_implicit(npz_path: Path, parity: bool) -> dict[str, Any]:
    say(f"implicit ALS {IMPLICIT} on the same matrix (subprocess)"
        + (", then Tailor's ImplicitALS with the same settings" if parity else ""))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TAILOR_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "scripts.bench.scale", "_implicit",
                           str(npz_path), *(["--parity"] if parity else [])], check=False,
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=JOB_TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"the implicit run failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    say(f"implicit fit in {result['fit_s']}s" + (
        f"; Tailor's ImplicitALS in {result['tailor_als_fit_s']}s" if parity else ""))
    return result


# --------------------------------------------------------------------------- report

def machine() -> dict[str, Any]:
    import boto3
    import scipy

    return {**imports_machine(), "scipy": scipy.__version__, "boto3": boto3.__version__}


def verdict(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tailor, ratio = result["tailor"], result["training_over_implicit"]
    peak_gib = tailor["server_peak_rss_mb"] / 1024
    rows = {"import_s": tailor["import_s"], "training_over_implicit": ratio,
            "server_peak_rss_gib": round(peak_gib, 2)}
    return {k: {"measured": v, "target": TARGETS[k], "met": v <= TARGETS[k]}
            for k, v in rows.items()}


def print_report(result: dict[str, Any]) -> None:
    d, t, runs = result["data"], result["tailor"], result["implicit_runs"]
    print(f"\n{d['events']:,} events, {d['users']:,} users, {d['items']:,} items "
          f"({d['distinct_pairs']:,} distinct pairs)")
    print(f"upload {t['upload_s']}s | import -> ACTIVE {t['import_s']}s "
          f"(server {t['server_job_s']['import']}s) | solution version -> ACTIVE "
          f"{t['training_s']}s (server {t['server_job_s']['training']}s)")
    fits = " / ".join(f"{r['fit_s']}s" for r in runs)
    print(f"implicit ALS fit {fits} (before / after Tailor; mean {result['implicit_fit_s']}s)"
          f" -> Tailor training / implicit = {result['training_over_implicit']:.2f} (over the "
          f"faster fit: {result['training_over_faster_implicit']:.2f})")
    if "tailor_als_fit_s" in runs[0]:
        parity = runs[0]["tailor_als_fit_s"] / runs[0]["fit_s"]
        print(f"Tailor's ImplicitALS with implicit's settings on the same matrix: "
              f"{runs[0]['tailor_als_fit_s']}s ({parity:.2f} x implicit, same process)")
    imp = {"peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
    print("peak RSS (MiB) per phase:")
    for phase, procs in t["memory"].items():
        print(f"  {phase:9} " + "  ".join(
            f"{name} {v['peak_mb']:7.0f} (start {v['rss_start_mb']:.0f}, end "
            f"{v['rss_end_mb']:.0f})" for name, v in procs.items()))
    print(f"server peak {t['server_peak_rss_mb']:.0f} MiB, moto peak "
          f"{t['moto_peak_rss_mb']:.0f} MiB (both at once, sampled: "
          f"{t['together_peak_rss_mb']:.0f} MiB), implicit process peak "
          f"{imp['peak_rss_mb']:.0f} MiB")
    print("GetSolutionMetrics: " + ", ".join(f"{k}={v}" for k, v in
                                            sorted(t["metrics"].items())))
    for line in t["training_log"]:
        print(f"  log: {line[:300]}")
    print("verdict" + (" (the targets are for the full 10M set; this is a smoke run):"
                       if result["shape"]["rows"] < FULL.rows else ":"))
    for name, v in result["verdict"].items():
        print(f"  {name:24} {v['measured']!s:>8} (target <= {v['target']}): "
              f"{'met' if v['met'] else 'MISSED'}")


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_implicit"]:
        return implicit_child(Path(argv[1]), "--parity" in argv[2:])
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.scale",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK.rows:,} events, {QUICK.users:,} users, "
                        f"{QUICK.items:,} items (a smoke run)")
    parser.add_argument("--cache", type=Path, help="data cache (default $TAILOR_BENCH_CACHE "
                        "or ~/.cache/tailor-bench)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--no-parity", action="store_true",
                        help="skip the fit of Tailor's ImplicitALS with implicit's settings")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the server (repeatable)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary data directory and the server log")
    args = parser.parse_args(argv)
    if any("=" not in kv for kv in args.server_env):
        parser.error("--server-env takes KEY=VALUE")
    if importlib.util.find_spec("implicit") is None:
        parser.error("the benchmark compares with implicit, a benchmark-only dependency: "
                     ".venv/bin/pip install implicit")
    shape = QUICK if args.quick else FULL
    started = time.perf_counter()
    csv_path, npz_path = dataset(shape, args.cache or default_cache())
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(), "machine": machine(),
        "command": " ".join([".venv/bin/python", "-m", "scripts.bench.scale", *argv]),
        "shape": asdict(shape), "data": describe_data(npz_path),
        "csv_mb": round(csv_path.stat().st_size / 2**20, 1), "targets": TARGETS,
    }
    # implicit before and after Tailor, so that load on the machine hits both alike
    runs = [run_implicit(npz_path, parity=not args.no_parity)]
    work = Path(tempfile.mkdtemp(prefix="tailor-bench-scale-"))
    try:
        result["tailor"] = run_tailor(csv_path, work,
                                      dict(kv.split("=", 1) for kv in args.server_env))
    except BaseException:
        args.keep = True
        raise
    finally:
        if args.keep:
            say(f"kept {work} (data/, tailor.log)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    runs.append(run_implicit(npz_path, parity=False))
    result["implicit_runs"] = runs
    result["implicit_fit_s"] = round(sum(r["fit_s"] for r in runs) / len(runs), 2)
    result["training_over_implicit"] = round(
        result["tailor"]["training_s"] / result["implicit_fit_s"], 2)
    result["training_over_faster_implicit"] = round(
        result["tailor"]["training_s"] / min(r["fit_s"] for r in runs), 2)
    result["verdict"] = verdict(result)
    result["machine"]["load_average_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    print_report(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
