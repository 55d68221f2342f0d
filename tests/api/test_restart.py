"""``tailor serve`` again right after a crash (#12): killed with -9 while clients are
connected and requests are in flight, it starts at once on the same ports with the same
data dir, and everything it acknowledged before the kill is there.

The old connections linger in the kernel (FIN_WAIT2 / TIME_WAIT) for about a minute after
the kill; only a bind with ``SO_REUSEADDR`` may reuse the port meanwhile.
"""

from __future__ import annotations

import csv
import io
import socket
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import (
    ROLE,
    Tailor,
    create_interactions_dataset,
    start_tailor,
    unique,
    wait,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="needs Linux (/proc, PR_SET_PDEATHSIG)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie holds no sockets any more


def moto_child(tailor: Tailor) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if parent == tailor.proc.pid and "chalicelib.s3server" in cmd:
                return int(entry.name)
    raise AssertionError("no moto child")


class Load:
    """Threads sending PutEvents without pause; remembers the users whose event was
    acknowledged."""

    def __init__(self, tailor: Tailor, tracking_id: str, threads: int = 4) -> None:
        self.acknowledged: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._send, args=(tailor, tracking_id, n))
                        for n in range(threads)]
        for thread in self.threads:
            thread.start()

    def _send(self, tailor: Tailor, tracking_id: str, n: int) -> None:
        events = tailor.client("personalize-events")
        i = 0
        while not self.stop.is_set():
            user = f"load{n}-{i}"
            try:
                events.put_events(trackingId=tracking_id, userId=user, sessionId=user,
                                  eventList=[{"eventType": "click", "itemId": "i1",
                                              "sentAt": time.time()}])
            except (BotoCoreError, ClientError):  # the kill: not acknowledged
                return
            self.acknowledged.append(user)
            i += 1

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def exported_users(tailor: Tailor, dataset: str, bucket: str) -> set[str]:
    p, s3 = tailor.client("personalize"), tailor.client("s3")
    name = unique("exp")
    arn = p.create_dataset_export_job(
        jobName=name, datasetArn=dataset, roleArn=ROLE, ingestionMode="PUT",
        jobOutput={"s3DataDestination": {"path": f"s3://{bucket}/exports/{name}/"}},
    )["datasetExportJobArn"]
    job = wait(lambda: p.describe_dataset_export_job(
        datasetExportJobArn=arn)["datasetExportJob"])
    assert job["status"] == "ACTIVE", job
    users = set()
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=f"exports/{name}/")["Contents"]:
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
        users |= {row["USER_ID"] for row in csv.DictReader(io.StringIO(body))}
    return users


def test_restart__at_once_after_kill_9_under_load_on_the_same_ports(tmp_path: Path) -> None:
    data_dir, port, s3_port = tmp_path / "data", free_port(), free_port()
    server = start_tailor(data_dir, s3_port=s3_port, port=port)
    raw: list[socket.socket] = []
    try:
        assert server.env["AWS_ENDPOINT_URL_PERSONALIZE"].endswith(f":{port}")
        assert server.env["AWS_ENDPOINT_URL_S3"].endswith(f":{s3_port}")
        p, s3 = server.client("personalize"), server.client("s3")
        s3.create_bucket(Bucket="restart-at-once")
        s3.put_object(Bucket="restart-at-once", Key="kept.txt", Body=b"acknowledged")
        group, dataset = create_interactions_dataset(p)
        tracker = p.create_event_tracker(name=unique("t"), datasetGroupArn=group)
        wait(lambda: p.describe_event_tracker(
            eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])
        load = Load(server, tracker["trackingId"])
        time.sleep(1.0)  # calls on keep-alive connections, some in flight at the kill
        for target in (port, s3_port):  # idle connections, and a request half sent
            for _ in range(3):
                raw.append(socket.create_connection(("127.0.0.1", target)))
            raw[-1].sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 99\r\n\r\n{")
        moto = moto_child(server)
    finally:
        server.stop(kill=True)  # kill -9
    load.join()
    assert load.acknowledged
    deadline = time.monotonic() + 5
    while _alive(moto) and time.monotonic() < deadline:  # PR_SET_PDEATHSIG
        time.sleep(0.05)
    assert not _alive(moto), "the moto child outlived Tailor"
    with socket.socket() as probe, pytest.raises(OSError):  # what refused the restart
        probe.bind(("127.0.0.1", port))

    started = time.monotonic()
    server = start_tailor(data_dir, s3_port=s3_port, port=port)
    try:
        p = server.client("personalize")
        assert p.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == \
            "ACTIVE"
        assert time.monotonic() - started < 10
        kept = server.client("s3").get_object(Bucket="restart-at-once", Key="kept.txt")
        assert kept["Body"].read() == b"acknowledged"
        missing = set(load.acknowledged) - exported_users(server, dataset, "restart-at-once")
        assert not missing, f"{len(missing)} acknowledged events lost, e.g. {min(missing)}"
    finally:
        server.stop()
        for sock in raw:
            sock.close()


def test_restart__a_port_in_use_is_named(tmp_path: Path) -> None:
    for flag in ("--port", "--s3-port"):
        with socket.create_server(("127.0.0.1", 0)) as taken:
            busy = taken.getsockname()[1]
            with pytest.raises(RuntimeError, match=f"Port {busy} for Tailor is taken; choose "
                               r"another \(--port / --s3-port\)"):
                start_tailor(tmp_path / flag.strip("-"),
                             **({"port": busy} if flag == "--port" else {"s3_port": busy}))
