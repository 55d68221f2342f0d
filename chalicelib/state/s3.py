"""boto3 S3 clients (endpoint from AWS_ENDPOINT_URL_S3: moto locally, real S3 deployed).

Two kinds, never mixed:

- :func:`s3_client` is Tailor's own (its artifact store, when that is in S3);
- :func:`caller_s3` reaches a caller's data for the job running on their behalf (see
  :func:`acting_for`): with the credentials of STS ``AssumeRole`` on the job's
  ``roleArn``, as Personalize does ("Creating an IAM role for Amazon Personalize"), or,
  for an import given no role, as the job's own account (a header only Tailor's local S3
  honours: deployed, ``TAILOR_REQUIRE_ROLES=1`` refuses role-less access instead). A role
  of another account is refused; a role that cannot be assumed fails the job with STS's
  answer.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

_local = threading.local()
_CONFIG = Config(retries={"max_attempts": 2})
# The header by which Tailor's own key names the account it acts for when a job has no
# role (the local S3 lets that key reach only that account's buckets).
ACCOUNT_HEADER = "x-tailor-account"
ROLE_ARN = re.compile(r"arn:([a-z\d-]+):iam::(\d{12}):role/?[a-zA-Z_0-9+=,.@\-_/]+")
# Assumed-role credentials are used until this many seconds before they expire.
_REFRESH_SECONDS = 300
_ROLE_SECONDS = 3600


class AccessDenied(Exception):
    """A job may not reach a caller's S3 data (the message is its failureReason)."""


@dataclass(frozen=True)
class Access:
    """On whose behalf a job reaches S3: an account, through one of its roles or not."""

    account: str
    role_arn: str | None = None
    session: str = "tailor"  # the role session name (the job's name)


_acting: ContextVar[Access | None] = ContextVar("tailor_s3_access", default=None)
_roles: dict[tuple[str, str], tuple[float, Any]] = {}
_roles_lock = threading.Lock()


def s3_client() -> Any:
    """Tailor's own S3 client (its artifact store)."""
    client = getattr(_local, "s3", None)
    if client is None:
        client = _local.s3 = boto3.session.Session().client("s3", config=_CONFIG)
    return client


@contextmanager
def acting_for(access: Access | None) -> Iterator[None]:
    token = _acting.set(access)
    try:
        yield
    finally:
        _acting.reset(token)


def role_account(role_arn: str) -> str | None:
    """The account of an IAM role ARN, or None if it is not one."""
    found = ROLE_ARN.fullmatch(role_arn)
    return found.group(2) if found else None


def caller_s3() -> Any:
    """An S3 client for the caller the running job acts for (:func:`acting_for`)."""
    access = _acting.get()
    if access is None:
        raise RuntimeError("caller_s3() outside acting_for(): whose data is this?")
    if access.role_arn is None:
        if os.environ.get("TAILOR_REQUIRE_ROLES") == "1":
            raise AccessDenied(
                "Insufficient privileges: this Tailor reaches your S3 data only through a "
                "role; give the job a roleArn that trusts personalize.amazonaws.com.")
        return _account_client(access.account)
    if role_account(access.role_arn) != access.account:
        raise AccessDenied(
            f"Insufficient privileges: the role {access.role_arn} is not in account "
            f"{access.account}; Personalize assumes only roles of the resource's account.")
    with _roles_lock:
        found = _roles.get((access.role_arn, access.session))
        if found is not None and found[0] > time.time() + _REFRESH_SECONDS:
            return found[1]
    expires, client = _assume(access)
    with _roles_lock:
        _roles[(access.role_arn, access.session)] = (expires, client)
    return client


def _assume(access: Access) -> tuple[float, Any]:
    sts = boto3.session.Session().client("sts", config=_CONFIG)
    try:
        creds = sts.assume_role(RoleArn=access.role_arn, RoleSessionName=access.session[:64],
                                DurationSeconds=_ROLE_SECONDS)["Credentials"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AccessDenied(
            f"Insufficient privileges: Tailor could not assume the role {access.role_arn} "
            f"({error.get('Code', 'error')}: {error.get('Message', '')}). The role must be "
            "your account's and trust the service principal personalize.amazonaws.com."
            ) from None
    except BotoCoreError as exc:
        raise AccessDenied(f"Tailor could not reach STS to assume {access.role_arn}: "
                           f"{exc}") from None
    client = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"]).client("s3", config=_CONFIG)
    return creds["Expiration"].timestamp(), client


def _account_client(account: str) -> Any:
    """Tailor's own key, naming the account it acts for (a signed header)."""
    clients = getattr(_local, "accounts", None)
    if clients is None:
        clients = _local.accounts = {}
    if account not in clients:
        client = boto3.session.Session().client("s3", config=_CONFIG)

        def name_account(request: Any, **_: Any) -> None:
            request.headers[ACCOUNT_HEADER] = account

        client.meta.events.register_first("before-sign.s3", name_account)
        clients[account] = client
    return clients[account]


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); raises ValueError if it is not such a URL."""
    if not url.startswith("s3://"):
        raise ValueError(url)
    bucket, _, key = url[5:].partition("/")
    if not bucket:
        raise ValueError(url)
    return bucket, key

