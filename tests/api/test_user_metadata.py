"""Users metadata through boto3: a user with no events gets popular items refined by the
categorical attributes of their Users record (bulk-imported or sent by PutUsers)."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import (
    Tailor,
    build_group,
    create_dataset,
    import_csv,
    train,
    unique,
    wait,
)
from tests.synthetic import planted_interactions

USERS_SCHEMA = json.dumps({
    "type": "record", "name": "Users", "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "USER_ID", "type": "string"},
               {"name": "TASTE", "type": "string", "categorical": True}], "version": "1.0"})


def test_attributes_refine_popularity_for_users_without_events(
        personalize: Any, runtime: Any, s3: Any, bucket: str, tailor: Tailor) -> None:
    data = planted_interactions(seed=5)
    flow = build_group(personalize, s3, bucket, data)
    users = create_dataset(personalize, flow.group_arn, "Users", USERS_SCHEMA)
    # Every trading user's taste is their cluster; "quiet" has a record but no events.
    rows = [f"{u},c{c}" for u, c in sorted(data.cluster_of_user.items())] + ["quiet,c2"]
    import_csv(personalize, s3, bucket, users, "USER_ID,TASTE\n" + "\n".join(rows))
    _, version = train(personalize, flow.group_arn, "aws-user-personalization")
    campaign = personalize.create_campaign(
        name=unique("c"), solutionVersionArn=version,
        campaignConfig={"itemExplorationConfig": {"explorationWeight": "0"}})["campaignArn"]
    wait(lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"])

    def share_of(user: str, cluster: int) -> float:
        recs = runtime.get_recommendations(campaignArn=campaign, userId=user,
                                           numResults=10)["itemList"]
        return sum(data.cluster_of_item[r["itemId"]] == cluster for r in recs) / len(recs)

    # A record sent after training, through PutUsers, counts at once.
    personalize_events = tailor.client("personalize-events")
    personalize_events.put_users(datasetArn=users, users=[
        {"userId": "newcomer", "properties": json.dumps({"TASTE": "c5"})}])
    assert share_of("newcomer", 5) >= 0.7
    assert share_of("quiet", 2) >= 0.7
    # No record: plain popularity, which follows no single cluster.
    assert max(share_of("stranger", c) for c in range(8)) <= 0.5
