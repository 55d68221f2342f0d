"""Generated interaction data with planted structure (tests never use third-party data)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

INTERACTIONS_SCHEMA = json.dumps({
    "type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
               {"name": "TIMESTAMP", "type": "long"},
               {"name": "EVENT_TYPE", "type": "string"}],
    "version": "1.0"})


@dataclass
class Interactions:
    users: list[str]
    items: list[str]
    timestamps: list[int]
    event_types: list[str]
    cluster_of_user: dict[str, int]
    cluster_of_item: dict[str, int]

    def to_csv(self) -> str:
        out = io.StringIO()
        out.write("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n")
        for row in zip(self.users, self.items, self.timestamps, self.event_types,
                       strict=True):
            out.write(",".join(map(str, row)) + "\n")
        return out.getvalue()


def planted_interactions(n_users: int = 400, n_items: int = 240, n_clusters: int = 8,
                         per_user: int = 20, noise: float = 0.15,
                         seed: int = 0) -> Interactions:
    """Users belong to taste clusters and mostly pick items of their cluster (without
    repeats); the rest is popularity-driven noise, so popularity is a real but weak baseline.
    """
    rng = np.random.default_rng(seed)
    item_cluster = np.arange(n_items) % n_clusters
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    users, items, stamps = [], [], []
    t0 = 1_700_000_000
    user_cluster = rng.integers(0, n_clusters, n_users)
    for u in range(n_users):
        own = np.flatnonzero(item_cluster == user_cluster[u])
        k = rng.integers(per_user // 2, per_user + 1)
        n_noise = round(k * noise)
        p_own = popularity[own] / popularity[own].sum()
        chosen = list(rng.choice(own, size=min(k - n_noise, len(own)), replace=False, p=p_own))
        rest = np.setdiff1d(np.arange(n_items), chosen)
        p_rest = popularity[rest] / popularity[rest].sum()
        chosen += list(rng.choice(rest, size=n_noise, replace=False, p=p_rest))
        order = rng.permutation(len(chosen))
        for j, i in enumerate(np.array(chosen)[order]):
            users.append(f"u{u}")
            items.append(f"i{i}")
            stamps.append(t0 + u * 1000 + j * 60)
    types = ["click"] * len(users)
    return Interactions(users, items, stamps, types,
                        {f"u{u}": int(c) for u, c in enumerate(user_cluster)},
                        {f"i{i}": int(c) for i, c in enumerate(item_cluster)})
