"""The schema registry with Confluent's own clients over HTTP, and its serializers producing to and consuming
from kafkasim over TCP: confluent-kafka's SchemaRegistryClient, AvroSerializer/AvroDeserializer and
JSONSerializer/JSONDeserializer, the three subject name strategies, references; Confluent's error codes
for what the registry refuses; the state in ``_schemas`` surviving a restart of a data directory."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient, SchemaRegistryError
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from compat_tests.clients.pyclients import poll_until
from kafkasim.testing import Cluster

pytestmark = pytest.mark.kafkasim_only  # the schema registry and schema-at-producer are kafkasim's own

USER_V1 = {"type": "record", "name": "User", "namespace": "events",
           "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}]}
#: BACKWARD compatible with v1: the new field has a default
USER_V2 = {**USER_V1, "fields": [*USER_V1["fields"], {"name": "email", "type": ["null", "string"], "default": None}]}
#: not BACKWARD compatible with v1: a new field without a default
USER_BAD = {**USER_V1, "fields": [*USER_V1["fields"], {"name": "city", "type": "string"}]}


@pytest.fixture
def registry_cluster(make_cluster: Callable[..., Any]) -> Any:
    return make_cluster(schema_registry=True)


@pytest.fixture
def make_sr() -> Iterator[Callable[[str], SchemaRegistryClient]]:
    """``make_sr(url)``: a SchemaRegistryClient (its own cache), closed at teardown."""
    made: list[SchemaRegistryClient] = []

    def factory(url: str) -> SchemaRegistryClient:
        made.append(SchemaRegistryClient({"url": url}))
        return made[-1]

    yield factory
    for client in made:
        client.close()


@pytest.fixture
def sr(registry_cluster: Any, make_sr: Callable[[str], SchemaRegistryClient]) -> SchemaRegistryClient:
    return make_sr(registry_cluster.schema_registry_url)


def avro(schema: dict[str, Any]) -> Schema:
    return Schema(json.dumps(schema), "AVRO")


def consume_values(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        got: list[bytes] = []

        def more() -> bool:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                got.append(msg.value())
            return len(got) >= count

        poll_until(more, f"{count} records of {topic}")
        return got
    finally:
        consumer.close()


def test_schema_registry_register_and_read_back(sr: SchemaRegistryClient) -> None:
    schema_id = sr.register_schema("users-value", avro(USER_V1))
    assert sr.register_schema("users-value", avro(USER_V1)) == schema_id  # the same schema: the same id
    fetched = sr.get_schema(schema_id)
    assert json.loads(fetched.schema_str) == USER_V1
    latest = sr.get_latest_version("users-value")
    assert (latest.schema_id, latest.version, latest.subject) == (schema_id, 1, "users-value")
    assert sr.get_subjects() == ["users-value"]
    assert sr.get_versions("users-value") == [1]
    assert sr.lookup_schema("users-value", avro(USER_V1)).version == 1
    # the same schema under another subject shares the id, as in Confluent
    assert sr.register_schema("other-value", avro(USER_V1)) == schema_id


def test_schema_registry_compatibility_refuses_breaking_change(sr: SchemaRegistryClient) -> None:
    sr.register_schema("users-value", avro(USER_V1))
    assert sr.test_compatibility("users-value", avro(USER_V2)) is True
    assert sr.test_compatibility("users-value", avro(USER_BAD)) is False
    with pytest.raises(SchemaRegistryError) as err:
        sr.register_schema("users-value", avro(USER_BAD))
    assert err.value.http_status_code == 409
    v2 = sr.register_schema("users-value", avro(USER_V2))
    assert sr.get_latest_version("users-value").schema_id == v2
    assert sr.get_versions("users-value") == [1, 2]
    sr.set_compatibility("users-value", "NONE")
    assert sr.register_schema("users-value", avro(USER_BAD)) > v2
    assert sr.get_compatibility("users-value") == "NONE"


def test_schema_registry_errors_are_confluents(sr: SchemaRegistryClient) -> None:
    with pytest.raises(SchemaRegistryError) as err:
        sr.get_latest_version("nope")
    assert (err.value.http_status_code, err.value.error_code) == (404, 40401)
    with pytest.raises(SchemaRegistryError) as err:
        sr.get_schema(999)
    assert (err.value.http_status_code, err.value.error_code) == (404, 40403)
    with pytest.raises(SchemaRegistryError) as err:
        sr.register_schema("bad-value", Schema('{"type": "record", "name": "X", "fields": [{"name": "a"}]}', "AVRO"))
    assert (err.value.http_status_code, err.value.error_code) == (422, 42201)
    sr.register_schema("users-value", avro(USER_V1))
    with pytest.raises(SchemaRegistryError) as err:
        sr.get_version("users-value", 7)
    assert (err.value.http_status_code, err.value.error_code) == (404, 40402)


def test_schema_registry_soft_and_permanent_delete(registry_cluster: Any, sr: SchemaRegistryClient,
                                                   make_sr: Callable[[str], SchemaRegistryClient]) -> None:
    schema_id = sr.register_schema("users-value", avro(USER_V1))
    with pytest.raises(SchemaRegistryError) as err:
        sr.delete_subject("users-value", permanent=True)  # not soft-deleted first
    assert err.value.error_code == 40405
    assert sr.delete_subject("users-value") == [1]
    assert sr.get_subjects() == []
    assert sr.get_schema(schema_id).schema_str  # a soft-deleted schema is still found by id
    assert sr.delete_subject("users-value", permanent=True) == [1]
    sr2 = make_sr(registry_cluster.schema_registry_url)  # no cache
    with pytest.raises(SchemaRegistryError) as err:
        sr2.get_schema(schema_id)
    assert err.value.error_code == 40403


@pytest.mark.parametrize("strategy", ["topic", "record", "topic_record"])
def test_schema_registry_avro_serializer_round_trip(registry_cluster: Any, sr: SchemaRegistryClient,
                                                    make_sr: Callable[[str], SchemaRegistryClient],
                                                    ck_producer: Callable[..., Any], topic_name: str,
                                                    strategy: str) -> None:
    from confluent_kafka.schema_registry import (
        record_subject_name_strategy,
        topic_record_subject_name_strategy,
        topic_subject_name_strategy,
    )

    strategies = {"topic": topic_subject_name_strategy, "record": record_subject_name_strategy,
                  "topic_record": topic_record_subject_name_strategy}
    subject = {"topic": f"{topic_name}-value", "record": "events.User", "topic_record": f"{topic_name}-events.User"}
    serializer = AvroSerializer(sr, json.dumps(USER_V1), conf={"subject.name.strategy": strategies[strategy]})
    producer = ck_producer({"bootstrap.servers": registry_cluster.bootstrap_servers})
    ctx = SerializationContext(topic_name, MessageField.VALUE)
    events = [{"name": f"u{i}", "age": 20 + i} for i in range(5)]
    for event in events:
        producer.produce(topic_name, value=serializer(event, ctx))
    assert producer.flush(10) == 0
    assert sr.get_subjects() == [subject[strategy]]
    values = consume_values(registry_cluster.bootstrap_servers, topic_name, len(events))
    deserializer = AvroDeserializer(make_sr(registry_cluster.schema_registry_url))
    assert [deserializer(v, ctx) for v in values] == events
    assert all(v[0] == 0 and int.from_bytes(v[1:5], "big") == sr.get_latest_version(subject[strategy]).schema_id
               for v in values)
    assert [r.value_decoded for r in registry_cluster.records(topic_name, decode=True)] == events
    assert all(r.value_decoded is None for r in registry_cluster.records(topic_name))  # not asked


def test_schema_registry_json_schema_serializer_round_trip(registry_cluster: Any, sr: SchemaRegistryClient,
                                                           ck_producer: Callable[..., Any], topic_name: str) -> None:
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "title": "Order", "type": "object",
              "properties": {"id": {"type": "integer"}, "item": {"type": "string"}}, "required": ["id"]}
    serializer = JSONSerializer(json.dumps(schema), sr)
    producer = ck_producer({"bootstrap.servers": registry_cluster.bootstrap_servers})
    ctx = SerializationContext(topic_name, MessageField.VALUE)
    orders = [{"id": 1, "item": "tea"}, {"id": 2, "item": "cake"}]
    for order in orders:
        producer.produce(topic_name, value=serializer(order, ctx))
    assert producer.flush(10) == 0
    latest = sr.get_latest_version(f"{topic_name}-value")
    assert latest.schema.schema_type == "JSON"
    values = consume_values(registry_cluster.bootstrap_servers, topic_name, len(orders))
    deserializer = JSONDeserializer(None, schema_registry_client=sr)
    assert [deserializer(v, ctx) for v in values] == orders


def test_schema_registry_avro_references(sr: SchemaRegistryClient) -> None:
    address = {"type": "record", "name": "Address", "namespace": "events",
               "fields": [{"name": "city", "type": "string"}]}
    sr.register_schema("address", avro(address))
    person = {"type": "record", "name": "Person", "namespace": "events",
              "fields": [{"name": "name", "type": "string"}, {"name": "home", "type": "events.Address"}]}
    person_id = sr.register_schema("person-value", Schema(json.dumps(person), "AVRO",
                                                          [SchemaReference("events.Address", "address", 1)]))
    got = sr.get_schema(person_id)
    assert [(r.name, r.subject, r.version) for r in got.references] == [("events.Address", "address", 1)]
    with pytest.raises(SchemaRegistryError) as err:  # a version that others reference cannot be deleted
        sr.delete_version("address", 1)
    assert err.value.error_code == 42206


def test_schema_registry_state_survives_restart(tmp_path: Any, make_sr: Callable[[str], SchemaRegistryClient]
                                               ) -> None:
    """Subjects, ids, configs and modes are records of _schemas: a registry on the same data directory comes
    back with them, and new ids continue after the old ones."""
    with Cluster(schema_registry=True, data_dir=str(tmp_path), fsync="never").run_in_thread() as first:
        sr = make_sr(first.schema_registry_url)
        v1 = sr.register_schema("users-value", avro(USER_V1))
        v2 = sr.register_schema("users-value", avro(USER_V2))
        sr.set_compatibility("users-value", "FULL")
        keys = [json.loads(r.key)["keytype"] for r in first.records("_schemas")]
    assert keys == ["SCHEMA", "SCHEMA", "CONFIG"]
    with Cluster(schema_registry=True, data_dir=str(tmp_path), fsync="never").run_in_thread() as second:
        sr = make_sr(second.schema_registry_url)
        assert [v.schema_id for v in (sr.get_version("users-value", 1), sr.get_version("users-value", 2))] == [v1, v2]
        assert sr.get_compatibility("users-value") == "FULL"
        other = {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "long"}]}
        assert sr.register_schema("other-value", avro(other)) == max(v1, v2) + 1


# ---------------------------------------------------------------------------------------------- schema-at-producer


def framed(schema_id: int, payload: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + payload


def avro_bytes(schema: dict[str, Any], value: dict[str, Any]) -> bytes:
    import io

    from fastavro import parse_schema, schemaless_writer

    buf = io.BytesIO()
    schemaless_writer(buf, parse_schema(schema), value)
    return buf.getvalue()


def ck_send(producer: Any, topic: str, value: bytes) -> Any:
    """Produce one record with confluent-kafka and return its delivery error (None: stored)."""
    outcome: list[Any] = []
    producer.produce(topic, value=value, on_delivery=lambda err, msg: outcome.append(err))
    producer.flush(10)
    assert len(outcome) == 1
    return outcome[0]


@pytest.mark.parametrize("level", ["id", "payload"])
def test_schema_validation_refuses_unregistered_values(make_cluster: Callable[..., Any],
                                                       make_sr: Callable[[str], SchemaRegistryClient],
                                                       ck_producer: Callable[..., Any], topic_name: str,
                                                       level: str) -> None:
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient, NewTopic

    cluster = make_cluster(schema_registry=True)
    sr = make_sr(cluster.schema_registry_url)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    configs = {"confluent.value.schema.validation": "true", "kafkasim.schema.validation.level": level}
    for future in admin.create_topics([NewTopic(topic_name, 1, 1, config=configs)]).values():
        future.result(10)
    good_id = sr.register_schema(f"{topic_name}-value", avro(USER_V1))
    other_id = sr.register_schema("elsewhere-value", Schema(json.dumps({"type": "string"}), "AVRO"))
    producer = ck_producer({"bootstrap.servers": cluster.bootstrap_servers, "linger.ms": 0, "retries": 0})

    valid = framed(good_id, avro_bytes(USER_V1, {"name": "a", "age": 1}))
    assert ck_send(producer, topic_name, valid) is None
    refused = {"unframed": b"plain text", "unknown id": framed(999, b"x"), "another subject's id": framed(other_id, b"\x02a")}
    if level == "payload":
        refused["undecodable payload"] = framed(good_id, b"\xff")
    for what, value in refused.items():
        err = ck_send(producer, topic_name, value)
        assert err is not None and err.code() == KafkaError.INVALID_RECORD, what
    if level == "id":  # the id is checked, not the payload
        assert ck_send(producer, topic_name, framed(good_id, b"\xff")) is None
    stored = [r.value for r in cluster.records(topic_name)]
    assert stored == [valid] + ([framed(good_id, b"\xff")] if level == "id" else [])


def zigzag(n: int) -> bytes:
    """``n`` as Avro writes a long (zigzag, then base-128 varint)."""
    u = (n << 1) ^ (n >> 63)
    out = bytearray()
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    return bytes(out) + bytes([u])


def test_schema_validation_refuses_hostile_payloads_and_keeps_serving(make_cluster: Callable[..., Any],
                                                                     make_sr: Callable[[str], SchemaRegistryClient],
                                                                     ck_producer: Callable[..., Any],
                                                                     topic_name: str) -> None:
    """Payloads framed with a registered id that declare 2^62 zero-size items (nulls, empty records), nested, or a
    string far longer than themselves: each is refused as INVALID_RECORD at once (the broker does not try to
    decode 2^62 values), and the broker keeps serving that producer and others."""
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient, NewTopic

    cluster = make_cluster(schema_registry=True)
    sr = make_sr(cluster.schema_registry_url)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    configs = {"confluent.value.schema.validation": "true", "kafkasim.schema.validation.level": "payload"}
    other = f"{topic_name}-other"
    for future in admin.create_topics([NewTopic(topic_name, 1, 1, config=configs),
                                       NewTopic(other, 1, 1, config=configs)]).values():
        future.result(10)
    schema = {"type": "record", "name": "Tagged", "namespace": "events", "fields": [
        {"name": "marks", "type": {"type": "array", "items": "null"}},
        {"name": "nested", "type": {"type": "array", "items": {"type": "array", "items": {
            "type": "record", "name": "Nothing", "fields": []}}}},
        {"name": "name", "type": "string"}]}
    schema_id = sr.register_schema(f"{topic_name}-value", avro(schema))
    sr.register_schema(f"{other}-value", avro(schema))
    producer = ck_producer({"bootstrap.servers": cluster.bootstrap_servers, "linger.ms": 0, "retries": 0})
    bystander = ck_producer({"bootstrap.servers": cluster.bootstrap_servers, "linger.ms": 0, "retries": 0})
    big = 2**62
    hostile = {
        "2^62 nulls": zigzag(big) + zigzag(0) + zigzag(0) + zigzag(0),
        "2^62 arrays of 2^62 empty records": zigzag(0) + zigzag(big) + zigzag(big) + zigzag(0),
        "a string of 2^62 bytes": zigzag(0) + zigzag(0) + zigzag(big) + b"abc",
        "2^62 nulls in blocks with sizes": zigzag(-big) + zigzag(0) + zigzag(0) + zigzag(0) + zigzag(0),
    }
    valid = framed(schema_id, avro_bytes(schema, {"marks": [None, None], "nested": [[{}]], "name": "ok"}))
    for what, payload in hostile.items():
        err = ck_send(producer, topic_name, framed(schema_id, payload))
        assert err is not None and err.code() == KafkaError.INVALID_RECORD, what
        assert ck_send(bystander, other, valid) is None, what  # others are served meanwhile
    assert ck_send(producer, topic_name, valid) is None  # and so is the producer that sent them
    assert [r.value for r in cluster.records(topic_name)] == [valid]
    assert [r.value for r in cluster.records(other)] == [valid] * len(hostile)


def test_schema_validation_record_errors_reach_kafka_python(make_cluster: Callable[..., Any],
                                                            make_sr: Callable[[str], SchemaRegistryClient],
                                                            topic_name: str) -> None:
    """kafka-python sends Produce v8+ and reports the refused batch as InvalidRecordError; the broker's answer
    names the refused record (batch index and reason)."""
    import kafka.errors as Errors
    from kafka import KafkaProducer

    cluster = make_cluster(schema_registry=True, schema_validation="id")
    make_sr(cluster.schema_registry_url).register_schema(f"{topic_name}-value", avro(USER_V1))
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, retries=0, request_timeout_ms=10_000)
    try:
        with pytest.raises(Errors.InvalidRecordError):
            producer.send(topic_name, value=b"not framed").get(10)
        assert producer.send("_internal-ish", value=b"not framed").get(10).offset == 0  # a leading "_": exempt
    finally:
        producer.close(timeout=5)
    assert cluster.records(topic_name) == []


@pytest.mark.kafkajs
def test_schema_registry_kafkajs_confluent_schema_registry(registry_cluster: Any, sr: SchemaRegistryClient,
                                                           topic_name: str) -> None:
    """@kafkajs/confluent-schema-registry registers, encodes and decodes against kafkasim's registry, and its
    incompatible second schema is refused with 409."""
    import shutil
    import subprocess

    from compat_tests.clients import kafkajs

    reason = kafkajs.unavailable_reason()
    if reason is None and not (kafkajs.NODE_DIR / "node_modules" / "@kafkajs" / "confluent-schema-registry").is_dir():
        reason = "@kafkajs/confluent-schema-registry is not installed; run scripts/install_test_deps"
    if reason is not None or shutil.which("node") is None:
        pytest.skip(reason or "node is not on PATH")
    proc = subprocess.run(["node", str(kafkajs.NODE_DIR / "schema_registry.js"), registry_cluster.bootstrap_servers,
                           registry_cluster.schema_registry_url, topic_name], capture_output=True, text=True,
                          timeout=60, cwd=kafkajs.NODE_DIR)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["decoded"] == [{"user": f"u{i}", "at": 1000 + i} for i in (1, 2, 3)]
    assert result["incompatible_status"] == 409
    assert sr.get_latest_version(f"{topic_name}-value").schema_id == result["id"]


def order_message_class() -> Any:
    """A protobuf message class built at run time (no protoc): shop.Order {int64 id = 1; string item = 2;}."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="shop/order.proto", package="shop", syntax="proto3")
    order = fdp.message_type.add(name="Order")
    order.field.add(name="id", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
                    label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    order.field.add(name="item", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                    label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Order"))


def test_schema_registry_protobuf_serializer_round_trip(registry_cluster: Any, sr: SchemaRegistryClient,
                                                        ck_producer: Callable[..., Any], topic_name: str) -> None:
    """confluent-kafka's ProtobufSerializer registers its schema as a base64 FileDescriptorProto; its
    deserializer reads it back (format=serialized) and the broker decodes the payload with it."""
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer

    order = order_message_class()
    serializer = ProtobufSerializer(order, sr, {"use.deprecated.format": False})
    producer = ck_producer({"bootstrap.servers": registry_cluster.bootstrap_servers})
    ctx = SerializationContext(topic_name, MessageField.VALUE)
    for i in (1, 2):
        producer.produce(topic_name, value=serializer(order(id=i, item=f"item{i}"), ctx))
    assert producer.flush(10) == 0
    assert sr.get_latest_version(f"{topic_name}-value").schema.schema_type == "PROTOBUF"
    values = consume_values(registry_cluster.bootstrap_servers, topic_name, 2)
    deserializer = ProtobufDeserializer(order, {"use.deprecated.format": False}, schema_registry_client=sr)
    assert [(m.id, m.item) for m in (deserializer(v, ctx) for v in values)] == [(1, "item1"), (2, "item2")]
    assert [r.value_decoded for r in registry_cluster.records(topic_name, decode=True)] == [
        {"id": 1, "item": "item1"}, {"id": 2, "item": "item2"}]


def test_schema_registry_serve_flags_basic_auth_and_validation(tmp_path: Any, ck_producer: Callable[..., Any]) -> None:
    """``kafkasim serve --schema-registry-port 0 --schema-registry-auth u:p --schema-validation id``: the ready
    line names the registry, the registry wants basic auth (Confluent's client sends basic.auth.user.info), and
    values that carry no registered schema id are refused."""
    from confluent_kafka import KafkaError

    from compat_tests.clients.brokers import BrokerProcess

    broker = BrokerProcess(None, tmp_path / "serve.log", "--schema-registry-port", "0", "--schema-registry-auth",
                           "app:secret", "--schema-validation", "id")
    broker.start()
    try:
        url = broker.schema_registry_url
        assert url is not None and url.startswith("http://127.0.0.1:")
        anonymous = SchemaRegistryClient({"url": url})
        with pytest.raises(SchemaRegistryError) as err:
            anonymous.get_subjects()
        assert (err.value.http_status_code, err.value.error_code) == (401, 40101)
        anonymous.close()
        sr = SchemaRegistryClient({"url": url, "basic.auth.user.info": "app:secret"})
        schema_id = sr.register_schema("events-value", avro(USER_V1))
        sr.close()
        producer = ck_producer({"bootstrap.servers": broker.bootstrap_servers, "retries": 0})
        good = framed(schema_id, avro_bytes(USER_V1, {"name": "a", "age": 1}))
        assert ck_send(producer, "events", good) is None
        err = ck_send(producer, "events", b"unframed")
        assert err is not None and err.code() == KafkaError.INVALID_RECORD
    finally:
        broker.terminate()
        broker.close()


def test_schema_registry_records_decode_over_the_control_api_and_cli(tmp_path: Any,
                                                                     ck_producer: Callable[..., Any]) -> None:
    """``kafkasim records TOPIC --decode`` and ``GET .../records?decode=true`` show registry-framed Avro values
    as JSON, against a ``kafkasim serve`` process."""
    import subprocess
    import sys
    import urllib.request

    from compat_tests.clients.brokers import BrokerProcess

    broker = BrokerProcess(None, tmp_path / "serve.log", "--schema-registry-port", "0", "--control-port", "0")
    broker.start()
    try:
        sr = SchemaRegistryClient({"url": broker.schema_registry_url})
        serializer = AvroSerializer(sr, json.dumps(USER_V1))
        producer = ck_producer({"bootstrap.servers": broker.bootstrap_servers})
        producer.produce("users", value=serializer({"name": "ada", "age": 36}, SerializationContext("users",
                                                                                                    MessageField.VALUE)))
        assert producer.flush(10) == 0
        sr.close()
        url = f"{broker.control_url}/clusters/default/topics/users/records?decode=true"
        with urllib.request.urlopen(url, timeout=10) as resp:
            [record] = json.loads(resp.read())["records"]
        assert (record["value_decoded"], record["key_decoded"]) == ({"name": "ada", "age": 36}, None)
        cli = subprocess.run([sys.executable, "-m", "kafkasim", "records", "users", "--decode", "--control",
                              broker.control_url], capture_output=True, text=True, timeout=30)
        assert cli.returncode == 0, cli.stderr
        assert 'value={"name":"ada","age":36}' in cli.stdout
    finally:
        broker.terminate()
        broker.close()


def test_schema_registry_async_client_and_aiokafka(registry_cluster: Any, topic_name: str) -> None:
    """confluent-kafka's AsyncSchemaRegistryClient registers and reads back; aiokafka produces values framed by
    hand with fastavro (the usual pattern with that client) to a topic with schema validation, and an unframed
    one fails. aiokafka 0.14 has no error class for INVALID_RECORD (87): ``aiokafka.errors.for_code(87)`` is
    UnknownError, so that is what it raises (kafka-python and confluent-kafka name the code)."""
    import asyncio

    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError as AIOKafkaError
    from confluent_kafka.schema_registry import AsyncSchemaRegistryClient

    async def main() -> tuple[int, str, Any]:
        async with AsyncSchemaRegistryClient({"url": registry_cluster.schema_registry_url}) as sr:
            schema_id = await sr.register_schema(f"{topic_name}-value", avro(USER_V1))
            fetched = (await sr.get_schema(schema_id)).schema_str
        producer = AIOKafkaProducer(bootstrap_servers=registry_cluster.bootstrap_servers, request_timeout_ms=10_000)
        await producer.start()
        try:
            await producer.send_and_wait(topic_name, framed(schema_id, avro_bytes(USER_V1, {"name": "b", "age": 2})))
            try:
                await producer.send_and_wait(topic_name, b"unframed")
                refused: Any = None
            except AIOKafkaError as exc:
                refused = exc
        finally:
            await producer.stop()
        return schema_id, fetched, refused

    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": registry_cluster.bootstrap_servers})
    config = {"confluent.value.schema.validation": "true"}
    admin.create_topics([NewTopic(topic_name, 1, 1, config=config)])[topic_name].result(10)
    schema_id, fetched, refused = asyncio.run(main())
    assert json.loads(fetched) == USER_V1
    assert refused is not None and type(refused).__name__ == "UnknownError", refused
    assert [r.value_decoded for r in registry_cluster.records(topic_name, decode=True)] == [{"name": "b", "age": 2}]
