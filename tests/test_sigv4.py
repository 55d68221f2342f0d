"""SigV4 verification against requests signed by botocore's own signers."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from chalicelib.protocol import sigv4

KEY, SECRET, ACCOUNT = "AKIAEXAMPLEKEY000001", "s3cr3t-example-secret-key", "111122223333"
KEYS = {KEY: sigv4.Secret(SECRET, ACCOUNT),
        "ASIATEMPORARY0000001": sigv4.Secret("temp-secret-0000001", ACCOUNT, "tok3n")}


def _signed(body: bytes = b'{"name": "g"}', *, secret: str = SECRET, key: str = KEY,
            token: str | None = None, region: str = "eu-west-1", service: str = "personalize",
            signer: type = SigV4Auth, path: str = "/", headers: dict[str, str] | None = None,
            ) -> AWSRequest:
    req = AWSRequest(method="POST", url=f"http://127.0.0.1:8000{path}", data=body,
                     headers={"Content-Type": "application/x-amz-json-1.1",
                              "X-Amz-Target": "AmazonPersonalize.CreateDatasetGroup",
                              **(headers or {})})
    signer(Credentials(key, secret, token), service, region).add_auth(req)
    return req


def _incoming(req: AWSRequest, body: bytes | None = None) -> sigv4.Incoming:
    parts = urlsplit(req.url)
    headers = {k.lower(): v for k, v in req.headers.items()}
    headers["host"] = parts.netloc
    return sigv4.Incoming(req.method, parts.path, parse_qsl(parts.query, keep_blank_values=True),
                          headers, req.body if body is None else body)


def _verify(req: AWSRequest, **kw: Any) -> sigv4.Caller:
    body = kw.pop("body", None)
    return sigv4.verify(_incoming(req, body), KEYS.get, ("personalize",), **kw)


def _reason(req: AWSRequest, **kw: Any) -> str:
    with pytest.raises(sigv4.AuthFailure) as err:
        _verify(req, **kw)
    assert SECRET not in err.value.message
    return err.value.reason


def test_a_botocore_signed_request_passes_and_names_its_caller() -> None:
    caller = _verify(_signed())
    assert (caller.access_key, caller.account, caller.region) == (KEY, ACCOUNT, "eu-west-1")


def test_an_encoded_path_and_query_pass() -> None:
    req = _signed(path="/recommendations%20x?b=2&a=1&a=0")
    assert _verify(req).account == ACCOUNT


def test_unsigned__missing() -> None:
    req = AWSRequest(method="POST", url="http://h/", data=b"{}", headers={})
    assert _reason(req) == sigv4.MISSING


def test_unknown_key() -> None:
    assert _reason(_signed(key="AKIAUNKNOWNKEY000000")) == sigv4.UNKNOWN_KEY


def test_wrong_secret() -> None:
    assert _reason(_signed(secret="not-the-secret")) == sigv4.MISMATCH


def test_tampered_body() -> None:
    assert _reason(_signed(), body=b'{"name": "h"}') == sigv4.MISMATCH


def test_tampered_signed_header() -> None:
    req = _signed()
    req.headers.replace_header("X-Amz-Target", "AmazonPersonalize.DeleteDatasetGroup")
    assert _reason(req) == sigv4.MISMATCH


def test_stale_and_future_requests_are_expired() -> None:
    req = _signed()
    assert _reason(req, now=time.time() + 16 * 60) == sigv4.EXPIRED
    assert _reason(req, now=time.time() - 16 * 60) == sigv4.EXPIRED
    assert _verify(req, now=time.time() + 14 * 60).account == ACCOUNT


def test_wrong_service_scope() -> None:
    assert _reason(_signed(service="s3")) == sigv4.MISMATCH


def test_host_must_be_signed() -> None:
    req = _signed()
    auth = req.headers["Authorization"].replace("SignedHeaders=", "SignedHeaders=x;")
    auth = auth.replace(";host;", ";").replace("=host;", "=")
    req.headers.replace_header("Authorization", auth)
    assert _reason(req) == sigv4.MISMATCH


def test_session_tokens_are_checked() -> None:
    assert _verify(_signed(key="ASIATEMPORARY0000001", secret="temp-secret-0000001",
                           token="tok3n")).account == ACCOUNT
    assert _reason(_signed(key="ASIATEMPORARY0000001", secret="temp-secret-0000001",
                           token="other")) == sigv4.UNKNOWN_KEY
    assert _reason(_signed(token="unexpected")) == sigv4.UNKNOWN_KEY


def test_malformed_authorization_is_incomplete() -> None:
    req = _signed()
    req.headers.replace_header("Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/x")
    assert _reason(req) == sigv4.INCOMPLETE


def test_s3_signed_and_unsigned_payloads() -> None:
    req = _signed(b"data", signer=S3SigV4Auth, service="s3", path="/bucket/a%20key")
    assert sigv4.verify(_incoming(req), KEYS.get, ("s3",), s3=("s3",)).account == ACCOUNT
    with pytest.raises(sigv4.AuthFailure) as err:
        sigv4.verify(_incoming(req, b"other"), KEYS.get, ("s3",), s3=("s3",))
    assert err.value.reason == sigv4.PAYLOAD


def test_unsigned_payload_is_refused_outside_s3() -> None:
    req = _signed(headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert _reason(req) == sigv4.PAYLOAD


def test_a_presigned_s3_url_passes_until_it_expires() -> None:
    req = AWSRequest(method="GET", url="http://127.0.0.1:9000/bucket/key.csv")
    S3SigV4QueryAuth(Credentials(KEY, SECRET), "s3", "us-east-1", expires=60).add_auth(req)
    assert sigv4.verify(_incoming(req, b""), KEYS.get, ("s3",), s3=("s3",)).account == ACCOUNT
    with pytest.raises(sigv4.AuthFailure) as err:
        sigv4.verify(_incoming(req, b""), KEYS.get, ("s3",), s3=("s3",), now=time.time() + 61)
    assert err.value.reason == sigv4.EXPIRED


def test_a_sigv2_presigned_s3_url_passes_until_it_expires() -> None:
    from botocore.auth import HmacV1QueryAuth

    req = AWSRequest(method="PUT", url="http://127.0.0.1:9000/bucket/a%20b.csv",
                     headers={"Content-Type": "text/csv"})
    HmacV1QueryAuth(Credentials(KEY, SECRET), expires=60).add_auth(req)
    req.prepare()
    assert sigv4.verify_s3_v2_query(_incoming(req, b"x"), KEYS.get).account == ACCOUNT
    for late in (time.time() + 61,):
        with pytest.raises(sigv4.AuthFailure) as err:
            sigv4.verify_s3_v2_query(_incoming(req, b"x"), KEYS.get, now=late)
        assert err.value.reason == sigv4.EXPIRED
    other = _incoming(req, b"x")
    tampered = sigv4.Incoming(other.method, other.path, other.query,
                              {**other.headers, "content-type": "text/html"}, b"x")
    with pytest.raises(sigv4.AuthFailure) as err:
        sigv4.verify_s3_v2_query(tampered, KEYS.get)
    assert err.value.reason == sigv4.MISMATCH
