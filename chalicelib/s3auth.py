"""Who may do what on Tailor's local S3, IAM and STS (the moto server of ``tailor serve``).

Every request is signed (SigV4, checked by ``protocol.sigv4``) by one of three kinds of
caller, each confined to one account, as on AWS:

- an **account key** of the credentials file (``TAILOR_CREDENTIALS``): its account's root.
  It manages its account's IAM, assumes its account's roles and reaches its account's
  buckets (moto keeps one backend per account: ``x-moto-account-id``);
- a **role session**: credentials STS ``AssumeRole`` issued. It reaches only buckets of
  the role's account, and only what the role's policies allow (moto's IAM policy
  evaluation; an explicit Deny wins);
- **Tailor itself** (the service key ``tailor serve`` makes at each start). It acts as
  Personalize does: it may call ``AssumeRole`` on a role whose trust policy lets the
  service principal ``personalize.amazonaws.com`` in, and, for a job given no role,
  reach the buckets of the one account its signed ``x-tailor-account`` header names.

Bucket policies and ACLs are not evaluated: another account's bucket is never reachable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from chalicelib.protocol.sigv4 import Caller, Secret
from chalicelib.state.s3 import ACCOUNT_HEADER, role_account

SERVICE_ACCOUNT = "tailor-service"
SERVICE_PRINCIPAL = "personalize.amazonaws.com"
PARTITION = "aws"


class Denied(Exception):
    """Why a verified caller may not make this request (the message names no secret)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Request:
    """What authorization looks at: the service, the method, the raw path, the query
    keys and the body (form fields for IAM/STS)."""

    service: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


def role_sessions(access_key: str) -> Secret | None:
    """The secret of credentials moto's STS issued (None: none has this key)."""
    from moto.sts.models import sts_backends

    for account in list(sts_backends.keys()):
        for role in sts_backends[account][PARTITION].assumed_roles:
            if role.access_key_id == access_key:
                if role.expiration.timestamp() < time.time():
                    return None
                return Secret(role.secret_access_key, role_account(role.role_arn) or account,
                              role.session_token, role.role_arn)
    return None


def lookup(accounts: Callable[[str], Secret | None], service_key: tuple[str, str] | None,
           ) -> Callable[[str], Secret | None]:
    """Access key -> secret over the three kinds of caller."""

    def find(access_key: str) -> Secret | None:
        if service_key is not None and access_key == service_key[0]:
            return Secret(service_key[1], SERVICE_ACCOUNT)
        return accounts(access_key) or role_sessions(access_key)
    return find


def authorize(caller: Caller, request: Request) -> str:
    """The account the request acts in, or :class:`Denied`."""
    account = caller.account
    if request.service == "sts":
        return _authorize_sts(caller, request)
    if account == SERVICE_ACCOUNT:
        account = _service_account(caller, request)
    if request.service == "iam":
        if caller.role_arn is not None or caller.account == SERVICE_ACCOUNT:
            raise Denied(f"{_who(caller)} is not authorized to call IAM: use your account's "
                         "own key.")
    elif request.service == "s3":
        _authorize_s3(caller, account, request)
    else:
        raise Denied(f"The local stack serves S3, IAM and STS, not {request.service}.")
    return account


def _who(caller: Caller) -> str:
    if caller.role_arn:
        return f"The role session of {caller.role_arn}"
    if caller.account == SERVICE_ACCOUNT:
        return "Tailor's service key"
    return f"Account {caller.account}"


def _service_account(caller: Caller, request: Request) -> str:
    account = request.headers.get(ACCOUNT_HEADER, "")
    if not (account.isdigit() and len(account) == 12) or ACCOUNT_HEADER not in \
            caller.signed_headers:
        raise Denied(f"Tailor's service key acts for one account: sign {ACCOUNT_HEADER}.")
    return account


def _form(request: Request) -> dict[str, str]:
    if request.method == "POST" and request.body:
        return {**request.query, **dict(parse_qsl(request.body.decode("utf-8", "replace")))}
    return dict(request.query)


