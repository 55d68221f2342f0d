"""Fixtures: a real Tailor (app + moto) in a subprocess, and boto3 clients wired to it.

Tests talk to Tailor exactly as users do: boto3 over HTTP, endpoints from the
environment lines ``tailor serve`` prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from chalice.test import Client

from tests import synthetic

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = {"ACTIVE", "CREATE FAILED", "CREATE STOPPED"}


@dataclass
class Tailor:
    """A running ``tailor serve`` process."""

    data_dir: Path
    proc: subprocess.Popen[str]
    env: dict[str, str]
    log: Path

    def client(self, service: str) -> Any:
        key = {"personalize": "AWS_ENDPOINT_URL_PERSONALIZE",
               "personalize-runtime": "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME",
               "personalize-events": "AWS_ENDPOINT_URL_PERSONALIZE_EVENTS",
               "s3": "AWS_ENDPOINT_URL_S3", "iam": "AWS_ENDPOINT_URL_IAM"}[service]
        return boto3.session.Session().client(
            service, endpoint_url=self.env[key], region_name=self.env["AWS_DEFAULT_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"max_attempts": 1}))

    def stop(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            (self.proc.kill if kill else self.proc.terminate)()
            self.proc.wait(timeout=20)


def start_tailor(data_dir: Path, s3_port: int = 0, port: int = 0,
                 flags: tuple[str, ...] = (), **settings: str) -> Tailor:
    """Run ``tailor serve`` (on free ports unless given); ``settings`` become TAILOR_<NAME>
    variables, ``flags`` more command-line arguments."""
    log = data_dir.parent / f"{data_dir.name}-{uuid.uuid4().hex[:6]}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TAILOR_"))}
    env["TAILOR_WORKER_POLL_SECONDS"] = "0.2"
    env.update({f"TAILOR_{k.upper()}": v for k, v in settings.items()})
    proc = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.cli", "serve", "--data-dir", str(data_dir),
         "--port", str(port), "--s3-port", str(s3_port), "--json", *flags],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.wait(timeout=10)
        raise RuntimeError(f"tailor serve did not start:\n{log.read_text()}")
    server = Tailor(data_dir, proc, json.loads(line), log)
    if "AWS_ACCESS_KEY_ID" in server.env:  # the account has ROLE, as a user would make it
        try:
            create_role(server.client("iam"))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "EntityAlreadyExists":
                raise
    return server


def sign(env: dict[str, str], method: str, url: str, body: bytes,
         headers: dict[str, str]) -> dict[str, str]:
    """``headers`` plus a SigV4 signature with the key of ``env`` (a raw request as an SDK
    would send it, for tests that go below boto3)."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]),
              "personalize", env["AWS_DEFAULT_REGION"]).add_auth(request)
    return dict(request.headers.items())


@pytest.fixture(scope="session")
def tailor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tailor]:
    # The suite shares one server, so it raises the per-region count quotas
    # (tests of the quotas themselves start their own server).
    server = start_tailor(tmp_path_factory.mktemp("tailor") / "data",
                          quota_dataset_groups="1000", quota_schemas="1000",
                          quota_solutions_per_group="1000", quota_campaigns_per_group="1000")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def personalize(tailor: Tailor) -> Any:
    return tailor.client("personalize")


@pytest.fixture(scope="session")
def runtime(tailor: Tailor) -> Any:
    return tailor.client("personalize-runtime")


@pytest.fixture(scope="session")
def s3(tailor: Tailor) -> Any:
    return tailor.client("s3")


ROLE = "arn:aws:iam::123456789012:role/personalize"
TRUST_PERSONALIZE = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "personalize.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


def create_role(iam: Any, name: str = "personalize",
                policy_arn: str = "arn:aws:iam::aws:policy/AmazonS3FullAccess") -> str:
    """A role Personalize may assume (as the AWS samples make it), with ``policy_arn``."""
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_PERSONALIZE)[
        "Role"]["Arn"]
    iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return str(arn)


@pytest.fixture(scope="session")
def bucket(s3: Any) -> str:
    name = "tailor-test-data"
    s3.create_bucket(Bucket=name)
    return name


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait(describe: Callable[[], dict[str, Any]], timeout: float = 60.0,
         done: set[str] | None = None) -> dict[str, Any]:
    """Poll a Describe call (returning the resource dict) until a terminal status."""
    deadline = time.monotonic() + timeout
    while True:
        res = describe()
        if res.get("status") in (done or TERMINAL):
            return res
        if time.monotonic() > deadline:
            raise AssertionError(f"still {res.get('status')} after {timeout}s: {res}")
        time.sleep(0.05)


@dataclass
class Workflow:
    """A dataset group with imported interactions, ready for solutions."""

    group_arn: str
    dataset_arn: str
    data: synthetic.Interactions


def schema_json(name: str, *fields: dict[str, Any]) -> str:
    """A Personalize Avro schema for dataset type ``name`` with ``fields``."""
    return json.dumps({"type": "record", "name": name,
                       "namespace": "com.amazonaws.personalize.schema",
                       "fields": list(fields), "version": "1.0"})


