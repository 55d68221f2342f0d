"""Clients besides boto3 sign their own requests: the AWS CLI (its own bundled botocore)
and the AWS SDK for JavaScript v3. Tailor must accept them with the right key and refuse
them as AWS does, with the environment ``tailor serve`` prints."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, Tailor, create_interactions_dataset, unique, wait

AWS_CLI = Path(sys.executable).parent / "aws"
JS_DIR = ROOT / "tests" / "clients" / "js"
MISSING_FILE = "/nonexistent/tailor-test/aws-config"
REFUSALS = [  # (service, command, arguments): one call to each API
    ("personalize", "list-recipes", ["--max-results", "1"]),
    ("personalize-runtime", "get-recommendations",
     ["--campaign-arn", "arn:aws:personalize:us-east-1:123456789012:campaign/none",
      "--user-id", "u1"]),
    ("personalize-events", "put-events",
     ["--tracking-id", "t", "--session-id", "s",
      "--event-list", '[{"eventType": "click", "sentAt": 1700000000}]']),
]


def client_env(tailor: Tailor, **over: str) -> dict[str, str]:
    """The caller's environment without its AWS settings, plus Tailor's exports; no AWS
    config or credentials file is read, no call is retried."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(tailor.env)
    env.update(AWS_CONFIG_FILE=MISSING_FILE, AWS_SHARED_CREDENTIALS_FILE=MISSING_FILE,
               AWS_MAX_ATTEMPTS="1", AWS_PAGER="",
               AWS_REGION=tailor.env.get("AWS_REGION") or tailor.env["AWS_DEFAULT_REGION"])
    env.update(over)
    return env


