"""aws-similar-items and aws-semantic-similarity through boto3: cold items answered from
their metadata, unknown items from popularity, metrics, and what semantic needs."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import numpy as np
import pytest

from tests import synthetic
from tests.conftest import (
    Workflow,
    build_group,
    create_dataset,
    deploy,
    import_csv,
    schema_json,
    train,
    unique,
    wait,
)

N_CLUSTERS = 8
METRICS = {"coverage", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_5",
           "normalized_discounted_cumulative_gain_at_10",
           "normalized_discounted_cumulative_gain_at_25", "precision_at_5", "precision_at_10",
           "precision_at_25"}


def items_schema(*fields: dict[str, Any]) -> str:
    return schema_json("Items", {"name": "ITEM_ID", "type": "string"}, *fields)


GENRES = {"name": "GENRES", "type": ["null", "string"], "categorical": True}
DESCRIPTION = {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True}
PRICE = {"name": "PRICE", "type": ["null", "double"]}


def describe(cluster: int, rng: np.random.Generator) -> str:
    """Four of the cluster's ten words among words every item uses."""
    words = [f"w{cluster}x{k}" for k in rng.choice(10, 4, replace=False)]
    return " ".join([*words, "great", "value", "item"])


def items_csv(data: synthetic.Interactions) -> str:
    """GENRES (the cluster and a random tag), DESCRIPTION and a random PRICE for every
    interacted item, and for two cold items per cluster ("new<c>a", "new<c>b": no
    interactions, the same metadata)."""
    rng = np.random.default_rng(3)
    rows = [(item, c, f"tag{rng.integers(0, 3)}", describe(c, rng))
            for item, c in sorted(data.cluster_of_item.items())]
    for c in range(N_CLUSTERS):
        tag, text = f"tag{rng.integers(0, 3)}", describe(c, rng)
        rows += [(f"new{c}a", c, tag, text), (f"new{c}b", c, tag, text)]
    prices = rng.uniform(1, 50, len(rows))
    out = io.StringIO()
    out.write("ITEM_ID,GENRES,DESCRIPTION,PRICE\n")
    for (item, c, tag, text), price in zip(rows, prices, strict=True):
        out.write(f"{item},g{c}|{tag},{text},{price:.2f}\n")
    return out.getvalue()


def add_items(personalize: Any, s3: Any, bucket: str, group: str, schema: str,
              body: str) -> str:
    """An Items dataset in ``group`` with ``body`` imported; returns its ARN."""
    dataset = create_dataset(personalize, group, "Items", schema)
    import_csv(personalize, s3, bucket, dataset, body)
    return dataset


COLD = {f"new{c}{x}": c for c in range(N_CLUSTERS) for x in "ab"}


@pytest.fixture(scope="module")
def catalogue(personalize: Any, s3: Any, bucket: str) -> Workflow:
    """120 users x 96 items in 8 taste clusters, plus Items metadata for them and for two
    cold items per cluster: 112 items."""
    data = synthetic.planted_interactions(n_users=120, n_items=96, n_clusters=N_CLUSTERS,
                                          per_user=20, seed=5)
    flow = build_group(personalize, s3, bucket, data)
    add_items(personalize, s3, bucket, flow.group_arn, items_schema(GENRES, DESCRIPTION, PRICE),
              items_csv(data))
    return flow


@pytest.fixture(scope="module")
def campaigns(personalize: Any, catalogue: Workflow) -> dict[str, tuple[str, str]]:
    """Recipe -> (version, campaign)."""
    out = {}
    for recipe in ("aws-similar-items", "aws-semantic-similarity"):
        _, version = train(personalize, catalogue.group_arn, recipe)
        out[recipe] = (version, deploy(personalize, version))
    return out


def cluster_of(item: str, data: synthetic.Interactions) -> int:
    return COLD[item] if item in COLD else data.cluster_of_item[item]


@pytest.mark.parametrize("recipe", ["aws-similar-items", "aws-semantic-similarity"])
def test_cold_item_gets_neighbours_from_its_cluster(
        runtime: Any, catalogue: Workflow, campaigns: dict[str, tuple[str, str]],
        recipe: str) -> None:
    for cold, cluster in COLD.items():
        items = runtime.get_recommendations(campaignArn=campaigns[recipe][1], itemId=cold,
                                            numResults=10)["itemList"]
        assert len(items) == 10 and all("score" not in i for i in items)
        same = sum(cluster_of(i["itemId"], catalogue.data) == cluster for i in items)
        assert same >= 9, (recipe, cold, items)
        # the cold item with the same metadata is the nearest neighbour
        assert items[0]["itemId"] == cold[:-1] + ("b" if cold.endswith("a") else "a")


