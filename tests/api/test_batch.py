"""Batch inference and batch segment jobs through boto3 (spec H, A.12, A.13): every input
format, output lines equal to the real-time answers, per-line errors, job failures, the
create-time validation, Describe/List."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests import synthetic
from tests.api.test_actions import Nba
from tests.api.test_actions import nba as nba_fixture  # noqa: F401 - a fixture
from tests.conftest import (
    JSON11,
    ROLE,
    Tailor,
    Workflow,
    build_group,
    call_app,
    create_dataset,
    deploy,
    drain_app,
    import_csv,
    schema_json,
    train,
    unique,
    wait,
)

ITEMS_SCHEMA = schema_json("Items", {"name": "ITEM_ID", "type": "string"},
                           {"name": "GENRE", "type": ["null", "string"], "categorical": True},
                           {"name": "YEAR", "type": "int"},
                           {"name": "CREATION_TIMESTAMP", "type": "long"})
USERS_SCHEMA = schema_json("Users", {"name": "USER_ID", "type": "string"},
                           {"name": "TIER", "type": "string", "categorical": True})
USERS = ["u0", "u1", "u7", "u42", "u399"]
NEW_ITEMS = [f"new{k}" for k in range(8)]


# -- fixtures and helpers -------------------------------------------------------------------

@pytest.fixture(scope="module")
def flow(personalize: Any, s3: Any, bucket: str) -> Workflow:
    """Planted interactions (400 users, 240 items in 8 taste clusters), and an Items dataset
    whose GENRE is each item's cluster ("g3") and YEAR 2000 + cluster, with 8 new items
    (created at the newest interaction, none of their own) that exploration can show."""
    data = synthetic.planted_interactions(seed=11)
    workflow = build_group(personalize, s3, bucket, data)
    items = create_dataset(personalize, workflow.group_arn, "Items", ITEMS_SCHEMA)
    old, newest = min(data.timestamps) - 200 * 86400, max(data.timestamps)
    rows = [f"{item},g{c},{2000 + c},{old}\n" for item, c in data.cluster_of_item.items()]
    rows += [f"{item},g{k},{2000 + k},{newest}\n" for k, item in enumerate(NEW_ITEMS)]
    import_csv(personalize, s3, bucket, items,
               "ITEM_ID,GENRE,YEAR,CREATION_TIMESTAMP\n" + "".join(rows))
    users = create_dataset(personalize, workflow.group_arn, "Users", USERS_SCHEMA)
    import_csv(personalize, s3, bucket, users, "USER_ID,TIER\n" + "".join(
        f"{u},{tier(u)}\n" for u in data.cluster_of_user))
    return workflow


def tier(user: str) -> str:
    """Users' TIER: gold for even numbers, basic for odd."""
    return "basic" if int(user[1:]) % 2 else "gold"


@pytest.fixture(scope="module")
def versions(personalize: Any, flow: Workflow) -> dict[str, str]:
    """Recipe -> ACTIVE version, trained on first use."""
    class Lazy(dict[str, str]):
        def __missing__(self, recipe: str) -> str:
            self[recipe] = train(personalize, flow.group_arn, recipe)[1]
            return self[recipe]
    return Lazy()


@pytest.fixture(scope="module")
def campaigns(personalize: Any, versions: dict[str, str]) -> dict[str, str]:
    """Recipe -> ACTIVE campaign of its version (no exploration)."""
    class Lazy(dict[str, str]):
        def __missing__(self, recipe: str) -> str:
            self[recipe] = deploy_with(personalize, versions[recipe], recipe)
            return self[recipe]
    return Lazy()


def deploy_with(personalize: Any, version: str, recipe: str) -> str:
    if recipe != "aws-user-personalization":
        return deploy(personalize, version)
    arn = personalize.create_campaign(
        name=unique("c"), solutionVersionArn=version,
        campaignConfig={"itemExplorationConfig": {"explorationWeight": "0"}})["campaignArn"]
    assert wait(lambda: personalize.describe_campaign(
        campaignArn=arn)["campaign"])["status"] == "ACTIVE"
    return arn


def put_input(s3: Any, bucket: str, lines: list[Any], name: str = "in.json",
              folder: str | None = None) -> str:
    """Upload JSON lines (dicts are dumped, strings kept as they are); the object's URL."""
    key = f"{folder or unique('batch-in')}/{name}"
    body = "".join((json.dumps(x) if not isinstance(x, str) else x) + "\n" for x in lines)
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    return f"s3://{bucket}/{key}"


def io(source: str, output: str) -> dict[str, Any]:
    return {"jobInput": {"s3DataSource": {"path": source}},
            "jobOutput": {"s3DataDestination": {"path": output}}, "roleArn": ROLE}


def inference(personalize: Any, version: str, source: str, output: str,
              **params: Any) -> dict[str, Any]:
    arn = personalize.create_batch_inference_job(
        jobName=unique("bi"), solutionVersionArn=version, **io(source, output),
        **params)["batchInferenceJobArn"]
    return wait(lambda: personalize.describe_batch_inference_job(
        batchInferenceJobArn=arn)["batchInferenceJob"])


