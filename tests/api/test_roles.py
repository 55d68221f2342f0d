"""The local S3, IAM and STS check signatures and accounts; jobs reach S3 only through the
role they are given (STS AssumeRole), as Personalize does."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests import synthetic
from tests.api.conftest import ACCOUNT_A, ACCOUNT_B, KEYS, client
from tests.conftest import (
    ROLE,
    TRUST_PERSONALIZE,
    Tailor,
    create_interactions_dataset,
    start_tailor,
    unique,
    wait,
)

DATA = synthetic.planted_interactions(n_users=100, n_items=80, per_user=30, seed=3).to_csv()


def code_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], \
        err.value.response["ResponseMetadata"]["HTTPStatusCode"]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_local_s3_iam_and_sts_refuse_bad_signatures(tailor: Tailor) -> None:
    s3 = client(tailor, "s3", config=Config(signature_version=UNSIGNED))
    assert code_of(lambda: s3.list_buckets()) == ("AccessDenied", 403)
    unknown = client(tailor, "s3", aws_access_key_id="AKIANOSUCHKEY0000000",
                     aws_secret_access_key="whatever-secret")
    assert code_of(lambda: unknown.list_buckets()) == ("InvalidAccessKeyId", 403)
    wrong = client(tailor, "s3", aws_secret_access_key="not-the-secret-at-all")
    assert code_of(lambda: wrong.list_buckets()) == ("SignatureDoesNotMatch", 403)
    iam = client(tailor, "iam", aws_secret_access_key="not-the-secret-at-all")
    assert code_of(lambda: iam.list_roles()) == ("SignatureDoesNotMatch", 403)
    sts = client(tailor, "sts", aws_access_key_id="AKIANOSUCHKEY0000000",
                 aws_secret_access_key="whatever-secret")
    assert code_of(lambda: sts.get_caller_identity()) == ("InvalidClientTokenId", 403)
    assert client(tailor, "sts").get_caller_identity()["Account"] == "123456789012"


def test_presigned_urls_work_until_they_expire(tailor: Tailor, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="presigned/x.txt", Body=b"shared")
    for version in ("s3", "s3v4"):  # boto3's default (the legacy signature) and SigV4
        signer = client(tailor, "s3", config=Config(signature_version=version))
        url = signer.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "presigned/x.txt"}, ExpiresIn=1)
        assert get(url) == (200, b"shared"), version
        time.sleep(2.1)
        status, body = get(url)
        assert status == 403 and b"expired" in body, (version, body)
        assert get(url.replace("Signature=", "Signature=x"))[0] == 403


def test_accounts_keep_their_buckets_and_roles(accounts: Tailor) -> None:
    a, b = client(accounts, "s3", "a"), client(accounts, "s3", "b")
    name = unique("only-a")
    a.create_bucket(Bucket=name)
    a.put_object(Bucket=name, Key="k", Body=b"a's")
    assert code_of(lambda: b.get_object(Bucket=name, Key="k"))[0] == "AccessDenied"
    assert code_of(lambda: b.put_object(Bucket=name, Key="k", Body=b"b's"))[0] == \
        "AccessDenied"
    assert name not in {x["Name"] for x in b.list_buckets()["Buckets"]}
    role = unique("r")
    client(accounts, "iam", "a").create_role(RoleName=role,
                                             AssumeRolePolicyDocument=TRUST_PERSONALIZE)
    assert role not in {r["RoleName"] for r in client(accounts, "iam", "b").list_roles()["Roles"]}
    stolen = f"arn:aws:iam::{ACCOUNT_A}:role/{role}"
    assert code_of(lambda: client(accounts, "sts", "b").assume_role(
        RoleArn=stolen, RoleSessionName="xx"))[0] == "AccessDenied"


def _role(server: Tailor, key: str, name: str, statements: list[dict[str, Any]],
          trust: str = TRUST_PERSONALIZE) -> str:
    iam = client(server, "iam", key)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    return str(arn)


def _read(bucket: str) -> list[dict[str, Any]]:
    return [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
             "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]


def _import(p: Any, dataset: str, url: str, role: str | None) -> dict[str, Any]:
    arn = p.create_dataset_import_job(
        jobName=unique("imp"), datasetArn=dataset, dataSource={"dataLocation": url},
        **({"roleArn": role} if role else {}))["datasetImportJobArn"]
    return wait(lambda: p.describe_dataset_import_job(
        datasetImportJobArn=arn)["datasetImportJob"])


def test_jobs_reach_only_what_their_role_allows(accounts: Tailor) -> None:
    p, s3 = client(accounts, "personalize", "a"), client(accounts, "s3", "a")
    allowed, other = unique("allowed"), unique("other")
    for name in (allowed, other):
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="data.csv", Body=DATA.encode())
    reader = _role(accounts, "a", unique("reader"), _read(allowed))
    untrusting = _role(accounts, "a", unique("untrusting"), _read(allowed), trust=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    _, dataset = create_interactions_dataset(p)

    assert _import(p, dataset, f"s3://{allowed}/data.csv", reader)["status"] == "ACTIVE"
    denied = _import(p, dataset, f"s3://{other}/data.csv", reader)
    assert denied["status"] == "CREATE FAILED"
    assert "Insufficient privileges" in denied["failureReason"]
    untrusted = _import(p, dataset, f"s3://{allowed}/data.csv", untrusting)
    assert untrusted["status"] == "CREATE FAILED"
    assert "trust policy" in untrusted["failureReason"]
    missing = _import(p, dataset, f"s3://{allowed}/data.csv",
                      f"arn:aws:iam::{ACCOUNT_A}:role/{unique('none')}")
    assert missing["status"] == "CREATE FAILED" and "no such role" in missing["failureReason"]

    export = p.create_dataset_export_job(
        jobName=unique("exp"), datasetArn=dataset, roleArn=reader, ingestionMode="BULK",
        jobOutput={"s3DataDestination": {"path": f"s3://{allowed}/out/"}})["datasetExportJobArn"]
    done = wait(lambda: p.describe_dataset_export_job(
        datasetExportJobArn=export)["datasetExportJob"])
    assert done["status"] == "CREATE FAILED", "a read-only role cannot write the export"
    assert "Insufficient privileges" in done["failureReason"] or "AccessDenied" in \
        done["failureReason"]


def test_an_import_without_a_role_reaches_only_its_own_account(accounts: Tailor) -> None:
    theirs = unique("b-data")
    sb = client(accounts, "s3", "b")
    sb.create_bucket(Bucket=theirs)
    sb.put_object(Bucket=theirs, Key="data.csv", Body=DATA.encode())
    mine = unique("a-data")
    sa = client(accounts, "s3", "a")
    sa.create_bucket(Bucket=mine)
    sa.put_object(Bucket=mine, Key="data.csv", Body=DATA.encode())
    p = client(accounts, "personalize", "a")
    _, dataset = create_interactions_dataset(p)
    assert _import(p, dataset, f"s3://{mine}/data.csv", None)["status"] == "ACTIVE"
    stolen = _import(p, dataset, f"s3://{theirs}/data.csv", None)
    assert stolen["status"] == "CREATE FAILED"
    assert "Insufficient privileges" in stolen["failureReason"]
    assert ACCOUNT_B not in stolen["failureReason"]


def test_a_tailor_that_requires_roles_refuses_role_less_jobs(tmp_path: Path) -> None:
    """Deployed (TAILOR_REQUIRE_ROLES=1), a job without a role does not reach S3 at all."""
    server = start_tailor(tmp_path / "data", require_roles="1")
    try:
        p, s3 = server.client("personalize"), server.client("s3")
        s3.create_bucket(Bucket="role-less")
        s3.put_object(Bucket="role-less", Key="data.csv", Body=DATA.encode())
        _, dataset = create_interactions_dataset(p)
        refused = _import(p, dataset, "s3://role-less/data.csv", None)
        assert refused["status"] == "CREATE FAILED"
        assert "only through a role" in refused["failureReason"]
        assert _import(p, dataset, "s3://role-less/data.csv", ROLE)["status"] == "ACTIVE"
    finally:
        server.stop()


def test_each_accounts_objects_survive_a_restart_in_their_account(tmp_path: Path) -> None:
    """The journal replays every write into the account that made it."""
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"credentials": [
        {"accessKeyId": k, "secretAccessKey": s, "accountId": a} for k, s, a in KEYS.values()]}))
    data_dir = tmp_path / "data"
    server = start_tailor(data_dir, credentials=str(creds))
    try:
        client(server, "s3", "a").create_bucket(Bucket="kept-for-a")
        client(server, "s3", "a").put_object(Bucket="kept-for-a", Key="k", Body=b"a's")
        client(server, "sts", "a").get_caller_identity()
        client(server, "iam", "a").list_roles()
        entries = [json.loads(line) for line in
                   (data_dir / "s3-journal.jsonl").read_text().splitlines()]
        bodies = b"".join(base64.b64decode(e["body"]) for e in entries if e["body_encoded"])
        assert any("kept-for-a" in e["url"] for e in entries)  # writes are kept,
        assert b"Action=GetCallerIdentity" not in bodies  # reads and sessions are not
        assert b"Action=ListRoles" not in bodies
    finally:
        server.stop(kill=True)
    server = start_tailor(data_dir, credentials=str(creds))
    try:
        got = client(server, "s3", "a").get_object(Bucket="kept-for-a", Key="k")
        assert got["Body"].read() == b"a's"
        assert code_of(lambda: client(server, "s3", "b").get_object(
            Bucket="kept-for-a", Key="k"))[0] == "AccessDenied"
    finally:
        server.stop()


def test_a_role_policy_names_keys_as_they_are_not_as_encoded(accounts: Tailor) -> None:
    """IAM resources name S3 keys plainly; the request path carries them percent-encoded."""
    bucket, key = unique("spaced"), "dir/a b=c.csv"
    s3 = client(accounts, "s3", "a")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.put_object(Bucket=bucket, Key="dir/other.csv", Body=b"y")
    role = _role(accounts, "a", unique("one-key"), [{
        "Effect": "Allow", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/{key}"}], trust=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"AWS": ACCOUNT_A}}]}))
    creds = client(accounts, "sts", "a").assume_role(RoleArn=role,
                                                     RoleSessionName="reader")["Credentials"]
    session = client(accounts, "s3", aws_access_key_id=creds["AccessKeyId"],
                     aws_secret_access_key=creds["SecretAccessKey"],
                     aws_session_token=creds["SessionToken"])
    assert session.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x"
    assert code_of(lambda: session.get_object(Bucket=bucket, Key="dir/other.csv"))[0] == \
        "AccessDenied"
