"""Benchmark: the getting-started workflow and runtime latency on MovieLens-100K.

Run from the repository root::

    .venv/bin/python -m scripts.bench.workflow --out bench.json

What it does (everything on 127.0.0.1; this process is only the boto3 client):

1. fetches ML-100K once (``scripts/bench/data.py``; cached outside the repository);
2. starts ``tailor serve --port 0 --s3-port 0 --json`` in a subprocess with a fresh
   temporary data directory, and ``scripts/bench/floor_server.py`` in a second one;
3. uploads the CSV to moto S3, then for each recipe, in its own dataset group, times
   CreateDatasetImportJob -> ACTIVE, CreateSolution -> ACTIVE, CreateSolutionVersion ->
   ACTIVE and the whole import -> ACTIVE solution version, reads GetSolutionMetrics and
   deploys a campaign;
4. times GetRecommendations (aws-user-personalization, aws-popularity-count, aws-sims),
   GetPersonalizedRanking (50-item inputList) and the floor with one boto3 client each:
   a warm-up, then N timed calls per series, run in interleaved blocks so that machine
   noise hits every series alike; plus boto3 alone (the HTTP send stubbed out);
5. prints the figures and writes them as JSON to ``--out``.

The subprocesses are stopped in a ``finally``; every wait and loop is bounded.
``--instrument stages|cprofile`` runs both servers under ``scripts/bench/instrument.py``
to see where a request's time goes (the latency figures of such a run are not the
benchmark's).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from scripts.bench.data import SCHEMA, default_cache, movielens_100k
from scripts.bench.instrument import summarize

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ("aws-user-personalization", "aws-popularity-count", "aws-sims",
           "aws-personalized-ranking")
TERMINAL = {"ACTIVE", "CREATE FAILED", "CREATE STOPPED"}
POLL_SECONDS = 0.02
START_TIMEOUT = 60.0
JOB_TIMEOUT = 300.0
RANKING_LIST = 50
TARGETS = {"import_to_version_active_s": 10.0, "get_recommendations_p50_ms": 2.0,
           "get_recommendations_p99_ms": 5.0}


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes

@dataclass(frozen=True)
class Key:
    """An access key to sign with (its repr hides the secret)."""

    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:
        return f"Key({self.access_key_id!r}, ...)"


# What a client of a server that checks no signature signs with (the floor server;
# ``tailor serve --no-auth`` prints the same).
DUMMY_KEY = Key("testing", "testing")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    info: dict[str, Any]
    log: Path

    @property
    def key(self) -> Key:
        """The key the server printed in its ``--json`` line (``tailor serve`` creates one
        in its data dir; ``--no-auth`` prints the dummy one); the dummy key for a server
        that prints none (the floor, which checks no signature)."""
        if "AWS_ACCESS_KEY_ID" in self.info:
            return Key(self.info["AWS_ACCESS_KEY_ID"], self.info["AWS_SECRET_ACCESS_KEY"])
        return DUMMY_KEY


def _first_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The first stdout line of ``proc``, or "" if none comes within ``timeout``."""
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0].decode() if box else ""


def start_server(name: str, cmd: list[str], env: dict[str, str], log: Path) -> Server:
    say(f"starting {name}: {' '.join(cmd)}")
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err)
    server = Server(name, proc, {}, log)
    line = _first_line(proc, START_TIMEOUT)
    if not line.strip():
        stop_server(server)
        raise RuntimeError(f"{name} did not start within {START_TIMEOUT:.0f}s; its log "
                           f"({log}):\n{log.read_text()[-3000:]}")
    server.info = json.loads(line)
    if "AWS_ENDPOINT_URL_IAM" in server.info:
        personalize_role(server)
    return server


# The role the benchmarks' jobs read their data with, made in the server's own IAM as a
# user makes it (the AWS samples' trust policy and AmazonS3FullAccess).
ROLE = "arn:aws:iam::123456789012:role/personalize"
_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "personalize.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


