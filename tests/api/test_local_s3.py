"""The local S3 (moto: S3, IAM, STS) is Tailor's, not the world's (#12): moto's control
API refused, a journal without credentials, a private data dir, loopback only, and the
AWS-managed IAM policies Personalize users attach."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests import synthetic
from tests.conftest import ROOT, Tailor, build_group, start_tailor, train

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "personalize.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})
POLICIES = ("arn:aws:iam::aws:policy/service-role/AmazonPersonalizeFullAccess",
            "arn:aws:iam::aws:policy/AmazonS3FullAccess",
            "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")


def http(url: str, method: str = "GET", body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method,
                                                           headers=headers or {})) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/moto-api/"),
    ("GET", "/moto-api/recorder/download-recording"),
    ("POST", "/moto-api/recorder/upload-recording"),
    ("POST", "/moto-api/recorder/replay-recording"),
    ("POST", "/moto-api/reset"),
    ("GET", "//moto-api/data.json"),
    ("GET", "/%6Doto-api/data.json"),
])
def test_local_s3__moto_api_is_refused(tailor: Tailor, s3: Any, method: str,
                                       path: str) -> None:
    s3.create_bucket(Bucket="gate-kept")
    s3.put_object(Bucket="gate-kept", Key="still-here", Body=b"1")
    status, body = http(tailor.env["AWS_ENDPOINT_URL_S3"] + path, method, b"" if
                        method == "POST" else None)
    assert status == 403
    error = ET.fromstring(body)
    assert error.tag == "Error" and error.findtext("Code") == "AccessDenied"
    assert "/moto-api" in (error.findtext("Message") or "")
    assert s3.get_object(Bucket="gate-kept", Key="still-here")["Body"].read() == b"1"


def _old_journal_line(method: str, url: str, body: bytes) -> str:
    """An entry as moto's own recorder wrote it (Tailor before #12): signed headers."""
    return json.dumps({"headers": {
        "Host": "127.0.0.1:1", "X-Amz-Date": "20240101T000000Z",
        "X-Amz-Security-Token": "old-session-token",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAOLDKEY/20240101/us-east-1/s3/"
                         "aws4_request, SignedHeaders=host, Signature=0ld5ignature"},
        "method": method, "url": url, "body": base64.b64encode(body).decode(),
        "body_encoded": True}) + "\n"


