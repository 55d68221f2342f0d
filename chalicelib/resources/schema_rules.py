"""Avro schema rules for the five dataset types (spec A.2, C.3).

``parse_schema`` returns a ``DatasetSchema`` or raises InvalidInputException
naming the rule that was broken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from chalicelib.errors import InvalidInputException
from chalicelib.protocol import bounds

PRIMITIVES = frozenset({"float", "double", "int", "long", "string", "boolean", "null"})
NUMERIC = frozenset({"float", "double", "int", "long"})
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Record name -> canonical datasetType and the dataset-type key used in ARNs.
DATASET_TYPES = {
    "interactions": ("Interactions", "INTERACTIONS"),
    "items": ("Items", "ITEMS"),
    "users": ("Users", "USERS"),
    "actions": ("Actions", "ACTIONS"),
    "action_interactions": ("Action_Interactions", "ACTION_INTERACTIONS"),
}

# Required fields (name -> allowed types) and reserved optional ones, per dataset type.
_REQUIRED = {
    "Interactions": {"USER_ID": {"string"}, "ITEM_ID": {"string"}, "TIMESTAMP": {"long"}},
    "Items": {"ITEM_ID": {"string"}},
    "Users": {"USER_ID": {"string"}},
    "Actions": {"ACTION_ID": {"string"}},
    "Action_Interactions": {"USER_ID": {"string"}, "ACTION_ID": {"string"},
                            "TIMESTAMP": {"long"}, "EVENT_TYPE": {"string"}},
}
_RESERVED = {
    "Interactions": {"EVENT_TYPE": {"string"}, "EVENT_VALUE": {"float", "double"},
                     "IMPRESSION": {"string"}, "RECOMMENDATION_ID": {"string"},
                     "EVENT_ATTRIBUTION_SOURCE": {"string"}},
    "Items": {"CREATION_TIMESTAMP": {"long"}},
    "Users": {},
    "Actions": {"CREATION_TIMESTAMP": {"long"}, "ACTION_EXPIRATION_TIMESTAMP": {"long"},
                "REPEAT_FREQUENCY": {"int", "long"}, "VALUE": NUMERIC},
    "Action_Interactions": {"IMPRESSION": {"string"}, "RECOMMENDATION_ID": {"string"}},
}
_METADATA_LIMITS = {"Interactions": (0, 5), "Users": (1, 5), "Items": (1, 50),
                    "Actions": (1, 10), "Action_Interactions": (0, 5)}
_DOMAIN_REQUIRED = {
    ("ECOMMERCE", "Interactions"): {"EVENT_TYPE": {"string"}},
    ("VIDEO_ON_DEMAND", "Interactions"): {"EVENT_TYPE": {"string"}},
    ("ECOMMERCE", "Items"): {"PRICE": {"float", "double"}, "CATEGORY_L1": {"string"}},
    ("VIDEO_ON_DEMAND", "Items"): {"GENRES": {"string"}, "CREATION_TIMESTAMP": {"long"}},
}


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    nullable: bool
    categorical: bool = False
    textual: bool = False


@dataclass(frozen=True)
class DatasetSchema:
    dataset_type: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


def metadata_fields(schema: DatasetSchema) -> list[str]:
    """The schema's metadata fields: neither required nor reserved (ids, TIMESTAMP,
    EVENT_TYPE ...), so trainingDataConfig may exclude or include them."""
    fixed = set(_REQUIRED[schema.dataset_type]) | set(_RESERVED[schema.dataset_type])
    return [f.name for f in schema.fields if f.name not in fixed]


def dataset_type(value: str) -> tuple[str, str]:
    """Case-insensitive datasetType -> (canonical name, ARN suffix)."""
    found = DATASET_TYPES.get(value.lower())
    if found is None:
        raise InvalidInputException(
            f"datasetType {value!r} is not one of Interactions, Items, Users, Actions, "
            "Action_Interactions.")
    return found


def _bad(message: str) -> InvalidInputException:
    return InvalidInputException(f"Invalid schema: {message}")


def _field(raw: object, record: str) -> Field:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise _bad("each entry of 'fields' must be an object with a string 'name'.")
    name, kind = raw["name"], raw.get("type")
    if not _FIELD_NAME.fullmatch(name) or len(name) > 150:
        raise _bad(f"field name {name!r} must match [A-Za-z_][A-Za-z0-9_]* (max 150 chars).")
    nullable = False
    if isinstance(kind, list) and len(kind) == 1:
        kind = kind[0]  # a one-member union ["string"] is that type (not nullable)
    if isinstance(kind, list):
        others = [t for t in kind if t != "null"]
        if len(kind) != 2 or len(others) != 1 or not isinstance(others[0], str):
            raise _bad(f"field {name}: a union must be [\"null\", <primitive>] (or one "
                       f"type, [<primitive>]), got {kind}.")
        kind, nullable = others[0], True
    if not isinstance(kind, str) or kind not in PRIMITIVES or kind == "null":
        raise _bad(f"field {name}: type {kind!r} is not supported; use one of "
                   "float, double, int, long, string, boolean (or [\"null\", type]).")
    categorical, textual = bool(raw.get("categorical")), bool(raw.get("textual"))
    if (categorical or textual) and kind != "string":
        raise _bad(f"field {name}: categorical/textual fields must have type string.")
    if categorical and textual:
        raise _bad(f"field {name} cannot be both categorical and textual.")
    if textual and record != "Items":
        raise _bad(f"field {name}: textual fields are only allowed in Items schemas.")
    return Field(name, kind, nullable, categorical, textual)


@lru_cache(maxsize=256)
def parse_schema(text: str, domain: str | None = None) -> DatasetSchema:
    """Check an Avro schema string against Personalize's rules (schemas are immutable,
    so results are cached)."""
    try:
        raw = bounds.loads(text)
    except ValueError as exc:
        raise _bad(f"the schema is not valid JSON ({exc}).") from None
    if not isinstance(raw, dict) or raw.get("type") != "record":
        raise _bad("the top level must be an Avro record: {\"type\": \"record\", ...}.")
    record, _ = dataset_type(str(raw.get("name", "")))
    fields_raw = raw.get("fields")
    if not isinstance(fields_raw, list) or not fields_raw:
        raise _bad("'fields' must be a non-empty list.")
    fields = tuple(_field(f, record) for f in fields_raw)
    seen: dict[str, str] = {}
    for f in fields:
        key = re.sub(r"[^A-Za-z0-9]", "", f.name).upper()
        if key in seen:
            raise _bad(f"fields {seen[key]} and {f.name} clash (names must be unique "
                       "ignoring case and underscores).")
        seen[key] = f.name
    by_name = {f.name: f for f in fields}
    required = {**_REQUIRED[record], **_DOMAIN_REQUIRED.get((domain or "", record), {})}
    for name, types in required.items():
        f = by_name.get(name)
        if f is None:
            where = f" in a {domain} domain" if domain and name not in _REQUIRED[record] else ""
            raise _bad(f"{record} schemas{where} require field {name} "
                       f"(type {' or '.join(sorted(types))}).")
        if f.type not in types or f.nullable:
            raise _bad(f"required field {name} must have type {' or '.join(sorted(types))} "
                       "and must not be nullable.")
    for name, types in _RESERVED[record].items():
        f = by_name.get(name)
        if f is not None and f.type not in types and name not in required:
            raise _bad(f"reserved field {name} must have type {' or '.join(sorted(types))}.")
    event_type = by_name.get("EVENT_TYPE")
    if record == "Interactions" and event_type is not None and event_type.categorical:
        raise _bad("EVENT_TYPE must not be categorical.")
    fixed = set(_REQUIRED[record]) | set(_RESERVED[record])
    metadata = [f for f in fields if f.name not in fixed]
    low, high = _METADATA_LIMITS[record]
    if not low <= len(metadata) <= high:
        raise _bad(f"{record} schemas need between {low} and {high} metadata fields "
                   f"besides {', '.join(sorted(fixed))}; this one has {len(metadata)}.")
    return DatasetSchema(record, fields)
