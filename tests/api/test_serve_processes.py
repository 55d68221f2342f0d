"""``tailor serve --processes N`` (TAILOR_SERVE_PROCESSES): serving processes share the port.

Every call here goes through a fresh boto3 client, so a fresh connection, which the kernel
hands to whichever process accepts it first: the workflow only passes if every process
answers every kind of call, sees what the others wrote, and wakes the job worker (which
runs in the parent only; its poll interval is set to minutes here).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import synthetic
from tests.conftest import ROOT, Tailor, build_group, deploy, start_tailor, train

SLOW_POLL = "600"  # seconds: jobs start only if a request wakes the worker
# The process checks read /proc, and children die with the parent through a Linux prctl.
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="needs Linux (/proc, PR_SET_PDEATHSIG)")


class Fresh:
    """A boto3 client that opens a new connection for every call."""

    def __init__(self, tailor: Tailor, service: str) -> None:
        self.tailor, self.service = tailor, service

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tailor.client(self.service), name)


def _procs() -> dict[int, tuple[int, str, int]]:
    """pid -> (parent pid, command line, CPU ticks) of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        found[int(entry.name)] = (int(stat[1]), cmd, int(stat[11]) + int(stat[12]))
    return found


def serving_children(tailor: Tailor) -> list[int]:
    return [pid for pid, (parent, cmd, _) in _procs().items()
            if parent == tailor.proc.pid and "chalicelib.server" in cmd]


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tailor]:
    server = start_tailor(tmp_path_factory.mktemp("multi") / "data", serve_processes="3",
                          worker_poll_seconds=SLOW_POLL)
    yield server
    server.stop()


def test_processes__every_call_works_whichever_process_answers(multi: Tailor) -> None:
    personalize, s3 = Fresh(multi, "personalize"), multi.client("s3")
    s3.create_bucket(Bucket="multi")
    data = synthetic.planted_interactions(seed=3)
    work = build_group(personalize, s3, "multi", data)  # import jobs: woken by any process
    _, version = train(personalize, work.group_arn, "aws-user-personalization")
    campaign = deploy(personalize, version)
    user = str(data.users[0])
    tracker = personalize.create_event_tracker(name="t", datasetGroupArn=work.group_arn)
    runtime, events = Fresh(multi, "personalize-runtime"), Fresh(multi, "personalize-events")
    answers = {tuple(i["itemId"] for i in runtime.get_recommendations(
        campaignArn=campaign, userId=user, numResults=10)["itemList"]) for _ in range(6)}
    assert len(answers) == 1  # every process serves the same model the same way
    # An event acknowledged by one process changes the next answer of every process.
    top = next(iter(answers))[0]
    events.put_events(trackingId=tracker["trackingId"], userId=user, sessionId="s",
                      eventList=[{"eventType": "click", "itemId": top,
                                  "sentAt": time.time()}])
    after = {tuple(i["itemId"] for i in runtime.get_recommendations(
        campaignArn=campaign, userId=user, numResults=10)["itemList"]) for _ in range(6)}
    assert len(after) == 1 and after != answers


def test_processes__children_take_requests(multi: Tailor) -> None:
    children = serving_children(multi)
    assert len(children) == 2
    before = _procs()
    for _ in range(60):
        multi.client("personalize").list_dataset_groups()
    now = _procs()
    worked = [pid for pid in children if now[pid][2] > before[pid][2]]
    assert worked, "no request reached a serving child"


def test_processes__children_die_with_the_server_even_on_kill(tmp_path: Path) -> None:
    server = start_tailor(tmp_path / "data", serve_processes="2")
    children = serving_children(server)
    assert len(children) == 1
    server.stop(kill=True)  # SIGKILL: the parent cannot clean up
    deadline = time.monotonic() + 10
    while any(pid in _procs() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(pid in _procs() for pid in children)


def test_processes__a_child_that_dies_is_replaced(tmp_path: Path) -> None:
    server = start_tailor(tmp_path / "data", serve_processes="2")
    try:
        (child,) = serving_children(server)
        os.kill(child, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = serving_children(server)
            if now and child not in now:
                break
            time.sleep(0.2)
        assert len(now) == 1 and child not in now
        for _ in range(10):  # every connection is served, whichever process takes it
            assert "datasetGroups" in server.client("personalize").list_dataset_groups()
        assert f"Serving child {child} exited (status -9)" in server.log.read_text()
    finally:
        server.stop()


def test_processes__a_bad_count_is_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="serve_processes|processes"):
        start_tailor(tmp_path / "data", serve_processes="0")
    for bad in ("0", "65"):
        done = subprocess.run(
            [sys.executable, "-m", "chalicelib.cli", "serve", "--data-dir", str(tmp_path / bad),
             "--port", "0", "--s3-port", "0", "--processes", bad],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode != 0
        assert f"--processes must be between 1 and 64, got {bad}" in done.stderr
