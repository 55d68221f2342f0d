"""Authentication and accounts: SigV4 as AWS checks it, one account per key, regions apart."""

from __future__ import annotations

import datetime
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.api.conftest import ACCOUNT_A, ACCOUNT_B, KEYS, client
from tests.conftest import JSON11, ROLE, ROOT, Tailor, call_app, start_tailor, unique, wait

CAMPAIGN = "arn:aws:personalize:us-east-1:{}:campaign/none"


def refusal(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as err:
        call()
    meta = err.value.response["ResponseMetadata"]
    assert meta.get("RequestId"), meta
    return err.value.response["Error"]["Code"], meta["HTTPStatusCode"], \
        err.value.response["Error"]["Message"]


@pytest.mark.parametrize("service", ["personalize", "personalize-runtime",
                                     "personalize-events"])
def test_bad_requests_are_refused_as_aws_refuses_them(tailor: Tailor, service: str) -> None:
    status = 400 if service == "personalize" else 403
    calls = {
        "personalize": lambda c: c.list_dataset_groups(),
        "personalize-runtime": lambda c: c.get_recommendations(
            campaignArn=CAMPAIGN.format("123456789012"), userId="u"),
        "personalize-events": lambda c: c.put_events(
            trackingId="t", sessionId="s", eventList=[{"eventType": "click", "sentAt": 1}]),
    }
    call = calls[service]
    unsigned = client(tailor, service, config=Config(signature_version=UNSIGNED))
    assert refusal(lambda: call(unsigned))[:2] == ("MissingAuthenticationTokenException", status)
    unknown = client(tailor, service, aws_access_key_id="AKIANOSUCHKEY0000000",
                     aws_secret_access_key="whatever-secret-value")
    assert refusal(lambda: call(unknown))[:2] == ("UnrecognizedClientException", status)
    wrong = client(tailor, service, aws_secret_access_key="not-the-secret-at-all")
    code, got, message = refusal(lambda: call(wrong))
    assert (code, got) == ("InvalidSignatureException", status)
    assert "signature we calculated does not match" in message
    token = client(tailor, service, aws_session_token="a-token-this-key-does-not-have")
    assert refusal(lambda: call(token))[:2] == ("UnrecognizedClientException", status)


def test_a_skewed_clock_is_refused(tailor: Tailor, monkeypatch: pytest.MonkeyPatch) -> None:
    late = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(
        minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: late)
    code, status, message = refusal(lambda: client(tailor, "personalize").list_recipes())
    assert (code, status) == ("InvalidSignatureException", 400)
    assert message.startswith("Signature expired:")


def test_a_tampered_body_is_refused(tailor: Tailor) -> None:
    p = client(tailor, "personalize")

    def tamper(request: Any, **_: Any) -> None:
        assert request.body.endswith(b"5}")
        request.body = request.body[:-2] + b"6}"

    p.meta.events.register_last("before-send.personalize.ListRecipes", tamper)
    assert refusal(lambda: p.list_recipes(maxResults=5))[0] == "InvalidSignatureException"


def test_good_requests_carry_a_request_id(tailor: Tailor) -> None:
    found = client(tailor, "personalize").list_recipes()
    assert found["ResponseMetadata"]["RequestId"]
    assert found["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_no_secret_reaches_the_log(tailor: Tailor) -> None:
    wrong = client(tailor, "personalize", aws_secret_access_key="a-wrong-secret-to-look-for")
    refusal(lambda: wrong.list_recipes())
    log = tailor.log.read_text()
    assert "a-wrong-secret-to-look-for" not in log
    assert tailor.env["AWS_SECRET_ACCESS_KEY"] not in log


def test_accounts_are_apart(accounts: Tailor) -> None:
    name = unique("shared-name")
    a = client(accounts, "personalize", "a").create_dataset_group(name=name)["datasetGroupArn"]
    b = client(accounts, "personalize", "b").create_dataset_group(name=name)["datasetGroupArn"]
    assert f":{ACCOUNT_A}:dataset-group/{name}" in a and f":{ACCOUNT_B}:" in b
    # Another key of the same account sees the group and is blocked by its name.
    a2 = client(accounts, "personalize", "a2")
    assert name in {g["name"] for g in a2.list_dataset_groups()["datasetGroups"]}
    with pytest.raises(a2.exceptions.ResourceAlreadyExistsException):
        a2.create_dataset_group(name=name)
    pb = client(accounts, "personalize", "b")
    assert [g["datasetGroupArn"] for g in pb.list_dataset_groups()["datasetGroups"]] == [b]
    with pytest.raises(pb.exceptions.ResourceNotFoundException):
        pb.describe_dataset_group(datasetGroupArn=a)
    with pytest.raises(pb.exceptions.ResourceNotFoundException):
        pb.delete_dataset_group(datasetGroupArn=a)
    with pytest.raises(pb.exceptions.ResourceNotFoundException):
        pb.list_tags_for_resource(resourceArn=a)


def test_regions_are_apart(accounts: Tailor) -> None:
    name = unique("regional")
    east = client(accounts, "personalize", "a").create_dataset_group(name=name)
    west = client(accounts, "personalize", "a", region="eu-west-1")
    arn = west.create_dataset_group(name=name)["datasetGroupArn"]
    assert arn.startswith(f"arn:aws:personalize:eu-west-1:{ACCOUNT_A}:")
    assert east["datasetGroupArn"] not in {
        g["datasetGroupArn"] for g in west.list_dataset_groups()["datasetGroups"]}


def test_events_reach_only_their_own_account(accounts: Tailor) -> None:
    pa = client(accounts, "personalize", "a")
    group = pa.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: pa.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    tracker = pa.create_event_tracker(name=unique("t"), datasetGroupArn=group)
    assert f":{ACCOUNT_A}:" in tracker["eventTrackerArn"]
    event = {"eventType": "click", "itemId": "i1", "sentAt": 1}
    other = client(accounts, "personalize-events", "b")
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.put_events(trackingId=tracker["trackingId"], sessionId="s", eventList=[event])
    described = pa.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])
    assert described["eventTracker"]["accountId"] == ACCOUNT_A


