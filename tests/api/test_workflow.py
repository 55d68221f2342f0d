"""The getting-started workflow end to end, through boto3 over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.inprocess import App
from tests.conftest import Workflow, build_group, deploy, train, unique, wait
from tests.synthetic import INTERACTIONS_SCHEMA, planted_interactions

METRICS = {"coverage", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_5",
           "normalized_discounted_cumulative_gain_at_10",
           "normalized_discounted_cumulative_gain_at_25", "precision_at_5", "precision_at_10",
           "precision_at_25"}


@pytest.fixture(scope="module")
def personalized(personalize: Any, workflow: Workflow) -> tuple[str, str, str]:
    solution, version = train(personalize, workflow.group_arn, "aws-user-personalization",
                              performAutoTraining=False)
    return solution, version, deploy(personalize, version)


@pytest.fixture(scope="module")
def popularity(personalize: Any, workflow: Workflow) -> tuple[str, str, str]:
    solution, version = train(personalize, workflow.group_arn, "aws-popularity-count")
    return solution, version, deploy(personalize, version)


def test_statuses_and_descriptions(personalize: Any, workflow: Workflow,
                                   personalized: tuple[str, str, str]) -> None:
    solution, version, campaign = personalized
    sol = personalize.describe_solution(solutionArn=solution)["solution"]
    assert (sol["performHPO"], sol["performAutoML"], sol["performAutoTraining"]) == \
        (False, False, False)
    assert sol["latestSolutionVersion"]["solutionVersionArn"] == version
    ver = personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert ver["trainingMode"] == "FULL" and ver["trainingType"] == "MANUAL"
    assert ver["trainingHours"] > 0
    assert ver["recipeArn"] == "arn:aws:personalize:::recipe/aws-user-personalization"
    camp = personalize.describe_campaign(campaignArn=campaign)["campaign"]
    assert camp["solutionVersionArn"] == version and camp["minProvisionedTPS"] == 1
    assert workflow.dataset_arn.endswith("/INTERACTIONS")


def test_metrics_keys_and_range(personalize: Any, personalized: tuple[str, str, str]) -> None:
    metrics = personalize.get_solution_metrics(solutionVersionArn=personalized[1])["metrics"]
    assert set(metrics) == METRICS
    assert all(0.0 <= v <= 1.0 for v in metrics.values())


def test_personalized_beats_popularity(personalize: Any, personalized: tuple[str, str, str],
                                       popularity: tuple[str, str, str]) -> None:
    up = personalize.get_solution_metrics(solutionVersionArn=personalized[1])["metrics"]
    pop = personalize.get_solution_metrics(solutionVersionArn=popularity[1])["metrics"]
    for key in ("normalized_discounted_cumulative_gain_at_10", "mean_reciprocal_rank_at_25",
                "precision_at_10"):
        assert up[key] > 1.5 * pop[key], (key, up, pop)
    assert up["coverage"] > pop["coverage"]


def test_recommendations_follow_the_users_taste(runtime: Any, workflow: Workflow,
                                                personalized: tuple[str, str, str]) -> None:
    data = workflow.data
    hits = []
    for user in [f"u{u}" for u in range(0, 400, 40)]:
        resp = runtime.get_recommendations(campaignArn=personalized[2], userId=user)
        items = resp["itemList"]
        assert len(items) == 25 and resp["recommendationId"].startswith("RID-")
        scores = [i["score"] for i in items]
        assert scores == sorted(scores, reverse=True)
        assert len({i["itemId"] for i in items}) == 25
        own = data.cluster_of_user[user]
        hits.append(sum(data.cluster_of_item[i["itemId"]] == own for i in items[:10]))
    assert sum(hits) / len(hits) >= 8  # 8 clusters: chance would be ~1.25 of 10


def test_num_results_and_unknown_user(runtime: Any, personalized: tuple[str, str, str]) -> None:
    assert len(runtime.get_recommendations(campaignArn=personalized[2], userId="u1",
                                           numResults=3)["itemList"]) == 3
    cold = runtime.get_recommendations(campaignArn=personalized[2], userId="nobody")
    assert len(cold["itemList"]) == 25  # a new user gets popular items


def test_popularity_is_the_same_for_everyone(runtime: Any,
                                             popularity: tuple[str, str, str]) -> None:
    a = runtime.get_recommendations(campaignArn=popularity[2], userId="u1")["itemList"]
    b = runtime.get_recommendations(campaignArn=popularity[2], userId="u2")["itemList"]
    assert a == b and len(a) == 25
    assert all("score" not in item for item in a)


def test_sims_related_items(personalize: Any, runtime: Any, workflow: Workflow) -> None:
    _, version = train(personalize, workflow.group_arn, "aws-sims")
    campaign = deploy(personalize, version)
    items = runtime.get_recommendations(campaignArn=campaign, itemId="i3")["itemList"]
    assert items and all("score" not in i for i in items)
    assert "i3" not in {i["itemId"] for i in items}
    same = sum(workflow.data.cluster_of_item[i["itemId"]] == 3 % 8 for i in items[:10])
    assert same >= 6
    unknown = runtime.get_recommendations(campaignArn=campaign, itemId="no-such-item")
    assert len(unknown["itemList"]) == 25
    with pytest.raises(runtime.exceptions.InvalidInputException, match="itemId"):
        runtime.get_recommendations(campaignArn=campaign, userId="u1")


def test_personalized_ranking(personalize: Any, runtime: Any, workflow: Workflow) -> None:
    _, version = train(personalize, workflow.group_arn, "aws-personalized-ranking")
    campaign = deploy(personalize, version)
    user = "u5"
    own = workflow.data.cluster_of_user[user]
    seen = {i for u, i in zip(workflow.data.users, workflow.data.items, strict=True) if u == user}
    fresh = [f"i{i}" for i in range(240) if f"i{i}" not in seen]
    mine = [i for i in fresh if workflow.data.cluster_of_item[i] == own][:3]
    other = [i for i in fresh if workflow.data.cluster_of_item[i] != own][:3]
    ranked = runtime.get_personalized_ranking(
        campaignArn=campaign, userId=user,
        inputList=other + ["never-seen"] + mine + [mine[0]])["personalizedRanking"]
    assert len(ranked) == 7  # the duplicate is dropped
    assert ranked[-1] == {"itemId": "never-seen"}  # unknown: last, without a score
    assert abs(sum(i["score"] for i in ranked[:-1]) - 1.0) < 1e-3
    assert {i["itemId"] for i in ranked[:3]} == set(mine)
    with pytest.raises(runtime.exceptions.InvalidInputException):
        runtime.get_personalized_ranking(campaignArn=campaign, userId=user,
                                         inputList=[f"i{i}" for i in range(501)])


def test_wrong_api_for_the_recipe(runtime: Any, personalized: tuple[str, str, str]) -> None:
    with pytest.raises(runtime.exceptions.InvalidInputException, match="personalized-ranking"):
        runtime.get_personalized_ranking(campaignArn=personalized[2], userId="u1",
                                         inputList=["i1"])
    with pytest.raises(runtime.exceptions.InvalidInputException, match="userId"):
        runtime.get_recommendations(campaignArn=personalized[2])
    with pytest.raises(runtime.exceptions.InvalidInputException, match="numResults"):
        runtime.get_recommendations(campaignArn=personalized[2], userId="u1", numResults=501)


def test_unknown_campaign_is_404(runtime: Any) -> None:
    arn = f"arn:aws:personalize:us-east-1:123456789012:campaign/{unique('none')}"
    with pytest.raises(runtime.exceptions.ResourceNotFoundException) as err:
        runtime.get_recommendations(campaignArn=arn, userId="u1")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_campaign_update_switches_version(personalize: Any, runtime: Any,
                                          personalized: tuple[str, str, str]) -> None:
    solution, first, _ = personalized
    campaign = deploy(personalize, first)
    second = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=second)["solutionVersion"], timeout=120)
    personalize.update_campaign(campaignArn=campaign, solutionVersionArn=second)
    res = wait(lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"][
        "latestCampaignUpdate"])
    assert res["status"] == "ACTIVE"
    camp = personalize.describe_campaign(campaignArn=campaign)["campaign"]
    assert camp["solutionVersionArn"] == second and camp["status"] == "ACTIVE"
    assert runtime.get_recommendations(campaignArn=campaign, userId="u1")["itemList"]


def _tracking_id(personalize: Any, group: str) -> str:
    """The group's event tracker (one per group), created by the first test needing it."""
    found = personalize.list_event_trackers(datasetGroupArn=group)["eventTrackers"]
    arn = found[0]["eventTrackerArn"] if found else personalize.create_event_tracker(
        name=unique("t"), datasetGroupArn=group)["eventTrackerArn"]
    return str(wait(lambda: personalize.describe_event_tracker(
        eventTrackerArn=arn)["eventTracker"])["trackingId"])


