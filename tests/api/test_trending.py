"""aws-trending-now through boto3: growth over the last window, refreshed by live events."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.conftest import Tailor, create_interactions_dataset, deploy, unique, wait

HOUR = 3600


def test_trending_now(personalize: Any, runtime: Any, tailor: Tailor, s3: Any,
                      bucket: str) -> None:
    rng = np.random.default_rng(5)
    end = 1_700_000_000
    rows = [(f"u{rng.integers(0, 200)}", f"i{rng.integers(0, 40)}",
             int(end - rng.integers(0, 48 * HOUR))) for _ in range(1500)]
    rows += [(f"u{k % 200}", "hot", end - int(rng.integers(0, HOUR))) for k in range(80)]
    group, dataset = create_interactions_dataset(personalize)
    key = f"{unique('trend')}.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n" + "".join(
        f"{u},{i},{t},click\n" for u, i, t in rows)).encode())
    job = personalize.create_dataset_import_job(
        jobName=unique("imp"), datasetArn=dataset,
        dataSource={"dataLocation": f"s3://{bucket}/{key}"})["datasetImportJobArn"]
    assert wait(lambda: personalize.describe_dataset_import_job(
        datasetImportJobArn=job)["datasetImportJob"])["status"] == "ACTIVE"
    solution = personalize.create_solution(
        name=unique("trend"), datasetGroupArn=group,
        recipeArn="arn:aws:personalize:::recipe/aws-trending-now",
        solutionConfig={"featureTransformationParameters": {
            "trend_discovery_frequency": "1 hour"}})["solutionArn"]
    wait(lambda: personalize.describe_solution(solutionArn=solution)["solution"])
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    assert wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=version)["solutionVersion"])["status"] == "ACTIVE"
    metrics = personalize.get_solution_metrics(solutionVersionArn=version)["metrics"]
    assert set(metrics) == {"trend_prediction_accuracy"}
    assert 0.0 <= metrics["trend_prediction_accuracy"] <= 1.0
    campaign = deploy(personalize, version)

    top = runtime.get_recommendations(campaignArn=campaign, numResults=5)["itemList"]
    assert top[0] == {"itemId": "hot", "score": 1.0}
    assert all(0.0 <= item["score"] <= 1.0 for item in top)

    # A burst of live events in the next hour makes another item the trend, no retraining.
    tracker = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group)
    wait(lambda: personalize.describe_event_tracker(
        eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])
    events = tailor.client("personalize-events")
    for n in range(12):
        events.put_events(trackingId=tracker["trackingId"], userId=f"u{n}", sessionId=f"s{n}",
                          eventList=[{"eventType": "click", "itemId": "i7",
                                      "sentAt": end + 600 + n * 10 + k} for k in range(10)])
    top = runtime.get_recommendations(campaignArn=campaign, numResults=5)["itemList"]
    assert top[0]["itemId"] == "i7"
