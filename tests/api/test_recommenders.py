"""Domain recommenders through boto3: every ECOMMERCE and VIDEO_ON_DEMAND use case trains
on generated data and serves GetRecommendations(recommenderArn); stop/start, update,
delete, automatic filtering, freshness and the errors of spec A.10, A.16, C."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests import synthetic
from tests.conftest import call_app, drain_app, unique, wait

RECIPE = "arn:aws:personalize:::recipe/"
ECOMMERCE = ("aws-ecomm-popular-items-by-views", "aws-ecomm-popular-items-by-purchases",
             "aws-ecomm-frequently-bought-together",
             "aws-ecomm-customers-who-viewed-x-also-viewed", "aws-ecomm-recommended-for-you")
VOD = ("aws-vod-because-you-watched-x", "aws-vod-more-like-x", "aws-vod-most-popular",
       "aws-vod-trending-now", "aws-vod-top-picks")
# GetRecommendations members each use case requires (spec C.2).
NEEDS = {
    "aws-ecomm-popular-items-by-views": {"userId"},
    "aws-ecomm-popular-items-by-purchases": {"userId"},
    "aws-ecomm-frequently-bought-together": {"itemId"},
    "aws-ecomm-customers-who-viewed-x-also-viewed": {"userId", "itemId"},
    "aws-ecomm-recommended-for-you": {"userId"},
    "aws-vod-because-you-watched-x": {"userId", "itemId"},
    "aws-vod-more-like-x": {"userId", "itemId"},
    "aws-vod-most-popular": {"userId"},
    "aws-vod-trending-now": set(),
    "aws-vod-top-picks": {"userId"},
}
METRICS = {"coverage", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_5",
           "normalized_discounted_cumulative_gain_at_10",
           "normalized_discounted_cumulative_gain_at_25", "precision_at_5", "precision_at_10",
           "precision_at_25"}
N_USERS, N_ITEMS, N_CLUSTERS = 150, 120, 6
T0 = 1_700_000_000
INTERACTIONS = synthetic.INTERACTIONS_SCHEMA
VOD_ITEMS = json.dumps({
    "type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "ITEM_ID", "type": "string"},
               {"name": "GENRES", "type": "string", "categorical": True},
               {"name": "CONTENT_CLASSIFICATION", "type": ["null", "string"],
                "categorical": True},
               {"name": "CREATION_TIMESTAMP", "type": "long"}],
    "version": "1.0"})

Rows = list[tuple[str, str, int, str]]


def events(kinds: dict[str, int], seed: int) -> Rows:
    """Users of taste clusters; each has ``kinds[type]`` events of each type on items of
    their cluster, each type with its own item popularity (so the most viewed item is not
    the best seller). Spread over three days."""
    rng = np.random.default_rng(seed)
    cluster = np.arange(N_ITEMS) % N_CLUSTERS
    rows = []
    for t, (kind, per_user) in enumerate(kinds.items()):
        weights = 1.0 / (1 + rng.permutation(N_ITEMS)) ** 0.8
        for u in range(N_USERS):
            own = np.flatnonzero(cluster == u % N_CLUSTERS)
            p = weights[own] / weights[own].sum()
            for i in rng.choice(own, size=per_user, replace=False, p=p):
                rows.append((f"u{u}", f"i{i}", T0 + int(rng.integers(0, 3 * 86400)) + t, kind))
    return rows


def csv_of(rows: Rows) -> str:
    return "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n" + "".join(
        f"{u},{i},{ts},{kind}\n" for u, i, ts, kind in rows)


def vod_items_csv() -> str:
    """Every item's genre is its cluster; one cold item per genre nobody watched yet."""
    out = io.StringIO()
    out.write("ITEM_ID,GENRES,CONTENT_CLASSIFICATION,CREATION_TIMESTAMP\n")
    for i in range(N_ITEMS):
        rating = "PG" if i // N_CLUSTERS % 2 else "R"
        out.write(f"i{i},g{i % N_CLUSTERS},{rating},{T0 - 86400 * 100}\n")
    for c in range(N_CLUSTERS):
        out.write(f"new{c},g{c},PG,{T0 + 3 * 86400}\n")
    return out.getvalue()


def by_user(rows: Rows, kind: str) -> dict[str, set[str]]:
    found = defaultdict(set)
    for u, i, _, k in rows:
        if k == kind:
            found[u].add(i)
    return found


