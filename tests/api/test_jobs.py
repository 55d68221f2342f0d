"""The job queue: drained by the scheduled handler, and durable across crashes."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests import synthetic
from tests.conftest import (
    ROOT,
    build_group,
    call_app,
    deploy,
    drain_app,
    start_tailor,
    train,
    unique,
    wait,
)

# The sample payloads under events/ (for ``chalice invoke`` and the README) and the Lambda
# entry point each one is for.
SAMPLE_EVENTS = {"drain_jobs.json": "drain_jobs", "s3_put.json": "import_from_s3"}


@pytest.mark.parametrize("path", sorted((ROOT / "events").glob("*.json")),
                         ids=lambda p: p.name)
def test_sample_event_payloads_invoke_their_handler(app_client: Any, path: Path) -> None:
    """Chalice's event classes parse each sample (a scheduled event needs "version", as
    real EventBridge events carry it); a sample that they cannot read fails here."""
    assert path.name in SAMPLE_EVENTS, f"map {path.name} to its handler in SAMPLE_EVENTS"
    payload = json.loads(path.read_text())
    result = app_client.lambda_.invoke(SAMPLE_EVENTS[path.name], payload).payload
    assert isinstance(result, dict) and "errorMessage" not in result, result


def test_scheduled_handler_drains_the_queue(app_client: Any, s3: Any, bucket: str) -> None:
    group = call_app(app_client, "CreateDatasetGroup", name="g1")["datasetGroupArn"]
    status = call_app(app_client, "DescribeDatasetGroup", datasetGroupArn=group)
    assert status["datasetGroup"]["status"] == "CREATE PENDING"  # nothing runs until drained
    assert drain_app(app_client) == 1
    assert (
        call_app(app_client, "DescribeDatasetGroup", datasetGroupArn=group)["datasetGroup"][
            "status"
        ]
        == "ACTIVE"
    )
    schema = call_app(app_client, "CreateSchema", name="s1", schema=synthetic.INTERACTIONS_SCHEMA)[
        "schemaArn"
    ]
    dataset = call_app(
        app_client,
        "CreateDataset",
        name="d1",
        datasetGroupArn=group,
        datasetType="Interactions",
        schemaArn=schema,
    )["datasetArn"]
    drain_app(app_client)
    key = f"{unique('drain')}.csv"
    s3.put_object(
        Bucket=bucket, Key=key, Body=synthetic.planted_interactions(seed=1).to_csv().encode()
    )
    job = call_app(
        app_client,
        "CreateDatasetImportJob",
        jobName="j1",
        datasetArn=dataset,
        dataSource={"dataLocation": f"s3://{bucket}/{key}"},
    )["datasetImportJobArn"]
    solution = call_app(
        app_client,
        "CreateSolution",
        name="sol1",
        datasetGroupArn=group,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
    )["solutionArn"]
    assert drain_app(app_client) == 2
    assert (
        call_app(app_client, "DescribeDatasetImportJob", datasetImportJobArn=job)[
            "datasetImportJob"
        ]["status"]
        == "ACTIVE"
    )
    version = call_app(app_client, "CreateSolutionVersion", solutionArn=solution)
    assert drain_app(app_client) == 1
    described = call_app(
        app_client, "DescribeSolutionVersion", solutionVersionArn=version["solutionVersionArn"]
    )["solutionVersion"]
    assert described["status"] == "ACTIVE"
    assert drain_app(app_client) == 0


def _rows(db: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def test_restart_keeps_resources_models_and_resumes_jobs(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_tailor(data_dir)
    try:
        p, s3 = server.client("personalize"), server.client("s3")
        s3.create_bucket(Bucket="restart-data")
        flow = build_group(p, s3, "restart-data", synthetic.planted_interactions(seed=2))
        _, version = train(p, flow.group_arn, "aws-user-personalization")
        campaign = deploy(p, version)
        before = server.client("personalize-runtime").get_recommendations(
            campaignArn=campaign, userId="u3"
        )["itemList"]
        acknowledged = p.create_dataset_group(name="created-just-before-the-crash")
        s3.put_object(Bucket="restart-data", Key="kept.csv", Body=b"USER_ID\nu1\n")
    finally:
        server.stop(kill=True)  # kill -9: no clean shutdown

    db = data_dir / "tailor.db"
    # Simulate two jobs a crash cut off mid-run: one to resume, one out of attempts.
    now = time.time()
    with sqlite3.connect(db) as conn:
        for name, attempts in (("resumed", 1), ("given-up", 3)):
            arn = f"arn:aws:personalize:us-east-1:123456789012:dataset-group/{name}"
            conn.execute(
                "INSERT INTO resources (arn, kind, name, status, created, updated) "
                "VALUES (?, 'dataset-group', ?, 'CREATE IN_PROGRESS', ?, ?)",
                (arn, name, now, now),
            )
            conn.execute(
                "INSERT INTO jobs (arn, action, state, attempts, enqueued) "
                "VALUES (?, 'create', 'running', ?, ?)",
                (arn, attempts, now),
            )

    server = start_tailor(data_dir)
    try:
        p = server.client("personalize")
        kept = server.client("s3").get_object(Bucket="restart-data", Key="kept.csv")
        assert kept["Body"].read() == b"USER_ID\nu1\n"  # the local S3 lives in the data dir
        groups = {g["name"]: g for g in p.list_dataset_groups()["datasetGroups"]}
        assert "created-just-before-the-crash" in groups
        assert (
            wait(
                lambda: p.describe_dataset_group(datasetGroupArn=acknowledged["datasetGroupArn"])[
                    "datasetGroup"
                ]
            )["status"]
            == "ACTIVE"
        )
        resumed = wait(
            lambda: p.describe_dataset_group(datasetGroupArn=groups["resumed"]["datasetGroupArn"])[
                "datasetGroup"
            ]
        )
        assert resumed["status"] == "ACTIVE"
        given_up = p.describe_dataset_group(datasetGroupArn=groups["given-up"]["datasetGroupArn"])[
            "datasetGroup"
        ]
        assert given_up["status"] == "CREATE FAILED"
        assert "interrupted" in given_up["failureReason"]
        assert (
            p.describe_solution_version(solutionVersionArn=version)["solutionVersion"]["status"]
            == "ACTIVE"
        )
        assert p.describe_campaign(campaignArn=campaign)["campaign"]["status"] == "ACTIVE"
        after = server.client("personalize-runtime").get_recommendations(
            campaignArn=campaign, userId="u3"
        )["itemList"]
        assert [i["itemId"] for i in after] == [i["itemId"] for i in before]
    finally:
        server.stop()


def test_quotas(tmp_path: Path) -> None:
    server = start_tailor(tmp_path / "data", quota_dataset_groups="2",
                          quota_solutions_per_group="1")
    try:
        p = server.client("personalize")
        groups = [p.create_dataset_group(name=unique("g"))["datasetGroupArn"] for _ in range(2)]
        with pytest.raises(p.exceptions.LimitExceededException, match="TAILOR_QUOTA"):
            p.create_dataset_group(name=unique("g"))
        wait(lambda: p.describe_dataset_group(datasetGroupArn=groups[0])["datasetGroup"])
        recipe = "arn:aws:personalize:::recipe/aws-sims"
        p.create_solution(name=unique("s"), datasetGroupArn=groups[0], recipeArn=recipe)
        with pytest.raises(p.exceptions.LimitExceededException, match="solutions"):
            p.create_solution(name=unique("s"), datasetGroupArn=groups[0], recipeArn=recipe)
    finally:
        server.stop()


def test_serve_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    import signal

    server = start_tailor(tmp_path / "data")
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(timeout=20) == 0
    assert "Tailor stopped." in server.log.read_text()
