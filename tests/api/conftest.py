"""Fixtures for tests across accounts: a Tailor whose credentials file holds two."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.conftest import Tailor, start_tailor

ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
KEYS = {
    "a": ("AKIAACCOUNTA00000001", "secret-of-account-a-0001", ACCOUNT_A),
    "a2": ("AKIAACCOUNTA00000002", "secret-of-account-a-0002", ACCOUNT_A),
    "b": ("AKIAACCOUNTB00000001", "secret-of-account-b-0001", ACCOUNT_B),
}
ENDPOINTS = {"personalize": "AWS_ENDPOINT_URL_PERSONALIZE",
             "personalize-runtime": "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME",
             "personalize-events": "AWS_ENDPOINT_URL_PERSONALIZE_EVENTS",
             "s3": "AWS_ENDPOINT_URL_S3", "iam": "AWS_ENDPOINT_URL_IAM",
             "sts": "AWS_ENDPOINT_URL_STS"}


def client(server: Tailor, service: str, key: str = "", region: str = "us-east-1",
           **kw: Any) -> Any:
    """A boto3 client of ``server`` signing with ``KEYS[key]`` (default: the key the
    server printed), or with the credentials given in ``kw``."""
    if key:
        kw.update(aws_access_key_id=KEYS[key][0], aws_secret_access_key=KEYS[key][1])
    elif "aws_access_key_id" not in kw:
        kw["aws_access_key_id"] = server.env["AWS_ACCESS_KEY_ID"]
        kw.setdefault("aws_secret_access_key", server.env["AWS_SECRET_ACCESS_KEY"])
    config = kw.pop("config", Config(retries={"max_attempts": 1}))
    return boto3.session.Session().client(service, endpoint_url=server.env[ENDPOINTS[service]],
                                          region_name=region, config=config, **kw)


@pytest.fixture(scope="session")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tailor]:
    """A Tailor with a credentials file of two accounts (two keys for the first)."""
    path = tmp_path_factory.mktemp("creds") / "credentials.json"
    path.write_text(json.dumps({"credentials": [
        {"accessKeyId": k, "secretAccessKey": s, "accountId": a} for k, s, a in KEYS.values()]}))
    server = start_tailor(tmp_path_factory.mktemp("accounts") / "data", credentials=str(path),
                          quota_dataset_groups="1000")
    yield server
    server.stop()
