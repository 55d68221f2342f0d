"""The keyring re-reads its credentials file when it changes, looking at most once per
``recheck`` seconds."""

from __future__ import annotations

import json
import os
from pathlib import Path

from chalicelib.protocol.credentials import RECHECK_SECONDS, Keyring

ACCOUNT = "111122223333"


def _write(path: Path, *keys: str, mtime_ns: int | None = None) -> None:
    path.write_text(json.dumps({"credentials": [
        {"accessKeyId": k, "secretAccessKey": f"secret-of-{k}", "accountId": ACCOUNT}
        for k in keys]}))
    if mtime_ns is not None:  # a distinct stamp even on a file system with coarse times
        os.utime(path, ns=(mtime_ns, mtime_ns))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_keyring__a_changed_file_takes_effect_after_the_recheck_interval(tmp_path):
    path, clock = tmp_path / "credentials.json", Clock()
    _write(path, "AKIAFIRSTKEY00000000", mtime_ns=1_000_000_000)
    keys = Keyring(path, recheck=1.0, clock=clock)
    assert keys.lookup("AKIAFIRSTKEY00000000").secret_access_key == "secret-of-AKIAFIRSTKEY00000000"

    _write(path, "AKIASECONDKEY0000000", mtime_ns=2_000_000_000)  # the first key revoked
    clock.now += 0.5  # within the interval: the file is not looked at
    assert keys.lookup("AKIAFIRSTKEY00000000") is not None
    assert keys.lookup("AKIASECONDKEY0000000") is None

    clock.now += 0.5  # the interval is over: the change is seen
    assert keys.lookup("AKIAFIRSTKEY00000000") is None
    assert keys.lookup("AKIASECONDKEY0000000").account == ACCOUNT


def test_keyring__a_file_broken_later_revokes_every_key(tmp_path):
    path, clock = tmp_path / "credentials.json", Clock()
    _write(path, "AKIAFIRSTKEY00000000", mtime_ns=1_000_000_000)
    keys = Keyring(path, recheck=1.0, clock=clock)
    path.write_text("{not json")
    os.utime(path, ns=(2_000_000_000, 2_000_000_000))
    clock.now += 1.0
    assert keys.lookup("AKIAFIRSTKEY00000000") is None
    _write(path, "AKIAFIRSTKEY00000000", mtime_ns=3_000_000_000)  # fixed again
    clock.now += 1.0
    assert keys.lookup("AKIAFIRSTKEY00000000") is not None


def test_keyring__rechecks_at_most_once_per_interval_by_default(tmp_path, monkeypatch):
    path = tmp_path / "credentials.json"
    _write(path, "AKIAFIRSTKEY00000000")
    keys = Keyring(path)
    stats = []
    real = Keyring._file_stamp
    monkeypatch.setattr(Keyring, "_file_stamp", lambda self: stats.append(1) or real(self))
    for _ in range(100):
        assert keys.lookup("AKIAFIRSTKEY00000000") is not None
    assert len(stats) <= 1 and RECHECK_SECONDS == 1.0
