"""Everything a handler or job needs, built once per process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from chalicelib.config import Settings, settings
from chalicelib.state.blobs import BlobStore, open_blobs
from chalicelib.state.store import Store


@dataclass
class Context:
    settings: Settings
    store: Store
    blobs: BlobStore
    # Called after a request queues a job; the in-process worker sets it to wake up at once.
    wake: Callable[[], None] = field(default=lambda: None)


def build(s: Settings) -> Context:
    return Context(settings=s, store=Store(s.database), blobs=open_blobs(s.artifact_root))


@lru_cache(maxsize=1)
def context() -> Context:
    return build(settings())