def test_serve_creates_one_key_and_keeps_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_tailor(data_dir)
    try:
        key = server.env["AWS_ACCESS_KEY_ID"]
        assert key.startswith("AKIA") and key != "testing"
        creds = data_dir / "credentials.json"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        assert json.loads(creds.read_text())["credentials"][0]["accessKeyId"] == key
        client(server, "personalize").list_recipes()
    finally:
        server.stop()
    again = start_tailor(data_dir)
    try:
        assert again.env["AWS_ACCESS_KEY_ID"] == key
    finally:
        again.stop()


def test_no_auth_accepts_anyone_but_only_on_loopback(tmp_path: Path) -> None:
    server = start_tailor(tmp_path / "data", flags=("--no-auth",))
    try:
        assert server.env["AWS_ACCESS_KEY_ID"] == "testing"
        unsigned = client(server, "personalize", config=Config(signature_version=UNSIGNED))
        assert unsigned.list_recipes()["recipes"]
    finally:
        server.stop()
    proc = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "serve", "--no-auth", "--host", "0.0.0.0",
         "--data-dir", str(tmp_path / "open"), "--port", "0", "--s3-port", "0"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("TAILOR_")})
    assert proc.returncode != 0
    assert "--no-auth" in proc.stderr and "0.0.0.0" in proc.stderr


def test_a_malformed_credentials_file_stops_serve(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"credentials": [{"accessKeyId": "short",
                                                 "secretAccessKey": "x", "accountId": "1"}]}))
    with pytest.raises(RuntimeError, match="malformed"):
        start_tailor(tmp_path / "data", credentials=str(path))


def test_a_role_of_another_account_is_refused(accounts: Tailor) -> None:
    pa = client(accounts, "personalize", "a")
    group = pa.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: pa.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    other = f"arn:aws:iam::{ACCOUNT_B}:role/theirs"
    with pytest.raises(pa.exceptions.InvalidInputException, match="not in your account"):
        pa.create_data_deletion_job(jobName=unique("del"), datasetGroupArn=group,
                                    dataSource={"dataLocation": "s3://b/users.csv"},
                                    roleArn=other)


def test_tailors_own_bucket_is_no_callers_path(app_client: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import config
    from chalicelib.state import context

    monkeypatch.setenv("TAILOR_ARTIFACTS", "s3://tailor-own-artifacts/models")
    config.settings.cache_clear()
    context.context.cache_clear()
    group = call_app(app_client, "CreateDatasetGroup", name=unique("g"))["datasetGroupArn"]
    resp = app_client.http.post("/", body=json.dumps({
        "jobName": unique("del"), "datasetGroupArn": group, "roleArn": ROLE,
        "dataSource": {"dataLocation": "s3://tailor-own-artifacts/models/users.csv"}}),
        headers={"Content-Type": JSON11,
                 "X-Amz-Target": "AmazonPersonalize.CreateDataDeletionJob"})
    body = json.loads(resp.body)
    assert resp.status_code == 400 and body["__type"] == "InvalidInputException", body
    assert "its own artifacts" in body["message"]


def test_quotas_count_per_account(tmp_path: Path) -> None:
    """A full account does not stop another: quotas are per account and region."""
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"credentials": [
        {"accessKeyId": k, "secretAccessKey": s, "accountId": a} for k, s, a in KEYS.values()]}))
    server = start_tailor(tmp_path / "data", credentials=str(path), quota_dataset_groups="1")
    try:
        pa, pb = client(server, "personalize", "a"), client(server, "personalize", "b")
        pa.create_dataset_group(name=unique("g"))
        a2 = client(server, "personalize", "a2")
        with pytest.raises(a2.exceptions.LimitExceededException):
            a2.create_dataset_group(name=unique("g"))
        pb.create_dataset_group(name=unique("g"))
        client(server, "personalize", "a", region="eu-west-1").create_dataset_group(
            name=unique("g"))
    finally:
        server.stop()