def segments(personalize: Any, version: str, source: str, output: str,
             **params: Any) -> dict[str, Any]:
    arn = personalize.create_batch_segment_job(
        jobName=unique("bs"), solutionVersionArn=version, **io(source, output),
        **params)["batchSegmentJobArn"]
    return wait(lambda: personalize.describe_batch_segment_job(
        batchSegmentJobArn=arn)["batchSegmentJob"])


def read_out(s3: Any, url: str) -> list[dict[str, Any]]:
    bucket, _, key = url[len("s3://"):].partition("/")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def out_url(bucket: str) -> str:
    return f"s3://{bucket}/{unique('batch-out')}/"


def run_inference(personalize: Any, s3: Any, bucket: str, version: str, lines: list[Any],
                  **params: Any) -> list[dict[str, Any]]:
    """Run a job over ``lines``; the lines of its in.json.out (the job must be ACTIVE)."""
    output = out_url(bucket)
    job = inference(personalize, version, put_input(s3, bucket, lines), output, **params)
    assert job["status"] == "ACTIVE", job
    return read_out(s3, output + "in.json.out")


# -- each format, equal to the real-time answer ---------------------------------------------

def test_user_personalization__lines_equal_get_recommendations(
        personalize: Any, runtime: Any, s3: Any, bucket: str, versions: dict[str, str],
        campaigns: dict[str, str]) -> None:
    recipe = "aws-user-personalization"
    lines = [{"userId": u} for u in [*USERS, "nobody"]]
    out = run_inference(personalize, s3, bucket, versions[recipe], lines, numResults=10,
                        batchInferenceJobConfig={"itemExplorationConfig": {
                            "explorationWeight": "0"}})
    assert [o["input"] for o in out] == lines
    for line, o in zip(lines, out, strict=True):
        want = runtime.get_recommendations(campaignArn=campaigns[recipe], numResults=10,
                                           **line)["itemList"]
        assert o["error"] is None
        assert o["output"]["recommendedItems"] == [i["itemId"] for i in want]
        assert o["output"]["scores"] == pytest.approx([i["score"] for i in want], rel=1e-5)


def test_user_personalization__exploration_config_is_honoured(
        personalize: Any, s3: Any, bucket: str, versions: dict[str, str]) -> None:
    version = versions["aws-user-personalization"]
    lines = [{"userId": u} for u in USERS]

    def lists(**config: str) -> list[list[str]]:
        out = run_inference(personalize, s3, bucket, version, lines, numResults=20,
                            batchInferenceJobConfig={"itemExplorationConfig": config})
        return [o["output"]["recommendedItems"] for o in out]

    assert all(not set(items) & set(NEW_ITEMS) for items in lists(explorationWeight="0"))
    explored = lists(explorationWeight="1", explorationItemAgeCutOff="1")
    assert explored == lists(explorationWeight="1", explorationItemAgeCutOff="1")  # seeded
    # Weight 1: every slot after the first ones goes to a cold item, while they last.
    assert all(len(e) == 20 and set(NEW_ITEMS) <= set(e) for e in explored)


def test_personalized_ranking__lines_equal_get_personalized_ranking(
        personalize: Any, runtime: Any, s3: Any, bucket: str, versions: dict[str, str],
        campaigns: dict[str, str]) -> None:
    recipe = "aws-personalized-ranking"
    lists = [["i3", "i11", "i0", "i8", "i100"], ["i5", "nope", "i5", "i13"], ["i1"]]
    lines = [{"userId": u, "itemList": items} for u in USERS[:3] for items in lists]
    out = run_inference(personalize, s3, bucket, versions[recipe], lines)
    for line, o in zip(lines, out, strict=True):
        want = runtime.get_personalized_ranking(campaignArn=campaigns[recipe],
                                                userId=line["userId"],
                                                inputList=line["itemList"])
        ranked = want["personalizedRanking"]
        assert o["output"]["recommendedItems"] == [i["itemId"] for i in ranked]
        scores = o["output"]["scores"]
        assert [s is None for s in scores] == ["score" not in i for i in ranked]
        assert [s for s in scores if s is not None] == pytest.approx(
            [i["score"] for i in ranked if "score" in i], rel=1e-5)
    unknown = out[1]["output"]
    assert unknown["recommendedItems"][-1] == "nope" and unknown["scores"][-1] is None
    assert sum(unknown["scores"][:-1]) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("recipe", ["aws-sims", "aws-similar-items"])
def test_related_items__lines_equal_get_recommendations(
        personalize: Any, runtime: Any, s3: Any, bucket: str, versions: dict[str, str],
        campaigns: dict[str, str], recipe: str) -> None:
    lines = [{"itemId": i} for i in ("i0", "i7", "i100", "unknown-item")]
    out = run_inference(personalize, s3, bucket, versions[recipe], lines, numResults=15)
    for line, o in zip(lines, out, strict=True):
        want = runtime.get_recommendations(campaignArn=campaigns[recipe], numResults=15,
                                           **line)["itemList"]
        assert o["output"] == {"recommendedItems": [i["itemId"] for i in want]}


def test_popularity__every_line_gets_the_popular_items(
        personalize: Any, runtime: Any, s3: Any, bucket: str, versions: dict[str, str],
        campaigns: dict[str, str]) -> None:
    recipe = "aws-popularity-count"
    out = run_inference(personalize, s3, bucket, versions[recipe],
                        [{"userId": "u1"}, {"userId": "stranger"}, {}], numResults=7)
    want = runtime.get_recommendations(campaignArn=campaigns[recipe], userId="u1",
                                       numResults=7)["itemList"]
    assert [o["output"] for o in out] == [{"recommendedItems": [i["itemId"] for i in want]}] * 3


