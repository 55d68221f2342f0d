"""Tearing a dataset group down in the order the service requires, as cleanup scripts do."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests import synthetic
from tests.conftest import build_group, deploy, train, unique, wait


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
