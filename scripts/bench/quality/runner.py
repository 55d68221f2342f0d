"""Split, tune, fit, score: the offline quality benchmark (spec D.3–D.6).

One split per data set (``holdout_split`` seed 42, Tailor's default): 10 % of the users with
>= 2 events are test users; their oldest 90 % events are fed as history, the newest 10 % are
the relevant set. Every model is scored on that same split with ``ranking_metrics``, after
removing the items of the user's history from its top 25.

Baselines (and "Tailor EASE tuned") pick their hyperparameters on a *validation* split made
from the training users only: a second ``holdout_split`` of the training events, seed 7.
The Tailor default row is built exactly as ``chalicelib.jobs.train`` builds it.
"""

from __future__ import annotations

import csv
import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from chalicelib import algorithms as alg
from chalicelib.jobs.data import interaction_matrix
from chalicelib.jobs.train import EASE_MAX_ITEMS, RECIPE_MODELS
from chalicelib.jobs.training import REPEAT_RATE_THRESHOLD
from chalicelib.resources import catalogue

from . import baselines as bl
from .synthetic import EventLog, generate

TOP_K = 25
TEST_SEED = 42  # Tailor's holdout seed (chalicelib.jobs.evaluate)
VALIDATION_SEED = 7


def say(msg: str) -> None:
    print(f"[quality] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data sets
def load_ml100k() -> EventLog:
    from scripts.bench.data import movielens_100k

    path = movielens_100k()
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    ts = np.array([int(r["TIMESTAMP"]) for r in rows], dtype=np.int64)
    u_raw = np.array([r["USER_ID"] for r in rows])
    i_raw = np.array([r["ITEM_ID"] for r in rows])
    order = np.argsort(ts, kind="stable")  # as train.py: events by TIMESTAMP, then np.unique
    _, users = np.unique(u_raw[order], return_inverse=True)
    _, items = np.unique(i_raw[order], return_inverse=True)
    return EventLog("ml100k", users.astype(np.int64), items.astype(np.int64), ts[order],
                    np.full(ts.size, "rating"), int(users.max()) + 1, int(items.max()) + 1,
                    "MovieLens-100K (GroupLens), every rating used as an implicit event")


def load(name: str, quick: bool) -> EventLog:
    if name == "ml100k":
        return load_ml100k()
    if name == "synthetic":
        if quick:
            return generate(n_users=3000, n_items=2000, n_clusters=15)
        return generate()
    raise ValueError(f"unknown data set {name!r}")


# ----------------------------------------------------------------------------- splits
@dataclass
class Split:
    train: bl.Train
    query: bl.Query
    relevant_indptr: np.ndarray
    relevant_items: np.ndarray
    next_indptr: np.ndarray  # next-item task: the first held-out item not in the history
    next_items: np.ndarray
    n_items: int


def make_split(users: np.ndarray, items: np.ndarray, ts: np.ndarray, n_users: int,
               n_items: int, seed: int) -> Split:
    h = alg.holdout_split(users, items, ts, seed=seed)
    m = h.train_mask
    tr = np.flatnonzero(m)
    tr = tr[np.lexsort((tr, ts[tr], users[tr]))]
    train = bl.Train(interaction_matrix(users[m], items[m], (n_users, n_items)),
                     users[tr], items[tr], ts[tr])
    hist = h.history_matrix(items, n_items)
    query = bl.Query(hist, h.history_indptr, items[h.history_events])

    # held-out events in the order holdout_split uses; first one whose item is new to the user
    ev = np.flatnonzero(~m)
    ev = ev[np.lexsort((ev, ts[ev], users[ev]))]
    row = np.searchsorted(h.test_users, users[ev])
    starts = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=h.test_users.size))])
    pos = np.arange(ev.size) - starts[row]
    cut = np.diff(h.history_indptr)
    held = pos >= cut[row]
    r, it = row[held], items[ev[held]]
    seen = np.asarray(hist[r, it]).ravel() > 0
    r, it = r[~seen], it[~seen]
    first_rows, first = np.unique(r, return_index=True)
    counts = np.bincount(first_rows, minlength=h.test_users.size)
    return Split(train, query, h.relevant_indptr, h.relevant_items,
                 np.concatenate([[0], np.cumsum(counts)]), it[first], n_items)