def distinct_users(rows: Rows, kind: str) -> dict[str, int]:
    users = defaultdict(set)
    for u, i, _, k in rows:
        if k == kind:
            users[i].add(u)
    return {i: len(us) for i, us in users.items()}


def domain_group(personalize: Any, domain: str) -> str:
    arn = personalize.create_dataset_group(name=unique("g"), domain=domain)["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"])
    return arn


def add_dataset(personalize: Any, group: str, kind: str, schema: str, domain: str) -> str:
    schema_arn = personalize.create_schema(name=unique("s"), schema=schema,
                                           domain=domain)["schemaArn"]
    dataset = personalize.create_dataset(name=unique("d"), datasetGroupArn=group,
                                         datasetType=kind, schemaArn=schema_arn)["datasetArn"]
    wait(lambda: personalize.describe_dataset(datasetArn=dataset)["dataset"])
    return dataset


def import_csv(personalize: Any, s3: Any, bucket: str, dataset: str, body: str,
               mode: str = "FULL") -> None:
    key = f"{unique('csv')}/data.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    job = personalize.create_dataset_import_job(
        jobName=unique("imp"), datasetArn=dataset, importMode=mode,
        dataSource={"dataLocation": f"s3://{bucket}/{key}"})["datasetImportJobArn"]
    res = wait(lambda: personalize.describe_dataset_import_job(
        datasetImportJobArn=job)["datasetImportJob"])
    assert res["status"] == "ACTIVE", res


@dataclass
class Domain:
    """A domain dataset group with data and one recommender per use case."""

    group: str
    rows: Rows
    interactions: str  # the Interactions dataset's ARN
    arns: dict[str, str] = field(default_factory=dict)  # use case -> recommender


def create(personalize: Any, group: str, use_case: str, **kw: Any) -> str:
    return personalize.create_recommender(name=unique("r"), datasetGroupArn=group,
                                          recipeArn=RECIPE + use_case, **kw)["recommenderArn"]


def describe(personalize: Any, arn: str) -> dict[str, Any]:
    return personalize.describe_recommender(recommenderArn=arn)["recommender"]


@pytest.fixture(scope="module")
def domains(personalize: Any, s3: Any, bucket: str) -> Iterator[dict[str, Domain]]:
    ecomm = domain_group(personalize, "ECOMMERCE")
    vod = domain_group(personalize, "VIDEO_ON_DEMAND")
    out = {"ECOMMERCE": Domain(ecomm, events({"View": 10, "Purchase": 7}, seed=1),
                               add_dataset(personalize, ecomm, "Interactions", INTERACTIONS,
                                           "ECOMMERCE")),
           "VIDEO_ON_DEMAND": Domain(vod, events({"Watch": 8, "Click": 4}, seed=2),
                                     add_dataset(personalize, vod, "Interactions",
                                                 INTERACTIONS, "VIDEO_ON_DEMAND"))}
    for domain in out.values():
        import_csv(personalize, s3, bucket, domain.interactions, csv_of(domain.rows))
    items = add_dataset(personalize, vod, "Items", VOD_ITEMS, "VIDEO_ON_DEMAND")
    import_csv(personalize, s3, bucket, items, vod_items_csv())
    for domain, names in (("ECOMMERCE", ECOMMERCE), ("VIDEO_ON_DEMAND", VOD)):
        config = {"itemExplorationConfig": {"explorationWeight": "0.2"}}
        for name in names:
            kw = {"recommenderConfig": config} if name.endswith(("for-you", "top-picks")) else {}
            out[domain].arns[name] = create(personalize, out[domain].group, name, **kw)
    for domain in out.values():
        for arn in domain.arns.values():
            res = wait(lambda arn=arn: describe(personalize, arn), timeout=180)
            assert res["status"] == "ACTIVE", (res["recipeArn"], res.get("failureReason"))
    yield out
    for domain in out.values():  # recommenders count against a region-wide quota
        for arn in domain.arns.values():
            personalize.delete_recommender(recommenderArn=arn)


def recommend(runtime: Any, arn: str, **kw: Any) -> list[str]:
    return [i["itemId"] for i in runtime.get_recommendations(recommenderArn=arn, **kw)[
        "itemList"]]


