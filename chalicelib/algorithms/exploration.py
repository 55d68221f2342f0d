"""Item exploration of the User-Personalization family (spec B.4).

A campaign's ``itemExplorationConfig`` asks the recommender to show items it knows little
about, so that they get a chance to collect interactions:

* the **candidates** are cold items: few interactions (fewer than ``max_interactions``) and
  young — created (CREATION_TIMESTAMP) or first seen no more than ``age_cut_off`` seconds
  before the newest interaction of the data set. Items with no interactions and no known
  creation time are new, so they are candidates too;
* ``weight`` (``explorationWeight``, 0..1) is the share of the list's slots, after the
  first ``PROTECTED_SLOTS``, given to candidates. 0 is pure exploitation;
* candidates are drawn without replacement, with probability proportional to an
  optimistic score: the model's probability for the item plus the catalogue-mean
  probability (so items with no model score at all still get drawn).

The draw uses the caller's random generator, so a serving layer can make it reproducible.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PROTECTED_SLOTS", "cold_candidates", "explore", "member"]

# The model's best items keep the top of the list whatever the exploration weight.
PROTECTED_SLOTS = 1


def cold_candidates(counts: np.ndarray, ages: np.ndarray, age_cut_off: float,
                    max_interactions: int) -> np.ndarray:
    """Boolean mask of the exploration candidates.

    Parameters
    ----------
    counts : numpy.ndarray
        Interactions per catalogue item.
    ages : numpy.ndarray
        Seconds between each item's creation (or first interaction) and the newest
        interaction in the data; NaN when unknown.
    age_cut_off : float
        Oldest age, in seconds, of a candidate.
    max_interactions : int
        Items with at least this many interactions are not cold.
    """
    young = np.where(np.isnan(ages), counts == 0, ages <= age_cut_off)
    return young & (counts < max_interactions)


def explore(ranked: np.ndarray, probs: np.ndarray, candidates: np.ndarray, weight: float,
            rng: np.random.Generator) -> np.ndarray:
    """Mix exploration candidates into a ranked list.

    Parameters
    ----------
    ranked : numpy.ndarray
        The exploitation list (item indices, best first); its length is the list size.
    probs : numpy.ndarray
        The model's probability of every catalogue item (0 where it has none).
    candidates : numpy.ndarray
        Indices of the items that may be explored (already filtered by the caller, e.g.
        items the user has seen removed).
    weight : float
        Share of the slots after ``PROTECTED_SLOTS`` that go to candidates.
    rng : numpy.random.Generator
        Source of the draw.

    Returns
    -------
    numpy.ndarray
        A list of the same length: exploitation items in their order, with candidates
        evenly spread over the explored slots.
    """
    n = len(ranked)
    pool = candidates[~member(candidates, ranked[:PROTECTED_SLOTS])]
    slots = min(round(weight * max(n - PROTECTED_SLOTS, 0)), len(pool))
    if slots == 0:
        return ranked
    optimism = probs[pool] + (probs.mean() if len(probs) else 0.0) + 1e-12
    # Weighted sampling without replacement (Efraimidis & Spirakis): the `slots` smallest
    # Exp(1) / weight keys; a few microseconds where Generator.choice(p=...) takes ~100.
    keys = rng.standard_exponential(len(pool)) / optimism
    chosen = pool[np.argsort(keys, kind="stable")[:slots]]
    positions = PROTECTED_SLOTS + _spread(n - PROTECTED_SLOTS - 1, slots).round()
    out = np.full(n, -1, dtype=np.int64)
    out[positions.astype(np.int64)] = chosen
    rest = ranked[~member(ranked, chosen)]
    out[out < 0] = rest[:int((out < 0).sum())]
    return out


def member(values: np.ndarray, few: np.ndarray) -> np.ndarray:
    """``np.isin(values, few)`` for short arrays (a list and its head, the explored items):
    a broadcast comparison instead of two sorts."""
    return (values[:, None] == few[None, :]).any(axis=1)


def _spread(stop: int, num: int) -> np.ndarray:
    """``np.linspace(0, stop, num)`` (the same numbers) without its general-case overhead."""
    if num == 1:
        return np.zeros(1)
    out = np.arange(num) * (stop / (num - 1))
    out[-1] = stop
    return out
