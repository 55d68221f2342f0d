"""Who is calling: the SigV4 check every API request passes before its operation runs.

With auth on (the default), a request must be signed with a key of the credentials file
(``TAILOR_CREDENTIALS``); it then acts in that key's account and in the region of its
signature's credential scope. With auth off (``tailor serve --no-auth``), every request
acts in the default account and region (``TAILOR_ACCOUNT_ID``, ``TAILOR_REGION``).
Refusals use the codes AWS endpoints answer with.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from chalicelib.config import Settings
from chalicelib.errors import (
    AuthenticationError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
    clip,
)
from chalicelib.protocol import sigv4
from chalicelib.protocol.credentials import CredentialsError, Keyring
from chalicelib.state.arns import Scope, default_scope

log = logging.getLogger(__name__)
# All three Personalize APIs sign as "personalize".
SIGNING_NAME = "personalize"
_ERRORS: dict[str, type[AuthenticationError]] = {
    sigv4.MISSING: MissingAuthenticationTokenException,
    sigv4.INCOMPLETE: IncompleteSignatureException,
    sigv4.UNKNOWN_KEY: UnrecognizedClientException,
    sigv4.MISMATCH: InvalidSignatureException,
    sigv4.EXPIRED: InvalidSignatureException,
    sigv4.PAYLOAD: InvalidSignatureException,
}
_keyrings: dict[Path, Keyring] = {}
_lock = threading.Lock()


def keyring(path: Path) -> Keyring:
    """One keyring per credentials file and process (a bad file raises CredentialsError)."""
    with _lock:
        found = _keyrings.get(path)
        if found is None:
            found = _keyrings[path] = Keyring(path)
        return found


def incoming(request: Any) -> sigv4.Incoming:
    """A Chalice request as :func:`sigv4.verify` reads it: the path as sent (API
    Gateway's includes the stage), the query as pairs, lower-case header names."""
    params = request.query_params or {}
    query = [(k, v) for k in params for v in params.getlist(k)] if params else []
    path = (request.context or {}).get("path") or request.path
    # From the event's plain dict: iterating Chalice's case-insensitive mapping costs
    # several times more, on every request.
    raw = request.to_original_event().get("headers") or {}
    headers = {k.lower(): v for k, v in raw.items()}
    return sigv4.Incoming(request.method, path, query, headers, request.raw_body or b"")


def authenticate(settings: Settings, request: Any) -> Scope:
    """The account and region a request acts in, or the AWS error that refuses it."""
    if not settings.auth:
        return default_scope()
    if settings.credentials is None:
        raise UnrecognizedClientException(
            "The security token included in the request is invalid. (This Tailor has no "
            "credentials file: set TAILOR_CREDENTIALS, or start it with tailor serve.)")
    try:
        keys = keyring(settings.credentials)
    except CredentialsError as exc:
        log.error("%s", exc)
        raise UnrecognizedClientException(
            "The security token included in the request is invalid. (This Tailor cannot "
            "read its credentials file; its log says why.)") from None
    try:
        caller = sigv4.verify(incoming(request), keys.lookup, (SIGNING_NAME,))
    except sigv4.AuthFailure as exc:
        message = clip(exc.message)  # it may quote the caller's credential scope
        log.info("refused a request (%s): %s", exc.reason, message)
        raise _ERRORS[exc.reason](message) from None
    return Scope(caller.region, caller.account)
