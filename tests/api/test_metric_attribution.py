"""Metric attributions through boto3: lifecycle, validation, and the reports published to
S3 from events (PutEvents and bulk imports) by the scheduled handler / worker clock."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests import synthetic
from tests.api.inprocess import App
from tests.conftest import ROLE, start_tailor, unique, wait

T0 = 1_700_000_100          # events' sentAt; its 15-minute bucket starts at BUCKET
BUCKET = T0 // 900 * 900
UNDEFINED = "SOURCE_NAME_UNDEFINED"


def _schema(name: str, fields: list[dict[str, Any]]) -> str:
    return json.dumps({"type": "record", "name": name,
                       "namespace": "com.amazonaws.personalize.schema",
                       "fields": fields, "version": "1.0"})


INTERACTIONS = _schema("Interactions", [
    {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
    {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"},
    {"name": "EVENT_VALUE", "type": ["null", "float"]}])
INTERACTIONS_WITH_SOURCES = _schema("Interactions", [
    {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
    {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"},
    {"name": "EVENT_VALUE", "type": ["null", "float"]},
    {"name": "RECOMMENDATION_ID", "type": ["null", "string"]},
    {"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]}])
NO_EVENT_TYPE = _schema("Interactions", [
    {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
    {"name": "TIMESTAMP", "type": "long"}])
ITEMS = _schema("Items", [
    {"name": "ITEM_ID", "type": "string"}, {"name": "PRICE", "type": ["null", "float"]},
    {"name": "GENRE", "type": ["null", "string"], "categorical": True}])


def metric(name: str, event_type: str = "click", expression: str = "SAMPLECOUNT()",
           ) -> dict[str, str]:
    return {"eventType": event_type, "metricName": name, "expression": expression}


def output(path: str | None) -> dict[str, Any]:
    return {"roleArn": ROLE, **({"s3DataDestination": {"path": path}} if path else {})}


def build(app: App, s3: Any, bucket: str, interactions: str = INTERACTIONS,
          campaign: bool = True) -> dict[str, str]:
    """Group, Interactions + Items datasets, planted interactions, tracker, and (if asked)
    a popularity campaign: every resource ACTIVE."""
    p = app.p
    out = {"group": p.create_dataset_group(name=unique("g"))["datasetGroupArn"]}
    app.drain()
    for kind, text in (("Interactions", interactions), ("Items", ITEMS)):
        schema = p.create_schema(name=unique("s"), schema=text)["schemaArn"]
        out[kind] = p.create_dataset(name=unique("d"), datasetGroupArn=out["group"],
                                     datasetType=kind, schemaArn=schema)["datasetArn"]
    app.drain()
    out["trackingId"] = p.create_event_tracker(name=unique("t"),
                                               datasetGroupArn=out["group"])["trackingId"]
    if campaign:
        key = f"{unique('ma')}/interactions.csv"
        s3.put_object(Bucket=bucket, Key=key,
                      Body=synthetic.planted_interactions(seed=3).to_csv().encode())
        p.create_dataset_import_job(jobName=unique("imp"), datasetArn=out["Interactions"],
                                    dataSource={"dataLocation": f"s3://{bucket}/{key}"})
        solution = p.create_solution(
            name=unique("sol"), datasetGroupArn=out["group"], performAutoTraining=False,
            recipeArn="arn:aws:personalize:::recipe/aws-popularity-count")["solutionArn"]
        app.drain()
        version = p.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        app.drain()
        out["campaign"] = p.create_campaign(name=unique("c"),
                                            solutionVersionArn=version)["campaignArn"]
    app.drain()
    app.events.put_items(datasetArn=out["Items"], items=[
        {"itemId": "i0", "properties": json.dumps({"price": 2.5})},
        {"itemId": "i1", "properties": json.dumps({"price": 10.0})}])
    return out


def reports(s3: Any, bucket: str, prefix: str) -> list[tuple[str, list[dict[str, str]]]]:
    """(key, rows) of every report under the prefix, oldest first."""
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
                  .get("Contents", []))
    return [(k, list(csv.DictReader(io.StringIO(
        s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode())))) for k in keys]


def values(rows: list[dict[str, str]]) -> dict[tuple[str, str, int], float]:
    return {(r["METRIC_NAME"], r["EVENT_ATTRIBUTION_SOURCE"], int(r["TIMESTAMP"])):
            float(r["VALUE"]) for r in rows}


# -- control plane through the shared server ----------------------------------------------

@pytest.fixture(scope="module")
def group(personalize: Any) -> dict[str, str]:
    """A group with Interactions (EVENT_VALUE) and Items (PRICE) datasets."""
    arn = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"])
    out = {"group": arn}
    for kind, text in (("Interactions", INTERACTIONS), ("Items", ITEMS)):
        schema = personalize.create_schema(name=unique("s"), schema=text)["schemaArn"]
        out[kind] = personalize.create_dataset(name=unique("d"), datasetGroupArn=arn,
                                               datasetType=kind, schemaArn=schema)["datasetArn"]
        wait(lambda k=kind: personalize.describe_dataset(datasetArn=out[k])["dataset"])
    return out


def test_metric_attribution_lifecycle(personalize: Any, group: dict[str, str]) -> None:
    name = unique("ma")
    metrics = [metric("clicks"), metric("revenue", "buy", "SUM(Items.PRICE)"),
               metric("value", "buy", "SUM(Interactions.EVENT_VALUE)")]
    arn = personalize.create_metric_attribution(
        name=name, datasetGroupArn=group["group"], metrics=metrics,
        metricsOutputConfig=output("s3://reports/ma/"))["metricAttributionArn"]
    assert arn.endswith(f":metric-attribution/{name}")
    described = wait(lambda: personalize.describe_metric_attribution(
        metricAttributionArn=arn)["metricAttribution"])
    assert described["status"] == "ACTIVE"
    assert described["name"] == name and described["datasetGroupArn"] == group["group"]
    assert described["metricsOutputConfig"] == output("s3://reports/ma/")
    assert described["lastUpdatedDateTime"] >= described["creationDateTime"]

    listed = personalize.list_metric_attributions(
        datasetGroupArn=group["group"])["metricAttributions"]
    assert [(a["name"], a["metricAttributionArn"], a["status"]) for a in listed] == \
        [(name, arn, "ACTIVE")]
    assert set(listed[0]) == {"name", "metricAttributionArn", "status", "creationDateTime",
                              "lastUpdatedDateTime"}
    assert arn in {a["metricAttributionArn"] for a in
                   personalize.list_metric_attributions()["metricAttributions"]}
    page = personalize.list_metric_attribution_metrics(metricAttributionArn=arn, maxResults=2)
    rest = personalize.list_metric_attribution_metrics(metricAttributionArn=arn, maxResults=2,
                                                       nextToken=page["nextToken"])
    assert page["metrics"] + rest["metrics"] == metrics and "nextToken" not in rest
    personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "team", "tagValue": "growth"}])
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == \
        [{"tagKey": "team", "tagValue": "growth"}]

    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException,
                       match="at most one"):
        personalize.create_metric_attribution(
            name=unique("ma"), datasetGroupArn=group["group"], metrics=[metric("m")],
            metricsOutputConfig=output(None))

    personalize.update_metric_attribution(
        metricAttributionArn=arn, removeMetrics=["clicks", "value"],
        addMetrics=[metric("views", "view"), metric("clicks", "click", "SUM(Items.PRICE)")],
        metricsOutputConfig=output("s3://reports/other"))
    assert personalize.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"] == \
        [metrics[1], metric("views", "view"), metric("clicks", "click", "SUM(Items.PRICE)")]
    updated = personalize.describe_metric_attribution(
        metricAttributionArn=arn)["metricAttribution"]
    assert updated["status"] == "ACTIVE"
    assert updated["metricsOutputConfig"]["s3DataDestination"]["path"] == "s3://reports/other"

    assert personalize.delete_metric_attribution(metricAttributionArn=arn)["ResponseMetadata"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            personalize.describe_metric_attribution(metricAttributionArn=arn)
        except personalize.exceptions.ResourceNotFoundException:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the metric attribution was not deleted")
    assert personalize.list_metric_attributions(
        datasetGroupArn=group["group"])["metricAttributions"] == []
    # The group can have a metric attribution again, under the same name.
    again = personalize.create_metric_attribution(
        name=name, datasetGroupArn=group["group"], metrics=[metric("m")],
        metricsOutputConfig=output(None))["metricAttributionArn"]
    wait(lambda: personalize.describe_metric_attribution(
        metricAttributionArn=again)["metricAttribution"])
    personalize.delete_metric_attribution(metricAttributionArn=again)


CREATE_ERRORS = [
    ("empty metrics", {"metrics": []}, "InvalidInputException", "1 to 10"),
    ("11 metrics", {"metrics": [metric(f"m{n}") for n in range(11)]},
     "InvalidInputException", "less than or equal to 10"),
    ("duplicate names", {"metrics": [metric("m"), metric("m", "buy")]},
     "InvalidInputException", "more than once"),
    ("unknown function", {"metrics": [metric("m", expression="COUNT()")]},
     "InvalidInputException", "not SAMPLECOUNT"),
    ("SUM without column", {"metrics": [metric("m", expression="SUM(PRICE)")]},
     "InvalidInputException", "not SAMPLECOUNT"),
    ("SUM over Users", {"metrics": [metric("m", expression="SUM(Users.AGE)")]},
     "InvalidInputException", "Interactions or Items"),
    ("unknown column", {"metrics": [metric("m", expression="SUM(Items.COST)")]},
     "InvalidInputException", "no column COST"),
    ("string column", {"metrics": [metric("m", expression="SUM(Items.GENRE)")]},
     "InvalidInputException", "GENRE is string"),
    ("time column", {"metrics": [metric("m", expression="SUM(Interactions.TIMESTAMP)")]},
     "InvalidInputException", "a time"),
    ("blank metric name", {"metrics": [metric(" ")]}, "InvalidInputException", "printable"),
    ("blank event type", {"metrics": [metric("m", "")]}, "InvalidInputException",
     "printable"),
    ("bad name", {"name": "-bad"}, "InvalidInputException", "pattern"),
    ("long name", {"name": "n" * 64}, "InvalidInputException", "63"),
    ("bad role", {"metricsOutputConfig": {"roleArn": "role"}}, "InvalidInputException",
     "pattern"),
    ("bad path", {"metricsOutputConfig": output("https://example.com/x")},
     "InvalidInputException", "S3 URL"),
    ("unknown group", {"datasetGroupArn":
                       "arn:aws:personalize:us-east-1:123456789012:dataset-group/nope"},
     "ResourceNotFoundException", "nope"),
]


@pytest.mark.parametrize(("case", "change", "code", "message"), CREATE_ERRORS,
                         ids=[c[0] for c in CREATE_ERRORS])
def test_create_metric_attribution__invalid(personalize: Any, group: dict[str, str],
                                            case: str, change: dict[str, Any], code: str,
                                            message: str) -> None:
    params = {"name": unique("ma"), "datasetGroupArn": group["group"],
              "metrics": [metric("m")], "metricsOutputConfig": output(None), **change}
    with pytest.raises(personalize.exceptions.ClientError, match=message) as err:
        personalize.create_metric_attribution(**params)
    assert err.value.response["Error"]["Code"] == code, case


def test_create_metric_attribution__datasets_checked(personalize: Any) -> None:
    """The group needs an Interactions dataset with EVENT_TYPE, and SUM(Items.X) an Items
    dataset; the name must be free."""
    arn = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"])
    params = {"datasetGroupArn": arn, "metrics": [metric("m")],
              "metricsOutputConfig": output(None)}
    with pytest.raises(personalize.exceptions.InvalidInputException,
                       match="no Interactions dataset"):
        personalize.create_metric_attribution(name=unique("ma"), **params)
    schema = personalize.create_schema(name=unique("s"), schema=NO_EVENT_TYPE)["schemaArn"]
    dataset = personalize.create_dataset(name=unique("d"), datasetGroupArn=arn,
                                         datasetType="Interactions",
                                         schemaArn=schema)["datasetArn"]
    wait(lambda: personalize.describe_dataset(datasetArn=dataset)["dataset"])
    with pytest.raises(personalize.exceptions.InvalidInputException, match="EVENT_TYPE"):
        personalize.create_metric_attribution(name=unique("ma"), **params)

    group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    schema = personalize.create_schema(name=unique("s"), schema=INTERACTIONS)["schemaArn"]
    dataset = personalize.create_dataset(name=unique("d"), datasetGroupArn=group,
                                         datasetType="Interactions",
                                         schemaArn=schema)["datasetArn"]
    wait(lambda: personalize.describe_dataset(datasetArn=dataset)["dataset"])
    with pytest.raises(personalize.exceptions.InvalidInputException, match="no Items dataset"):
        personalize.create_metric_attribution(
            name=unique("ma"), datasetGroupArn=group, metricsOutputConfig=output(None),
            metrics=[metric("m", expression="SUM(Items.PRICE)")])
    name = unique("ma")
    first = personalize.create_metric_attribution(
        name=name, datasetGroupArn=group, metrics=[metric("m")],
        metricsOutputConfig=output(None))["metricAttributionArn"]
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException,
                       match="already exists"):
        personalize.create_metric_attribution(name=name, **params)
    wait(lambda: personalize.describe_metric_attribution(
        metricAttributionArn=first)["metricAttribution"])
    personalize.delete_metric_attribution(metricAttributionArn=first)


def test_update_and_list_metrics__invalid(personalize: Any, group: dict[str, str]) -> None:
    group_arn = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group_arn)["datasetGroup"])
    schema = personalize.create_schema(name=unique("s"), schema=INTERACTIONS)["schemaArn"]
    dataset = personalize.create_dataset(name=unique("d"), datasetGroupArn=group_arn,
                                         datasetType="Interactions",
                                         schemaArn=schema)["datasetArn"]
    wait(lambda: personalize.describe_dataset(datasetArn=dataset)["dataset"])
    arn = personalize.create_metric_attribution(
        name=unique("ma"), datasetGroupArn=group_arn, metricsOutputConfig=output(None),
        metrics=[metric("a"), metric("b", "buy")])["metricAttributionArn"]
    wait(lambda: personalize.describe_metric_attribution(
        metricAttributionArn=arn)["metricAttribution"])
    update = personalize.update_metric_attribution
    errors = personalize.exceptions
    missing = arn.replace(arn.rsplit("/", 1)[1], "missing")
    for call, error, message in [
        (lambda: update(addMetrics=[metric("c")]), errors.InvalidInputException,
         "metricAttributionArn is required"),
        (lambda: update(metricAttributionArn=missing, addMetrics=[metric("c")]),
         errors.ResourceNotFoundException, "does not exist"),
        (lambda: update(metricAttributionArn=arn), errors.InvalidInputException,
         "Nothing to update"),
        (lambda: update(metricAttributionArn=arn, removeMetrics=["zzz"]),
         errors.InvalidInputException, "zzz"),
        (lambda: update(metricAttributionArn=arn, addMetrics=[metric("a", "view")]),
         errors.ResourceAlreadyExistsException, "already has a metric named a"),
        (lambda: update(metricAttributionArn=arn, addMetrics=[metric("c"), metric("c")]),
         errors.InvalidInputException, "more than once"),
        (lambda: update(metricAttributionArn=arn,
                        addMetrics=[metric("x", expression="SUM(Items.PRICE)")]),
         errors.InvalidInputException, "no Items dataset"),
        (lambda: update(metricAttributionArn=arn, addMetrics=[metric(f"n{k}")
                                                              for k in range(9)]),
         errors.InvalidInputException, "would have 11"),
        (lambda: update(metricAttributionArn=arn, removeMetrics=["a", "b"]),
         errors.InvalidInputException, "would have 0"),
        (lambda: update(metricAttributionArn=arn,
                        metricsOutputConfig=output("ftp://nowhere")),
         errors.InvalidInputException, "pattern"),
        (lambda: personalize.list_metric_attribution_metrics(), errors.InvalidInputException,
         "metricAttributionArn is required"),
        (lambda: personalize.list_metric_attribution_metrics(metricAttributionArn=missing),
         errors.InvalidInputException, "does not exist"),
        (lambda: personalize.list_metric_attribution_metrics(metricAttributionArn=arn,
                                                             nextToken="garbage"),
         errors.InvalidNextTokenException, "nextToken"),
        (lambda: personalize.describe_metric_attribution(metricAttributionArn=missing),
         errors.ResourceNotFoundException, "does not exist"),
        (lambda: personalize.delete_metric_attribution(metricAttributionArn=missing),
         errors.ResourceNotFoundException, "does not exist"),
    ]:
        with pytest.raises(error, match=message):
            call()
    # Removing and re-adding a name redefines the metric; the others keep their order.
    update(metricAttributionArn=arn, removeMetrics=["a"],
           addMetrics=[metric("a", "view", "SUM(Interactions.EVENT_VALUE)")])
    assert personalize.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"] == \
        [metric("b", "buy"), metric("a", "view", "SUM(Interactions.EVENT_VALUE)")]
    personalize.delete_metric_attribution(metricAttributionArn=arn)


def test_pending_group_and_attribution_are_in_use(app_client: Any) -> None:
    """Nothing runs until the scheduled handler: the group and the attribution stay
    CREATE PENDING, which create, update and delete refuse."""
    app = App(app_client)
    p = app.p
    pending = p.create_dataset_group(name="pending")["datasetGroupArn"]
    with pytest.raises(p.exceptions.ResourceInUseException, match="CREATE PENDING"):
        p.create_metric_attribution(name="ma", datasetGroupArn=pending,
                                    metrics=[metric("m")], metricsOutputConfig=output(None))
    app.drain()
    schema = p.create_schema(name="s", schema=INTERACTIONS)["schemaArn"]
    p.create_dataset(name="d", datasetGroupArn=pending, datasetType="Interactions",
                     schemaArn=schema)
    app.drain()
    arn = p.create_metric_attribution(name="ma", datasetGroupArn=pending,
                                      metrics=[metric("m")],
                                      metricsOutputConfig=output(None))["metricAttributionArn"]
    assert p.describe_metric_attribution(
        metricAttributionArn=arn)["metricAttribution"]["status"] == "CREATE PENDING"
    with pytest.raises(p.exceptions.ResourceInUseException, match="ACTIVE"):
        p.update_metric_attribution(metricAttributionArn=arn, addMetrics=[metric("n")])
    with pytest.raises(p.exceptions.ResourceInUseException, match="CREATE PENDING"):
        p.delete_metric_attribution(metricAttributionArn=arn)
    app.drain()
    assert p.describe_metric_attribution(
        metricAttributionArn=arn)["metricAttribution"]["status"] == "ACTIVE"
    p.delete_metric_attribution(metricAttributionArn=arn)
    assert p.describe_metric_attribution(
        metricAttributionArn=arn)["metricAttribution"]["status"] == "DELETE PENDING"
    with pytest.raises(p.exceptions.ResourceInUseException, match="already being deleted"):
        p.delete_metric_attribution(metricAttributionArn=arn)
    app.drain()
    assert p.describe_metric_attribution(
        metricAttributionArn=arn)["metricAttribution"]["status"] == "DELETE IN_PROGRESS"
    app.finish_deletes()
    with pytest.raises(p.exceptions.ResourceNotFoundException):
        p.describe_metric_attribution(metricAttributionArn=arn)


# -- reports ------------------------------------------------------------------------------

def test_reports_split_events_by_campaign_and_source(app_client: Any, s3: Any,
                                                     bucket: str) -> None:
    app = App(app_client)
    res = build(app, s3, bucket)
    campaign, put = res["campaign"], app.events.put_events
    # Sent before the attribution exists: never reported.
    put(trackingId=res["trackingId"], userId="u1", sessionId="s",
        eventList=[{"eventType": "click", "itemId": "i0", "sentAt": T0}])
    prefix = unique("reports")
    arn = app.p.create_metric_attribution(
        name="ma", datasetGroupArn=res["group"], metricsOutputConfig=output(
            f"s3://{bucket}/{prefix}/"),
        metrics=[metric("CLICKS"), metric("REVENUE", "buy", "SUM(Items.PRICE)"),
                 metric("VALUE", "buy", "SUM(Interactions.EVENT_VALUE)")]
    )["metricAttributionArn"]
    app.drain()
    assert reports(s3, bucket, prefix) == []  # no events yet: no file

    rid = app.runtime.get_recommendations(campaignArn=campaign,
                                          numResults=3)["recommendationId"]
    assert rid.startswith("RID-") and len(rid) == 40
    other = app.runtime.get_recommendations(campaignArn=campaign)["recommendationId"]
    assert other != rid
    email = {"eventAttributionSource": "email, weekly"}
    put(trackingId=res["trackingId"], userId="u1", sessionId="s", eventList=[
        {"eventType": "click", "itemId": "i0", "sentAt": T0, "recommendationId": rid},
        {"eventType": "click", "itemId": "i1", "sentAt": T0 + 5, "recommendationId": other},
        {"eventType": "click", "itemId": "i1", "sentAt": T0 + 900, "recommendationId": rid},
        # An explicit source wins over the recommendation's campaign.
        {"eventType": "click", "itemId": "i1", "sentAt": T0, "recommendationId": rid,
         "metricAttribution": email},
        {"eventType": "buy", "itemId": "i1", "sentAt": T0, "eventValue": 4.0,
         "recommendationId": rid},
        {"eventType": "buy", "itemId": "i0", "sentAt": T0, "eventValue": 1.5,
         "metricAttribution": email},
        {"eventType": "buy", "itemId": "unknown-item", "sentAt": T0, "eventValue": 2.0,
         "metricAttribution": email},
        {"eventType": "buy", "itemId": "i0", "sentAt": T0,
         "recommendationId": "RID-not-from-tailor"},
        {"eventType": "view", "itemId": "i0", "sentAt": T0, "recommendationId": rid}])
    app.drain()
    [(key, rows)] = reports(s3, bucket, prefix)
    assert key.startswith(f"{prefix}/AggregatedAttributionMetrics - PUT - ")
    assert key.endswith(".csv")
    assert list(rows[0]) == ["METRIC_NAME", "EVENT_TYPE", "VALUE", "MATH_FUNCTION",
                             "EVENT_ATTRIBUTION_SOURCE", "TIMESTAMP"]
    assert values(rows) == {
        ("CLICKS", campaign, BUCKET): 2.0, ("CLICKS", campaign, BUCKET + 900): 1.0,
        ("CLICKS", "email, weekly", BUCKET): 1.0,
        ("REVENUE", campaign, BUCKET): 10.0, ("REVENUE", "email, weekly", BUCKET): 2.5,
        ("REVENUE", UNDEFINED, BUCKET): 2.5,
        ("VALUE", campaign, BUCKET): 4.0, ("VALUE", "email, weekly", BUCKET): 3.5,
        ("VALUE", UNDEFINED, BUCKET): 0.0,
    }
    assert {(r["METRIC_NAME"], r["EVENT_TYPE"], r["MATH_FUNCTION"]) for r in rows} == {
        ("CLICKS", "click", "samplecount"), ("REVENUE", "buy", "sum"),
        ("VALUE", "buy", "sum")}

    # Publishing is incremental and idempotent: nothing new, no new file.
    app.drain()
    assert len(reports(s3, bucket, prefix)) == 1
    # Update: drop VALUE, add a count of views; the next report uses the new metrics.
    app.p.update_metric_attribution(metricAttributionArn=arn, removeMetrics=["VALUE"],
                                    addMetrics=[metric("VIEWS", "view")])
    put(trackingId=res["trackingId"], userId="u2", sessionId="s2", eventList=[
        {"eventType": "view", "itemId": "i0", "sentAt": T0, "recommendationId": other},
        {"eventType": "buy", "itemId": "i1", "sentAt": T0, "eventValue": 9.0}])
    app.drain()
    _, (_, rows) = reports(s3, bucket, prefix)
    assert values(rows) == {("VIEWS", campaign, BUCKET): 1.0,
                            ("REVENUE", UNDEFINED, BUCKET): 10.0}
    # Deleted: no more reports.
    app.p.delete_metric_attribution(metricAttributionArn=arn)
    app.drain()
    put(trackingId=res["trackingId"], userId="u2", sessionId="s2",
        eventList=[{"eventType": "click", "itemId": "i0", "sentAt": T0}])
    app.drain()
    assert len(reports(s3, bucket, prefix)) == 2


def test_bulk_imports_report_when_asked(app_client: Any, s3: Any, bucket: str) -> None:
    """An import with publishAttributionMetricsToS3 gets its own BULK report, using the
    RECOMMENDATION_ID and EVENT_ATTRIBUTION_SOURCE columns of its rows."""
    app = App(app_client)
    res = build(app, s3, bucket, INTERACTIONS_WITH_SOURCES)
    campaign = res["campaign"]
    prefix = unique("bulk")
    app.p.create_metric_attribution(
        name="ma", datasetGroupArn=res["group"],
        metricsOutputConfig=output(f"s3://{bucket}/{prefix}"),
        metrics=[metric("BUYS", "buy"), metric("REVENUE", "buy", "SUM(Items.PRICE)")])
    app.drain()
    rid = app.runtime.get_recommendations(campaignArn=campaign)["recommendationId"]
    lines = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,RECOMMENDATION_ID,EVENT_ATTRIBUTION_SOURCE"]
    lines += [f"u{n},i1,{T0 + n},buy,{rid}," for n in range(600)]
    lines += [f"u{n},i0,{T0 + n},buy,,partner" for n in range(300)]
    lines += [f"u{n},i0,{T0 + n},click,{rid}," for n in range(200)]
    key = f"{prefix}-in/interactions.csv"
    s3.put_object(Bucket=bucket, Key=key, Body="\n".join(lines).encode())
    for publish in (False, True):
        app.p.create_dataset_import_job(
            jobName=unique("imp"), datasetArn=res["Interactions"], importMode="INCREMENTAL",
            dataSource={"dataLocation": f"s3://{bucket}/{key}"},
            publishAttributionMetricsToS3=publish)
        app.drain()
    [(name, rows)] = reports(s3, bucket, prefix + "/")
    assert "AggregatedAttributionMetrics - BULK - " in name
    assert values(rows) == {("BUYS", campaign, BUCKET): 600.0,
                            ("BUYS", "partner", BUCKET): 300.0,
                            ("REVENUE", campaign, BUCKET): 6000.0,
                            ("REVENUE", "partner", BUCKET): 750.0}
    app.drain()
    assert len(reports(s3, bucket, prefix + "/")) == 1


def test_reports_wait_for_their_bucket(app_client: Any, s3: Any) -> None:
    """A report that cannot be written is kept and written once the bucket exists; events
    are counted once."""
    app = App(app_client)
    res = build(app, s3, "", campaign=False)
    missing = unique("later").lower()
    app.p.create_metric_attribution(name="ma", datasetGroupArn=res["group"],
                                    metricsOutputConfig=output(f"s3://{missing}/r/"),
                                    metrics=[metric("CLICKS")])
    app.drain()
    source = {"eventAttributionSource": "ads"}
    for n in range(3):
        app.events.put_events(trackingId=res["trackingId"], sessionId="s", eventList=[
            {"eventType": "click", "itemId": "i0", "sentAt": T0 + n,
             "metricAttribution": source}])
        app.drain()
    s3.create_bucket(Bucket=missing)
    app.drain()
    rows = [r for _, part in reports(s3, missing, "r/") for r in part]
    assert sum(float(r["VALUE"]) for r in rows) == 3.0
    assert {r["EVENT_ATTRIBUTION_SOURCE"] for r in rows} == {"ads"}


def test_a_report_written_before_a_crash_is_written_again_not_twice(
        app_client: Any, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies after writing a report and before recording it: the next run
    writes the same file (same key, same rows) again."""
    from chalicelib.jobs import attribution_reports
    from chalicelib.state.s3 import Access, acting_for

    app = App(app_client)
    res = build(app, s3, bucket, campaign=False)
    prefix = unique("crash")
    app.p.create_metric_attribution(name="ma", datasetGroupArn=res["group"],
                                    metricsOutputConfig=output(f"s3://{bucket}/{prefix}/"),
                                    metrics=[metric("CLICKS")])
    app.drain()
    app.events.put_events(trackingId=res["trackingId"], sessionId="s", eventList=[
        {"eventType": "click", "itemId": "i0", "sentAt": T0,
         "metricAttribution": {"eventAttributionSource": "ads"}}] * 3)
    with acting_for(Access("123456789012")):  # the attribution's account, as jobs act
        real = attribution_reports.caller_s3()

    class Dies:
        def put_object(self, **kw: Any) -> Any:
            real.put_object(**kw)
            raise RuntimeError("killed after the write")

    monkeypatch.setattr(attribution_reports, "caller_s3", Dies)
    app.drain()
    [(key, rows)] = reports(s3, bucket, prefix)
    monkeypatch.undo()
    app.drain()
    assert reports(s3, bucket, prefix) == [(key, rows)]
    assert values(rows) == {("CLICKS", "ads", BUCKET): 3.0}