# -- bad lines, failed jobs ------------------------------------------------------------------

def test_bad_lines_get_their_own_error(personalize: Any, s3: Any, bucket: str,
                                       versions: dict[str, str]) -> None:
    lines = [{"userId": "u1"}, "{not json", "[1, 2]", {"itemId": "i1"}, {},
             {"userId": 5}, "", {"userId": "u2", "filterValues": {"X": 1}},
             {"userId": "u2"}]
    out = run_inference(personalize, s3, bucket, versions["aws-user-personalization"],
                        lines, numResults=3)
    assert len(out) == len(lines) - 1  # the blank line is no record
    errors = [o["error"] for o in out]
    assert errors[0] is None and errors[-1] is None
    assert len(out[0]["output"]["recommendedItems"]) == 3
    assert "not valid JSON" in errors[1] and out[1]["input"] == "{not json"
    assert "must be a JSON object" in errors[2]
    assert "Unknown field(s) ['itemId']" in errors[3]
    assert "Missing userId" in errors[4]
    assert "userId must be a string" in errors[5]
    assert "filterValues" in errors[6]
    assert all(o["output"] is None for o in out[1:-1])


def test_related_items__user_line_is_a_line_error(personalize: Any, s3: Any, bucket: str,
                                                  versions: dict[str, str]) -> None:
    out = run_inference(personalize, s3, bucket, versions["aws-sims"],
                        [{"userId": "u1"}, {"itemId": "i2"}])
    assert "Missing itemId" in out[0]["error"]
    assert out[1]["error"] is None


def test_every_line_wrong__job_fails(personalize: Any, s3: Any, bucket: str,
                                     versions: dict[str, str]) -> None:
    output = out_url(bucket)
    job = inference(personalize, versions["aws-user-personalization"],
                    put_input(s3, bucket, [{"itemId": "i1"}, {"itemId": "i2"}]), output)
    assert job["status"] == "CREATE FAILED"
    assert "No line of the input could be processed" in job["failureReason"]
    assert "line 1: Unknown field(s) ['itemId']" in job["failureReason"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=output[len(
        f"s3://{bucket}/"):])


@pytest.mark.parametrize("path", ["missing/users.json", "missing-folder/"])
def test_missing_input__create_failed(personalize: Any, bucket: str,
                                      versions: dict[str, str], path: str) -> None:
    source = f"s3://{bucket}/{unique('none')}/{path}"
    job = inference(personalize, versions["aws-popularity-count"], source, out_url(bucket))
    assert job["status"] == "CREATE FAILED"
    assert job["failureReason"].startswith("Invalid S3 input path")
    assert source.rstrip("/") in job["failureReason"]


def test_missing_bucket__create_failed(personalize: Any, versions: dict[str, str]) -> None:
    job = inference(personalize, versions["aws-popularity-count"],
                    f"s3://{unique('no-bucket')}/in.json", "s3://nowhere/out/")
    assert job["status"] == "CREATE FAILED"
    assert "Invalid S3 input path" in job["failureReason"]


def test_folder_input__one_out_file_per_input_file(personalize: Any, s3: Any, bucket: str,
                                                   versions: dict[str, str]) -> None:
    folder = unique("batch-in")
    put_input(s3, bucket, [{"itemId": "i1"}], "a.json", folder)
    put_input(s3, bucket, [{"itemId": "i2"}, {"itemId": "i3"}], "b.jsonl", folder)
    put_input(s3, bucket, [{"itemId": "i4"}], "deeper/c.json", folder)
    output = out_url(bucket)
    job = inference(personalize, versions["aws-sims"], f"s3://{bucket}/{folder}", output,
                    numResults=4)
    assert job["status"] == "ACTIVE", job
    prefix = output[len(f"s3://{bucket}/"):]
    keys = sorted(o["Key"][len(prefix):] for o in
                  s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"])
    assert keys == ["a.json.out", "b.jsonl.out", "deeper/c.json.out"]
    b = read_out(s3, output + "b.jsonl.out")
    assert [o["input"]["itemId"] for o in b] == ["i2", "i3"]
    assert all(len(o["output"]["recommendedItems"]) == 4 for o in b)


def test_same_folder_for_input_and_output(personalize: Any, s3: Any, bucket: str,
                                          versions: dict[str, str]) -> None:
    """Allowed (AWS only advises against it); earlier .out files are not read as input."""
    folder = unique("batch-same")
    put_input(s3, bucket, [{"itemId": "i1"}], "a.json", folder)
    url = f"s3://{bucket}/{folder}/"
    for _ in range(2):
        job = inference(personalize, versions["aws-sims"], url, url)
        assert job["status"] == "ACTIVE", job
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=folder)["Contents"]]
    assert sorted(keys) == [f"{folder}/a.json", f"{folder}/a.json.out"]


# -- create-time validation -----------------------------------------------------------------

