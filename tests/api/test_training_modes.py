"""trainingMode UPDATE and automatic training, through boto3."""

from __future__ import annotations

from typing import Any

from tests.conftest import Tailor, Workflow, build_group, deploy, train, unique, wait
from tests.synthetic import planted_interactions


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
