"""Tables (stdout + markdown) and the verdict against the issue's target."""

from __future__ import annotations

from typing import Any

from .runner import Result, Row

COLS = [
    ("NDCG@5", "normalized_discounted_cumulative_gain_at_5"),
    ("NDCG@10", "normalized_discounted_cumulative_gain_at_10"),
    ("NDCG@25", "normalized_discounted_cumulative_gain_at_25"),
    ("MRR@25", "mean_reciprocal_rank_at_25"),
    ("P@5", "precision_at_5"),
    ("P@10", "precision_at_10"),
    ("P@25", "precision_at_25"),
    ("coverage", "coverage"),
]
N10, MRR = "normalized_discounted_cumulative_gain_at_10", "mean_reciprocal_rank_at_25"


def _params(p: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in p.items()) or "-"


def table(rows: list[Row], with_params: bool = True) -> str:
    best = {key: max(r.metrics[key] for r in rows) for _, key in COLS if key != "coverage"}
    head = ["model"] + [c for c, _ in COLS] + ["fit s", "score s"]
    if with_params:
        head.append("hyperparameters")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)
                                                             ) + "|"]
    for r in rows:
        cells = [r.name]
        for _, key in COLS:
            v = f"{r.metrics[key]:.4f}"
            cells.append(f"**{v}**" if key in best and r.metrics[key] == best[key] else v)
        cells += [f"{r.fit_seconds:.2f}", f"{r.score_seconds:.2f}"]
        if with_params:
            cells.append(_params(r.params))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(res: Result) -> dict[str, Any]:
    default = res.main[0]
    base = [r for r in res.main if r.family == "baseline"]
    out: dict[str, Any] = {"default": default}
    ok = True
    for label, key in (("NDCG@10", N10), ("MRR@25", MRR)):
        best = max(base, key=lambda r: r.metrics[key])
        ours, theirs = default.metrics[key], best.metrics[key]
        out[label] = (best, ours, theirs, ours - theirs,
                      (ours - theirs) / theirs if theirs else 0.0)
        ok &= ours >= theirs
    out["met"] = ok
    return out


def verdict_text(res: Result) -> str:
    v = verdict(res)
    parts = []
    for label in ("NDCG@10", "MRR@25"):
        best, ours, theirs, diff, rel = v[label]
        word = "≥" if diff >= 0 else "<"
        parts.append(f"{label}: Tailor {ours:.4f} {word} best baseline {theirs:.4f} "
                     f"({best.name}; {diff:+.4f}, {rel:+.1%})")
    status = "MET" if v["met"] else "NOT MET"
    return f"**{status}** on {res.log.name} — " + "; ".join(parts)


def dataset_section(res: Result) -> str:
    i = res.split_info
    types = ", ".join(f"{k} {v:,}" for k, v in i["event_types"].items())
    out = [f"### {res.log.name}", "",
           f"{res.log.description}.", "",
           f"{i['events']:,} events ({types}), {i['users']:,} users, {i['items']:,} items; "
           f"repeated (user, item) events {i['repeat_rate']:.1%} → Tailor's serving would "
           f"{'rank seen items last' if i['avoid_repeats'] else 'NOT exclude seen items'} "
           f"(threshold 10 %). Test users {i['test_users']:,} (mean history "
           f"{i['mean_history']:.1f} events, mean relevant set {i['mean_relevant']:.1f} items); "
           f"validation users (carved from training users) {i['val_users']:,}.", "",
           "**Main task** (Personalize holdout: relevant = items of the newest 10 % events; "
           "history items excluded from every list):", "",
           table(res.main), "",
           f"Verdict: {verdict_text(res)}", "",
           f"**Next-item task** (seeded with the last history item for SIMS; relevant = the "
           f"first held-out item not already in the history; {i['next_users']:,} test users "
           "have one):", "",
           table(res.next_item, with_params=False), ""]
    tuning = [r for r in res.main if r.tuned_on != "-"]
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


def sweep_table(res: Result) -> str:
    """Mean ± std of NDCG@10 / MRR@25 over the test splits, and how often the target holds."""
    import numpy as np

    names = list(res.sweep)
    n = len(next(iter(res.sweep.values())))
    base = [r.name for r in res.main if r.family == "baseline"]
    default = res.main[0].name
    arr = {k: np.asarray(v) for k, v in res.sweep.items()}
    best = np.stack([arr[b] for b in base]).max(axis=0)  # per split, per metric
    wins_n = int((arr[default][:, 0] >= best[:, 0]).sum())
    wins_m = int((arr[default][:, 1] >= best[:, 1]).sum())
    lines = [f"Over {n} test splits (seeds {TEST_SEEDS_LABEL(n)}; every split re-tuned on its own "
             "validation users):", "",
             "| model | NDCG@10 mean ± std | MRR@25 mean ± std |", "|---|---:|---:|"]
    for k in names:
        a = arr[k]
        lines.append(f"| {k} | {a[:, 0].mean():.4f} ± {a[:, 0].std():.4f} | "
                     f"{a[:, 1].mean():.4f} ± {a[:, 1].std():.4f} |")
    lines += ["", f"Tailor default ≥ best baseline of that split: NDCG@10 in {wins_n}/{n} splits, "
              f"MRR@25 in {wins_m}/{n} splits.", ""]
    return "\n".join(lines)


def TEST_SEEDS_LABEL(n: int) -> str:
    return ", ".join(str(42 + i) for i in range(n))
