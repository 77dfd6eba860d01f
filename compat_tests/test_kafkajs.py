"""kafkajs 2.2 (node) against the broker over TCP.

kafkajs speaks only non-flexible protocol versions (Produce <= v7, Fetch <= v11, Metadata <= v6,
ListOffsets <= v3, CreateTopics <= v3, ...) and picks min(its max, the broker's max) without looking
at the broker's minimum. Its only built-in codec is gzip; the driver registers snappy, lz4 and zstd from
the codec packages pinned in clients/node/package.json, and the codec tests cross-check every codec's
batches with confluent-kafka (librdkafka). Reading is done group-less through kafkajs's internal
Cluster/Broker fetch (see clients/node/driver.js); the Consumer (which needs the group APIs) has its own
test, skipped while the broker does not advertise those APIs.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from compat_tests.clients import kafkajs
from compat_tests.clients.pyclients import CODECS, WAIT_S, codec_payloads

pytestmark = pytest.mark.kafkajs

GROUP_APIS = {8: "OffsetCommit", 9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup",
              12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup"}  # fmt: skip


# ---- helpers ------------------------------------------------------------------------------------


def create_topic(bootstrap: str, topic: str, partitions: int = 1, configs: dict[str, str] | None = None) -> None:
    entries = [{"name": k, "value": v} for k, v in (configs or {}).items()]
    result = kafkajs.ok(
        {
            "op": "create_topics",
            "brokers": bootstrap,
            "topics": [{"topic": topic, "numPartitions": partitions, "configEntries": entries}],
        }
    )
    assert result == {"created": True}


def produce(bootstrap: str, topic: str, messages: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = kafkajs.ok(
        {"op": "produce", "brokers": bootstrap, "topic": topic, "messages": messages, **options}
    )["records"]
    return records


def consume(bootstrap: str, topic: str, count: int, partition: int = 0, offset: str | int = "earliest") -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = kafkajs.ok(
        {
            "op": "consume_from",
            "brokers": bootstrap,
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "count": count,
        }
    )["messages"]
    return messages


def b64(data: bytes | None) -> dict[str, str] | None:
    """Raw bytes as the driver takes them (None stays a null key/value)."""
    return None if data is None else {"base64": base64.b64encode(data).decode()}


def raw(field: str | dict[str, str] | None) -> bytes | None:
    """The bytes behind a key, value or header value in a driver result."""
    if field is None:
        return None
    if isinstance(field, str):
        return field.encode()
    return base64.b64decode(field["base64"])


def describe_topic_configs(bootstrap: str, topic: str) -> dict[str, dict[str, Any]]:
    result = kafkajs.ok(
        {"op": "describe_configs", "brokers": bootstrap, "resources": [{"type": "TOPIC", "name": topic}]}
    )
    (resource,) = result["resources"]
    assert resource["error_code"] == 0, resource
    assert resource["resource_name"] == topic
    configs: dict[str, dict[str, Any]] = resource["configs"]
    return configs


def topic_partitions(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    result = kafkajs.ok({"op": "fetch_metadata", "brokers": bootstrap, "topics": [topic]})
    (described,) = [t for t in result["topics"] if t["name"] == topic]
    partitions: list[dict[str, Any]] = described["partitions"]
    return partitions


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {value!r}")
        time.sleep(0.1)


@pytest.fixture
def kafkasim_no_auto_create(broker_with: Callable[..., str]) -> str:
    """Bootstrap of a broker with auto topic creation off (conftest's broker_with)."""
    return broker_with(auto_create_topics=False)


# ---- protocol versions --------------------------------------------------------------------------

# What kafkajs 2.2.4 implements (max version) for the APIs these tests use.
KAFKAJS_MAX_VERSIONS = {0: 7, 1: 11, 2: 3, 3: 6, 18: 2, 19: 3, 20: 1, 32: 2, 33: 1, 37: 1}


def test_kafkajs_api_versions_overlap_what_kafkajs_implements(bootstrap_servers: str) -> None:
    # kafkajs sends min(its max, broker max) and never checks the broker's minimum, so a broker whose
    # minimum is above kafkajs's maximum breaks kafkajs with an UNSUPPORTED_VERSION error at run time.
    versions = kafkajs.ok({"op": "api_versions", "brokers": bootstrap_servers})["api_versions"]
    for key in (0, 1, 2, 3, 18):
        assert str(key) in versions, f"broker does not advertise API key {key}"
    for key, kafkajs_max in KAFKAJS_MAX_VERSIONS.items():
        if str(key) not in versions:
            continue
        advertised = versions[str(key)]
        assert advertised["min_version"] <= min(kafkajs_max, advertised["max_version"]), (key, advertised)


# ---- produce and fetch --------------------------------------------------------------------------


def test_kafkajs_round_trip_keeps_keys_values_headers_and_timestamps(bootstrap_servers: str, topic_name: str) -> None:
    create_topic(bootstrap_servers, topic_name)
    base = int(time.time() * 1000) - 60_000
    sent = [
        {"key": "k0", "value": "v0", "headers": {"h1": "a", "h2": "b"}, "timestamp": base, "partition": 0},
        {"key": None, "value": "no-key", "timestamp": base + 1, "partition": 0},
        {"key": "tombstone", "value": None, "timestamp": base + 2, "partition": 0},
        {"key": "k3", "value": "", "headers": {"dup": ["x", "y"]}, "timestamp": base + 3, "partition": 0},
    ]
    records = produce(bootstrap_servers, topic_name, sent)
    assert [(r["partition"], r["error_code"], r["base_offset"]) for r in records] == [(0, 0, "0")]

    got = consume(bootstrap_servers, topic_name, count=4)
    assert [m["offset"] for m in got] == ["0", "1", "2", "3"]
    assert [m["key"] for m in got] == ["k0", None, "tombstone", "k3"]
    assert [m["value"] for m in got] == ["v0", "no-key", None, ""]
    assert [m["timestamp"] for m in got] == [str(base + i) for i in range(4)]
    assert got[0]["headers"] == {"h1": "a", "h2": "b"}
    assert got[1]["headers"] == {}
    assert got[3]["headers"] == {"dup": ["x", "y"]}  # repeated header keys survive, in order


def test_kafkajs_round_trip_keeps_binary_keys_and_values(bootstrap_servers: str, topic_name: str) -> None:
    create_topic(bootstrap_servers, topic_name)
    raw_key = bytes(range(256))
    raw_value = b"\xff\xfe\x00\x80" * 1000
    b64 = base64.b64encode
    produce(
        bootstrap_servers,
        topic_name,
        [{"key": {"base64": b64(raw_key).decode()}, "value": {"base64": b64(raw_value).decode()},
          "headers": {"bin": {"base64": b64(b"\xc3\x28").decode()}}}],  # fmt: skip
    )
    (got,) = consume(bootstrap_servers, topic_name, count=1)
    assert base64.b64decode(got["key"]["base64"]) == raw_key
    assert base64.b64decode(got["value"]["base64"]) == raw_value
    assert base64.b64decode(got["headers"]["bin"]["base64"]) == b"\xc3\x28"


# Every codec Kafka defines. gzip is built into kafkajs; the driver registers snappy, lz4 and zstd from
# the packages pinned in clients/node/package.json (see "Codecs" in driver.js).
KAFKAJS_CODECS = CODECS


def assert_codec_calls(result: dict[str, Any], compression: str, what: str) -> None:
    """The driver's codec counters show the op went through ``compression`` (and no other codec)."""
    calls = result["codec_calls"]
    if compression == "none":
        assert calls == {}, calls
        return
    assert set(calls) == {compression}, calls
    other = "decompress" if what == "compress" else "compress"
    assert calls[compression][what] >= 1 and calls[compression][other] == 0, calls


@pytest.mark.parametrize("compression", ["none", *KAFKAJS_CODECS])
def test_kafkajs_batch_round_trip_with_codec(bootstrap_servers: str, topic_name: str, compression: str) -> None:
    create_topic(bootstrap_servers, topic_name)
    sent = [{"key": f"k{i}", "value": f"value-{i}-" + "x" * (i % 50), "partition": 0} for i in range(100)]
    produced = kafkajs.ok(
        {"op": "produce", "brokers": bootstrap_servers, "topic": topic_name, "messages": sent, "compression": compression}
    )
    assert [(r["error_code"], r["base_offset"]) for r in produced["records"]] == [(0, "0")]
    assert_codec_calls(produced, compression, "compress")

    fetched = kafkajs.ok(
        {"op": "consume_from", "brokers": bootstrap_servers, "topic": topic_name, "partition": 0, "count": 100}
    )
    assert [(m["offset"], m["key"], m["value"]) for m in fetched["messages"]] == [
        (str(i), s["key"], s["value"]) for i, s in enumerate(sent)
    ]
    assert_codec_calls(fetched, compression, "decompress")  # the batch came back compressed, as produced
    if compression != "none":
        # The whole batch comes back for a fetch from its middle; the client drops the records before
        # the fetch offset, so the first record it sees is the one asked for.
        tail = consume(bootstrap_servers, topic_name, count=63, offset=37)
        assert [m["offset"] for m in tail] == [str(i) for i in range(37, 100)]


def codec_records() -> list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]:
    """(key, value, headers) for the byte-exact codec tests: codec_payloads() with binary headers."""
    records = []
    for i, (key, value) in enumerate(codec_payloads()):
        headers = [("idx", str(i).encode()), ("bin", bytes([i % 256, 0xFF, 0x00, 0x80]))]
        if i % 10 == 0:
            headers += [("dup", b"first"), ("dup", b""), ("dup", bytes(range(256)))]
        records.append((key, value, headers))
    return records


