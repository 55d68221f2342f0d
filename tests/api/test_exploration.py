"""Item exploration through boto3: a campaign's itemExplorationConfig decides how many
new items (in the Items dataset, no interactions yet) a user-personalization list shows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import (
    Workflow,
    build_group,
    create_dataset,
    import_csv,
    train,
    unique,
    wait,
)
from tests.synthetic import planted_interactions

NEW_ITEMS = [f"new{k}" for k in range(12)]
ITEMS_SCHEMA = json.dumps({
    "type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "ITEM_ID", "type": "string"},
               {"name": "GENRE", "type": "string", "categorical": True},
               {"name": "CREATION_TIMESTAMP", "type": "long"}], "version": "1.0"})


def import_items(personalize: Any, s3: Any, bucket: str, group: str, csv: str) -> None:
    import_csv(personalize, s3, bucket, create_dataset(personalize, group, "Items",
                                                       ITEMS_SCHEMA), csv)


@pytest.fixture(scope="module")
def explored(personalize: Any, s3: Any, bucket: str) -> tuple[Workflow, str]:
    """A group whose Items dataset lists the traded items (created long ago) and 12 items
    created at the time of the newest interaction, with no interactions; and a trained
    user-personalization version."""
    data = planted_interactions(seed=3)
    flow = build_group(personalize, s3, bucket, data)
    old, newest = min(data.timestamps) - 200 * 86400, max(data.timestamps)
    rows = [f"{i},g,{old}" for i in sorted(set(data.items))] + \
        [f"{i},g,{newest}" for i in NEW_ITEMS]
    import_items(personalize, s3, bucket, flow.group_arn,
                 "ITEM_ID,GENRE,CREATION_TIMESTAMP\n" + "\n".join(rows) + "\n")
    _, version = train(personalize, flow.group_arn, "aws-user-personalization")
    return flow, version


def campaign(personalize: Any, version: str, **config: str) -> str:
    extra = {"campaignConfig": {"itemExplorationConfig": config}} if config else {}
    arn = personalize.create_campaign(name=unique("c"), solutionVersionArn=version,
                                      **extra)["campaignArn"]
    assert wait(lambda: personalize.describe_campaign(
        campaignArn=arn)["campaign"])["status"] == "ACTIVE"
    return arn


def new_items_shown(runtime: Any, arn: str, users: list[str]) -> list[int]:
    return [sum(r["itemId"] in NEW_ITEMS for r in runtime.get_recommendations(
        campaignArn=arn, userId=u, numResults=10)["itemList"]) for u in users]


def test_exploration_weight_sets_the_share_of_new_items(
        personalize: Any, runtime: Any, explored: tuple[Workflow, str]) -> None:
    flow, version = explored
    users = sorted(set(flow.data.users))[:5]
    assert new_items_shown(runtime, campaign(personalize, version, explorationWeight="0"),
                           users) == [0] * 5
    # Weight 1: every slot after the first goes to a cold item.
    everything = campaign(personalize, version, explorationWeight="1",
                          explorationItemAgeCutOff="1")
    assert new_items_shown(runtime, everything, users) == [9] * 5
    # The service's default weight (0.3) explores a few slots.
    assert new_items_shown(runtime, campaign(personalize, version), users) == [3] * 5


def test_the_same_request_gives_the_same_list(
        personalize: Any, runtime: Any, explored: tuple[Workflow, str]) -> None:
    flow, version = explored
    arn = campaign(personalize, version, explorationWeight="0.5")
    lists = [runtime.get_recommendations(campaignArn=arn, userId=flow.data.users[0],
                                         numResults=10)["itemList"] for _ in range(2)]
    assert lists[0] == lists[1]
    assert 0 < sum(r["itemId"] in NEW_ITEMS for r in lists[0]) <= 5


def test_updating_the_exploration_config_changes_the_next_lists(
        personalize: Any, runtime: Any, explored: tuple[Workflow, str]) -> None:
    """Serving remembers a user's answers with their scores; a new campaignConfig of the
    same version must still show at once."""
    flow, version = explored
    users = sorted(set(flow.data.users))[5:8]
    arn = campaign(personalize, version, explorationWeight="0")
    assert new_items_shown(runtime, arn, users) == [0] * 3
    personalize.update_campaign(campaignArn=arn, campaignConfig={"itemExplorationConfig": {
        "explorationWeight": "1", "explorationItemAgeCutOff": "1"}})
    assert wait(lambda: personalize.describe_campaign(campaignArn=arn)["campaign"][
        "latestCampaignUpdate"])["status"] == "ACTIVE"
    assert new_items_shown(runtime, arn, users) == [9] * 3
