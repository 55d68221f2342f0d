"""Store.memo: the serving path's per-thread memory of reads, dropped on any change."""

from __future__ import annotations

import threading
from pathlib import Path

from chalicelib.state.store import MEMO_SIZE, Resource, Store


def _resource(arn: str, name: str) -> Resource:
    return Resource(arn=arn, kind="filter", name=name, parent=None, status="ACTIVE",
                    created=1.0, updated=1.0)


def test_memo__kept_until_another_connection_or_this_one_writes(tmp_path: Path) -> None:
    path = tmp_path / "tailor.db"
    reader, writer = Store(path), Store(path)  # two connections, as two processes have
    calls: list[int] = []

    def build() -> int:
        calls.append(1)
        return len(calls)

    assert reader.memo("k", build) == 1
    assert reader.memo("k", build) == 1  # remembered: no read
    with writer.transaction():
        writer.insert(_resource("arn:a", "a"))
    assert reader.memo("k", build) == 2  # another connection committed
    assert reader.memo("k", build) == 2
    with reader.transaction():
        reader.insert(_resource("arn:b", "b"))
    assert reader.memo("k", build) == 3  # this connection wrote


def test_get_shared__sees_a_deletion_made_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "tailor.db"
    reader, writer = Store(path), Store(path)
    with writer.transaction():
        writer.insert(_resource("arn:f", "f"))
    found = reader.get_shared("arn:f")
    assert found is not None and reader.get_shared("arn:f") is found
    with writer.transaction():
        writer.remove("arn:f")
    assert reader.get_shared("arn:f") is None


def test_memo__per_thread_and_bounded(tmp_path: Path) -> None:
    store = Store(tmp_path / "tailor.db")
    assert store.memo("k", lambda: "main") == "main"
    seen: list[str] = []
    thread = threading.Thread(target=lambda: seen.append(store.memo("k", lambda: "other")))
    thread.start()
    thread.join()
    assert seen == ["other"]  # another thread has its own connection and memory
    for i in range(MEMO_SIZE + 1):
        store.memo(("n", i), lambda: 0)
    assert store.memo("k", lambda: "rebuilt") == "rebuilt"  # full: started afresh


def test_memo__one_version_of_other_writers_per_request(tmp_path: Path) -> None:
    path = tmp_path / "tailor.db"
    reader, writer = Store(path), Store(path)
    assert reader.memo("k", lambda: "before") == "before"
    with reader.request():
        assert reader.memo("k", lambda: "first") == "before"
        with writer.transaction():
            writer.insert(_resource("arn:a", "a"))
        assert reader.memo("k", lambda: "inside") == "before"  # checked once per request
        with reader.transaction():
            reader.insert(_resource("arn:b", "b"))
        assert reader.memo("k", lambda: "own write") == "own write"  # its own writes count
    assert reader.memo("k", lambda: "after") == "after"  # the next check sees the commit
