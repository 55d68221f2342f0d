"""The boto3 S3 client (endpoint from AWS_ENDPOINT_URL_S3: moto locally, real S3 deployed)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_local = threading.local()


def s3_client() -> Any:
    client = getattr(_local, "s3", None)
    if client is None:
        client = _local.s3 = boto3.session.Session().client(
            "s3", config=Config(retries={"max_attempts": 2}))
    return client


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); raises ValueError if it is not such a URL."""
    if not url.startswith("s3://"):
        raise ValueError(url)
    bucket, _, key = url[5:].partition("/")
    if not bucket:
        raise ValueError(url)
    return bucket, key
