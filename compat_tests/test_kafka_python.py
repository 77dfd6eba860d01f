"""kafka-python (3.0.x) against the broker over TCP.

Consumers use manual assignment (``group_id=None``): consumer-group APIs are a later milestone.
Producers disable idempotence unless a test is about it, so produce/fetch tests do not depend on
InitProducerId; ``test_producer_idempotent_default_round_trip`` covers the library's default.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import kafka.codec  # noqa: E402 (kafka-python's deprecation warning is filtered in pyproject.toml)
import kafka.errors as Errors  # noqa: E402
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import AlterConfigOp, ConfigResource, ConfigResourceType, KafkaAdminClient  # noqa: E402

from compat_tests.clients.pyclients import (
    CODECS,
    KAFKA_TOPIC_DEFAULTS,
    LONG_POLL_MAX_WAIT_MS,
    WAIT_S,
    assert_woken_by_append,
    client_fixtures,
    codec_payloads,
    now_ms,
    past_timestamps,
    retry_until,
    round_trip_records,
)

CODEC_AVAILABLE = {
    "gzip": kafka.codec.has_gzip(),
    "snappy": kafka.codec.has_snappy(),  # needs python-snappy
    "lz4": kafka.codec.has_lz4(),  # needs lz4
    "zstd": kafka.codec.has_zstd(),  # needs zstandard
}


class Clients:
    """Creates kafka-python clients for one broker and closes every one of them at teardown."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._closers: list[Callable[[], object]] = []

    def _config(self, config: dict[str, Any]) -> dict[str, Any]:
        # Fail within the test's budget, not kafka-python's 30 s defaults, when the broker misbehaves.
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "bootstrap_timeout_ms": int(WAIT_S * 1000),
            "request_timeout_ms": 10_000,
            **config,
        }

    def producer(self, **config: Any) -> KafkaProducer:
        config.setdefault("enable_idempotence", False)
        config.setdefault("max_block_ms", int(WAIT_S * 1000))
        producer = KafkaProducer(**self._config(config))
        self._closers.append(lambda: producer.close(timeout=5))
        return producer

    def consumer(self, *partitions: TopicPartition, **config: Any) -> KafkaConsumer:
        config.setdefault("auto_offset_reset", "earliest")
        config.setdefault("enable_auto_commit", False)
        consumer = KafkaConsumer(group_id=None, **self._config(config))
        self._closers.append(lambda: consumer.close(timeout_ms=5000))
        if partitions:
            consumer.assign(list(partitions))
        return consumer

    def admin(self) -> KafkaAdminClient:
        admin = KafkaAdminClient(**self._config({}))
        self._closers.append(admin.close)
        return admin

    def close(self) -> None:
        """Close every client, newest first, even if one of them fails to close."""
        errors = []
        for close in reversed(self._closers):
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - keep closing the others, then report
                errors.append(exc)
        if errors:
            raise errors[0]


clients, make_clients = client_fixtures(Clients)


def consume(consumer: KafkaConsumer, count: int, timeout_s: float = WAIT_S) -> list[Any]:
    """Poll until ``count`` records arrived or the deadline passed; return what arrived."""
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=200).values():
            records.extend(batch)
    return records


def create_topic(admin: KafkaAdminClient, name: str, partitions: int = 1, **configs: str) -> None:
    admin.create_topics({name: {"num_partitions": partitions, "configs": configs}}, wait_for_metadata=True)


def topic_configs(admin: KafkaAdminClient, name: str) -> dict[str, dict[str, Any]]:
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)], config_filter="all")
    return described["topic"][name]


# --- produce / fetch -------------------------------------------------------------------------------


def test_records_round_trip_keys_headers_timestamps_tombstones(clients: Clients, topic_name: str) -> None:
    sent = round_trip_records()
    producer = clients.producer()
    metas = [
        producer.send(topic_name, key=k, value=v, headers=h, timestamp_ms=ts, partition=0).get(timeout=WAIT_S)
        for k, v, h, ts in sent
    ]
    assert [m.offset for m in metas] == [0, 1, 2, 3]
    assert [m.timestamp for m in metas] == [ts for _, _, _, ts in sent]

    records = consume(clients.consumer(TopicPartition(topic_name, 0)), len(sent))

    got = [(r.key, r.value, list(r.headers), r.timestamp) for r in records]
    assert got == sent
    assert [r.offset for r in records] == [0, 1, 2, 3]
    assert {r.timestamp_type for r in records} == {0}  # CreateTime


