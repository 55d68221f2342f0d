"""The Personalize getting-started flow as a plain boto3 program.

Nothing here knows about Tailor: run it with the environment ``./scripts/serve``
prints (or against AWS itself) and a CSV of interactions:

    python scripts/getting_started.py interactions.csv

It uploads the CSV to S3, creates an IAM role Personalize may assume to read it (as
the AWS samples do), a dataset group, schema, dataset and import job, trains
aws-user-personalization, deploys a campaign, and prints recommendations and a
personalized ranking for the first user of the file.
"""

from __future__ import annotations

import csv
import json
import sys
import time
import uuid

import boto3

SCHEMA = {"type": "record", "name": "Interactions",
          "namespace": "com.amazonaws.personalize.schema",
          "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                     {"name": "TIMESTAMP", "type": "long"}], "version": "1.0"}
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "personalize.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


def personalize_role(name: str, bucket: str) -> str:
    """A role Personalize can assume that may read ``bucket``."""
    iam = boto3.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="read-data", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}))
    return arn


def wait(describe, key: str) -> dict:
    while True:
        resource = describe()[key]
        print(f"  {key}: {resource['status']}", file=sys.stderr)
        if resource["status"] in ("ACTIVE", "CREATE FAILED"):
            if resource["status"] == "CREATE FAILED":
                sys.exit(f"{key} failed: {resource.get('failureReason')}")
            return resource
        time.sleep(1)


def main(path: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    personalize = boto3.client("personalize")
    runtime = boto3.client("personalize-runtime")
    s3 = boto3.client("s3")
    bucket = f"getting-started-{suffix}"
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(path, bucket, "interactions.csv")
    role = personalize_role(f"PersonalizeRole-{suffix}", bucket)

    group = personalize.create_dataset_group(name=f"demo-{suffix}")["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group), "datasetGroup")
    schema = personalize.create_schema(name=f"demo-schema-{suffix}",
                                       schema=json.dumps(SCHEMA))["schemaArn"]
    dataset = personalize.create_dataset(name=f"demo-interactions-{suffix}", schemaArn=schema,
                                         datasetGroupArn=group,
                                         datasetType="Interactions")["datasetArn"]
    wait(lambda: personalize.describe_dataset(datasetArn=dataset), "dataset")
    job = personalize.create_dataset_import_job(
        jobName=f"demo-import-{suffix}", datasetArn=dataset, roleArn=role,
        dataSource={"dataLocation": f"s3://{bucket}/interactions.csv"})["datasetImportJobArn"]
    wait(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job),
         "datasetImportJob")

    campaigns = {}
    for recipe in ("aws-user-personalization", "aws-personalized-ranking"):
        solution = personalize.create_solution(
            name=f"demo-{recipe}-{suffix}", datasetGroupArn=group,
            recipeArn=f"arn:aws:personalize:::recipe/{recipe}")["solutionArn"]
        wait(lambda s=solution: personalize.describe_solution(solutionArn=s), "solution")
        version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        wait(lambda v=version: personalize.describe_solution_version(solutionVersionArn=v),
             "solutionVersion")
        metrics = personalize.get_solution_metrics(solutionVersionArn=version)["metrics"]
        print(f"{recipe} metrics: {json.dumps(metrics)}")
        campaign = personalize.create_campaign(name=f"demo-{recipe}-{suffix}",
                                               solutionVersionArn=version)["campaignArn"]
        wait(lambda c=campaign: personalize.describe_campaign(campaignArn=c), "campaign")
        campaigns[recipe] = campaign

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    user, items = rows[0]["USER_ID"], sorted({r["ITEM_ID"] for r in rows})[:10]
    recs = runtime.get_recommendations(campaignArn=campaigns["aws-user-personalization"],
                                       userId=user, numResults=10)
    print(json.dumps({"user": user, "recommendations": recs["itemList"]}))
    ranking = runtime.get_personalized_ranking(
        campaignArn=campaigns["aws-personalized-ranking"], userId=user, inputList=items)
    print(json.dumps({"user": user, "ranking": ranking["personalizedRanking"]}))


if __name__ == "__main__":
    main(sys.argv[1])
