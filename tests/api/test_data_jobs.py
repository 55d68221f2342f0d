"""Dataset export jobs, data deletion jobs and UpdateDataset through boto3."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import pytest

from tests import synthetic
from tests.conftest import ROLE, Tailor, Workflow, build_group, deploy, train, unique, wait


@pytest.fixture(scope="module")
def flow(personalize: Any, s3: Any, bucket: str, tailor: Tailor) -> Workflow:
    """A group with bulk interactions of 60 users and 3 live events of user 'live'."""
    data = synthetic.planted_interactions(n_users=60, n_items=120, per_user=40, seed=21)
    flow = build_group(personalize, s3, bucket, data)
    tracker = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=flow.group_arn)
    wait(lambda: personalize.describe_event_tracker(
        eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])
    tailor.client("personalize-events").put_events(
        trackingId=tracker["trackingId"], userId="live", sessionId="s1",
        eventList=[{"eventType": "click", "itemId": f"i{n}", "sentAt": time.time()}
                   for n in range(3)])
    return flow


def export(personalize: Any, s3: Any, bucket: str, dataset: str,
           **kw: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
    name = unique("exp")
    arn = personalize.create_dataset_export_job(
        jobName=name, datasetArn=dataset, roleArn=ROLE,
        jobOutput={"s3DataDestination": {"path": f"s3://{bucket}/exports/{name}/"}},
        **kw)["datasetExportJobArn"]
    job = wait(lambda: personalize.describe_dataset_export_job(
        datasetExportJobArn=arn)["datasetExportJob"])
    if job["status"] != "ACTIVE":
        return job, []
    rows: list[dict[str, str]] = []
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=f"exports/{name}/")["Contents"]:
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
        rows += list(csv.DictReader(io.StringIO(body)))
    return job, rows


def test_export_modes(personalize: Any, s3: Any, bucket: str, flow: Workflow) -> None:
    n_bulk = len(flow.data.users)
    job, put = export(personalize, s3, bucket, flow.dataset_arn)
    assert job["ingestionMode"] == "PUT"  # the API's default
    assert [r["ITEM_ID"] for r in put] == ["i0", "i1", "i2"]
    assert set(put[0]) == {"USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"}
    _, bulk = export(personalize, s3, bucket, flow.dataset_arn, ingestionMode="BULK")
    assert len(bulk) == n_bulk and "live" not in {r["USER_ID"] for r in bulk}
    _, everything = export(personalize, s3, bucket, flow.dataset_arn, ingestionMode="ALL")
    assert len(everything) == n_bulk + 3
    listed = personalize.list_dataset_export_jobs(datasetArn=flow.dataset_arn)
    assert len(listed["datasetExportJobs"]) == 3


def test_export_without_data_fails_with_reason(personalize: Any, s3: Any, bucket: str) -> None:
    data = synthetic.planted_interactions(n_users=60, n_items=120, per_user=40, seed=22)
    other = build_group(personalize, s3, bucket, data)
    job, _ = export(personalize, s3, bucket, other.dataset_arn, ingestionMode="PUT")
    assert job["status"] == "CREATE FAILED" and "no PUT data" in job["failureReason"]


def test_export_errors(personalize: Any, flow: Workflow) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset_export_job(
            jobName=unique("exp"), datasetArn=flow.dataset_arn, roleArn=ROLE,
            ingestionMode="SOME", jobOutput={"s3DataDestination": {"path": "s3://b/x/"}})
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.create_dataset_export_job(
            jobName=unique("exp"), datasetArn=flow.dataset_arn.replace("INTER", "ITEMS-"),
            roleArn=ROLE, jobOutput={"s3DataDestination": {"path": "s3://b/x/"}})


def _delete(personalize: Any, s3: Any, bucket: str, group: str, body: str) -> dict[str, Any]:
    key = f"{unique('del')}.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    arn = personalize.create_data_deletion_job(
        jobName=unique("del"), datasetGroupArn=group, roleArn=ROLE,
        dataSource={"dataLocation": f"s3://{bucket}/{key}"})["dataDeletionJobArn"]
    return wait(lambda: personalize.describe_data_deletion_job(
        dataDeletionJobArn=arn)["dataDeletionJob"], done={"COMPLETED", "FAILED"})


def test_data_deletion(personalize: Any, s3: Any, bucket: str, flow: Workflow) -> None:
    doomed = {"u1", "u2"}
    expected = sum(u in doomed for u in flow.data.users) + 3
    job = _delete(personalize, s3, bucket, flow.group_arn, "USER_ID\nu1\nu2\nlive\n")
    assert job["status"] == "COMPLETED" and job["numDeleted"] == expected
    _, rows = export(personalize, s3, bucket, flow.dataset_arn, ingestionMode="ALL")
    assert not {r["USER_ID"] for r in rows} & (doomed | {"live"})
    assert len(rows) == len(flow.data.users) + 3 - expected
    listed = personalize.list_data_deletion_jobs(datasetGroupArn=flow.group_arn)
    assert listed["dataDeletionJobs"][0]["status"] == "COMPLETED"
    bad = _delete(personalize, s3, bucket, flow.group_arn, "ID\nu3\n")
    assert bad["status"] == "FAILED" and "USER_ID" in bad["failureReason"]


def test_update_dataset(personalize: Any, flow: Workflow) -> None:
    schema = json.loads(synthetic.INTERACTIONS_SCHEMA)
    schema["fields"].append({"name": "EVENT_VALUE", "type": ["null", "float"]})
    wider = personalize.create_schema(name=unique("s"), schema=json.dumps(schema))["schemaArn"]
    personalize.update_dataset(datasetArn=flow.dataset_arn, schemaArn=wider)
    update = wait(lambda: personalize.describe_dataset(
        datasetArn=flow.dataset_arn)["dataset"]["latestDatasetUpdate"])
    assert update["status"] == "ACTIVE" and update["schemaArn"] == wider
    assert personalize.describe_dataset(datasetArn=flow.dataset_arn)["dataset"]["schemaArn"] \
        == wider
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "EVENT_TYPE"]
    narrower = personalize.create_schema(name=unique("s"), schema=json.dumps(schema))
    with pytest.raises(personalize.exceptions.InvalidInputException, match="EVENT_TYPE"):
        personalize.update_dataset(datasetArn=flow.dataset_arn,
                                   schemaArn=narrower["schemaArn"])


def test_data_deletion_reaches_filters_at_once(personalize: Any, runtime: Any, s3: Any,
                                               bucket: str, tailor: Tailor) -> None:
    """A filter on the user's interactions stops seeing a deleted user's streamed events,
    even when they are not the newest rows of the dataset."""
    data = synthetic.planted_interactions(n_users=60, n_items=120, per_user=40, seed=22)
    work = build_group(personalize, s3, bucket, data)
    tracker = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=work.group_arn)
    wait(lambda: personalize.describe_event_tracker(
        eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])
    events = tailor.client("personalize-events")
    clicked = ["i0", "i1", "i2"]
    for user, items in (("gone", clicked), ("stay", ["i5"])):  # "stay" has the newest row
        events.put_events(trackingId=tracker["trackingId"], userId=user, sessionId=user,
                          eventList=[{"eventType": "click", "itemId": i, "sentAt": time.time()}
                                     for i in items])
    _, version = train(personalize, work.group_arn, "aws-user-personalization")
    campaign = deploy(personalize, version)
    arn = personalize.create_filter(
        name=unique("f"), datasetGroupArn=work.group_arn,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")')["filterArn"]
    wait(lambda: personalize.describe_filter(filterArn=arn)["filter"])

    def listed() -> set[str]:
        return {i["itemId"] for i in runtime.get_recommendations(
            campaignArn=campaign, userId="gone", numResults=500, filterArn=arn)["itemList"]}
    assert not listed() & set(clicked)
    job = _delete(personalize, s3, bucket, work.group_arn, "USER_ID\ngone\n")
    assert job["status"] == "COMPLETED"
    assert set(clicked) <= listed()


def test_data_deletion_removes_users_from_segments_of_older_models(
        personalize: Any, s3: Any, bucket: str) -> None:
    """Spec A.15: existing models keep deleted users until retrained, but segment jobs
    stop returning them."""
    from tests.api.test_batch import out_url, put_input, read_out, segments

    data = synthetic.planted_interactions(n_users=100, n_items=60, per_user=30, seed=23)
    work = build_group(personalize, s3, bucket, data)
    _, version = train(personalize, work.group_arn, "aws-item-affinity")

    def segment() -> list[str]:
        output = out_url(bucket)
        job = segments(personalize, version, put_input(s3, bucket, [{"itemId": "i3"}]),
                       output, numResults=10)
        assert job["status"] == "ACTIVE", job
        return read_out(s3, output + "in.json.out")[0]["output"]["usersList"]
    before = segment()
    doomed = before[:2]
    job = _delete(personalize, s3, bucket, work.group_arn, "USER_ID\n" + "\n".join(doomed))
    assert job["status"] == "COMPLETED"
    after = segment()
    assert len(after) == 10 and not set(after) & set(doomed)
    assert after[:8] == before[2:]  # the others keep their order
