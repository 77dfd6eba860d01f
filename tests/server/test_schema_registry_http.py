"""The schema registry's OpenAPI document is valid and lists exactly the routes served; the registry's request
bodies, fuzzed, get Confluent's error answers, never another exception."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from kafkasim.schemas.registry import RegistryError, SchemaRegistryState
from kafkasim.server.schema_registry import OPENAPI_PATH, ROUTES


def test_schema_registry_openapi_is_valid_and_lists_every_route() -> None:
    doc = json.loads(OPENAPI_PATH.read_text())
    validate(doc)
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    assert documented == {(method, path) for method, path, _name in ROUTES}
    for item in doc["paths"].values():
        for op in item.values():
            assert op["summary"] and op["description"] and "200" in op["responses"]


def _applied() -> SchemaRegistryState:
    holder: list[SchemaRegistryState] = []

    def write(records: list[tuple[bytes, bytes | None]]) -> None:
        for key, value in records:
            holder[0].apply(key, value)

    holder.append(SchemaRegistryState(write))
    return holder[0]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=12)
BODY = st.dictionaries(st.sampled_from(["schema", "schemaType", "references", "id", "version", "metadata", "ruleSet",
                                        "compatibility", "mode"]), JSON | st.text(max_size=40), max_size=5)


@settings(max_examples=200, deadline=None)
@given(BODY, st.text(max_size=12))
def test_schema_registry_bodies_fuzz_answer_registry_errors(body: dict, subject: str) -> None:
    registry = _applied()
    for call in (lambda: registry.register(subject or "s", body), lambda: registry.lookup(subject or "s", body),
                 lambda: registry.check(subject or "s", None, body), lambda: registry.set_config(None, body),
                 lambda: registry.set_mode(subject or None, body.get("mode"))):
        try:
            call()
        except RegistryError as exc:
            assert 400 <= exc.status < 500 and exc.error_code > 0
