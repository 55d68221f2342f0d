"""Tables (stdout + markdown) and the verdicts against the issue's targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .core import MRR, N10, TEST_SEED, Row
from .rerank import LIST_SIZE, RERANK_COLS
from .runner import UP_DEFAULT, UP_HPO, Result

COLS = [
    ("NDCG@5", "normalized_discounted_cumulative_gain_at_5"),
    ("NDCG@10", N10),
    ("NDCG@25", "normalized_discounted_cumulative_gain_at_25"),
    ("MRR@25", MRR),
    ("P@5", "precision_at_5"),
    ("P@10", "precision_at_10"),
    ("P@25", "precision_at_25"),
    ("coverage", "coverage"),
]
MAIN_KEYS = [("NDCG@10", N10), ("MRR@25", MRR)]
RERANK_KEYS = [("NDCG@10", "rerank_ndcg_at_10"), ("MRR", "rerank_mrr")]
SIMS_ROW = "Tailor SIMS"
SIMILAR_ROW = "Tailor similar-items"
KNN_SEEDED = "ItemKNN (seed = last item)"


def _params(p: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in p.items()) or "-"


def table(rows: list[Row], with_params: bool = True, cols: list[tuple[str, str]] = COLS,
          ) -> str:
    """Markdown table of ``rows``; the best value of every metric but coverage in bold."""
    best = {key: max(r.metrics[key] for r in rows) for _, key in cols if key != "coverage"}
    head = ["model"] + [c for c, _ in cols] + ["fit s", "score s"]
    if with_params:
        head.append("hyperparameters")
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for r in rows:
        cells = [r.name]
        for _, key in cols:
            v = f"{r.metrics[key]:.4f}"
            cells.append(f"**{v}**" if key in best and r.metrics[key] == best[key] else v)
        cells += [f"{r.fit_seconds:.2f}", f"{r.score_seconds:.2f}"]
        if with_params:
            cells.append(_params(r.params))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- verdicts
@dataclass
class Verdict:
    """``ours`` against the best row of a pool, metric by metric."""

    target: str
    ours: Row
    against: dict[str, tuple[Row, float, float]]  # label -> (best row, ours, theirs)
    strict: bool  # must beat (>) rather than match (>=)

    @property
    def met(self) -> bool:
        return all(o > t if self.strict else o >= t for _, o, t in self.against.values())

    def text(self, data_set: str) -> str:
        parts = []
        for label, (best, ours, theirs) in self.against.items():
            diff = ours - theirs
            rel = diff / theirs if theirs else 0.0
            word = ">" if diff > 0 else ("=" if diff == 0 else "<")
            parts.append(f"{label}: {ours:.4f} {word} {theirs:.4f} ({best.name}; "
                         f"{diff:+.4f}, {rel:+.1%})")
        status = "MET" if self.met else "NOT MET"
        return f"**{status}** on {data_set} — " + "; ".join(parts)


def compare(target: str, ours: Row, pool: list[Row], keys: list[tuple[str, str]],
            strict: bool = False) -> Verdict:
    against = {}
    for label, key in keys:
        best = max(pool, key=lambda r: r.metrics[key])
        against[label] = (best, ours.metrics[key], best.metrics[key])
    return Verdict(target, ours, against, strict)


def _row(rows: list[Row], prefix: str) -> Row | None:
    return next((r for r in rows if r.name.startswith(prefix)), None)


def verdicts(res: Result) -> list[Verdict]:
    """Every target on one data set, in the order of the issue."""
    base = [r for r in res.main if r.family == "baseline"]
    out = [compare("default", _row(res.main, UP_DEFAULT), base, MAIN_KEYS),
           compare("hpo", _row(res.main, UP_HPO), base, MAIN_KEYS, strict=True)]
    knn = [r for r in res.next_item if r.name == KNN_SEEDED]
    for target, prefix in (("sims", SIMS_ROW), ("similar", SIMILAR_ROW)):
        row = _row(res.next_item, prefix)
        if row is not None:
            out.append(compare(target, row, knn, MAIN_KEYS))
    if res.rerank:
        others = [r for r in res.rerank if r.family == "baseline"]
        out.append(compare("rerank", res.rerank[0], others, RERANK_KEYS))
    return out


def verdict_of(res: Result, target: str) -> Verdict | None:
    return next((v for v in verdicts(res) if v.target == target), None)


def verdict_text(res: Result, target: str = "default") -> str:
    v = verdict_of(res, target)
    return "" if v is None else v.text(res.log.name)


# ----------------------------------------------------------------------------- sections
def _info(res: Result) -> str:
    i = res.split_info
    types = ", ".join(f"{k} {v:,}" for k, v in i["event_types"].items())
    return (f"{i['events']:,} events ({types}), {i['users']:,} users, {i['items']:,} items; "
            f"repeated (user, item) events {i['repeat_rate']:.1%} → Tailor's serving would "
            f"{'rank seen items last' if i['avoid_repeats'] else 'NOT exclude seen items'} "
            f"(threshold 10 %). Test users {i['test_users']:,} (mean history "
            f"{i['mean_history']:.1f} events, mean relevant set {i['mean_relevant']:.1f} items); "
            f"validation users (carved from training users) {i['val_users']:,}.")


def dataset_section(res: Result) -> str:
    i = res.split_info
    out = [f"### {res.log.name}", "", f"{res.log.description}.", "", _info(res), "",
           ("**Main task** (Personalize holdout: relevant = items of the newest 10 % events; "
            "history items excluded from every list):"), "",
           table(res.main), "",
           f"Default vs best baseline: {verdict_text(res, 'default')}", "",
           f"HPO vs best baseline (must beat): {verdict_text(res, 'hpo')}", "",
           f"HPO on this split: {res.hpo.get('summary', 'not run')}.", "",
           (f"**Next-item task** (related-items recipes seeded with the last history item; "
            f"relevant = the first held-out item not already in the history; "
            f"{i['next_users']:,} test users have one):"), "",
           table(res.next_item, with_params=False), ""]
    for target, label in (("sims", "SIMS"), ("similar", "Similar-items")):
        if verdict_of(res, target) is not None:
            out += [f"{label} vs ItemKNN (seed = last item): {verdict_text(res, target)}", ""]
    if res.rerank:
        out += [(f"**Re-ranking task** (personalized-ranking: each of {i['rerank_users']:,} test "
                 f"users ranks an inputList of {LIST_SIZE} items, its "
                 f"{i['rerank_relevant']:.1f} relevant non-history items on average plus "
                 "uniformly sampled non-history items, shuffled; metrics over the whole list):"),
                "", table(res.rerank, cols=RERANK_COLS), "",
                f"Personalized-ranking vs best other model: {verdict_text(res, 'rerank')}", ""]
    tuning = [r for r in res.main if r.tuned_on != "-" and r.name != UP_HPO]
    if tuning:
        out += ["Tuning (validation split, NDCG@10): "
                + "; ".join(f"{r.name}: {r.tuned_on}" for r in tuning) + ".", ""]
    out += [f"- {n}" for n in res.notes]
    return "\n".join(out)


def short_table(results: list[Result]) -> str:
    lines = ["| data set | model | NDCG@10 | MRR@25 |", "|---|---|---:|---:|"]
    for res in results:
        for r in res.main:
            lines.append(f"| {res.log.name} | {r.name} | {r.metrics[N10]:.4f} | "
                         f"{r.metrics[MRR]:.4f} |")
    return "\n".join(lines)


def sweep_counts(res: Result) -> dict[str, Any]:
    """Per split: default >= best baseline, HPO > best baseline, HPO == default."""
    arr = {k: np.asarray(v) for k, v in res.sweep.items()}
    base = [r.name for r in res.main if r.family == "baseline"]
    best = np.stack([arr[b] for b in base]).max(axis=0)  # per split, per metric
    default, tuned = arr[UP_DEFAULT], arr[UP_HPO]
    return {"n": len(default),
            "default": (default >= best).sum(axis=0).tolist(),
            "hpo": (tuned > best).sum(axis=0).tolist(),
            "same": int(np.all(tuned == default, axis=1).sum())}


def sweep_table(res: Result) -> str:
    """Mean ± std of NDCG@10 / MRR@25 over the test splits, and how often the targets hold."""
    c = sweep_counts(res)
    n = c["n"]
    seeds = ", ".join(str(TEST_SEED + i) for i in range(n))
    lines = [(f"Over {n} test splits (seeds {seeds}; every split re-tuned on its own "
              "validation users):"), "",
             "| model | NDCG@10 mean ± std | MRR@25 mean ± std |", "|---|---:|---:|"]
    for k, v in res.sweep.items():
        a = np.asarray(v)
        lines.append(f"| {k} | {a[:, 0].mean():.4f} ± {a[:, 0].std():.4f} | "
                     f"{a[:, 1].mean():.4f} ± {a[:, 1].std():.4f} |")
    lines += ["", (f"Tailor default ≥ best baseline of that split: NDCG@10 in {c['default'][0]}/"
              f"{n} splits, MRR@25 in {c['default'][1]}/{n} splits. Tailor HPO > best baseline: "
              f"NDCG@10 in {c['hpo'][0]}/{n}, MRR@25 in {c['hpo'][1]}/{n}; HPO's metrics equal "
              f"the default's in {c['same']}/{n} splits."), ""]
    return "\n".join(lines)