def error_of(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def create_inference(personalize: Any, bucket: str, version: str, **params: Any,
                     ) -> tuple[str, str]:
    args = {"jobName": unique("bi"), "solutionVersionArn": version,
            **io(f"s3://{bucket}/in.json", f"s3://{bucket}/out/"), **params}
    return error_of(personalize.create_batch_inference_job, **args)


@pytest.mark.parametrize(("params", "code", "text"), [
    ({"numResults": 501}, "InvalidInputException", "numResults must be between 1 and 500"),
    ({"numResults": -1}, "InvalidInputException", "numResults"),
    ({"jobInput": {"s3DataSource": {"path": "https://example.com/in.json"}}},
     "InvalidInputException", "Invalid S3 input path"),
    ({"jobInput": {"s3DataSource": {"path": "s3:///in.json"}}},
     "InvalidInputException", "Invalid S3 input path"),
    ({"jobOutput": {"s3DataDestination": {"path": "http://bucket/out/"}}},
     "InvalidInputException", "Invalid S3 output path"),
    ({"batchInferenceJobMode": "THEME_GENERATION"}, "InvalidInputException",
     "does not implement batchInferenceJobMode THEME_GENERATION"),
    ({"themeGenerationConfig": {"fieldsForThemeGeneration": {"itemName": "TITLE"}}},
     "InvalidInputException", "themeGenerationConfig"),
    ({"batchInferenceJobConfig": {"rankingInfluence": {"POPULARITY": 0.5}}},
     "InvalidInputException", "rankingInfluence"),
    ({"batchInferenceJobConfig": {"itemExplorationConfig": {"explorationWeight": "2"}}},
     "InvalidInputException", "explorationWeight must be a number in [0, 1]"),
    ({"filterArn": "arn:aws:personalize:us-east-1:123456789012:filter/none"},
     "ResourceNotFoundException", "does not exist"),
])
def test_create_batch_inference_job__invalid(personalize: Any, bucket: str,
                                             versions: dict[str, str], params: dict[str, Any],
                                             code: str, text: str) -> None:
    got = create_inference(personalize, bucket, versions["aws-user-personalization"], **params)
    assert got[0] == code and text in got[1], got


def test_create_batch_inference_job__unknown_version(personalize: Any, bucket: str) -> None:
    arn = "arn:aws:personalize:us-east-1:123456789012:solution/none/abc"
    assert create_inference(personalize, bucket, arn)[0] == "ResourceNotFoundException"


@pytest.mark.parametrize(("recipe", "text"), [
    ("aws-trending-now", "Trending-Now has no batch inference"),
    ("aws-item-affinity", "use CreateBatchSegmentJob"),
])
def test_create_batch_inference_job__recipe_without_batch(
        personalize: Any, bucket: str, versions: dict[str, str], recipe: str,
        text: str) -> None:
    code, message = create_inference(personalize, bucket, versions[recipe])
    assert code == "InvalidInputException" and text in message


def test_create_batch_inference_job__next_best_action(personalize: Any, bucket: str,
                                                      nba_fixture: Nba) -> None:  # noqa: F811
    code, message = create_inference(personalize, bucket, nba_fixture.version)
    assert code == "InvalidInputException"
    assert "Next-Best-Action has no batch inference" in message


def test_create_batch_inference_job__exploration_needs_user_personalization(
        personalize: Any, bucket: str, versions: dict[str, str]) -> None:
    code, message = create_inference(
        personalize, bucket, versions["aws-sims"],
        batchInferenceJobConfig={"itemExplorationConfig": {"explorationWeight": "0.5"}})
    assert code == "InvalidInputException"
    assert "batchInferenceJobConfig.itemExplorationConfig only applies" in message


def test_create_batch_inference_job__version_not_active(personalize: Any,
                                                        bucket: str) -> None:
    group = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    solution = personalize.create_solution(
        name=unique("sol"), datasetGroupArn=group,
        recipeArn="arn:aws:personalize:::recipe/aws-sims")["solutionArn"]
    wait(lambda: personalize.describe_solution(solutionArn=solution)["solution"])
    arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    failed = wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=arn)["solutionVersion"])
    assert failed["status"] == "CREATE FAILED"  # no interactions
    code, message = create_inference(personalize, bucket, arn)
    assert code == "ResourceInUseException" and "must be ACTIVE" in message


def test_create_batch_inference_job__name_taken(personalize: Any, bucket: str,
                                                versions: dict[str, str]) -> None:
    name = unique("bi")
    version = versions["aws-popularity-count"]
    personalize.create_batch_inference_job(
        jobName=name, solutionVersionArn=version,
        **io(f"s3://{bucket}/in.json", f"s3://{bucket}/out/"))
    code, _ = create_inference(personalize, bucket, version, jobName=name)
    assert code == "ResourceAlreadyExistsException"


def test_create_batch_segment_job__invalid(personalize: Any, bucket: str,
                                           versions: dict[str, str]) -> None:
    def create(version: str, **params: Any) -> tuple[str, str]:
        return error_of(personalize.create_batch_segment_job, **{
            "jobName": unique("bs"), "solutionVersionArn": version,
            **io(f"s3://{bucket}/in.json", f"s3://{bucket}/out/"), **params})

    code, message = create(versions["aws-user-personalization"])
    assert code == "InvalidInputException" and "use CreateBatchInferenceJob" in message
    affinity = versions["aws-item-affinity"]
    code, message = create(affinity, numResults=5_000_001)
    assert code == "InvalidInputException" and "between 1 and 5000000" in message
    code, message = create(affinity, jobInput={"s3DataSource": {"path": "https://x/i.json"}})
    assert code == "InvalidInputException" and "Invalid S3 input path" in message
    code, _ = create("arn:aws:personalize:us-east-1:123456789012:solution/x/none")
    assert code == "ResourceNotFoundException"