def validation_split(split: Split, n_users: int) -> Split:
    t = split.train
    return make_split(t.users, t.items, t.timestamps, n_users, split.n_items, VALIDATION_SEED)


# ----------------------------------------------------------------------------- scoring
def top25(scores: np.ndarray, query: bl.Query) -> np.ndarray:
    seen = query.matrix.toarray() > 0
    idx, _ = alg.top_n(np.asarray(scores, dtype=np.float32), TOP_K, exclude=seen)
    return idx


def metrics(recs: np.ndarray, split: Split, task: str) -> dict[str, float]:
    if task == "next":
        return alg.ranking_metrics(recs, split.next_indptr, split.next_items, split.n_items)
    return alg.ranking_metrics(recs, split.relevant_indptr, split.relevant_items, split.n_items)


@dataclass
class Row:
    name: str
    family: str  # "tailor" | "baseline"
    params: dict[str, Any]
    metrics: dict[str, float]
    fit_seconds: float
    score_seconds: float
    tuned_on: str = "-"
    recs: np.ndarray | None = field(default=None, repr=False)


def run_model(model: bl.Model, split: Split) -> tuple[np.ndarray, float, float]:
    t0 = time.perf_counter()
    model.fit(split.train)
    t1 = time.perf_counter()
    recs = top25(model.score(split.query), split.query)
    t2 = time.perf_counter()
    if getattr(model, "fit_in_score", False):  # implicit BPR trains inside score()
        return recs, t2 - t0, 0.0
    return recs, t1 - t0, t2 - t1


def tune(make: Callable[..., bl.Model], grid: dict[str, list[Any]], val: Split,
         label: str, verbose: bool = True) -> tuple[dict[str, Any], float]:
    best, best_score = None, -1.0
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid.keys(), values, strict=True))
        recs, fit_s, _ = run_model(make(**params), val)
        score = metrics(recs, val, "main")["normalized_discounted_cumulative_gain_at_10"]
        if verbose:
            say(f"  tune {label} {params}: val NDCG@10 {score:.4f} ({fit_s:.1f}s)")
        if score > best_score:
            best, best_score = params, score
    assert best is not None
    return best, best_score


def implicit_status() -> str | None:
    """None if ``implicit`` imports, else the reason it does not."""
    try:
        import implicit  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    return None


def grids(quick: bool, has_implicit: bool) -> dict[str, tuple[Callable[..., bl.Model], dict]]:
    def g(full: list, fast: list) -> list:
        return fast if quick else full

    out: dict[str, tuple[Callable[..., bl.Model], dict]] = {
        "Tailor EASE tuned": (
            lambda l2: bl.TailorModel(alg.EASE, l2=l2),
            {"l2": g([10, 50, 100, 250, 500, 1000, 2500], [50, 250, 1000])}),
        "ItemKNN": (bl.ItemKNN, {"k": g([50, 200, 1000], [100, 500]),
                                 "shrink": g([0, 20, 100], [0, 50])}),
        "RP3beta": (bl.RP3beta, {"alpha": g([0.6, 1.0], [1.0]),
                                 "beta": g([0.2, 0.4, 0.6], [0.3, 0.6]),
                                 "k": g([100, 400], [200])}),
        "Markov (last item)": (bl.Markov, {"window": g([1, 2, 3], [1, 3]),
                                           "beta": g([0.0, 0.3, 0.6], [0.0, 0.5])}),
        "SKNN (last k events)": (bl.SKNN, {"last_k": g([3, 10, 30], [5, 20]),
                                           "neighbors": g([50, 200, 1000], [100, 500])}),
    }
    if has_implicit:
        out["implicit ALS"] = (
            lambda **p: bl.ImplicitLib("als", iterations=15, **p),
            {"factors": g([64, 128], [64]), "regularization": g([0.01, 0.1], [0.05]),
             "alpha": g([1.0, 10.0], [1.0, 10.0])})
        out["implicit BPR"] = (
            lambda **p: bl.ImplicitLib("bpr", iterations=100, **p),
            {"factors": g([64, 128], [64]), "learning_rate": g([0.01, 0.05], [0.05]),
             "regularization": g([0.001, 0.01], [0.01])})
    return out