def personalize_role(server: Server) -> None:
    iam = client("iam", server.info["AWS_ENDPOINT_URL_IAM"],
                 server.info.get("AWS_DEFAULT_REGION", "us-east-1"), server.key)
    try:
        iam.create_role(RoleName="personalize", AssumeRolePolicyDocument=_TRUST)
    except iam.exceptions.EntityAlreadyExistsException:
        return
    iam.attach_role_policy(RoleName="personalize",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            say(f"{server.name} ignored SIGTERM for 20s; killing it")
            server.proc.kill()
            server.proc.wait(timeout=10)
    if server.proc.stdout:
        server.proc.stdout.close()


def server_env(data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    """The parent's environment without AWS_/TAILOR_ settings (as the tests do), plus
    ``--server-env`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TAILOR_"))}
    env["TAILOR_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def tailor_command(data_dir: Path, instrument: str | None, out: Path | None,
                   *extra: str) -> list[str]:
    """``tailor serve`` on a free port with its ``--json`` line; ``extra``: more options of
    ``tailor serve`` (``--no-auth``)."""
    serve = ["serve", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", "0",
             "--s3-port", "0", "--json", *extra]
    if instrument:
        return [sys.executable, "-m", "scripts.bench.instrument", "--mode", instrument,
                "--out", str(out), *serve]
    exe = Path(sys.executable).parent / "tailor"
    return [str(exe), *serve] if exe.exists() else [sys.executable, "-m", "chalicelib.cli",
                                                    *serve]


def floor_command(instrument: str | None, out: Path | None, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "scripts.bench.floor_server", "--host", "127.0.0.1",
           "--port", "0", *extra]
    if instrument:
        cmd += ["--instrument", instrument, "--instrument-out", str(out)]
    return cmd


# --------------------------------------------------------------------------- clients

def client(service: str, endpoint: str, region: str, key: Key, **config: Any) -> Any:
    """A boto3 client of ``endpoint`` signing with ``key`` (a Tailor's: ``Server.key``);
    ``config``: more botocore ``Config`` options."""
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name=region,
        aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"max_attempts": 1}, **config))


class _CannedBody:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def offline_runtime_client(region: str) -> Any:
    """A personalize-runtime client whose HTTP send is replaced by a canned 200 response:
    what boto3 itself costs per call (serialize, sign, parse), with no network."""
    rt = client("personalize-runtime", "http://127.0.0.1:9", region, DUMMY_KEY)
    body = b'{"itemList":[],"recommendationId":"RID-x"}'

    def canned(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 200, {"Content-Type": "application/json",
                                              "Content-Length": str(len(body))},
                           _CannedBody(body))

    rt.meta.events.register("before-send.personalize-runtime", canned)
    return rt


def wait_for(describe: Callable[[], dict[str, Any]], what: str,
             timeout: float = JOB_TIMEOUT) -> dict[str, Any]:
    """Poll every POLL_SECONDS until a terminal status; fail unless it is ACTIVE."""
    deadline = time.perf_counter() + timeout
    while True:
        res = describe()
        if res.get("status") in TERMINAL:
            if res["status"] != "ACTIVE":
                raise RuntimeError(f"{what} ended {res['status']}: "
                                   f"{res.get('failureReason', res)}")
            return res
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{what} still {res.get('status')} after {timeout:.0f}s")
        time.sleep(POLL_SECONDS)


def _name(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------- workflow

def run_recipe(pz: Any, schema_arn: str, s3_url: str, recipe: str) -> dict[str, Any]:
    """One dataset group from scratch to an ACTIVE campaign; wall times in seconds."""
    out: dict[str, Any] = {"recipe": recipe}
    t = time.perf_counter()
    group = pz.create_dataset_group(name=_name("g"))["datasetGroupArn"]
    wait_for(lambda: pz.describe_dataset_group(datasetGroupArn=group)["datasetGroup"], group)
    dataset = pz.create_dataset(name=_name("d"), datasetGroupArn=group,
                                datasetType="Interactions", schemaArn=schema_arn)["datasetArn"]
    wait_for(lambda: pz.describe_dataset(datasetArn=dataset)["dataset"], dataset)
    out["group_and_dataset_s"] = time.perf_counter() - t

    t0 = time.perf_counter()
    job = pz.create_dataset_import_job(
        jobName=_name("imp"), datasetArn=dataset, dataSource={"dataLocation": s3_url},
        roleArn=ROLE)["datasetImportJobArn"]
    wait_for(lambda: pz.describe_dataset_import_job(
        datasetImportJobArn=job)["datasetImportJob"], job)
    t1 = time.perf_counter()
    solution = pz.create_solution(
        name=_name("sol"), datasetGroupArn=group, performAutoTraining=False,
        recipeArn=f"arn:aws:personalize:::recipe/{recipe}")["solutionArn"]
    wait_for(lambda: pz.describe_solution(solutionArn=solution)["solution"], solution)
    t2 = time.perf_counter()
    version = pz.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait_for(lambda: pz.describe_solution_version(
        solutionVersionArn=version)["solutionVersion"], version)
    t3 = time.perf_counter()
    out.update(import_s=t1 - t0, solution_s=t2 - t1, solution_version_s=t3 - t2,
               import_to_version_active_s=t3 - t0)
    out["metrics"] = pz.get_solution_metrics(solutionVersionArn=version)["metrics"]

    t4 = time.perf_counter()
    campaign = pz.create_campaign(name=_name("c"), solutionVersionArn=version,
                                  minProvisionedTPS=1)["campaignArn"]
    wait_for(lambda: pz.describe_campaign(campaignArn=campaign)["campaign"], campaign)
    out["campaign_s"] = time.perf_counter() - t4
    out["arns"] = {"import_job": job, "solution_version": version, "campaign": campaign}
    say(f"{recipe}: import {out['import_s']:.2f}s, solution {out['solution_s']:.2f}s, "
        f"version {out['solution_version_s']:.2f}s, import->ACTIVE "
        f"{out['import_to_version_active_s']:.2f}s, campaign {out['campaign_s']:.2f}s")
    return out


_JOB_START = re.compile(r"job (\d+): create (\S+)")
_JOB_DONE = re.compile(r"job (\d+) done in ([\d.]+)s")


def server_job_seconds(log: Path) -> dict[str, float]:
    """ARN -> seconds the worker spent on its create job (from the server log)."""
    arn_of: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        if m := _JOB_START.search(line):
            arn_of[m.group(1)] = m.group(2)
        elif (m := _JOB_DONE.search(line)) and m.group(1) in arn_of:
            seconds[arn_of[m.group(1)]] = float(m.group(2))
    return seconds


# --------------------------------------------------------------------------- latency

@dataclass
class Series:
    name: str
    tag: str  # short name; sent as X-Bench-Series when the servers are instrumented
    call: Callable[..., Any]
    params: list[dict[str, Any]]  # warm-up calls first, then the timed ones
    check: Callable[[Any], bool]
    samples: list[float]


def measure(series: list[Series], warmup: int, n: int, block: int) -> dict[str, float]:
    """Warm every series up, then time ``n`` calls each in interleaved blocks (the order
    rotates every round so no series always follows the same one).

    The client's own garbage collector is kept out of the figures as far as it can be:
    everything built so far is collected and frozen before the timed loop, and the full
    (generation 2) collections that still happen during it are counted and returned.
    """
    for s in series:
        for i, params in enumerate(s.params[:warmup]):
            resp = s.call(**params)
            if i == 0 and not s.check(resp):
                raise RuntimeError(f"{s.name}: unexpected response {resp}")
    gc.collect()
    gc.freeze()
    full: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info.get("generation") == 2:
            full.append(time.perf_counter() * (1 if phase == "stop" else -1))

    gc.callbacks.append(on_gc)
    perf = time.perf_counter
    rounds = (n + block - 1) // block
    try:
        for r in range(rounds):
            start, stop = warmup + r * block, warmup + min(n, (r + 1) * block)
            for k in range(len(series)):
                s = series[(r + k) % len(series)]
                call, samples = s.call, s.samples
                for params in s.params[start:stop]:
                    t = perf()
                    call(**params)
                    samples.append(perf() - t)
    finally:
        gc.callbacks.remove(on_gc)
        gc.unfreeze()
    return {"full_collections": len(full) // 2, "full_collection_ms": round(sum(full) * 1e3, 2)}


def _tagged(rt: Any, tag: str | None) -> Any:
    """Make ``rt`` send ``X-Bench-Series: tag`` (read by an instrumented server)."""
    if tag:
        rt.meta.events.register("before-sign.personalize-runtime",
                                lambda request, **_: request.headers.__setitem__(
                                    "X-Bench-Series", tag))
    return rt


def latency_phase(env: dict[str, str], key: Key, floor_endpoint: str,
                  campaigns: dict[str, str], users: list[str], items: list[str],
                  warmup: int, n: int, block: int, seed: int,
                  tag: bool) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    region = env["AWS_DEFAULT_REGION"]
    tailor_rt = env["AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME"]
    rng = random.Random(seed)
    total = warmup + n

    def rt(endpoint: str, name: str) -> Any:
        # the floor checks no signature; its clients sign with Tailor's key all the same
        return _tagged(client("personalize-runtime", endpoint, region, key),
                       name if tag else None)

    def user_params(campaign: str) -> list[dict[str, Any]]:
        return [{"campaignArn": campaign, "userId": rng.choice(users)} for _ in range(total)]

    def has_items(k: int) -> Callable[[Any], bool]:
        return lambda resp: len(resp["itemList"]) == k

    up = campaigns["aws-user-personalization"]
    series = [
        Series("floor: trivial handler, same server", "floor",
               rt(f"{floor_endpoint}/floor", "floor").get_recommendations,
               user_params(up), has_items(0), []),
        Series("GetRecommendations aws-user-personalization", "user-personalization",
               rt(tailor_rt, "user-personalization").get_recommendations,
               user_params(up), has_items(25), []),
        Series("GetRecommendations aws-popularity-count", "popularity-count",
               rt(tailor_rt, "popularity-count").get_recommendations,
               user_params(campaigns["aws-popularity-count"]), has_items(25), []),
        Series("GetRecommendations aws-sims", "sims", rt(tailor_rt, "sims").get_recommendations,
               [{"campaignArn": campaigns["aws-sims"], "itemId": rng.choice(items)}
                for _ in range(total)], lambda resp: len(resp["itemList"]) > 0, []),
        Series(f"GetPersonalizedRanking {RANKING_LIST} items", "personalized-ranking",
               rt(tailor_rt, "personalized-ranking").get_personalized_ranking,
               [{"campaignArn": campaigns["aws-personalized-ranking"],
                 "userId": rng.choice(users), "inputList": rng.sample(items, RANKING_LIST)}
                for _ in range(total)],
               lambda resp: len(resp["personalizedRanking"]) == RANKING_LIST, []),
        Series("boto3 alone (send stubbed, no network)", "boto3-alone",
               offline_runtime_client(region).get_recommendations,
               user_params(up), has_items(0), []),
    ]
    say(f"latency: {len(series)} series x ({warmup} warm-up + {n} timed) calls, "
        f"interleaved in blocks of {block}")
    client_gc = measure(series, warmup, n, block)
    return {s.name: summarize(s.samples) for s in series}, client_gc


# --------------------------------------------------------------------------- report

def _cmd(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10,
                              check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict[str, Any]:
    import botocore
    import chalice
    import moto
    import scipy

    model = next((line.split(":", 1)[1].strip() for line in _cmd(["lscpu"]).splitlines()
                  if line.startswith("Model name")), platform.processor())
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "0")
    return {
        "nproc": _cmd(["nproc"]) or str(os.cpu_count()), "cpu_model": model,
        "mem_total_gib": round(int(mem) / 2**20, 1), "platform": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__,
        "scipy": scipy.__version__, "boto3": boto3.__version__,
        "botocore": botocore.__version__, "chalice": chalice.__version__,
        "moto": moto.__version__, "loadavg_start": os.getloadavg(),
    }


def ratios(lat: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    floor = next(v for k, v in lat.items() if k.startswith("floor"))
    return {name: {f"{q}_ratio": round(v[f"{q}_ms"] / floor[f"{q}_ms"], 2)
                   for q in ("p50", "p90", "p99", "mean")}
            for name, v in lat.items() if not name.startswith("floor")}


def _short(metric: str) -> str:
    return (metric.replace("normalized_discounted_cumulative_gain", "ndcg")
            .replace("mean_reciprocal_rank", "mrr"))


def print_report(result: dict[str, Any]) -> None:
    print(f"\nMovieLens-100K: {result['data']['rows']:,} interactions, "
          f"{result['data']['users']} users, {result['data']['items']} items")
    print(f"{'recipe':28} {'import':>8} {'solution':>9} {'version':>8} "
          f"{'import->ACTIVE':>15} {'campaign':>9}")
    for w in result["workflow"]:
        print(f"{w['recipe']:28} {w['import_s']:7.2f}s {w['solution_s']:8.2f}s "
              f"{w['solution_version_s']:7.2f}s {w['import_to_version_active_s']:14.2f}s "
              f"{w['campaign_s']:8.2f}s")
    print("\nGetSolutionMetrics")
    for w in result["workflow"]:
        print(f"  {w['recipe']:28} " + "  ".join(
            f"{_short(k)}={v:.4f}" for k, v in sorted(w["metrics"].items())))
    lat, rat = result["latency"], result["ratios"]
    if not lat:
        return
    print(f"\n{'latency (ms), one boto3 client':46} {'p50':>7} {'p90':>7} {'p99':>7} "
          f"{'mean':>7} {'max':>7}  {'p50/floor':>9} {'p99/floor':>9}")
    for name, v in lat.items():
        r = rat.get(name, {})
        print(f"{name:46} {v['p50_ms']:7.3f} {v['p90_ms']:7.3f} {v['p99_ms']:7.3f} "
              f"{v['mean_ms']:7.3f} {v['max_ms']:7.2f}  "
              f"{r.get('p50_ratio', 1.0):9.2f} {r.get('p99_ratio', 1.0):9.2f}")
    gcs = result.get("client_gc", {})
    print(f"client: {gcs.get('full_collections', 0)} full GC(s) during the timed loop "
          f"({gcs.get('full_collection_ms', 0.0)} ms)")


# --------------------------------------------------------------------------- main

def _python_name() -> str:
    exe = Path(sys.executable)
    return str(exe.relative_to(ROOT)) if exe.is_relative_to(ROOT) else str(exe)


def read_interactions(path: Path) -> tuple[list[str], list[str], int]:
    users, items, rows = set(), set(), 0
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            users.add(row["USER_ID"])
            items.add(row["ITEM_ID"])
            rows += 1
    return sorted(users, key=int), sorted(items, key=int), rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--n", type=int, default=2000, help="timed calls per series")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up calls per series")
    parser.add_argument("--block", type=int, default=100,
                        help="calls per series per round of the interleaved loop")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--cache", type=Path, help="data cache (default $TAILOR_BENCH_CACHE "
                        "or ~/.cache/tailor-bench)")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES,
                        help="recipes to run the workflow for (latency needs all four)")
    parser.add_argument("--instrument", choices=("stages", "cprofile"),
                        help="run both servers instrumented (scripts/bench/instrument.py)")
    parser.add_argument("--instrument-dir", type=Path,
                        help="where --instrument writes (default <cache>/instrument)")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for both servers, e.g. "
                        "OPENBLAS_NUM_THREADS=1 (repeatable)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary data directory and server logs")
    args = parser.parse_args(argv)
    if not (1 <= args.n <= 100_000 and 0 <= args.warmup <= 10_000 and args.block >= 1):
        parser.error("--n must be 1..100000, --warmup 0..10000, --block >= 1")
    if any("=" not in kv for kv in args.server_env):
        parser.error("--server-env takes KEY=VALUE")
    extra_env = dict(kv.split("=", 1) for kv in args.server_env)

    started = time.perf_counter()
    csv_path = movielens_100k(args.cache)
    users, items, rows = read_interactions(csv_path)
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(), "machine": machine(),
        "command": " ".join([_python_name(), "-m", "scripts.bench.workflow",
                             *(argv if argv is not None else sys.argv[1:])]),
        "config": {"n": args.n, "warmup": args.warmup, "block": args.block, "seed": args.seed,
                   "poll_seconds": POLL_SECONDS, "ranking_list": RANKING_LIST,
                   "instrument": args.instrument, "server_env": extra_env},
        "data": {"source": "MovieLens-100K via recbole==1.2.1 wheel", "rows": rows,
                 "users": len(users), "items": len(items)},
        "targets": TARGETS,
    }
    tmp = Path(tempfile.mkdtemp(prefix="tailor-bench-"))
    inst_dir = None
    if args.instrument:
        inst_dir = (args.instrument_dir or (args.cache or default_cache()) / "instrument").resolve()
    servers: list[Server] = []
    try:
        tailor = start_server(
            "tailor", tailor_command(tmp / "data", args.instrument,
                                     inst_dir / "tailor" if inst_dir else None),
            server_env(tmp / "data", extra_env), tmp / "tailor.log")
        servers.append(tailor)
        floor = start_server(
            "floor", floor_command(args.instrument, inst_dir / "floor" if inst_dir else None),
            server_env(tmp / "floor-data", extra_env), tmp / "floor.log")
        servers.append(floor)
        env = tailor.info
        region = env["AWS_DEFAULT_REGION"]
        say(f"tailor at {env['AWS_ENDPOINT_URL_PERSONALIZE']}, moto at "
            f"{env['AWS_ENDPOINT_URL_S3']}, floor at {floor.info['endpoint']}")

        s3 = client("s3", env["AWS_ENDPOINT_URL_S3"], region, tailor.key)
        bucket, key = "tailor-bench-data", "ml-100k/interactions.csv"
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=key, Body=csv_path.read_bytes())
        pz = client("personalize", env["AWS_ENDPOINT_URL_PERSONALIZE"], region, tailor.key)
        schema = pz.create_schema(name=_name("schema"), schema=SCHEMA)["schemaArn"]

        workflow = [run_recipe(pz, schema, f"s3://{bucket}/{key}", recipe)
                    for recipe in args.recipes]
        jobs = server_job_seconds(tailor.log)
        for w in workflow:
            w["server_job_s"] = {what: jobs.get(arn) for what, arn in w["arns"].items()}
        result["workflow"] = workflow

        campaigns = {w["recipe"]: w["arns"]["campaign"] for w in workflow}
        if set(campaigns) == set(RECIPES):
            result["latency"], result["client_gc"] = latency_phase(
                env, tailor.key, floor.info["endpoint"], campaigns, users, items, args.warmup,
                args.n, args.block, args.seed, tag=bool(args.instrument))
            result["ratios"] = ratios(result["latency"])
        else:
            result["latency"], result["ratios"] = {}, {}
            say("latency skipped: it needs all four recipes")
    except BaseException:
        args.keep = True  # keep the server logs of a failed run
        raise
    finally:
        stop_servers(servers, tmp, args.keep)
    return finish(result, started, print_report, inst_dir, args.out)


def stop_servers(servers: list[Server], tmp: Path, keep: bool) -> None:
    """Stop the benchmark's servers; keep their data dir (and logs) only if asked."""
    for server in reversed(servers):
        stop_server(server)
    if keep:
        say(f"kept {tmp} (server logs: tailor.log, floor.log)")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def finish(result: dict[str, Any], started: float, report: Callable[[dict[str, Any]], None],
           inst_dir: Path | None, out: Path | None) -> int:
    """Record the end load and wall time, print the report, write the JSON."""
    result["machine"]["loadavg_end"] = os.getloadavg()
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    report(result)
    if inst_dir:
        print(f"\ninstrument results in {inst_dir}")
    if out:
        out.write_text(json.dumps(result, indent=2) + "\n")
        say(f"wrote {out}")
    say(f"done in {result['elapsed_s']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