def request_for(use_case: str, rows: Rows) -> dict[str, Any]:
    user, item = rows[0][0], rows[0][1]
    return {k: v for k, v in (("userId", user), ("itemId", item)) if k in NEEDS[use_case]}


@pytest.mark.parametrize("use_case", ECOMMERCE + VOD)
def test_every_use_case_trains_and_serves(personalize: Any, runtime: Any,
                                          domains: dict[str, Domain], use_case: str) -> None:
    domain = domains["ECOMMERCE" if use_case.startswith("aws-ecomm") else "VIDEO_ON_DEMAND"]
    arn = domain.arns[use_case]
    res = describe(personalize, arn)
    assert res["recipeArn"] == RECIPE + use_case and res["datasetGroupArn"] == domain.group
    assert res["recommenderConfig"]["minRecommendationRequestsPerSecond"] == 1
    expected = {"trend_prediction_accuracy"} if use_case == "aws-vod-trending-now" else METRICS
    assert set(res["modelMetrics"]) == expected
    assert all(0.0 <= v <= 1.0 for v in res["modelMetrics"].values())
    request = request_for(use_case, domain.rows)
    items = recommend(runtime, arn, numResults=10, **request)
    assert len(items) == 10 and len(set(items)) == 10
    for member in NEEDS[use_case]:  # the use case's request shape is enforced
        with pytest.raises(runtime.exceptions.InvalidInputException, match=member):
            runtime.get_recommendations(recommenderArn=arn, **{
                k: v for k, v in request.items() if k != member})


def test_list_recommenders(personalize: Any, domains: dict[str, Domain]) -> None:
    group = domains["VIDEO_ON_DEMAND"].group
    listed = personalize.list_recommenders(datasetGroupArn=group)["recommenders"]
    assert {r["recommenderArn"] for r in listed} == set(domains["VIDEO_ON_DEMAND"].arns.values())
    assert {r["recipeArn"] for r in listed} == {RECIPE + n for n in VOD}
    assert all(r["status"] == "ACTIVE" for r in listed)
    page = personalize.list_recommenders(datasetGroupArn=group, maxResults=2)
    assert len(page["recommenders"]) == 2 and page["nextToken"]


def test_popularity_counts_the_use_case_event_type(runtime: Any,
                                                   domains: dict[str, Domain]) -> None:
    ecomm = domains["ECOMMERCE"]
    for use_case, kind in (("aws-ecomm-popular-items-by-views", "View"),
                           ("aws-ecomm-popular-items-by-purchases", "Purchase")):
        counts = distinct_users(ecomm.rows, kind)
        top = recommend(runtime, ecomm.arns[use_case], userId="u1", numResults=3)
        assert [counts[i] for i in top] == sorted(counts.values(), reverse=True)[:3], use_case


def test_automatic_filtering(runtime: Any, domains: dict[str, Domain]) -> None:
    """Items the user purchased (ECOMMERCE) or watched (VOD) are never recommended."""
    for domain, kind, use_cases in (
            ("ECOMMERCE", "Purchase", ("aws-ecomm-recommended-for-you",
                                       "aws-ecomm-customers-who-viewed-x-also-viewed")),
            ("VIDEO_ON_DEMAND", "Watch", ("aws-vod-top-picks", "aws-vod-because-you-watched-x",
                                          "aws-vod-more-like-x"))):
        rows = domains[domain].rows
        done = by_user(rows, kind)
        for use_case in use_cases:
            for user in ("u0", "u7", "u31"):
                item = min(done[user])
                got = recommend(runtime, domains[domain].arns[use_case], userId=user,
                                itemId=item, numResults=20)
                assert len(got) == 20 and not set(got) & done[user], (use_case, user)


def test_personalized_use_cases_follow_taste(runtime: Any, domains: dict[str, Domain]) -> None:
    """Users mostly get items of their own cluster (item i is in cluster i % 6)."""
    for domain, use_case in (("ECOMMERCE", "aws-ecomm-recommended-for-you"),
                             ("VIDEO_ON_DEMAND", "aws-vod-top-picks")):
        got = recommend(runtime, domains[domain].arns[use_case], userId="u3", numResults=5)
        own = [i for i in got if i.startswith("i") and int(i[1:]) % N_CLUSTERS == 3]
        assert len(own) >= 3, (use_case, got)


