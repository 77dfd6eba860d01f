"""Schema-at-producer's verdicts (kafkasim/schemas/validation.py) without a broker: the header checked once per
batch and schema id, the payload decoded for every record."""

from __future__ import annotations

import io
import json

from fastavro import parse_schema, schemaless_writer

from kafkasim.schemas.registry import SchemaRegistryState
from kafkasim.schemas.validation import SchemaCheck, refused_records

EVENT = {"type": "record", "name": "Event", "namespace": "t",
         "fields": [{"name": "tags", "type": {"type": "array", "items": "null"}}, {"name": "name", "type": "string"}]}


def registry() -> SchemaRegistryState:
    holder: list[SchemaRegistryState] = []

    def write(records: list[tuple[bytes, bytes | None]]) -> None:
        for key, value in records:
            holder[0].apply(key, value)

    holder.append(SchemaRegistryState(write))
    return holder[0]


def framed(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def event(name: str) -> bytes:
    buf = io.BytesIO()
    schemaless_writer(buf, parse_schema(EVENT), {"tags": [None], "name": name})
    return buf.getvalue()


def test_validation_payload_decoded_per_record_header_once_per_batch() -> None:
    reg = registry()
    good = reg.register("orders-value", {"schema": json.dumps(EVENT)}).id
    hostile = b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01\x00\x00"  # 2^62 nulls, same header as the good ones
    records = [(None, framed(good, event("a"))), (None, framed(good, hostile)), (None, framed(good, event("b"))),
               (None, framed(999, event("c"))), (None, None), (None, framed(good, event("d") + b"\x00"))]
    refused = refused_records(reg, "orders", SchemaCheck(None, "TopicNameStrategy", True), records)
    assert [i for i, _ in refused] == [1, 3, 5]
    assert "does not decode with schema" in refused[0][1] and "more values than" in refused[0][1]
    assert refused[1][1] == "the value's schema id 999 is not registered"
    assert "1 bytes are left after the Avro value" in refused[2][1]
    # at level id the payloads are not read
    assert [i for i, _ in refused_records(reg, "orders", SchemaCheck(None, "TopicNameStrategy", False), records)] == [3]


def test_validation_without_a_registry_refuses_with_the_reason() -> None:
    refused = refused_records(None, "orders", SchemaCheck("TopicNameStrategy", None, True), [(b"k", None)])
    assert refused == [(0, "the key cannot be validated: topic orders validates schemas but no schema registry runs")]
