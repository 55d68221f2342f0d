"""Benchmark: serving speed of GetRecommendations / GetPersonalizedRanking on MovieLens-100K.

Run from the repository root::

    .venv/bin/python -m scripts.bench.serving --out serving.json
    .venv/bin/python -m scripts.bench.serving --quick          # a smoke run, ~35 s

What it does (everything on 127.0.0.1; the processes of this script are only boto3 clients):

1. takes ML-100K's interactions from the benchmark cache (``scripts/bench/data.py``) and
   writes an Items CSV (``ITEM_ID,GENRES``, genres ``|``-joined) from the ``ml-100k.item``
   file of the same recbole wheel;
2. starts ``tailor serve --processes 2`` (``--processes``) on a fresh data directory and
   the floor server
   (``scripts/bench/floor_server.py``: Tailor's app plus trivial routes answering with a
   constant, served the same way), with the helpers of ``scripts/bench/workflow.py``.
   Tailor runs with auth on, as ``tailor serve`` does by default: the clients sign with
   the key it printed (``--no-auth``: auth off). ``--compare-auth`` starts a second
   Tailor with ``--no-auth`` beside it, deploys the same on both and runs every Tailor
   series against both, interleaved, reporting auth on / auth off per series;
3. in one dataset group: imports Interactions and Items, trains and deploys
   aws-user-personalization and aws-personalized-ranking, and creates three filters:
   ``EXCLUDE ItemID WHERE Items.GENRES IN ($GENRE)`` (called with Drama, 725 of the 1,682
   items), ``EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("rating")`` (the user's rated
   items) and, for the promotion, ``INCLUDE ItemID WHERE Items.GENRES IN ($GENRE)``
   (called with Documentary, 50 items);
4. times the first call of every series (the model load and the filter tables are built
   then), then, with **one** boto3 client, warm-up plus N calls per series in interleaved
   blocks (``workflow.measure``): p50 / p90 / p99 and the ratio to the floor. Two floors:
   the empty one (an empty ``itemList``) and one whose constant answer has the size and
   shape of Tailor's (25 items; an inputList-sized ranking), so that boto3's work on a
   25-item answer is not counted as Tailor's. Each Tailor series is compared with the
   sized floor of its call (the target) and with the empty floor;
5. with **8 client processes** (multiprocessing, so that the clients' own CPU does not
   serialise on one GIL) each running one boto3 client in a closed loop: requests/s and
   latency per series, in timed windows that rotate through the series for several rounds.
   The clients run on the same 2 cores as the server; the CPU seconds of the server (all
   its processes), of the clients and of everything else on the machine are recorded for
   every window;
6. prints the figures and writes them as JSON to ``--out``.

The subprocesses are stopped in a ``finally``; every wait and loop is bounded.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scripts.bench.data import SCHEMA, _wheel, default_cache, movielens_100k
from scripts.bench.instrument import summarize
from scripts.bench.workflow import (
    ROLE,
    Series,
    Server,
    _name,
    _python_name,
    _tagged,
    client,
    finish,
    floor_command,
    machine,
    measure,
    read_interactions,
    say,
    server_env,
    start_server,
    stop_servers,
    tailor_command,
    wait_for,
)

ITEM_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.item"
ITEMS_CSV = "ml-100k-items.csv"
ITEMS_SCHEMA = json.dumps({
    "type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "ITEM_ID", "type": "string"},
               {"name": "GENRES", "type": ["null", "string"], "categorical": True}],
    "version": "1.0"})
RECIPES = ("aws-user-personalization", "aws-personalized-ranking")
FILTERS = {
    "genre": "EXCLUDE ItemID WHERE Items.GENRES IN ($GENRE)",
    "seen": 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("rating")',
    "promo": "INCLUDE ItemID WHERE Items.GENRES IN ($GENRE)",
}
EXCLUDED_GENRE, PROMOTED_GENRE, PROMOTED_PERCENT = "Drama", "Documentary", 20
NUM_RESULTS = 25
# The floors (scripts/bench/floor_server.py): a constant empty answer, and constant answers
# the size of Tailor's (each Tailor series is compared with the one of its call).
EMPTY_FLOOR = "floor: trivial handler, same server"
SIZED_FLOORS = {"get_recommendations": "floor: answer sized like GetRecommendations'",
                "get_personalized_ranking": "floor: answer sized like GetPersonalizedRanking's"}
TARGETS = {"p99_over_floor_1_client": 2.0, "requests_per_s_8_clients": 500.0}
# --compare-auth: the series of the second Tailor (tailor serve --no-auth) are named so.
AUTH_OFF = " [auth off]"
# ... and the cost of auth, auth on / auth off, may be at most this (issue #12).
AUTH_COST_TARGET = 1.05
PARAMS_PER_WORKER = 1000  # request parameter sets per series and client process (cycled)
TICK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- data

def items_csv(cache: Path | None, out_dir: Path) -> tuple[Path, dict[str, set[str]]]:
    """ML-100K's item file as an Items CSV; returns it and genre -> item ids."""
    with zipfile.ZipFile(_wheel(cache or default_cache())) as zf:
        lines = zf.read(ITEM_MEMBER).decode("utf-8").splitlines()
    if lines[0].split("\t") != ["item_id:token", "movie_title:token_seq",
                                "release_year:token", "class:token_seq"]:
        raise RuntimeError(f"unexpected header in {ITEM_MEMBER}: {lines[0]!r}")
    by_genre: dict[str, set[str]] = {}
    out = out_dir / ITEMS_CSV
    with out.open("w") as fh:
        fh.write("ITEM_ID,GENRES\n")
        for line in lines[1:]:
            item, _, _, classes = line.split("\t")
            genres = classes.split()
            for g in genres:
                by_genre.setdefault(g, set()).add(item)
            fh.write(f"{item},{'|'.join(genres)}\n")
    say(f"items: {len(lines) - 1} items, {len(by_genre)} genres -> {out}")
    return out, by_genre


