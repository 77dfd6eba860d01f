"""confluent-kafka (librdkafka 2.x) against the broker over TCP.

Consumers set a group.id (librdkafka requires one) but only ever ``assign()`` with explicit offsets and
never commit, so librdkafka has no reason to use the group coordinator: consumer-group APIs are a later
milestone. An assignment without an explicit offset would make librdkafka fetch committed offsets.
librdkafka has every codec built in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

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


class DeliveringProducer:
    """A Producer that records every delivery report as (error, message)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.producer = Producer(config)
        self.reports: list[tuple[KafkaError | None, Message]] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.producer.produce(topic, on_delivery=lambda err, msg: self.reports.append((err, msg)), **kwargs)

    def flush(self) -> list[tuple[KafkaError | None, Message]]:
        """Wait for every report; return them (and forget them)."""
        remaining = self.producer.flush(WAIT_S)
        assert remaining == 0, f"{remaining} messages not delivered within {WAIT_S}s"
        reports, self.reports = self.reports, []
        return reports

    def deliver(self, topic: str, **kwargs: Any) -> Message:
        """Produce one message, wait for its report, and return the delivered message (error -> raise)."""
        self.produce(topic, **kwargs)
        [(err, msg)] = self.flush()
        if err is not None:
            raise KafkaException(err)
        return msg


