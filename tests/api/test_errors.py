"""Every operation's errors: not found, already exists, in use, bad input — never a 500."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests import synthetic
from tests.conftest import (
    JSON11,
    ROLE,
    Workflow,
    build_group,
    call_app,
    create_interactions_dataset,
    deploy,
    drain_app,
    sign,
    train,
    unique,
    wait,
)

ACCOUNT = "arn:aws:personalize:us-east-1:123456789012"


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def raw_post(tailor: Any, body: bytes, headers: dict[str, str], path: str = "/",
             ) -> tuple[int, dict[str, Any]]:
    """A signed POST below boto3 (bodies and headers boto3 would not send)."""
    url = tailor.env["AWS_ENDPOINT_URL_PERSONALIZE"] + path
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers=sign(tailor.env, "POST", url, body, headers))
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_unknown_operation_and_bad_json(tailor: Any) -> None:
    json11 = {"Content-Type": "application/x-amz-json-1.1"}
    status, body = raw_post(tailor, b"{}", {**json11, "X-Amz-Target": "AmazonPersonalize.Nope"})
    assert status == 400 and body["__type"] == "UnknownOperationException"
    status, body = raw_post(tailor, b"{not json", {
        **json11, "X-Amz-Target": "AmazonPersonalize.ListSchemas"})
    assert status == 400 and body["__type"] == "SerializationException"
    status, body = raw_post(tailor, b'{"name": 5}', {
        **json11, "X-Amz-Target": "AmazonPersonalize.CreateDatasetGroup"})
    assert status == 400 and body["__type"] == "InvalidInputException"
    assert "'name'" in body["message"]


def test_model_constraints_are_checked_server_side(personalize: Any) -> None:
    code, msg = error_of(personalize.create_dataset_group, name="bad name!")
    assert code == "InvalidInputException" and "pattern" in msg
    code, msg = error_of(personalize.create_dataset_group, name="x" * 64)
    assert code == "InvalidInputException" and "63" in msg
    code, msg = error_of(personalize.create_dataset_group, name=unique("g"), domain="GAMES")
    assert code == "InvalidInputException" and "ECOMMERCE" in msg
    code, msg = error_of(personalize.describe_campaign, campaignArn="not-an-arn")
    assert code == "InvalidInputException" and "campaignArn" in msg
    code, _ = error_of(personalize.list_schemas, maxResults=101)
    assert code == "InvalidInputException"


def test_a_bad_list_member_is_named(runtime: Any) -> None:
    arn = "arn:aws:personalize:us-east-1:123456789012:campaign/none"
    code, msg = error_of(runtime.get_personalized_ranking, campaignArn=arn, userId="u",
                         inputList=["i1", "x" * 257, "i3"])
    assert code == "InvalidInputException"
    assert "'inputList.2'" in msg and "less than or equal to 256" in msg


def test_dataset_group_errors(personalize: Any, workflow: Workflow) -> None:
    name = workflow.group_arn.rsplit("/", 1)[1]
    assert error_of(personalize.create_dataset_group, name=name)[0] == \
        "ResourceAlreadyExistsException"
    code, msg = error_of(personalize.create_dataset_group, name=unique("g"), roleArn=ROLE)
    assert code == "InvalidInputException" and "kmsKeyArn" in msg
    missing = f"{ACCOUNT}:dataset-group/{unique('none')}"
    assert error_of(personalize.describe_dataset_group, datasetGroupArn=missing)[0] == \
        "ResourceNotFoundException"
    assert error_of(personalize.delete_dataset_group, datasetGroupArn=missing)[0] == \
        "ResourceNotFoundException"
    code, msg = error_of(personalize.delete_dataset_group, datasetGroupArn=workflow.group_arn)
    assert code == "ResourceInUseException" and "dataset" in msg


def test_dataset_group_delete_lifecycle(personalize: Any) -> None:
    group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    personalize.delete_dataset_group(datasetGroupArn=group)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"],
             done=set())


@pytest.mark.parametrize("schema, rule", [
    ("{not json", "not valid JSON"),
    (json.dumps({"type": "record", "name": "Interactions", "fields": [
        {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"}]}),
     "TIMESTAMP"),
    (json.dumps({"type": "record", "name": "Movies", "fields": []}), "datasetType"),
    (json.dumps({"type": "record", "name": "Items", "fields": [
        {"name": "ITEM_ID", "type": "string"}, {"name": "TAGS", "type": "array"}]}),
     "not supported"),
    (json.dumps({"type": "record", "name": "Users", "fields": [
        {"name": "USER_ID", "type": "string"}]}), "metadata"),
])
def test_schema_rules(personalize: Any, schema: str, rule: str) -> None:
    code, msg = error_of(personalize.create_schema, name=unique("s"), schema=schema)
    assert code == "InvalidInputException" and rule in msg


def test_schema_errors(personalize: Any, workflow: Workflow) -> None:
    dataset = personalize.describe_dataset(datasetArn=workflow.dataset_arn)["dataset"]
    schema = personalize.describe_schema(schemaArn=dataset["schemaArn"])["schema"]
    assert json.loads(schema["schema"])["name"] == "Interactions"
    assert error_of(personalize.create_schema, name=schema["name"],
                    schema=synthetic.INTERACTIONS_SCHEMA)[0] == "ResourceAlreadyExistsException"
    code, msg = error_of(personalize.delete_schema, schemaArn=schema["schemaArn"])
    assert code == "ResourceInUseException" and workflow.dataset_arn in msg


def test_dataset_errors(personalize: Any, workflow: Workflow) -> None:
    schema = personalize.describe_dataset(datasetArn=workflow.dataset_arn)["dataset"]["schemaArn"]
    code, _ = error_of(personalize.create_dataset, name=unique("d"), schemaArn=schema,
                       datasetGroupArn=workflow.group_arn, datasetType="Interactions")
    assert code == "ResourceAlreadyExistsException"
    code, msg = error_of(personalize.create_dataset, name=unique("d"), schemaArn=schema,
                         datasetGroupArn=workflow.group_arn, datasetType="Items")
    assert code == "InvalidInputException" and "Items" in msg
    code, _ = error_of(personalize.create_dataset, name=unique("d"), schemaArn=schema,
                       datasetGroupArn=f"{ACCOUNT}:dataset-group/{unique('none')}",
                       datasetType="Interactions")
    assert code == "ResourceNotFoundException"
    listed = personalize.list_datasets(datasetGroupArn=workflow.group_arn)["datasets"]
    assert [d["datasetArn"] for d in listed] == [workflow.dataset_arn]
    assert listed[0]["datasetType"] == "Interactions"


def _import(personalize: Any, dataset: str, location: str, **kw: Any) -> dict[str, Any]:
    job = personalize.create_dataset_import_job(
        jobName=unique("imp"), datasetArn=dataset, dataSource={"dataLocation": location},
        roleArn=ROLE, **kw)["datasetImportJobArn"]
    return wait(lambda: personalize.describe_dataset_import_job(
        datasetImportJobArn=job)["datasetImportJob"])


@pytest.fixture(scope="module")
def empty_dataset(personalize: Any) -> str:
    return create_interactions_dataset(personalize)[1]


def test_import_job_input_errors(personalize: Any, empty_dataset: str, bucket: str) -> None:
    code, msg = error_of(personalize.create_dataset_import_job, jobName=unique("imp"),
                         datasetArn=empty_dataset, importMode="INCREMENTAL",
                         dataSource={"dataLocation": f"s3://{bucket}/x.csv"}, roleArn=ROLE)
    assert code == "InvalidInputException" and "FULL" in msg
    code, _ = error_of(personalize.create_dataset_import_job, jobName=unique("imp"),
                       datasetArn=empty_dataset, dataSource={"dataLocation": "ftp://x/y.csv"},
                       roleArn=ROLE)
    assert code == "InvalidInputException"


@pytest.mark.parametrize("body, reason", [
    ("USER_ID,ITEM_ID\nu1,i1\n", "missing the following columns: ['TIMESTAMP'"),
    (",USER_ID,ITEM_ID,COLOR\n0,u1,i1,red\n", "missing the following columns: ['TIMESTAMP'"),
    ("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n" + "u1,i1,1700000000,click\n" * 999
     + "u2,i2,yesterday,click\nu3,i3,1700000000000,click\n",
     "2 invalid row(s)"),
    ("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n" + "u1,i1,1700000000,click\n" * 10,
     "at least 1000 rows"),
])
def test_bad_files_fail_the_import_with_a_reason(personalize: Any, s3: Any, bucket: str,
                                                  empty_dataset: str, body: str,
                                                  reason: str) -> None:
    key = f"{unique('bad')}.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    job = _import(personalize, empty_dataset, f"s3://{bucket}/{key}")
    assert job["status"] == "CREATE FAILED"
    assert reason in job["failureReason"]


def test_bad_rows_are_located(personalize: Any, s3: Any, bucket: str,
                              empty_dataset: str) -> None:
    rows = "u1,i1,1700000000,click\n" * 1000 + "u2,i2,yesterday,click\n"
    key = f"{unique('bad')}.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=f"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n{rows}")
    reason = _import(personalize, empty_dataset, f"s3://{bucket}/{key}")["failureReason"]
    assert "row 1001: TIMESTAMP must be an integer, got 'yesterday'" in reason


def test_missing_s3_objects(personalize: Any, bucket: str, empty_dataset: str) -> None:
    job = _import(personalize, empty_dataset, f"s3://{bucket}/{unique('none')}.csv")
    assert job["status"] == "CREATE FAILED" and "does not exist" in job["failureReason"]
    job = _import(personalize, empty_dataset, f"s3://{unique('nobucket')}/x.csv")
    assert job["status"] == "CREATE FAILED" and "does not exist" in job["failureReason"]
    job = _import(personalize, empty_dataset, f"s3://{bucket}/{unique('empty')}/")
    assert job["status"] == "CREATE FAILED" and "no .csv files" in job["failureReason"]


def test_solution_errors(personalize: Any, workflow: Workflow) -> None:
    recipe = "arn:aws:personalize:::recipe/aws-user-personalization"
    group = workflow.group_arn
    code, _ = error_of(personalize.create_solution, name=unique("sol"), datasetGroupArn=group,
                       recipeArn=recipe, performAutoML=True)
    assert code == "InvalidInputException"
    code, _ = error_of(personalize.create_solution, name=unique("sol"), datasetGroupArn=group)
    assert code == "InvalidInputException"
    code, _ = error_of(personalize.create_solution, name=unique("sol"), datasetGroupArn=group,
                       recipeArn="arn:aws:personalize:::recipe/aws-nonexistent")
    assert code == "ResourceNotFoundException"
    code, msg = error_of(personalize.create_solution, name=unique("sol"), datasetGroupArn=group,
                         recipeArn="arn:aws:personalize:::recipe/aws-vod-top-picks")
    assert code == "InvalidInputException" and "CreateRecommender" in msg
    code, msg = error_of(personalize.create_solution, name=unique("sol"), datasetGroupArn=group,
                         recipeArn=recipe, solutionConfig={
                             "algorithmHyperParameters": {"hidden_dimension": "999"}})
    assert code == "InvalidInputException" and "hidden_dimension" in msg
    code, msg = error_of(personalize.create_solution, name=unique("sol"), datasetGroupArn=group,
                         recipeArn=recipe, solutionConfig={
                             "algorithmHyperParameters": {"no_such_param": "1"}})
    assert code == "InvalidInputException" and "no_such_param" in msg


@pytest.fixture(scope="module")
def sims(personalize: Any, workflow: Workflow) -> tuple[str, str]:
    return train(personalize, workflow.group_arn, "aws-sims")


def test_solution_version_errors(personalize: Any, sims: tuple[str, str]) -> None:
    solution, version = sims
    code, msg = error_of(personalize.create_solution_version, solutionArn=solution,
                         trainingMode="UPDATE")
    assert code == "InvalidInputException" and "UPDATE" in msg
    missing = f"{solution}/deadbeef"
    assert error_of(personalize.describe_solution_version, solutionVersionArn=missing)[0] == \
        "ResourceNotFoundException"
    assert error_of(personalize.get_solution_metrics, solutionVersionArn=missing)[0] == \
        "ResourceNotFoundException"
    code, _ = error_of(personalize.stop_solution_version_creation, solutionVersionArn=version)
    assert code == "ResourceInUseException"
    assert error_of(personalize.list_solution_versions,
                    solutionArn=f"{ACCOUNT}:solution/{unique('none')}")[0] == \
        "ResourceNotFoundException"
    listed = personalize.list_solution_versions(solutionArn=solution)["solutionVersions"]
    assert [v["solutionVersionArn"] for v in listed] == [version]


@pytest.mark.parametrize("solution_kw, reason", [
    ({"eventType": "purchase"}, "fewer than 1000 interactions after filtering"),
    ({"solutionConfig": {"eventsConfig": {"eventParametersList": [
        {"eventType": "purchase", "weight": 1.0}]}}},
     "fewer than 1000 interactions after filtering"),
    ({"solutionConfig": {"eventValueThreshold": "0.5"}}, "no EVENT_VALUE column"),
    ({"recipeArn": "arn:aws:personalize:::recipe/aws-semantic-similarity"}, "no Items data"),
    ({"recipeArn": "arn:aws:personalize:::recipe/aws-hrnn-coldstart"}, "needs an Items dataset"),
])
def test_training_failures_have_reasons(personalize: Any, workflow: Workflow,
                                        solution_kw: dict[str, Any], reason: str) -> None:
    kw = {"recipeArn": "arn:aws:personalize:::recipe/aws-user-personalization", **solution_kw}
    sol = personalize.create_solution(name=unique("sol"), datasetGroupArn=workflow.group_arn,
                                      **kw)["solutionArn"]
    wait(lambda: personalize.describe_solution(solutionArn=sol)["solution"])
    arn = personalize.create_solution_version(solutionArn=sol)["solutionVersionArn"]
    version = wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=arn)["solutionVersion"])
    assert version["status"] == "CREATE FAILED" and reason in version["failureReason"]
    code, _ = error_of(personalize.get_solution_metrics, solutionVersionArn=arn)
    assert code == "ResourceInUseException"


def test_too_few_users(personalize: Any, s3: Any, bucket: str) -> None:
    data = synthetic.planted_interactions(n_users=20, n_items=800, per_user=120, seed=3)
    flow = build_group(personalize, s3, bucket, data)
    sol = personalize.create_solution(
        name=unique("sol"), datasetGroupArn=flow.group_arn,
        recipeArn="arn:aws:personalize:::recipe/aws-popularity-count")["solutionArn"]
    wait(lambda: personalize.describe_solution(solutionArn=sol)["solution"])
    arn = personalize.create_solution_version(solutionArn=sol)["solutionVersionArn"]
    version = wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=arn)["solutionVersion"])
    assert "fewer than 25 users with at least 2 interactions" in version["failureReason"]


def test_campaign_errors(personalize: Any, sims: tuple[str, str]) -> None:
    solution, version = sims
    code, msg = error_of(personalize.create_campaign, name=unique("c"), solutionVersionArn=version,
                         campaignConfig={"itemExplorationConfig": {"explorationWeight": "0.5"}})
    assert code == "InvalidInputException" and "User-Personalization" in msg
    code, _ = error_of(personalize.create_campaign, name=unique("c"),
                       solutionVersionArn=f"{solution}/deadbeef")
    assert code == "ResourceNotFoundException"
    campaign = deploy(personalize, f"{solution}/$LATEST")
    name = campaign.rsplit("/", 1)[1]
    assert error_of(personalize.create_campaign, name=name, solutionVersionArn=version)[0] == \
        "ResourceAlreadyExistsException"
    code, msg = error_of(personalize.delete_solution, solutionArn=solution)
    assert code == "ResourceInUseException" and campaign in msg
    assert personalize.list_campaigns(solutionArn=solution)["campaigns"][0]["campaignArn"] == \
        campaign
    personalize.delete_campaign(campaignArn=campaign)
    code, _ = error_of(personalize.delete_campaign, campaignArn=campaign)
    assert code in ("ResourceInUseException", "ResourceNotFoundException")


def test_pagination(personalize: Any) -> None:
    made = {personalize.create_schema(name=unique("page"),
                                      schema=synthetic.INTERACTIONS_SCHEMA)["schemaArn"]
            for _ in range(7)}
    seen, token, pages = [], None, 0
    while True:
        kw = {"maxResults": 3, **({"nextToken": token} if token else {})}
        resp = personalize.list_schemas(**kw)
        assert len(resp["schemas"]) <= 3
        seen += [s["schemaArn"] for s in resp["schemas"]]
        pages += 1
        token = resp.get("nextToken")
        if not token:
            break
    assert made <= set(seen) and len(seen) == len(set(seen)) and pages >= 3
    paged = [s["schemaArn"] for page in personalize.get_paginator("list_schemas").paginate(
        PaginationConfig={"PageSize": 2}) for s in page["schemas"]]
    assert paged == seen
    first = personalize.list_schemas(maxResults=1)
    assert error_of(personalize.list_schemas, nextToken="garbage")[0] == \
        "InvalidNextTokenException"
    assert error_of(personalize.list_dataset_groups, nextToken=first["nextToken"])[0] == \
        "InvalidNextTokenException"


def test_tags(personalize: Any, workflow: Workflow) -> None:
    group = personalize.create_dataset_group(
        name=unique("g"), tags=[{"tagKey": "env", "tagValue": "dev"}])["datasetGroupArn"]
    assert personalize.list_tags_for_resource(resourceArn=group)["tags"] == \
        [{"tagKey": "env", "tagValue": "dev"}]
    personalize.tag_resource(resourceArn=group, tags=[{"tagKey": "team", "tagValue": "ml"},
                                                      {"tagKey": "env", "tagValue": "prod"}])
    tags = {t["tagKey"]: t["tagValue"] for t in
            personalize.list_tags_for_resource(resourceArn=group)["tags"]}
    assert tags == {"env": "prod", "team": "ml"}
    personalize.untag_resource(resourceArn=group, tagKeys=["team", "missing"])
    assert [t["tagKey"] for t in personalize.list_tags_for_resource(resourceArn=group)["tags"]] \
        == ["env"]
    many = [{"tagKey": f"k{i}", "tagValue": "v"} for i in range(50)]
    assert error_of(personalize.tag_resource, resourceArn=group, tags=many)[0] == \
        "TooManyTagsException"
    code, msg = error_of(personalize.tag_resource, resourceArn=group,
                         tags=[{"tagKey": "aws:x", "tagValue": "v"}])
    assert code == "InvalidInputException" and "aws:" in msg
    assert error_of(personalize.tag_resource,
                    resourceArn="arn:aws:personalize:::recipe/aws-sims",
                    tags=[{"tagKey": "a", "tagValue": "b"}])[0] == "InvalidInputException"
    assert error_of(personalize.list_tags_for_resource,
                    resourceArn=f"{ACCOUNT}:campaign/{unique('none')}")[0] == \
        "ResourceNotFoundException"


def test_recipes(personalize: Any) -> None:
    recipes = [r["name"] for r in personalize.list_recipes()["recipes"]]
    assert {"aws-user-personalization", "aws-sims", "aws-popularity-count",
            "aws-personalized-ranking", "aws-vod-top-picks"} <= set(recipes)
    vod = [r["name"] for r in personalize.list_recipes(domain="VIDEO_ON_DEMAND")["recipes"]]
    assert vod and all(n.startswith("aws-vod-") for n in vod)
    recipe = personalize.describe_recipe(
        recipeArn="arn:aws:personalize:::recipe/aws-sims")["recipe"]
    assert recipe["recipeType"] == "RELATED_ITEMS"
    algorithm = personalize.describe_algorithm(algorithmArn=recipe["algorithmArn"])["algorithm"]
    assert algorithm["defaultHyperParameters"]["min_cointeraction_count"] == "3"
    assert error_of(personalize.describe_recipe,
                    recipeArn="arn:aws:personalize:::recipe/aws-nope")[0] == \
        "ResourceNotFoundException"


def test_events_config_weights_train(personalize: Any, workflow: Workflow) -> None:
    _, version = train(personalize, workflow.group_arn, "aws-user-personalization",
                       solutionConfig={"eventsConfig": {"eventParametersList": [
                           {"eventType": "CLICK", "weight": 0.5}]}})
    described = personalize.describe_solution_version(solutionVersionArn=version)
    assert described["solutionVersion"]["solutionConfig"]["eventsConfig"][
        "eventParametersList"][0]["weight"] == 0.5


def test_legacy_recipes_can_be_refused(app_client: Any, monkeypatch: pytest.MonkeyPatch,
                                       ) -> None:
    from chalicelib import config
    from chalicelib.state.context import context

    group = call_app(app_client, "CreateDatasetGroup", name="legacy")["datasetGroupArn"]
    drain_app(app_client)
    hrnn = "arn:aws:personalize:::recipe/aws-hrnn"
    call_app(app_client, "CreateSolution", name="accepted", datasetGroupArn=group,
             recipeArn=hrnn)
    monkeypatch.setenv("TAILOR_LEGACY_RECIPES", "0")
    config.settings.cache_clear()
    context.cache_clear()
    resp = app_client.http.post("/", body=json.dumps(
        {"name": "refused", "datasetGroupArn": group, "recipeArn": hrnn}), headers={
        "Content-Type": JSON11, "X-Amz-Target": "AmazonPersonalize.CreateSolution"})
    body = json.loads(resp.body)
    assert resp.status_code == 400 and body["__type"] == "InvalidInputException"
    assert "legacy" in body["message"]
