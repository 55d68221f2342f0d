"""A seeded, deterministic e-commerce-like event log for the quality benchmark.

What is in it (all knobs are arguments of :func:`generate`):

* **power-law item popularity** — item base weights are Pareto distributed, so a few items
  take a large share of the traffic;
* **taste clusters** — items belong to one of ``n_clusters`` categories; each user has a
  Dirichlet taste vector concentrated on a few categories;
* **sessions with item-to-item transitions** — every item has a few "successor" items (same
  category, e.g. accessories of a product); inside a session the next item is a successor of
  the current one with probability ``p_follow``, otherwise a fresh draw from the user's taste;
* **a view → click → purchase funnel** — every item shown in a session is viewed, some are
  then clicked and some clicked items purchased, seconds apart; all three event types are
  used as implicit feedback (so the log has many repeated (user, item) pairs);
* **new items over time and drift** — ``new_item_share`` of the catalogue is released at
  uniformly random times during the period (and only sampled once released, with a novelty
  boost), and each category's attractiveness drifts log-linearly over the period;
* **item metadata** (for aws-similar-items and aws-semantic-similarity) — a CATEGORY field,
  the item's taste cluster, and a short generated DESCRIPTION (:func:`item_metadata`). It is
  drawn from its own random stream after the events, so the event log is exactly the one
  generated without it.

Nothing is written to disk: :func:`generate` returns arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY = 86_400
T0 = 1_700_000_000  # 2023-11-14, an arbitrary epoch for the timestamps


@dataclass(frozen=True)
class EventLog:
    """Interactions as parallel arrays (indices, not string ids), oldest first."""

    name: str
    users: np.ndarray  # int64 user index
    items: np.ndarray  # int64 item index
    timestamps: np.ndarray  # int64 seconds
    event_types: np.ndarray  # str
    n_users: int
    n_items: int
    description: str = ""
    item_categories: np.ndarray | None = None  # str per item index, "|" between categories
    item_texts: np.ndarray | None = None  # str per item index ("" = no text)

    @property
    def n_events(self) -> int:
        return int(self.users.size)

    def repeat_rate(self) -> float:
        """Share of events whose (user, item) pair occurred before (Tailor's avoid_repeats)."""
        pairs = np.unique(self.users * self.n_items + self.items).size
        return 1.0 - pairs / max(1, self.n_events)


_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vi", "zo", "be", "du", "fa", "gi", "ho",
              "ju", "pe", "so", "ar", "el")