def test_new_events_change_recommendations_without_retraining(
        personalize: Any, runtime: Any, tailor: Any, workflow: Workflow,
        personalized: tuple[str, str, str]) -> None:
    tracking_id = _tracking_id(personalize, workflow.group_arn)
    events = tailor.client("personalize-events")
    cluster = 3
    liked = [f"i{i}" for i in range(240) if i % 8 == cluster][:6]
    before = runtime.get_recommendations(campaignArn=personalized[2], userId="newcomer")
    events.put_events(trackingId=tracking_id, userId="newcomer", sessionId="s",
                      eventList=[{"eventType": "click", "itemId": item, "sentAt": 1.8e9}
                                 for item in liked])
    after = runtime.get_recommendations(campaignArn=personalized[2], userId="newcomer")
    top = [i["itemId"] for i in after["itemList"][:10]]
    assert top != [i["itemId"] for i in before["itemList"][:10]]
    assert sum(workflow.data.cluster_of_item[i] == cluster for i in top) >= 8
    assert not set(top) & set(liked)  # no re-consumption in this data: seen items rank last


def test_a_known_users_new_event_changes_the_next_answer(
        personalize: Any, runtime: Any, tailor: Any, workflow: Workflow,
        personalized: tuple[str, str, str]) -> None:
    """Serving remembers a user's scores (TAILOR_SCORE_CACHE_MB) until the user sends an
    event: the same answer while nothing happens, a new one right after an event."""
    campaign, user = personalized[2], "u7"
    tracking_id = _tracking_id(personalize, workflow.group_arn)

    def top() -> list[tuple[str, float]]:
        found = runtime.get_recommendations(campaignArn=campaign, userId=user,
                                            numResults=20)["itemList"]
        return [(i["itemId"], i["score"]) for i in found]

    first = top()
    assert top() == first  # served again: the same items and scores
    # A filtered call in between reads the same scores and must not alter them.
    clicked = personalize.create_filter(
        name=unique("clicked"), datasetGroupArn=workflow.group_arn,
        filterExpression='INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
    )["filterArn"]
    wait(lambda: personalize.describe_filter(filterArn=clicked)["filter"])
    history = {i for u, i in zip(workflow.data.users, workflow.data.items, strict=True)
               if u == user}
    filtered = runtime.get_recommendations(campaignArn=campaign, userId=user, numResults=20,
                                           filterArn=clicked)["itemList"]
    assert len(filtered) >= 5 and {i["itemId"] for i in filtered} <= history
    assert top() == first
    picked = first[0][0]
    tailor.client("personalize-events").put_events(
        trackingId=tracking_id, userId=user, sessionId="s7",
        eventList=[{"eventType": "click", "itemId": picked, "sentAt": 1.8e9}])
    after = top()
    assert after != first and picked not in [i for i, _ in after[:10]]
    assert top() == after