def test_more_like_x_uses_item_metadata(runtime: Any, domains: dict[str, Domain]) -> None:
    """A video nobody watched yet gets videos of its genre."""
    got = recommend(runtime, domains["VIDEO_ON_DEMAND"].arns["aws-vod-more-like-x"],
                    userId="u_new", itemId="new2", numResults=10)
    assert sum(int(i[1:]) % N_CLUSTERS == 2 for i in got if i.startswith("i")) >= 8, got


def test_update_changes_the_config(personalize: Any, runtime: Any,
                                   domains: dict[str, Domain]) -> None:
    arn = domains["ECOMMERCE"].arns["aws-ecomm-recommended-for-you"]
    personalize.update_recommender(recommenderArn=arn, recommenderConfig={
        "itemExplorationConfig": {"explorationWeight": "0", "explorationItemAgeCutOff": "10"},
        "enableMetadataWithRecommendations": True})
    res = wait(lambda: describe(personalize, arn)["latestRecommenderUpdate"])
    assert res["status"] == "ACTIVE"
    res = describe(personalize, arn)
    assert res["status"] == "ACTIVE"
    assert res["recommenderConfig"] == {
        "minRecommendationRequestsPerSecond": 1, "enableMetadataWithRecommendations": True,
        "itemExplorationConfig": {"explorationWeight": "0", "explorationItemAgeCutOff": "10"}}
    assert res["latestRecommenderUpdate"]["recommenderConfig"] == res["recommenderConfig"]
    assert recommend(runtime, arn, userId="u0")


def test_update_of_training_columns_retrains(personalize: Any, runtime: Any,
                                            domains: dict[str, Domain]) -> None:
    arn = domains["VIDEO_ON_DEMAND"].arns["aws-vod-more-like-x"]
    columns = {"excludedDatasetColumns": {"ITEMS": ["CONTENT_CLASSIFICATION"]}}
    personalize.update_recommender(recommenderArn=arn,
                                   recommenderConfig={"trainingDataConfig": columns})
    res = wait(lambda: describe(personalize, arn)["latestRecommenderUpdate"], timeout=120)
    assert res["status"] == "ACTIVE", res
    assert describe(personalize, arn)["recommenderConfig"]["trainingDataConfig"] == columns
    assert recommend(runtime, arn, userId="u0", itemId="i0")


def test_stop_and_start(personalize: Any, runtime: Any, s3: Any, bucket: str,
                        domains: dict[str, Domain]) -> None:
    """A stopped recommender does not serve; started after new data arrived, it retrains."""
    vod = domains["VIDEO_ON_DEMAND"]
    arn = vod.arns["aws-vod-most-popular"]
    with pytest.raises(personalize.exceptions.ResourceInUseException, match="INACTIVE"):
        personalize.start_recommender(recommenderArn=arn)
    assert personalize.stop_recommender(recommenderArn=arn)["recommenderArn"] == arn
    assert describe(personalize, arn)["status"] in ("STOP PENDING", "STOP IN_PROGRESS",
                                                    "INACTIVE")
    assert wait(lambda: describe(personalize, arn), done={"INACTIVE"})["status"] == "INACTIVE"
    with pytest.raises(runtime.exceptions.InvalidInputException, match="not active"):
        runtime.get_recommendations(recommenderArn=arn, userId="u0")
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.stop_recommender(recommenderArn=arn)
    # A new video that everybody watches while the recommender is stopped (and, as an
    # import needs 1000 records, a few videos each user alone watches).
    hot = "".join(f"u{u},{item},{T0 + 4 * 86400 + u},Watch\n" for u in range(N_USERS)
                  for item in ("hit", *(f"own{u}x{k}" for k in range(6))))
    import_csv(personalize, s3, bucket, vod.interactions,
               "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n" + hot, mode="INCREMENTAL")
    personalize.start_recommender(recommenderArn=arn)
    assert wait(lambda: describe(personalize, arn), done={"ACTIVE"})["status"] == "ACTIVE"
    assert recommend(runtime, arn, userId="u0", numResults=3)[0] == "hit"


