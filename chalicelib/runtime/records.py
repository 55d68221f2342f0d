"""Turn one API record (PutEvents event, PutItems item, ...) into a schema-typed row."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from chalicelib.errors import InvalidInputException
from chalicelib.protocol import bounds
from chalicelib.resources.schema_rules import DatasetSchema, Field

MAX_CATEGORICAL = 1000
MAX_TEXTUAL = 20000
# Timestamps are epoch seconds of years 1 to 9999 (what ISO-8601 can write).
_EPOCH_RANGE = (-62_135_596_800, 253_402_300_799)


def _key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", name).upper()


def epoch_seconds(value: Any, where: str) -> int:
    """A modelled timestamp (epoch number or ISO-8601 string) as whole seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise InvalidInputException(
                f"{where} must be a timestamp, got {str(value)[:100]!r}.") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        seconds = parsed.timestamp()
    if not _EPOCH_RANGE[0] <= seconds <= _EPOCH_RANGE[1]:
        raise InvalidInputException(
            f"{where} must be a time in the years 1 to 9999, got {str(value)[:100]!r}.")
    return int(seconds)


def coerce(field: Field, value: Any, where: str) -> Any:
    """Check a property value against its schema field; returns the stored value."""
    if value is None or value == "":
        if not field.nullable:
            raise InvalidInputException(f"{where}: {field.name} may not be null or empty.")
        return None
    if field.type == "string":
        text = value if isinstance(value, str) else json.dumps(value)
        limit = MAX_TEXTUAL if field.textual else MAX_CATEGORICAL
        if field.categorical and any(len(v) > limit for v in text.split("|")):
            raise InvalidInputException(
                f"{where}: each {field.name} value may have at most {limit} characters.")
        return text[:MAX_TEXTUAL] if field.textual else text
    if field.type == "boolean":
        if isinstance(value, bool) or str(value) in ("true", "false"):
            return value if isinstance(value, bool) else value == "true"
        raise InvalidInputException(f"{where}: {field.name} must be true or false.")
    try:
        number = float(value)
        if field.type in ("int", "long"):
            if number != int(number):
                raise ValueError
            return int(number)
        return number
    except (TypeError, ValueError):
        kind = "an integer" if field.type in ("int", "long") else "a number"
        raise InvalidInputException(
            f"{where}: {field.name} must be {kind}, got {value!r}.") from None


def properties(schema: DatasetSchema, raw: str | None, where: str,
               reserved: frozenset[str]) -> dict[str, Any]:
    """Parse a ``properties`` JSON string whose keys name schema fields in camelCase
    (``numberOfRatings`` for NUMBER_OF_RATINGS)."""
    if raw is None:
        return {}
    try:
        parsed = bounds.loads(raw)
    except ValueError as exc:
        raise InvalidInputException(f"{where}.properties is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidInputException(f"{where}.properties must be a JSON object.")
    by_key = {_key(f.name): f for f in schema.fields if f.name not in reserved}
    out = {}
    for key, value in parsed.items():
        field = by_key.get(_key(key))
        if field is None:
            allowed = sorted(f.name for f in by_key.values())
            raise InvalidInputException(
                f"{where}.properties has {key!r}, which is not a field of the "
                f"{schema.dataset_type} schema; the allowed fields are {allowed} (in camelCase, "
                "e.g. numberOfRatings for NUMBER_OF_RATINGS).")
        out[field.name] = coerce(field, value, f"{where}.properties.{key}")
    return out


def require_fields(schema: DatasetSchema, row: dict[str, Any], where: str) -> None:
    missing = [f.name for f in schema.fields if not f.nullable and row.get(f.name) is None]
    if missing:
        raise InvalidInputException(
            f"{where} is missing required field(s) {missing} of the {schema.dataset_type} "
            "schema (give them in properties, in camelCase).")
