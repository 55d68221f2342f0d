"""MovieLens-100K item metadata for the related-items recipes (aws-similar-items,
aws-semantic-similarity).

The ``recbole==1.2.1`` wheel that :mod:`scripts.bench.data` fetches for the interactions also
ships ``ml-100k.item`` (tab separated, header ``item_id:token movie_title:token_seq
release_year:token class:token_seq``). It is read straight from the cached wheel, never
copied into the repository. As an Items dataset it would be::

    GENRES       string, categorical   the ``class`` column, genres joined by "|"
    TITLE        string, textual       ``movie_title``

(the release year would be a numeric field, which Tailor's item features leave out).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

ITEM_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.item"
ITEM_HEADER = ["item_id:token", "movie_title:token_seq", "release_year:token",
               "class:token_seq"]


def read_items() -> dict[str, tuple[str, str]]:
    """Raw item id -> (genres joined by "|", title), from the cached recbole wheel."""
    from scripts.bench import data

    wheel = data._wheel(data.default_cache())  # the wheel movielens_100k() fetched
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(ITEM_MEMBER).decode("utf-8")
    lines = io.StringIO(raw)
    header = next(lines).rstrip("\n").split("\t")
    if header != ITEM_HEADER:
        raise RuntimeError(f"unexpected header in {ITEM_MEMBER}: {header}")
    out: dict[str, tuple[str, str]] = {}
    for line in lines:
        if not line.strip():
            continue
        item, title, _year, genres = line.rstrip("\n").split("\t")
        out[item] = ("|".join(genres.split()), title)
    return out


def ml100k_metadata(item_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(genres, titles) aligned with ``item_ids`` ("" for an item without a record)."""
    records = read_items()
    genres = np.array([records.get(str(i), ("", ""))[0] for i in item_ids.tolist()])
    titles = np.array([records.get(str(i), ("", ""))[1] for i in item_ids.tolist()])
    return genres, titles
