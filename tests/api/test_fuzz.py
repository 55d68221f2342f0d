"""Malformed requests to every operation of the three services: never a 5xx, and every
error has a code botocore's model of that service knows (or a common AWS one)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.model import OperationModel, Shape

from tests.api.raw import JSON11, error_code, send
from tests.conftest import Tailor, create_interactions_dataset, unique, wait

SERVICES = ("personalize", "personalize-runtime", "personalize-events")
# Errors every AWS JSON service may answer, modelled or not (and those of SigV4).
COMMON = {"SerializationException", "UnknownOperationException", "ValidationException",
          "AccessDeniedException", "IncompleteSignature", "InvalidSignatureException",
          "MissingAuthenticationTokenException", "UnrecognizedClientException",
          "ThrottlingException", "ServiceUnavailable"}
DEEP = "[" * 3000 + "]" * 3000
WRONG = {
    "string": [123, [], {}, True, 1.5],
    "integer": ["1", 1.5, [], True, 10 ** 30, -(10 ** 30)],
    "long": ["1", 2.5, {}, 10 ** 40],
    "float": ["1.0", [], True, 1e308],
    "double": ["x", {}, False],
    "boolean": ["true", 1, [], None],
    "timestamp": ["yesterday", "", [], {}, -1e20, 1e20, True],
    "list": ["x", {}, 1, [None], [[[]]]],
    "map": ["x", [1], 1, {"k": None}, {"k": {"deep": [1]}}],
    "structure": ["x", [], 1, {"zz": {"unknown": 1}}],
}


# Member name -> a real value (the ARNs of the fuzz's own group, ids): a skeleton has
# these members too, required or not.
REAL: dict[str, str] = {}


def skeleton(shape: Shape, depth: int = 0, name: str = "") -> Any:
    """A value of the right types with the required members and those of ``REAL``."""
    kind = shape.type_name
    if kind == "structure":
        return {} if depth > 4 else {n: skeleton(m, depth + 1, n) for n, m in
                                     shape.members.items()
                                     if n in shape.required_members or n in REAL}
    if kind == "string" and name in REAL:
        return REAL[name]
    if kind == "string":
        return shape.enum[0] if shape.enum else "x" * max(1, shape.metadata.get("min", 1))
    if kind in ("integer", "long"):
        return max(1, shape.metadata.get("min", 1))
    if kind in ("float", "double"):
        return 0.5
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return 1_700_000_000
    if kind == "list":
        return [skeleton(shape.member, depth + 1)]
    return {}


def member_paths(shape: Shape, prefix: tuple[str, ...] = (), depth: int = 0,
                 ) -> Iterator[tuple[tuple[str, ...], Shape]]:
    """Every member path into structures (lists and maps: through their first entry)."""
    if shape.type_name != "structure" or depth > 3:
        return
    for name, member in shape.members.items():
        path = (*prefix, name)
        yield path, member
        inner = member.member if member.type_name == "list" else \
            member.value if member.type_name == "map" else member
        yield from member_paths(inner, path, depth + 1)


def put(body: dict[str, Any], shape: Shape, path: tuple[str, ...], value: Any) -> Any:
    """``body`` with ``value`` at ``path`` (creating the parents from ``shape``)."""
    node, node_shape = body, shape
    for name in path[:-1]:
        member = node_shape.members[name]
        if member.type_name == "list":
            node[name] = [skeleton(member.member)]
            node, node_shape = node[name][0], member.member
        elif member.type_name == "map":
            node[name] = {"k": skeleton(member.value)}
            node, node_shape = node[name]["k"], member.value
        else:
            node.setdefault(name, skeleton(member, 1, name))
            node, node_shape = node[name], member
        if not isinstance(node, dict):
            return body
    node[path[-1]] = value
    return body


def cases(op: OperationModel, rng: random.Random) -> Iterator[tuple[str, bytes, str, str]]:
    """(case, body, content type, method) for one operation."""
    shape = op.input_shape
    base = skeleton(shape) if shape else {}
    dump = json.dumps
    ctype = "application/json" if op.metadata["protocol"] == "rest-json" else JSON11
    for name, body in (("empty", b""), ("bad json", b"{x"), ("array", b"[]"), ("null", b"null"),
                       ("number", b"1"), ("deep", f'{{"a": {DEEP}}}'.encode()),
                       ("deep 40", ('{"a": ' + "[" * 40 + "]" * 40 + "}").encode()),
                       ("not utf-8", b'{"a": "\xff\xfe"}'), ("nan", b'{"a": NaN}'),
                       ("surrogate key", b'{"\\ud800": 1}'), ("unknown", b'{"zzz": [1]}')):
        yield name, body, ctype, "POST"
    yield "wrong content type", dump(base).encode(), "text/plain", "POST"
    yield "no content type", b"{x", "", "POST"
    yield "GET", dump(base).encode(), ctype, "GET"
    if shape is None:
        return
    for path, member in member_paths(shape):
        where = ".".join(path)
        for value in WRONG[member.type_name]:
            body = dump(put(skeleton(shape), shape, path, value)).encode()
            yield f"{where}={value!r:.20}", body, ctype, "POST"
        if member.type_name == "string":
            text = dump(put(skeleton(shape), shape, path, "SURROGATE"))
            yield f"{where} surrogate", text.replace('"SURROGATE"', '"a\\udc00b"').encode(), \
                ctype, "POST"
            huge = "y" * (member.metadata.get("max", 100_000) + 1)
            yield f"{where} huge", dump(put(skeleton(shape), shape, path, huge)).encode(), \
                ctype, "POST"
            if not member.enum:
                junk = "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(8))
                yield f"{where} junk", dump(put(skeleton(shape), shape, path, junk)).encode(), \
                    ctype, "POST"


def operations() -> list[tuple[str, str]]:
    session = botocore.session.get_session()
    return [(service, name) for service in SERVICES
            for name in session.get_service_model(service).operation_names]


@pytest.fixture(scope="module")
def known() -> dict[str, set[str]]:
    session = botocore.session.get_session()
    return {s: set(session.get_service_model(s).shape_names) | COMMON for s in SERVICES}


def test_fuzz_covers_every_operation() -> None:
    assert len(operations()) == 79


@pytest.fixture(params=["fake ARNs", "real ARNs"])
def arns(request: pytest.FixtureRequest, personalize: Any) -> Iterator[str]:
    """First with made-up values (validation and lookups fail), then with the ARNs of a
    real dataset group, schema, dataset and event tracker, so the handlers see the odd
    values."""
    if request.param == "real ARNs":
        group, dataset = create_interactions_dataset(personalize)
        schema = personalize.describe_dataset(datasetArn=dataset)["dataset"]["schemaArn"]
        tracker = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group)
        wait(lambda: personalize.describe_event_tracker(
            eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])
        REAL.update(datasetGroupArn=group, datasetArn=dataset, schemaArn=schema,
                    resourceArn=group, trackingId=tracker["trackingId"], itemId="i1",
                    userId="u1")
    yield request.param
    REAL.clear()


def test_fuzz__no_5xx_and_only_known_errors(tailor: Tailor, known: dict[str, set[str]],
                                            arns: str) -> None:
    rng = random.Random(12)
    session = botocore.session.get_session()
    bad: list[str] = []
    sent = 0
    codes: dict[str, int] = {}
    for service, name in operations():
        if arns == "real ARNs" and name.startswith("Delete"):
            continue  # the real resources must live until the runtime and events calls
        op = session.get_service_model(service).operation_model(name)
        path = op.http["requestUri"]
        for case, body, ctype, method in cases(op, rng):
            headers = {"Content-Type": ctype} if ctype else {}
            if service == "personalize":
                headers["X-Amz-Target"] = f"AmazonPersonalize.{name}"
            status, resp_headers, raw = send(tailor, service, path, body, headers, method)
            sent += 1
            code = error_code(resp_headers, raw)
            codes[f"{status} {code}"] = codes.get(f"{status} {code}", 0) + 1
            if status >= 500 or (status >= 300 and (status >= 500 or code not in known[service])):
                bad.append(f"{name} [{case}]: {status} {code} {raw[:200]!r}")
            elif status < 300 and not case.endswith(("empty", "unknown", "wrong content type",
                                                      "junk")):
                bad.append(f"{name} [{case}]: accepted ({status})")
    print(f"fuzz: {sent} requests, {len(codes)} codes: {codes}")
    assert sent > 1500
    assert not bad, f"{len(bad)} of {sent}:\n" + "\n".join(bad[:60])