def aws(tailor: Tailor, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``aws <args> --output json`` against ``tailor``; ``env`` overrides variables."""
    if not AWS_CLI.exists():
        pytest.skip(f"no AWS CLI at {AWS_CLI}: install the test extra (pip install -e .[test])")
    return subprocess.run([str(AWS_CLI), *args, "--output", "json"], env=client_env(
        tailor, **env), capture_output=True, text=True, timeout=60, check=False)


def aws_ok(tailor: Tailor, *args: str) -> dict[str, Any]:
    done = aws(tailor, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def aws_error(tailor: Tailor, *args: str, **env: str) -> str:
    """The error code the CLI reports (``An error occurred (<code>) when calling ...``)."""
    done = aws(tailor, *args, **env)
    assert done.returncode != 0, done.stdout
    found = re.search(r"An error occurred \((\w+)\) when calling the \w+ operation",
                      done.stderr)
    assert found, done.stderr
    return found.group(1)


def test_cli_list_recipes(tailor: Tailor) -> None:
    # Without --max-results the CLI follows nextToken through every page itself.
    recipes = aws_ok(tailor, "personalize", "list-recipes")["recipes"]
    names = [r["name"] for r in recipes]
    assert "aws-user-personalization" in names and len(names) == len(set(names)) > 5


def test_cli_create_dataset_group(tailor: Tailor) -> None:
    name = unique("cli")
    arn = aws_ok(tailor, "personalize", "create-dataset-group", "--name", name)[
        "datasetGroupArn"]
    region = tailor.env["AWS_DEFAULT_REGION"]
    assert arn.startswith(f"arn:aws:personalize:{region}:") and arn.endswith(f"/{name}")
    group = aws_ok(tailor, "personalize", "describe-dataset-group",
                   "--dataset-group-arn", arn)["datasetGroup"]
    assert group["name"] == name


def test_cli_get_recommendations__unknown_campaign(tailor: Tailor) -> None:
    campaign = f"arn:aws:personalize:{tailor.env['AWS_DEFAULT_REGION']}:123456789012:" \
               f"campaign/{unique('none')}"
    assert aws_error(tailor, "personalize-runtime", "get-recommendations",
                     "--campaign-arn", campaign, "--user-id", "u1") \
        == "ResourceNotFoundException"


def test_cli_put_events(tailor: Tailor, personalize: Any) -> None:
    group, _ = create_interactions_dataset(personalize)
    tracker = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group)
    wait(lambda: personalize.describe_event_tracker(
        eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])
    events = json.dumps([{"eventType": "click", "itemId": "crème-brûlée-日本",
                          "sentAt": 1700000000}])
    assert aws_ok(tailor, "personalize-events", "put-events", "--tracking-id",
                  tracker["trackingId"], "--session-id", "s1", "--user-id", "u1",
                  "--event-list", events) == {}
    assert aws_error(tailor, "personalize-events", "put-events", "--tracking-id",
                     unique("no-such-tracker"), "--session-id", "s1",
                     "--event-list", events) == "ResourceNotFoundException"


@pytest.mark.parametrize(("service", "command", "args"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_cli_refusals(tailor: Tailor, service: str, command: str, args: list[str]) -> None:
    call = (service, command, *args)
    assert aws_error(tailor, *call, AWS_SECRET_ACCESS_KEY="not-the-secret-at-all") \
        == "InvalidSignatureException"
    assert aws_error(tailor, *call, AWS_ACCESS_KEY_ID="AKIANOSUCHKEY0000000") \
        == "UnrecognizedClientException"
    assert aws_error(tailor, *call, AWS_SESSION_TOKEN="a-token-this-key-does-not-have") \
        == "UnrecognizedClientException"
    assert aws_error(tailor, *call, "--no-sign-request") \
        == "MissingAuthenticationTokenException"


# --- AWS SDK for JavaScript v3 -------------------------------------------------------

def _npm_install() -> None:
    """``npm ci`` into tests/clients/js unless node_modules already matches the lock file
    (the first install takes ~5-30 s, depending on the network; later runs none)."""
    lock = JS_DIR / "package-lock.json"
    want = hashlib.sha256(lock.read_bytes() + (JS_DIR / "package.json").read_bytes()
                          ).hexdigest()
    stamp = JS_DIR / "node_modules" / ".tailor-installed"
    if stamp.exists() and stamp.read_text() == want:
        return
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_DIR,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    stamp.write_text(want)


@pytest.fixture(scope="module")
def js(tailor: Tailor) -> dict[str, dict[str, Any]]:
    """The results of tests/clients/js/script.mjs run once against ``tailor``."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not on PATH: the JavaScript SDK v3 tests need "
                    "Node.js >= 20 with npm")
    version = subprocess.run(["node", "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 20:
        pytest.skip(f"node {version}: the AWS SDK for JavaScript v3 needs Node.js >= 20")
    _npm_install()
    done = subprocess.run(["node", "script.mjs"], cwd=JS_DIR, env=client_env(tailor),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    results: dict[str, dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


SUCCESSES = ["listRecipes", "listRecipesEndpointFromEnv", "createDatasetGroup",
             "describeDatasetGroup", "describeDataset", "createEventTracker", "putEvents",
             "skewedClock"]
ERRORS = {  # call: (error name, HTTP status)
    "getRecommendations": ("ResourceNotFoundException", 404),
    "putEventsUnknownTracker": ("ResourceNotFoundException", 404),
    "wrongSecretControl": ("InvalidSignatureException", 400),
    "wrongSecretRuntime": ("InvalidSignatureException", 403),
    "unknownKeyEvents": ("UnrecognizedClientException", 403),
    "badSessionTokenControl": ("UnrecognizedClientException", 400),
}


def test_js_calls_succeed(js: dict[str, dict[str, Any]]) -> None:
    for call in SUCCESSES:
        assert js[call]["ok"] and js[call]["status"] == 200, (call, js[call])
    assert "aws-user-personalization" in js["listRecipes"]["recipes"]
    arn = js["createDatasetGroup"]["datasetGroupArn"]
    assert js["describeDatasetGroup"]["datasetGroupArn"] == arn
    assert arn.endswith("/" + js["describeDatasetGroup"]["name"])
    assert js["describeDatasetGroup"]["resourceStatus"] == "ACTIVE"


def test_js_errors_have_the_modelled_names_and_statuses(js: dict[str, dict[str, Any]]
                                                        ) -> None:
    got = {call: (js[call].get("name"), js[call]["status"]) for call in ERRORS}
    assert got == ERRORS
    assert "signature we calculated does not match" in js["wrongSecretRuntime"]["message"]


def test_js_every_answer_has_a_request_id(js: dict[str, dict[str, Any]]) -> None:
    ids = {call: res["requestId"] for call, res in js.items()}
    assert all(ids.values()), ids
    assert len(set(ids.values())) == len(ids)


def test_js_corrects_a_skewed_clock_from_the_date_header(js: dict[str, dict[str, Any]]
                                                         ) -> None:
    # Refused once as expired (InvalidSignatureException), then retried with the offset
    # the SDK derives from the response's Date header.
    assert js["skewedClock"]["attempts"] == 2
