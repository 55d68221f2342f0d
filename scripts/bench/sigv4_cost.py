"""What the SigV4 check costs in-process: µs per call on a typical signed request.

    .venv/bin/python -m scripts.bench.sigv4_cost [--number 20000] [--repeat 5]

Signs a GetRecommendations call (25 results) with boto3 (its HTTP send replaced by a
canned answer, so nothing leaves the process), turns the signed request into the Chalice
request Tailor's view receives, and times with ``timeit`` (best of ``--repeat``):

- ``sigv4.verify``: the signature check alone;
- ``auth.authenticate``: what every request pays with auth on (the Chalice request read,
  the keyring, the check, the caller's scope).

A hot loop: in a server that idles between requests the same code costs several times
more (``serving.py --instrument stages`` times ``authenticate`` there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ACCESS_KEY, SECRET_KEY, ACCOUNT = "AKIABENCHSIGV4COST00", "bench-secret-" + "x" * 27, "123456789012"
CAMPAIGN = f"arn:aws:personalize:us-east-1:{ACCOUNT}:campaign/bench-c-0123abcd"


def signed_request() -> Any:
    """A Chalice request of a boto3-signed GetRecommendations call."""
    from botocore.awsrequest import AWSResponse
    from chalice.app import Request

    from scripts.bench.workflow import Key, client

    rt = client("personalize-runtime", "http://127.0.0.1:8000", "us-east-1",
                Key(ACCESS_KEY, SECRET_KEY))
    sent: list[Any] = []

    class Body:
        def stream(self, **_: Any) -> Any:
            yield b'{"itemList":[],"recommendationId":"RID-x"}'

    def canned(request: Any, **_: Any) -> AWSResponse:
        sent.append(request)
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, Body())

    rt.meta.events.register("before-send.personalize-runtime", canned)
    rt.get_recommendations(campaignArn=CAMPAIGN, userId="196", numResults=25)
    request, url = sent[0], urlsplit(sent[0].url)
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    headers["Host"] = url.netloc
    return Request({
        "requestContext": {"httpMethod": "POST", "resourcePath": url.path, "path": url.path},
        "headers": headers, "multiValueQueryStringParameters": None, "pathParameters": {},
        "stageVariables": {}, "body": request.body.decode(), "isBase64Encoded": False})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=20000, help="calls per repeat")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="tailor-sigv4-"))
    creds = tmp / "credentials.json"
    creds.write_text(json.dumps({"credentials": [
        {"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY, "accountId": ACCOUNT}]}))
    os.environ.update(TAILOR_CREDENTIALS=str(creds), TAILOR_DATA_DIR=str(tmp))

    from chalicelib.config import settings
    from chalicelib.protocol import auth, sigv4

    request, config = signed_request(), settings()
    checked, keys = auth.incoming(request), auth.keyring(creds)
    assert auth.authenticate(config, request).account == ACCOUNT
    for name, call in (
            ("sigv4.verify", lambda: sigv4.verify(checked, keys.lookup, (auth.SIGNING_NAME,))),
            ("auth.authenticate", lambda: auth.authenticate(config, request))):
        best = min(timeit.repeat(call, number=args.number, repeat=args.repeat))
        print(f"{name:20} {best / args.number * 1e6:6.1f} µs per call")
    creds.unlink()
    tmp.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