def rated(interactions: Path, newest: int = 50) -> dict[str, list[str]]:
    """user -> the user's ``newest`` rated items: the Interactions filter must exclude
    them (it reads the newest 100 events per type)."""
    events: dict[str, list[tuple[int, str]]] = {}
    with interactions.open(newline="") as fh:
        for row in csv.DictReader(fh):
            events.setdefault(row["USER_ID"], []).append((int(row["TIMESTAMP"]),
                                                          row["ITEM_ID"]))
    return {user: [item for _, item in sorted(e, reverse=True)[:newest]]
            for user, e in events.items()}


# --------------------------------------------------------------------------- setup

def deploy(pz: Any, s3: Any, interactions: Path, items: Path) -> dict[str, Any]:
    """One dataset group: both datasets imported, both recipes deployed, the filters
    ACTIVE. Returns the ARNs and the wall time of each step."""
    bucket = "tailor-bench-serving"
    s3.create_bucket(Bucket=bucket)
    steps: dict[str, float] = {}
    t = time.perf_counter()
    group = pz.create_dataset_group(name=_name("g"))["datasetGroupArn"]
    wait_for(lambda: pz.describe_dataset_group(datasetGroupArn=group)["datasetGroup"], group)
    jobs = []
    for kind, schema, path in (("Interactions", SCHEMA, interactions),
                               ("Items", ITEMS_SCHEMA, items)):
        key = f"ml-100k/{path.name}"
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        schema_arn = pz.create_schema(name=_name(kind.lower()), schema=schema)["schemaArn"]
        dataset = pz.create_dataset(name=_name(kind.lower()), datasetGroupArn=group,
                                    datasetType=kind, schemaArn=schema_arn)["datasetArn"]
        wait_for(lambda d=dataset: pz.describe_dataset(datasetArn=d)["dataset"], dataset)
        jobs.append(pz.create_dataset_import_job(
            jobName=_name("imp"), datasetArn=dataset,
            dataSource={"dataLocation": f"s3://{bucket}/{key}"},
            roleArn=ROLE)["datasetImportJobArn"])
    for job in jobs:
        wait_for(lambda j=job: pz.describe_dataset_import_job(
            datasetImportJobArn=j)["datasetImportJob"], job)
    steps["imports_s"] = time.perf_counter() - t
    say(f"imported interactions and items in {steps['imports_s']:.2f}s")

    campaigns = {}
    for recipe in RECIPES:
        t = time.perf_counter()
        solution = pz.create_solution(
            name=_name("sol"), datasetGroupArn=group, performAutoTraining=False,
            recipeArn=f"arn:aws:personalize:::recipe/{recipe}")["solutionArn"]
        wait_for(lambda s=solution: pz.describe_solution(solutionArn=s)["solution"], solution)
        version = pz.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        wait_for(lambda v=version: pz.describe_solution_version(
            solutionVersionArn=v)["solutionVersion"], version)
        campaign = pz.create_campaign(name=_name("c"), solutionVersionArn=version,
                                      minProvisionedTPS=1)["campaignArn"]
        wait_for(lambda c=campaign: pz.describe_campaign(campaignArn=c)["campaign"], campaign)
        campaigns[recipe] = campaign
        steps[f"{recipe}_train_and_deploy_s"] = time.perf_counter() - t
        say(f"{recipe}: trained and deployed in {steps[f'{recipe}_train_and_deploy_s']:.2f}s")

    filters = {}
    for key, expression in FILTERS.items():
        arn = pz.create_filter(name=_name(f"f-{key}"), datasetGroupArn=group,
                               filterExpression=expression)["filterArn"]
        wait_for(lambda a=arn: pz.describe_filter(filterArn=a)["filter"], arn)
        filters[key] = arn
    say(f"filters ACTIVE: {', '.join(FILTERS)}")
    return {"group": group, "campaigns": campaigns, "filters": filters, "steps": steps}


