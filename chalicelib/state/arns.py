"""Build and parse ARNs: the only place ARN strings are formatted."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.config import settings

SERVICE_OWNED = ("recipe", "algorithm", "feature-transformation")


def arn(kind: str, *path: str) -> str:
    """``arn:aws:personalize:<region>:<account>:<kind>/<path...>``."""
    s = settings()
    return f"arn:aws:personalize:{s.region}:{s.account_id}:{kind}/{'/'.join(path)}"


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
