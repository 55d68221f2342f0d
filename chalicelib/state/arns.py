"""Build and parse ARNs: the only place ARN strings are formatted.

Every resource belongs to an account and a region: those of the request that created
it (the signature's account and credential scope, see ``protocol.dispatch``). A request
runs inside :func:`scoped`; outside one (the job worker, which reaches resources by
their ARNs), nothing is filtered and new ARNs must name the resource they sit beside
(``like=``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from chalicelib.config import settings

SERVICE_OWNED = ("recipe", "algorithm", "feature-transformation")


@dataclass(frozen=True)
class Scope:
    """An account in a region: what one caller sees."""

    region: str
    account: str

    @property
    def prefix(self) -> str:
        """What every ARN of the scope starts with."""
        return f"arn:aws:personalize:{self.region}:{self.account}:"

    def owns(self, value: str) -> bool:
        return value.startswith(self.prefix)


_current: ContextVar[Scope | None] = ContextVar("tailor_scope", default=None)


def current() -> Scope | None:
    """The scope of the request being served, or None outside a request."""
    return _current.get()


def default_scope() -> Scope:
    """The account and region of an unauthenticated Tailor (``--no-auth``)."""
    s = settings()
    return Scope(s.region, s.account_id)


@contextmanager
def scoped(scope: Scope | None) -> Iterator[None]:
    token = _current.set(scope)
    try:
        yield
    finally:
        _current.reset(token)


def scope_of(value: str) -> Scope | None:
    found = parse(value)
    return Scope(found.region, found.account) if found and found.account else None


def arn(kind: str, *path: str, like: str | None = None) -> str:
    """``arn:aws:personalize:<region>:<account>:<kind>/<path...>`` in the account and
    region of ``like`` (an ARN), else of the current request."""
    scope = scope_of(like) if like else current()
    if scope is None:
        raise RuntimeError(f"no account for a new {kind} ARN: pass like= outside a request")
    return f"{scope.prefix}{kind}/{'/'.join(path)}"


def service_arn_prefix(kind: str) -> str:
    """Service-owned ARNs have no region or account: ``arn:aws:personalize:::recipe/``."""
    return f"arn:aws:personalize:::{kind}/"


@dataclass(frozen=True)
class Arn:
    region: str
    account: str
    kind: str
    path: tuple[str, ...]


def parse(value: str) -> Arn | None:
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "personalize" or "/" not in parts[5]:
        return None
    kind, _, rest = parts[5].partition("/")
    return Arn(parts[3], parts[4], kind, tuple(rest.split("/")))


def dataset(group_arn: str, suffix: str) -> str:
    """The ARN of a dataset group's dataset (suffix ``INTERACTIONS``, ``ITEMS``, ...)."""
    return arn("dataset", group_arn.rsplit("/", 1)[1], suffix, like=group_arn)
