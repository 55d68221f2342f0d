"""``metadataColumns`` (spec E.1, E.2): Items-dataset values returned with each item.

The campaign (or recommender) must have ``enableMetadataWithRecommendations``; only the
ITEMS dataset's columns can be asked for (at most 10), and a request asking for metadata
gets at most 50 items. Values are the Items dataset's as it is now (imports and
PutItems, newest record per item), rendered as strings (numbers as text, multi-valued
categorical values ``|``-joined); a missing value is left out of the item's map.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chalicelib.errors import InvalidInputException
from chalicelib.runtime import filter_data as data
from chalicelib.state.context import Context

MAX_COLUMNS = 10
MAX_RESULTS = 50
DATASET_KEY = "ITEMS"


def requested(ctx: Context, metadata_columns: dict[str, list[str]] | None,
              config: dict[str, Any], group_arn: str, count: int, count_name: str,
              source: str) -> list[str] | None:
    """The Items columns a request asks for (checked), or None when it asks for none."""
    if not metadata_columns:
        return None
    other = sorted(k for k in metadata_columns if k != DATASET_KEY)
    if other:
        raise InvalidInputException(
            f"metadataColumns can only name columns of the {DATASET_KEY} dataset; got "
            f"{', '.join(other)}.")
    columns = list(dict.fromkeys(metadata_columns[DATASET_KEY]))
    if not columns:
        raise InvalidInputException(f"metadataColumns.{DATASET_KEY} lists no column.")
    if len(columns) > MAX_COLUMNS:
        raise InvalidInputException(
            f"metadataColumns.{DATASET_KEY} may list at most {MAX_COLUMNS} columns, got "
            f"{len(columns)}.")
    if not config.get("enableMetadataWithRecommendations"):
        raise InvalidInputException(
            f"{source} does not return metadata: create or update it with "
            "enableMetadataWithRecommendations=true to use metadataColumns.")
    if count > MAX_RESULTS:
        raise InvalidInputException(
            f"{count_name} may be at most {MAX_RESULTS} when metadataColumns is given, got "
            f"{count}.")
    table = data.record_table(ctx, group_arn, "Items")
    if not table.exists:
        raise InvalidInputException(
            f"Dataset group {group_arn} has no Items dataset; metadataColumns reads it.")
    unknown = [c for c in columns if table.field(c) is None]
    if unknown:
        raise InvalidInputException(
            f"metadataColumns.{DATASET_KEY}: the Items dataset has no column "
            f"{', '.join(unknown)} (its columns: "
            f"{', '.join(f.name for f in table.schema.fields)}).")
    return columns


def _text(values: np.ndarray) -> list[str | None]:
    if values.dtype == bool:
        return ["true" if v else "false" for v in values.tolist()]
    if values.dtype.kind == "f":
        return [None if math.isnan(v) else repr(v) for v in values.tolist()]
    return [str(v) or None for v in values.tolist()]


def metadata_of(ctx: Context, group_arn: str, ids: np.ndarray, columns: list[str],
                ) -> list[dict[str, str]]:
    """Each item's ``{column: value}`` map (values as strings; missing ones left out)."""
    table = data.record_table(ctx, group_arn, "Items")
    rows = table.positions(ids)
    rendered = [_text(table.column(c)[rows]) for c in columns]
    return [{c: v for c, v in zip(columns, values, strict=True) if v is not None}
            for values in zip(*rendered, strict=True)] if len(ids) else []