@pytest.mark.parametrize("codec", CODECS)
def test_compression_codec_round_trips_byte_exact(clients: Clients, topic_name: str, codec: str) -> None:
    if not CODEC_AVAILABLE[codec]:
        pytest.skip(f"kafka-python has no {codec} codec installed (python-snappy / lz4 / zstandard)")
    payloads = codec_payloads()
    producer = clients.producer(compression_type=codec, linger_ms=50, batch_size=1 << 20)
    futures = [producer.send(topic_name, key=k, value=v, partition=0) for k, v in payloads]
    producer.flush(timeout=WAIT_S)
    assert [f.get(timeout=WAIT_S).offset for f in futures] == list(range(len(payloads)))

    records = consume(clients.consumer(TopicPartition(topic_name, 0), max_partition_fetch_bytes=4 << 20), len(payloads))

    assert [(r.key, r.value) for r in records] == payloads
    assert [r.offset for r in records] == list(range(len(payloads)))


@pytest.mark.parametrize("acks", [0, 1, "all"])
def test_produce_acks_records_are_stored(clients: Clients, topic_name: str, acks: int | str) -> None:
    producer = clients.producer(acks=acks)
    values = [f"acks-{acks}-{i}".encode() for i in range(5)]
    metas = [producer.send(topic_name, value=v, partition=0).get(timeout=WAIT_S) for v in values]
    if acks != 0:  # with acks=0 there is no response, so the offsets are the client's guess
        assert [m.offset for m in metas] == [0, 1, 2, 3, 4]

    records = consume(clients.consumer(TopicPartition(topic_name, 0)), len(values))

    assert [r.value for r in records] == values


def test_partitions_sixteen_each_read_back_in_order(clients: Clients, topic_name: str) -> None:
    create_topic(clients.admin(), topic_name, partitions=16)
    producer = clients.producer(linger_ms=5)
    expected = {p: [f"p{p}-r{i}".encode() for i in range(5)] for p in range(16)}
    futures = [producer.send(topic_name, value=v, partition=p) for p, vs in expected.items() for v in vs]
    producer.flush(timeout=WAIT_S)
    for f in futures:
        f.get(timeout=WAIT_S)

    consumer = clients.consumer(*(TopicPartition(topic_name, p) for p in range(16)))
    records = consume(consumer, 16 * 5)

    got: dict[int, list[bytes]] = {p: [] for p in range(16)}
    for r in records:
        got[r.partition].append(r.value)
    assert got == expected
    # A fresh consumer: the one above may have a fetch parked on its connection, answered first.
    tps = [TopicPartition(topic_name, p) for p in range(16)]
    assert clients.consumer().end_offsets(tps) == {tp: 5 for tp in tps}


def test_fetch_long_poll_wakes_on_append(clients: Clients, topic_name: str) -> None:
    tp = TopicPartition(topic_name, 0)
    producer = clients.producer()
    producer.send(topic_name, value=b"warm-up", partition=0).get(timeout=WAIT_S)
    consumer = clients.consumer(tp, fetch_max_wait_ms=LONG_POLL_MAX_WAIT_MS)
    assert [r.value for r in consume(consumer, 1)] == [b"warm-up"]
    # Caught up: the next fetch is now parked at the broker for up to fetch_max_wait_ms.
    assert consumer.poll(timeout_ms=300) == {}

    produced_at: list[float] = []

    def produce() -> None:
        produced_at.append(time.monotonic())
        producer.send(topic_name, value=b"wake", partition=0).get(timeout=WAIT_S)

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        records = consume(consumer, 1, timeout_s=LONG_POLL_MAX_WAIT_MS / 1000 + 3)
        arrived_at = time.monotonic()
    finally:
        thread.join(timeout=WAIT_S)

    assert [r.value for r in records] == [b"wake"]
    assert_woken_by_append(produced_at[0], arrived_at)


# --- offsets ---------------------------------------------------------------------------------------


