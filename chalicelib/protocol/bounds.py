"""How much of a request Tailor reads, and the one strict JSON parser for caller JSON.

A leaf of ``protocol`` that imports nothing of the project, so the resources, runtime
and jobs layers parse caller JSON (``properties``, schemas, batch input lines) with the
same rules as request bodies.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# The largest request body read (bytes). The largest legal Personalize requests, from
# the botocore models' max lengths: PutItems / PutActions, 10 records x (256-char id +
# 32,000-char ``properties``) = ~323,000 characters; botocore writes non-ASCII as \uXXXX
# (6 bytes, 12 for a character outside the BMP), so ~1.9 MB for non-Latin text and
# ~3.9 MB for emoji only. Next come GetRecommendations / CreateRecommender (~250,000
# characters: 150 context entries of 1,000, metadataColumns 99 x 150), PutEvents (10
# events x 1 KB properties, 25 impressions: ~96,000), GetPersonalizedRanking (500 ids of
# 256), CreateSchema (10,000 characters), CreateFilter (2,500). Only CreateSolution's
# theoretical 100 categorical hyperparameter ranges x 100 values x 1,000 characters
# (10M) exceed it, and no recipe has more than a few hyperparameters. 4 MiB keeps PutItems
# with any text legal and bounds what a request can make Tailor hold.
MAX_BODY_BYTES = 4 * 1024 * 1024
# The deepest nesting of objects and arrays accepted in caller JSON. Personalize's
# deepest input (CreateSolution's hyperparameter ranges) nests 6 levels, a schema 5,
# ``properties`` 1; deeper JSON is refused before anything recurses through it.
MAX_JSON_DEPTH = 32

_SURROGATE = re.compile("[\ud800-\udfff]")


def too_large(length: int) -> str:
    """The message for a body over ``MAX_BODY_BYTES``."""
    return (f"The request body has {length} bytes; Tailor reads at most {MAX_BODY_BYTES} "
            "(the largest legal Personalize request is smaller).")


class JSONRejected(ValueError):
    """Caller JSON that is malformed or outside the bounds; the message says which."""


def _constant(name: str) -> Any:
    raise JSONRejected(f"{name} is not a JSON value.")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONRejected(f"the number {text[:40]} is out of range.")
    return value


def loads(data: str | bytes) -> Any:
    """Parse caller JSON: refuse NaN/Infinity, numbers out of range, nesting deeper than
    ``MAX_JSON_DEPTH`` and lone surrogates (``"\\ud800"``) in keys or strings, which no
    UTF-8 text can hold. Raises ``JSONRejected`` (a ``ValueError``)."""
    try:
        value = json.loads(data, parse_constant=_constant, parse_float=_float)
    except RecursionError:
        raise JSONRejected(f"it nests deeper than {MAX_JSON_DEPTH} levels.") from None
    except JSONRejected:
        raise
    except UnicodeDecodeError:
        raise JSONRejected("it is not valid UTF-8.") from None
    except ValueError as exc:
        raise JSONRejected(str(exc)) from None
    _check(value)
    return value


def _check(value: Any) -> None:
    """Depth and surrogates, walking with a stack (no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not node.isascii() and _SURROGATE.search(node):
                raise JSONRejected("a string holds a lone UTF-16 surrogate (such as \\ud800), "
                                   "which is not a Unicode character.")
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise JSONRejected(f"it nests deeper than {MAX_JSON_DEPTH} levels.")
        if isinstance(node, dict):
            stack.extend((key, depth) for key in node)
            stack.extend((member, depth + 1) for member in node.values())
        else:
            stack.extend((member, depth + 1) for member in node)
