"""Verify AWS Signature Version 4 on an incoming request, as AWS does.

The expected signature is computed by botocore's own signer (``SigV4Auth`` /
``S3SigV4Auth``: canonical request, string to sign, signing key) over exactly the
headers the caller signed; only the choice of those headers and of the payload hash
is ours. What is checked, in AWS's order (AWS General Reference, "Signature Version 4
signing process" and "Troubleshoot Signature Version 4 errors"):

- an ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``
  header, or the same in the query string (presigned URLs);
- the access key is known, and a session token is sent exactly when the key has one;
- the request time (``X-Amz-Date`` or ``Date``) is within 15 minutes of now, and the
  credential scope's date, region and service match it and the service called;
- ``host`` is signed, every signed header is present, and the body's SHA-256 is the one
  signed (``x-amz-content-sha256``, when sent, must be the body's hash; S3 alone may say
  ``UNSIGNED-PAYLOAD``);
- the signature, compared in constant time.

A failure raises :class:`AuthFailure` naming which of these broke; each protocol turns it
into its own wire error. Messages never carry a secret or the expected signature.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import mktime_tz, parsedate_tz
from functools import lru_cache
from urllib.parse import quote, urlsplit

from botocore.auth import (
    EMPTY_SHA256_HASH,
    SIGV4_TIMESTAMP,
    UNSIGNED_PAYLOAD,
    HmacV1Auth,
    S3SigV4Auth,
    SigV4Auth,
)
from botocore.awsrequest import HTTPHeaders
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
# How far a request's time may be from the server's (AWS: 15 minutes).
MAX_SKEW_SECONDS = 15 * 60
# The longest a presigned URL may live (AWS: 7 days).
MAX_EXPIRES_SECONDS = 7 * 24 * 3600
# S3's payload markers besides a hash: the body is not signed, or signed chunk by chunk.
S3_PAYLOAD_MARKERS = frozenset({
    UNSIGNED_PAYLOAD, "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"})
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_QUERY_KEYS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders",
               "X-Amz-Signature")

# Why a request was refused; each protocol maps these to its own error codes.
MISSING = "missing"            # no signature at all
INCOMPLETE = "incomplete"      # a signature that lacks a part or cannot be parsed
UNKNOWN_KEY = "unknown-key"    # no such access key, or a wrong session token
MISMATCH = "mismatch"          # the signature (or signed body) does not match
EXPIRED = "expired"            # outside the allowed time skew, or a presigned URL expired
PAYLOAD = "payload"            # x-amz-content-sha256 is not the body's hash

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service "
    "documentation for details.")


class AuthFailure(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Secret:
    """What the server knows of an access key."""

    secret_access_key: str
    account: str
    session_token: str | None = None
    # For the local STS's temporary credentials: the role they act as (else None: the
    # account's own key).
    role_arn: str | None = None


@dataclass(frozen=True)
class Caller:
    """Who signed a request, and the scope they signed it for."""

    access_key: str
    account: str
    region: str
    service: str
    role_arn: str | None = None
    signed_headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Incoming:
    """A request as it arrived: ``path`` raw (percent-encoded as sent), ``query`` decoded
    pairs, ``headers`` with lower-case names."""

    method: str
    path: str
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes


def verify(request: Incoming, lookup: Callable[[str], Secret | None], services: Sequence[str],
           *, s3: Sequence[str] = (), now: float | None = None) -> Caller:
    """The caller of a correctly signed ``request``, or :class:`AuthFailure`.

    ``lookup`` gives the secret of an access key (None: unknown); ``services`` the
    signing names the endpoint answers for (the first is named in messages); a request
    signed for one of ``s3`` follows S3's rules (no path normalisation, unsigned payloads
    allowed).
    """
    now = time.time() if now is None else now
    query = dict(request.query)
    presigned = "authorization" not in request.headers and "X-Amz-Algorithm" in query
    if presigned:
        parts, amz_date = _query_parts(query), query.get("X-Amz-Date", "")
    else:
        parts = _header_parts(request.headers.get("authorization"))
        amz_date = request.headers.get("x-amz-date") or _from_http_date(
            request.headers.get("date"))
    access_key, date, region, service = _credential(parts["Credential"])
    is_s3 = service in s3
    secret = lookup(access_key)
    if secret is None:
        raise AuthFailure(UNKNOWN_KEY, "The security token included in the request is invalid.")
    token = query.get("X-Amz-Security-Token") if presigned else request.headers.get(
        "x-amz-security-token")
    if not _same_token(token, secret.session_token):
        raise AuthFailure(UNKNOWN_KEY, "The security token included in the request is invalid.")
    stamp = _check_time(amz_date, now, query.get("X-Amz-Expires") if presigned else None)
    _check_scope(date, region, service, amz_date, services)
    signed = [h.strip().lower() for h in parts["SignedHeaders"].split(";") if h.strip()]
    if "host" not in signed:
        raise AuthFailure(MISMATCH, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    payload = _payload(request, is_s3, presigned, query)
    expected = _expected_signature(request, secret, access_key, region, service, stamp,
                                   signed, payload, is_s3, presigned)
    if not hmac.compare_digest(expected.encode(), parts["Signature"].strip().encode()):
        raise AuthFailure(MISMATCH, SIGNATURE_MISMATCH)
    return Caller(access_key, secret.account, region, service, secret.role_arn, tuple(signed))


def verify_s3_v2_query(request: Incoming, lookup: Callable[[str], Secret | None], *,
                       now: float | None = None) -> Caller:
    """The caller of an S3 URL presigned with the legacy signature (``AWSAccessKeyId``,
    ``Signature``, ``Expires``), which boto3 still makes by default. botocore's
    ``HmacV1Auth`` computes the expected signature over the request as it came, its
    Content-Type and ``x-amz-*`` headers included (as S3 checks them)."""
    now = time.time() if now is None else now
    query = dict(request.query)
    access_key, expires = query.get("AWSAccessKeyId", ""), query.get("Expires", "")
    secret = lookup(access_key)
    if secret is None:
        raise AuthFailure(UNKNOWN_KEY, "The security token included in the request is invalid.")
    if not _same_token(query.get("x-amz-security-token"), secret.session_token):
        raise AuthFailure(UNKNOWN_KEY, "The security token included in the request is invalid.")
    if not expires.isdigit():
        raise AuthFailure(INCOMPLETE, "Expires must be a number of seconds since the epoch.")
    if now > int(expires):
        raise AuthFailure(EXPIRED, "Request has expired")
    kept = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" if v else quote(k, safe='')
                    for k, v in request.query
                    if k not in ("AWSAccessKeyId", "Signature", "Expires"))
    headers = HTTPHeaders()
    for name, value in request.headers.items():
        if name in ("content-md5", "content-type") or name.startswith("x-amz-"):
            headers[name] = value
    signer = _V2Verifier(Credentials(access_key, secret.secret_access_key), expires)
    expected = signer.get_signature(request.method, urlsplit(f"http://h{request.path}?{kept}"),
                                    headers, auth_path=request.path)
    if not hmac.compare_digest(expected.encode(), query.get("Signature", "").encode()):
        raise AuthFailure(MISMATCH, SIGNATURE_MISMATCH)
    return Caller(access_key, secret.account, "us-east-1", "s3", secret.role_arn)


class _V2Verifier(HmacV1Auth):
    """botocore's SigV2 signer with the presigned URL's expiry in the place of the date."""

    def __init__(self, credentials: Credentials, expires: str) -> None:
        super().__init__(credentials)
        self._expires = expires

    def _get_date(self) -> str:
        return self._expires


def credential_service(request: Incoming) -> str | None:
    """The service a request says it is signed for (its credential scope), unverified:
    for an endpoint that serves several to choose its error format."""
    header = request.headers.get("authorization", "")
    credential = header.partition("Credential=")[2].partition(",")[0] if header else \
        dict(request.query).get("X-Amz-Credential", "")
    fields = credential.strip().split("/")
    return fields[3] if len(fields) == 5 else None


def _header_parts(header: str | None) -> dict[str, str]:
    if not header:
        raise AuthFailure(MISSING, "Request is missing Authentication Token")
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise AuthFailure(INCOMPLETE, f"Authorization header must use {ALGORITHM} (AWS "
                                      "Signature Version 4).")
    parts: dict[str, str] = {}
    for piece in rest.split(","):
        key, eq, value = piece.strip().partition("=")
        if eq:
            parts[key] = value
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not parts.get(k)]
    if missing:
        raise AuthFailure(INCOMPLETE, " ".join(
            f"Authorization header requires '{k}' parameter." for k in missing))
    return parts


def _query_parts(query: Mapping[str, str]) -> dict[str, str]:
    missing = [k for k in _QUERY_KEYS if not query.get(k)]
    if missing:
        raise AuthFailure(INCOMPLETE, "Query-string authentication requires the "
                                      f"{', '.join(missing)} parameter(s).")
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise AuthFailure(INCOMPLETE, f"X-Amz-Algorithm must be {ALGORITHM}.")
    return {"Credential": query["X-Amz-Credential"],
            "SignedHeaders": query["X-Amz-SignedHeaders"],
            "Signature": query["X-Amz-Signature"]}


def _credential(credential: str) -> tuple[str, str, str, str]:
    fields = credential.strip().split("/")
    if len(fields) != 5 or fields[4] != "aws4_request" or not all(fields):
        raise AuthFailure(INCOMPLETE, "Credential must have the form "
                                      "<access key>/<date>/<region>/<service>/aws4_request.")
    return fields[0], fields[1], fields[2], fields[3]


def _same_token(sent: str | None, known: str | None) -> bool:
    if sent is None or known is None:
        return sent is None and known is None
    return hmac.compare_digest(sent.encode(), known.encode())


def _from_http_date(value: str | None) -> str:
    parsed = parsedate_tz(value) if value else None
    if parsed is None:
        return ""
    return time.strftime(SIGV4_TIMESTAMP, time.gmtime(mktime_tz(parsed)))


def _check_time(amz_date: str, now: float, expires: str | None) -> str:
    if not amz_date:
        raise AuthFailure(INCOMPLETE, "Authorization requires existence of either a "
                                      "'X-Amz-Date' or a 'Date' header.")
    try:
        when = _parse_stamp(amz_date)
    except ValueError:
        raise AuthFailure(INCOMPLETE, "X-Amz-Date must be in the ISO-8601 basic format "
                                      "YYYYMMDD'T'HHMMSS'Z'.") from None
    fmt = lambda t: time.strftime(SIGV4_TIMESTAMP, time.gmtime(t))  # noqa: E731
    if expires is not None:
        if not expires.isdigit() or not 1 <= int(expires) <= MAX_EXPIRES_SECONDS:
            raise AuthFailure(INCOMPLETE, "X-Amz-Expires must be a number of seconds from 1 "
                                          f"to {MAX_EXPIRES_SECONDS}.")
        if now > when + int(expires):
            raise AuthFailure(EXPIRED, "Request has expired")
    elif when < now - MAX_SKEW_SECONDS:
        raise AuthFailure(EXPIRED, f"Signature expired: {amz_date} is now earlier than "
                                   f"{fmt(now - MAX_SKEW_SECONDS)} ({fmt(now)} - 15 min.)")
    if when > now + MAX_SKEW_SECONDS:
        raise AuthFailure(EXPIRED, f"Signature not yet current: {amz_date} is still later "
                                   f"than {fmt(now + MAX_SKEW_SECONDS)} ({fmt(now)} + 15 min.)")
    return amz_date


@lru_cache(maxsize=64)
def _parse_stamp(stamp: str) -> int:
    """``YYYYMMDDTHHMMSSZ`` -> epoch seconds (``time.strptime`` costs a third of a
    verification; the requests of one second share their stamp, so it is remembered)."""
    if len(stamp) != 16 or stamp[8] != "T" or stamp[15] != "Z" or not (
            stamp[:8] + stamp[9:15]).isdigit():
        raise ValueError(stamp)
    fields = (int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[9:11]),
              int(stamp[11:13]), int(stamp[13:15]))
    if not (1 <= fields[1] <= 12 and 1 <= fields[2] <= 31 and fields[3] < 24
            and fields[4] < 60 and fields[5] < 61):
        raise ValueError(stamp)
    return calendar.timegm((*fields, 0, 0, 0))


def _check_scope(date: str, region: str, service: str, amz_date: str,
                 services: Sequence[str]) -> None:
    if date != amz_date[:8]:
        raise AuthFailure(MISMATCH, "Date in Credential scope does not match YYYYMMDD from "
                                    f"ISO-8601 version of date from HTTP: '{date}' != "
                                    f"'{amz_date[:8]}', from '{amz_date}'.")
    if not _REGION.fullmatch(region):
        raise AuthFailure(MISMATCH, "Credential should be scoped to a valid region.")
    if service not in services:
        raise AuthFailure(MISMATCH, "Credential should be scoped to correct service: "
                                    f"'{services[0]}'.")


def _payload(request: Incoming, s3: bool, presigned: bool, query: Mapping[str, str]) -> str:
    """The payload hash to sign with: the body's SHA-256, or S3's marker."""
    declared = (query.get("X-Amz-Content-Sha256") if presigned
                else request.headers.get("x-amz-content-sha256"))
    if s3 and presigned and declared is None:
        return UNSIGNED_PAYLOAD
    if declared is not None and s3 and declared in S3_PAYLOAD_MARKERS:
        return declared
    actual = hashlib.sha256(request.body).hexdigest() if request.body else EMPTY_SHA256_HASH
    if declared is not None and declared != actual:
        raise AuthFailure(PAYLOAD, "The provided 'x-amz-content-sha256' header does not "
                                   "match what was computed.")
    return actual


class _SignedHeaders(dict[str, str]):
    """The signed headers as botocore's ``canonical_headers`` reads them: names and
    ``get_all``. An incoming request has one value per lower-case name, so a dict says
    the same as botocore's ``HTTPHeaders`` (an ``email.message.Message``, whose
    ``get_all`` scans every header: a third of a verification's time)."""

    def get_all(self, name: str) -> list[str]:
        return [self[name]]


