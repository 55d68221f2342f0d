"""Re-ranking task for aws-personalized-ranking (GetPersonalizedRanking).

Each test user gets one inputList of ``LIST_SIZE`` items: the relevant items of the main task
that are not in the user's history, plus items drawn uniformly (seed ``RERANK_SEED``) from
those neither in the history nor relevant; the list is shuffled, so ties fall in random
order. Every model ranks the list by its scores for the user; Tailor's personalized-ranking
ranks it as ``runtime/recommend.get_personalized_ranking`` does (softmax over the known
inputs, stable sort). Metrics over the whole ranked list: NDCG@10 and MRR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chalicelib import algorithms as alg

from . import recipes
from .core import Row, Split, run_model

LIST_SIZE = 100
RERANK_SEED = 42
RERANK_COLS = [("NDCG@10", "rerank_ndcg_at_10"), ("MRR", "rerank_mrr")]


@dataclass
class Candidates:
    rows: np.ndarray  # test-user rows taking part (at least one reachable relevant item)
    items: np.ndarray  # (n_rows, LIST_SIZE) item indices, shuffled
    relevant: np.ndarray  # (n_rows, LIST_SIZE) bool

    @property
    def mean_relevant(self) -> float:
        return float(self.relevant.sum(axis=1).mean())


def candidates(split: Split, seed: int = RERANK_SEED) -> Candidates:
    """The inputList of every test user with a relevant item outside its history."""
    rng = np.random.default_rng(seed)
    hist = split.query.matrix.tocsr()
    everything = np.arange(split.n_items)
    rows, lists, flags = [], [], []
    for t in range(hist.shape[0]):
        seen = hist.indices[hist.indptr[t]:hist.indptr[t + 1]]
        rel = split.relevant_items[split.relevant_indptr[t]:split.relevant_indptr[t + 1]]
        rel = np.setdiff1d(rel, seen)[:LIST_SIZE]
        if rel.size == 0:
            continue
        pool = np.setdiff1d(everything, np.concatenate([seen, rel]), assume_unique=True)
        neg = rng.choice(pool, size=LIST_SIZE - rel.size, replace=False)
        items = np.concatenate([rel, neg])
        order = rng.permutation(LIST_SIZE)
        rows.append(t)
        lists.append(items[order])
        flags.append((np.arange(LIST_SIZE) < rel.size)[order])
    return Candidates(np.asarray(rows, dtype=np.int64), np.asarray(lists), np.asarray(flags))


def per_user_metrics(order: np.ndarray, cand: Candidates) -> dict[str, np.ndarray]:
    """NDCG@10 and reciprocal rank of each user's ranked inputList (the discount
    1/ln(1 + rank) is that of ``ranking_metrics``)."""
    hits = np.take_along_axis(cand.relevant, order, axis=1)
    discount = 1.0 / np.log(1.0 + np.arange(1, 11))
    ideal = np.concatenate([[0.0], np.cumsum(discount)])
    n_rel = cand.relevant.sum(axis=1)
    return {"rerank_ndcg_at_10": (hits[:, :10] @ discount) / ideal[np.minimum(n_rel, 10)],
            "rerank_mrr": 1.0 / (np.argmax(hits, axis=1) + 1.0)}


def list_metrics(order: np.ndarray, cand: Candidates) -> dict[str, float]:
    """:func:`per_user_metrics` averaged over users."""
    return {k: round(float(v.mean()), 4) for k, v in per_user_metrics(order, cand).items()}


def raw_order(scores: np.ndarray, cand: Candidates) -> np.ndarray:
    """Each inputList sorted by the model's scores, best first, ties in list order."""
    raw = np.take_along_axis(scores[cand.rows], cand.items, axis=1)
    return np.argsort(-raw, axis=1, kind="stable")


def rerank_row(name: str, family: str, order: np.ndarray, cand: Candidates,
               params: dict, fit_s: float = 0.0) -> Row:
    row = Row(name, family, params, list_metrics(order, cand), fit_s, 0.0)
    row.per_user = per_user_metrics(order, cand)
    return row



def softmax_note(raw: np.ndarray, cand: Candidates) -> str:
    """Whether the softmax changed the order, and how flat the probabilities it returns are."""
    by_prob = list_metrics(recipes.personalized_ranking_order(raw), cand)
    by_raw = list_metrics(np.argsort(-raw, axis=1, kind="stable"), cand)
    top = np.median(alg.softmax(raw, axis=1).max(axis=1))
    same = "the same metrics as" if by_prob == by_raw else "different metrics from"
    return (f"Personalized-ranking's softmax gives {same} sorting by its raw scores; the "
            f"probabilities are flat (median top probability {top:.4f} for {LIST_SIZE} "
            f"inputs, uniform = {1 / LIST_SIZE:.4f}): the raw scores span "
            f"{np.median(raw.max(axis=1) - raw.min(axis=1)):.2f} per list (median).")


def rerank_task(split: Split, main: list[Row]) -> tuple[list[Row], Candidates, str]:
    """Tailor's personalized-ranking (fitted here as training fits
    aws-personalized-ranking), then every main-table model's scores on the same lists, and
    random order as the chance level; and :func:`softmax_note`."""
    cand = candidates(split)
    pr = recipes.tailor_default(split.n_items, recipe_name="aws-personalized-ranking")
    _, scores, fit_s, _ = run_model(pr, split)
    raw = np.take_along_axis(scores[cand.rows], cand.items, axis=1)
    rows = [rerank_row("Tailor aws-personalized-ranking (default, softmax over inputList)",
                       "tailor", recipes.personalized_ranking_order(raw), cand,
                       {"model": pr.kind, **pr.params}, fit_s)]
    for row in main:
        if row.scores is None or row.name.startswith("Tailor aws-user-personalization"):
            continue  # the same model as personalized-ranking
        rows.append(rerank_row(row.name, "baseline", raw_order(row.scores, cand), cand,
                               row.params, row.fit_seconds))
    rng = np.random.default_rng(RERANK_SEED + 1)
    random = np.argsort(rng.random(cand.items.shape), axis=1)
    rows.append(rerank_row("random order (chance level)", "reference", random, cand, {}))
    return rows, cand, softmax_note(raw, cand)
