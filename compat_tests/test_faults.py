"""Fault injection (``cluster.faults``) with real clients over TCP: each fault makes a client do what it
does when a real Kafka cluster fails that way (issue 7).

- ``error`` NOT_LEADER_OR_FOLLOWER on Produce: the producer refreshes its metadata (a Metadata request
  follows the error) and retries; the record is delivered and stored once (confluent-kafka, kafka-python).
- ``close_after`` on Produce (the append happens, the ack is lost): an idempotent producer sends the batch
  again with the same producer id and sequence and the broker answers it as a duplicate, so the record is
  stored once (confluent-kafka, aiokafka). A producer without idempotence sends it again as new data and
  the record is stored twice: that is Kafka's behaviour too (at-least-once; idempotence exists to prevent
  exactly this duplicate).
- ``delay`` longer than the client's request timeout: the delivery fails with librdkafka's timeout error,
  while the broker keeps answering other connections during the delay. The delayed request did take
  effect (as on Kafka, a timed-out request is not a request that failed).
- ``error`` on Fetch or ListOffsets with a topic filter affects that topic only: a consumer of another
  topic on the same broker is served as usual.
- ``probability`` draws from a seeded RNG: two clusters with the same seed fire on the same requests of
  the same sequence.
- Rules are added and removed while clients stay connected, ``list()`` reports how often each fired, and
  after a ``drop`` librdkafka times the request out, closes the connection (``socket.max.fails=1``), opens
  a new one and retries there.

A rule that counts requests without changing them is a ``throttle`` rule with ``throttle_ms=0`` (it sets
the answer's throttle time to 0, which it already is). The first matching rule fires, so counters are
added after the rules whose faults they must not hide.

These tests need kafkasim's own controls; with --kafka-bootstrap they are skipped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from kafka import KafkaProducer

from compat_tests.clients.pyclients import FAST_RETRIES, WAIT_S, poll_until
from kafkasim.errors import ErrorCode
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import fetch as f
from kafkasim.protocol.messages import metadata as md
from kafkasim.protocol.records import iter_batches, iter_records
from kafkasim.server.faults import FaultRule
from kafkasim.testing.wire import WireClient

pytestmark = pytest.mark.kafkasim_only  # fault injection is kafkasim's own control

FETCH_VERSION = 12  # names topics (v13+ use topic ids)


# ----------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def ck_consumer() -> Iterator[Callable[[dict[str, Any]], Consumer]]:
    """``ck_consumer(config)``: a confluent-kafka Consumer, closed at teardown."""
    made: list[Consumer] = []

    def factory(config: dict[str, Any]) -> Consumer:
        made.append(Consumer(config))
        return made[-1]

    yield factory
    for consumer in made:
        consumer.close()


# ------------------------------------------------------------------------------------------------ helpers



def counter(cluster: Any, api: str, client_id: str) -> FaultRule:
    """A rule that only counts ``api`` requests from ``client_id`` (throttle 0 changes nothing)."""
    return cluster.faults.add("throttle", api=api, client_id=client_id, throttle_ms=0)


def stored_values(bootstrap: str, topic: str, partition: int = 0) -> list[bytes | None]:
    """Every value in the partition, in offset order, read with Fetch over the wire (no client library)."""
    values: list[bytes | None] = []
    offset = 0
    deadline = time.monotonic() + WAIT_S
    with WireClient(bootstrap, client_id="faults-reader") as c:
        while True:
            resp = c.request(ApiKey.FETCH, f.FetchRequest(
                replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=1 << 24, topics=[f.FetchRequestFetchTopic(
                    topic=topic, partitions=[f.FetchRequestFetchPartition(
                        partition=partition, fetch_offset=offset, partition_max_bytes=1 << 20)])]),
                version=FETCH_VERSION)
            [part] = resp.responses[0].partitions
            assert part.error_code == ErrorCode.NO_ERROR, part.error_code
            for header, batch in iter_batches(part.records or b""):
                if not header.is_control:
                    values += [r.value for r in iter_records(batch) if r.offset >= offset]
                offset = header.last_offset + 1
            if offset >= part.high_watermark:
                return values
            assert time.monotonic() < deadline, f"log not read to its end ({part.high_watermark}) in time"


def deliver(producer: Producer, topic: str, value: bytes, timeout_s: float = WAIT_S) -> tuple[KafkaError | None,
                                                                                              Message]:
    """Produce one record to partition 0 and wait for its delivery report: (error, message)."""
    reports: list[tuple[KafkaError | None, Message]] = []
    producer.produce(topic, value=value, partition=0, on_delivery=lambda err, msg: reports.append((err, msg)))
    poll_until(lambda: producer.poll(0.05) is not None and reports, f"the delivery report of {value!r}", timeout_s)
    return reports[0]


def delivered_offset(producer: Producer, topic: str, value: bytes) -> int:
    err, msg = deliver(producer, topic, value)
    assert err is None, f"{value!r} was not delivered: {err}"
    return msg.offset()


def consume(consumer: Consumer, count: int, what: str, timeout_s: float = WAIT_S) -> list[bytes | None]:
    """The values of the next ``count`` records (consumer errors fail the test)."""
    got: list[bytes | None] = []

    def more() -> bool:
        msg = consumer.poll(0.05)
        if msg is not None:
            assert msg.error() is None, f"{what}: {msg.error()}"
            got.append(msg.value())
        return len(got) >= count

    poll_until(more, f"{count} records of {what} (got {len(got)})", timeout_s)
    return got


# ---------------------------------------------------------------------- NOT_LEADER_OR_FOLLOWER on Produce


def test_faults_not_leader_on_produce_confluent_refreshes_metadata_and_retries(
        cluster: Any, topic_name: str, ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    cluster.create_topic(topic_name, 1)
    client_id = "faults-not-leader-ck"
    producer = ck_producer({"bootstrap.servers": cluster.bootstrap_servers, "client.id": client_id,
                            "linger.ms": 0, "message.timeout.ms": int(WAIT_S * 1000), **FAST_RETRIES})
    assert delivered_offset(producer, topic_name, b"warm-up") == 0  # connected, metadata known
    not_leader = cluster.faults.add("error", api="Produce", topic=topic_name, error="NOT_LEADER_OR_FOLLOWER",
                                    count=2)
    metadata = counter(cluster, "Metadata", client_id)

    assert delivered_offset(producer, topic_name, b"retried") == 1
    assert not_leader.fired == 2, "the producer did not retry through both errors"
    # librdkafka asks for the leader at once (it also backs the retry off until the answer is in)
    poll_until(lambda: metadata.fired, "a Metadata request after NOT_LEADER_OR_FOLLOWER")
    assert stored_values(cluster.bootstrap_servers, topic_name) == [b"warm-up", b"retried"]


def test_faults_not_leader_on_produce_kafka_python_refreshes_metadata_and_retries(
        cluster: Any, topic_name: str) -> None:
    cluster.create_topic(topic_name, 1)
    client_id = "faults-not-leader-kp"
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, client_id=client_id, linger_ms=0,
                             retries=5, retry_backoff_ms=20, request_timeout_ms=int(WAIT_S * 1000),
                             delivery_timeout_ms=int(WAIT_S * 1000) + 1000)
    try:
        assert producer.send(topic_name, value=b"warm-up", partition=0).get(timeout=WAIT_S).offset == 0
        not_leader = cluster.faults.add("error", api="Produce", topic=topic_name, error="NOT_LEADER_OR_FOLLOWER",
                                        count=2)
        metadata = counter(cluster, "Metadata", client_id)
        assert producer.send(topic_name, value=b"retried", partition=0).get(timeout=WAIT_S).offset == 1
        assert not_leader.fired == 2, "the producer did not retry through both errors"
        # kafka-python flags its metadata for an update and retries at once: the refresh may come after
        poll_until(lambda: metadata.fired, "a Metadata request after NOT_LEADER_OR_FOLLOWER")
    finally:
        producer.close(timeout=5)
    assert stored_values(cluster.bootstrap_servers, topic_name) == [b"warm-up", b"retried"]


# ------------------------------------------------------------------------------ close_after (a lost ack)


def test_faults_close_after_produce_confluent_idempotent_retry_is_stored_once(
        cluster: Any, topic_name: str, ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    cluster.create_topic(topic_name, 1)
    client_id = "faults-lost-ack-ck"
    producer = ck_producer({"bootstrap.servers": cluster.bootstrap_servers, "client.id": client_id,
                            "enable.idempotence": True, "acks": "all", "linger.ms": 0,
                            "message.timeout.ms": int(WAIT_S * 1000), **FAST_RETRIES})
    assert delivered_offset(producer, topic_name, b"warm-up") == 0  # the producer has its id
    lost_ack = cluster.faults.add("close_after", api="Produce", topic=topic_name, count=1)
    connections = counter(cluster, "ApiVersions", client_id)  # librdkafka opens each connection with one

    assert delivered_offset(producer, topic_name, b"once") == 1
    assert lost_ack.fired == 1
    assert connections.fired >= 1, "the producer did not reconnect"
    assert stored_values(cluster.bootstrap_servers, topic_name) == [b"warm-up", b"once"]


def test_faults_close_after_produce_aiokafka_idempotent_retry_is_stored_once(cluster: Any, topic_name: str) -> None:
    cluster.create_topic(topic_name, 1)
    rules: list[FaultRule] = []

    async def main() -> tuple[int, int]:
        producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap_servers, client_id="faults-lost-ack-aio",
                                    enable_idempotence=True, acks="all", linger_ms=0, retry_backoff_ms=20,
                                    request_timeout_ms=int(WAIT_S * 1000))
        await producer.start()
        try:
            first = await asyncio.wait_for(producer.send_and_wait(topic_name, b"warm-up", partition=0), WAIT_S)
            rules.append(cluster.faults.add("close_after", api="Produce", topic=topic_name, count=1))
            second = await asyncio.wait_for(producer.send_and_wait(topic_name, b"once", partition=0), WAIT_S)
        finally:
            await producer.stop()
        return first.offset, second.offset

    assert asyncio.run(main()) == (0, 1)
    assert rules[0].fired == 1
    assert stored_values(cluster.bootstrap_servers, topic_name) == [b"warm-up", b"once"]


def test_faults_close_after_produce_without_idempotence_stores_a_duplicate_as_kafka_does(
        cluster: Any, topic_name: str, ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    """Without idempotence the broker cannot tell a retry from new data: at-least-once, a duplicate."""
    cluster.create_topic(topic_name, 1)
    producer = ck_producer({"bootstrap.servers": cluster.bootstrap_servers, "client.id": "faults-lost-ack-plain",
                            "enable.idempotence": False, "acks": 1, "linger.ms": 0,
                            "message.timeout.ms": int(WAIT_S * 1000), **FAST_RETRIES})
    assert delivered_offset(producer, topic_name, b"warm-up") == 0
    lost_ack = cluster.faults.add("close_after", api="Produce", topic=topic_name, count=1)

    assert delivered_offset(producer, topic_name, b"twice") == 2  # the retry's offset; the lost append is at 1
    assert lost_ack.fired == 1
    assert stored_values(cluster.bootstrap_servers, topic_name) == [b"warm-up", b"twice", b"twice"]


# ------------------------------------------------------------------------------------------------ delay


def test_faults_delay_beyond_request_timeout_times_out_the_producer_and_others_are_served(
        cluster: Any, topic_name: str, ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    cluster.create_topic(topic_name, 1)
    # librdkafka waits for a Produce answer until the lesser of socket.timeout.ms and the first message's
    # remaining message.timeout.ms (request.timeout.ms is the broker's acks wait): here 1 s, the delay is 2 s.
    slow = ck_producer({"bootstrap.servers": cluster.bootstrap_servers, "client.id": "faults-slow",
                        "linger.ms": 0, "request.timeout.ms": 500, "message.timeout.ms": 1000, **FAST_RETRIES})
    assert delivered_offset(slow, topic_name, b"warm-up") == 0
    delay = cluster.faults.add("delay", api="Produce", client_id="faults-slow", delay_ms=2000)

    reports: list[tuple[KafkaError | None, Message]] = []
    slow.produce(topic_name, value=b"late", partition=0, on_delivery=lambda err, msg: reports.append((err, msg)))
    poll_until(lambda: slow.poll(0) is not None and delay.fired, "the delayed Produce to arrive")

    # While that answer is held, another connection is served at once: Metadata, and a Produce.
    started = time.monotonic()
    with WireClient(cluster.bootstrap_servers, client_id="faults-other") as other:
        meta = other.request(ApiKey.METADATA, md.MetadataRequest(
            topics=[md.MetadataRequestMetadataRequestTopic(name=topic_name)]))
    assert [t.error_code for t in meta.topics] == [ErrorCode.NO_ERROR]
    fast = ck_producer({"bootstrap.servers": cluster.bootstrap_servers, "client.id": "faults-fast", "linger.ms": 0})
    assert delivered_offset(fast, topic_name, b"meanwhile") == 2  # the delayed "late" was appended at 1
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"another connection waited {elapsed:.2f}s behind the delayed answer"
    assert not reports, "the delayed Produce was answered early"

    poll_until(lambda: slow.poll(0.05) is not None and reports, "the delivery report of the delayed record")
    [(err, _msg)] = reports
    assert err is not None and err.code() in (KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT), err
    # As on Kafka, the request that timed out took effect: the record is in the log.
    assert b"late" in stored_values(cluster.bootstrap_servers, topic_name)


# ------------------------------------------------------------------------- topic filters: Fetch, ListOffsets


def test_faults_fetch_error_for_one_topic_leaves_a_consumer_of_another_topic_unaffected(
        cluster: Any, topic_name: str, ck_producer: Callable[[dict[str, Any]], Producer],
        ck_consumer: Callable[[dict[str, Any]], Consumer]) -> None:
    """librdkafka sends Fetch v16, which names topics by id: the rule's topic name must match it all the same.
    As Kafka does, the error is answered for each partition (a Fetch's top-level error code is only for
    fetch-session errors), so librdkafka backs off per partition and reports the error to the application."""
    faulty, healthy = f"{topic_name}-faulty", f"{topic_name}-healthy"
    for topic in (faulty, healthy):
        cluster.create_topic(topic, 1)
    producer = ck_producer({"bootstrap.servers": cluster.bootstrap_servers, "linger.ms": 0})
    for topic in (faulty, healthy):
        for i in range(3):
            delivered_offset(producer, topic, f"{topic}-{i}".encode())
    rule = cluster.faults.add("error", api="Fetch", topic=faulty, error="TOPIC_AUTHORIZATION_FAILED")

    consumers = {}
    for topic in (faulty, healthy):
        consumers[topic] = ck_consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": topic,
                                        "client.id": topic, "enable.auto.commit": False,
                                        "fetch.error.backoff.ms": 50})
        consumers[topic].assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])

    assert consume(consumers[healthy], 3, healthy) == [f"{healthy}-{i}".encode() for i in range(3)]

    # The faulty topic's partition is refused, and librdkafka reports a partition's authorization error
    # to the application as a consumer error.
    def refused() -> KafkaError | None:
        msg = consumers[faulty].poll(0.05)
        if msg is None:
            return None
        assert msg.error() is not None, (
            f"{faulty}: record {msg.value()!r} served although every Fetch of it is refused "
            f"(the rule fired {rule.fired} times)")
        return msg.error()

    err = poll_until(refused, f"the Fetch error for {faulty} to reach its consumer")
    assert err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    assert rule.fired >= 1

    cluster.faults.remove(rule.id)  # while the consumer is connected: it reads on
    assert consume(consumers[faulty], 3, faulty) == [f"{faulty}-{i}".encode() for i in range(3)]


def test_faults_list_offsets_error_for_one_topic_leaves_another_topic_unaffected(
        cluster: Any, topic_name: str, ck_producer: Callable[[dict[str, Any]], Producer],
        ck_consumer: Callable[[dict[str, Any]], Consumer]) -> None:
    faulty, healthy = f"{topic_name}-faulty", f"{topic_name}-healthy"
    for topic in (faulty, healthy):
        cluster.create_topic(topic, 1)
    producer = ck_producer({"bootstrap.servers": cluster.bootstrap_servers, "linger.ms": 0})
    for topic in (faulty, healthy):
        for i in range(2):
            delivered_offset(producer, topic, f"{topic}-{i}".encode())
    rule = cluster.faults.add("error", api="ListOffsets", topic=faulty, error="TOPIC_AUTHORIZATION_FAILED")
    consumer = ck_consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": topic_name,
                            "enable.auto.commit": False})

    assert consumer.get_watermark_offsets(TopicPartition(healthy, 0), timeout=WAIT_S, cached=False) == (0, 2)
    with pytest.raises(KafkaException) as refused:
        consumer.get_watermark_offsets(TopicPartition(faulty, 0), timeout=WAIT_S, cached=False)
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused.value
    assert rule.fired >= 1
    assert consumer.get_watermark_offsets(TopicPartition(healthy, 0), timeout=WAIT_S, cached=False) == (0, 2)


# ----------------------------------------------------------------------------------- seeded probability


def firing_pattern(cluster: Any, seed: int, requests: int = 40) -> list[bool]:
    """Which of ``requests`` Metadata requests a probability-0.5 throttle rule fired on, after reseeding."""
    cluster.faults.clear()
    cluster.faults.reseed(seed)
    rule = cluster.faults.add("throttle", api="Metadata", probability=0.5, throttle_ms=250)
    pattern = []
    with WireClient(cluster.bootstrap_servers, client_id="faults-seeded") as c:
        for _ in range(requests):
            resp = c.request(ApiKey.METADATA, md.MetadataRequest(topics=[]))
            assert resp.throttle_time_ms in (0, 250)
            pattern.append(resp.throttle_time_ms == 250)
    assert rule.fired == sum(pattern)
    return pattern


def test_faults_probability_with_the_same_seed_fires_on_the_same_requests(make_cluster: Callable[..., Any]) -> None:
    one, two = make_cluster(), make_cluster()
    pattern = firing_pattern(one, 7)
    assert 0 < sum(pattern) < len(pattern), pattern  # the rule both fired and did not
    assert firing_pattern(two, 7) == pattern
    assert firing_pattern(one, 7) == pattern  # reseeding starts the sequence again
    assert firing_pattern(two, 8) != pattern  # another seed, another pattern (2**-40 to be equal)


# ------------------------------------------------------------------ rules while connected; drop (librdkafka)


def test_faults_rules_change_while_connected_and_a_dropped_produce_times_out_and_is_retried(
        cluster: Any, topic_name: str, ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    cluster.create_topic(topic_name, 1)
    client_id = "faults-drop"
    producer = ck_producer({"bootstrap.servers": cluster.bootstrap_servers, "client.id": client_id,
                            "enable.idempotence": True, "linger.ms": 0, "socket.timeout.ms": 500,
                            "message.timeout.ms": int(WAIT_S * 1000), **FAST_RETRIES})
    assert delivered_offset(producer, topic_name, b"warm-up") == 0

    drop = cluster.faults.add("drop", api="Produce", client_id=client_id, count=1)
    produces = counter(cluster, "Produce", client_id)
    connections = counter(cluster, "ApiVersions", client_id)
    assert [(r.id, r.action, r.fired) for r in cluster.faults.list()] == [
        (drop.id, "drop", 0), (produces.id, "throttle", 0), (connections.id, "throttle", 0)]

    # The answer never comes: librdkafka times the request out after socket.timeout.ms (a ProduceRequest
    # waits the lesser of that and the message timeout; request.timeout.ms is only the broker's acks wait),
    # closes the connection (socket.max.fails=1), reconnects and sends the batch again, which is answered;
    # idempotence keeps the dropped (but appended) batch from being stored twice.
    started = time.monotonic()
    assert delivered_offset(producer, topic_name, b"dropped once") == 1
    assert time.monotonic() - started >= 0.5, "delivered before the request timeout: was the answer dropped?"
    assert drop.fired == 1 and produces.fired >= 1
    assert connections.fired >= 1, "librdkafka did not reconnect after the timed-out request"
    assert stored_values(cluster.bootstrap_servers, topic_name) == [b"warm-up", b"dropped once"]

    listed = {r["id"]: r for r in (r.as_dict() for r in cluster.faults.list())}
    assert (listed[drop.id]["fired"], listed[drop.id]["action"], listed[drop.id]["api"]) == (1, "drop", "PRODUCE")
    assert listed[produces.id]["fired"] == produces.fired

    # Rules come and go while the producer stays connected.
    assert cluster.faults.remove(drop.id) and not cluster.faults.remove(drop.id)
    refuse = cluster.faults.add("error", api="Produce", client_id=client_id, error="NOT_ENOUGH_REPLICAS", count=1)
    cluster.faults.remove(produces.id)
    cluster.faults.remove(connections.id)
    before = connections.fired
    assert delivered_offset(producer, topic_name, b"after") == 2  # NOT_ENOUGH_REPLICAS is retriable
    assert refuse.fired == 1
    assert connections.fired == before  # removed rules no longer count
    assert [r.id for r in cluster.faults.list()] == [refuse.id]
    cluster.faults.clear()
    assert cluster.faults.list() == []
    assert delivered_offset(producer, topic_name, b"clear") == 3
    assert stored_values(cluster.bootstrap_servers, topic_name) == [b"warm-up", b"dropped once", b"after", b"clear"]
