"""The botocore service models: the truth for every name, shape and error."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import botocore.session
from botocore.model import OperationModel, ServiceModel

CONTROL = "personalize"
RUNTIME = "personalize-runtime"
EVENTS = "personalize-events"
SERVICES = (CONTROL, RUNTIME, EVENTS)
TARGET_PREFIX = "AmazonPersonalize."


@cache
def service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


@dataclass(frozen=True)
class Operation:
    service: str
    name: str
    model: OperationModel

    @property
    def rest(self) -> bool:
        return self.service != CONTROL


@cache
def control_operation(name: str) -> Operation | None:
    model = service_model(CONTROL)
    if name not in model.operation_names:
        return None
    return Operation(CONTROL, name, model.operation_model(name))


@cache
def rest_routes() -> dict[str, Operation]:
    """``/recommendations`` -> GetRecommendations, ``/events`` -> PutEvents, ..."""
    routes = {}
    for service in (RUNTIME, EVENTS):
        model = service_model(service)
        for name in model.operation_names:
            op = model.operation_model(name)
            routes[op.http["requestUri"]] = Operation(service, name, op)
    return routes


def error_status(service: str, code: str, default: int = 400) -> int:
    """The HTTP status botocore's model gives an error shape (``default`` when it gives
    none)."""
    model = service_model(service)
    if code in model.shape_names:
        return int(model.shape_for(code).metadata.get("error", {}).get("httpStatusCode",
                                                                           default))
    return default


def all_operations() -> list[Operation]:
    ops = [control_operation(n) for n in service_model(CONTROL).operation_names]
    return [op for op in ops if op is not None] + list(rest_routes().values())


def service_of(path: str) -> tuple[str, bool]:
    """(service, rest) for a request path: a REST-JSON route's, else the control plane's."""
    route = rest_routes().get(path.split("?", 1)[0].rstrip("/"))
    return (route.service, True) if route else (CONTROL, False)