# -- filters ----------------------------------------------------------------------------------

def make_filter(personalize: Any, group: str, expression: str) -> str:
    arn = personalize.create_filter(name=unique("f"), datasetGroupArn=group,
                                    filterExpression=expression)["filterArn"]
    assert wait(lambda: personalize.describe_filter(filterArn=arn)["filter"])["status"] == \
        "ACTIVE"
    return arn


def test_filter_values_per_line(personalize: Any, s3: Any, bucket: str, flow: Workflow,
                                versions: dict[str, str]) -> None:
    arn = make_filter(personalize, flow.group_arn,
                      "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRES)")
    genres = {u: f"g{flow.data.cluster_of_user[u]}" for u in USERS[:3]}
    lines = [{"userId": u, "filterValues": {"GENRES": json.dumps(g)}}
             for u, g in genres.items()]
    lines.append({"userId": "u1", "filterValues": {"GENRES": "not quoted, \"x"}})
    out = run_inference(personalize, s3, bucket, versions["aws-user-personalization"],
                        lines, numResults=10, filterArn=arn)
    cluster = {**flow.data.cluster_of_item, **{item: k for k, item in enumerate(NEW_ITEMS)}}
    for (user, genre), o in zip(genres.items(), out, strict=False):
        items = o["output"]["recommendedItems"]
        assert len(items) == 10 and all(f"g{cluster[i]}" != genre for i in items), user
    assert out[-1]["output"] is None and out[-1]["error"]
    job = personalize.list_batch_inference_jobs(
        solutionVersionArn=versions["aws-user-personalization"])["batchInferenceJobs"][0]
    assert personalize.describe_batch_inference_job(batchInferenceJobArn=job[
        "batchInferenceJobArn"])["batchInferenceJob"]["filterArn"] == arn


def test_filter_of_the_wrong_target(personalize: Any, bucket: str, flow: Workflow,
                                    versions: dict[str, str]) -> None:
    users = make_filter(personalize, flow.group_arn,
                        'EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click")')
    code, message = create_inference(personalize, bucket, versions["aws-sims"],
                                     filterArn=users)
    assert code == "InvalidInputException" and "needs a filter of ItemIDs" in message
    code, message = error_of(
        personalize.create_batch_segment_job, jobName=unique("bs"),
        solutionVersionArn=versions["aws-item-attribute-affinity"], filterArn=users,
        **io(f"s3://{bucket}/in.json", f"s3://{bucket}/out/"))
    assert code == "InvalidInputException" and "Interactions condition" in message


# -- segments ---------------------------------------------------------------------------------

def test_item_affinity__segments(personalize: Any, s3: Any, bucket: str, flow: Workflow,
                                 versions: dict[str, str]) -> None:
    # Rarer items of clusters 0 and 5: users rarely repeat items in this data, so segments
    # leave out the users who already have the item (most of its cluster, for a hit).
    lines = [{"itemId": "i200"}, {"itemId": "i237"}, {"itemId": "no-such-item"},
             {"userId": "u"}]
    output = out_url(bucket)
    job = segments(personalize, versions["aws-item-affinity"], put_input(s3, bucket, lines),
                   output, numResults=20)
    assert job["status"] == "ACTIVE", job
    assert job["numResults"] == 20
    out = read_out(s3, output + "in.json.out")
    assert [o["input"] for o in out] == lines
    assert set(out[0]) == {"input", "output", "error"} and list(out[0]["output"]) == \
        ["usersList"] and out[0]["error"] is None
    data = flow.data
    had = set(zip(data.users, data.items, strict=True))
    for o in out[:2]:
        users, item = o["output"]["usersList"], o["input"]["itemId"]
        assert len(users) == len(set(users)) == 20
        assert not any((u, item) in had for u in users)
        cluster = data.cluster_of_item[item]
        assert sum(data.cluster_of_user[u] == cluster for u in users) >= 16
    assert "not in the training data" in out[2]["error"] and out[2]["output"] is None
    assert "Unknown field(s) ['userId']" in out[3]["error"]


def test_item_attribute_affinity__segments(personalize: Any, s3: Any, bucket: str,
                                           flow: Workflow, versions: dict[str, str]) -> None:
    queries = ['ITEMS.GENRE = "g3"', "ITEMS.year = 2005", 'ITEMS.COLOUR = "red"']
    output = out_url(bucket)
    job = segments(personalize, versions["aws-item-attribute-affinity"],
                   put_input(s3, bucket, [{"itemAttributes": q} for q in queries]), output)
    assert job["status"] == "ACTIVE", job
    out = read_out(s3, output + "in.json.out")
    # AWS's format (the user-segmentation sample reads x['input']['itemAttributes']).
    assert [o["input"] for o in out] == [{"itemAttributes": q} for q in queries]
    assert [list(o) for o in out] == [["input", "output", "error"]] * 3
    assert out[0]["output"] == {"usersList": out[0]["output"]["usersList"]}
    assert out[0]["error"] is None
    data = flow.data
    for o, cluster in zip(out[:2], (3, 5), strict=True):
        users = o["output"]["usersList"]
        assert len(users) == 25  # the default numResults
        assert sum(data.cluster_of_user[u] == cluster for u in users) >= 22
    assert "unknown item attribute 'COLOUR'" in out[2]["error"]