def test_local_s3__journal_keeps_no_credentials_and_restores(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    journal = data_dir / "s3-journal.jsonl"
    journal.write_text(
        _old_journal_line("PUT", "http://127.0.0.1:1/old-bucket", b"")
        + _old_journal_line("PUT", "http://127.0.0.1:1/old-bucket/old.txt"
                            "?X-Amz-Signature=abc&x-id=PutObject", b"from before"))
    server = start_tailor(data_dir)
    try:
        s3, iam = server.client("s3"), server.client("iam")
        creds = s3._request_signer._credentials.get_frozen_credentials()
        s3.create_bucket(Bucket="journaled")
        s3.put_object(Bucket="journaled", Key="dir/a b+c.txt", Body=b"plain",
                      Metadata={"my_key": "v"})
        v4 = boto3.client("s3", endpoint_url=server.env["AWS_ENDPOINT_URL_S3"],
                          region_name="us-east-1", aws_access_key_id=creds.access_key,
                          aws_secret_access_key=creds.secret_key,
                          config=Config(signature_version="s3v4"))
        for client, key in ((s3, "presigned.txt"), (v4, "presigned-v4.txt")):  # SigV2, V4
            url = client.generate_presigned_url("put_object", Params={
                "Bucket": "journaled", "Key": key, "ContentType": "text/plain"})
            assert http(url, "PUT", key.encode(), {"Content-Type": "text/plain"})[0] == 200
        iam.create_role(RoleName="journaled-role", AssumeRolePolicyDocument=TRUST)
        iam.attach_role_policy(RoleName="journaled-role", PolicyArn=POLICIES[0])
        text = journal.read_text()
        for secret in ("Signature", "Credential=", "X-Amz-Security-Token", "old-session-token",
                       "AKIAOLDKEY", creds.access_key, creds.secret_key):
            assert secret not in text, secret
        assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    finally:
        server.stop(kill=True)
    with journal.open("a") as file:  # a line a kill cut short
        file.write('{"method": "PUT", "url": "/journaled/cut')

    server = start_tailor(data_dir)
    try:
        s3, iam = server.client("s3"), server.client("iam")
        assert s3.get_object(Bucket="old-bucket", Key="old.txt")["Body"].read() == \
            b"from before"
        plain = s3.get_object(Bucket="journaled", Key="dir/a b+c.txt")
        assert plain["Body"].read() == b"plain" and plain["Metadata"] == {"my_key": "v"}
        for key in ("presigned.txt", "presigned-v4.txt"):
            assert s3.get_object(Bucket="journaled", Key=key)["Body"].read() == key.encode()
        attached = iam.list_attached_role_policies(RoleName="journaled-role")
        assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [POLICIES[0]]
        assert "cut short by a crash" in server.log.read_text()
        assert journal.read_text().endswith("}\n")  # rewritten without the cut line
    finally:
        server.stop()


def test_local_s3__data_dir_and_its_files_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    server = start_tailor(data_dir)
    try:
        p, s3 = server.client("personalize"), server.client("s3")
        s3.create_bucket(Bucket="private")
        flow = build_group(p, s3, "private", synthetic.planted_interactions(seed=4))
        train(p, flow.group_arn, "aws-popularity-count")  # writes a model artifact
    finally:
        server.stop()
    found = {path.relative_to(data_dir).as_posix(): stat.S_IMODE(path.stat().st_mode)
             for path in [data_dir, *data_dir.rglob("*")]}
    assert {"tailor.db", "s3-journal.jsonl", "artifacts"} <= set(found)
    assert any(name.endswith(".npz") for name in found), sorted(found)
    wrong = {name: oct(mode) for name, mode in found.items()
             if mode != (0o700 if (data_dir / name).is_dir() else 0o600)}
    assert not wrong


def test_local_s3__sqlite_side_files_are_private(tailor: Tailor,
                                                 personalize: Any) -> None:
    personalize.list_dataset_groups()
    sides = [tailor.data_dir / f"tailor.db{s}" for s in ("-wal", "-shm")]
    assert all(stat.S_IMODE(side.stat().st_mode) == 0o600 for side in sides if side.exists())
    assert any(side.exists() for side in sides)


def test_local_s3__follows_the_host_only_with_auth(tmp_path: Path) -> None:
    """With auth on, the local S3 checks signatures, so it may listen where Tailor does
    (without auth, --host must be loopback: tests/api/test_auth.py)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.cli", "serve", "--data-dir", str(tmp_path / "d"),
         "--host", "0.0.0.0", "--port", "0", "--s3-port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        for line in proc.stdout or []:
            lines.append(line.strip())
            if "Ctrl-C" in line:
                break
        exports = dict(line.removeprefix("export ").split("=", 1) for line in lines
                       if line.startswith("export "))
        assert exports["AWS_ENDPOINT_URL_PERSONALIZE"].startswith("http://0.0.0.0:")
        assert exports["AWS_ENDPOINT_URL_S3"].startswith("http://0.0.0.0:")
        status, body = http(exports["AWS_ENDPOINT_URL_S3"].replace("0.0.0.0", "127.0.0.1")
                            + "/", "GET")
        assert status == 403 and b"AccessDenied" in body  # unsigned: refused
        assert exports["AWS_REGION"] == exports["AWS_DEFAULT_REGION"] == "us-east-1"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve__env_names_the_region_for_every_sdk(tailor: Tailor) -> None:
    assert tailor.env["AWS_REGION"] == tailor.env["AWS_DEFAULT_REGION"] == "us-east-1"


def test_iam__aws_managed_policies_personalize_users_attach(tailor: Tailor) -> None:
    iam = tailor.client("iam")
    iam.create_role(RoleName="PersonalizeRole", AssumeRolePolicyDocument=TRUST)
    for arn in POLICIES:
        iam.attach_role_policy(RoleName="PersonalizeRole", PolicyArn=arn)
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
        assert policy["Arn"] == arn and policy["PolicyName"] == arn.rsplit("/", 1)[1]
    attached = iam.list_attached_role_policies(RoleName="PersonalizeRole")["AttachedPolicies"]
    assert sorted(p["PolicyArn"] for p in attached) == sorted(POLICIES)
    full = iam.get_policy_version(PolicyArn=POLICIES[0], VersionId="v2")["PolicyVersion"]
    document = full["Document"]
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    assert {"Action": ["personalize:*"], "Effect": "Allow", "Resource": "*"} in \
        document["Statement"]
    # As on AWS, the policy lives under service-role/ only.
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.attach_role_policy(RoleName="PersonalizeRole",
                               PolicyArn="arn:aws:iam::aws:policy/AmazonPersonalizeFullAccess")
