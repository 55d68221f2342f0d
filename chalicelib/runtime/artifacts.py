"""A trained solution version on disk: the model plus what serving needs around it.

One ``.npz`` (no pickle): the model's arrays under ``model.*``, the string ids,
the training user x item matrix (each known user's history) and flags.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms import MODELS, Recommender

_PREFIX = "model."


@dataclass
class Artifact:
    recipe: str
    model: Recommender
    item_ids: np.ndarray
    user_ids: np.ndarray
    user_items: sp.csr_matrix
    # True when users rarely re-consume an item in the training data: serving then
    # ranks items already in the user's history after all others (as a next-item model would).
    avoid_repeats: bool = False
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    # Tables serving derives from the extras once per loaded artifact.
    derived: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def item_index(self) -> dict[str, int]:
        return {item: i for i, item in enumerate(self.item_ids.tolist())}

    @cached_property
    def user_index(self) -> dict[str, int]:
        return {user: i for i, user in enumerate(self.user_ids.tolist())}

    @cached_property
    def live_source(self) -> tuple[str, int] | None:
        """(Interactions dataset ARN, last PUT row id read at training): the live events
        of a user are that dataset's PUT rows after the id (None: not recorded)."""
        if "dataset_arn" not in self.extras:
            return None
        return str(self.extras["dataset_arn"]), int(self.extras["put_watermark"])

    @cached_property
    def popularity(self) -> np.ndarray:
        """Distinct users per item."""
        return np.bincount(self.user_items.indices, minlength=len(self.item_ids))

    @cached_property
    def popularity_order(self) -> np.ndarray:
        return np.argsort(-self.popularity, kind="stable")

    def to_bytes(self) -> bytes:
        arrays = {f"{_PREFIX}{k}": v for k, v in self.model.to_arrays().items()}
        ui = self.user_items
        buf = io.BytesIO()
        np.savez(buf, recipe=np.array(self.recipe), kind=np.array(self.model.kind),
                 item_ids=self.item_ids, user_ids=self.user_ids, ui_indptr=ui.indptr,
                 ui_indices=ui.indices, ui_data=ui.data, avoid_repeats=self.avoid_repeats,
                 **{f"extra.{k}": v for k, v in self.extras.items()}, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Artifact:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            a = {k: npz[k] for k in npz.files}
        model = MODELS[str(a["kind"])].from_arrays(
            {k[len(_PREFIX):]: v for k, v in a.items() if k.startswith(_PREFIX)})
        shape = (len(a["user_ids"]), len(a["item_ids"]))
        user_items = sp.csr_matrix((a["ui_data"], a["ui_indices"], a["ui_indptr"]), shape=shape)
        extras = {k[len("extra."):]: v for k, v in a.items() if k.startswith("extra.")}
        return cls(str(a["recipe"]), model, a["item_ids"], a["user_ids"], user_items,
                   bool(a["avoid_repeats"]), extras)