def deploy_on(tailor: Server, interactions: Path, items: Path) -> dict[str, Any]:
    """:func:`deploy` on ``tailor``, signing with the key it printed."""
    env = tailor.info
    region = env["AWS_DEFAULT_REGION"]
    pz = client("personalize", env["AWS_ENDPOINT_URL_PERSONALIZE"], region, tailor.key)
    s3 = client("s3", env["AWS_ENDPOINT_URL_S3"], region, tailor.key)
    return deploy(pz, s3, interactions, items)


# --------------------------------------------------------------------------- series

@dataclass
class Spec:
    """One measured series: which server, which call, the parameters, a sanity check."""

    name: str
    tag: str
    target: str  # "tailor", "floor" (the empty floor) or "floor-sized"
    method: str
    params: list[dict[str, Any]]
    check: Callable[[Any], bool]


def _quoted(value: str) -> str:
    return json.dumps(value)


def specs(cfg: dict[str, Any], rng: random.Random, count: int) -> list[Spec]:
    """The series, each with ``count`` parameter sets drawn from ``rng``. With a second
    Tailor (``cfg["twin"]``, ``--compare-auth``), each Tailor series is followed by its
    twin on that server, with the same users and items (its own ARNs)."""
    state = rng.getstate()
    ours = _specs(cfg, rng, count)
    if not cfg.get("twin"):
        return ours
    again = random.Random()
    again.setstate(state)
    twins = iter(replace(t, name=t.name + AUTH_OFF, tag=t.tag + "-noauth",
                         target="tailor-noauth")
                 for t in _specs({**cfg, **cfg["twin"]}, again, count) if t.target == "tailor")
    return [x for s in ours for x in ((s, next(twins)) if s.target == "tailor" else (s,))]


def _specs(cfg: dict[str, Any], rng: random.Random, count: int) -> list[Spec]:
    up, pr = cfg["campaigns"]["aws-user-personalization"], cfg["campaigns"][
        "aws-personalized-ranking"]
    users, items, size = cfg["users"], cfg["items"], cfg["ranking_list"]
    excluded, promoted = set(cfg["excluded_items"]), set(cfg["promoted_items"])
    seen = cfg["rated"]
    genre = {"GENRE": _quoted(EXCLUDED_GENRE)}
    promotion = [{"name": "documentaries", "percentPromotedItems": PROMOTED_PERCENT,
                  "filterArn": cfg["filters"]["promo"],
                  "filterValues": {"GENRE": _quoted(PROMOTED_GENRE)}}]

    def rec(**extra: Any) -> list[dict[str, Any]]:
        return [{"campaignArn": up, "userId": rng.choice(users), "numResults": NUM_RESULTS,
                 **extra} for _ in range(count)]

    def rank(**extra: Any) -> list[dict[str, Any]]:
        return [{"campaignArn": pr, "userId": rng.choice(users),
                 "inputList": rng.sample(items, size), **extra} for _ in range(count)]

    def listed(resp: Any) -> list[str]:
        return [i["itemId"] for i in resp["itemList"]]

    def unseen(user: str) -> Callable[[Any], bool]:
        return lambda resp: (len(listed(resp)) == NUM_RESULTS and
                             not set(listed(resp)) & set(seen[user]))

    def promoted_ok(resp: Any) -> bool:
        marked = [i["itemId"] for i in resp["itemList"] if i.get("promotionName")]
        rest = [i["itemId"] for i in resp["itemList"] if not i.get("promotionName")]
        return (len(resp["itemList"]) == NUM_RESULTS and 0 < len(marked) and
                set(marked) <= promoted and not set(rest) & excluded)

    def ranked_filtered(resp: Any) -> bool:
        out = [i["itemId"] for i in resp["personalizedRanking"]]
        return 0 < len(out) < size and not set(out) & excluded

    by_seen = rec(filterArn=cfg["filters"]["seen"])
    return [
        Spec(EMPTY_FLOOR, "floor", "floor", "get_recommendations",
             rec(), lambda r: r["itemList"] == []),
        Spec(SIZED_FLOORS["get_recommendations"], "floor-rec", "floor-sized",
             "get_recommendations", rec(), lambda r: len(listed(r)) == NUM_RESULTS),
        Spec(SIZED_FLOORS["get_personalized_ranking"], "floor-rank", "floor-sized",
             "get_personalized_ranking", rank(),
             lambda r: len(r["personalizedRanking"]) == size),
        Spec("GetRecommendations", "rec", "tailor", "get_recommendations", rec(),
             lambda r: len(listed(r)) == NUM_RESULTS),
        Spec(f"GetRecommendations + filter (Items.GENRES, {EXCLUDED_GENRE})", "rec-filter",
             "tailor", "get_recommendations",
             rec(filterArn=cfg["filters"]["genre"], filterValues=genre),
             lambda r: len(listed(r)) == NUM_RESULTS and not set(listed(r)) & excluded),
        Spec("GetRecommendations + filter (Interactions)", "rec-seen", "tailor",
             "get_recommendations", by_seen, unseen(by_seen[0]["userId"])),
        Spec(f"GetRecommendations + filter + promotion ({PROMOTED_PERCENT}%)", "rec-promo",
             "tailor", "get_recommendations",
             rec(filterArn=cfg["filters"]["genre"], filterValues=genre, promotions=promotion),
             promoted_ok),
        Spec(f"GetPersonalizedRanking {size} items", "rank", "tailor",
             "get_personalized_ranking", rank(),
             lambda r: len(r["personalizedRanking"]) == size),
        Spec(f"GetPersonalizedRanking {size} items + filter", "rank-filter", "tailor",
             "get_personalized_ranking",
             rank(filterArn=cfg["filters"]["genre"], filterValues=genre), ranked_filtered),
    ]


