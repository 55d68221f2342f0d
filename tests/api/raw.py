"""Raw HTTP requests to a running Tailor, signed with SigV4 as boto3 signs them.

For tests that send what boto3 never would (bad JSON, wrong content types, other
methods): ``send(tailor, service, path, body, headers)`` -> (status, headers, body).
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ENDPOINT_ENV = {"personalize": "AWS_ENDPOINT_URL_PERSONALIZE",
                "personalize-runtime": "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME",
                "personalize-events": "AWS_ENDPOINT_URL_PERSONALIZE_EVENTS"}
SIGNING_NAME = "personalize"  # all three services sign as "personalize"
JSON11 = "application/x-amz-json-1.1"


def signed_headers(env: dict[str, str], method: str, url: str, body: bytes,
                   headers: dict[str, str]) -> dict[str, str]:
    """``headers`` plus the SigV4 ones (Authorization, X-Amz-Date) for this request."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    credentials = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    SigV4Auth(credentials, SIGNING_NAME, env["AWS_DEFAULT_REGION"]).add_auth(request)
    return dict(request.headers.items())


def send(tailor: Any, service: str, path: str, body: bytes | str = b"",
         headers: dict[str, str] | None = None, method: str = "POST",
         timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """One signed request to ``service``'s endpoint; (status, lower-cased headers, body)."""
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    base = tailor.env[ENDPOINT_ENV[service]]
    url = base.rstrip("/") + path
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=data,
                     headers=signed_headers(tailor.env, method, url, data, headers or {}))
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def control(tailor: Any, operation: str, body: bytes | str,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """A control-plane (AWS JSON 1.1) call of ``operation`` with this raw body."""
    return send(tailor, "personalize", "/", body, {
        "Content-Type": JSON11, "X-Amz-Target": f"AmazonPersonalize.{operation}",
        **(headers or {})})


def error_code(headers: dict[str, str], body: bytes) -> str | None:
    """The error code as botocore reads it: x-amzn-ErrorType, else the body's __type."""
    code = headers.get("x-amzn-errortype")
    if code:
        return code.split(":")[0]
    try:
        return str(json.loads(body).get("__type", "")).split("#")[-1] or None
    except (ValueError, AttributeError):
        return None