# ----------------------------------------------------------------------------- one data set
@dataclass
class Result:
    log: EventLog
    split_info: dict[str, Any]
    main: list[Row]
    next_item: list[Row]
    notes: list[str]
    sweep: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    seconds: float = 0.0


def tailor_default(n_items: int, avoid_repeats: bool = True) -> bl.Model:
    """aws-user-personalization exactly as chalicelib.jobs.train builds it: default
    hyperparameters; its sequence weights chosen on the training users, as training does."""
    recipe = catalogue.recipe_by_name("aws-user-personalization")
    params = catalogue.validate_hyperparameters(recipe.algorithm or recipe.name, {})
    factory = RECIPE_MODELS["aws-user-personalization"]
    model = bl.TailorRecipe(lambda x: factory(params, n_items).fit(x), avoid_repeats)
    model.kind = "sequence/" + factory(params, n_items).kind
    return model


def tailor_sims(n_items: int) -> alg.Sims:
    recipe = catalogue.recipe_by_name("aws-sims")
    params = catalogue.validate_hyperparameters(recipe.algorithm or recipe.name, {})
    return RECIPE_MODELS["aws-sims"](params, n_items)


def sims_next(split: Split) -> tuple[np.ndarray, float, float]:
    """SIMS served as related-items: seeded with the last history item, history removed."""
    t0 = time.perf_counter()
    model = tailor_sims(split.n_items).fit(split.train.matrix)
    t1 = time.perf_counter()
    q = split.query
    lengths = np.diff(q.indptr)
    n = int(min(split.n_items, TOP_K + 1 + lengths.max()))
    idx, _ = model.related(q.last_item(), n)
    scores = np.full((idx.shape[0], split.n_items), -np.inf, dtype=np.float32)
    rank = np.broadcast_to(np.arange(n, 0, -1, dtype=np.float32), idx.shape)
    valid = idx >= 0
    scores[np.nonzero(valid)[0], idx[valid]] = rank[valid]
    recs = top25(scores, q)
    return recs, t1 - t0, time.perf_counter() - t1


def main_task(log: EventLog, split: Split, val: Split, quick: bool, verbose: bool = True,
              ) -> tuple[list[Row], dict[str, dict[str, Any]], list[str]]:
    """Every model of the main table on ``split``; baselines tuned on ``val``."""
    main: list[Row] = []
    notes: list[str] = []

    def add(name: str, family: str, model: bl.Model, params: dict, tuned_on: str = "-") -> Row:
        recs, fit_s, score_s = run_model(model, split)
        row = Row(name, family, params, metrics(recs, split, "main"), fit_s, score_s, tuned_on,
                  recs)
        if verbose:
            say(f"{log.name}: {name} {params}: NDCG@10 "
                f"{row.metrics['normalized_discounted_cumulative_gain_at_10']:.4f} MRR@25 "
                f"{row.metrics['mean_reciprocal_rank_at_25']:.4f} (fit {fit_s:.1f}s)")
        main.append(row)
        return row

    default = tailor_default(log.n_items)
    add("Tailor aws-user-personalization (default)", "tailor", default,
        {"model": default.kind, "rule": f"EASE if items <= {EASE_MAX_ITEMS} else ALS"})
    add("Tailor EASE (default l2=250)", "tailor", bl.TailorModel(alg.EASE), {"l2": 250.0})
    add("Tailor ALS (defaults)", "tailor", bl.TailorModel(alg.ImplicitALS),
        {"factors": 64, "regularization": 0.1, "alpha": 2.0, "iterations": 15})
    add("Tailor popularity-count", "tailor", bl.TailorModel(alg.PopularityCount), {})

    reason = implicit_status()
    if reason is not None:
        notes.append(f"implicit ALS/BPR rows skipped: `import implicit` failed ({reason}).")
    tuned: dict[str, dict[str, Any]] = {}
    for name, (make, grid) in grids(quick, reason is None).items():
        t0 = time.perf_counter()
        params, score = tune(make, grid, val, name, verbose)
        tuned[name] = params
        family = "tailor" if name.startswith("Tailor") else "baseline"
        add(name, family, make(**params), params,
            f"val NDCG@10 {score:.4f}, {np.prod([len(v) for v in grid.values()])} configs, "
            f"{time.perf_counter() - t0:.0f}s")
    return main, tuned, notes