def test_training_is_deterministic(personalize: Any, runtime: Any, s3: Any,
                                   bucket: str) -> None:
    """Same data and parameters, same model: two versions give the same metrics and the
    same recommendations, scores included."""
    flow = build_group(personalize, s3, bucket, planted_interactions(seed=21))
    solution, first = train(personalize, flow.group_arn, "aws-user-personalization")
    second = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    assert wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=second)["solutionVersion"])["status"] == "ACTIVE"
    metrics = [personalize.get_solution_metrics(solutionVersionArn=v)["metrics"]
               for v in (first, second)]
    assert metrics[0] == metrics[1]
    lists = [runtime.get_recommendations(campaignArn=deploy(personalize, v), userId="u3",
                                         numResults=20)["itemList"] for v in (first, second)]
    assert lists[0] == lists[1]


def test_create_solution_version__right_after_create_solution(
        app_client: Any, s3: Any, bucket: str) -> None:
    """As the batch-recommendations sample does: no wait between CreateSolution and
    CreateSolutionVersion. The version is CREATE PENDING and trains once its solution is
    ACTIVE; a stopped waiting version stays stopped."""
    app = App(app_client)
    p = app.p
    group = p.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    app.drain()
    schema = p.create_schema(name=unique("s"), schema=INTERACTIONS_SCHEMA)["schemaArn"]
    dataset = p.create_dataset(name=unique("d"), datasetGroupArn=group,
                               datasetType="Interactions", schemaArn=schema)["datasetArn"]
    app.drain()
    key = f"{unique('sv')}/interactions.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=planted_interactions(
        n_users=80, n_items=120, per_user=30, seed=9).to_csv().encode())
    p.create_dataset_import_job(jobName=unique("imp"), datasetArn=dataset,
                                dataSource={"dataLocation": f"s3://{bucket}/{key}"})
    app.drain()
    versions = []
    for recipe in ("aws-popularity-count", "aws-sims"):
        solution = p.create_solution(name=unique("sol"), datasetGroupArn=group,
                                     recipeArn=f"arn:aws:personalize:::recipe/{recipe}")
        arn = solution["solutionArn"]
        assert p.describe_solution(solutionArn=arn)["solution"]["status"] == "CREATE PENDING"
        versions.append(p.create_solution_version(solutionArn=arn)["solutionVersionArn"])
        assert p.describe_solution_version(solutionVersionArn=versions[-1])[
            "solutionVersion"]["status"] == "CREATE PENDING"
    p.stop_solution_version_creation(solutionVersionArn=versions[1])
    app.drain()
    assert p.describe_solution_version(solutionVersionArn=versions[0])[
        "solutionVersion"]["status"] == "ACTIVE"
    assert p.describe_solution_version(solutionVersionArn=versions[1])[
        "solutionVersion"]["status"] == "CREATE STOPPED"


def test_create_solution_version__no_wait_over_http(personalize: Any,
                                                    workflow: Workflow) -> None:
    solution = personalize.create_solution(
        name=unique("sol"), datasetGroupArn=workflow.group_arn,
        recipeArn="arn:aws:personalize:::recipe/aws-popularity-count")["solutionArn"]
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    res = wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=version)["solutionVersion"])
    assert res["status"] == "ACTIVE", res.get("failureReason")
