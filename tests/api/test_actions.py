"""aws-next-best-action and GetActionRecommendations through boto3 (spec E.3, G.3)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from chalicelib.runtime.actions import rank
from tests.conftest import (
    Tailor,
    Workflow,
    create_dataset,
    deploy,
    import_csv,
    schema_json,
    train,
    unique,
    wait,
)

METRICS = {"coverage", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_5",
           "normalized_discounted_cumulative_gain_at_10",
           "normalized_discounted_cumulative_gain_at_25", "precision_at_5", "precision_at_10",
           "precision_at_25"}
N_ACTIONS, N_GROUPS, N_USERS = 20, 4, 100
EXPIRED = "gone"
T0 = 1_600_000_000  # training events are years old: no REPEAT_FREQUENCY window is still open


schema = schema_json


ACTIONS_SCHEMA = schema(
    "Actions", {"name": "ACTION_ID", "type": "string"},
    {"name": "ACTION_EXPIRATION_TIMESTAMP", "type": ["null", "long"]},
    {"name": "REPEAT_FREQUENCY", "type": ["null", "int"]},
    {"name": "VALUE", "type": ["null", "float"]},
    {"name": "CHANNEL", "type": ["null", "string"], "categorical": True})
ACTION_INTERACTIONS_SCHEMA = schema(
    "Action_Interactions", {"name": "USER_ID", "type": "string"},
    {"name": "ACTION_ID", "type": "string"}, {"name": "TIMESTAMP", "type": "long"},
    {"name": "EVENT_TYPE", "type": "string"})


def action_id(a: int) -> str:
    return f"a{a:02d}"


def actions_csv() -> str:
    """20 actions of 4 groups that may be repeated after 30 days (a00 without expiry), and
    one that everybody takes but that expired in 2001."""
    rows = ["ACTION_ID,ACTION_EXPIRATION_TIMESTAMP,REPEAT_FREQUENCY,VALUE,CHANNEL"]
    rows += [f"{action_id(a)},{'' if a == 0 else 4_000_000_000},30,{a},email"
             for a in range(N_ACTIONS)]
    rows.append(f"{EXPIRED},1000000000,30,100,sms")
    return "\n".join(rows) + "\n"


def interactions(seed: int = 11) -> list[tuple[str, str, int, str]]:
    """Each user is shown 12 of the 20 actions and the expired one; users of group g take
    actions of group g with probability 0.7, others with 0.05, the expired one with 0.9."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(N_USERS):
        shown = [action_id(a) for a in rng.choice(N_ACTIONS, 12, replace=False)] + [EXPIRED]
        for k, action in enumerate(shown):
            p = 0.9 if action == EXPIRED else 0.7 if int(action[1:]) % N_GROUPS == u % N_GROUPS \
                else 0.05
            kind = "TAKEN" if rng.random() < p else str(rng.choice(["NOT_TAKEN", "VIEWED"]))
            rows.append((f"u{u:02d}", action, T0 + u * 1000 + k * 10, kind))
    return rows


@dataclass
class Nba:
    group: str
    version: str
    campaign: str
    tracking_id: str
    events: list[tuple[str, str, int, str]]


dataset = create_dataset


def new_group(personalize: Any) -> str:
    group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    return group


@pytest.fixture(scope="module")
def nba(personalize: Any, s3: Any, bucket: str) -> Nba:
    group = new_group(personalize)
    actions = dataset(personalize, group, "Actions", ACTIONS_SCHEMA)
    action_interactions = dataset(personalize, group, "Action_Interactions",
                                  ACTION_INTERACTIONS_SCHEMA)
    events = interactions()
    import_csv(personalize, s3, bucket, actions, actions_csv())
    import_csv(personalize, s3, bucket, action_interactions,
               "USER_ID,ACTION_ID,TIMESTAMP,EVENT_TYPE\n" + "".join(
                   f"{u},{a},{t},{k}\n" for u, a, t, k in events))
    _, version = train(personalize, group, "aws-next-best-action")
    tracking_id = personalize.describe_dataset(
        datasetArn=action_interactions)["dataset"]["trackingId"]
    return Nba(group, version, deploy(personalize, version), tracking_id, events)


def ids(response: dict[str, Any]) -> list[str]:
    return [a["actionId"] for a in response["actionList"]]