@dataclass
class _Signing:
    """What botocore's signer reads of the request being checked, in place of an
    ``AWSRequest`` (whose ``HTTPHeaders`` costs more to build than the check it serves):
    ``method``, ``url``, ``params``, ``headers`` (none beyond the signed ones, as an
    AWSRequest built with ``headers={}`` had) and ``context``; plus the headers the caller
    signed and the payload hash to sign with."""

    method: str
    url: str
    params: list[tuple[str, str]]
    context: dict[str, str]
    signed: _SignedHeaders
    payload_hash: str
    headers: dict[str, str] = field(default_factory=dict)


class _Verifier(SigV4Auth):
    """botocore's signer over the headers the caller signed, with a given payload hash."""

    def headers_to_sign(self, request: _Signing) -> _SignedHeaders:  # type: ignore[override]
        return request.signed

    def payload(self, request: _Signing) -> str:  # type: ignore[override]
        return request.payload_hash

    def signature(self, string_to_sign: str, request: _Signing) -> str:  # type: ignore[override]
        """botocore's, with the derived signing key remembered (it changes once a day)."""
        key = _signing_key(self.credentials.secret_key, request.context["timestamp"][0:8],
                           self._region_name, self._service_name)
        return str(self._sign(key, string_to_sign, hex=True))


@lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    sign = SigV4Auth._sign
    key = sign(None, f"AWS4{secret}".encode(), date)  # type: ignore[arg-type]
    for part in (region, service, "aws4_request"):
        key = sign(None, key, part)  # type: ignore[arg-type]
    return bytes(key)


class _S3Verifier(_Verifier, S3SigV4Auth):
    """The same with S3's canonical path (not normalised, not encoded twice)."""


@lru_cache(maxsize=256)
def _signer(s3: bool, access_key: str, secret_key: str, token: str | None, service: str,
            region: str) -> _Verifier:
    """One signer per key and scope: it keeps nothing of a request, so it is reused."""
    cls = _S3Verifier if s3 else _Verifier
    return cls(Credentials(access_key, secret_key, token), service, region)


def _expected_signature(request: Incoming, secret: Secret, access_key: str, region: str,
                        service: str, stamp: str, signed: list[str], payload: str, s3: bool,
                        presigned: bool) -> str:
    missing = [h for h in signed if h not in request.headers]
    if missing:
        raise AuthFailure(MISMATCH, SIGNATURE_MISMATCH)
    values = _SignedHeaders((h, request.headers[h]) for h in signed)
    query = [(k, v) for k, v in request.query if not (presigned and k == "X-Amz-Signature")]
    checked = _Signing(request.method, f"http://{values['host']}{request.path}", query,
                       {"timestamp": stamp}, values, payload)
    signer = _signer(s3, access_key, secret.secret_access_key, secret.session_token, service,
                     region)
    canonical = signer.canonical_request(checked)  # type: ignore[arg-type]
    return str(signer.signature(signer.string_to_sign(checked, canonical), checked))