def test_offsets_for_times_finds_first_offset_at_or_after(clients: Clients, topic_name: str) -> None:
    stamps = past_timestamps(3, step_ms=1000)
    producer = clients.producer()
    for i, ts in enumerate(stamps):
        producer.send(topic_name, value=f"r{i}".encode(), timestamp_ms=ts, partition=0).get(timeout=WAIT_S)
    tp = TopicPartition(topic_name, 0)
    consumer = clients.consumer()

    before_all = consumer.offsets_for_times({tp: stamps[0] - 1})[tp]
    between = consumer.offsets_for_times({tp: stamps[0] + 500})[tp]
    exact = consumer.offsets_for_times({tp: stamps[2]})[tp]
    past_end = consumer.offsets_for_times({tp: stamps[2] + 1})[tp]

    assert (before_all.offset, before_all.timestamp) == (0, stamps[0])
    assert (between.offset, between.timestamp) == (1, stamps[1])
    assert (exact.offset, exact.timestamp) == (2, stamps[2])
    assert past_end is None


def test_offsets_earliest_and_latest_track_appends(clients: Clients, topic_name: str) -> None:
    create_topic(clients.admin(), topic_name)
    tp = TopicPartition(topic_name, 0)
    consumer = clients.consumer()
    assert (consumer.beginning_offsets([tp])[tp], consumer.end_offsets([tp])[tp]) == (0, 0)

    producer = clients.producer()
    for _ in range(7):
        producer.send(topic_name, value=b"x", partition=0).get(timeout=WAIT_S)

    assert (consumer.beginning_offsets([tp])[tp], consumer.end_offsets([tp])[tp]) == (0, 7)


# --- admin -----------------------------------------------------------------------------------------


