"""Schema parsing, compatibility, decoding and the wire format, without sockets; every parser of outside input
fuzzed: bad input is a SchemaError, never another exception."""

from __future__ import annotations

import io
import json

import pytest
from fastavro import parse_schema as fastavro_parse
from fastavro import schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkasim.schemas import SchemaError, check_compatibility, parse_framed, parse_schema

USER = {"type": "record", "name": "User", "namespace": "events",
        "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}]}
ORDER_PROTO = """syntax = "proto3";
package shop;
message Order { int64 id = 1; string item = 2; Line line = 3; message Line { bool gift = 1; } }
"""


def avro(schema: object) -> object:
    return parse_schema("AVRO", json.dumps(schema))


def with_fields(*extra: dict) -> dict:
    return {**USER, "fields": [*USER["fields"], *extra]}


def test_avro_canonical_ignores_whitespace_and_names_the_record() -> None:
    a = parse_schema("AVRO", json.dumps(USER))
    b = parse_schema("AVRO", json.dumps(USER, indent=4))
    assert a.canonical == b.canonical and a.names() == ["events.User"]
    assert parse_schema("AVRO", '"string"').names() == []


@pytest.mark.parametrize(("level", "new", "compatible"), [
    ("BACKWARD", with_fields({"name": "email", "type": ["null", "string"], "default": None}), True),
    ("BACKWARD", with_fields({"name": "city", "type": "string"}), False),  # no default
    ("FORWARD", with_fields({"name": "city", "type": "string"}), True),  # the old reader ignores it
    ("FULL", with_fields({"name": "city", "type": "string"}), False),
    ("BACKWARD", {**USER, "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "long"}]}, True),
    ("FORWARD", {**USER, "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "long"}]}, False),
    ("BACKWARD", {**USER, "fields": [{"name": "name", "type": "bytes"}, {"name": "age", "type": "int"}]}, True),
    ("BACKWARD", {**USER, "fields": [{"name": "name", "type": "int"}, {"name": "age", "type": "int"}]}, False),
    ("BACKWARD", {**USER, "name": "Person"}, False),
    ("BACKWARD", {**USER, "name": "Person", "aliases": ["events.User"]}, True),
    ("NONE", {"type": "string"}, True),
])
def test_avro_compatibility_table(level: str, new: dict, compatible: bool) -> None:
    messages = check_compatibility(level, avro(new), [avro(USER)])
    assert (messages == []) is compatible, messages


def test_avro_compatibility_enums_unions_and_transitive() -> None:
    e1 = {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}
    e2 = {"type": "enum", "name": "Color", "symbols": ["RED"]}
    e3 = {**e2, "default": "RED"}
    assert check_compatibility("BACKWARD", avro(e2), [avro(e1)])  # GREEN cannot be read
    assert check_compatibility("BACKWARD", avro(e3), [avro(e1)]) == []
    assert check_compatibility("BACKWARD", avro(["null", "string"]), [avro("string")]) == []
    assert check_compatibility("BACKWARD", avro("string"), [avro(["null", "string"])])  # null has no branch
    v1 = with_fields({"name": "x", "type": "string"})
    v2 = with_fields({"name": "x", "type": "string", "default": ""}, {"name": "y", "type": "int", "default": 0})
    v3 = with_fields({"name": "y", "type": "int", "default": 0}, {"name": "z", "type": "int"})
    assert check_compatibility("BACKWARD", avro(v3), [avro(v1), avro(v2)])  # z: no default, not in v2
    v4 = with_fields({"name": "x", "type": "string", "default": ""})
    only_v1_breaks = with_fields({"name": "y", "type": "int"})
    assert check_compatibility("BACKWARD", avro(only_v1_breaks), [avro(v2)]) == []
    assert check_compatibility("BACKWARD_TRANSITIVE", avro(only_v1_breaks), [avro(v1), avro(v2)])
    assert check_compatibility("BACKWARD_TRANSITIVE", avro(v4), [avro(v1), avro(v2)]) == []


def test_avro_references_and_decode() -> None:
    address = {"type": "record", "name": "Address", "namespace": "events", "fields": [{"name": "city", "type": "string"}]}
    person = {"type": "record", "name": "Person", "namespace": "events",
              "fields": [{"name": "home", "type": "events.Address"}]}
    with pytest.raises(SchemaError):
        parse_schema("AVRO", json.dumps(person))  # events.Address is unknown without the reference
    parsed = parse_schema("AVRO", json.dumps(person), {"events.Address": json.dumps(address)})
    buf = io.BytesIO()
    named: dict = {}
    fastavro_parse(address, named_schemas=named)
    schemaless_writer(buf, fastavro_parse(person, named_schemas=named), {"home": {"city": "Oslo"}})
    assert parsed.decode(buf.getvalue()) == {"home": {"city": "Oslo"}}
    with pytest.raises(SchemaError):
        parsed.decode(buf.getvalue() + b"\x00")  # a trailing byte
    with pytest.raises(SchemaError):
        parsed.decode(b"\x10ab")  # a string longer than the payload


def test_json_schema_validates_and_checks_compatibility() -> None:
    base = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}
    s = parse_schema("JSON", json.dumps(base))
    assert s.decode(b'{"id": 1}') == {"id": 1}
    for bad in (b'{"id": "one"}', b"{}", b"not json"):
        with pytest.raises(SchemaError):
            s.decode(bad)
    with pytest.raises(SchemaError):
        parse_schema("JSON", '{"type": 12}')
    wider = {**base, "properties": {"id": {"type": "number"}}}
    assert check_compatibility("BACKWARD", parse_schema("JSON", json.dumps(wider)), [s]) == []
    assert check_compatibility("FORWARD", parse_schema("JSON", json.dumps(wider)), [s])
    more_required = {**base, "properties": {**base["properties"], "x": {}}, "required": ["id", "x"]}
    assert check_compatibility("BACKWARD", parse_schema("JSON", json.dumps(more_required)), [s])
    ref = parse_schema("JSON", '{"$ref": "id.json"}', {"id.json": json.dumps(base)})
    with pytest.raises(SchemaError):
        ref.decode(b'{"id": "x"}')


def test_protobuf_parses_names_decodes_and_compares() -> None:
    s = parse_schema("PROTOBUF", ORDER_PROTO)
    assert s.names() == ["shop.Order"]
    payload = b"\x08\x07\x12\x03tea\x1a\x02\x08\x01"
    assert s.decode(payload) == {"id": 7, "item": "tea", "line": {"gift": 1}}
    assert s.decode(b"\x08\x01", [0, 0]) == {"gift": 1}  # message index [0, 0]: Order.Line
    for bad in (b"\x08", b"\x12\x09tea", b"\x0b"):
        with pytest.raises(SchemaError):
            s.decode(bad)
    retyped = parse_schema("PROTOBUF", ORDER_PROTO.replace("string item = 2", "double item = 2"))
    assert check_compatibility("BACKWARD", retyped, [s])
    widened = parse_schema("PROTOBUF", ORDER_PROTO.replace("int64 id = 1", "uint64 id = 1"))
    assert check_compatibility("FULL", widened, [s]) == []
    with pytest.raises(SchemaError):
        parse_schema("PROTOBUF", "message {")


def test_framing_reads_ids_and_message_indexes() -> None:
    schema_id, indexes, body = parse_framed(b"\x00\x00\x00\x01\x02\x00rest", True)
    assert (schema_id, indexes, bytes(body)) == (258, [0], b"rest")
    assert parse_framed(b"\x00\x00\x00\x00\x05\x04\x02\x04x", True)[1] == [1, 2]
    for bad in (b"", b"\x01\x00\x00\x00\x01", b"\x00\x00\x00"):
        with pytest.raises(SchemaError):
            parse_framed(bad)


def test_unknown_schema_type_is_refused() -> None:
    with pytest.raises(SchemaError):
        parse_schema("XML", "<a/>")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["AVRO", "JSON", "PROTOBUF"]), st.text(max_size=200))
def test_parse_schema_fuzz_only_schema_errors(schema_type: str, text: str) -> None:
    try:
        parse_schema(schema_type, text)
    except SchemaError:
        pass


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                           st.sampled_from(["type", "name", "fields", "items", "symbols", "properties", "default",
                                            "namespace", "values", "size", "enum", "required"]), inner, max_size=5),
                       max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["AVRO", "JSON"]), JSONISH)
def test_parse_schema_fuzz_json_shapes_only_schema_errors(schema_type: str, value: object) -> None:
    try:
        parse_schema(schema_type, json.dumps(value))
    except SchemaError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.booleans())
def test_parse_framed_fuzz_only_schema_errors(data: bytes, indexes: bool) -> None:
    try:
        schema_id, found, body = parse_framed(data, indexes)
    except SchemaError:
        return
    assert 0 <= schema_id < 2**32 and len(body) <= len(data) - 5


DECODERS = {"AVRO": json.dumps(USER), "JSON": '{"type": "object"}', "PROTOBUF": ORDER_PROTO}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(DECODERS)), st.binary(max_size=64))
def test_decode_fuzz_only_schema_errors(schema_type: str, payload: bytes) -> None:
    schema = parse_schema(schema_type, DECODERS[schema_type])
    try:
        schema.decode(payload)
    except SchemaError:
        pass
