"""USER_SEGMENTATION recipes (aws-item-affinity, aws-item-attribute-affinity): training,
their two metrics, the Items requirement, and what they refuse (HPO, campaigns)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from chalicelib.algorithms import ItemAffinity, match_items, segment_size
from chalicelib.runtime.artifacts import Artifact
from tests import synthetic
from tests.conftest import (
    ROLE,
    Tailor,
    Workflow,
    build_group,
    create_dataset,
    import_csv,
    schema_json,
    train,
    unique,
    wait,
)

RECIPES = ("aws-item-affinity", "aws-item-attribute-affinity")
SEGMENT_METRICS = {"hits_at_1_percent", "recall_at_1_percent"}


def items_schema(*fields: dict[str, Any]) -> str:
    return schema_json("Items", {"name": "ITEM_ID", "type": "string"}, *fields)


GENRE = {"name": "GENRE", "type": ["null", "string"], "categorical": True}
YEAR = {"name": "YEAR", "type": "int"}
DESCRIPTION = {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True}
CREATED = {"name": "CREATION_TIMESTAMP", "type": "long"}


def add_items(personalize: Any, group: str, schema: str) -> str:
    """An ACTIVE Items dataset in ``group``."""
    return create_dataset(personalize, group, "Items", schema)


def items_csv(data: synthetic.Interactions) -> str:
    """Every item's GENRE is its taste cluster ("g3"); item i1 is missing (no record)."""
    rows = [f"{item},g{cluster},{2000 + cluster},A film about cluster {cluster},1700000000"
            for item, cluster in data.cluster_of_item.items() if item != "i1"]
    return "ITEM_ID,GENRE,YEAR,DESCRIPTION,CREATION_TIMESTAMP\n" + "\n".join(rows) + "\n"


def train_version(personalize: Any, group: str, recipe: str) -> dict[str, Any]:
    """Create a solution and a version; return the version once it stops (any status)."""
    sol = personalize.create_solution(
        name=unique("sol"), datasetGroupArn=group,
        recipeArn=f"arn:aws:personalize:::recipe/{recipe}")["solutionArn"]
    wait(lambda: personalize.describe_solution(solutionArn=sol)["solution"])
    arn = personalize.create_solution_version(solutionArn=sol)["solutionVersionArn"]
    return wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=arn)["solutionVersion"])


@pytest.fixture(scope="module")
def items_group(personalize: Any, s3: Any, bucket: str,
                planted: synthetic.Interactions) -> Workflow:
    """The planted interactions plus an Items dataset (GENRE, YEAR, textual DESCRIPTION)."""
    workflow = build_group(personalize, s3, bucket, planted)
    dataset = add_items(personalize, workflow.group_arn,
                        items_schema(GENRE, YEAR, DESCRIPTION, CREATED))
    import_csv(personalize, s3, bucket, dataset, items_csv(planted), roleArn=ROLE)
    return workflow


@pytest.fixture(scope="module")
def affinity_version(personalize: Any, workflow: Workflow) -> str:
    return train(personalize, workflow.group_arn, "aws-item-affinity")[1]


@pytest.fixture(scope="module")
def attribute_version(personalize: Any, items_group: Workflow) -> str:
    return train(personalize, items_group.group_arn, "aws-item-attribute-affinity")[1]


def check_metrics(personalize: Any, version: str, n_users: int) -> dict[str, float]:
    metrics = personalize.get_solution_metrics(solutionVersionArn=version)["metrics"]
    assert set(metrics) == SEGMENT_METRICS
    # Segments of the top 1 % (4 of 400 users); planted clusters make them mostly right.
    assert 0.3 <= metrics["hits_at_1_percent"] <= segment_size(n_users)
    assert 0.05 <= metrics["recall_at_1_percent"] <= 1.0
    return metrics


def test_item_affinity__trains_with_segment_metrics_only(
        personalize: Any, workflow: Workflow, affinity_version: str) -> None:
    ver = personalize.describe_solution_version(
        solutionVersionArn=affinity_version)["solutionVersion"]
    assert ver["status"] == "ACTIVE"
    assert ver["recipeArn"] == "arn:aws:personalize:::recipe/aws-item-affinity"
    check_metrics(personalize, affinity_version, len(workflow.data.cluster_of_user))


def test_item_attribute_affinity__trains_with_segment_metrics_only(
        personalize: Any, items_group: Workflow, attribute_version: str) -> None:
    check_metrics(personalize, attribute_version, len(items_group.data.cluster_of_user))


def artifact_of(tailor: Tailor, version: str) -> Artifact:
    path = tailor.data_dir / "artifacts" / "models" / f"{version.rsplit(':', 1)[1]}.npz"
    return Artifact.from_bytes(path.read_bytes())


def test_item_attribute_affinity__artifact_holds_what_segment_jobs_need(
        tailor: Tailor, items_group: Workflow, attribute_version: str) -> None:
    artifact = artifact_of(tailor, attribute_version)
    model, extras = artifact.model, artifact.extras
    assert isinstance(model, ItemAffinity)
    # Textual and reserved fields are not attributes; i1 has no Items record.
    assert {k for k in extras if k.startswith("attr")} == {"attr.GENRE", "attr.YEAR",
                                                            "attr_known"}
    known = dict(zip(artifact.item_ids.tolist(), extras["attr_known"].tolist(), strict=True))
    assert not known["i1"] and known["i2"]
    columns = {k.removeprefix("attr."): v for k, v in extras.items() if k.startswith("attr.")}
    data = items_group.data
    for query, cluster in (('ITEMS.GENRE = "g3"', 3), ("ITEMS.year = 2005", 5)):
        mask = match_items(query, columns, extras["attr_known"])
        assert {data.cluster_of_item[i] for i in artifact.item_ids[mask]} == {cluster}
        users, _ = model.users_for_mask(mask, 20)
        mine = [data.cluster_of_user[u] == cluster for u in artifact.user_ids[users]]
        assert sum(mine) >= 18, query
    users, _ = model.users_for_items(np.array([artifact.item_index["i8"]]), 10)
    assert sum(data.cluster_of_user[u] == 0 for u in artifact.user_ids[users[0]]) >= 9


def test_item_attribute_affinity__without_items_dataset_fails(
        personalize: Any, workflow: Workflow) -> None:
    ver = train_version(personalize, workflow.group_arn, "aws-item-attribute-affinity")
    assert ver["status"] == "CREATE FAILED"
    assert "needs an Items dataset" in ver["failureReason"]
    assert "has no Items dataset" in ver["failureReason"]


def test_item_attribute_affinity__only_textual_items_fails(personalize: Any) -> None:
    group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    add_items(personalize, group, items_schema(DESCRIPTION, CREATED))
    ver = train_version(personalize, group, "aws-item-attribute-affinity")
    assert ver["status"] == "CREATE FAILED"
    assert "only textual or reserved fields" in ver["failureReason"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_segmentation__hpo_is_rejected(personalize: Any, workflow: Workflow,
                                       recipe: str) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException, match="performHPO"):
        personalize.create_solution(name=unique("sol"), datasetGroupArn=workflow.group_arn,
                                    recipeArn=f"arn:aws:personalize:::recipe/{recipe}",
                                    performHPO=True)


def test_segmentation__campaign_is_rejected(personalize: Any, affinity_version: str) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException,
                       match="batch segment jobs"):
        personalize.create_campaign(name=unique("c"), solutionVersionArn=affinity_version,
                                    minProvisionedTPS=1)