def _pseudo_words(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct pseudo-words of 2-3 syllables, in the order drawn."""
    out: dict[str, None] = {}
    while len(out) < n:
        out["".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 4))))] = None
    return list(out)


def item_metadata(cluster: np.ndarray, n_clusters: int, seed: int, theme_words: int = 6,
                  shared_words: int = 40, p_stray: float = 0.2,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(category, description) of each item: the category is the item's taste cluster; the
    description holds 2 of its cluster's ``theme_words`` words and 2 of ``shared_words``
    words common to all clusters, and for a share ``p_stray`` of the items one more word of
    another cluster (noise). Drawn from ``default_rng(seed + 1)``, not the events' stream."""
    rng = np.random.default_rng(seed + 1)
    words = _pseudo_words(rng, n_clusters * theme_words + shared_words)
    themes = np.array(words[:n_clusters * theme_words]).reshape(n_clusters, theme_words)
    shared = np.array(words[n_clusters * theme_words:])
    n = cluster.size
    pick = rng.random((n, theme_words)).argsort(axis=1)[:, :2]
    own = themes[cluster[:, None], pick]
    common = shared[rng.integers(0, shared.size, size=(n, 2))]
    other = (cluster + rng.integers(1, n_clusters, size=n)) % n_clusters
    stray = np.where(rng.random(n) < p_stray, themes[other, rng.integers(0, theme_words, n)], "")
    texts = own[:, 0]
    for column in (common[:, 0], own[:, 1], common[:, 1], stray):
        texts = np.char.add(np.char.add(texts, " "), column)
    texts = np.char.strip(texts)
    categories = np.char.add("category-", np.char.zfill(cluster.astype(str), 2))
    return categories, texts


def generate(
    n_users: int = 8000,
    n_items: int = 4000,
    n_clusters: int = 25,
    days: int = 180,
    sessions_per_user: float = 5.0,
    session_length: float = 5.0,
    p_follow: float = 0.55,
    n_successors: int = 3,
    p_click: float = 0.35,
    p_purchase: float = 0.3,
    new_item_share: float = 0.3,
    pareto_shape: float = 1.2,
    seed: int = 20261123,
) -> EventLog:
    """Generate the event log; the same arguments always give the same arrays."""
    rng = np.random.default_rng(seed)
    period = days * DAY

    # --- items: category, power-law weight, release time, successors -------------------
    cluster = rng.integers(0, n_clusters, size=n_items)
    weight = rng.pareto(pareto_shape, size=n_items) + 1.0
    release = np.zeros(n_items, dtype=np.int64)
    is_new = rng.random(n_items) < new_item_share
    release[is_new] = rng.integers(DAY, period - 7 * DAY, size=int(is_new.sum()))
    weight[is_new] *= 2.0  # novelty: new releases get attention
    drift = rng.normal(0.0, 1.2, size=n_clusters)  # log-attractiveness slope per category

    # per category: items ordered by release time, cumulative weights for prefix sampling
    by_cluster: list[np.ndarray] = []
    cum_weight: list[np.ndarray] = []
    rel_sorted: list[np.ndarray] = []
    for c in range(n_clusters):
        members = np.flatnonzero(cluster == c)
        members = members[np.argsort(release[members], kind="stable")]
        by_cluster.append(members)
        cum_weight.append(np.cumsum(weight[members]))
        rel_sorted.append(release[members])

    # successors: popularity-weighted draws from the same category (fixed per item)
    successors = np.empty((n_items, n_successors), dtype=np.int64)
    for c in range(n_clusters):
        members = by_cluster[c]
        p = weight[members] / weight[members].sum()
        draws = rng.choice(members, size=(members.size, n_successors), p=p)
        successors[members] = draws
    successors = np.where(successors == np.arange(n_items)[:, None],
                          np.roll(successors, 1, axis=1), successors)

    # --- users: taste, activity, first visit ---------------------------------------------
    taste = rng.dirichlet(np.full(n_clusters, 0.15), size=n_users)
    activity = rng.lognormal(0.0, 0.8, size=n_users)
    lam = np.maximum(sessions_per_user * activity / activity.mean() - 1.0, 0.0)
    n_sessions = 1 + rng.poisson(lam)
    start = rng.integers(0, int(period * 0.8), size=n_users)

    def draw_from(c: int, t: int, u: float) -> int:
        k = int(np.searchsorted(rel_sorted[c], t, side="right"))
        if k == 0:
            return -1
        cw = cum_weight[c]
        return int(by_cluster[c][np.searchsorted(cw[:k], u * cw[k - 1], side="right")])

    users_out: list[int] = []
    items_out: list[int] = []
    ts_out: list[int] = []
    types_out: list[int] = []  # 0 view, 1 click, 2 purchase
    for u in range(n_users):
        times = np.sort(rng.integers(start[u], period, size=n_sessions[u]))
        for t in times.tolist():
            # category preference at time t: taste × drifting attractiveness
            pref = taste[u] * np.exp(drift * (t / period - 0.5))
            pref_cum = np.cumsum(pref)
            length = 1 + rng.geometric(1.0 / session_length)
            uniforms = rng.random((length, 5))
            clock = t
            current = -1
            for step in range(length):
                r_follow, r_cat, r_item, r_click, r_buy = uniforms[step]
                item = -1
                if current >= 0 and r_follow < p_follow:
                    cand = successors[current, int(r_item * n_successors)]
                    if release[cand] <= clock:
                        item = int(cand)
                if item < 0:
                    for _ in range(4):  # categories may have nothing released yet
                        c = int(np.searchsorted(pref_cum, r_cat * pref_cum[-1], side="right"))
                        item = draw_from(min(c, n_clusters - 1), clock, r_item)
                        if item >= 0:
                            break
                        r_cat = (r_cat + 0.618034) % 1.0
                if item < 0:
                    continue
                current = item
                clock += 20 + int(r_item * 100)
                funnel = [0]  # view, then maybe click, then maybe purchase
                if r_click < p_click:
                    funnel.append(1)
                    if r_buy < p_purchase:
                        funnel.append(2)
                for kind in funnel:
                    clock += (0, 5 + int(r_cat * 30), 30 + int(r_buy * 60))[kind]
                    users_out.append(u)
                    items_out.append(item)
                    ts_out.append(clock)
                    types_out.append(kind)

    users = np.asarray(users_out, dtype=np.int64)
    items = np.asarray(items_out, dtype=np.int64)
    ts = np.asarray(ts_out, dtype=np.int64) + T0
    etypes = np.array(["view", "click", "purchase"])[np.asarray(types_out)]
    # re-index to the users/items that actually occur, oldest event first (as train.py does)
    order = np.argsort(ts, kind="stable")
    _, users = np.unique(users[order], return_inverse=True)
    kept, items = np.unique(items[order], return_inverse=True)
    categories, texts = item_metadata(cluster, n_clusters, seed)
    desc = (f"generated: {n_users} users x {n_items} items, {n_clusters} taste clusters, "
            f"Pareto({pareto_shape}) popularity, {days} days, ~{sessions_per_user:g} sessions/"
            f"user of ~{session_length:g} items, p_follow={p_follow}, view/click/purchase "
            f"funnel ({p_click}/{p_purchase}), {new_item_share:.0%} items released over time, "
            f"category drift, seed {seed}; item metadata: CATEGORY = taste cluster, "
            f"DESCRIPTION = 2 cluster words + 2 shared words (+1 stray word for 20 %)")
    return EventLog("synthetic", users.astype(np.int64), items.astype(np.int64), ts[order],
                    etypes[order], int(users.max()) + 1, int(items.max()) + 1, desc,
                    categories[kept], texts[kept])
