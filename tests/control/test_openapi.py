"""openapi.json is a valid OpenAPI 3.1 document, and the running control API conforms to it: schemathesis
sends generated requests, valid and invalid, to every documented operation of a real ControlServer (real
clusters, real sockets) and checks each answer's status, content type, headers and body against the
document; valid input must be accepted and invalid input refused.

Bounded: ten examples per operation from a fixed seed, no example database, waits given at most 50 ms. Exclusions, each
with its reason:

- ``positive_data_acceptance`` takes 408 as an answer to a valid wait (the condition was not met in time).
- ``positive_data_acceptance`` is off for ``createTopic`` and ``getRecords``: whether a topic can be created
  depends on Kafka's config definitions and on how many brokers run (refused with 400, as Kafka refuses), and
  the records route's mutually exclusive parameters (``key``/``key_base64``, ``header``/``header_base64``)
  cannot be expressed in OpenAPI. Both still run every other check.
- the stateful phase is off: it chains operations through links the document does not declare.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate

from kafkasim.control import ControlServer
from kafkasim.control.common import MAX_WAIT_S, OPENAPI_PATH
from kafkasim.testing import Cluster

TOKEN = "schemathesis-token"
WAIT_CAP_S = 0.05
WAIT_OPERATIONS = ("/clusters/{cluster}/wait/records", "/clusters/{cluster}/wait/group")


def test_openapi_document_is_valid_openapi_3_1() -> None:
    doc = json.loads(OPENAPI_PATH.read_text())
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op.get("summary") and op.get("description"), (method, path)
            assert {"200", "201"} & set(op["responses"]), (method, path)
            assert {"401", "500"} <= set(op["responses"]), (method, path)
            if path.startswith("/clusters/{cluster}"):
                assert "404" in op["responses"], (method, path)
            if "requestBody" in op:
                assert {"400", "413"} <= set(op["responses"]), (method, path)


@pytest.fixture(scope="module")
def live_control() -> Iterator[ControlServer]:
    """Two clusters (virtual and wall clock) and their control API, with a token, for the whole module."""
    server = ControlServer([Cluster(name="virtual", brokers=3, clock="virtual"), Cluster(name="wall")], token=TOKEN)
    with server.run_in_thread():
        yield server


@pytest.fixture
def control_schema(live_control: ControlServer) -> schemathesis.BaseSchema:
    no_positive = {"checks": {"positive_data_acceptance": {"enabled": False}}}
    # a valid wait is answered 200 (met) or 408 (not met in time)
    wait_met_or_not = {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "404", "408"]}}}
    config = schemathesis.Config.from_dict({
        "seed": 20260701,  # the same requests every run: a failure here is reproducible, never a flake
        "base-url": live_control.url,
        "headers": {"Authorization": f"Bearer {TOKEN}"},
        "parameters": {"cluster": "virtual"},
        "generation": {"max-examples": 10, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        "operations": [{"include-operation-id": "createTopic", **no_positive},
                       {"include-operation-id": "getRecords", **no_positive},
                       {"include-path-regex": "/wait/", **wait_met_or_not}],
    })
    return schemathesis.openapi.from_path(str(OPENAPI_PATH), config=config)


schema = schemathesis.pytest.from_fixture("control_schema")


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_control_api_conforms(case: schemathesis.Case) -> None:
    body = case.body
    if case.path in WAIT_OPERATIONS and isinstance(body, dict):
        timeout = body.get("timeout", MAX_WAIT_S)
        if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and 0 <= timeout <= MAX_WAIT_S:
            body["timeout"] = min(timeout, WAIT_CAP_S)  # a valid timeout stays valid, only shorter
    case.call_and_validate(timeout=10)
