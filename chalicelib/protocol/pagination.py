"""nextToken / maxResults for every List operation.

The token is opaque: base64 of JSON holding the operation, a digest of the
other request parameters and the offset of the next item, so a token replayed
on another operation or with other filters gets InvalidNextTokenException.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from chalicelib.errors import InvalidNextTokenException

T = TypeVar("T")
DEFAULT_MAX_RESULTS = 100
_PAGING_KEYS = ("nextToken", "maxResults")


def _digest(operation: str, params: dict[str, Any]) -> str:
    rest = {k: v for k, v in params.items() if k not in _PAGING_KEYS}
    raw = json.dumps([operation, rest], sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _decode(token: str, operation: str, params: dict[str, Any]) -> int:
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = state["o"]
        matches = state["d"] == _digest(operation, params)
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError):
        raise InvalidNextTokenException("The nextToken is not valid: it was not issued by this "
                                        "operation. Start again without nextToken.") from None
    if not matches or not isinstance(offset, int) or offset < 0:
        raise InvalidNextTokenException(
            f"The nextToken was issued for different {operation} parameters; "
            "repeat the same parameters or start again without nextToken.")
    return offset


def _encode(operation: str, params: dict[str, Any], offset: int) -> str:
    state = {"o": offset, "d": _digest(operation, params)}
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def paginate(operation: str, params: dict[str, Any], items: Sequence[T],
             ) -> tuple[Sequence[T], str | None]:
    """One page of ``items`` (already in list order) and the token for the next, if any."""
    token = params.get("nextToken")
    offset = _decode(token, operation, params) if token else 0
    limit = params.get("maxResults") or DEFAULT_MAX_RESULTS
    page = items[offset:offset + limit]
    more = offset + limit < len(items)
    return page, (_encode(operation, params, offset + limit) if more else None)
