"""Read a dataset's imported segments back as columns."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from chalicelib.state.blobs import get_arrays
from chalicelib.state.context import Context


def dataset_columns(ctx: Context, dataset_arn: str) -> dict[str, np.ndarray] | None:
    """All rows of a dataset (every active segment, oldest first), or None if it has none."""
    keys = [r[0] for r in ctx.store.db.execute(
        "SELECT key FROM segments WHERE dataset_arn = ? ORDER BY created, key", [dataset_arn])]
    if not keys:
        return None
    parts = [get_arrays(ctx.blobs, k) for k in keys]
    names = [n for n in parts[-1] if not n.startswith("__")]
    return {n: np.concatenate([p[n] for p in parts if n in p]) for n in names}


def interaction_matrix(users: np.ndarray, items: np.ndarray,
                       shape: tuple[int, int]) -> sp.csr_matrix:
    """User x item event counts (repeated events summed)."""
    data = np.ones(len(users), dtype=np.float32)
    m = sp.csr_matrix((data, (users, items)), shape=shape)
    m.sum_duplicates()
    return m