@pytest.mark.parametrize("recipe", ["aws-item-affinity", "aws-item-attribute-affinity"])
def test_segments__user_filter_with_values_per_line(
        personalize: Any, s3: Any, bucket: str, flow: Workflow, versions: dict[str, str],
        recipe: str) -> None:
    arn = make_filter(personalize, flow.group_arn, "EXCLUDE UserID WHERE Users.TIER IN ($T)")
    query = {"itemId": "i200"} if recipe == "aws-item-affinity" else \
        {"itemAttributes": 'ITEMS.GENRE = "g0"'}
    lines = [{**query, "filterValues": {"T": '"gold"'}},
             {**query, "filterValues": {"T": '"basic"'}}, {**query, "filterValues": {}},
             {**query, "filterValues": {"T": '"a","b","c","d","e","f"'}}]
    output = out_url(bucket)
    job = segments(personalize, versions[recipe], put_input(s3, bucket, lines), output,
                   numResults=30, filterArn=arn)
    assert job["status"] == "ACTIVE" and job["filterArn"] == arn, job
    out = read_out(s3, output + "in.json.out")
    for o, kept in zip(out[:2], ("basic", "gold"), strict=False):
        users = o["output"]["usersList"]
        assert len(users) == 30 and {tier(u) for u in users} == {kept}
    assert len(out[2]["output"]["usersList"]) == 30  # no value: no exclusion
    assert out[3]["output"] is None and "at most 5" in out[3]["error"]


@pytest.mark.parametrize(("recipe", "limit", "line"), [
    ("aws-item-affinity", 500, {"itemId": "i1"}),
    ("aws-item-attribute-affinity", 10, {"itemAttributes": 'ITEMS.GENRE = "g1"'}),
])
def test_segment_queries_per_file_limit(personalize: Any, s3: Any, bucket: str,
                                        versions: dict[str, str], recipe: str, limit: int,
                                        line: dict[str, str]) -> None:
    source = put_input(s3, bucket, [line] * (limit + 1))
    job = segments(personalize, versions[recipe], source, out_url(bucket), numResults=2)
    assert job["status"] == "CREATE FAILED"
    assert f"more than {limit} lines" in job["failureReason"]
    ok = segments(personalize, versions[recipe], put_input(s3, bucket, [line] * limit),
                  out_url(bucket), numResults=2)
    assert ok["status"] == "ACTIVE", ok


# -- Describe and List ------------------------------------------------------------------------

def test_describe_and_list_batch_inference_jobs(personalize: Any, s3: Any, bucket: str,
                                                versions: dict[str, str]) -> None:
    version = versions["aws-similar-items"]
    source, output = put_input(s3, bucket, [{"itemId": "i1"}]), out_url(bucket)
    before = [j["batchInferenceJobArn"] for j in personalize.list_batch_inference_jobs(
        solutionVersionArn=version)["batchInferenceJobs"]]
    arns = []
    for _ in range(3):
        arns.append(personalize.create_batch_inference_job(
            jobName=unique("bi"), solutionVersionArn=version, numResults=5,
            **io(source, output))["batchInferenceJobArn"])
        wait(lambda: personalize.describe_batch_inference_job(
            batchInferenceJobArn=arns[-1])["batchInferenceJob"])
    job = personalize.describe_batch_inference_job(
        batchInferenceJobArn=arns[0])["batchInferenceJob"]
    assert job["status"] == "ACTIVE" and job["numResults"] == 5
    assert job["solutionVersionArn"] == version and job["roleArn"] == ROLE
    assert job["jobInput"] == {"s3DataSource": {"path": source}}
    assert job["jobOutput"] == {"s3DataDestination": {"path": output}}
    assert job["batchInferenceJobMode"] == "BATCH_INFERENCE"
    assert job["lastUpdatedDateTime"] >= job["creationDateTime"]
    assert "failureReason" not in job and "_limits" not in json.dumps(job, default=str)
    first = personalize.list_batch_inference_jobs(solutionVersionArn=version, maxResults=2)
    assert len(first["batchInferenceJobs"]) == 2 and first["nextToken"]
    second = personalize.list_batch_inference_jobs(solutionVersionArn=version, maxResults=2,
                                                   nextToken=first["nextToken"])
    listed = [j["batchInferenceJobArn"]
              for j in first["batchInferenceJobs"] + second["batchInferenceJobs"]]
    assert listed == (arns[::-1] + before)[:4]  # newest first
    assert ("nextToken" in second) == (len(before) > 1)
    summary = first["batchInferenceJobs"][0]
    assert set(summary) == {"batchInferenceJobArn", "jobName", "status", "creationDateTime",
                            "lastUpdatedDateTime", "solutionVersionArn",
                            "batchInferenceJobMode"}
    pages = personalize.get_paginator("list_batch_inference_jobs").paginate(
        solutionVersionArn=version, PaginationConfig={"PageSize": 1})
    assert [j["batchInferenceJobArn"] for p in pages for j in p["batchInferenceJobs"]] == \
        arns[::-1] + before
    every = personalize.list_batch_inference_jobs()["batchInferenceJobs"]
    assert set(arns) <= {j["batchInferenceJobArn"] for j in every}
    other = personalize.list_batch_inference_jobs(
        solutionVersionArn=version + "x")["batchInferenceJobs"]
    assert other == []
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_batch_inference_job(batchInferenceJobArn=arns[0] + "x")


