"""Render docs/quality.md from the results of a run."""

from __future__ import annotations

from .findings import gap_section
from .report import (
    dataset_section,
    short_table,
    sweep_counts,
    sweep_table,
    verdict_of,
)
from .runner import Result

DATE = "2026-11-23"

ISSUE = (
    "Issue targets: *on both data sets, Tailor's user-personalization with default "
    "hyperparameters at least matches the best baseline on NDCG@10 and MRR@25, and beats it "
    "with HPO; SIMS/similar-items measured on a next-item task against ItemKNN; "
    "personalized-ranking measured on re-ranking.* The last two name no bar; this benchmark "
    "uses \"at least matches\": SIMS and similar-items ≥ ItemKNN seeded with the same item, "
    "personalized-ranking ≥ the best other model on the same lists.")

TARGETS = [
    ("default", ("1. User-personalization, default hyperparameters, ≥ the best baseline "
                "(main task, seed-42 split)")),
    ("hpo", "2. User-personalization with HPO beats (>) the best baseline (main task)"),
    ("sims", "3a. SIMS ≥ ItemKNN, both seeded with the last history item (next-item task)"),
    ("similar", "3b. Similar-items (with item metadata) ≥ ItemKNN (next-item task)"),
    ("rerank", "4. Personalized-ranking ≥ the best other model (re-ranking task)"),
]

HPO_WHAT = """\
**What HPO does to aws-user-personalization.** The row is Tailor's real `performHPO=true`
path: `hpo.search` over an hpoConfig holding every tunable hyperparameter of the recipe
over its DescribeAlgorithm `defaultHyperParameterRanges` (`hidden_dimension` 32–256,
`bptt` 2–32, `recency_mask` true/false), 8 candidates (the defaults first), each scored by
`train._validation` on a validation split of the training users *as training builds the
model* (the base model with its best recency and next-item weights); then the sequence
weights are tuned with the chosen `recency_mask` and the model is fitted on all training
users. What the hyperparameters reach:

- `hidden_dimension` is the model's capacity: below 5,000 items EASE's ridge penalty,
  l2 = 250 · (149 / hidden_dimension)² (so 32–256 spans l2 ≈ 5,400–85), above it ALS's
  factors;
- `recency_mask` switches the recency search of the sequence weights;
- `bptt` is validated but read nowhere (no Tailor model has a back-propagation window).

The validation split holds ~85 users on ML-100K, so HPO's choice is noisy there; the sweep
lines show how often it helps.
"""



def hpo_conclusion(results: list[Result]) -> str:
    """Whether HPO ever left the defaults in this run (:func:`hpo_is_default`)."""
    if hpo_is_default(results):
        return ("Every candidate scored the same on validation in this run, so HPO kept "
                "the defaults everywhere.\n")
    return ("The candidates' validation scores differed, or HPO's metrics differ from the "
            "default's on some split: see the HPO lines under each data set.\n")


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
  on the generated e-commerce set (the funnel makes about half the events repeat a pair) a
  deployed Tailor campaign — and Tailor's own GetSolutionMetrics — would *not* filter them.
  Relevant items that were already in the history (e.g. a purchase of an item viewed
  earlier) are therefore unreachable for every model here; that lowers all rows equally.
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
  hyperparameter is set by hand. "Tailor EASE" is the bare base model. The "(HPO)" row is
  the same recipe trained with `performHPO=true` (above); HPO, too, sees only the training
  users (its validation split is the same seed-7 split).
- **Next-item task** (the related-items recipes): SIMS, similar-items and
  semantic-similarity are seeded with the user's last history item (`related(last item)`,
  as spec D.3 evaluates RELATED_ITEMS), and so is the ItemKNN they are compared with;
  relevant = the single first held-out item that is not already in the history. The
  main-table models are shown for reference (sequence models use the last event(s), the
  others the whole history). Similar-items and semantic-similarity are trained as
  `chalicelib/jobs/train_related.py` trains them, on the training users' interactions over
  the whole catalogue (an item only test users touched is a cold item, placed by its
  metadata) and the items' metadata: the categorical field one-hot, the textual field
  TF-IDF (`metadata_features`); semantic-similarity uses the text alone.