def test_admin_create_topic_with_partitions_and_configs(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    create_topic(admin, topic_name, partitions=3, **{"retention.ms": "3600000", "cleanup.policy": "compact"})

    [described] = admin.describe_topics([topic_name])
    assert described["error_code"] == 0
    assert sorted(p["partition_index"] for p in described["partitions"]) == [0, 1, 2]
    configs = topic_configs(admin, topic_name)
    assert configs["retention.ms"]["value"] == "3600000"
    assert configs["cleanup.policy"]["value"] == "compact"
    assert configs["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"


def test_admin_create_topic_validate_only_creates_nothing(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    result = admin.create_topics({topic_name: {"num_partitions": 2}}, validate_only=True)

    assert [(t["name"], t["error_code"]) for t in result["topics"]] == [(topic_name, 0)]
    assert topic_name not in admin.list_topics()


def test_admin_describe_configs_reports_kafka_defaults(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    create_topic(admin, topic_name)

    configs = topic_configs(admin, topic_name)

    for name, value in KAFKA_TOPIC_DEFAULTS.items():
        assert configs[name]["value"] == value, name
        assert configs[name]["config_source"] != "DYNAMIC_TOPIC_CONFIG", name


def test_admin_incremental_alter_configs_sets_and_deletes(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    create_topic(admin, topic_name, **{"cleanup.policy": "compact"})

    result = admin.alter_configs(
        [
            ConfigResource(
                ConfigResourceType.TOPIC,
                topic_name,
                configs={"retention.ms": "86400000", "cleanup.policy": (AlterConfigOp.DELETE, None)},
            )
        ],
        incremental=True,
    )

    assert result == {"topic": {topic_name: "OK"}}
    configs = retry_until(
        lambda: topic_configs(admin, topic_name), lambda c: c["retention.ms"]["value"] == "86400000"
    )
    assert configs["retention.ms"]["value"] == "86400000"
    assert configs["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    assert configs["cleanup.policy"]["value"] == "delete"  # back to the default


def test_admin_create_partitions_increases_count(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    create_topic(admin, topic_name, partitions=2)

    admin.create_partitions({topic_name: 5})

    consumer = clients.consumer()
    partitions = retry_until(lambda: consumer.partitions_for_topic(topic_name), lambda ps: ps == set(range(5)))
    assert partitions == set(range(5))
    producer = clients.producer()
    assert producer.send(topic_name, value=b"new", partition=4).get(timeout=WAIT_S).offset == 0


def test_admin_delete_topics_removes_from_metadata(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    create_topic(admin, topic_name)
    assert topic_name in admin.list_topics()

    admin.delete_topics([topic_name])

    assert topic_name not in retry_until(admin.list_topics, lambda ts: topic_name not in ts)


def test_admin_describe_cluster_reports_broker_and_controller(clients: Clients) -> None:
    cluster = clients.admin().describe_cluster()

    assert cluster["cluster_id"]
    broker_ids = [b["broker_id"] for b in cluster["brokers"]]
    assert len(broker_ids) == 1
    assert cluster["controller_id"] in broker_ids
    host, port = clients.bootstrap_servers.rsplit(":", 1)
    assert (cluster["brokers"][0]["host"], cluster["brokers"][0]["port"]) == (host, int(port))


# --- errors ----------------------------------------------------------------------------------------


def test_produce_unknown_topic_without_auto_create_fails(make_clients: Callable[..., Clients], topic_name: str) -> None:
    clients = make_clients(auto_create_topics=False)
    producer = clients.producer(max_block_ms=2000)

    with pytest.raises(Errors.KafkaTimeoutError):  # kafka-python waits for metadata that never comes
        producer.send(topic_name, value=b"x").get(timeout=WAIT_S)

    assert topic_name not in clients.admin().list_topics()
    assert topic_name not in clients.consumer().topics()


def test_produce_too_large_message_rejected_by_broker(clients: Clients, topic_name: str) -> None:
    create_topic(clients.admin(), topic_name, **{"max.message.bytes": "1024"})
    # Client-side limits well above the value, so the broker is the one that says no.
    producer = clients.producer(max_request_size=10 << 20, batch_size=1 << 20, retries=0)

    future = producer.send(topic_name, value=b"x" * 10_000, partition=0)
    with pytest.raises(Errors.MessageSizeTooLargeError):
        future.get(timeout=WAIT_S)

    tp = TopicPartition(topic_name, 0)
    assert clients.consumer().end_offsets([tp])[tp] == 0


def test_admin_create_partitions_not_increasing_fails(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    create_topic(admin, topic_name, partitions=3)

    for count in (3, 2):
        with pytest.raises(Errors.InvalidPartitionsError):
            admin.create_partitions({topic_name: count})

    [described] = admin.describe_topics([topic_name])
    assert len(described["partitions"]) == 3


@pytest.mark.parametrize("partitions", [0, -5])
def test_admin_create_topic_bad_partition_count_fails(clients: Clients, topic_name: str, partitions: int) -> None:
    admin = clients.admin()

    with pytest.raises(Errors.InvalidPartitionsError):
        admin.create_topics({topic_name: {"num_partitions": partitions}})

    assert topic_name not in admin.list_topics()


def test_admin_create_existing_topic_fails(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    create_topic(admin, topic_name, partitions=2)

    with pytest.raises(Errors.TopicAlreadyExistsError):
        admin.create_topics({topic_name: {"num_partitions": 4}})

    [described] = admin.describe_topics([topic_name])
    assert len(described["partitions"]) == 2


# --- library defaults, log append time -------------------------------------------------------------


def test_producer_idempotent_default_round_trip(clients: Clients, topic_name: str) -> None:
    producer = clients.producer(enable_idempotence=True)  # kafka-python 3's default (KIP-679)
    values = [f"idem-{i}".encode() for i in range(10)]
    futures = [producer.send(topic_name, value=v, partition=0) for v in values]
    producer.flush(timeout=WAIT_S)

    assert [f.get(timeout=WAIT_S).offset for f in futures] == list(range(10))
    records = consume(clients.consumer(TopicPartition(topic_name, 0)), len(values))
    assert [r.value for r in records] == values


def test_log_append_time_topic_reports_broker_timestamp(clients: Clients, topic_name: str) -> None:
    create_topic(clients.admin(), topic_name, **{"message.timestamp.type": "LogAppendTime"})
    given = past_timestamps(1)[0] - 86_400_000
    before = now_ms()
    clients.producer().send(topic_name, value=b"x", timestamp_ms=given, partition=0).get(timeout=WAIT_S)
    after = now_ms()

    [record] = consume(clients.consumer(TopicPartition(topic_name, 0)), 1)

    assert record.timestamp_type == 1  # LogAppendTime
    assert before - 1000 <= record.timestamp <= after + 1000
