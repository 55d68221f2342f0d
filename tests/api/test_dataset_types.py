"""The five dataset types and domain dataset groups, with their schema rules."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import Tailor, unique, wait


def schema(name: str, *fields: dict[str, Any]) -> str:
    return json.dumps({"type": "record", "name": name,
                       "namespace": "com.amazonaws.personalize.schema",
                       "fields": list(fields), "version": "1.0"})


def f(name: str, kind: Any = "string", **kw: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, **kw}


SCHEMAS = {
    "Interactions": schema("Interactions", f("USER_ID"), f("ITEM_ID"), f("TIMESTAMP", "long"),
                           f("EVENT_TYPE"), f("EVENT_VALUE", ["null", "float"]),
                           f("DEVICE", ["null", "string"], categorical=True)),
    "Items": schema("Items", f("ITEM_ID"), f("GENRES", ["null", "string"], categorical=True),
                    f("DESCRIPTION", ["null", "string"], textual=True),
                    f("CREATION_TIMESTAMP", "long")),
    "Users": schema("Users", f("USER_ID"), f("AGE", ["null", "int"])),
    "Actions": schema("Actions", f("ACTION_ID"), f("VALUE", ["null", "float"]),
                      f("CHANNEL", ["null", "string"], categorical=True)),
    "Action_Interactions": schema("Action_Interactions", f("USER_ID"), f("ACTION_ID"),
                                  f("TIMESTAMP", "long"), f("EVENT_TYPE")),
}


@pytest.fixture(scope="module")
def group(personalize: Any) -> dict[str, str]:
    arn = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"])
    datasets = {"group": arn}
    for kind, text in SCHEMAS.items():
        s = personalize.create_schema(name=unique("s"), schema=text)["schemaArn"]
        d = personalize.create_dataset(name=unique("d"), datasetGroupArn=arn, datasetType=kind,
                                       schemaArn=s)["datasetArn"]
        wait(lambda d=d: personalize.describe_dataset(datasetArn=d)["dataset"])
        datasets[kind] = d
    return datasets


def test_all_five_types(personalize: Any, group: dict[str, str]) -> None:
    listed = personalize.list_datasets(datasetGroupArn=group["group"])["datasets"]
    assert {d["datasetType"] for d in listed} == set(SCHEMAS)
    assert group["Action_Interactions"].endswith("/ACTION_INTERACTIONS")
    described = personalize.describe_dataset(datasetArn=group["Action_Interactions"])["dataset"]
    assert described["trackingId"]  # the automatic action-interactions tracker


def test_action_records(personalize: Any, tailor: Tailor, group: dict[str, str]) -> None:
    events = tailor.client("personalize-events")
    events.put_actions(datasetArn=group["Actions"], actions=[
        {"actionId": "a1", "properties": json.dumps({"value": 9.5, "channel": "email|sms"})}])
    tracking = personalize.describe_dataset(
        datasetArn=group["Action_Interactions"])["dataset"]["trackingId"]
    events.put_action_interactions(trackingId=tracking, actionInteractions=[
        {"actionId": "a1", "userId": "u1", "sessionId": "s1", "timestamp": time.time(),
         "eventType": "TAKEN"}])
    events.put_users(datasetArn=group["Users"], users=[{"userId": "u1",
                                                        "properties": '{"age": 31}'}])
    with pytest.raises(events.exceptions.InvalidInputException, match="integer"):
        events.put_users(datasetArn=group["Users"], users=[{"userId": "u2",
                                                            "properties": '{"age": 3.5}'}])


@pytest.mark.parametrize("kind, text, rule", [
    ("Items", schema("Items", f("ITEM_ID"), f("PRICE", "float", textual=True)), "string"),
    ("Interactions", schema("Interactions", f("USER_ID"), f("ITEM_ID"), f("TIMESTAMP", "long"),
                            f("EVENT_TYPE", categorical=True)), "EVENT_TYPE"),
    ("Users", schema("Users", f("USER_ID"), f("BIO", textual=True)), "Items"),
    ("Items", schema("Items", f("ITEM_ID"), f("GENRE_1"), f("GENRE1")), "clash"),
    ("Interactions", schema("Interactions", f("USER_ID"), f("ITEM_ID"), f("TIMESTAMP", "int")),
     "TIMESTAMP"),
])
def test_schema_rules_per_type(personalize: Any, kind: str, text: str, rule: str) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException, match=rule):
        personalize.create_schema(name=unique("s"), schema=text)


def test_domain_groups(personalize: Any) -> None:
    group = personalize.create_dataset_group(name=unique("g"), domain="VIDEO_ON_DEMAND")
    assert group["domain"] == "VIDEO_ON_DEMAND"
    arn = group["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"])
    no_event_type = schema("Interactions", f("USER_ID"), f("ITEM_ID"), f("TIMESTAMP", "long"))
    with pytest.raises(personalize.exceptions.InvalidInputException, match="EVENT_TYPE"):
        personalize.create_schema(name=unique("s"), schema=no_event_type,
                                  domain="VIDEO_ON_DEMAND")
    custom = personalize.create_schema(name=unique("s"), schema=SCHEMAS["Interactions"])
    with pytest.raises(personalize.exceptions.InvalidInputException, match="domain"):
        personalize.create_dataset(name=unique("d"), datasetGroupArn=arn,
                                   datasetType="Interactions", schemaArn=custom["schemaArn"])
    vod = personalize.create_schema(name=unique("s"), schema=SCHEMAS["Interactions"],
                                    domain="VIDEO_ON_DEMAND")
    assert personalize.describe_schema(schemaArn=vod["schemaArn"])["schema"]["domain"] == \
        "VIDEO_ON_DEMAND"
    dataset = personalize.create_dataset(name=unique("d"), datasetGroupArn=arn,
                                         datasetType="Interactions",
                                         schemaArn=vod["schemaArn"])["datasetArn"]
    assert wait(lambda: personalize.describe_dataset(datasetArn=dataset)["dataset"])[
        "status"] == "ACTIVE"
    items = schema("Items", f("ITEM_ID"), f("GENRES", categorical=True))
    with pytest.raises(personalize.exceptions.InvalidInputException, match="CREATION_TIMESTAMP"):
        personalize.create_schema(name=unique("s"), schema=items, domain="VIDEO_ON_DEMAND")


def test_one_member_union_is_that_type(personalize: Any, tailor: Tailor) -> None:
    """["string"] (the Promotions sample's Items schema) is "string": accepted, not
    nullable."""
    text = schema("Items", f("ITEM_ID", ["string"]), f("PRICE", ["float"]),
                  f("GENRES", ["string"], categorical=True))
    arn = personalize.create_schema(name=unique("s"), schema=text)["schemaArn"]
    group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    items = personalize.create_dataset(name=unique("d"), datasetGroupArn=group,
                                       datasetType="Items", schemaArn=arn)["datasetArn"]
    wait(lambda: personalize.describe_dataset(datasetArn=items)["dataset"])
    events = tailor.client("personalize-events")
    events.put_items(datasetArn=items, items=[
        {"itemId": "i1", "properties": json.dumps({"price": 2.5, "genres": "Comedy"})}])
    with pytest.raises(events.exceptions.InvalidInputException, match="GENRES"):
        events.put_items(datasetArn=items, items=[
            {"itemId": "i2", "properties": json.dumps({"price": 2.5})}])
    with pytest.raises(events.exceptions.InvalidInputException, match="a number"):
        events.put_items(datasetArn=items, items=[
            {"itemId": "i2", "properties": json.dumps({"price": "x", "genres": "Drama"})}])
    with pytest.raises(personalize.exceptions.InvalidInputException, match="union"):
        personalize.create_schema(name=unique("s"), schema=schema(
            "Items", f("ITEM_ID"), f("PRICE", ["float", "int"])))
