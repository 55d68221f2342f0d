"""The access keys Tailor accepts: the JSON file ``TAILOR_CREDENTIALS`` names.

``{"credentials": [{"accessKeyId": "...", "secretAccessKey": "...",
"accountId": "111122223333"}]}``; an entry may add ``"sessionToken"`` (then requests must
carry it). Each key acts as its account's root: it sees that account's resources, in the
region its signature is scoped to. The file is read again when it changes (looked at once
a second at most), so keys can be added or revoked without a restart.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import string
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chalicelib.protocol.sigv4 import Secret

log = logging.getLogger(__name__)
# AWS's own key shape: 16-128 word characters (AKIA... for long-term keys).
# How often a keyring looks whether its file changed (a stat per request cost ~1 µs, and
# more in a server whose caches are cold); a changed file takes effect within this time.
RECHECK_SECONDS = 1.0
_KEY_PATTERN = r"^\w{16,128}$"


class Credential(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accessKeyId: str = Field(pattern=_KEY_PATTERN)
    secretAccessKey: str = Field(min_length=16, max_length=256)
    accountId: str = Field(pattern=r"^\d{12}$")
    sessionToken: str | None = Field(default=None, min_length=1, max_length=4096)


class CredentialsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credentials: list[Credential] = Field(min_length=1)

    @field_validator("credentials")
    @classmethod
    def _unique(cls, value: list[Credential]) -> list[Credential]:
        keys = [c.accessKeyId for c in value]
        if len(set(keys)) != len(keys):
            raise ValueError("an accessKeyId appears more than once")
        return value


class CredentialsError(ValueError):
    """The credentials file is missing or malformed (the message says how)."""


def read(path: Path) -> CredentialsFile:
    try:
        return CredentialsFile.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        raise CredentialsError(f"The credentials file {path} does not exist.") from None
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = ".".join(str(p) for p in first["loc"]) if first else ""
        why = first["msg"] if first else "it is not valid JSON"
        raise CredentialsError(
            f"The credentials file {path} is malformed ({where + ': ' if where else ''}{why}); "
            'it must be {"credentials": [{"accessKeyId": "...", "secretAccessKey": "...", '
            '"accountId": "<12 digits>"}]}.') from None


def generate(path: Path, account_id: str) -> Credential:
    """Write a new file with one random key for ``account_id`` (mode 0600); return the key."""
    alphabet = string.ascii_uppercase + string.digits
    cred = Credential(accessKeyId="AKIA" + "".join(secrets.choice(alphabet) for _ in range(16)),
                      secretAccessKey=secrets.token_urlsafe(30), accountId=account_id)
    text = json.dumps({"credentials": [cred.model_dump(exclude_none=True)]}, indent=2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return cred


class Keyring:
    """Access key -> :class:`Secret`, from a credentials file, re-read when it changes.

    The file is looked at (``stat``) at most once per ``recheck`` seconds, so a change
    takes effect within that time. A file that cannot be read at start raises
    :class:`CredentialsError`; one broken later revokes every key (logged) until it is
    fixed: failing closed."""

    def __init__(self, path: Path, recheck: float = RECHECK_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._recheck, self._clock = recheck, clock
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._keys = self._read()
        self._checked = clock()

    def lookup(self, access_key: str) -> Secret | None:
        now = self._clock()
        if now - self._checked >= self._recheck:
            self._checked = now
            stamp = self._file_stamp()
            if stamp != self._stamp:
                with self._lock:
                    try:
                        self._keys = self._read()
                    except CredentialsError as exc:
                        log.error("%s Every request is refused until it is fixed.", exc)
                        self._keys = {}
                    self._stamp = stamp
        return self._keys.get(access_key)

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _read(self) -> dict[str, Secret]:
        return {c.accessKeyId: Secret(c.secretAccessKey, c.accountId, c.sessionToken)
                for c in read(self.path).credentials}
