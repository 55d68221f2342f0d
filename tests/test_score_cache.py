"""ScoreCache: serving's memory of recently scored users, bounded in bytes."""

from __future__ import annotations

import numpy as np
import pytest

from chalicelib.runtime.scoring import _ENTRY_OVERHEAD, ScoreCache


def _entry(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(n), np.arange(3, dtype=np.int32)


def test_least_recently_used_leaves_first_once_over_the_budget() -> None:
    scores, seen = _entry(100)
    size = scores.nbytes + seen.nbytes + _ENTRY_OVERHEAD
    cache = ScoreCache(max_bytes=3 * size)
    for user in ("a", "b", "c"):
        cache.put((user, b""), *_entry(100))
    assert cache.get(("a", b"")) is not None  # "a" is now the most recent
    cache.put(("d", b""), *_entry(100))
    assert cache.get(("b", b"")) is None  # the least recent went
    assert all(cache.get((u, b"")) is not None for u in ("a", "c", "d"))
    assert len(cache) == 3 and cache.bytes == 3 * size


def test_replacing_a_key_keeps_the_byte_count_right() -> None:
    cache = ScoreCache(max_bytes=10**6)
    cache.put(("a", b""), *_entry(100))
    cache.put(("a", b""), *_entry(50))
    assert len(cache) == 1 and cache.bytes == 50 * 8 + 3 * 4 + _ENTRY_OVERHEAD


def test_an_entry_larger_than_the_budget_is_not_kept() -> None:
    cache = ScoreCache(max_bytes=100)
    cache.put(("a", b""), *_entry(100))
    assert len(cache) == 0 and cache.bytes == 0


def test_cached_arrays_are_read_only() -> None:
    cache = ScoreCache(max_bytes=10**6)
    cache.put(("a", b""), *_entry(10))
    found = cache.get(("a", b""))
    assert found is not None
    with pytest.raises(ValueError, match="read-only"):
        found[0][0] = 1.0