def test_reports_survive_a_restart(app_client: Any, s3: Any, bucket: str,
                                   tmp_path: Path) -> None:
    """A report planned (its bucket did not exist yet) and events acknowledged but not yet
    planned when the process stopped are published once by the next process."""
    app = App(app_client)
    res = build(app, s3, bucket, campaign=False)
    missing = unique("restart").lower()
    app.p.create_metric_attribution(name="ma", datasetGroupArn=res["group"],
                                    metricsOutputConfig=output(f"s3://{missing}/r/"),
                                    metrics=[metric("CLICKS")])
    app.drain()
    for label, count in (("planned", 2), ("unplanned", 1)):
        app.events.put_events(trackingId=res["trackingId"], sessionId="s", eventList=[
            {"eventType": "click", "itemId": "i0", "sentAt": T0,
             "metricAttribution": {"eventAttributionSource": label}}] * count)
        if label == "planned":
            app.drain()
            assert _planned(tmp_path / "data" / "tailor.db")
    # This process stops here (it never runs again); a server starts on the same data.
    server = start_tailor(tmp_path / "data", auto_training_check_seconds="0.1")
    try:
        local = server.client("s3")
        local.create_bucket(Bucket=missing)
        deadline = time.monotonic() + 5
        while True:
            merged: dict[tuple[str, str, int], float] = {}
            for _, rows in reports(local, missing, "r/"):
                for key, value in values(rows).items():
                    merged[key] = merged.get(key, 0.0) + value
            # Both reports, in whichever order the retries publish them.
            if {("CLICKS", "planned", BUCKET), ("CLICKS", "unplanned", BUCKET)} <= set(merged):
                break
            assert time.monotonic() < deadline, merged
            time.sleep(0.05)
        assert merged == {("CLICKS", "planned", BUCKET): 2.0,
                          ("CLICKS", "unplanned", BUCKET): 1.0}
    finally:
        server.stop()


def _planned(db: Path) -> bool:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return bool(conn.execute("SELECT count(*) FROM metric_reports WHERE state = "
                                 "'planned'").fetchone()[0])