def headers_in(headers: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Ordered (key, value) pairs as the driver takes them: a repeated key maps to a list, in order."""
    out: dict[str, Any] = {}
    for k, v in headers:
        if k in out:
            out[k] = (out[k] if isinstance(out[k], list) else [out[k]]) + [b64(v)]
        else:
            out[k] = b64(v)
    return out


def headers_out(headers: dict[str, Any]) -> list[tuple[str, bytes | None]]:
    return [(k, raw(v)) for k, vals in headers.items() for v in (vals if isinstance(vals, list) else [vals])]


def confluent_read(bootstrap: str, topic: str, count: int) -> list[Any]:
    """Read ``count`` messages of partition 0 from the beginning with confluent-kafka, assign() only."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "kafkasim-compat-assign-only",  # required by librdkafka; never used: no commits
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        messages: list[Any] = []
        deadline = time.monotonic() + WAIT_S
        while len(messages) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                raise KafkaException(msg.error())
            messages.append(msg)
        return messages
    finally:
        consumer.close()


@pytest.mark.parametrize("codec", KAFKAJS_CODECS)
def test_kafkajs_codec_round_trips_byte_exact_and_reads_in_confluent_kafka(
    bootstrap_servers: str, topic_name: str, codec: str
) -> None:
    create_topic(bootstrap_servers, topic_name)
    records = codec_records()
    sent = [{"key": b64(k), "value": b64(v), "headers": headers_in(h), "partition": 0} for k, v, h in records]
    produced = kafkajs.ok(
        {"op": "produce", "brokers": bootstrap_servers, "topic": topic_name, "messages": sent, "compression": codec}
    )
    assert [(r["error_code"], r["base_offset"]) for r in produced["records"]] == [(0, "0")]
    assert_codec_calls(produced, codec, "compress")

    # kafkajs reads its own batch back through the same codec package.
    fetched = kafkajs.ok(
        {"op": "consume_from", "brokers": bootstrap_servers, "topic": topic_name, "partition": 0,
         "count": len(records)}  # fmt: skip
    )
    assert_codec_calls(fetched, codec, "decompress")
    got = fetched["messages"]
    assert [m["offset"] for m in got] == [str(i) for i in range(len(records))]
    assert [(raw(m["key"]), raw(m["value"]), headers_out(m["headers"])) for m in got] == records

    # librdkafka decodes kafkajs's batch to the same bytes.
    messages = confluent_read(bootstrap_servers, topic_name, len(records))
    assert [m.offset() for m in messages] == list(range(len(records)))
    assert [(m.key(), m.value(), m.headers() or []) for m in messages] == records
    assert [str(m.timestamp()[1]) for m in messages] == [m["timestamp"] for m in got]


@pytest.mark.parametrize("acks", [-1, 1, 0])
def test_kafkajs_produce_with_acks_delivers(bootstrap_servers: str, topic_name: str, acks: int) -> None:
    create_topic(bootstrap_servers, topic_name)
    records = produce(bootstrap_servers, topic_name, [{"value": f"a{i}", "partition": 0} for i in range(3)], acks=acks)
    if acks == 0:
        assert records == []  # no response to acks=0; kafkajs returns nothing
    else:
        assert [(r["error_code"], r["base_offset"]) for r in records] == [(0, "0")]
    got = consume(bootstrap_servers, topic_name, count=3)
    assert [m["value"] for m in got] == ["a0", "a1", "a2"]


def test_kafkajs_produce_to_explicit_partitions_of_many(bootstrap_servers: str, topic_name: str) -> None:
    partitions = 12
    create_topic(bootstrap_servers, topic_name, partitions=partitions)
    assert [p["partition"] for p in topic_partitions(bootstrap_servers, topic_name)] == list(range(partitions))

    # One send, one Produce request carrying all 12 partitions (kafkajs groups by leader).
    sent = [{"key": f"k{p}-{i}", "value": f"p{p}-{i}", "partition": p} for i in range(2) for p in range(partitions)]
    records = produce(bootstrap_servers, topic_name, sent)
    assert sorted((r["partition"], r["error_code"], r["base_offset"]) for r in records) == [
        (p, 0, "0") for p in range(partitions)
    ]
    offsets = kafkajs.ok({"op": "fetch_topic_offsets", "brokers": bootstrap_servers, "topic": topic_name})
    assert [(p["partition"], p["low"], p["high"]) for p in offsets["partitions"]] == [
        (p, "0", "2") for p in range(partitions)
    ]
    for p in (0, 5, 11):
        got = consume(bootstrap_servers, topic_name, count=2, partition=p)
        assert [(m["partition"], m["offset"], m["value"]) for m in got] == [(p, "0", f"p{p}-0"), (p, "1", f"p{p}-1")]


def test_kafkajs_offsets_by_timestamp_find_first_record_at_or_after(bootstrap_servers: str, topic_name: str) -> None:
    create_topic(bootstrap_servers, topic_name)
    base = int(time.time() * 1000) - 60_000
    for i in range(3):  # three batches, one record each, timestamps one second apart
        produce(bootstrap_servers, topic_name, [{"value": f"t{i}", "timestamp": base + 1000 * i, "partition": 0}])

    def offset_for(ts: int) -> str:
        result = kafkajs.ok(
            {"op": "fetch_topic_offsets_by_timestamp", "brokers": bootstrap_servers, "topic": topic_name, "timestamp": ts}
        )
        (only,) = result["partitions"]
        assert only["partition"] == 0
        offset: str = only["offset"]
        return offset

    assert offset_for(base - 1) == "0"
    assert offset_for(base) == "0"
    assert offset_for(base + 1000) == "1"
    assert offset_for(base + 1500) == "2"
    # Past the last record the broker answers -1, which kafkajs replaces with the high watermark.
    assert offset_for(base + 5000) == "3"


def test_kafkajs_fetch_past_end_fails_offset_out_of_range(bootstrap_servers: str, topic_name: str) -> None:
    create_topic(bootstrap_servers, topic_name)
    produce(bootstrap_servers, topic_name, [{"value": "only", "partition": 0}])
    error = kafkajs.expect_error(
        {"op": "consume_from", "brokers": bootstrap_servers, "topic": topic_name, "partition": 0, "offset": 100,
         "count": 1, "timeout_ms": 8000}  # fmt: skip
    )
    assert (error["type"], error["code"]) == ("OFFSET_OUT_OF_RANGE", 1)


# ---- topic admin --------------------------------------------------------------------------------


def test_kafkajs_create_topic_applies_partitions_and_configs(bootstrap_servers: str, topic_name: str) -> None:
    create_topic(bootstrap_servers, topic_name, partitions=3,
                 configs={"cleanup.policy": "compact", "retention.ms": "123456"})  # fmt: skip

    listed = kafkajs.ok({"op": "list_topics", "brokers": bootstrap_servers})["topics"]
    assert topic_name in listed
    assert [p["partition"] for p in topic_partitions(bootstrap_servers, topic_name)] == [0, 1, 2]
    configs = describe_topic_configs(bootstrap_servers, topic_name)
    assert configs["cleanup.policy"]["value"] == "compact"
    assert configs["cleanup.policy"]["is_default"] is False
    assert configs["retention.ms"]["value"] == "123456"
    assert configs["max.message.bytes"]["is_default"] is True  # Kafka's describe lists unset configs too


def test_kafkajs_create_existing_topic_reports_not_created(bootstrap_servers: str, topic_name: str) -> None:
    create_topic(bootstrap_servers, topic_name)
    result = kafkajs.ok(
        {"op": "create_topics", "brokers": bootstrap_servers, "topics": [{"topic": topic_name, "numPartitions": 1}]}
    )
    assert result == {"created": False}  # kafkajs maps TOPIC_ALREADY_EXISTS to false


def test_kafkajs_alter_configs_replaces_topic_configs(bootstrap_servers: str, topic_name: str) -> None:
    create_topic(bootstrap_servers, topic_name, configs={"cleanup.policy": "compact", "retention.ms": "123456"})
    result = kafkajs.ok(
        {
            "op": "alter_configs",
            "brokers": bootstrap_servers,
            "resources": [{"type": "TOPIC", "name": topic_name,
                           "configEntries": [{"name": "retention.ms", "value": "999"}]}],  # fmt: skip
        }
    )
    assert [(r["resource_name"], r["error_code"]) for r in result["resources"]] == [(topic_name, 0)]
    configs = describe_topic_configs(bootstrap_servers, topic_name)
    assert configs["retention.ms"]["value"] == "999"
    # AlterConfigs (not the incremental API) replaces the whole set: cleanup.policy is back to default.
    assert configs["cleanup.policy"]["value"] == "delete"
    assert configs["cleanup.policy"]["is_default"] is True


def test_kafkajs_create_partitions_grows_topic(bootstrap_servers: str, topic_name: str) -> None:
    create_topic(bootstrap_servers, topic_name, partitions=2)
    kafkajs.ok(
        {"op": "create_partitions", "brokers": bootstrap_servers, "topic_partitions": [{"topic": topic_name, "count": 5}]}
    )
    assert [p["partition"] for p in topic_partitions(bootstrap_servers, topic_name)] == [0, 1, 2, 3, 4]
    records = produce(bootstrap_servers, topic_name, [{"value": "new", "partition": 4}])
    assert [(r["partition"], r["error_code"], r["base_offset"]) for r in records] == [(4, 0, "0")]
    (got,) = consume(bootstrap_servers, topic_name, count=1, partition=4)
    assert got["value"] == "new"


@pytest.mark.parametrize("count", [1, 2])
def test_kafkajs_create_partitions_not_above_current_fails_invalid_partitions(
    bootstrap_servers: str, topic_name: str, count: int
) -> None:
    create_topic(bootstrap_servers, topic_name, partitions=2)
    error = kafkajs.expect_error(
        {"op": "create_partitions", "brokers": bootstrap_servers,
         "topic_partitions": [{"topic": topic_name, "count": count}]}  # fmt: skip
    )
    assert (error["type"], error["code"]) == ("INVALID_PARTITIONS", 37)
    assert len(topic_partitions(bootstrap_servers, topic_name)) == 2


def test_kafkajs_delete_topics_removes_topic(bootstrap_servers: str, topic_name: str) -> None:
    create_topic(bootstrap_servers, topic_name)
    kafkajs.ok({"op": "delete_topics", "brokers": bootstrap_servers, "topics": [topic_name]})

    def gone() -> bool:
        return topic_name not in kafkajs.ok({"op": "list_topics", "brokers": bootstrap_servers})["topics"]

    wait_for(gone, f"{topic_name} to disappear from the topic list")


def test_kafkajs_oversized_message_fails_message_too_large(bootstrap_servers: str, topic_name: str) -> None:
    create_topic(bootstrap_servers, topic_name, configs={"max.message.bytes": "1024"})
    error = kafkajs.expect_error(
        {"op": "produce", "brokers": bootstrap_servers, "topic": topic_name,
         "messages": [{"value": "x" * 10_240, "partition": 0}]}  # fmt: skip
    )
    assert (error["type"], error["code"]) == ("MESSAGE_TOO_LARGE", 10)
    offsets = kafkajs.ok({"op": "fetch_topic_offsets", "brokers": bootstrap_servers, "topic": topic_name})
    assert [(p["partition"], p["high"]) for p in offsets["partitions"]] == [(0, "0")]  # nothing was appended
    # A record that fits is still accepted.
    records = produce(bootstrap_servers, topic_name, [{"value": "small", "partition": 0}])
    assert [(r["error_code"], r["base_offset"]) for r in records] == [(0, "0")]


def test_kafkajs_metadata_describes_brokers_and_topic(bootstrap_servers: str, topic_name: str) -> None:
    create_topic(bootstrap_servers, topic_name, partitions=2)
    result = kafkajs.ok({"op": "fetch_metadata", "brokers": bootstrap_servers, "topics": [topic_name]})
    host, port = bootstrap_servers.rsplit(":", 1)
    node_ids = {b["node_id"] for b in result["brokers"]}
    assert {"host": host, "port": int(port)} in [{"host": b["host"], "port": b["port"]} for b in result["brokers"]]
    assert result["controller"] in node_ids
    assert isinstance(result["cluster_id"], str) and result["cluster_id"]
    (topic,) = result["topics"]
    assert topic["name"] == topic_name
    for p in topic["partitions"]:
        assert p["error_code"] == 0
        assert p["leader"] in node_ids
        assert p["leader"] in p["replicas"]
        assert set(p["isr"]) <= set(p["replicas"])


# ---- kafkasim only ------------------------------------------------------------------------------


def test_kafkajs_unknown_topic_fails_on_kafkasim_without_auto_create(kafkasim_no_auto_create: str, topic_name: str) -> None:
    bootstrap = kafkasim_no_auto_create
    error = kafkajs.expect_error(
        {"op": "produce", "brokers": bootstrap, "topic": topic_name, "messages": [{"value": "v"}], "retries": 1}
    )
    assert (error["type"], error["code"]) == ("UNKNOWN_TOPIC_OR_PARTITION", 3)
    error = kafkajs.expect_error({"op": "fetch_topic_offsets", "brokers": bootstrap, "topic": topic_name, "retries": 1})
    assert (error["type"], error["code"]) == ("UNKNOWN_TOPIC_OR_PARTITION", 3)
    assert topic_name not in kafkajs.ok({"op": "list_topics", "brokers": bootstrap})["topics"]
    # Creating it explicitly still works.
    create_topic(bootstrap, topic_name)
    records = produce(bootstrap, topic_name, [{"value": "v"}])
    assert [(r["error_code"], r["base_offset"]) for r in records] == [(0, "0")]


# ---- consumer groups ----------------------------------------------------------------------------


def test_kafkajs_consumer_group_reads_topic_from_beginning(bootstrap_servers: str, topic_name: str) -> None:
    versions = kafkajs.ok({"op": "api_versions", "brokers": bootstrap_servers})["api_versions"]
    missing = [name for key, name in GROUP_APIS.items() if str(key) not in versions]
    if missing:
        pytest.skip(f"broker does not advertise the group APIs the kafkajs Consumer needs: {', '.join(missing)}")
    create_topic(bootstrap_servers, topic_name, partitions=2)
    produce(bootstrap_servers, topic_name, [{"key": f"k{i}", "value": f"v{i}", "partition": i % 2} for i in range(6)])
    result = kafkajs.ok(
        {"op": "consume_group", "brokers": bootstrap_servers, "topic": topic_name, "group_id": f"g-{topic_name}", "count": 6},
        timeout=60,
    )
    got = sorted((m["partition"], m["offset"], m["value"]) for m in result["messages"])
    assert got == sorted((i % 2, str(i // 2), f"v{i}") for i in range(6))
