"""kcat (librdkafka, Debian's package) against the broker over TCP.

kcat -P produces through librdkafka's producer (idempotence off, acks=all by default); kcat -C reads
partitions directly, without a consumer group; kcat -L and -Q are Metadata and ListOffsets. Each codec is
produced through Debian's own librdkafka build, an older one than confluent-kafka ships.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from compat_tests.clients import kafkajs, kcat

pytestmark = pytest.mark.kcat


def headers_of(message: dict[str, Any]) -> list[tuple[str, str]]:
    """kcat -J prints headers as a flat [name, value, name, value, ...] list; pair them up."""
    flat = message.get("headers") or []
    return list(zip(flat[0::2], flat[1::2], strict=True))


@pytest.fixture
def kafkasim_no_auto_create(broker_with: Callable[..., str]) -> str:
    """Bootstrap of a broker with auto topic creation off (conftest's broker_with)."""
    return broker_with(auto_create_topics=False)


def test_kcat_round_trip_keeps_keys_values_and_headers(bootstrap_servers: str, topic_name: str) -> None:
    records = [("k0", "v0"), (None, "no-key"), ("", "empty-key"), ("k3", "")]
    kcat.produce(bootstrap_servers, topic_name, records, partition=0, headers=[("h1", "a"), ("h2", "b"), ("h1", "c")])

    got = kcat.consume(bootstrap_servers, topic_name, partition=0)
    assert [(m["partition"], m["offset"]) for m in got] == [(0, i) for i in range(4)]
    assert [(m["key"], m["payload"]) for m in got] == records
    for m in got:
        assert headers_of(m) == [("h1", "a"), ("h2", "b"), ("h1", "c")]  # order and duplicates kept
        assert m["tstype"] == "create"


def test_kcat_null_value_round_trip(bootstrap_servers: str, topic_name: str) -> None:
    kcat.produce(bootstrap_servers, topic_name, [("tombstone", None), ("k", "v")], partition=0, null_empty=True)
    got = kcat.consume(bootstrap_servers, topic_name, partition=0)
    assert [(m["offset"], m["key"], m["payload"]) for m in got] == [(0, "tombstone", None), (1, "k", "v")]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_kcat_compressed_batch_round_trip(bootstrap_servers: str, topic_name: str, codec: str) -> None:
    # One kcat run: librdkafka packs these into a few compressed batches. (librdkafka writes raw snappy,
    # not the xerial framing of Java clients; a broker must accept both.)
    records = [(f"k{i}", f"value-{i}-" + "abc" * (i % 40)) for i in range(300)]
    kcat.produce(bootstrap_servers, topic_name, records, partition=0, compression=codec)

    got = kcat.consume(bootstrap_servers, topic_name, partition=0)
    assert [(m["offset"], m["key"], m["payload"]) for m in got] == [(i, k, v) for i, (k, v) in enumerate(records)]
    # Reading from the middle of a compressed batch starts at the asked offset, not the batch start.
    tail = kcat.consume(bootstrap_servers, topic_name, partition=0, offset="151")
    assert [m["offset"] for m in tail] == list(range(151, 300))


def test_kcat_consume_relative_offset_reads_last_records(bootstrap_servers: str, topic_name: str) -> None:
    kcat.produce(bootstrap_servers, topic_name, [(None, f"m{i}") for i in range(10)], partition=0)
    got = kcat.consume(bootstrap_servers, topic_name, partition=0, offset="-3")
    assert [(m["offset"], m["payload"]) for m in got] == [(7, "m7"), (8, "m8"), (9, "m9")]
    counted = kcat.consume(bootstrap_servers, topic_name, partition=0, offset="2", count=4)
    assert [m["offset"] for m in counted] == [2, 3, 4, 5]


def test_kcat_format_string_prints_record_fields(bootstrap_servers: str, topic_name: str) -> None:
    kcat.produce(bootstrap_servers, topic_name, [("key1", "value1"), (None, "v2")], partition=0, headers=[("h", "x")])
    out = kcat.consume_formatted(bootstrap_servers, topic_name, r"%t|%p|%o|%k|%K|%s|%S|%h\n", partition=0)
    assert out.splitlines() == [
        f"{topic_name}|0|0|key1|4|value1|6|h=x",
        f"{topic_name}|0|1||-1|v2|2|h=x",
    ]


def test_kcat_metadata_lists_broker_and_auto_created_topic(bootstrap_servers: str, topic_name: str) -> None:
    kcat.produce(bootstrap_servers, topic_name, [(None, "create me")])
    meta = kcat.metadata(bootstrap_servers, topic_name)
    broker_ids = {b["id"] for b in meta["brokers"]}
    host, port = bootstrap_servers.rsplit(":", 1)
    assert f"{host}:{port}" in [b["name"] for b in meta["brokers"]]
    (topic,) = meta["topics"]
    assert topic["topic"] == topic_name
    assert "error" not in topic, topic
    assert topic["partitions"], topic
    for p in topic["partitions"]:
        assert p["leader"] in broker_ids
        assert p["leader"] in {r["id"] for r in p["replicas"]}
        assert {i["id"] for i in p["isrs"]} <= {r["id"] for r in p["replicas"]}


@pytest.mark.kafkajs  # the topic is created with kafkajs: kcat cannot create topics with partitions
def test_kcat_produce_to_explicit_partitions_of_many(bootstrap_servers: str, topic_name: str) -> None:
    partitions = 8
    kafkajs.ok(
        {"op": "create_topics", "brokers": bootstrap_servers,
         "topics": [{"topic": topic_name, "numPartitions": partitions}]}  # fmt: skip
    )
    for p in range(partitions):
        kcat.produce(bootstrap_servers, topic_name, [(f"k{p}", f"p{p}-{i}") for i in range(p + 1)], partition=p)

    meta = kcat.metadata(bootstrap_servers, topic_name)
    (topic,) = meta["topics"]
    assert sorted(p["partition"] for p in topic["partitions"]) == list(range(partitions))
    got = kcat.consume(bootstrap_servers, topic_name)  # all partitions, each to its end
    by_partition: dict[int, list[tuple[int, str]]] = {}
    for m in got:
        by_partition.setdefault(m["partition"], []).append((m["offset"], m["payload"]))
    assert {p: sorted(v) for p, v in by_partition.items()} == {
        p: [(i, f"p{p}-{i}") for i in range(p + 1)] for p in range(partitions)
    }


def test_kcat_query_offsets_for_times(bootstrap_servers: str, topic_name: str) -> None:
    # kcat -P cannot set timestamps: produce two runs, read the timestamps the broker stored, then ask.
    kcat.produce(bootstrap_servers, topic_name, [(None, f"a{i}") for i in range(3)], partition=0)
    kcat.produce(bootstrap_servers, topic_name, [(None, f"b{i}") for i in range(3)], partition=0)
    got = kcat.consume(bootstrap_servers, topic_name, partition=0)
    stamps = [m["ts"] for m in got]
    assert len(stamps) == 6

    def first_at_or_after(ts: int) -> int:
        return next(i for i, s in enumerate(stamps) if s >= ts)

    assert kcat.offsets_for_times(bootstrap_servers, topic_name, {0: 0}) == {0: 0}
    for ts in sorted(set(stamps)):
        assert kcat.offsets_for_times(bootstrap_servers, topic_name, {0: ts}) == {0: first_at_or_after(ts)}
    # Past the newest record there is no such offset: Kafka answers -1 (librdkafka: OFFSET_END, -1).
    assert kcat.offsets_for_times(bootstrap_servers, topic_name, {0: max(stamps) + 60_000}) == {0: -1}


def test_kcat_unknown_topic_fails_on_kafkasim_without_auto_create(kafkasim_no_auto_create: str, topic_name: str) -> None:
    bootstrap = kafkasim_no_auto_create
    meta = kcat.metadata(bootstrap, topic_name)
    (topic,) = meta["topics"]
    assert topic["topic"] == topic_name
    assert "Unknown topic" in topic.get("error", ""), topic
    # librdkafka waits topic.metadata.propagation.max.ms (30 s by default) for a topic to appear.
    proc = kcat.produce(
        bootstrap, topic_name, [(None, "v")], check=False, extra=["-X", "topic.metadata.propagation.max.ms=1000"]
    )
    assert proc.returncode != 0
    assert "Unknown topic" in proc.stderr, proc.stderr