@pytest.mark.parametrize("recipe", ["aws-similar-items", "aws-semantic-similarity"])
def test_unknown_item_gets_popular_items(runtime: Any, catalogue: Workflow,
                                         campaigns: dict[str, tuple[str, str]],
                                         recipe: str) -> None:
    data = catalogue.data
    popularity = Counter(item for _, item in set(zip(data.users, data.items, strict=True)))
    items = runtime.get_recommendations(campaignArn=campaigns[recipe][1], itemId="nope",
                                        numResults=5)["itemList"]
    counts = [popularity[i["itemId"]] for i in items]
    assert counts == sorted(popularity.values(), reverse=True)[:5]


@pytest.mark.parametrize("recipe", ["aws-similar-items", "aws-semantic-similarity"])
def test_exactly_num_results_without_the_query_item(
        runtime: Any, campaigns: dict[str, tuple[str, str]], recipe: str) -> None:
    for item in ("i3", "new3a"):
        for n in (1, 25, 111):
            items = runtime.get_recommendations(campaignArn=campaigns[recipe][1],
                                                itemId=item, numResults=n)["itemList"]
            ids = [i["itemId"] for i in items]
            assert len(ids) == len(set(ids)) == n and item not in ids
        assert len(runtime.get_recommendations(campaignArn=campaigns[recipe][1], itemId=item,
                                               numResults=500)["itemList"]) == 111


@pytest.mark.parametrize("recipe", ["aws-similar-items", "aws-semantic-similarity"])
def test_metrics_keys_and_range(personalize: Any, campaigns: dict[str, tuple[str, str]],
                                recipe: str) -> None:
    metrics = personalize.get_solution_metrics(
        solutionVersionArn=campaigns[recipe][0])["metrics"]
    assert set(metrics) == METRICS
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert metrics["normalized_discounted_cumulative_gain_at_10"] > 0.0


def test_similar_items_without_items_dataset(personalize: Any, runtime: Any,
                                             workflow: Workflow) -> None:
    """Co-occurrence only: neighbours of a warm item come from its cluster."""
    _, version = train(personalize, workflow.group_arn, "aws-similar-items")
    campaign = deploy(personalize, version)
    items = runtime.get_recommendations(campaignArn=campaign, itemId="i0",
                                        numResults=10)["itemList"]
    clusters = workflow.data.cluster_of_item
    assert sum(clusters[i["itemId"]] == clusters["i0"] for i in items) >= 8


def test_similar_items__hpo_tunes_both_hidden_dims(personalize: Any,
                                                  catalogue: Workflow) -> None:
    ranges = [{"name": name, "minValue": 30, "maxValue": 200}
              for name in ("item_id_hidden_dim", "item_metadata_hidden_dim")]
    solution = personalize.create_solution(
        name=unique("hpo"), datasetGroupArn=catalogue.group_arn, performHPO=True,
        recipeArn="arn:aws:personalize:::recipe/aws-similar-items",
        solutionConfig={"hpoConfig": {
            "hpoResourceConfig": {"maxNumberOfTrainingJobs": "3"},
            "algorithmHyperParameterRanges": {"integerHyperParameterRanges": ranges}}},
    )["solutionArn"]
    wait(lambda: personalize.describe_solution(solutionArn=solution)["solution"])
    arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    version = wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=arn)["solutionVersion"])
    assert version["status"] == "ACTIVE", version.get("failureReason")
    tuned = version["tunedHPOParams"]["algorithmHyperParameters"]
    assert set(tuned) == {"item_id_hidden_dim", "item_metadata_hidden_dim"}
    assert all(30 <= int(v) <= 200 for v in tuned.values())


def failed_version(personalize: Any, group: str, recipe: str) -> dict[str, Any]:
    solution = personalize.create_solution(
        name=unique("sol"), datasetGroupArn=group,
        recipeArn=f"arn:aws:personalize:::recipe/{recipe}")["solutionArn"]
    wait(lambda: personalize.describe_solution(solutionArn=solution)["solution"])
    arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    return wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=arn)["solutionVersion"])


def test_semantic_similarity__items_without_textual_field(
        personalize: Any, s3: Any, bucket: str) -> None:
    group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    add_items(personalize, s3, bucket, group, items_schema(GENRES, PRICE),
              "ITEM_ID,GENRES,PRICE\ni1,rock,1.5\ni2,jazz,2\n")
    res = failed_version(personalize, group, "aws-semantic-similarity")
    assert res["status"] == "CREATE FAILED"
    assert "textual field" in res["failureReason"] and "(GENRES, PRICE)" in res["failureReason"]


def test_semantic_similarity__no_items_dataset(personalize: Any) -> None:
    group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    res = failed_version(personalize, group, "aws-semantic-similarity")
    assert res["status"] == "CREATE FAILED"
    assert "Items dataset" in res["failureReason"]
