"""Bounded input (#12): body cap, strict JSON, content types, clipped failure reasons,
timeouts and the connection bound, and a hostile upload that must not grow the server."""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from chalice.test import Client

from tests.api.raw import JSON11, control, error_code, send, signed_headers
from tests.conftest import (
    Tailor,
    create_dataset,
    create_interactions_dataset,
    start_tailor,
    unique,
    wait,
)

MIB = 1024 * 1024


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _connect(tailor: Tailor) -> socket.socket:
    parts = urlsplit(tailor.env["AWS_ENDPOINT_URL_PERSONALIZE"])
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _head(tailor: Tailor, length: int) -> bytes:
    url = tailor.env["AWS_ENDPOINT_URL_PERSONALIZE"] + "/"
    headers = signed_headers(tailor.env, "POST", url, b"", {
        "Content-Type": JSON11, "X-Amz-Target": "AmazonPersonalize.ListSchemas"})
    lines = [f"{k}: {v}" for k, v in headers.items()] + [f"Content-Length: {length}"]
    return ("POST / HTTP/1.1\r\nHost: tailor\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status")
def _answer(sock: socket.socket) -> bytes:
    """One whole HTTP answer (its head and body may come in separate segments)."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < int(
            re.search(rb"(?i)content-length: *(\d+)", data).group(1)):  # type: ignore[union-attr]
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_hostile_upload__refused_from_content_length_without_growing(tailor: Tailor) -> None:
    before = _rss_kib(tailor.proc.pid)
    started = time.monotonic()
    with _connect(tailor) as sock:
        sock.sendall(_head(tailor, 100 * 1000 * 1000) + b"{")
        answer = _answer(sock)
        sent = 1
        with pytest.raises(OSError):  # the server closed: the rest is never read
            for _ in range(100):
                sock.sendall(b" " * MIB)
                sent += MIB
    assert time.monotonic() - started < 10
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert b"x-amzn-ErrorType: InvalidInputException" in answer
    assert b"100000000 bytes" in answer and sent < 100 * MIB
    assert _rss_kib(tailor.proc.pid) - before < 20 * 1024


def test_body_over_cap__refused_by_server_and_app(tailor: Tailor, app_client: Client) -> None:
    from chalicelib.protocol.bounds import MAX_BODY_BYTES

    body = json.dumps({"name": "x" * MAX_BODY_BYTES})
    status, headers, raw = control(tailor, "CreateDatasetGroup", body)
    assert status == 400 and error_code(headers, raw) == "InvalidInputException", raw
    resp = app_client.http.post("/", body=body, headers={
        "Content-Type": JSON11, "X-Amz-Target": "AmazonPersonalize.CreateDatasetGroup"})
    assert resp.status_code == 400
    assert json.loads(resp.body)["__type"] == "InvalidInputException"


def test_strict_json__depth_surrogates_constants(tailor: Tailor) -> None:
    deep = "[" * 5000 + "]" * 5000
    for body in (f'{{"name": {deep}}}', '{"name": "g\\ud800"}', '{"name": "\\udc00x"}',
                 '{"name": NaN}', '{"maxResults": 1e999}', '{"\\ud800": 1}',
                 '{"name": ' + "[" * 33 + "]" * 33 + "}"):
        status, headers, raw = control(tailor, "CreateDatasetGroup", body)
        assert status == 400 and error_code(headers, raw) == "SerializationException", body[:40]
    status, _, raw = control(tailor, "ListSchemas", '{"a": ' + "[" * 20 + "]" * 20 + "}")
    assert status == 200, raw  # shallow nesting is fine (unknown members are ignored)


def test_strict_json__in_properties_and_schemas(tailor: Tailor, personalize: Any) -> None:
    group, _ = create_interactions_dataset(personalize)
    users = create_dataset(personalize, group, "Users", json.dumps({
        "type": "record", "name": "Users", "namespace": "com.amazonaws.personalize.schema",
        "fields": [{"name": "USER_ID", "type": "string"},
                   {"name": "AGE", "type": ["null", "int"]}], "version": "1.0"}))
    for properties in ('{"age": ' + "[" * 3000 + "]" * 3000 + "}", '{"age": "\\ud800"}',
                       '{"age": NaN}'):
        status, headers, raw = send(tailor, "personalize-events", "/users", json.dumps(
            {"datasetArn": users, "users": [{"userId": "u1", "properties": properties}]}),
            {"Content-Type": "application/json"})
        assert status == 400 and error_code(headers, raw) == "InvalidInputException", raw
        assert b"not valid JSON" in raw
    schema = json.dumps({"type": "record", "name": "Users", "fields": "[" * 4000 + "]" * 4000})
    status, headers, raw = control(tailor, "CreateSchema", json.dumps(
        {"name": unique("s"), "schema": schema[:10000]}))
    assert status == 400 and error_code(headers, raw) == "InvalidInputException", raw


def test_content_types_methods_and_paths__wire_errors(tailor: Tailor) -> None:
    target = {"X-Amz-Target": "AmazonPersonalize.ListSchemas"}
    for content_type in ("text/plain", "application/octet-stream", "", "x/y; charset=utf-8"):
        status, _, raw = send(tailor, "personalize", "/", b"{}",
                              {**target, "Content-Type": content_type})
        assert status == 200 and b"schemas" in raw, (content_type, raw)
    status, headers, raw = send(tailor, "personalize", "/", b"{}",
                                {**target, "Content-Type": "text/plain"}, method="GET")
    assert status == 400 and error_code(headers, raw) == "UnknownOperationException"
    for service, path in (("personalize", "/nope"), ("personalize-runtime", "/a/b/c"),
                          ("personalize-events", "/events/x")):
        status, headers, raw = send(tailor, service, path, b"{}")
        assert status == 400 and error_code(headers, raw) == "UnknownOperationException", raw
    status, headers, raw = send(tailor, "personalize-runtime", "/recommendations", b"{x",
                                {"Content-Type": "text/html"})
    assert status == 400 and error_code(headers, raw) == "SerializationException"
    assert headers["content-type"] == "application/json"
    status, headers, raw = send(tailor, "personalize-events", "/events", b"{}",
                                {"Content-Type": "text/html"}, method="DELETE")
    assert status == 400 and error_code(headers, raw) == "UnknownOperationException"


def _import(personalize: Any, dataset: str, location: str) -> dict[str, Any]:
    arn = personalize.create_dataset_import_job(
        jobName=unique("imp"), datasetArn=dataset,
        dataSource={"dataLocation": location})["datasetImportJobArn"]
    return wait(lambda: personalize.describe_dataset_import_job(
        datasetImportJobArn=arn)["datasetImportJob"])


def _no_controls(text: str) -> bool:
    return not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f or c in "\u2028\u2029" for c in text)


def test_failure_reason__clipped_without_control_characters(
        personalize: Any, s3: Any, bucket: str) -> None:
    _, dataset = create_interactions_dataset(personalize)
    key = f"{unique('bad')}/evil\rline\x1b[31m\u2028{'k' * 150}.csv"  # moto refuses \n
    rows = [f"u{n},{'i' * 300}{n},click,notatime" for n in range(2000)]
    s3.put_object(Bucket=bucket, Key=key,
                  Body=("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n" + "\n".join(rows)).encode())
    job = _import(personalize, dataset, f"s3://{bucket}/{key}")
    reason = job["failureReason"]
    assert job["status"] == "CREATE FAILED"
    assert "evil\\rline\\x1b[31m\\u2028" in reason, reason
    assert len(reason) <= 1100 and "characters in all" in reason
    assert _no_controls(reason)
    listed = personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"]
    assert all(len(j.get("failureReason", "")) <= 1100 for j in listed)


def test_log_lines__caller_text_cannot_forge_lines(tailor: Tailor, personalize: Any,
                                                   bucket: str) -> None:
    """A newline in a dataLocation reaches the failureReason and the log escaped."""
    _, dataset = create_interactions_dataset(personalize)
    forged = unique("FORGED")
    job = _import(personalize, dataset, f"s3://{bucket}/none\n{forged} ERROR oops.csv")
    assert job["status"] == "CREATE FAILED"
    assert f"none\\n{forged}" in job["failureReason"] and _no_controls(job["failureReason"])
    lines = tailor.log.read_text().splitlines()
    assert any(f"none\\n{forged}" in line for line in lines)
    assert not any(line.startswith(forged) for line in lines)


def _slow(tailor: Tailor, n: int) -> list[socket.socket]:
    """``n`` connections: half send nothing, half half a request."""
    socks = []
    for i in range(n):
        sock = _connect(tailor)
        if i % 2:
            sock.sendall(_head(tailor, 10) + b"{")
        socks.append(sock)
    return socks


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        while sock.recv(4096):  # a half request may get no answer, just the close
            pass
    except OSError:
        pass
    return True


def test_slow_clients__timed_out_and_bounded(tmp_path: Path) -> None:
    server = start_tailor(tmp_path / "data", idle_timeout_seconds="1",
                          read_timeout_seconds="1", max_connections="60")
    try:
        personalize = server.client("personalize")
        slow = _slow(server, 50)
        started = time.monotonic()
        personalize.list_schemas()  # 50 of 60 slots taken: served at once
        assert time.monotonic() - started < 0.5
        time.sleep(1.5)
        started = time.monotonic()
        assert all(_closed(s) for s in slow)
        assert time.monotonic() - started < 2  # all were closed by the server already
        slow = _slow(server, 60)  # every slot taken: the next call waits for one
        started = time.monotonic()
        personalize.list_schemas()
        assert 0.5 < time.monotonic() - started < 4
        for sock in slow:
            sock.close()
        assert server.proc.poll() is None
        assert "Traceback" not in server.log.read_text()
    finally:
        server.stop()