def test_describe_and_list_batch_segment_jobs(personalize: Any, s3: Any, bucket: str,
                                              versions: dict[str, str]) -> None:
    version = versions["aws-item-affinity"]
    source = put_input(s3, bucket, [{"itemId": "i1"}])
    arns = [segments(personalize, version, source, out_url(bucket))["batchSegmentJobArn"]
            for _ in range(2)]
    job = personalize.describe_batch_segment_job(batchSegmentJobArn=arns[0])["batchSegmentJob"]
    assert job["status"] == "ACTIVE" and job["numResults"] == 25
    assert job["solutionVersionArn"] == version and job["roleArn"] == ROLE
    first = personalize.list_batch_segment_jobs(solutionVersionArn=version, maxResults=1)
    assert len(first["batchSegmentJobs"]) == 1
    second = personalize.list_batch_segment_jobs(solutionVersionArn=version, maxResults=1,
                                                 nextToken=first["nextToken"])
    assert [j["batchSegmentJobArn"] for j in first["batchSegmentJobs"] +
            second["batchSegmentJobs"]] == arns[::-1]
    assert set(first["batchSegmentJobs"][0]) == {
        "batchSegmentJobArn", "jobName", "status", "creationDateTime", "lastUpdatedDateTime",
        "solutionVersionArn"}
    with pytest.raises(personalize.exceptions.InvalidNextTokenException):
        personalize.list_batch_segment_jobs(nextToken=first["nextToken"])
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_batch_segment_job(batchSegmentJobArn=arns[0] + "x")


def test_failed_job_is_listed_with_its_reason(personalize: Any, bucket: str,
                                              versions: dict[str, str]) -> None:
    version = versions["aws-popularity-count"]
    job = inference(personalize, version, f"s3://{bucket}/{unique('none')}.json",
                    out_url(bucket))
    listed = personalize.list_batch_inference_jobs(solutionVersionArn=version)
    summary = next(j for j in listed["batchInferenceJobs"]
                   if j["batchInferenceJobArn"] == job["batchInferenceJobArn"])
    assert summary["status"] == "CREATE FAILED"
    assert summary["failureReason"] == job["failureReason"]


def test_popularity_counts_match_the_data(personalize: Any, s3: Any, bucket: str,
                                          flow: Workflow, versions: dict[str, str]) -> None:
    data = flow.data
    users_per_item = Counter(i for _, i in set(zip(data.users, data.items, strict=True)))
    out = run_inference(personalize, s3, bucket, versions["aws-popularity-count"],
                        [{"userId": "u3"}], numResults=5)
    counts = [users_per_item[i] for i in out[0]["output"]["recommendedItems"]]
    assert counts == sorted(users_per_item.values(), reverse=True)[:5]


def test_many_lines__chunks_in_input_order(personalize: Any, s3: Any, bucket: str,
                                            versions: dict[str, str]) -> None:
    """More lines than one chunk scores at once: outputs keep the input order, and a
    user's line is the same wherever it falls."""
    users = [f"u{k % 400}" for k in range(2600)]
    out = run_inference(personalize, s3, bucket, versions["aws-personalized-ranking"],
                        [{"userId": u, "itemList": ["i1", "i2", "i3", "i4"]} for u in users])
    assert [o["input"]["userId"] for o in out] == users
    assert all(out[k]["output"] == out[k % 400]["output"] for k in range(len(out)))


# -- the quota of pending jobs (in-process app: jobs run only when drained) ------------------