def seed_sweep(log: EventLog, quick: bool, seeds: list[int]) -> dict[str, list[tuple[float, float]]]:
    """NDCG@10 / MRR@25 of every main-table model on other test splits, re-tuned each time."""
    out: dict[str, list[tuple[float, float]]] = {}
    for seed in seeds:
        split = make_split(log.users, log.items, log.timestamps, log.n_users, log.n_items, seed)
        t = split.train
        val = make_split(t.users, t.items, t.timestamps, log.n_users, log.n_items, seed + 1000)
        rows, _, _ = main_task(log, split, val, quick, verbose=False)
        for r in rows:
            out.setdefault(r.name, []).append(
                (r.metrics["normalized_discounted_cumulative_gain_at_10"],
                 r.metrics["mean_reciprocal_rank_at_25"]))
        say(f"{log.name}: seed {seed} done")
    return out


def evaluate_dataset(log: EventLog, quick: bool, extra_seeds: int = 0) -> Result:
    say(f"{log.name}: {log.n_events:,} events, {log.n_users:,} users, {log.n_items:,} items")
    split = make_split(log.users, log.items, log.timestamps, log.n_users, log.n_items, TEST_SEED)
    val = validation_split(split, log.n_users)
    repeat = log.repeat_rate()
    n_test = split.relevant_indptr.size - 1
    info = {
        "events": log.n_events, "users": log.n_users, "items": log.n_items,
        "repeat_rate": repeat, "avoid_repeats": repeat < REPEAT_RATE_THRESHOLD,
        "test_users": n_test, "val_users": val.relevant_indptr.size - 1,
        "next_users": int((np.diff(split.next_indptr) > 0).sum()),
        "mean_history": float(np.diff(split.query.indptr).mean()),
        "mean_relevant": float(np.diff(split.relevant_indptr).mean()),
        "event_types": dict(zip(*np.unique(log.event_types, return_counts=True), strict=True)),
    }
    main, tuned, notes = main_task(log, split, val, quick)

    # next-item task: relevant = the first held-out item that is not in the history
    nxt: list[Row] = []

    def add_next(name: str, family: str, recs: np.ndarray, fit_s: float, score_s: float,
                 params: dict) -> None:
        row = Row(name, family, params, metrics(recs, split, "next"), fit_s, score_s)
        say(f"{log.name} next-item: {name}: NDCG@10 "
            f"{row.metrics['normalized_discounted_cumulative_gain_at_10']:.4f}")
        nxt.append(row)

    recs, fit_s, score_s = sims_next(split)
    add_next("Tailor SIMS (aws-sims defaults, seed = last item)", "tailor", recs, fit_s, score_s,
             {"popularity_discount_factor": 0.5, "min_cointeraction_count": 3})
    for row in main:
        if row.name.startswith(("Tailor aws-user", "Tailor popularity", "Markov", "SKNN",
                                "RP3beta", "ItemKNN")):
            add_next(row.name + (" (full history)" if not row.name.startswith(("Markov", "SKNN"))
                                 else ""), row.family, row.recs, row.fit_seconds,
                     row.score_seconds, row.params)
    knn = bl.ItemKNN(**tuned["ItemKNN"]).fit(split.train)
    t0 = time.perf_counter()
    seed_only = bl.Query(sp.csr_matrix((np.ones(n_test, dtype=np.float32),
                                        (np.arange(n_test), split.query.last_item())),
                                       shape=split.query.matrix.shape),
                         split.query.indptr, split.query.items)
    scores = knn.score(seed_only)
    add_next("ItemKNN (seed = last item)", "baseline", top25(scores, split.query), 0.0,
             time.perf_counter() - t0, tuned["ItemKNN"])
    sweep: dict[str, list[tuple[float, float]]] = {}
    if extra_seeds:
        seeds = [TEST_SEED] + [TEST_SEED + i for i in range(1, extra_seeds + 1)]
        sweep = seed_sweep(log, quick, seeds[1:])
        for r in main:  # include the seed-42 figures
            sweep[r.name].insert(0, (r.metrics["normalized_discounted_cumulative_gain_at_10"],
                                     r.metrics["mean_reciprocal_rank_at_25"]))
    return Result(log, info, main, nxt, notes, sweep)
