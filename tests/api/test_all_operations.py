"""Every operation of the three botocore models answers through boto3 with either a
success or one of the errors the model declares for it — never a 500, an unmodelled
error, or "not implemented" (for the operations Tailor implements)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.model import Shape

from chalicelib.protocol.dispatch import handlers
from chalicelib.protocol.model import SERVICES, service_model
from tests.conftest import Tailor, unique

# Errors the real service answers although the model does not list them for the operation.
UNMODELLED_IN_AWS = {
    # An unknown trackingId (spec G.1): real PutEvents says ResourceNotFoundException; the
    # events model declares that exception (for PutActionInteractions), so clients have it.
    ("PutEvents", "ResourceNotFoundException"),
}
OPERATIONS = [(service, name) for service in SERVICES
              for name in service_model(service).operation_names]


def minimal(shape: Shape | None, name: str = "", depth: int = 0) -> Any:
    """The smallest value of ``shape`` that passes boto3's own checks: required members
    only, minimum lengths, first enum value; ARNs that name nothing."""
    if shape is None:
        return {}
    kind = shape.type_name
    if kind == "structure":
        return {m: minimal(shape.members[m], m, depth + 1)
                for m in shape.required_members if depth < 4}
    if kind == "list":
        count = shape.metadata.get("min", 0)
        return [minimal(shape.member, name, depth + 1) for _ in range(count)]
    if kind == "map":
        return {}
    if kind == "string":
        if shape.enum:
            return shape.enum[0]
        if name.lower().endswith("arn"):
            return f"arn:aws:personalize:us-east-1:123456789012:thing/{unique('none')}"
        return unique("x")[: max(shape.metadata.get("max", 64), 1)]
    if kind in ("integer", "long"):
        return max(int(shape.metadata.get("min", 1)), 1)
    if kind in ("double", "float"):
        return float(shape.metadata.get("min", 1.0))
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return 1_700_000_000
    if kind == "blob":
        return b"x"
    raise AssertionError(f"no minimal value for {kind}")


def test_all_79_operations_are_enumerated() -> None:
    assert len(OPERATIONS) == 79


@pytest.mark.parametrize(("service", "name"), OPERATIONS,
                         ids=[f"{s}.{n}" for s, n in OPERATIONS])
def test_operation_answers_with_a_modelled_outcome(tailor: Tailor, service: str,
                                                    name: str) -> None:
    op = service_model(service).operation_model(name)
    call = getattr(tailor.client(service), xform_name(name))
    try:
        call(**minimal(op.input_shape))
    except ClientError as exc:
        error = exc.response["Error"]
        modelled = {shape.name for shape in op.error_shapes}
        assert error["Code"] in modelled or (name, error["Code"]) in UNMODELLED_IN_AWS, \
            (name, error)
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] < 500, (name, error)
        if name in handlers():
            assert "does not implement" not in error.get("Message", ""), (name, error)
