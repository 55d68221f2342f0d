"""Split, tune, fit, score: the offline quality benchmark (spec D.3–D.6), per data set.

The split and scoring are in :mod:`.core`. Baselines (and "Tailor EASE tuned") pick their
hyperparameters on a *validation* split made from the training users only: a second
``holdout_split`` of the training events, seed 7. The Tailor rows are built exactly as
``chalicelib.jobs.train`` builds them (:mod:`.recipes`). Three tasks share the split: the
main (Personalize holdout) task, the next-item task of the related-items recipes
(:mod:`.related`) and the re-ranking task of personalized-ranking (:mod:`.rerank`).
"""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chalicelib import algorithms as alg
from chalicelib.jobs.train import EASE_MAX_ITEMS
from chalicelib.jobs.training import REPEAT_RATE_THRESHOLD

from . import baselines as bl
from . import recipes, related, rerank
from .core import (
    MRR,
    N10,
    TEST_SEED,
    Row,
    Split,
    make_split,
    metrics,
    run_model,
    say,
    validation_split,
)
from .metadata import ml100k_metadata
from .synthetic import EventLog, generate

UP_DEFAULT = "Tailor aws-user-personalization (default)"
UP_HPO = "Tailor aws-user-personalization (HPO)"


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
    item_ids, items = np.unique(i_raw[order], return_inverse=True)
    genres, titles = ml100k_metadata(item_ids)
    return EventLog("ml100k", users.astype(np.int64), items.astype(np.int64), ts[order],
                    np.full(ts.size, "rating"), int(users.max()) + 1, int(items.max()) + 1,
                    "MovieLens-100K (GroupLens), every rating used as an implicit event; item "
                    "metadata from `ml-100k.item`: GENRES (categorical), TITLE (textual)",
                    genres, titles)


def load(name: str, quick: bool) -> EventLog:
    if name == "ml100k":
        return load_ml100k()
    if name == "synthetic":
        if quick:
            return generate(n_users=3000, n_items=2000, n_clusters=15)
        return generate()
    raise ValueError(f"unknown data set {name!r}")


def tune(make: Callable[..., bl.Model], grid: dict[str, list[Any]], val: Split,
         label: str, verbose: bool = True) -> tuple[dict[str, Any], float]:
    best, best_score = None, -1.0
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid.keys(), values, strict=True))
        recs, _, fit_s, _ = run_model(make(**params), val)
        score = metrics(recs, val, "main")[N10]
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
    rerank: list[Row] = field(default_factory=list)
    hpo: dict[str, Any] = field(default_factory=dict)  # TailorHPO.info() of seed 42


def _tailor_rows(log: EventLog, add: Callable[..., Row]) -> recipes.TailorHPO:
    """The Tailor rows of the main table; returns the fitted HPO model (for its summary)."""
    default = recipes.tailor_default(log.n_items)
    add(UP_DEFAULT, "tailor", default,
        {"model": default.kind, "rule": f"EASE if items <= {EASE_MAX_ITEMS} else ALS"})
    tuned = recipes.TailorHPO(log.n_items)
    t0 = time.perf_counter()
    row = add(UP_HPO, "tailor", tuned, {})
    row.params = {"model": tuned.kind, **{k: tuned.chosen[k] for k in sorted(tuned.tuned)}}
    row.tuned_on = (f"{tuned.info()['summary']}, {time.perf_counter() - t0:.0f}s with the "
                    "final fit")
    add("Tailor EASE (default l2=250)", "tailor", bl.TailorModel(alg.EASE), {"l2": 250.0})
    add("Tailor ALS (defaults)", "tailor", bl.TailorModel(alg.ImplicitALS),
        {"factors": 64, "regularization": 0.1, "alpha": 2.0, "iterations": 15})
    add("Tailor popularity-count", "tailor", bl.TailorModel(alg.PopularityCount), {})
    return tuned