def test_pending_batch_jobs_quota(app_client: Any, s3: Any, bucket: str) -> None:
    group = call_app(app_client, "CreateDatasetGroup", name="g")["datasetGroupArn"]
    drain_app(app_client)
    schema = call_app(app_client, "CreateSchema", name="s",
                      schema=synthetic.INTERACTIONS_SCHEMA)["schemaArn"]
    dataset = call_app(app_client, "CreateDataset", name="d", datasetGroupArn=group,
                       datasetType="Interactions", schemaArn=schema)["datasetArn"]
    drain_app(app_client)
    key = f"{unique('quota')}.csv"
    s3.put_object(Bucket=bucket, Key=key,
                  Body=synthetic.planted_interactions(seed=2).to_csv().encode())
    call_app(app_client, "CreateDatasetImportJob", jobName="j", datasetArn=dataset,
             dataSource={"dataLocation": f"s3://{bucket}/{key}"})
    solution = call_app(app_client, "CreateSolution", name="sol", datasetGroupArn=group,
                        recipeArn="arn:aws:personalize:::recipe/aws-popularity-count")
    drain_app(app_client)
    version = call_app(app_client, "CreateSolutionVersion",
                       solutionArn=solution["solutionArn"])["solutionVersionArn"]
    drain_app(app_client)
    source = put_input(s3, bucket, [{"userId": "u1"}])
    for k in range(5):
        call_app(app_client, "CreateBatchInferenceJob", jobName=f"b{k}",
                 solutionVersionArn=version, **io(source, out_url(bucket)))
    status, body = _post(app_client, "CreateBatchInferenceJob", jobName="b5",
                         solutionVersionArn=version, **io(source, out_url(bucket)))
    assert status == 400 and body["__type"] == "LimitExceededException"
    assert "TAILOR_QUOTA_PENDING_BATCH_INFERENCE_JOBS" in body["message"]
    # The jobs need the solution's version: the solution cannot go before they have run.
    status, body = _post(app_client, "DeleteSolution", solutionArn=solution["solutionArn"])
    assert status == 400 and body["__type"] == "ResourceInUseException"
    assert "batch-inference-job" in body["message"] and "wait for the job" in body["message"]
    assert drain_app(app_client) == 5
    job = call_app(app_client, "DescribeBatchInferenceJob",
                   batchInferenceJobArn=arn_of(app_client, "b0"))["batchInferenceJob"]
    assert job["status"] == "ACTIVE"
    call_app(app_client, "CreateBatchInferenceJob", jobName="b5", solutionVersionArn=version,
             **io(source, out_url(bucket)))
    assert drain_app(app_client) == 1
    call_app(app_client, "DeleteSolution", solutionArn=solution["solutionArn"])


def _post(client: Any, operation: str, **params: Any) -> tuple[int, dict[str, Any]]:
    resp = client.http.post("/", body=json.dumps(params), headers={
        "Content-Type": JSON11, "X-Amz-Target": f"AmazonPersonalize.{operation}"})
    return resp.status_code, json.loads(resp.body)


def arn_of(client: Any, name: str) -> str:
    jobs = call_app(client, "ListBatchInferenceJobs")["batchInferenceJobs"]
    return next(j["batchInferenceJobArn"] for j in jobs if j["jobName"] == name)


# -- streaming S3 input and output (in-process, against the test S3) -------------------------

@pytest.fixture
def s3_env(tailor: Tailor, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test S3, reached as a job of the default account reaches it."""
    from chalicelib.state import s3 as state_s3

    for key in ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(key, tailor.env[key])
    monkeypatch.setattr(state_s3, "_local", threading.local())
    with state_s3.acting_for(state_s3.Access("123456789012")):
        yield


def test_read_lines__across_blocks(s3_env: None, s3: Any, bucket: str) -> None:
    from chalicelib.jobs.batch_io import InputFile, read_lines

    body = b'\xef\xbb\xbf{"a": 1}\r\n\n  \n{"b": "\xc3\xa9"}\n{"c": 3}'
    key = f"{unique('lines')}/x.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    file = InputFile(bucket, key, len(body), "x.json")
    want = [(1, b'{"a": 1}'), (4, b'{"b": "\xc3\xa9"}'), (5, b'{"c": 3}')]
    for block in (1, 2, 3, 7, 1 << 20):
        assert list(read_lines(file, block)) == want, block


def test_output_object__multipart_parts(s3_env: None, s3: Any, bucket: str) -> None:
    from chalicelib.jobs.batch_io import OutputObject

    key = f"{unique('parts')}/x.json.out"
    out = OutputObject(bucket, key, part_bytes=5 << 20)
    lines = [f'{{"n": {k}, "pad": "{"x" * 1000}"}}\n'.encode() for k in range(11_000)]
    for line in lines:
        out.write(line)
    out.close()
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == sum(map(len, lines))
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 MiB, 5 MiB, the rest
    got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert got == b"".join(lines)


def test_batch_uses_only_the_trained_data(personalize: Any, runtime: Any, tailor: Tailor,
                                          s3: Any, bucket: str, flow: Workflow,
                                          versions: dict[str, str],
                                          campaigns: dict[str, str]) -> None:
    """Events sent after training change real-time answers at once; batch jobs wait for a
    retraining (spec H.1). (Last in this module: it streams events into the group.)"""
    recipe, user = "aws-user-personalization", "u300"
    campaign = campaigns[recipe]
    before = [i["itemId"] for i in runtime.get_recommendations(
        campaignArn=campaign, userId=user, numResults=10)["itemList"]]
    tracker = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=flow.group_arn)
    wait(lambda: personalize.describe_event_tracker(
        eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])
    other = (flow.data.cluster_of_user[user] + 4) % 8
    tailor.client("personalize-events").put_events(
        trackingId=tracker["trackingId"], userId=user, sessionId="s1",
        eventList=[{"eventType": "click", "itemId": f"i{8 * k + other}",
                    "sentAt": 1_800_000_000 + k} for k in range(10)])
    after = [i["itemId"] for i in runtime.get_recommendations(
        campaignArn=campaign, userId=user, numResults=10)["itemList"]]
    assert after != before
    out = run_inference(personalize, s3, bucket, versions[recipe], [{"userId": user}],
                        numResults=10, batchInferenceJobConfig={"itemExplorationConfig": {
                            "explorationWeight": "0"}})
    assert out[0]["output"]["recommendedItems"] == before
