"""aiokafka (0.14) against the broker over TCP.

Each test is a sync test running one ``asyncio.run``; every client it makes is stopped in a finally.
Consumers use manual assignment (``group_id=None``): consumer-group APIs are a later milestone.
aiokafka negotiates each request's version per connection (highest both sides know), so it sends
older versions than the Java client for several APIs (CreateTopics v3, DescribeConfigs v2, ...).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiokafka.codec
import aiokafka.errors as Errors
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from compat_tests.clients.pyclients import (
    CODECS,
    KAFKA_TOPIC_DEFAULTS,
    LONG_POLL_MAX_WAIT_MS,
    WAIT_S,
    assert_woken_by_append,
    codec_payloads,
    now_ms,
    past_timestamps,
    round_trip_records,
)

CODEC_AVAILABLE = {  # aiokafka uses cramjam for snappy, lz4 and zstd
    "gzip": aiokafka.codec.has_gzip(),
    "snappy": aiokafka.codec.has_snappy(),
    "lz4": aiokafka.codec.has_lz4(),
    "zstd": aiokafka.codec.has_zstd(),
}
DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs config_source


class Clients:
    """Creates started aiokafka clients for one broker; ``close`` stops every one of them."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._stoppers: list[Callable[[], Awaitable[object]]] = []

    def _config(self, config: dict[str, Any]) -> dict[str, Any]:
        # Fail within the test's budget, not aiokafka's 40 s default, when the broker misbehaves.
        return {"bootstrap_servers": self.bootstrap_servers, "request_timeout_ms": 10_000, **config}

    async def producer(self, **config: Any) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(**self._config(config))
        self._stoppers.append(producer.stop)
        await producer.start()
        return producer

    async def consumer(self, *partitions: TopicPartition, **config: Any) -> AIOKafkaConsumer:
        config.setdefault("auto_offset_reset", "earliest")
        consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **self._config(config))
        self._stoppers.append(consumer.stop)
        await consumer.start()
        if partitions:
            consumer.assign(list(partitions))
        return consumer

    async def admin(self) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(**self._config({}))
        self._stoppers.append(admin.close)
        await admin.start()
        return admin

    async def close(self) -> None:
        """Stop every client, newest first, even if one of them fails to stop."""
        errors = []
        for stop in reversed(self._stoppers):
            try:
                await stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the others, then report
                errors.append(exc)
        if errors:
            raise errors[0]


def run(bootstrap_servers: str, scenario: Callable[[Clients], Awaitable[None]]) -> None:
    async def main() -> None:
        clients = Clients(bootstrap_servers)
        try:
            await scenario(clients)
        finally:
            await clients.close()

    asyncio.run(main())


@pytest.fixture
def make_bootstrap(broker_with: Callable[..., str]) -> Callable[..., str]:
    """``make_bootstrap(**cluster_config)``: a broker with that config (conftest's broker_with), its bootstrap."""
    return broker_with


async def consume(consumer: AIOKafkaConsumer, count: int, timeout_s: float = WAIT_S) -> list[Any]:
    """getmany until ``count`` records arrived or the deadline passed; return what arrived."""
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < count and time.monotonic() < deadline:
        for batch in (await consumer.getmany(timeout_ms=200)).values():
            records.extend(batch)
    return records


async def create_topic(admin: AIOKafkaAdminClient, name: str, partitions: int = 1, **configs: str) -> None:
    response = await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
    assert topic_errors(response) == {name: Errors.NoError}


def topic_errors(response: Any) -> dict[str, type]:
    """CreateTopics/DeleteTopics response -> {topic: error class}."""
    obj = response.to_object()
    entries = obj.get("topic_errors") or obj.get("topic_error_codes")
    return {e["topic"]: Errors.for_code(e["error_code"]) for e in entries}


