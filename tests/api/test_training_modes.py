"""trainingMode UPDATE and automatic training, through boto3."""

from __future__ import annotations

from typing import Any

from tests.conftest import (
    Tailor,
    Workflow,
    build_group,
    call_app,
    deploy,
    drain_app,
    train,
    unique,
    wait,
)
from tests.synthetic import INTERACTIONS_SCHEMA, planted_interactions


def test_update_folds_in_new_users_and_items(personalize: Any, runtime: Any, s3: Any,
                                             bucket: str, tailor: Tailor) -> None:
    data = planted_interactions(seed=11)
    flow: Workflow = build_group(personalize, s3, bucket, data)
    solution, full = train(personalize, flow.group_arn, "aws-user-personalization")
    full_metrics = personalize.get_solution_metrics(solutionVersionArn=full)["metrics"]

    # After training, streamed events: a new user who likes cluster 0's items, and
    # a brand-new item.
    tracker = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=flow.group_arn)
    wait(lambda: personalize.describe_event_tracker(
        eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])
    cluster0 = sorted(i for i, c in data.cluster_of_item.items() if c == 0)
    t = max(data.timestamps) + 60
    events = tailor.client("personalize-events")
    events.put_events(trackingId=tracker["trackingId"], userId="newcomer", sessionId="s",
                      eventList=[{"eventType": "click", "itemId": item, "sentAt": t + k}
                                 for k, item in enumerate(cluster0[:6])])
    for k in range(3):
        events.put_events(trackingId=tracker["trackingId"], userId=f"u{k}", sessionId="s",
                          eventList=[{"eventType": "click", "itemId": "fresh-item",
                                      "sentAt": t + 100 + k}])

    update = personalize.create_solution_version(solutionArn=solution,
                                                 trainingMode="UPDATE")["solutionVersionArn"]
    res = wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=update)["solutionVersion"], timeout=120)
    assert res["status"] == "ACTIVE" and res["trainingMode"] == "UPDATE", res
    assert personalize.get_solution_metrics(solutionVersionArn=update)["metrics"] == \
        full_metrics

    new = deploy(personalize, update)
    for_newcomer = [r["itemId"] for r in runtime.get_recommendations(
        campaignArn=new, userId="newcomer", numResults=10)["itemList"]]
    # The newcomer is a user of the updated version: cluster-0 items it has not seen yet.
    assert sum(data.cluster_of_item.get(i) == 0 for i in for_newcomer) >= 7
    assert not set(for_newcomer) & set(cluster0[:6])
    # The new item is in the updated catalogue only, reachable through exploration.
    shown = {}
    for version in (full, update):
        arn = personalize.create_campaign(
            name=unique("c"), solutionVersionArn=version,
            campaignConfig={"itemExplorationConfig": {"explorationWeight": "1"}})["campaignArn"]
        wait(lambda arn=arn: personalize.describe_campaign(campaignArn=arn)["campaign"])
        shown[version] = {r["itemId"] for u in ("u50", "u51", "newcomer") for r in
                          runtime.get_recommendations(campaignArn=arn, userId=u,
                                                      numResults=25)["itemList"]}
    assert "fresh-item" in shown[update] and "fresh-item" not in shown[full]


def test_update_needs_a_full_version(personalize: Any, workflow: Workflow) -> None:
    sol = personalize.create_solution(
        name=unique("sol"), datasetGroupArn=workflow.group_arn,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization")["solutionArn"]
    wait(lambda: personalize.describe_solution(solutionArn=sol)["solution"])
    try:
        personalize.create_solution_version(solutionArn=sol, trainingMode="UPDATE")
    except personalize.exceptions.InvalidInputException as e:
        assert "FULL" in str(e)
    else:
        raise AssertionError("UPDATE without a FULL version was accepted")


def test_automatic_training_on_schedule(app_client: Any, s3: Any, bucket: str,
                                        monkeypatch: Any) -> None:
    """The scheduled handler starts a solution's automatic versions: the first one when
    it is due after creation, the next one only after the scheduling interval."""
    from chalicelib import config
    from chalicelib.resources import auto_training
    from chalicelib.state.context import context

    monkeypatch.setenv("TAILOR_AUTO_TRAINING_FIRST_DELAY", "0")
    config.settings.cache_clear()
    context.cache_clear()
    group = call_app(app_client, "CreateDatasetGroup", name="auto")["datasetGroupArn"]
    schema = call_app(app_client, "CreateSchema", name="auto",
                      schema=INTERACTIONS_SCHEMA)["schemaArn"]
    drain_app(app_client)
    dataset = call_app(app_client, "CreateDataset", name="auto", datasetGroupArn=group,
                       datasetType="Interactions", schemaArn=schema)["datasetArn"]
    drain_app(app_client)
    key = f"{unique('auto')}.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=planted_interactions(seed=2).to_csv().encode())
    call_app(app_client, "CreateDatasetImportJob", jobName="auto", datasetArn=dataset,
             dataSource={"dataLocation": f"s3://{bucket}/{key}"})
    manual = call_app(app_client, "CreateSolution", name="manual", datasetGroupArn=group,
                      performAutoTraining=False,
                      recipeArn="arn:aws:personalize:::recipe/aws-popularity-count")
    auto = call_app(app_client, "CreateSolution", name="auto", datasetGroupArn=group,
                    recipeArn="arn:aws:personalize:::recipe/aws-popularity-count",
                    solutionConfig={"autoTrainingConfig": {
                        "schedulingExpression": "rate(3 days)"}})["solutionArn"]
    drain_app(app_client)  # dataset, import and solutions become ACTIVE
    drain_app(app_client)  # the first automatic version is due at once: it trains
    versions = call_app(app_client, "ListSolutionVersions", solutionArn=auto)
    [first] = versions["solutionVersions"]
    assert first["trainingType"] == "AUTOMATIC" and first["trainingMode"] == "FULL"
    assert first["status"] == "ACTIVE"
    assert call_app(app_client, "ListSolutionVersions",
                    solutionArn=manual["solutionArn"])["solutionVersions"] == []
    ctx = context()
    # Not due again until 3 days after that version.
    assert auto_training.start_due(ctx) == []
    created = ctx.store.one(first["solutionVersionArn"]).created
    assert auto_training.start_due(ctx, now=created + 3 * 86400 - 60) == []
    [second] = auto_training.start_due(ctx, now=created + 3 * 86400 + 1)
    assert second.startswith(auto + "/")