class Clients:
    """Creates confluent-kafka clients for one broker and closes every one of them at teardown."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._closers: list[Callable[[], object]] = []
        self._admins: list[AdminClient] = []

    def producer(self, **config: Any) -> DeliveringProducer:
        producer = DeliveringProducer({"bootstrap.servers": self.bootstrap_servers, "linger.ms": 5, **config})
        # Producer has no close(): flush what is left so librdkafka tears down with an empty queue.
        self._closers.append(lambda: producer.producer.flush(WAIT_S))
        return producer

    def consumer(self, *partitions: TopicPartition, **config: Any) -> Consumer:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "group.id": "kafkasim-compat-assign-only",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                **config,
            }
        )
        self._closers.append(consumer.close)
        if partitions:
            consumer.assign(list(partitions))
        return consumer

    def admin(self) -> AdminClient:
        # AdminClient has no close(): it is destroyed when garbage collected, failing its pending futures
        # (_DESTROY), so keep it referenced until teardown.
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        self._admins.append(admin)
        return admin

    def close(self) -> None:
        """Close every client, newest first, even if one of them fails to close."""
        errors = []
        for close in reversed(self._closers):
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - keep closing the others, then report
                errors.append(exc)
        self._admins.clear()
        if errors:
            raise errors[0]


clients, make_clients = client_fixtures(Clients)


def beginning(topic: str, partition: int = 0) -> TopicPartition:
    return TopicPartition(topic, partition, OFFSET_BEGINNING)


def consume(consumer: Consumer, count: int, timeout_s: float = WAIT_S) -> list[Message]:
    """Poll until ``count`` messages arrived or the deadline passed; a consumer error fails the test."""
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(messages) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error() is not None:
            raise KafkaException(msg.error())
        messages.append(msg)
    return messages


def result(future: Future, timeout: float = WAIT_S) -> Any:
    return future.result(timeout=timeout)


def error_code(excinfo: pytest.ExceptionInfo[KafkaException]) -> int:
    return excinfo.value.args[0].code()


def create_topic(admin: AdminClient, name: str, partitions: int = 1, **configs: str) -> None:
    [future] = admin.create_topics([NewTopic(name, num_partitions=partitions, config=configs)]).values()
    result(future)
    retry_until(lambda: admin.list_topics(timeout=WAIT_S).topics, lambda topics: name in topics)


def topic_names(admin: AdminClient) -> set[str]:
    return set(admin.list_topics(timeout=WAIT_S).topics)


def topic_configs(admin: AdminClient, name: str) -> dict[str, ConfigEntry]:
    [future] = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)]).values()
    return result(future)


# --- produce / fetch -------------------------------------------------------------------------------


def test_records_round_trip_keys_headers_timestamps_tombstones(clients: Clients, topic_name: str) -> None:
    sent = round_trip_records()
    producer = clients.producer()
    for key, value, headers, ts in sent:
        producer.produce(topic_name, key=key, value=value, headers=headers, timestamp=ts, partition=0)
    reports = producer.flush()
    assert [(err, msg.offset()) for err, msg in reports] == [(None, 0), (None, 1), (None, 2), (None, 3)]

    messages = consume(clients.consumer(beginning(topic_name)), len(sent))

    got = [(m.key(), m.value(), m.headers() or [], m.timestamp()[1]) for m in messages]
    assert got == sent
    assert [m.offset() for m in messages] == [0, 1, 2, 3]
    assert {m.timestamp()[0] for m in messages} == {TIMESTAMP_CREATE_TIME}


@pytest.mark.parametrize("codec", CODECS)
def test_compression_codec_round_trips_byte_exact(clients: Clients, topic_name: str, codec: str) -> None:
    payloads = codec_payloads()
    producer = clients.producer(**{"compression.type": codec, "linger.ms": 50})
    for key, value in payloads:
        producer.produce(topic_name, key=key, value=value, partition=0)
    reports = producer.flush()
    assert [err for err, _ in reports] == [None] * len(payloads)

    messages = consume(clients.consumer(beginning(topic_name)), len(payloads))

    assert [(m.key(), m.value()) for m in messages] == payloads
    assert [m.offset() for m in messages] == list(range(len(payloads)))


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_produce_acks_records_are_stored(clients: Clients, topic_name: str, acks: str) -> None:
    producer = clients.producer(acks=acks)
    values = [f"acks-{acks}-{i}".encode() for i in range(5)]
    for value in values:
        producer.produce(topic_name, value=value, partition=0)
    reports = producer.flush()
    assert [err for err, _ in reports] == [None] * 5
    if acks != "0":  # with acks=0 there is no response, so no offsets
        assert [msg.offset() for _, msg in reports] == [0, 1, 2, 3, 4]

    messages = consume(clients.consumer(beginning(topic_name)), len(values))

    assert [m.value() for m in messages] == values


def test_partitions_sixteen_each_read_back_in_order(clients: Clients, topic_name: str) -> None:
    create_topic(clients.admin(), topic_name, partitions=16)
    producer = clients.producer()
    expected = {p: [f"p{p}-r{i}".encode() for i in range(5)] for p in range(16)}
    for p, values in expected.items():
        for value in values:
            producer.produce(topic_name, value=value, partition=p)
    assert [err for err, _ in producer.flush()] == [None] * 80

    consumer = clients.consumer(*(beginning(topic_name, p) for p in range(16)))
    messages = consume(consumer, 16 * 5)

    got: dict[int, list[bytes]] = {p: [] for p in range(16)}
    for m in messages:
        got[m.partition()].append(m.value())
    assert got == expected
    # A fresh consumer: the one above has a fetch parked on its connection, which the broker answers first.
    offsets = clients.consumer()
    watermarks = [
        offsets.get_watermark_offsets(TopicPartition(topic_name, p), timeout=WAIT_S, cached=False) for p in range(16)
    ]
    assert watermarks == [(0, 5)] * 16


def test_fetch_long_poll_wakes_on_append(clients: Clients, topic_name: str) -> None:
    producer = clients.producer(**{"linger.ms": 0})
    producer.deliver(topic_name, value=b"warm-up", partition=0)
    consumer = clients.consumer(beginning(topic_name), **{"fetch.wait.max.ms": LONG_POLL_MAX_WAIT_MS})
    assert [m.value() for m in consume(consumer, 1)] == [b"warm-up"]
    # Caught up: librdkafka's next fetch is now parked at the broker for up to fetch.wait.max.ms.
    assert consumer.poll(0.3) is None

    produced_at: list[float] = []

    def produce() -> None:
        produced_at.append(time.monotonic())
        producer.deliver(topic_name, value=b"wake", partition=0)

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        messages = consume(consumer, 1, timeout_s=LONG_POLL_MAX_WAIT_MS / 1000 + 3)
        arrived_at = time.monotonic()
    finally:
        thread.join(timeout=WAIT_S)

    assert [m.value() for m in messages] == [b"wake"]
    assert_woken_by_append(produced_at[0], arrived_at)


# --- offsets ---------------------------------------------------------------------------------------


def test_offsets_for_times_finds_first_offset_at_or_after(clients: Clients, topic_name: str) -> None:
    stamps = past_timestamps(3, step_ms=1000)
    producer = clients.producer()
    for i, ts in enumerate(stamps):
        producer.produce(topic_name, value=f"r{i}".encode(), timestamp=ts, partition=0)
    assert [err for err, _ in producer.flush()] == [None] * 3
    consumer = clients.consumer()

    def lookup(ts: int) -> int:
        [tp] = consumer.offsets_for_times([TopicPartition(topic_name, 0, ts)], timeout=WAIT_S)
        assert tp.error is None
        return tp.offset

    assert lookup(stamps[0] - 1) == 0
    assert lookup(stamps[0] + 500) == 1
    assert lookup(stamps[2]) == 2
    assert lookup(stamps[2] + 1) == -1  # past the last timestamp: no offset


def test_offsets_earliest_and_latest_track_appends(clients: Clients, topic_name: str) -> None:
    create_topic(clients.admin(), topic_name)
    consumer = clients.consumer()
    tp = TopicPartition(topic_name, 0)
    assert consumer.get_watermark_offsets(tp, timeout=WAIT_S, cached=False) == (0, 0)

    producer = clients.producer()
    for _ in range(7):
        producer.deliver(topic_name, value=b"x", partition=0)

    assert consumer.get_watermark_offsets(tp, timeout=WAIT_S, cached=False) == (0, 7)


# --- admin -----------------------------------------------------------------------------------------


def test_admin_create_topic_with_partitions_and_configs(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    create_topic(admin, topic_name, partitions=3, **{"retention.ms": "3600000", "cleanup.policy": "compact"})

    topic = admin.list_topics(timeout=WAIT_S).topics[topic_name]
    assert sorted(topic.partitions) == [0, 1, 2]
    configs = topic_configs(admin, topic_name)
    for name, value in {"retention.ms": "3600000", "cleanup.policy": "compact"}.items():
        assert configs[name].value == value
        assert configs[name].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        assert not configs[name].is_default


def test_admin_create_topic_validate_only_creates_nothing(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    [future] = admin.create_topics([NewTopic(topic_name, num_partitions=2)], validate_only=True).values()

    assert result(future) is None
    assert topic_name not in topic_names(admin)


def test_admin_describe_configs_reports_kafka_defaults(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    create_topic(admin, topic_name)

    configs = topic_configs(admin, topic_name)

    for name, value in KAFKA_TOPIC_DEFAULTS.items():
        assert configs[name].value == value, name
        assert configs[name].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value, name


def test_admin_describe_configs_synonyms(clients: Clients, topic_name: str) -> None:
    """include_synonyms: the topic's override first, then the broker config a value falls back to, with its
    default where Kafka takes it as is; none for a config whose broker form Kafka converts (hours to ms)."""
    admin = clients.admin()
    create_topic(admin, topic_name, **{"retention.ms": "60000"})
    configs = topic_configs(admin, topic_name)  # librdkafka always asks for synonyms

    def synonyms(name: str) -> list[tuple[str, str | None, int]]:
        return [(e.name, e.value, e.source) for e in configs[name].synonyms.values()]

    topic, default = ConfigSource.DYNAMIC_TOPIC_CONFIG.value, ConfigSource.DEFAULT_CONFIG.value
    assert synonyms("retention.ms") == [("retention.ms", "60000", topic)]
    assert synonyms("cleanup.policy") == [("log.cleanup.policy", "delete", default)]
    assert synonyms("max.message.bytes") == [("message.max.bytes", "1048588", default)]
    assert synonyms("segment.index.bytes") == [("log.index.size.max.bytes", "10485760", default)]
    assert synonyms("segment.ms") == [] and synonyms("remote.storage.enable") == []


def test_admin_incremental_alter_configs_sets_and_deletes(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    create_topic(admin, topic_name, **{"cleanup.policy": "compact"})
    resource = ConfigResource(
        ResourceType.TOPIC,
        topic_name,
        incremental_configs=[
            ConfigEntry("retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("cleanup.policy", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )

    [future] = admin.incremental_alter_configs([resource]).values()
    result(future)

    configs = retry_until(
        lambda: topic_configs(admin, topic_name), lambda c: c["retention.ms"].value == "86400000"
    )
    assert configs["retention.ms"].value == "86400000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["cleanup.policy"].value == "delete"  # back to the default


def test_admin_create_partitions_increases_count(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    create_topic(admin, topic_name, partitions=2)

    [future] = admin.create_partitions([NewPartitions(topic_name, 5)]).values()
    result(future)

    topics = retry_until(
        lambda: admin.list_topics(timeout=WAIT_S).topics, lambda ts: len(ts[topic_name].partitions) == 5
    )
    assert sorted(topics[topic_name].partitions) == [0, 1, 2, 3, 4]
    assert clients.producer().deliver(topic_name, value=b"new", partition=4).offset() == 0


def test_admin_delete_topics_removes_from_metadata(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    create_topic(admin, topic_name)

    [future] = admin.delete_topics([topic_name]).values()
    result(future)

    assert topic_name not in retry_until(lambda: topic_names(admin), lambda names: topic_name not in names)


def test_admin_describe_cluster_reports_broker_and_controller(clients: Clients) -> None:
    cluster = result(clients.admin().describe_cluster())

    assert cluster.cluster_id
    [node] = cluster.nodes
    assert cluster.controller is not None
    assert cluster.controller.id == node.id
    host, port = clients.bootstrap_servers.rsplit(":", 1)
    assert (node.host, node.port) == (host, int(port))


# --- errors ----------------------------------------------------------------------------------------


def test_produce_unknown_topic_without_auto_create_fails(make_clients: Callable[..., Clients], topic_name: str) -> None:
    clients = make_clients(auto_create_topics=False)
    # Give up on the missing topic after 1 s instead of librdkafka's default 30 s propagation wait.
    producer = clients.producer(**{"topic.metadata.propagation.max.ms": 1000, "message.timeout.ms": 5000})

    producer.produce(topic_name, value=b"x")
    [(err, _)] = producer.flush()

    assert err is not None
    assert err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC), err
    assert topic_name not in topic_names(clients.admin())


def test_produce_too_large_message_rejected_by_broker(clients: Clients, topic_name: str) -> None:
    create_topic(clients.admin(), topic_name, **{"max.message.bytes": "1024"})
    # librdkafka's own message.max.bytes (1 MB) is far above 10 KB, so the broker is the one that says no.
    producer = clients.producer()

    producer.produce(topic_name, value=b"x" * 10_000, partition=0)
    [(err, _)] = producer.flush()

    assert err is not None
    assert err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    low_high = clients.consumer().get_watermark_offsets(TopicPartition(topic_name, 0), timeout=WAIT_S, cached=False)
    assert low_high == (0, 0)


def test_admin_create_partitions_not_increasing_fails(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    create_topic(admin, topic_name, partitions=3)

    for count in (3, 2):
        [future] = admin.create_partitions([NewPartitions(topic_name, count)]).values()
        with pytest.raises(KafkaException) as excinfo:
            result(future)
        assert error_code(excinfo) == KafkaError.INVALID_PARTITIONS

    assert len(admin.list_topics(timeout=WAIT_S).topics[topic_name].partitions) == 3


def test_admin_create_topic_zero_partitions_fails(clients: Clients, topic_name: str) -> None:
    # Only 0 reaches the broker: librdkafka itself rejects counts below -1 (ValueError in create_topics).
    admin = clients.admin()

    [future] = admin.create_topics([NewTopic(topic_name, num_partitions=0)]).values()
    with pytest.raises(KafkaException) as excinfo:
        result(future)

    assert error_code(excinfo) == KafkaError.INVALID_PARTITIONS
    assert topic_name not in topic_names(admin)


def test_admin_create_existing_topic_fails(clients: Clients, topic_name: str) -> None:
    admin = clients.admin()
    create_topic(admin, topic_name, partitions=2)

    [future] = admin.create_topics([NewTopic(topic_name, num_partitions=4)]).values()
    with pytest.raises(KafkaException) as excinfo:
        result(future)

    assert error_code(excinfo) == KafkaError.TOPIC_ALREADY_EXISTS
    assert len(admin.list_topics(timeout=WAIT_S).topics[topic_name].partitions) == 2


# --- idempotence, log append time ------------------------------------------------------------------


def test_producer_idempotent_round_trip(clients: Clients, topic_name: str) -> None:
    producer = clients.producer(**{"enable.idempotence": True})
    values = [f"idem-{i}".encode() for i in range(10)]
    for value in values:
        producer.produce(topic_name, value=value, partition=0)
    reports = producer.flush()

    assert [(err, msg.offset()) for err, msg in reports] == [(None, i) for i in range(10)]
    messages = consume(clients.consumer(beginning(topic_name)), len(values))
    assert [m.value() for m in messages] == values


def test_log_append_time_topic_reports_broker_timestamp(clients: Clients, topic_name: str) -> None:
    create_topic(clients.admin(), topic_name, **{"message.timestamp.type": "LogAppendTime"})
    given = past_timestamps(1)[0] - 86_400_000
    before = now_ms()
    clients.producer().deliver(topic_name, value=b"x", timestamp=given, partition=0)
    after = now_ms()

    [message] = consume(clients.consumer(beginning(topic_name)), 1)

    ts_type, ts = message.timestamp()
    assert ts_type == TIMESTAMP_LOG_APPEND_TIME
    assert before - 1000 <= ts <= after + 1000


def test_topic_compression_type_recompresses_and_round_trips(clients: Clients, topic_name: str) -> None:
    # works on any broker: a gzip topic takes uncompressed batches and consumers see the same records
    create_topic(clients.admin(), topic_name, **{"compression.type": "gzip"})
    producer = clients.producer(**{"compression.type": "none"})
    for i in range(20):
        producer.produce(topic_name, key=b"k%d" % i, value=b"v%d" % i, headers=[("h", b"%d" % i)], partition=0)
    assert all(err is None for err, _ in producer.flush())
    consumer = clients.consumer(TopicPartition(topic_name, 0, 0))
    got = []
    deadline = time.monotonic() + WAIT_S
    while len(got) < 20 and time.monotonic() < deadline:
        m = consumer.poll(0.2)
        if m is not None and m.error() is None:
            got.append((m.key(), m.value(), m.headers()))
    assert got == [(b"k%d" % i, b"v%d" % i, [("h", b"%d" % i)]) for i in range(20)]