def _clients(cfg: dict[str, Any], tag: str | None = None) -> dict[str, Any]:
    """The runtime clients, by target, each signing with its server's key (the floor
    checks none); with ``tag`` they send it as X-Bench-Series (instrumented runs)."""
    region, key = cfg["region"], cfg["key"]
    out = {"tailor": _tagged(client("personalize-runtime", cfg["tailor"], region, key), tag),
           **{target: _tagged(client("personalize-runtime", f"{cfg['floor']}/{target}",
                                     region, key), tag)
              for target in ("floor", "floor-sized")}}
    if twin := cfg.get("twin"):
        out["tailor-noauth"] = _tagged(client("personalize-runtime", twin["tailor"], region,
                                              twin["key"]), tag)
    return out


def first_calls(cfg: dict[str, Any]) -> dict[str, float]:
    """ms of the first call of each series in a fresh server: it loads the model and
    builds the filter tables and masks that every later call reuses."""
    rts, out = _clients(cfg), {}
    for s in specs(cfg, random.Random(cfg["seed"] - 1), 1):
        call = getattr(rts[s.target], s.method)
        t = time.perf_counter()
        resp = call(**s.params[0])
        out[s.name] = round((time.perf_counter() - t) * 1e3, 3)
        if not s.check(resp):
            raise RuntimeError(f"{s.name}: unexpected response {resp}")
    return out


def one_client(cfg: dict[str, Any], pids: dict[str, int], warmup: int, n: int, block: int,
               ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Latency with one client (this process). Also returns the client's full garbage
    collections and the CPU the rest of the machine used meanwhile (``other_cores``)."""
    series = []
    for s in specs(cfg, random.Random(cfg["seed"]), warmup + n):
        rt = _clients(cfg, s.tag if cfg["instrument"] else None)[s.target]
        series.append(Series(s.name, s.tag, getattr(rt, s.method), s.params, s.check, []))
    say(f"1 client: {len(series)} series x ({warmup} warm-up + {n} timed) calls, "
        f"interleaved in blocks of {block}")
    ours = lambda: sum(_proc_cpu(pid) for pid in set(pids.values())) + time.process_time()  # noqa: E731
    wall, cpu, (busy, _) = time.perf_counter(), ours(), _machine_cpu()
    client_gc = measure(series, warmup, n, block)
    wall, cpu, busy = time.perf_counter() - wall, ours() - cpu, _machine_cpu()[0] - busy
    client_gc.update(other_cores=round((busy - cpu) / wall, 2),
                     machine_busy_cores=round(busy / wall, 2))
    return {s.name: summarize(s.samples) for s in series}, client_gc


# --------------------------------------------------------------------------- 8 clients

def _worker(index: int, cfg: dict[str, Any], warmup: int, conn: Any) -> None:
    """One client process: builds its clients and parameters, warms every series up,
    then runs one timed window per ("run", name, t0, seconds) message."""
    try:
        rts = _clients(cfg)
        series = {s.name: s for s in specs(cfg, random.Random(cfg["seed"] * 1000 + index),
                                           PARAMS_PER_WORKER)}
        for s in series.values():
            call = getattr(rts[s.target], s.method)
            for params in s.params[:warmup]:
                call(**params)
        conn.send(("ready", index))
        perf = time.perf_counter
        while True:
            msg = conn.recv()
            if msg[0] != "run":
                break
            _, name, t0, seconds = msg
            s = series[name]
            call, params, end = getattr(rts[s.target], s.method), s.params, t0 + seconds
            latencies: list[float] = []
            while perf() < t0:
                time.sleep(0.0005)
            cpu, i = time.process_time(), 0
            while True:
                t = perf()
                call(**params[i % len(params)])
                done = perf()
                if done > end:  # a call that ends after the window is not counted
                    break
                latencies.append(done - t)
                i += 1
            conn.send(("done", latencies, time.process_time() - cpu))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails
        conn.send(("error", f"client {index}: {type(exc).__name__}: {exc}"))


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of process ``pid`` and its descendants
    (a server's serving children and its moto; moto is idle while requests are timed)."""
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, CPU seconds)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # exited meanwhile
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    children: dict[int, list[int]] = {}
    for child, (parent, _) in stats.items():
        children.setdefault(parent, []).append(child)
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += stats[p][1] if p in stats else 0.0
        todo += children.get(p, [])
    return total


def _machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq) / TICK, steal / TICK


def _recv(conn: Any, timeout: float) -> Any:
    if not conn.poll(timeout):
        raise RuntimeError(f"a client process gave no answer within {timeout:.0f}s")
    msg = conn.recv()
    if msg[0] == "error":
        raise RuntimeError(msg[1])
    return msg