def _authorize_sts(caller: Caller, request: Request) -> str:
    """An account key may assume its account's roles, Tailor the roles that trust
    Personalize (in the role's account); role sessions only ask who they are."""
    form = _form(request)
    action = form.get("Action", "")
    if action == "GetCallerIdentity" and caller.account != SERVICE_ACCOUNT:
        return caller.account
    if action != "AssumeRole" or caller.role_arn is not None:
        raise Denied(f"{_who(caller)} is not authorized to perform: sts:{action or '?'}.")
    role_arn = form.get("RoleArn", "")
    account = role_account(role_arn) or ""
    if caller.account not in (SERVICE_ACCOUNT, account):
        raise Denied(f"{_who(caller)} is not authorized to perform: sts:AssumeRole on "
                     f"resource: {role_arn} (a role of another account).")
    role = _role(role_arn)
    if role is None:
        raise Denied(f"{_who(caller)} is not authorized to perform: sts:AssumeRole on "
                     f"resource: {role_arn} (no such role).")
    if caller.account == SERVICE_ACCOUNT and not _trusts_personalize(
            role.assume_role_policy_document):
        raise Denied(f"Personalize is not authorized to perform: sts:AssumeRole on "
                     f"resource: {role_arn}: its trust policy does not let the service "
                     f"principal {SERVICE_PRINCIPAL} assume it.")
    return account


def _iam(role_arn: str) -> Any:
    """moto's IAM backend of the role's account."""
    from moto.iam.models import iam_backends

    return iam_backends[role_account(role_arn) or ""][PARTITION]


def _role(role_arn: str) -> Any:
    try:
        return _iam(role_arn).get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - moto raises its own IAMNotFoundException
        return None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _trusts_personalize(document: Any) -> bool:
    try:
        policy = json.loads(document) if isinstance(document, str) else document
        statements = _listed(policy.get("Statement", []))
    except (ValueError, AttributeError):
        return False
    for st in statements:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        actions = _listed(st.get("Action", []))
        principal = st.get("Principal", {})
        services = _listed(principal.get("Service", [])) if isinstance(principal, dict) else []
        if {"sts:AssumeRole", "sts:*", "*"} & set(actions) and SERVICE_PRINCIPAL in services:
            return True
    return False


def _s3_target(request: Request) -> tuple[str, str]:
    """(bucket, key) of a path-style or ``<bucket>.localhost`` request, decoded (the
    request path is percent-encoded; IAM resources name keys as they are)."""
    host = request.headers.get("host", "").split(":")[0]
    path = unquote(request.path).lstrip("/")
    if host.endswith(".localhost"):
        return host[: -len(".localhost")], path
    bucket, _, key = path.partition("/")
    return bucket, key


def _s3_action(request: Request, key: str) -> str:
    from moto.s3.responses import ACTION_MAP

    table = ACTION_MAP["KEY" if key else "BUCKET"].get(request.method, {})
    for name in request.query:
        if name in table:
            return f"s3:{table[name]}"
    if request.method == "POST" and not key:
        return "s3:DeleteObject"  # DeleteObjects, the one bucket-level POST
    action = table.get("DEFAULT", "GetObject")
    return f"s3:{'ListBucket' if action == 'HeadBucket' else action}"


def _authorize_s3(caller: Caller, account: str, request: Request) -> None:
    from moto.s3.models import s3_backends

    bucket, key = _s3_target(request)
    if not bucket:
        return  # ListBuckets: moto lists the caller's account's buckets
    owner = s3_backends.bucket_accounts.get(bucket)
    if owner is not None and owner[1] != account:
        raise Denied(f"{_who(caller)} may not reach bucket {bucket}: it belongs to another "
                     "account.")
    if caller.role_arn is None:
        return
    action = _s3_action(request, key)
    resource = f"arn:aws:s3:::{bucket}" + (f"/{key}" if key else "")
    if not _role_allows(caller.role_arn, action, resource):
        raise Denied(f"{_who(caller)} is not authorized to perform: {action} on resource: "
                     f"{resource}: no statement of the role's policies allows it.")


def _role_allows(role_arn: str, action: str, resource: str) -> bool:
    from moto.iam.access_control import IAMPolicy, PermissionResult

    role = _role(role_arn)
    if role is None:
        return False
    backend = _iam(role_arn)
    documents = [backend.get_role_policy(role.name, name)[1]
                 for name in backend.list_role_policies(role.name)]
    documents += list(backend.list_attached_role_policies(role.name)[0])
    allowed = False
    for document in documents:
        result = IAMPolicy(document).is_action_permitted(action, resource)
        if result == PermissionResult.DENIED:
            return False
        allowed = allowed or result == PermissionResult.PERMITTED
    return allowed