def create_dataset(personalize: Any, group: str, dataset_type: str, schema: str) -> str:
    """A new ACTIVE dataset of ``dataset_type`` in ``group`` with this schema text."""
    schema_arn = personalize.create_schema(name=unique("s"), schema=schema)["schemaArn"]
    arn = personalize.create_dataset(name=unique("d"), datasetGroupArn=group,
                                     datasetType=dataset_type, schemaArn=schema_arn)["datasetArn"]
    wait(lambda: personalize.describe_dataset(datasetArn=arn)["dataset"])
    return arn


def import_csv(personalize: Any, s3: Any, bucket: str, dataset_arn: str, body: str,
               **job: Any) -> dict[str, Any]:
    """Upload ``body`` and import it into the dataset; returns the finished job (ACTIVE)."""
    key = f"{unique('csv')}/data.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    arn = personalize.create_dataset_import_job(
        jobName=unique("imp"), datasetArn=dataset_arn,
        dataSource={"dataLocation": f"s3://{bucket}/{key}"}, **job)["datasetImportJobArn"]
    res = wait(lambda: personalize.describe_dataset_import_job(
        datasetImportJobArn=arn)["datasetImportJob"])
    assert res["status"] == "ACTIVE", res
    return res


def create_interactions_dataset(personalize: Any) -> tuple[str, str]:
    """A new ACTIVE dataset group with an empty Interactions dataset: (group, dataset)."""
    group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    return group, create_dataset(personalize, group, "Interactions",
                                 synthetic.INTERACTIONS_SCHEMA)


def build_group(personalize: Any, s3: Any, bucket: str,
                data: synthetic.Interactions) -> Workflow:
    group, dataset = create_interactions_dataset(personalize)
    import_csv(personalize, s3, bucket, dataset, data.to_csv(),
               roleArn=ROLE)
    return Workflow(group, dataset, data)


def train(personalize: Any, group_arn: str, recipe: str, **solution: Any) -> tuple[str, str]:
    """Create a solution and a version; returns (solution ARN, ACTIVE version ARN)."""
    sol = personalize.create_solution(
        name=unique("sol"), datasetGroupArn=group_arn,
        recipeArn=f"arn:aws:personalize:::recipe/{recipe}", **solution)["solutionArn"]
    wait(lambda: personalize.describe_solution(solutionArn=sol)["solution"])
    version = personalize.create_solution_version(solutionArn=sol)["solutionVersionArn"]
    res = wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=version)["solutionVersion"], timeout=120)
    assert res["status"] == "ACTIVE", res
    return sol, version


def deploy(personalize: Any, version_arn: str) -> str:
    campaign = personalize.create_campaign(name=unique("c"), solutionVersionArn=version_arn,
                                           minProvisionedTPS=1)["campaignArn"]
    res = wait(lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"])
    assert res["status"] == "ACTIVE", res
    return campaign


@pytest.fixture(scope="session")
def planted() -> synthetic.Interactions:
    return synthetic.planted_interactions(seed=7)


@pytest.fixture(scope="session")
def workflow(personalize: Any, s3: Any, bucket: str,
             planted: synthetic.Interactions) -> Workflow:
    return build_group(personalize, s3, bucket, planted)


JSON11 = "application/x-amz-json-1.1"


@pytest.fixture
def app_client(tmp_path: Path, tailor: Tailor, monkeypatch: pytest.MonkeyPatch,
               ) -> Iterator[Client]:
    """The Chalice app in this process (``chalice.test.Client``) on a fresh data dir, with
    no background worker: jobs run only when a test invokes the scheduled handler."""
    import app
    from chalicelib import config
    from chalicelib.state import context

    monkeypatch.setenv("TAILOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TAILOR_INPROCESS_WORKER", "0")
    monkeypatch.setenv("TAILOR_AUTH", "0")  # chalice.test.Client does not sign
    for key in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(key, tailor.env[key])
    config.settings.cache_clear()
    context.context.cache_clear()
    with Client(app.app, stage_name="test") as client:
        yield client
    config.settings.cache_clear()
    context.context.cache_clear()


def call_app(client: Client, operation: str, **params: Any) -> dict[str, Any]:
    """A control-plane call through ``chalice.test.Client``; asserts it succeeded."""
    resp = client.http.post("/", body=json.dumps(params), headers={
        "Content-Type": JSON11, "X-Amz-Target": f"AmazonPersonalize.{operation}"})
    body = json.loads(resp.body)
    assert resp.status_code == 200, body
    return body


def drain_app(client: Client) -> int:
    """Invoke the scheduled ``drain_jobs`` handler; returns how many jobs ran."""
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={},
        resources=["arn:aws:events:us-east-1:123456789012:rule/drain_jobs"])
    return client.lambda_.invoke("drain_jobs", event).payload["jobs"]