def eight_clients(cfg: dict[str, Any], pids: dict[str, int], clients: int, warmup: int,
                  seconds: float, rounds: int) -> dict[str, dict[str, Any]]:
    """Closed-loop load: ``clients`` processes call the same series at once for
    ``seconds``, series after series, ``rounds`` times (the order rotates)."""
    targets = {s.name: s.target for s in specs(cfg, random.Random(0), 1)}
    names = list(targets)
    ctx = mp.get_context("fork")
    pipes, procs = [], []
    say(f"{clients} clients: starting {clients} processes (warm-up {warmup} calls per series)")
    try:
        for i in range(clients):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(i, cfg, warmup, child), daemon=True)
            proc.start()
            pipes.append(parent)
            procs.append(proc)
        for conn in pipes:
            _recv(conn, 120)
        raw: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for r in range(rounds):
            for k in range(len(names)):
                name = names[(r + k) % len(names)]
                raw[name].append(_window(pipes, pids[targets[name]], name, seconds))
                w = raw[name][-1]
                say(f"  round {r + 1}/{rounds} {name}: {w['requests_per_s']:.0f} req/s, "
                    f"p99 {w['p99_ms']:.2f} ms")
        for conn in pipes:
            conn.send(("stop",))
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    return {name: _combine(windows, seconds) for name, windows in raw.items()}


def _window(pipes: list[Any], server: int, name: str, seconds: float) -> dict[str, Any]:
    t0 = time.perf_counter() + 0.05
    for conn in pipes:
        conn.send(("run", name, t0, seconds))
    time.sleep(max(0.0, t0 - time.perf_counter()))
    cpu0, (busy0, steal0) = _proc_cpu(server), _machine_cpu()
    time.sleep(seconds)
    cpu1, (busy1, steal1) = _proc_cpu(server), _machine_cpu()
    results = [_recv(conn, seconds + 60) for conn in pipes]
    latencies = [x for _, lat, _ in results for x in lat]
    client_cpu = sum(c for _, _, c in results)
    calls = len(latencies)
    server_cpu, busy = cpu1 - cpu0, busy1 - busy0
    return {"calls": calls, "requests_per_s": calls / seconds, "latencies": latencies,
            "server_cpu_s": server_cpu, "client_cpu_s": client_cpu, "busy_cpu_s": busy,
            "steal_s": steal1 - steal0, "p99_ms": summarize(latencies).get("p99_ms", 0.0)}


