"""Tearing a dataset group down in the order the service requires, as cleanup scripts do."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests import synthetic
from tests.api.inprocess import App
from tests.conftest import build_group, deploy, train, unique, wait

ROLE = "arn:aws:iam::123456789012:role/personalize"


def gone(describe: Any) -> bool:
    try:
        describe()
    except ClientError as err:
        return err.response["Error"]["Code"] == "ResourceNotFoundException"
    return False


def wait_gone(describe: Any) -> None:
    wait(lambda: {"status": "GONE" if gone(describe) else "PRESENT"}, done={"GONE"})


def test_full_teardown(personalize: Any, s3: Any, bucket: str) -> None:
    data = synthetic.planted_interactions(n_users=80, n_items=120, per_user=30, seed=31)
    flow = build_group(personalize, s3, bucket, data)
    solution, version = train(personalize, flow.group_arn, "aws-sims")
    campaign = deploy(personalize, version)
    tracker = personalize.create_event_tracker(name=unique("t"),
                                               datasetGroupArn=flow.group_arn)
    wait(lambda: personalize.describe_event_tracker(
        eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])
    schema = personalize.describe_dataset(datasetArn=flow.dataset_arn)["dataset"]["schemaArn"]

    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_solution(solutionArn=solution)
    personalize.delete_campaign(campaignArn=campaign)
    wait_gone(lambda: personalize.describe_campaign(campaignArn=campaign))
    personalize.delete_solution(solutionArn=solution)
    wait_gone(lambda: personalize.describe_solution(solutionArn=solution))
    assert gone(lambda: personalize.describe_solution_version(solutionVersionArn=version))
    personalize.delete_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])
    personalize.delete_dataset(datasetArn=flow.dataset_arn)
    wait_gone(lambda: personalize.describe_dataset(datasetArn=flow.dataset_arn))
    wait_gone(lambda: personalize.describe_event_tracker(
        eventTrackerArn=tracker["eventTrackerArn"]))
    personalize.delete_schema(schemaArn=schema)
    personalize.delete_dataset_group(datasetGroupArn=flow.group_arn)
    wait_gone(lambda: personalize.describe_dataset_group(datasetGroupArn=flow.group_arn))
    assert gone(lambda: personalize.describe_schema(schemaArn=schema))
    names = {g["name"] for g in personalize.list_dataset_groups()["datasetGroups"]}
    assert flow.group_arn.rsplit("/", 1)[1] not in names


def test_deletes_pass_through_delete_pending_and_in_progress(
        app_client: Any, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Delete* shows DELETE PENDING, then DELETE IN_PROGRESS, then
    ResourceNotFoundException; meanwhile the resource cannot be used, nor get children."""
    app = App(app_client, monkeypatch, delete_seconds="0.2")
    p, runtime, events = app.p, app.runtime, app.events
    group = p.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    app.drain()
    schema = p.create_schema(name=unique("s"), schema=synthetic.INTERACTIONS_SCHEMA)
    dataset = p.create_dataset(name=unique("d"), datasetGroupArn=group,
                               datasetType="Interactions",
                               schemaArn=schema["schemaArn"])["datasetArn"]
    app.drain()
    key = f"{unique('del')}/interactions.csv"
    data = synthetic.planted_interactions(n_users=80, n_items=120, per_user=30, seed=5)
    s3.put_object(Bucket=bucket, Key=key, Body=data.to_csv().encode())
    job = p.create_dataset_import_job(jobName=unique("imp"), datasetArn=dataset,
                                      dataSource={"dataLocation": f"s3://{bucket}/{key}"})
    tracker = p.create_event_tracker(name=unique("t"), datasetGroupArn=group)
    filter_arn = p.create_filter(name=unique("f"), datasetGroupArn=group,
                                 filterExpression="EXCLUDE ItemID WHERE Interactions.EVENT_TYPE"
                                 ' IN ("click")')["filterArn"]
    solution = p.create_solution(
        name=unique("sol"), datasetGroupArn=group,
        recipeArn="arn:aws:personalize:::recipe/aws-popularity-count")["solutionArn"]
    attribution = p.create_metric_attribution(
        name=unique("ma"), datasetGroupArn=group,
        metrics=[{"eventType": "click", "metricName": "CLICKS",
                  "expression": "SAMPLECOUNT()"}],
        metricsOutputConfig={"roleArn": ROLE})["metricAttributionArn"]
    app.drain()
    imported = p.describe_dataset_import_job(
        datasetImportJobArn=job["datasetImportJobArn"])["datasetImportJob"]
    assert imported["status"] == "ACTIVE", imported.get("failureReason")
    version = p.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    app.drain()
    described = p.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert described["status"] == "ACTIVE", described.get("failureReason")
    campaign = p.create_campaign(name=unique("c"), solutionVersionArn=version)["campaignArn"]
    app.drain()
    user = data.users[0]
    runtime.get_recommendations(campaignArn=campaign, userId=user, filterArn=filter_arn)

    def through_deletion(delete: Callable[[], Any], describe: Callable[[], dict[str, Any]],
                         *refused: Callable[[], Any]) -> None:
        delete()
        for status in ("DELETE PENDING", "DELETE IN_PROGRESS"):
            assert describe()["status"] == status
            for call in (delete, *refused):
                with pytest.raises(ClientError) as err:
                    call()
                assert err.value.response["Error"]["Code"] in (
                    "ResourceInUseException", "InvalidInputException",
                    "ResourceNotFoundException"), err.value
            app.drain()
        app.finish_deletes()
        with pytest.raises(p.exceptions.ResourceNotFoundException):
            describe()

    through_deletion(
        lambda: p.delete_filter(filterArn=filter_arn),
        lambda: p.describe_filter(filterArn=filter_arn)["filter"],
        lambda: runtime.get_recommendations(campaignArn=campaign, userId=user,
                                            filterArn=filter_arn))
    through_deletion(
        lambda: p.delete_campaign(campaignArn=campaign),
        lambda: p.describe_campaign(campaignArn=campaign)["campaign"],
        lambda: runtime.get_recommendations(campaignArn=campaign, userId=user),
        lambda: p.update_campaign(campaignArn=campaign, minProvisionedTPS=2))
    through_deletion(
        lambda: p.delete_solution(solutionArn=solution),
        lambda: p.describe_solution(solutionArn=solution)["solution"],
        lambda: p.create_solution_version(solutionArn=solution),
        lambda: p.create_campaign(name=unique("c"), solutionVersionArn=version),
        lambda: p.create_campaign(name=unique("c"), solutionVersionArn=f"{solution}/$LATEST"),
        lambda: p.update_solution(solutionArn=solution, performAutoTraining=False))
    through_deletion(
        lambda: p.delete_event_tracker(eventTrackerArn=tracker["eventTrackerArn"]),
        lambda: p.describe_event_tracker(
            eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"],
        lambda: events.put_events(trackingId=tracker["trackingId"], userId=user,
                                  sessionId="s", eventList=[
                                      {"eventType": "click", "itemId": "i1",
                                       "sentAt": time.time()}]))
    through_deletion(
        lambda: p.delete_metric_attribution(metricAttributionArn=attribution),
        lambda: p.describe_metric_attribution(
            metricAttributionArn=attribution)["metricAttribution"],
        lambda: p.update_metric_attribution(metricAttributionArn=attribution,
                                            removeMetrics=["CLICKS"]))
    other = p.create_solution(
        name=unique("sol"), datasetGroupArn=group,
        recipeArn="arn:aws:personalize:::recipe/aws-popularity-count")["solutionArn"]
    app.drain()
    through_deletion(
        lambda: p.delete_dataset(datasetArn=dataset),
        lambda: p.describe_dataset(datasetArn=dataset)["dataset"],
        lambda: p.create_dataset_import_job(
            jobName=unique("imp"), datasetArn=dataset,
            dataSource={"dataLocation": f"s3://{bucket}/{key}"}),
        lambda: p.create_solution_version(solutionArn=other),
        lambda: p.update_dataset(datasetArn=dataset, schemaArn=schema["schemaArn"]))
    p.delete_solution(solutionArn=other)
    app.drain()
    app.finish_deletes()
    through_deletion(
        lambda: p.delete_dataset_group(datasetGroupArn=group),
        lambda: p.describe_dataset_group(datasetGroupArn=group)["datasetGroup"],
        lambda: p.create_dataset(name=unique("d"), datasetGroupArn=group,
                                 datasetType="Interactions", schemaArn=schema["schemaArn"]),
        lambda: p.create_solution(
            name=unique("sol"), datasetGroupArn=group,
            recipeArn="arn:aws:personalize:::recipe/aws-popularity-count"),
        lambda: p.create_event_tracker(name=unique("t"), datasetGroupArn=group),
        lambda: p.create_filter(name=unique("f"), datasetGroupArn=group,
                                filterExpression='EXCLUDE ItemID WHERE Items.GENRE IN ("a")'),
        lambda: p.create_data_deletion_job(
            jobName=unique("dd"), datasetGroupArn=group, roleArn=ROLE,
            dataSource={"dataLocation": f"s3://{bucket}/{key}"}))
