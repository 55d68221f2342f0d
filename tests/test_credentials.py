"""The credentials file: read, re-read when it changes, failing closed."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from chalicelib.protocol.credentials import CredentialsError, Keyring, generate, read

ACCOUNT = "111122223333"


def _write(path: Path, *keys: tuple[str, str, str]) -> None:
    path.write_text(json.dumps({"credentials": [
        {"accessKeyId": k, "secretAccessKey": s, "accountId": a} for k, s, a in keys]}))
    st = path.stat()  # a new mtime even within the filesystem's clock tick
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_a_changed_file_is_read_again_and_a_broken_one_revokes_all(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    _write(path, ("AKIAFIRST00000000001", "first-secret-000001", "111111111111"))
    keys = Keyring(path, recheck=0)
    assert keys.lookup("AKIAFIRST00000000001").account == "111111111111"
    _write(path, ("AKIASECOND0000000001", "second-secret-00001", "222222222222"))
    assert keys.lookup("AKIAFIRST00000000001") is None
    assert keys.lookup("AKIASECOND0000000001").account == "222222222222"
    path.write_text("{not json")
    assert keys.lookup("AKIASECOND0000000001") is None  # fail closed
    path.unlink()
    assert keys.lookup("AKIASECOND0000000001") is None


@pytest.mark.parametrize("text, why", [
    ("{", "not valid JSON"),
    ('{"credentials": []}', "credentials"),
    ('{"credentials": [{"accessKeyId": "short", "secretAccessKey": "s", "accountId": "1"}]}',
     "accessKeyId"),
    (('{"credentials": [{"accessKeyId": "AKIAFIRST00000000001", "secretAccessKey": '
      '"first-secret-000001", "accountId": "111111111111"}], "extra": 1}'), "extra"),
])
def test_a_malformed_file_says_what_is_wrong(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(text)
    with pytest.raises(CredentialsError, match=why):
        Keyring(path)


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    _write(path, ("AKIAFIRST00000000001", "first-secret-000001", "111111111111"),
           ("AKIAFIRST00000000001", "other-secret-000001", "222222222222"))
    with pytest.raises(CredentialsError, match="more than once"):
        read(path)


def test_generate_makes_a_private_file_with_a_new_key(tmp_path: Path) -> None:
    one = generate(tmp_path / "a.json", "123456789012")
    two = generate(tmp_path / "b.json", "123456789012")
    assert one.accessKeyId != two.accessKeyId and one.secretAccessKey != two.secretAccessKey
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o600
    assert read(tmp_path / "a.json").credentials == [one]
    with pytest.raises(FileExistsError):
        generate(tmp_path / "a.json", "123456789012")

def _write_keys(path: Path, *keys: str, mtime_ns: int) -> None:
    """Keys of ACCOUNT, with a distinct stamp even on a file system with coarse times."""
    path.write_text(json.dumps({"credentials": [
        {"accessKeyId": k, "secretAccessKey": f"secret-of-{k}", "accountId": ACCOUNT}
        for k in keys]}))
    os.utime(path, ns=(mtime_ns, mtime_ns))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_change_takes_effect_after_the_recheck_interval(tmp_path: Path) -> None:
    path, clock = tmp_path / "credentials.json", Clock()
    _write_keys(path, "AKIAFIRSTKEY00000000", mtime_ns=1_000_000_000)
    keys = Keyring(path, recheck=1.0, clock=clock)
    assert keys.lookup("AKIAFIRSTKEY00000000").secret_access_key == \
        "secret-of-AKIAFIRSTKEY00000000"

    _write_keys(path, "AKIASECONDKEY0000000", mtime_ns=2_000_000_000)  # the first key revoked
    clock.now += 0.5  # within the interval: the file is not looked at
    assert keys.lookup("AKIAFIRSTKEY00000000") is not None
    assert keys.lookup("AKIASECONDKEY0000000") is None

    clock.now += 0.5  # the interval is over: the change is seen
    assert keys.lookup("AKIAFIRSTKEY00000000") is None
    assert keys.lookup("AKIASECONDKEY0000000").account == ACCOUNT


def test_a_file_broken_later_revokes_every_key_until_fixed(tmp_path: Path) -> None:
    path, clock = tmp_path / "credentials.json", Clock()
    _write_keys(path, "AKIAFIRSTKEY00000000", mtime_ns=1_000_000_000)
    keys = Keyring(path, recheck=1.0, clock=clock)
    path.write_text("{not json")
    os.utime(path, ns=(2_000_000_000, 2_000_000_000))
    clock.now += 1.0
    assert keys.lookup("AKIAFIRSTKEY00000000") is None
    _write_keys(path, "AKIAFIRSTKEY00000000", mtime_ns=3_000_000_000)  # fixed again
    clock.now += 1.0
    assert keys.lookup("AKIAFIRSTKEY00000000") is not None