def _combine(windows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    calls = sum(w["calls"] for w in windows)
    total = seconds * len(windows)
    per_call = (lambda key: round(sum(w[key] for w in windows) / calls * 1e3, 3)) \
        if calls else (lambda key: 0.0)
    return {
        "requests_per_s": round(calls / total, 1),
        "requests_per_s_windows": [round(w["requests_per_s"], 1) for w in windows],
        "latency": summarize([x for w in windows for x in w["latencies"]]),
        "server_cpu_ms_per_request": per_call("server_cpu_s"),
        "client_cpu_ms_per_request": per_call("client_cpu_s"),
        # the whole machine's busy CPU, in cores, and the part neither server nor clients used
        "machine_busy_cores": round(sum(w["busy_cpu_s"] for w in windows) / total, 2),
        "other_cores": round(sum(w["busy_cpu_s"] - w["server_cpu_s"] - w["client_cpu_s"]
                                 for w in windows) / total, 2),
        "server_cores": round(sum(w["server_cpu_s"] for w in windows) / total, 2),
        "client_cores": round(sum(w["client_cpu_s"] for w in windows) / total, 2),
        "steal_cores": round(sum(w["steal_s"] for w in windows) / total, 2),
        "seconds": total,
    }


# --------------------------------------------------------------------------- report

def verdict(result: dict[str, Any]) -> dict[str, Any]:
    """The targets. The one-client ratio is taken against the floor whose answer has the
    size of the series' (``floor_of``), and also, as before, against the empty floor."""
    one, eight, floor_of = result["one_client"], result["eight_clients"], result["floor_of"]

    def ratios(floor: Callable[[str], dict[str, float]]) -> dict[str, dict[str, float]]:
        return {k: {q: round(v[f"{q}_ms"] / floor(k)[f"{q}_ms"], 2) for q in ("p50", "p99")}
                for k, v in one.items() if k in floor_of}

    sized = ratios(lambda k: one[floor_of[k]])
    empty = ratios(lambda k: one[EMPTY_FLOOR])
    target = TARGETS["p99_over_floor_1_client"]
    out: dict[str, Any] = {"ratios_1_client": sized, "ratios_1_client_empty_floor": empty}
    # The server as configured; with --compare-auth also the auth-off twin ("_auth_off").
    for suffix, off in (("", False), ("_auth_off", True)):
        names = [k for k in floor_of if k.endswith(AUTH_OFF) == off]
        if not names:
            continue
        worst, worst_empty = (max(x[k]["p99"] for k in names) for x in (sized, empty))
        tailor_rps = [eight[k]["requests_per_s"] for k in names if k in eight]
        lowest = min(tailor_rps) if tailor_rps else 0.0
        out.update({
            f"p99_over_floor_worst{suffix}": worst, f"p99_target_met{suffix}": worst <= target,
            f"p99_over_empty_floor_worst{suffix}": worst_empty,
            f"p99_target_met_empty_floor{suffix}": worst_empty <= target,
            f"requests_per_s_lowest{suffix}": lowest,
            f"throughput_target_met{suffix}": (lowest >= TARGETS["requests_per_s_8_clients"]
                                               if tailor_rps else None)})
    if any(k.endswith(AUTH_OFF) for k in floor_of):
        out["auth_cost"] = auth_cost(result)
    return out


def auth_cost(result: dict[str, Any]) -> dict[str, Any]:
    """``--compare-auth``: per Tailor series, auth on / auth off of the one-client p50 and
    p99, of the 8-client requests/s and of the server's CPU per request (8 clients); then
    the median of each over the series, and the verdict against a 5 % cost (latency and
    CPU ratios <= 1.05, requests/s ratio >= 1 / 1.05)."""
    one, eight = result["one_client"], result["eight_clients"]
    series: dict[str, dict[str, float]] = {}
    for name in result["floor_of"]:
        off = name + AUTH_OFF
        if off not in one:
            continue
        r = {q: round(one[name][f"{q}_ms"] / one[off][f"{q}_ms"], 3) for q in ("p50", "p99")}
        if name in eight and off in eight:
            r["requests_per_s"] = round(eight[name]["requests_per_s"] /
                                        eight[off]["requests_per_s"], 3)
            cpu_off = eight[off]["server_cpu_ms_per_request"]
            if cpu_off:
                r["server_cpu_ms_per_request"] = round(
                    eight[name]["server_cpu_ms_per_request"] / cpu_off, 3)
        series[name] = r
    keys = sorted({k for r in series.values() for k in r})
    median = {k: round(float(statistics.median(r[k] for r in series.values() if k in r)), 3)
              for k in keys}
    met = {k: (v >= 1 / AUTH_COST_TARGET if k == "requests_per_s" else v <= AUTH_COST_TARGET)
           for k, v in median.items()}
    return {"series": series, "median": median, "met": met, "all_met": all(met.values())}


def print_report(result: dict[str, Any]) -> None:
    one, eight, v = result["one_client"], result["eight_clients"], result["verdict"]
    first = result["first_calls_ms"]
    print(f"\n{'1 client (ms)':58} {'first':>7} {'p50':>7} {'p90':>7} {'p99':>7} "
          f"{'max':>7} {'p50/fl':>7} {'p99/fl':>7} {'p99/empty':>9}")
    for name, s in one.items():
        r = v["ratios_1_client"].get(name, {"p50": 1.0, "p99": 1.0})
        e = v["ratios_1_client_empty_floor"].get(name, {"p99": 1.0})
        print(f"{name:58} {first.get(name, 0):7.2f} {s['p50_ms']:7.3f} {s['p90_ms']:7.3f} "
              f"{s['p99_ms']:7.3f} {s['max_ms']:7.2f} {r['p50']:7.2f} {r['p99']:7.2f} "
              f"{e['p99']:9.2f}")
    print("(p50/fl, p99/fl: against the floor with an answer of the same size; p99/empty: "
          "against the empty floor)")
    if eight:
        n = result["config"]["clients"]
        print(f"\n{f'{n} client processes':58} {'req/s':>7} {'p50':>7} {'p99':>7} "
              f"{'srv ms':>7} {'cli ms':>7} {'cores s/c/o':>14}")
        for name, s in eight.items():
            print(f"{name:58} {s['requests_per_s']:7.0f} {s['latency']['p50_ms']:7.2f} "
                  f"{s['latency']['p99_ms']:7.2f} {s['server_cpu_ms_per_request']:7.3f} "
                  f"{s['client_cpu_ms_per_request']:7.3f} {s['server_cores']:4.2f}/"
                  f"{s['client_cores']:4.2f}/{s['other_cores']:4.2f}")
        print("(srv/cli ms: CPU per request of the server / of all clients; cores: "
              "server/clients/other processes, on a machine of "
              f"{result['machine']['nproc']} CPUs shared by all of them)")
    gcs = result["client_gc"]
    print(f"1 client: machine busy {gcs['machine_busy_cores']} cores, of which "
          f"{gcs['other_cores']} by other processes; {gcs['full_collections']} full GC(s) "
          "in the client")
    print(f"\np99 / floor p99, worst series: {v['p99_over_floor_worst']:.2f} "
          f"(target <= {TARGETS['p99_over_floor_1_client']}): "
          f"{'met' if v['p99_target_met'] else 'NOT met'}; against the empty floor: "
          f"{v['p99_over_empty_floor_worst']:.2f}, "
          f"{'met' if v['p99_target_met_empty_floor'] else 'NOT met'}")
    if eight:
        print(f"{result['config']['clients']} clients, lowest Tailor series: "
              f"{v['requests_per_s_lowest']:.0f} req/s (target >= "
              f"{TARGETS['requests_per_s_8_clients']:.0f}): "
              f"{'met' if v['throughput_target_met'] else 'NOT met'}")
    if "auth_cost" in v:
        _print_auth_cost(result)


def _print_auth_cost(result: dict[str, Any]) -> None:
    v, one, eight = result["verdict"], result["one_client"], result["eight_clients"]
    cost = v["auth_cost"]
    print(f"\n{'auth on / auth off':50} {'p50':>13} {'p99':>13} {'req/s':>11} "
          f"{'srv ms':>13}   ratios: p50   p99 req/s srv ms")
    for name, r in cost["series"].items():
        off = name + AUTH_OFF
        on_off = lambda d, k, a=name, b=off: f"{d[a][k]:6.3f}/{d[b][k]:6.3f}"  # noqa: E731
        rps = (f"{eight[name]['requests_per_s']:5.0f}/{eight[off]['requests_per_s']:5.0f}"
               if "requests_per_s" in r else "")
        srv = (on_off(eight, "server_cpu_ms_per_request")
               if "server_cpu_ms_per_request" in r else "")
        print(f"{name[:50]:50} {on_off(one, 'p50_ms'):>13} {on_off(one, 'p99_ms'):>13} "
              f"{rps:>11} {srv:>13}  " + " ".join(
                  f"{r[k]:5.2f}" if k in r else "    -" for k in
                  ("p50", "p99", "requests_per_s", "server_cpu_ms_per_request")))
    print("median over the series: " + ", ".join(
        f"{k} {x:.3f} ({'met' if cost['met'][k] else 'NOT met'})"
        for k, x in cost["median"].items()) +
        f" (target: auth costs <= {AUTH_COST_TARGET - 1:.0%})")
    for label, suffix in (("auth on", ""), ("auth off", "_auth_off")):
        line = (f"{label}: worst p99 / sized floor {v['p99_over_floor_worst' + suffix]:.2f}, "
                f"/ empty floor {v['p99_over_empty_floor_worst' + suffix]:.2f}")
        if eight:
            line += f"; lowest req/s {v['requests_per_s_lowest' + suffix]:.0f}"
        print(line)


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run: fewer calls, shorter windows, one round")
    parser.add_argument("--n", type=int, help="timed calls per series, 1 client (2000)")
    parser.add_argument("--warmup", type=int, help="warm-up calls per series (200)")
    parser.add_argument("--block", type=int, default=100,
                        help="calls per series per round of the 1-client loop")
    parser.add_argument("--clients", type=int, default=8, help="client processes")
    parser.add_argument("--seconds", type=float, help="length of one window (3)")
    parser.add_argument("--rounds", type=int, help="windows per series (3)")
    parser.add_argument("--ranking-list", type=int, default=50,
                        help="items in GetPersonalizedRanking's inputList")
    parser.add_argument("--processes", type=int, default=2,
                        help="Tailor's serving processes (tailor serve --processes; 2)")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--no-auth", action="store_true",
                      help="run Tailor with auth off (tailor serve --no-auth); the default is "
                      "auth on, signing with the key tailor serve prints")
    auth.add_argument("--compare-auth", action="store_true",
                      help="also start a second Tailor with auth off and run every Tailor "
                      "series against both, interleaved: auth on / auth off side by side")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--cache", type=Path, help="data cache (default $TAILOR_BENCH_CACHE "
                        "or ~/.cache/tailor-bench)")
    parser.add_argument("--instrument", choices=("stages", "cprofile"),
                        help="run both servers instrumented (scripts/bench/instrument.py) "
                        "and skip the multi-client phase")
    parser.add_argument("--instrument-dir", type=Path,
                        help="where --instrument writes (default <cache>/instrument-serving)")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for both servers (repeatable)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary data directory and server logs")
    args = parser.parse_args(argv)
    quick = args.quick
    n = args.n or (300 if quick else 2000)
    warmup = args.warmup if args.warmup is not None else (30 if quick else 200)
    seconds = args.seconds or (1.0 if quick else 3.0)
    rounds = args.rounds or (1 if quick else 3)
    if not (1 <= n <= 100_000 and 0 <= warmup <= 1000 and 1 <= args.clients <= 64
            and 1 <= args.processes <= 64
            and 0.2 <= seconds <= 60 and 1 <= rounds <= 20 and 2 <= args.ranking_list <= 500):
        parser.error("out of range: --n 1..100000, --warmup 0..1000, --clients 1..64, "
                     "--processes 1..64, "
                     "--seconds 0.2..60, --rounds 1..20, --ranking-list 2..500")
    if any("=" not in kv for kv in args.server_env):
        parser.error("--server-env takes KEY=VALUE")
    extra_env = {"TAILOR_SERVE_PROCESSES": str(args.processes),
                 **dict(kv.split("=", 1) for kv in args.server_env)}

    started = time.perf_counter()
    interactions = movielens_100k(args.cache)
    users, items, rows = read_interactions(interactions)
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
        "command": " ".join([_python_name(), "-m", "scripts.bench.serving",
                             *(argv if argv is not None else sys.argv[1:])]),
        "config": {"n": n, "warmup": warmup, "block": args.block, "clients": args.clients,
                   "seconds": seconds, "rounds": rounds, "ranking_list": args.ranking_list,
                   "num_results": NUM_RESULTS, "seed": args.seed, "filters": FILTERS,
                   "excluded_genre": EXCLUDED_GENRE, "promoted_genre": PROMOTED_GENRE,
                   "promoted_percent": PROMOTED_PERCENT, "instrument": args.instrument,
                   "processes": args.processes,
                   "auth": "compare" if args.compare_auth else "off" if args.no_auth else "on",
                   "server_env": extra_env},
        "targets": TARGETS,
    }
    tmp = Path(tempfile.mkdtemp(prefix="tailor-serving-"))
    inst = None
    if args.instrument:
        inst = (args.instrument_dir or (args.cache or default_cache()) /
                "instrument-serving").resolve()
    servers: list[Server] = []
    try:
        items_path, by_genre = items_csv(args.cache, tmp)
        result["data"] = {"source": "MovieLens-100K via recbole==1.2.1 wheel",
                          "rows": rows, "users": len(users), "items": len(items),
                          f"{EXCLUDED_GENRE}_items": len(by_genre[EXCLUDED_GENRE]),
                          f"{PROMOTED_GENRE}_items": len(by_genre[PROMOTED_GENRE])}
        tailor = start_server(
            "tailor", tailor_command(tmp / "data", args.instrument, inst and inst / "tailor",
                                     *(["--no-auth"] if args.no_auth else [])),
            server_env(tmp / "data", extra_env), tmp / "tailor.log")
        servers.append(tailor)
        twin = None
        if args.compare_auth:
            twin = start_server(
                "tailor-noauth", tailor_command(tmp / "data-noauth", args.instrument,
                                                inst and inst / "tailor-noauth", "--no-auth"),
                server_env(tmp / "data-noauth", extra_env), tmp / "tailor-noauth.log")
            servers.append(twin)
        floor = start_server("floor", floor_command(args.instrument, inst and inst / "floor",
                                                    "--results", str(NUM_RESULTS),
                                                    "--ranking-items", str(args.ranking_list)),
                             server_env(tmp / "floor-data", extra_env), tmp / "floor.log")
        servers.append(floor)
        env = tailor.info
        region = env["AWS_DEFAULT_REGION"]
        say(f"tailor at {env['AWS_ENDPOINT_URL_PERSONALIZE']} (pid {tailor.proc.pid}, auth "
            f"{'off' if args.no_auth else 'on'}), floor at {floor.info['endpoint']} "
            f"(pid {floor.proc.pid})" + (f", tailor with auth off at "
                                          f"{twin.info['AWS_ENDPOINT_URL_PERSONALIZE']} "
                                          f"(pid {twin.proc.pid})" if twin else ""))
        setup = deploy_on(tailor, interactions, items_path)
        result["setup"] = setup
        cfg = {"tailor": env["AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME"], "key": tailor.key,
               "floor": floor.info["endpoint"], "region": region,
               "campaigns": setup["campaigns"], "filters": setup["filters"],
               "users": users, "items": items, "ranking_list": args.ranking_list,
               "seed": args.seed, "rated": rated(interactions),
               "instrument": args.instrument,
               "excluded_items": sorted(by_genre[EXCLUDED_GENRE]),
               "promoted_items": sorted(by_genre[PROMOTED_GENRE])}
        pids = {"tailor": tailor.proc.pid, "floor": floor.proc.pid,
                "floor-sized": floor.proc.pid}
        if twin:
            twin_setup = deploy_on(twin, interactions, items_path)
            result["setup_auth_off"] = twin_setup
            cfg["twin"] = {"tailor": twin.info["AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME"],
                           "key": twin.key, "campaigns": twin_setup["campaigns"],
                           "filters": twin_setup["filters"]}
            pids["tailor-noauth"] = twin.proc.pid
        result["floor_of"] = {s.name: SIZED_FLOORS[s.method]
                              for s in specs(cfg, random.Random(0), 1)
                              if s.target.startswith("tailor")}
        result["first_calls_ms"] = first_calls(cfg)
        say("first calls (ms): " + ", ".join(f"{k.split(' (')[0]} {v:.1f}"
                                              for k, v in result["first_calls_ms"].items()))
        result["one_client"], result["client_gc"] = one_client(cfg, pids, warmup, n,
                                                               args.block)
        result["eight_clients"] = {} if args.instrument else eight_clients(
            cfg, pids, args.clients, min(warmup, 50), seconds, rounds)
        result["verdict"] = verdict(result)
    except BaseException:
        args.keep = True  # keep the server logs of a failed run
        raise
    finally:
        stop_servers(servers, tmp, args.keep)
    return finish(result, started, print_report, inst, args.out)


if __name__ == "__main__":
    sys.exit(main())