def test_create_errors(personalize: Any, domains: dict[str, Domain]) -> None:
    vod, ecomm = domains["VIDEO_ON_DEMAND"].group, domains["ECOMMERCE"].group
    errors = personalize.exceptions
    custom = personalize.create_dataset_group(name=unique("g"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=custom)["datasetGroup"])
    with pytest.raises(errors.InvalidInputException, match="not a Domain dataset group"):
        create(personalize, custom, "aws-ecomm-recommended-for-you")
    with pytest.raises(errors.InvalidInputException, match="not a VIDEO_ON_DEMAND use case"):
        create(personalize, vod, "aws-ecomm-recommended-for-you")
    with pytest.raises(errors.InvalidInputException, match="not a ECOMMERCE use case"):
        create(personalize, ecomm, "aws-sims")
    with pytest.raises(errors.ResourceNotFoundException):
        create(personalize, ecomm, "aws-ecomm-no-such-thing")
    with pytest.raises(errors.ResourceNotFoundException):
        create(personalize, ecomm.replace("dataset-group/", "dataset-group/none-"),
               "aws-ecomm-recommended-for-you")
    with pytest.raises(errors.ResourceAlreadyExistsException, match="one recommender per"):
        create(personalize, ecomm, "aws-ecomm-recommended-for-you")
    taken = describe(personalize,
                     domains["ECOMMERCE"].arns["aws-ecomm-popular-items-by-views"])["name"]
    with pytest.raises(errors.ResourceAlreadyExistsException, match="named"):
        personalize.create_recommender(name=taken, datasetGroupArn=vod,
                                       recipeArn=RECIPE + "aws-vod-most-popular")


@pytest.mark.parametrize(("use_case", "config", "message"), [
    ("aws-vod-most-popular", {"itemExplorationConfig": {"explorationWeight": "0.5"}},
     "only applies to"),
    ("aws-vod-top-picks", {"itemExplorationConfig": {"explorationWeight": "1.5"}},
     r"explorationWeight must be a number in \[0, 1\]"),
    ("aws-vod-top-picks", {"itemExplorationConfig": {"explorationItemAgeCutOff": "0"}},
     "explorationItemAgeCutOff"),
    ("aws-vod-top-picks", {"itemExplorationConfig": {"weight": "0.1"}}, "no key 'weight'"),
    ("aws-vod-more-like-x",
     {"trainingDataConfig": {"excludedDatasetColumns": {"ITEMS": ["ITEM_ID"]}}},
     "only metadata columns"),
    ("aws-vod-more-like-x",
     {"trainingDataConfig": {"includedDatasetColumns": {"USERS": ["AGE"]}}},
     "no USERS dataset"),
])
def test_bad_config(personalize: Any, domains: dict[str, Domain], use_case: str,
                    config: dict[str, Any], message: str) -> None:
    vod = domains["VIDEO_ON_DEMAND"]
    with pytest.raises(personalize.exceptions.InvalidInputException, match=message):
        personalize.update_recommender(recommenderArn=vod.arns[use_case],
                                       recommenderConfig=config)


