"""performHPO: ranges validated at CreateSolution, a real search at training."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Workflow, unique, wait

SIMS = "arn:aws:personalize:::recipe/aws-sims"


def hpo_solution(personalize: Any, group: str, ranges: dict[str, Any], jobs: str = "6",
                 recipe: str = SIMS) -> str:
    return personalize.create_solution(
        name=unique("hpo"), datasetGroupArn=group, recipeArn=recipe, performHPO=True,
        solutionConfig={"hpoConfig": {
            "hpoObjective": {"type": "Maximize",
                             "metricName": "normalized_discounted_cumulative_gain_at_10"},
            "hpoResourceConfig": {"maxNumberOfTrainingJobs": jobs},
            "algorithmHyperParameterRanges": ranges}})["solutionArn"]


def test_hpo_search_reports_tuned_params(personalize: Any, workflow: Workflow) -> None:
    solution = hpo_solution(personalize, workflow.group_arn, {
        "continuousHyperParameterRanges": [
            {"name": "popularity_discount_factor", "minValue": 0.1, "maxValue": 0.9}],
        "integerHyperParameterRanges": [
            {"name": "min_cointeraction_count", "minValue": 1, "maxValue": 4}]})
    wait(lambda: personalize.describe_solution(solutionArn=solution)["solution"])
    arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    version = wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=arn)["solutionVersion"], timeout=120)
    assert version["status"] == "ACTIVE", version.get("failureReason")
    tuned = version["tunedHPOParams"]["algorithmHyperParameters"]
    assert set(tuned) == {"popularity_discount_factor", "min_cointeraction_count"}
    assert 0.1 <= float(tuned["popularity_discount_factor"]) <= 0.9
    assert 1 <= int(tuned["min_cointeraction_count"]) <= 4
    assert version["performHPO"] is True
    assert personalize.get_solution_metrics(solutionVersionArn=arn)["metrics"]


@pytest.mark.parametrize("ranges, jobs, message", [
    ({"integerHyperParameterRanges": [{"name": "min_cointeraction_count", "minValue": 0,
                                       "maxValue": 50}]}, "5", "within"),
    ({"continuousHyperParameterRanges": [{"name": "no_such", "minValue": 0,
                                          "maxValue": 1}]}, "5", "not a tunable"),
    ({"integerHyperParameterRanges": [{"name": "popularity_discount_factor", "minValue": 0,
                                       "maxValue": 1}]}, "5", "continuous"),
    ({}, "41", "maxNumberOfTrainingJobs"),
])
def test_hpo_config_errors(personalize: Any, workflow: Workflow, ranges: dict[str, Any],
                           jobs: str, message: str) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException, match=message):
        hpo_solution(personalize, workflow.group_arn, ranges, jobs)


def test_ranges_need_perform_hpo(personalize: Any, workflow: Workflow) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException, match="performHPO"):
        personalize.create_solution(
            name=unique("hpo"), datasetGroupArn=workflow.group_arn, recipeArn=SIMS,
            solutionConfig={"hpoConfig": {"algorithmHyperParameterRanges": {
                "integerHyperParameterRanges": [
                    {"name": "min_cointeraction_count", "minValue": 1, "maxValue": 2}]}}})


def test_automl_picks_the_better_recipe(personalize: Any, workflow: Workflow) -> None:
    up = "arn:aws:personalize:::recipe/aws-user-personalization"
    pop = "arn:aws:personalize:::recipe/aws-popularity-count"
    solution = personalize.create_solution(
        name=unique("automl"), datasetGroupArn=workflow.group_arn, performAutoML=True,
        solutionConfig={"autoMLConfig": {"metricName": "precision_at_25",
                                         "recipeList": [pop, up]}})["solutionArn"]
    wait(lambda: personalize.describe_solution(solutionArn=solution)["solution"])
    arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    version = wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=arn)["solutionVersion"], timeout=120)
    assert version["status"] == "ACTIVE" and version["recipeArn"] == up
    described = personalize.describe_solution(solutionArn=solution)["solution"]
    assert described["performAutoML"] is True
    assert described["autoMLResult"]["bestRecipeArn"] == up
    with pytest.raises(personalize.exceptions.InvalidInputException, match="recipeList"):
        personalize.create_solution(
            name=unique("automl"), datasetGroupArn=workflow.group_arn, performAutoML=True,
            solutionConfig={"autoMLConfig": {"recipeList": [SIMS]}})
