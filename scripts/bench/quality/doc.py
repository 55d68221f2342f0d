"""Render docs/quality.md from the results of a run."""

from __future__ import annotations

from .report import MRR, N10, dataset_section, short_table, sweep_table, verdict, verdict_text

DATE = "2026-11-23"

PROTOCOL = """\
## Protocol

Personalize's offline holdout (spec D.3/D.6), through Tailor's own
`chalicelib.algorithms.holdout_split` and `ranking_metrics`:

- 10 % of the users with ≥ 2 events are test users (`holdout_split` seed 42, the seed
  `chalicelib.jobs.evaluate` uses); all events of the other 90 % are the training data.
- Each test user's events are sorted by time; the oldest 90 % are fed to the model as the
  user's history, the distinct items of the newest 10 % (≥ 1 event) are the relevant set.
- Every model returns a top 25; metrics are NDCG@5/10/25, MRR@25, precision@5/10/25 and
  catalogue coverage, averaged over test users exactly as spec D.6.
- **Items already in the user's history are removed from every model's top 25** (all rows,
  Tailor included). Tailor's serving does the equivalent only when fewer than 10 % of the
  events repeat a (user, item) pair (`REPEAT_RATE_THRESHOLD` in `chalicelib/jobs/training.py`);
  on the generated e-commerce set (the funnel makes about half the events repeat a pair) a deployed
  Tailor campaign — and Tailor's own GetSolutionMetrics — would *not* filter them. Relevant
  items that were already in the history (e.g. a purchase of an item viewed earlier) are
  therefore unreachable for every model here; that lowers all rows equally.
- All events are implicit feedback with weight 1 (event types and ratings ignored); Tailor's
  models get the user × item **event count** matrix exactly as `interaction_matrix` builds it
  in training, the baselines binarise it where their definition says so.
- **Tuning.** Baselines and "Tailor EASE tuned" choose their hyperparameters by NDCG@10 on a
  *validation* split carved from the training users only (a second `holdout_split` of the
  training events, seed 7, same 90/10 rule); the chosen configuration is then refit on all
  training users and scored once on the test users. Test users are never used for tuning.
  BLAS runs single-threaded, as `chalicelib/__init__.py` sets it for Tailor (so fit times are
  Tailor's own); `implicit` uses its own thread pool over both cores.
  Everything is seeded; only `implicit`'s BPR (multi-threaded SGD) varies slightly between
  runs.
  Grids are small (listed with each table). The "Tailor aws-user-personalization (default)"
  row is the recipe exactly as `chalicelib/jobs/train.py` trains it with the recipe's
  default hyperparameters: its base model (EASE, l2 = 250, for ≤ 5000 items) wrapped in
  `SequenceAware`, whose recency half-life and next-item weight training itself picks on a
  validation split of the training users (`jobs/evaluate.tune_sequence`) — no
  hyperparameter is set by hand. "Tailor EASE" is the bare base model.
- **Next-item task** (the related-items recipe): SIMS is seeded with the user's last history
  item, as spec D.3 says for RELATED_ITEMS; relevant = the single first held-out item that is
  not already in the history. Reported separately; other models are shown for reference
  (sequence models use the last event(s), the others the whole history).
- **Robustness.** ML-100K has only 94 test users, so one split is noisy; the whole procedure
  (split, validation split, tuning, fit, score) is repeated on further test seeds and the
  mean ± std is reported under each data set.
"""

MODELS = """\
## Models

| row | what |
|---|---|
| Tailor aws-user-personalization (default) | as `chalicelib/jobs/train.py` trains it: `RECIPE_MODELS` base model with default hyperparameters (EASE, l2 = 250, for ≤ 5000 items, else `ImplicitALS`) inside `SequenceAware` (recency-weighted history + next-item term, both weights chosen on the training users), scored from the ordered history |
| Tailor EASE / ALS / popularity-count | `chalicelib.algorithms.EASE()`, `ImplicitALS()`, `PopularityCount()` with their defaults |
| Tailor EASE tuned | EASE with l2 from the validation grid |
| Tailor SIMS | `RECIPE_MODELS["aws-sims"]` with the catalogue defaults (β = 0.5, min co-count 3), `related(last item)` |
| ItemKNN | item-item cosine on binary data with shrinkage, top-k neighbours per item |
| RP3beta | item→user→item random walk with transition probabilities raised to α, divided by popularity^β, top-k per item (Paudel et al. 2017) |
| Markov (last item) | transition counts i → j between consecutive distinct items of a user (window > 1 adds items d steps later with weight 1/d), scored from the last history item, popularity backfill |
| SKNN (last k events) | session-kNN: training users' events split into sessions at 1 h gaps; the query is the last k events (recency-weighted); cosine to every session, the top-n sessions vote |
| implicit ALS / BPR | `implicit` 0.7 (CPU), benchmark-only dependency (`.venv/bin/pip install implicit`, not in the project's requirements). ALS folds test users in with `recalculate_user`; BPR has no fold-in, so it is trained on the training users plus the test users' *history* rows (never their held-out events) |

All baselines live in `scripts/bench/quality/baselines.py` (numpy/scipy, vectorised); the
synthetic generator in `scripts/bench/quality/synthetic.py`.
"""