def test_missing_data(personalize: Any) -> None:
    """Without the use case's event type the recommender fails with AWS's reason; a use
    case that needs Items cannot be created without them."""
    ecomm = domain_group(personalize, "ECOMMERCE")
    with pytest.raises(personalize.exceptions.InvalidInputException, match="Interactions"):
        create(personalize, ecomm, "aws-ecomm-popular-items-by-purchases")
    add_dataset(personalize, ecomm, "Interactions", INTERACTIONS, "ECOMMERCE")
    arn = create(personalize, ecomm, "aws-ecomm-popular-items-by-purchases")
    res = wait(lambda: describe(personalize, arn))
    assert res["status"] == "CREATE FAILED"
    assert res["failureReason"].startswith(
        "Dataset has fewer than 1000 interactions after filtering by event type: Purchase")
    assert "modelMetrics" not in res
    personalize.delete_recommender(recommenderArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        wait(lambda: describe(personalize, arn), done=set())
    vod = domain_group(personalize, "VIDEO_ON_DEMAND")
    add_dataset(personalize, vod, "Interactions", INTERACTIONS, "VIDEO_ON_DEMAND")
    with pytest.raises(personalize.exceptions.InvalidInputException, match="Items dataset"):
        create(personalize, vod, "aws-vod-top-picks")


def test_runtime_errors(runtime: Any, domains: dict[str, Domain]) -> None:
    arn = domains["ECOMMERCE"].arns["aws-ecomm-recommended-for-you"]
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.get_recommendations(recommenderArn=arn + "-none", userId="u0")
    with pytest.raises(ClientError, match="exactly one"):
        runtime.get_recommendations(recommenderArn=arn, campaignArn=arn, userId="u0")


def test_delete(personalize: Any, runtime: Any, domains: dict[str, Domain]) -> None:
    vod = domains["VIDEO_ON_DEMAND"]
    arn = vod.arns.pop("aws-vod-trending-now")
    personalize.delete_recommender(recommenderArn=arn)
    assert describe(personalize, arn)["status"] in ("DELETE PENDING", "DELETE IN_PROGRESS")
    wait(lambda: describe(personalize, arn), done={"DELETE IN_PROGRESS"})
    with pytest.raises(runtime.exceptions.InvalidInputException, match="DELETE IN_PROGRESS"):
        runtime.get_recommendations(recommenderArn=arn, userId="u0")
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.stop_recommender(recommenderArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        wait(lambda: describe(personalize, arn), done=set())
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.get_recommendations(recommenderArn=arn)
    listed = personalize.list_recommenders(datasetGroupArn=vod.group)["recommenders"]
    assert arn not in {r["recommenderArn"] for r in listed} and len(listed) == 4
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.delete_recommender(recommenderArn=arn)


def test_weekly_retraining_and_quota(app_client: Any, s3: Any, bucket: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """ACTIVE recommenders retrain a week after their last training (the scheduled
    handler queues it; the old model serves meanwhile); stopped ones do not, and a start
    with nothing new keeps the model. Recommenders per group are limited."""
    from chalicelib.resources import recommenders
    from chalicelib.state.context import context

    group = call_app(app_client, "CreateDatasetGroup", name="weekly",
                     domain="VIDEO_ON_DEMAND")["datasetGroupArn"]
    schema = call_app(app_client, "CreateSchema", name="weekly", schema=INTERACTIONS,
                      domain="VIDEO_ON_DEMAND")["schemaArn"]
    drain_app(app_client)
    dataset = call_app(app_client, "CreateDataset", name="weekly", datasetGroupArn=group,
                       datasetType="Interactions", schemaArn=schema)["datasetArn"]
    drain_app(app_client)
    key = f"{unique('weekly')}.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=csv_of(events({"Watch": 8}, seed=3)).encode())
    call_app(app_client, "CreateDatasetImportJob", jobName="weekly", datasetArn=dataset,
             dataSource={"dataLocation": f"s3://{bucket}/{key}"})
    drain_app(app_client)
    arn = call_app(app_client, "CreateRecommender", name="weekly", datasetGroupArn=group,
                   recipeArn=RECIPE + "aws-vod-most-popular")["recommenderArn"]
    drain_app(app_client)
    monkeypatch.setenv("TAILOR_QUOTA_RECOMMENDERS_PER_GROUP", "1")
    resp = app_client.http.post("/", body=json.dumps({
        "name": "second", "datasetGroupArn": group,
        "recipeArn": RECIPE + "aws-vod-trending-now"}), headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonPersonalize.CreateRecommender"})
    assert json.loads(resp.body)["__type"] == "LimitExceededException"
    assert "TAILOR_QUOTA_RECOMMENDERS_PER_GROUP" in json.loads(resp.body)["message"]
    ctx = context()
    first = ctx.store.one(arn)
    assert first.status == "ACTIVE"
    week = first.attrs["_trainingStarted"] + 7 * 86400
    assert recommenders.retrain_due(ctx, now=week - 60) == []
    assert recommenders.retrain_due(ctx, now=week + 1) == [arn]
    assert recommenders.retrain_due(ctx, now=week + 2) == []  # queued once
    drain_app(app_client)
    second = ctx.store.one(arn)
    assert second.status == "ACTIVE" and second.attrs["_trainedAt"] > first.attrs["_trainedAt"]
    assert second.attrs["_artifact"] != first.attrs["_artifact"]
    root = Path(ctx.settings.artifact_root)  # the replaced model's file is deleted
    assert (root / second.attrs["_artifact"]).exists()
    assert not (root / first.attrs["_artifact"]).exists()
    call_app(app_client, "StopRecommender", recommenderArn=arn)
    drain_app(app_client)
    assert recommenders.retrain_due(ctx, now=week + 8 * 86400) == []
    call_app(app_client, "StartRecommender", recommenderArn=arn)
    drain_app(app_client)
    third = ctx.store.one(arn)
    assert third.status == "ACTIVE" and third.attrs["_artifact"] == second.attrs["_artifact"]