- **Re-ranking task** (personalized-ranking, GetPersonalizedRanking): each test user with a
  relevant item outside its history gets one inputList of 100 items — those relevant items
  plus items drawn uniformly (seed 42) among those neither in the history nor relevant —
  shuffled, so that ties fall in random order. Tailor's aws-personalized-ranking (the same
  model as user-personalization, trained as `train.py` trains that recipe) ranks the list as
  `runtime/recommend.get_personalized_ranking` does: softmax over the inputs' scores, stable
  sort. Every main-table model ranks the same lists by its own scores. NDCG@10 and MRR are
  computed over the whole ranked list. Uniformly sampled negatives are easy (most are
  unpopular), so every model scores far higher here than in the main task.
- **Robustness.** ML-100K has only 94 test users, so one split is noisy; the main task
  (split, validation split, tuning, HPO, fit, score) is repeated on further test seeds and
  the mean ± std is reported under each data set.
"""

MODEL_ROWS = [
    ("Tailor aws-user-personalization (default)",
     ("as `chalicelib/jobs/train.py` trains it: `RECIPE_MODELS` base model with default "
      "hyperparameters (EASE, l2 = 250, for ≤ 5000 items, else `ImplicitALS`) inside "
      "`SequenceAware` (recency-weighted history + next-item term, both weights chosen on the "
      "training users), scored from the ordered history")),
    ("Tailor aws-user-personalization (HPO)",
     ("the same with `performHPO=true`: `hpo.search` + `train._validation` over the recipe's "
      "default hyperparameter ranges, 8 candidates; the chosen values are listed in the "
      "hyperparameters column")),
    ("Tailor EASE / ALS / popularity-count",
     "`chalicelib.algorithms.EASE()`, `ImplicitALS()`, `PopularityCount()` with their defaults"),
    ("Tailor EASE tuned", "EASE with l2 from the validation grid"),
    ("Tailor SIMS",
     ("`RECIPE_MODELS[\"aws-sims\"]` with the catalogue defaults (β = 0.5, min co-count 3), "
      "`related(last item)`")),
    ("Tailor similar-items",
     ("`chalicelib.algorithms.SimilarItems` with the catalogue defaults (`item_id_hidden_dim` "
      "= `item_metadata_hidden_dim` = 100): SIMS-style co-occurrence blended with the cosine "
      "of an SVD of the item metadata, `related(last item)`")),
    ("Tailor semantic-similarity",
     ("`chalicelib.algorithms.SemanticSimilarity(100)`: LSA of the items' text, popularity as "
      "tie-break, `related(last item)`")),
    ("Tailor aws-personalized-ranking",
     ("`RECIPE_MODELS[\"aws-personalized-ranking\"]` trained like user-personalization, "
      "ranking an inputList by softmax")),
    ("ItemKNN", "item-item cosine on binary data with shrinkage, top-k neighbours per item"),
    ("RP3beta",
     ("item→user→item random walk with transition probabilities raised to α, divided by "
      "popularity^β, top-k per item (Paudel et al. 2017)")),
    ("Markov (last item)",
     ("transition counts i → j between consecutive distinct items of a user (window > 1 adds "
      "items d steps later with weight 1/d), scored from the last history item, popularity "
      "backfill")),
    ("SKNN (last k events)",
     ("session-kNN: training users' events split into sessions at 1 h gaps; the query is the "
      "last k events (recency-weighted); cosine to every session, the top-n sessions vote")),
    ("implicit ALS / BPR",
     ("`implicit` 0.7 (CPU), benchmark-only dependency (`.venv/bin/pip install implicit`, not "
      "in the project's requirements). ALS folds test users in with `recalculate_user`; BPR "
      "has no fold-in, so it is trained on the training users plus the test users' *history* "
      "rows (never their held-out events)")),
    ("random order", "the re-ranking task's chance level"),
]

MODELS_FOOTER = """\
All baselines live in `scripts/bench/quality/baselines.py` (numpy/scipy, vectorised); the
Tailor recipes as the benchmark builds them in `recipes.py`; the synthetic generator (events
and item metadata) in `synthetic.py`; ML-100K's item metadata is read from the same recbole
wheel as its interactions (`metadata.py`).
"""


def models_section() -> str:
    rows = [f"| {name} | {what} |" for name, what in MODEL_ROWS]
    return "\n".join(["## Models", "", "| row | what |", "|---|---|", *rows, "",
                      MODELS_FOOTER])


def targets_section(results: list[Result]) -> list[str]:
    """One heading per target, one verdict line per data set, and the overall status."""
    lines = ["## Target and verdict", "", ISSUE, ""]
    status = []
    for target, title in TARGETS:
        found = [(res, verdict_of(res, target)) for res in results]
        found = [(res, v) for res, v in found if v is not None]
        if not found:
            continue
        met = all(v.met for _, v in found)
        status.append((title.split(" ", 1)[0], met))
        lines += [f"**{title}: {'MET' if met else 'NOT MET'}**", ""]
        lines += [f"- {v.text(res.log.name)}" for res, v in found]
        for res, _ in found:
            if target in ("default", "hpo") and res.sweep:
                c = sweep_counts(res)
                lines.append(f"- {res.log.name}, over {c['n']} splits: "
                             + _sweep_line(target, c))
        lines.append("")
    overall = ", ".join(f"target {n.rstrip('.')} {'met' if m else 'NOT met'}"
                        for n, m in status)
    lines += [f"Overall: {overall}. {caveats(results)}", "", HPO_WHAT, hpo_conclusion(results)]
    return lines


def hpo_is_default(results: list[Result]) -> bool:
    """True when HPO chose the defaults on one validation score everywhere and its metrics
    equal the default's on every split."""
    return all(r.hpo.get("distinct") == 1 and r.hpo.get("defaults")
               and (not r.sweep or sweep_counts(r)["same"] == sweep_counts(r)["n"])
               for r in results)