async def topic_configs(admin: AIOKafkaAdminClient, name: str) -> dict[str, tuple[str | None, bool]]:
    """{config name: (value, set on the topic)} for every config DescribeConfigs returns."""
    [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    [resource] = response.to_object()["resources"]
    assert resource["error_code"] == 0, resource
    configs = {}
    for entry in resource["config_entries"]:
        if "config_source" in entry:
            is_set = entry["config_source"] == DYNAMIC_TOPIC_CONFIG
        else:  # DescribeConfigs v0
            is_set = not entry["is_default"]
        configs[entry["config_names"]] = (entry["config_value"], is_set)
    return configs


# --- produce / fetch -------------------------------------------------------------------------------


def test_records_round_trip_keys_headers_timestamps_tombstones(bootstrap_servers: str, topic_name: str) -> None:
    sent = round_trip_records()

    async def scenario(clients: Clients) -> None:
        producer = await clients.producer()
        metas = [
            await producer.send_and_wait(topic_name, key=k, value=v, headers=h, timestamp_ms=ts, partition=0)
            for k, v, h, ts in sent
        ]
        assert [m.offset for m in metas] == [0, 1, 2, 3]

        records = await consume(await clients.consumer(TopicPartition(topic_name, 0)), len(sent))

        assert [(r.key, r.value, list(r.headers), r.timestamp) for r in records] == sent
        assert [r.offset for r in records] == [0, 1, 2, 3]
        assert {r.timestamp_type for r in records} == {0}  # CreateTime

    run(bootstrap_servers, scenario)


@pytest.mark.parametrize("codec", CODECS)
def test_compression_codec_round_trips_byte_exact(bootstrap_servers: str, topic_name: str, codec: str) -> None:
    if not CODEC_AVAILABLE[codec]:
        pytest.skip(f"aiokafka has no {codec} codec (needs cramjam)")
    payloads = codec_payloads()

    async def scenario(clients: Clients) -> None:
        producer = await clients.producer(compression_type=codec, linger_ms=50, max_batch_size=1 << 20)
        futures = [await producer.send(topic_name, key=k, value=v, partition=0) for k, v in payloads]
        await producer.flush()
        assert [(await f).offset for f in futures] == list(range(len(payloads)))

        consumer = await clients.consumer(TopicPartition(topic_name, 0), max_partition_fetch_bytes=4 << 20)
        records = await consume(consumer, len(payloads))

        assert [(r.key, r.value) for r in records] == payloads
        assert [r.offset for r in records] == list(range(len(payloads)))

    run(bootstrap_servers, scenario)


@pytest.mark.parametrize("acks", [0, 1, "all"])
def test_produce_acks_records_are_stored(bootstrap_servers: str, topic_name: str, acks: int | str) -> None:
    values = [f"acks-{acks}-{i}".encode() for i in range(5)]

    async def scenario(clients: Clients) -> None:
        producer = await clients.producer(acks=acks)
        metas = [await producer.send_and_wait(topic_name, value=v, partition=0) for v in values]
        if acks != 0:  # with acks=0 there is no response, so no offsets
            assert [m.offset for m in metas] == [0, 1, 2, 3, 4]

        records = await consume(await clients.consumer(TopicPartition(topic_name, 0)), len(values))

        assert [r.value for r in records] == values

    run(bootstrap_servers, scenario)


def test_partitions_sixteen_each_read_back_in_order(bootstrap_servers: str, topic_name: str) -> None:
    expected = {p: [f"p{p}-r{i}".encode() for i in range(5)] for p in range(16)}
    tps = [TopicPartition(topic_name, p) for p in range(16)]

    async def scenario(clients: Clients) -> None:
        await create_topic(await clients.admin(), topic_name, partitions=16)
        producer = await clients.producer(linger_ms=5)
        futures = [await producer.send(topic_name, value=v, partition=p) for p, vs in expected.items() for v in vs]
        await producer.flush()
        for f in futures:
            await f

        consumer = await clients.consumer(*tps)
        records = await consume(consumer, 16 * 5)

        got: dict[int, list[bytes]] = {p: [] for p in range(16)}
        for r in records:
            got[r.partition].append(r.value)
        assert got == expected
        # A fresh consumer: the one above may have a fetch parked on its connection, answered first.
        assert await (await clients.consumer()).end_offsets(tps) == {tp: 5 for tp in tps}

    run(bootstrap_servers, scenario)


def test_fetch_long_poll_wakes_on_append(bootstrap_servers: str, topic_name: str) -> None:
    tp = TopicPartition(topic_name, 0)

    async def scenario(clients: Clients) -> None:
        producer = await clients.producer()
        await producer.send_and_wait(topic_name, value=b"warm-up", partition=0)
        consumer = await clients.consumer(tp, fetch_max_wait_ms=LONG_POLL_MAX_WAIT_MS)
        assert [r.value for r in await consume(consumer, 1)] == [b"warm-up"]
        # Caught up: the fetcher's next fetch is now parked at the broker for up to fetch_max_wait_ms.
        assert await consumer.getmany(timeout_ms=300) == {}

        produced_at: list[float] = []

        async def produce() -> None:
            produced_at.append(time.monotonic())
            await producer.send_and_wait(topic_name, value=b"wake", partition=0)

        task = asyncio.create_task(produce())
        try:
            records = await consume(consumer, 1, timeout_s=LONG_POLL_MAX_WAIT_MS / 1000 + 3)
            arrived_at = time.monotonic()
        finally:
            await task

        assert [r.value for r in records] == [b"wake"]
        assert_woken_by_append(produced_at[0], arrived_at)

    run(bootstrap_servers, scenario)


# --- offsets ---------------------------------------------------------------------------------------


def test_offsets_for_times_finds_first_offset_at_or_after(bootstrap_servers: str, topic_name: str) -> None:
    stamps = past_timestamps(3, step_ms=1000)
    tp = TopicPartition(topic_name, 0)

    async def scenario(clients: Clients) -> None:
        producer = await clients.producer()
        for i, ts in enumerate(stamps):
            await producer.send_and_wait(topic_name, value=f"r{i}".encode(), timestamp_ms=ts, partition=0)
        consumer = await clients.consumer()

        async def lookup(ts: int) -> Any:
            return (await consumer.offsets_for_times({tp: ts}))[tp]

        before_all, between, exact, past_end = [
            await lookup(ts) for ts in (stamps[0] - 1, stamps[0] + 500, stamps[2], stamps[2] + 1)
        ]

        assert (before_all.offset, before_all.timestamp) == (0, stamps[0])
        assert (between.offset, between.timestamp) == (1, stamps[1])
        assert (exact.offset, exact.timestamp) == (2, stamps[2])
        assert past_end is None

    run(bootstrap_servers, scenario)


def test_offsets_earliest_and_latest_track_appends(bootstrap_servers: str, topic_name: str) -> None:
    tp = TopicPartition(topic_name, 0)

    async def scenario(clients: Clients) -> None:
        await create_topic(await clients.admin(), topic_name)
        consumer = await clients.consumer()

        async def bounds() -> tuple[int, int]:
            return (await consumer.beginning_offsets([tp]))[tp], (await consumer.end_offsets([tp]))[tp]

        assert await bounds() == (0, 0)
        producer = await clients.producer()
        for _ in range(7):
            await producer.send_and_wait(topic_name, value=b"x", partition=0)
        assert await bounds() == (0, 7)

    run(bootstrap_servers, scenario)


# --- admin -----------------------------------------------------------------------------------------


def test_admin_create_topic_with_partitions_and_configs(bootstrap_servers: str, topic_name: str) -> None:
    async def scenario(clients: Clients) -> None:
        admin = await clients.admin()
        await create_topic(admin, topic_name, partitions=3, **{"retention.ms": "3600000", "cleanup.policy": "compact"})

        [described] = await admin.describe_topics([topic_name])
        assert described["error_code"] == 0
        assert sorted(p["partition"] for p in described["partitions"]) == [0, 1, 2]
        configs = await topic_configs(admin, topic_name)
        assert configs["retention.ms"] == ("3600000", True)
        assert configs["cleanup.policy"] == ("compact", True)

    run(bootstrap_servers, scenario)


def test_admin_create_topic_validate_only_creates_nothing(bootstrap_servers: str, topic_name: str) -> None:
    async def scenario(clients: Clients) -> None:
        admin = await clients.admin()
        response = await admin.create_topics([NewTopic(topic_name, 2, 1)], validate_only=True)

        assert topic_errors(response) == {topic_name: Errors.NoError}
        assert topic_name not in await admin.list_topics()

    run(bootstrap_servers, scenario)


def test_admin_describe_configs_reports_kafka_defaults(bootstrap_servers: str, topic_name: str) -> None:
    async def scenario(clients: Clients) -> None:
        admin = await clients.admin()
        await create_topic(admin, topic_name)

        configs = await topic_configs(admin, topic_name)

        for name, value in KAFKA_TOPIC_DEFAULTS.items():
            assert configs.get(name) == (value, False), name

    run(bootstrap_servers, scenario)


def test_admin_create_partitions_increases_count(bootstrap_servers: str, topic_name: str) -> None:
    async def scenario(clients: Clients) -> None:
        admin = await clients.admin()
        await create_topic(admin, topic_name, partitions=2)

        await admin.create_partitions({topic_name: NewPartitions(total_count=5)})

        [described] = await admin.describe_topics([topic_name])
        assert sorted(p["partition"] for p in described["partitions"]) == [0, 1, 2, 3, 4]
        producer = await clients.producer()
        assert (await producer.send_and_wait(topic_name, value=b"new", partition=4)).offset == 0

    run(bootstrap_servers, scenario)


def test_admin_delete_topics_removes_from_metadata(bootstrap_servers: str, topic_name: str) -> None:
    async def scenario(clients: Clients) -> None:
        admin = await clients.admin()
        await create_topic(admin, topic_name)
        assert topic_name in await admin.list_topics()

        response = await admin.delete_topics([topic_name])

        assert topic_errors(response) == {topic_name: Errors.NoError}
        assert topic_name not in await admin.list_topics()

    run(bootstrap_servers, scenario)


def test_admin_describe_cluster_reports_broker_and_controller(bootstrap_servers: str) -> None:
    async def scenario(clients: Clients) -> None:
        cluster = await (await clients.admin()).describe_cluster()

        assert cluster["cluster_id"]
        [broker] = cluster["brokers"]
        assert cluster["controller_id"] == broker["node_id"]
        host, port = bootstrap_servers.rsplit(":", 1)
        assert (broker["host"], broker["port"]) == (host, int(port))

    run(bootstrap_servers, scenario)


# --- errors ----------------------------------------------------------------------------------------


def test_produce_unknown_topic_without_auto_create_fails(make_bootstrap: Callable[..., str], topic_name: str) -> None:
    bootstrap = make_bootstrap(auto_create_topics=False)

    async def scenario(clients: Clients) -> None:
        producer = await clients.producer(request_timeout_ms=2000)

        with pytest.raises(Errors.UnknownTopicOrPartitionError):  # after request_timeout_ms of metadata retries
            await producer.send_and_wait(topic_name, value=b"x")

        assert topic_name not in await (await clients.admin()).list_topics()
        consumer = await clients.consumer()
        assert topic_name not in await consumer.topics()

    run(bootstrap, scenario)


def test_produce_too_large_message_rejected_by_broker(bootstrap_servers: str, topic_name: str) -> None:
    tp = TopicPartition(topic_name, 0)

    async def scenario(clients: Clients) -> None:
        await create_topic(await clients.admin(), topic_name, **{"max.message.bytes": "1024"})
        # Client-side limits well above the value, so the broker is the one that says no.
        producer = await clients.producer(max_request_size=10 << 20, max_batch_size=1 << 20)

        with pytest.raises(Errors.MessageSizeTooLargeError):
            await producer.send_and_wait(topic_name, value=b"x" * 10_000, partition=0)

        assert (await (await clients.consumer()).end_offsets([tp]))[tp] == 0

    run(bootstrap_servers, scenario)


def test_admin_create_partitions_not_increasing_fails(bootstrap_servers: str, topic_name: str) -> None:
    async def scenario(clients: Clients) -> None:
        admin = await clients.admin()
        await create_topic(admin, topic_name, partitions=3)

        for count in (3, 2):
            with pytest.raises(Errors.InvalidPartitionsError):
                await admin.create_partitions({topic_name: NewPartitions(total_count=count)})

        [described] = await admin.describe_topics([topic_name])
        assert len(described["partitions"]) == 3

    run(bootstrap_servers, scenario)


@pytest.mark.parametrize("partitions", [0, -5])
def test_admin_create_topic_bad_partition_count_fails(bootstrap_servers: str, topic_name: str, partitions: int) -> None:
    async def scenario(clients: Clients) -> None:
        admin = await clients.admin()

        response = await admin.create_topics([NewTopic(topic_name, partitions, 1)])

        assert topic_errors(response) == {topic_name: Errors.InvalidPartitionsError}
        assert topic_name not in await admin.list_topics()

    run(bootstrap_servers, scenario)


def test_admin_create_existing_topic_fails(bootstrap_servers: str, topic_name: str) -> None:
    async def scenario(clients: Clients) -> None:
        admin = await clients.admin()
        await create_topic(admin, topic_name, partitions=2)

        response = await admin.create_topics([NewTopic(topic_name, 4, 1)])

        assert topic_errors(response) == {topic_name: Errors.TopicAlreadyExistsError}
        [described] = await admin.describe_topics([topic_name])
        assert len(described["partitions"]) == 2

    run(bootstrap_servers, scenario)


# --- idempotence, log append time ------------------------------------------------------------------


def test_producer_idempotent_round_trip(bootstrap_servers: str, topic_name: str) -> None:
    values = [f"idem-{i}".encode() for i in range(10)]

    async def scenario(clients: Clients) -> None:
        producer = await clients.producer(enable_idempotence=True)
        futures = [await producer.send(topic_name, value=v, partition=0) for v in values]
        await producer.flush()
        assert [(await f).offset for f in futures] == list(range(10))

        records = await consume(await clients.consumer(TopicPartition(topic_name, 0)), len(values))
        assert [r.value for r in records] == values

    run(bootstrap_servers, scenario)


def test_log_append_time_topic_reports_broker_timestamp(bootstrap_servers: str, topic_name: str) -> None:
    async def scenario(clients: Clients) -> None:
        await create_topic(await clients.admin(), topic_name, **{"message.timestamp.type": "LogAppendTime"})
        given = past_timestamps(1)[0] - 86_400_000
        producer = await clients.producer()
        before = now_ms()
        await producer.send_and_wait(topic_name, value=b"x", timestamp_ms=given, partition=0)
        after = now_ms()

        [record] = await consume(await clients.consumer(TopicPartition(topic_name, 0)), 1)

        assert record.timestamp_type == 1  # LogAppendTime
        assert before - 1000 <= record.timestamp <= after + 1000

    run(bootstrap_servers, scenario)
