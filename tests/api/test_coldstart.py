"""aws-hrnn-coldstart through boto3: only cold items, chosen by the user's taste in
item metadata."""

from __future__ import annotations

from typing import Any

from tests.api.test_exploration import import_items
from tests.conftest import build_group, deploy, train, unique, wait
from tests.synthetic import planted_interactions

NEW = [(f"new{k}", k % 8) for k in range(120)]


def test_coldstart_recommends_cold_items_of_the_users_taste(
        personalize: Any, runtime: Any, s3: Any, bucket: str) -> None:
    data = planted_interactions(seed=9)
    flow = build_group(personalize, s3, bucket, data)
    old, newest = min(data.timestamps) - 200 * 86400, max(data.timestamps)
    rows = [f"{i},c{c},{old}" for i, c in sorted(data.cluster_of_item.items())]
    rows += [f"{i},c{c},{newest}" for i, c in NEW]
    import_items(personalize, s3, bucket, flow.group_arn,
                 "ITEM_ID,GENRE,CREATION_TIMESTAMP\n" + "\n".join(rows) + "\n")
    _, version = train(personalize, flow.group_arn, "aws-hrnn-coldstart")
    campaign = deploy(personalize, version)
    genre = dict(NEW)
    for user in ("u1", "u2", "u3"):
        recs = [r["itemId"] for r in runtime.get_recommendations(
            campaignArn=campaign, userId=user, numResults=10)["itemList"]]
        assert len(recs) == 10 and all(i in genre for i in recs)
        taste = data.cluster_of_user[user]
        assert sum(genre[i] == taste for i in recs) >= 8
    unknown = runtime.get_recommendations(campaignArn=campaign, userId="stranger")["itemList"]
    assert unknown and all(r["itemId"] in genre for r in unknown)


def test_coldstart_needs_enough_cold_items(personalize: Any, s3: Any, bucket: str) -> None:
    data = planted_interactions(seed=10)
    flow = build_group(personalize, s3, bucket, data)
    old = min(data.timestamps) - 200 * 86400
    import_items(personalize, s3, bucket, flow.group_arn, "ITEM_ID,GENRE,CREATION_TIMESTAMP\n"
                 + "\n".join(f"{i},c{c},{old}" for i, c in data.cluster_of_item.items()))
    solution = personalize.create_solution(
        name=unique("cold"), datasetGroupArn=flow.group_arn,
        recipeArn="arn:aws:personalize:::recipe/aws-hrnn-coldstart")["solutionArn"]
    wait(lambda: personalize.describe_solution(solutionArn=solution)["solution"])
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    res = wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=version)["solutionVersion"])
    assert res["status"] == "CREATE FAILED"
    assert "100 to 80,000 cold items" in res["failureReason"]