GAP = """\
## Where Tailor stands, and what is left

**What changed.** The first run of this benchmark (EASE/ALS scoring a user as a bag of
items) lost to the order-aware baselines: −8 % NDCG@10 on ML-100K against session-kNN and
−50 % on the generated set against the Markov model. Tailor's aws-user-personalization is
now a sequence model (`chalicelib/algorithms/sequence.py`): history rows are
recency-weighted (an event's weight halves every *h* newer events) and a first-order
next-item term `γ · T[last item]` is added to the base scores, with *h* and γ chosen at each
training on a validation split of the training users (`jobs/evaluate.tune_sequence`). On the
seed-42 split it is now ahead of every tuned baseline on both data sets.

**How firm that is.** On the generated set the lead over the Markov baseline is small
(+0.4 % NDCG@10, +2.8 % MRR@25) but holds on all 3 splits. On ML-100K, over 5 splits,
Tailor's mean NDCG@10 is ahead of session-kNN's, its mean MRR@25 level with it (within one
standard deviation), and per split it is the best model in only 2 of 5 (NDCG@10) and 1 of 5
(MRR@25): 94 test users per split move NDCG@10 by about ±0.03. Read ML-100K as "at par with
the best baseline", not as a clear win.

**What would widen the margin.**
1. A richer next-item term: the Markov baseline's window > 1 (items two or three steps
   later, weighted 1/d) and a session boundary, as session-kNN uses.
2. Tuning EASE's l2 together with *h* and γ (the "EASE tuned" row alone buys little).
3. An ordered SIMS for related items (consecutive pairs within a session) — the Markov row
   leads the next-item table.
4. Repeat handling: the benchmark removes history items everywhere; with ≥ 10 % repeated
   pairs Tailor serves them, so on funnel data a campaign spends slots on items already
   viewed. Counting repeats per event type would make the filter apply on data like this.
"""


def render(results, cmd: str, machine: str, total: float, quick: bool) -> str:
    lines = [
        "# Offline recommendation quality",
        "",
        f"Date: {DATE}. Machine: {machine}. Command: `.venv/bin/{cmd}` "
        f"({'quick mode, ' if quick else ''}total {total:.0f} s). "
        "Regenerate this file with the same command (quick runs do not overwrite it unless "
        "`--doc` is given). Data sets are generated or cached outside the repository.",
        "",
        "## Target and verdict",
        "",
        "Issue target: *Tailor's user-personalization with default hyperparameters at least "
        "matches the best baseline on NDCG@10 and MRR@25.*",
        "",
    ]
    met_all = True
    for res in results:
        lines.append(f"- {verdict_text(res)}")
        met_all &= verdict(res)["met"]
    lines += ["", f"Overall: the target is **{'met' if met_all else 'not met'}**"
              + ("." if met_all else "; see the last section for where it falls short and "
                 "what would close the gap."), "", "NDCG@10 / MRR@25 on the seed-42 split:",
              "", short_table(results), ""]
    lines += [PROTOCOL, MODELS, "## Results", ""]
    for res in results:
        lines.append(dataset_section(res))
        if res.sweep:
            lines.append(sweep_table(res))
        lines.append(f"Wall time for this data set: {res.seconds:.0f} s (fit/score seconds "
                     "in the tables are single final fits; tuning time is listed per model).")
        lines.append("")
    lines.append(GAP)
    return "\n".join(lines)


__all__ = ["MRR", "N10", "render"]