def test_get_action_recommendations__defaults_scores_and_limits(
        personalize: Any, runtime: Any, nba: Nba) -> None:
    response = runtime.get_action_recommendations(campaignArn=nba.campaign, userId="u01")
    actions = response["actionList"]
    assert len(actions) == 5 and response["recommendationId"].startswith("RID-")
    # As GetRecommendations': the 40 characters PutActionInteractions takes back, new per call
    again = runtime.get_action_recommendations(campaignArn=nba.campaign, userId="u01")
    assert len(response["recommendationId"]) == 40
    assert again["recommendationId"] != response["recommendationId"]
    assert again["recommendationId"][:18] == response["recommendationId"][:18]  # campaign tag
    scores = [a["score"] for a in actions]
    assert all(0.0 <= s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)
    with pytest.raises(runtime.exceptions.InvalidInputException, match="100"):
        runtime.get_action_recommendations(campaignArn=nba.campaign, userId="u01",
                                           numResults=101)
    assert len(ids(runtime.get_action_recommendations(
        campaignArn=nba.campaign, userId="u01", numResults=100))) == N_ACTIONS
    metrics = personalize.get_solution_metrics(solutionVersionArn=nba.version)["metrics"]
    assert set(metrics) == METRICS and all(0.0 <= v <= 1.0 for v in metrics.values())


def test_get_action_recommendations__personalized_by_group(runtime: Any, nba: Nba) -> None:
    in_group = [int(ids(runtime.get_action_recommendations(
        campaignArn=nba.campaign, userId=f"u{u:02d}", numResults=1))[0][1:]) % N_GROUPS
                == u % N_GROUPS for u in range(0, N_USERS, 5)]
    assert np.mean(in_group) >= 0.8


def test_unknown_user_gets_base_rates_and_expired_action_is_never_returned(
        runtime: Any, nba: Nba) -> None:
    kinds = np.array([k for *_, k in nba.events])
    actions = np.array([a for _, a, *_ in nba.events])
    taken, shown = kinds == "TAKEN", np.ones(len(kinds), dtype=bool)
    m, s = taken.sum() / shown.sum(), 10.0  # global take-rate, prior strength
    response = runtime.get_action_recommendations(campaignArn=nba.campaign,
                                                  userId="never-seen", numResults=50)
    assert EXPIRED not in ids(response) and len(ids(response)) == N_ACTIONS
    for a in response["actionList"]:
        mine = actions == a["actionId"]
        expected = (taken[mine].sum() + s * m) / (mine.sum() + s)
        assert a["score"] == pytest.approx(expected, rel=1e-5)
    for u in range(0, N_USERS, 10):
        assert EXPIRED not in ids(runtime.get_action_recommendations(
            campaignArn=nba.campaign, userId=f"u{u:02d}", numResults=100))


def test_taken_action_disappears_for_its_repeat_frequency(tailor: Tailor, runtime: Any,
                                                          nba: Nba) -> None:
    before = ids(runtime.get_action_recommendations(campaignArn=nba.campaign, userId="u07",
                                                    numResults=N_ACTIONS))
    tailor.client("personalize-events").put_action_interactions(
        trackingId=nba.tracking_id, actionInteractions=[
            {"actionId": before[0], "userId": "u07", "sessionId": "s07",
             "timestamp": time.time() - 3600, "eventType": "Taken"}])
    after = ids(runtime.get_action_recommendations(campaignArn=nba.campaign, userId="u07",
                                                   numResults=N_ACTIONS))
    assert before[0] not in after and set(after) == set(before) - {before[0]}
    other = ids(runtime.get_action_recommendations(campaignArn=nba.campaign, userId="u11",
                                                   numResults=N_ACTIONS))
    assert before[0] in other  # only this user took it


def test_wrong_campaigns(personalize: Any, runtime: Any, workflow: Workflow, nba: Nba) -> None:
    _, version = train(personalize, workflow.group_arn, "aws-popularity-count")
    popular = deploy(personalize, version)
    with pytest.raises(runtime.exceptions.InvalidInputException, match="next-best-action"):
        runtime.get_action_recommendations(campaignArn=popular, userId="u1")
    with pytest.raises(runtime.exceptions.InvalidInputException,
                       match="GetActionRecommendations"):
        runtime.get_recommendations(campaignArn=nba.campaign, userId="u1")
    missing = nba.campaign.rsplit("/", 1)[0] + "/no-such-campaign"
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.get_action_recommendations(campaignArn=missing, userId="u1")


def test_training_needs_actions(personalize: Any) -> None:
    group = new_group(personalize)
    dataset(personalize, group, "Action_Interactions", ACTION_INTERACTIONS_SCHEMA)
    solution = personalize.create_solution(
        name=unique("sol"), datasetGroupArn=group,
        recipeArn="arn:aws:personalize:::recipe/aws-next-best-action")["solutionArn"]
    wait(lambda: personalize.describe_solution(solutionArn=solution)["solution"])
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    res = wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=version)["solutionVersion"])
    assert res["status"] == "CREATE FAILED" and "Actions dataset" in res["failureReason"]


def test_rank__ties_go_to_the_more_valuable_action() -> None:
    scores, value = np.array([0.5, 0.5, 0.9, 0.95]), np.array([1.0, 3.0, 0.0, 9.0])
    hidden = np.array([False, False, False, True])
    assert rank(scores, value, hidden, 3).tolist() == [2, 1, 0]
