"""boto3 clients on the in-process app (``app_client``): jobs run only when a test drains
the queue, so a test can look at every state a resource passes through."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.config import Config

from tests.conftest import drain_app


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def in_process(app_client: Any, service: str) -> Any:
    """A boto3 client whose requests go to ``app_client`` (botocore's before-send hook)."""
    client = boto3.session.Session().client(
        service, endpoint_url="http://tailor.test", region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}))

    def send(request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body or b""
        headers = {k: v.decode() if isinstance(v, bytes) else v
                   for k, v in request.headers.items()}
        resp = app_client.http.request(
            request.method, url.path + (f"?{url.query}" if url.query else ""),
            headers=headers, body=body.encode() if isinstance(body, str) else body)
        return AWSResponse(request.url, resp.status_code, HeadersDict(resp.headers),
                           _Raw(resp.body))

    client.meta.events.register("before-send", send)
    return client


class App:
    """The in-process app through boto3: control plane, runtime, events."""

    def __init__(self, app_client: Any, monkeypatch: pytest.MonkeyPatch | None = None,
                 **settings: str) -> None:
        """``settings`` become TAILOR_<NAME> variables for this test (``monkeypatch``
        needed), set before the app's first call."""
        if settings:
            from chalicelib import config
            from chalicelib.state import context

            assert monkeypatch is not None
            for key, value in settings.items():
                monkeypatch.setenv(f"TAILOR_{key.upper()}", value)
            config.settings.cache_clear()
            context.context.cache_clear()
        self.client = app_client
        self.p = in_process(app_client, "personalize")
        self.runtime = in_process(app_client, "personalize-runtime")
        self.events = in_process(app_client, "personalize-events")

    def drain(self) -> int:
        return drain_app(self.client)

    def finish_deletes(self) -> int:
        """Wait until the DELETE IN_PROGRESS resources are due to go, and drain."""
        from chalicelib import config

        time.sleep(config.settings().delete_seconds + 0.05)
        return self.drain()
