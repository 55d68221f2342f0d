"""Event trackers and the personalize-events API: validated, durable, used in training."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests import synthetic
from tests.conftest import (
    Tailor,
    create_dataset,
    create_interactions_dataset,
    schema_json,
    start_tailor,
    unique,
    wait,
)

ITEMS_SCHEMA = json.dumps({
    "type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "ITEM_ID", "type": "string"},
               {"name": "GENRE", "type": ["null", "string"], "categorical": True},
               {"name": "PRICE", "type": ["null", "float"]}], "version": "1.0"})


def tracker_for(personalize: Any, group: str) -> str:
    arn = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group)
    wait(lambda: personalize.describe_event_tracker(
        eventTrackerArn=arn["eventTrackerArn"])["eventTracker"])
    return arn["trackingId"]


def event(item: str, at: float, **kw: Any) -> dict[str, Any]:
    return {"eventType": "click", "itemId": item, "sentAt": at, **kw}


@pytest.fixture(scope="module")
def tracked(personalize: Any) -> tuple[str, str, str]:
    group, dataset = create_interactions_dataset(personalize)
    return group, dataset, tracker_for(personalize, group)


def test_event_tracker_lifecycle(personalize: Any, tracked: tuple[str, str, str]) -> None:
    group, _, tracking_id = tracked
    trackers = personalize.list_event_trackers(datasetGroupArn=group)["eventTrackers"]
    assert len(trackers) == 1 and trackers[0]["status"] == "ACTIVE"
    described = personalize.describe_event_tracker(
        eventTrackerArn=trackers[0]["eventTrackerArn"])["eventTracker"]
    assert described["trackingId"] == tracking_id
    assert described["accountId"] == "123456789012"
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group)
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="still has"):
        personalize.delete_dataset_group(datasetGroupArn=group)


def test_put_events_validation(tailor: Tailor, tracked: tuple[str, str, str]) -> None:
    events = tailor.client("personalize-events")
    _, _, tracking_id = tracked
    now = time.time()
    events.put_events(trackingId=tracking_id, userId="u1", sessionId="s1",
                      eventList=[event(f"i{n}", now + n) for n in range(10)])
    with pytest.raises(ClientError) as err:
        events.put_events(trackingId=tracking_id, userId="u1", sessionId="s1",
                          eventList=[event("i1", now)] * 11)
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    with pytest.raises(events.exceptions.ResourceNotFoundException) as err:
        events.put_events(trackingId="no-such-tracker", sessionId="s1",
                          eventList=[event("i1", now)])
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(events.exceptions.InvalidInputException, match="DEVICE|not a field"):
        events.put_events(trackingId=tracking_id, sessionId="s1",
                          eventList=[event("i1", now, properties='{"device": "phone"}')])
    with pytest.raises(events.exceptions.InvalidInputException, match="itemId"):
        events.put_events(trackingId=tracking_id, sessionId="s1",
                          eventList=[{"eventType": "click", "sentAt": now}])


def test_put_items(personalize: Any, tailor: Tailor, tracked: tuple[str, str, str]) -> None:
    events = tailor.client("personalize-events")
    group, interactions, _ = tracked
    schema = personalize.create_schema(name=unique("s"), schema=ITEMS_SCHEMA)["schemaArn"]
    items = personalize.create_dataset(name=unique("d"), datasetGroupArn=group,
                                       datasetType="Items", schemaArn=schema)["datasetArn"]
    wait(lambda: personalize.describe_dataset(datasetArn=items)["dataset"])
    events.put_items(datasetArn=items, items=[
        {"itemId": "i1", "properties": json.dumps({"genre": "Drama|Crime", "price": 3.5})},
        {"itemId": "i2"}])
    with pytest.raises(events.exceptions.InvalidInputException, match="COLOR|not a field"):
        events.put_items(datasetArn=items, items=[{"itemId": "i3",
                                                   "properties": '{"color": "red"}'}])
    with pytest.raises(events.exceptions.InvalidInputException, match="a number"):
        events.put_items(datasetArn=items, items=[{"itemId": "i3",
                                                   "properties": '{"price": "cheap"}'}])
    with pytest.raises(events.exceptions.InvalidInputException, match="Interactions dataset"):
        events.put_items(datasetArn=interactions, items=[{"itemId": "i3"}])
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.put_users(datasetArn=items.replace("/ITEMS", "/USERS"),
                         users=[{"userId": "u1"}])


def test_acknowledged_events_survive_kill_and_train(tmp_path: Path) -> None:
    """Bulk data from 10 users is too little to train; the PUT events make it enough —
    and they were acknowledged just before a kill -9."""
    data_dir = tmp_path / "data"
    server = start_tailor(data_dir)
    try:
        p, s3 = server.client("personalize"), server.client("s3")
        group, dataset = create_interactions_dataset(p)
        s3.create_bucket(Bucket="events-data")
        bulk = synthetic.planted_interactions(n_users=10, n_items=800, per_user=200, seed=5)
        s3.put_object(Bucket="events-data", Key="bulk.csv", Body=bulk.to_csv().encode())
        job = p.create_dataset_import_job(jobName=unique("imp"), datasetArn=dataset,
                                          dataSource={"dataLocation": "s3://events-data/bulk.csv"})
        assert wait(lambda: p.describe_dataset_import_job(
            datasetImportJobArn=job["datasetImportJobArn"])["datasetImportJob"])["status"] == \
            "ACTIVE"
        tracking_id = tracker_for(p, group)
        events = server.client("personalize-events")
        now = time.time()
        for user in range(30):
            events.put_events(trackingId=tracking_id, userId=f"live{user}", sessionId=f"s{user}",
                              eventList=[event("i1", now), event("i2", now + 1)])
    finally:
        server.stop(kill=True)
    server = start_tailor(data_dir)
    try:
        p = server.client("personalize")
        solution = p.create_solution(
            name=unique("sol"), datasetGroupArn=group,
            recipeArn="arn:aws:personalize:::recipe/aws-popularity-count")["solutionArn"]
        wait(lambda: p.describe_solution(solutionArn=solution)["solution"])
        version = p.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        res = wait(lambda: p.describe_solution_version(
            solutionVersionArn=version)["solutionVersion"])
        assert res["status"] == "ACTIVE", res.get("failureReason")
    finally:
        server.stop()


def test_put_events__item_in_properties(personalize: Any, tailor: Tailor, s3: Any,
                                        bucket: str) -> None:
    """The older form (AWS's getting-started notebook) sends itemId and eventValue inside
    properties: recorded exactly like the top-level members, which win when both are given."""
    from tests.api.test_data_jobs import export

    group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    dataset = create_dataset(personalize, group, "Interactions", schema_json(
        "Interactions", {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"}, {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "EVENT_VALUE", "type": ["null", "float"]}))
    tracking_id = tracker_for(personalize, group)
    events = tailor.client("personalize-events")
    now = int(time.time())
    events.put_events(trackingId=tracking_id, userId="u1", sessionId="s1", eventList=[
        {"eventType": "click", "properties": json.dumps({"itemId": "270"}), "sentAt": now},
        {"eventType": "buy", "properties": json.dumps({"itemId": "271", "eventValue": 4.5}),
         "sentAt": now + 1},
        {"eventType": "click", "itemId": "272", "eventValue": 2.0, "sentAt": now + 2,
         "properties": json.dumps({"itemId": "999", "eventValue": 9})},
        {"eventType": "click", "itemId": "273", "sentAt": now + 3}])
    with pytest.raises(events.exceptions.InvalidInputException, match="properties.itemId"):
        events.put_events(trackingId=tracking_id, userId="u1", sessionId="s1", eventList=[
            {"eventType": "click", "properties": '{"itemId": ""}', "sentAt": now}])
    _, rows = export(personalize, s3, bucket, dataset, ingestionMode="PUT")
    assert [(r["USER_ID"], r["ITEM_ID"], r["EVENT_TYPE"], r["EVENT_VALUE"]) for r in rows] == [
        ("u1", "270", "click", ""), ("u1", "271", "buy", "4.5"), ("u1", "272", "click", "2.0"),
        ("u1", "273", "click", "")]