def caveats(results: list[Result]) -> str:
    """How far targets 1 and 2 hold beyond the seed-42 split, and what target 2 means."""
    out = []
    for res in results:
        if not res.sweep:
            continue
        c = sweep_counts(res)
        if min(c["default"]) < c["n"]:
            out.append(f"On {res.log.name} the default is ≥ the best baseline in only "
                       f"{c['default'][0]}/{c['n']} (NDCG@10) and {c['default'][1]}/{c['n']} "
                       "(MRR@25) of the sweep's splits: read it as at par, not as a win.")
    if hpo_is_default(results):
        out.append("HPO returns the default model, so target 2 stands or falls with target 1 "
                   "(with a strict lead): where it is met, it is met in the letter only.")
    return " ".join(out)


def _sweep_line(target: str, c: dict) -> str:
    if target == "default":
        return (f"default ≥ best baseline in {c['default'][0]}/{c['n']} (NDCG@10) and "
                f"{c['default'][1]}/{c['n']} (MRR@25)")
    return (f"HPO > best baseline in {c['hpo'][0]}/{c['n']} (NDCG@10) and {c['hpo'][1]}/"
            f"{c['n']} (MRR@25); HPO equal to the default in {c['same']}/{c['n']}")


def render(results: list[Result], cmd: str, machine: str, total: float, quick: bool) -> str:
    lines = [
        "# Offline recommendation quality",
        "",
        (f"Date: {DATE}. Machine: {machine}. Command: `.venv/bin/{cmd}` "
         f"({'quick mode, ' if quick else ''}total {total:.0f} s). "
         "Regenerate this file with the same command (quick runs do not overwrite it unless "
         "`--doc` is given). Data sets are generated or cached outside the repository."),
        "",
    ]
    lines += targets_section(results)
    lines += ["NDCG@10 / MRR@25 of the main task on the seed-42 split:", "",
              short_table(results), ""]
    lines += [PROTOCOL, models_section(), "## Results", ""]
    for res in results:
        lines.append(dataset_section(res))
        if res.sweep:
            lines.append(sweep_table(res))
        lines.append(f"Wall time for this data set: {res.seconds:.0f} s (fit/score seconds "
                     "in the tables are single final fits; tuning time is listed per model).")
        lines.append("")
    lines.append(gap_section(results))
    return "\n".join(lines)
