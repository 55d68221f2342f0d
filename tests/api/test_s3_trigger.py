"""S3-triggered imports: the Lambda S3 handler, and the watcher under ``tailor serve``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.jobs.s3_trigger import job_name
from tests import synthetic
from tests.conftest import call_app, drain_app, start_tailor, unique, wait


def s3_event(client: Client, bucket: str, key: str) -> dict[str, int]:
    event = client.events.generate_s3_event(bucket=bucket, key=key)
    return client.lambda_.invoke("import_from_s3", event).payload


def csv_body(seed: int) -> bytes:
    return synthetic.planted_interactions(seed=seed).to_csv().encode()


def test_job_name__valid_for_any_key() -> None:
    key = "incoming/items/" + "x" * 200 + "/día 1 (copy).CSV"
    name = job_name("b", key, "etag")
    assert len(name) == 63 and name.startswith("s3-xxx")  # the tail of the key is kept
    assert name[:-9].endswith("x-d-a-1-copy")
    assert name != job_name("b", key, "etag2")  # the same key uploaded again
    assert job_name("b", "in/2026-01-02.csv", "e").startswith("s3-in-2026-01-02-")
    assert job_name("b", "+++.csv", "e").startswith("s3-")


def test_s3_handler_imports_mapped_csvs(
    app_client: Client, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = call_app(app_client, "CreateDatasetGroup", name=unique("g"))["datasetGroupArn"]
    drain_app(app_client)
    schema = call_app(
        app_client, "CreateSchema", name=unique("s"), schema=synthetic.INTERACTIONS_SCHEMA
    )["schemaArn"]
    dataset = call_app(
        app_client,
        "CreateDataset",
        name=unique("d"),
        datasetGroupArn=group,
        datasetType="Interactions",
        schemaArn=schema,
    )["datasetArn"]
    drain_app(app_client)
    prefix = f"{unique('incoming')}/interactions/"
    monkeypatch.setenv(
        "TAILOR_S3_IMPORTS",
        json.dumps([{"bucket": bucket, "prefix": prefix, "datasetArn": dataset}]),
    )
    first, second = f"{prefix}day1.csv", f"{prefix}day2.csv"
    s3.put_object(Bucket=bucket, Key=first, Body=csv_body(1))
    s3.put_object(Bucket=bucket, Key=second, Body=csv_body(2))
    s3.put_object(Bucket=bucket, Key=f"{prefix}notes.txt", Body=b"not data")
    unmapped = f"{unique('elsewhere')}/day1.csv"
    s3.put_object(Bucket=bucket, Key=unmapped, Body=csv_body(3))

    assert s3_event(app_client, bucket, first) == {"recorded": 1, "submitted": 1}
    # An import on the dataset is still pending: the second file waits for it.
    assert s3_event(app_client, bucket, second) == {"recorded": 1, "waiting": 1}
    assert s3_event(app_client, bucket, f"{prefix}notes.txt") == {"ignored": 1, "waiting": 1}
    assert s3_event(app_client, bucket, unmapped) == {"ignored": 1, "waiting": 1}
    assert s3_event(app_client, bucket, first) == {"known": 1, "waiting": 1}  # a duplicate
    # The scheduled handler runs the first import, then submits and runs the second.
    assert drain_app(app_client) == 2

    jobs = call_app(app_client, "ListDatasetImportJobs")["datasetImportJobs"]
    assert len(jobs) == 2  # nothing for the .txt file or the unmapped prefix
    described = {}
    for job in jobs:
        res = call_app(
            app_client, "DescribeDatasetImportJob", datasetImportJobArn=job["datasetImportJobArn"]
        )["datasetImportJob"]
        described[res["dataSource"]["dataLocation"]] = res
    assert set(described) == {f"s3://{bucket}/{first}", f"s3://{bucket}/{second}"}
    one, two = described[f"s3://{bucket}/{first}"], described[f"s3://{bucket}/{second}"]
    assert (one["status"], one["importMode"]) == ("ACTIVE", "FULL")
    assert (two["status"], two["importMode"]) == ("ACTIVE", "INCREMENTAL")
    assert one["datasetArn"] == dataset
    assert one["jobName"].startswith(f"s3-{prefix.replace('/', '-')}day1-")


def test_s3_handler__errors_are_logged_not_raised(
    app_client: Client, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = "arn:aws:personalize:us-east-1:123456789012:dataset/nope/INTERACTIONS"
    monkeypatch.setenv(
        "TAILOR_S3_IMPORTS",
        json.dumps([{"bucket": bucket, "prefix": "gone/", "datasetArn": missing}]),
    )
    assert s3_event(app_client, bucket, "gone/a.csv") == {"recorded": 1, "failed": 1}
    assert drain_app(app_client) == 0
    monkeypatch.setenv("TAILOR_S3_IMPORTS", "{not json")
    assert s3_event(app_client, bucket, "gone/a.csv") == {"error": 1}


def test_sample_event__unmapped_bucket_is_ignored(
    app_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = json.loads((Path(__file__).resolve().parents[2] / "events/s3_put.json").read_text())
    monkeypatch.delenv("TAILOR_S3_IMPORTS", raising=False)
    assert app_client.lambda_.invoke("import_from_s3", event).payload == {"ignored": 1}


def _import_jobs(personalize: Any, dataset: str) -> list[dict[str, Any]]:
    jobs = personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"]
    return [
        personalize.describe_dataset_import_job(datasetImportJobArn=j["datasetImportJobArn"])[
            "datasetImportJob"
        ]
        for j in jobs
    ]


def _wait_for_imports(
    personalize: Any, dataset: str, count: int, timeout: float = 15.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = _import_jobs(personalize, dataset)
        if len(jobs) >= count and all(j["status"] == "ACTIVE" for j in jobs):
            return jobs
        assert time.monotonic() < deadline, f"no {count} ACTIVE S3 imports: {jobs}"
        time.sleep(0.1)


def test_serve_watches_mapped_prefixes(tmp_path: Path) -> None:
    group = unique("g")
    dataset = f"arn:aws:personalize:us-east-1:123456789012:dataset/{group}/INTERACTIONS"
    imports = json.dumps(
        [{"bucket": "tailor-incoming", "prefix": "incoming/interactions/", "datasetArn": dataset}]
    )
    data_dir = tmp_path / "data"
    server = start_tailor(data_dir, s3_imports=imports, s3_poll_seconds="0.2")
    try:
        p, s3 = server.client("personalize"), server.client("s3")
        group_arn = p.create_dataset_group(name=group)["datasetGroupArn"]
        schema = p.create_schema(name=unique("s"), schema=synthetic.INTERACTIONS_SCHEMA)[
            "schemaArn"
        ]
        wait(lambda: p.describe_dataset_group(datasetGroupArn=group_arn)["datasetGroup"])
        assert (
            p.create_dataset(
                name=unique("d"),
                datasetGroupArn=group_arn,
                datasetType="Interactions",
                schemaArn=schema,
            )["datasetArn"]
            == dataset
        )
        wait(lambda: p.describe_dataset(datasetArn=dataset)["dataset"])
        # The watcher created the mapped bucket: `aws s3 cp x.csv s3://tailor-incoming/...`.
        s3.put_object(
            Bucket="tailor-incoming", Key="incoming/interactions/day 1.csv", Body=csv_body(4)
        )
        s3.put_object(
            Bucket="tailor-incoming", Key="incoming/interactions/notes.txt", Body=b"not data"
        )
        [job] = _wait_for_imports(p, dataset, 1)
        assert job["importMode"] == "FULL"
        assert job["jobName"].startswith("s3-incoming-interactions-day-1-")
    finally:
        server.stop()

    # After a restart the local S3 is replayed from its journal: the file is not imported
    # again, and a new one is imported incrementally (files are handled in order, so the
    # second import proves the first file was seen and skipped).
    server = start_tailor(data_dir, s3_imports=imports, s3_poll_seconds="0.2")
    try:
        p, s3 = server.client("personalize"), server.client("s3")
        s3.put_object(
            Bucket="tailor-incoming", Key="incoming/interactions/day2.csv", Body=csv_body(5)
        )
        jobs = _wait_for_imports(p, dataset, 2)
        assert len(jobs) == 2
        assert sorted(j["importMode"] for j in jobs) == ["FULL", "INCREMENTAL"]
    finally:
        server.stop()