def main_task(log: EventLog, split: Split, val: Split, quick: bool, verbose: bool = True,
              ) -> tuple[list[Row], dict[str, dict[str, Any]], list[str], dict[str, Any]]:
    """Every model of the main table on ``split``; baselines tuned on ``val``. Also returns
    the tuned baseline parameters, notes, and what HPO tried (``TailorHPO.info``)."""
    main: list[Row] = []
    notes: list[str] = []

    def add(name: str, family: str, model: bl.Model, params: dict, tuned_on: str = "-") -> Row:
        recs, scores, fit_s, score_s = run_model(model, split)
        row = Row(name, family, params, metrics(recs, split, "main"), fit_s, score_s, tuned_on,
                  recs, scores)
        if verbose:
            say(f"{log.name}: {name} {params}: NDCG@10 {row.metrics[N10]:.4f} MRR@25 "
                f"{row.metrics[MRR]:.4f} (fit {fit_s:.1f}s)")
        main.append(row)
        return row

    hpo_model = _tailor_rows(log, add)
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
    return main, tuned, notes, hpo_model.info()


def seed_sweep(log: EventLog, quick: bool, seeds: list[int],
               ) -> dict[str, list[tuple[float, float]]]:
    """NDCG@10 / MRR@25 of every main-table model on other test splits, re-tuned each time."""
    out: dict[str, list[tuple[float, float]]] = {}
    for seed in seeds:
        split = make_split(log.users, log.items, log.timestamps, log.n_users, log.n_items, seed)
        val = validation_split(split, log.n_users, seed + 1000)
        rows, _, _, hpo_info = main_task(log, split, val, quick, verbose=False)
        for r in rows:
            out.setdefault(r.name, []).append((r.metrics[N10], r.metrics[MRR]))
        say(f"{log.name}: seed {seed} done (HPO: {hpo_info['summary']})")
    return out


def split_info(log: EventLog, split: Split, val: Split) -> dict[str, Any]:
    """The numbers printed above a data set's tables."""
    repeat = log.repeat_rate()
    return {
        "events": log.n_events, "users": log.n_users, "items": log.n_items,
        "repeat_rate": repeat, "avoid_repeats": repeat < REPEAT_RATE_THRESHOLD,
        "test_users": split.relevant_indptr.size - 1, "val_users": val.relevant_indptr.size - 1,
        "next_users": int((np.diff(split.next_indptr) > 0).sum()),
        "mean_history": float(np.diff(split.query.indptr).mean()),
        "mean_relevant": float(np.diff(split.relevant_indptr).mean()),
        "event_types": dict(zip(*np.unique(log.event_types, return_counts=True), strict=True)),
    }


def evaluate_dataset(log: EventLog, quick: bool, extra_seeds: int = 0) -> Result:
    say(f"{log.name}: {log.n_events:,} events, {log.n_users:,} users, {log.n_items:,} items")
    split = make_split(log.users, log.items, log.timestamps, log.n_users, log.n_items, TEST_SEED)
    val = validation_split(split, log.n_users)
    info = split_info(log, split, val)
    main, tuned, notes, hpo_info = main_task(log, split, val, quick)
    nxt = related.next_item_task(log, split, main, tuned["ItemKNN"])
    reranked, cand, note = rerank.rerank_task(split, main)
    info.update(rerank_users=int(cand.rows.size), rerank_relevant=cand.mean_relevant)
    notes.append(note)
    for row in reranked:
        say(f"{log.name} re-ranking: {row.name}: NDCG@10 "
            f"{row.metrics['rerank_ndcg_at_10']:.4f} MRR {row.metrics['rerank_mrr']:.4f}")
    for row in main:
        row.scores = None  # free the dense score matrices
    sweep: dict[str, list[tuple[float, float]]] = {}
    if extra_seeds:
        sweep = seed_sweep(log, quick, [TEST_SEED + i for i in range(1, extra_seeds + 1)])
        for r in main:  # include the seed-42 figures
            sweep[r.name].insert(0, (r.metrics[N10], r.metrics[MRR]))
    return Result(log, info, main, nxt, notes, sweep, rerank=reranked, hpo=hpo_info)
