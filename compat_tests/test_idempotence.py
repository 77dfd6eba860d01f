"""Idempotent producers: a retry after a lost acknowledgement is deduplicated; an out-of-order sequence is refused.

What Kafka does, and these tests check (issue 5):

- An idempotent producer (InitProducerId without a transactional id) numbers its records per partition:
  every batch carries the producer id, its epoch and the sequence number of its first record. The
  partition leader remembers the last five batches appended for each producer. A batch equal to one of
  them (same epoch, same first and last sequence) is a duplicate: it is not appended again and the
  Produce response answers it without error, with the base offset of its first append.
- Otherwise the first sequence must follow the last one appended, else OUT_OF_ORDER_SEQUENCE_NUMBER, and
  nothing is appended. Only batches that are appended move the producer's state: after a refused batch
  the next one in sequence is accepted at the next offset, and the refused batch, sent again once it is
  in order, is appended as new (not mistaken for a duplicate).

The client tests (confluent-kafka, kafka-python, aiokafka; enable idempotence, acks=all) put a
:class:`~compat_tests.clients.proxy.KafkaProxy` between the producer and the broker and arm it to drop
the connection when the broker answers the second Produce request after a warm-up: the records are in
the log, the producer never hears so, reconnects and sends the batches again (and any it had pipelined
behind them, whose answers were withheld too). Afterwards, read straight from the broker (not through the
proxy) with kafkasim's own wire client, each partition holds its records exactly once, in produce order,
at the offsets the clients reported; and the proxy's record of the exchanges shows that each lost batch
was sent again, same producer id, epoch and sequences, and answered with the base offset of its first
append. All three clients retry that way: none bumps its epoch or renumbers after a dropped connection.

The raw-protocol test drives the sequence rules directly with :class:`kafkasim.testing.wire.WireClient`.

Produce and Fetch are sent at versions that name topics (v9, v12), so with --kafka-bootstrap these tests
run against any single-broker Kafka from 2.8 on that advertises the bootstrap address as its own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka import KafkaError, Producer
from kafka import KafkaProducer

from compat_tests.clients.proxy import KafkaProxy
from compat_tests.clients.pyclients import WAIT_S
from kafkasim.errors import ErrorCode
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import create_topics as ct
from kafkasim.protocol.messages import describe_cluster as dc
from kafkasim.protocol.messages import fetch as f
from kafkasim.protocol.messages import find_coordinator as fc
from kafkasim.protocol.messages import metadata as md
from kafkasim.protocol.messages import produce as pr
from kafkasim.protocol.messages.init_producer_id import InitProducerIdRequest
from kafkasim.protocol.records import Record, build_batch, iter_batches, iter_records
from kafkasim.testing.wire import WireClient

RECORDS = 60  # per client test: 12 before the fault is armed, 48 after, in batches of a few records
WARMUP = 12
PARTITIONS = 3  # record i goes to partition i % 3: a Produce request carries batches for several partitions
BATCH_BYTES = 200  # kafka-python's batch_size, aiokafka's max_batch_size: a few records a batch
# Versions that name topics (v13 of both uses topic ids), served by kafkasim and by Kafka 2.7 to 4.x.
PRODUCE_VERSION = 9
FETCH_VERSION = 12


# ----------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def make_proxy() -> Iterator[Callable[[str], KafkaProxy]]:
    """``make_proxy(upstream)``: a started proxy in front of ``upstream``; closed at teardown, which also
    fails the test if the proxy could not relay something faithfully."""
    made: list[KafkaProxy] = []

    def factory(upstream: str) -> KafkaProxy:
        made.append(KafkaProxy(upstream).start())
        return made[-1]

    yield factory
    for proxy in reversed(made):
        proxy.close()
    for proxy in made:
        assert not proxy.errors, proxy.errors


@pytest.fixture
def kp_producer() -> Iterator[Callable[..., KafkaProducer]]:
    """``kp_producer(**config)``: a kafka-python KafkaProducer, closed at teardown."""
    made: list[KafkaProducer] = []

    def factory(**config: Any) -> KafkaProducer:
        made.append(KafkaProducer(**config))
        return made[-1]

    yield factory
    for producer in made:
        producer.close(timeout=5)


# ------------------------------------------------------------------------------------------------ helpers


@dataclass(frozen=True)
class Stored:
    """One record as the broker stores it, with the header of its batch."""

    offset: int
    value: bytes | None
    producer_id: int
    producer_epoch: int
    base_sequence: int


def create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    with WireClient(bootstrap, client_id="idempotence-test") as c:
        resp = c.request(ApiKey.CREATE_TOPICS, ct.CreateTopicsRequest(
            topics=[ct.CreateTopicsRequestCreatableTopic(name=topic, num_partitions=partitions, replication_factor=1)],
            timeout_ms=int(WAIT_S * 1000)))
    [result] = resp.topics
    assert result.error_code == ErrorCode.NO_ERROR, (result.error_code, result.error_message)


def read_log(bootstrap: str, topic: str, partition: int = 0) -> list[Stored]:
    """Every record of the partition, read straight from ``bootstrap`` with Fetch (no client library)."""
    stored: list[Stored] = []
    offset = 0
    deadline = time.monotonic() + WAIT_S
    with WireClient(bootstrap, client_id="idempotence-reader") as c:
        while True:
            resp = c.request(ApiKey.FETCH, f.FetchRequest(
                replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=1 << 24, topics=[f.FetchRequestFetchTopic(
                    topic=topic, partitions=[f.FetchRequestFetchPartition(
                        partition=partition, fetch_offset=offset, partition_max_bytes=1 << 20)])]),
                version=FETCH_VERSION)
            [part] = resp.responses[0].partitions
            assert part.error_code == ErrorCode.NO_ERROR, part.error_code
            for header, batch in iter_batches(part.records or b""):
                if header.is_control or header.last_offset < offset:
                    continue
                for rec in iter_records(batch):
                    if rec.offset >= offset:
                        stored.append(Stored(rec.offset, rec.value, header.producer_id, header.producer_epoch,
                                             header.base_sequence))
                offset = header.last_offset + 1
            if offset >= part.high_watermark:
                return stored
            assert time.monotonic() < deadline, f"log not read to its end ({part.high_watermark}) in time"


def assert_lost_acks_were_deduplicated(proxy: KafkaProxy) -> None:
    """Each batch whose answer the proxy withheld (the armed one and any pipelined behind it) had been
    appended, and was sent again on a later connection and answered without error with the base offset of
    its first append."""
    exchanges = proxy.produce_exchanges()
    lost = [x for x in exchanges if x.dropped]
    assert lost, "no Produce answer was dropped"
    assert len({x.connection for x in lost}) == 1, lost
    later = [x for x in exchanges if x.connection > lost[0].connection]
    for x in lost:
        assert x.results is not None, f"{x}: the broker never answered"
        assert len(x.results) == len(x.batches), x
        for batch in x.batches:
            result = x.result_for(batch)
            assert result.error_code == ErrorCode.NO_ERROR, (batch, result)
            retries = [y.result_for(b) for y in later if y.results is not None for b in y.batches if b == batch]
            assert retries, f"{batch} (appended at {result.base_offset}, answer lost) was never sent again"
            for retry in retries:
                assert (retry.error_code, retry.base_offset) == (ErrorCode.NO_ERROR, result.base_offset), (
                    f"the retry of {batch} was answered {retry}, expected its first base offset {result.base_offset}")


def assert_log_is_exactly_once(bootstrap: str, topic: str, values: list[bytes],
                               reported: dict[bytes, tuple[int, int]]) -> None:
    """Each partition holds its share of ``values`` (value i in partition i % PARTITIONS) once each, in
    produce order, at offsets 0.., and at the (partition, offset) the client reported for it."""
    stored = {p: read_log(bootstrap, topic, p) for p in range(PARTITIONS)}
    for p in range(PARTITIONS):
        assert [(s.offset, s.value) for s in stored[p]] == list(enumerate(values[p::PARTITIONS])), (
            f"partition {p} differs from what was produced")
    assert reported == {s.value: (p, s.offset) for p in stored for s in stored[p]}, "reports differ from the log"
    assert len({s.producer_id for p in stored for s in stored[p]}) == 1  # one idempotent producer wrote it all


def values_for(topic: str) -> list[bytes]:
    return [f"{topic}-{i:03d}".encode() for i in range(RECORDS)]


def partition_of(i: int) -> int:
    return i % PARTITIONS


def assert_deduplicated_and_exactly_once(proxy: KafkaProxy, dropped: threading.Event, bootstrap: str, topic: str,
                                         values: list[bytes], reported: dict[bytes, tuple[int, int]]) -> None:
    assert dropped.is_set(), "the armed Produce never came"
    assert proxy.connections >= 2, "the producer did not reconnect"
    assert_lost_acks_were_deduplicated(proxy)
    assert_log_is_exactly_once(bootstrap, topic, values, reported)


# ---------------------------------------------------------------------------------------- confluent-kafka


def test_confluent_retry_after_a_lost_produce_ack_is_deduplicated(
        bootstrap_servers: str, topic_name: str, make_proxy: Callable[[str], KafkaProxy],
        ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    create_topic(bootstrap_servers, topic_name, PARTITIONS)
    proxy = make_proxy(bootstrap_servers)
    producer = ck_producer({
        "bootstrap.servers": proxy.bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 1,
        "batch.num.messages": 5,
        "retry.backoff.ms": 20,
        "retry.backoff.max.ms": 100,
        "reconnect.backoff.ms": 20,
        "reconnect.backoff.max.ms": 100,
        "message.timeout.ms": int(WAIT_S * 1000),
    })
    values = values_for(topic_name)
    reported: dict[bytes, tuple[int, int]] = {}
    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        else:
            reported[msg.value()] = (msg.partition(), msg.offset())

    def produce(indexes: range) -> None:
        for i in indexes:
            producer.produce(topic_name, value=values[i], partition=partition_of(i), on_delivery=on_delivery)
        assert producer.flush(WAIT_S) == 0, "not every record was delivered in time"

    produce(range(WARMUP))  # the producer has its id and sequences on every partition
    dropped = proxy.drop_before_response(ApiKey.PRODUCE, nth=2)
    produce(range(WARMUP, RECORDS))
    assert not errors, errors
    assert_deduplicated_and_exactly_once(proxy, dropped, bootstrap_servers, topic_name, values, reported)


# ------------------------------------------------------------------------------------------- kafka-python


def test_kafka_python_retry_after_a_lost_produce_ack_is_deduplicated(
        bootstrap_servers: str, topic_name: str, make_proxy: Callable[[str], KafkaProxy],
        kp_producer: Callable[..., KafkaProducer]) -> None:
    create_topic(bootstrap_servers, topic_name, PARTITIONS)
    proxy = make_proxy(bootstrap_servers)
    producer = kp_producer(
        bootstrap_servers=proxy.bootstrap_servers, enable_idempotence=True, acks="all", linger_ms=1,
        batch_size=BATCH_BYTES, retry_backoff_ms=20, reconnect_backoff_ms=20, reconnect_backoff_max_ms=100,
        request_timeout_ms=int(WAIT_S * 1000), delivery_timeout_ms=int(WAIT_S * 1000) + 1000)
    values = values_for(topic_name)
    reported: dict[bytes, tuple[int, int]] = {}

    def produce(indexes: range) -> None:
        futures = [(values[i], producer.send(topic_name, value=values[i], partition=partition_of(i))) for i in indexes]
        producer.flush(WAIT_S)  # raises KafkaTimeoutError at the deadline
        for value, future in futures:
            meta = future.get(timeout=WAIT_S)
            reported[value] = (meta.partition, meta.offset)

    produce(range(WARMUP))
    dropped = proxy.drop_before_response(ApiKey.PRODUCE, nth=2)
    produce(range(WARMUP, RECORDS))
    assert_deduplicated_and_exactly_once(proxy, dropped, bootstrap_servers, topic_name, values, reported)


# ----------------------------------------------------------------------------------------------- aiokafka


def test_aiokafka_retry_after_a_lost_produce_ack_is_deduplicated(
        bootstrap_servers: str, topic_name: str, make_proxy: Callable[[str], KafkaProxy]) -> None:
    create_topic(bootstrap_servers, topic_name, PARTITIONS)
    proxy = make_proxy(bootstrap_servers)
    values = values_for(topic_name)
    reported: dict[bytes, tuple[int, int]] = {}
    dropped = threading.Event()

    async def main() -> None:
        nonlocal dropped
        producer = AIOKafkaProducer(
            bootstrap_servers=proxy.bootstrap_servers, enable_idempotence=True, acks="all", linger_ms=1,
            max_batch_size=BATCH_BYTES, retry_backoff_ms=20, request_timeout_ms=int(WAIT_S * 1000))
        await producer.start()
        try:
            async def produce(indexes: range) -> None:
                futures = [(values[i], await producer.send(topic_name, value=values[i], partition=partition_of(i)))
                           for i in indexes]
                for value, future in futures:
                    meta = await asyncio.wait_for(future, WAIT_S)
                    reported[value] = (meta.partition, meta.offset)

            await produce(range(WARMUP))
            dropped = proxy.drop_before_response(ApiKey.PRODUCE, nth=2)
            await produce(range(WARMUP, RECORDS))
        finally:
            await producer.stop()

    asyncio.run(main())
    assert_deduplicated_and_exactly_once(proxy, dropped, bootstrap_servers, topic_name, values, reported)


# ----------------------------------------------------------------------------------------- raw protocol


class RawProducer:
    """An idempotent producer on a raw connection: InitProducerId, then Produce with sequences it is told."""

    def __init__(self, client: WireClient, topic: str) -> None:
        self.client = client
        self.topic = topic
        resp = client.request(ApiKey.INIT_PRODUCER_ID, InitProducerIdRequest(transactional_id=None,
                                                                             transaction_timeout_ms=60000))
        assert resp.error_code == ErrorCode.NO_ERROR, resp.error_code
        assert resp.producer_id >= 0 and resp.producer_epoch == 0
        self.producer_id = resp.producer_id
        self.producer_epoch = resp.producer_epoch

    def produce(self, base_sequence: int, values: list[bytes]) -> tuple[int, int]:
        """One batch of ``values`` with ``base_sequence``; returns the partition's (error code, base offset)."""
        now = int(time.time() * 1000)
        batch = build_batch([Record(0, now, None, v) for v in values], producer_id=self.producer_id,
                            producer_epoch=self.producer_epoch, base_sequence=base_sequence)
        resp = self.client.request(ApiKey.PRODUCE, pr.ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[
            pr.ProduceRequestTopicProduceData(name=self.topic, partition_data=[
                pr.ProduceRequestPartitionProduceData(index=0, records=batch)])]), version=PRODUCE_VERSION)
        [topic] = resp.responses
        [part] = topic.partition_responses
        return part.error_code, part.base_offset


def test_raw_out_of_order_sequence_is_rejected_and_does_not_move_the_producer_state(
        bootstrap_servers: str, topic_name: str) -> None:
    create_topic(bootstrap_servers, topic_name)
    a = [b"a0", b"a1", b"a2"]
    b = [b"b3", b"b4"]
    gap = [b"x5", b"x6"]
    with WireClient(bootstrap_servers, client_id="idempotence-raw") as client:
        producer = RawProducer(client, topic_name)
        assert producer.produce(0, a) == (ErrorCode.NO_ERROR, 0)

        # Sequence 5 after 0..2: a gap. Refused, nothing appended.
        assert producer.produce(5, gap) == (ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
        assert [s.value for s in read_log(bootstrap_servers, topic_name)] == a

        # The refused batch did not move the state: 3 is still the next sequence, appended at the next offset.
        assert producer.produce(3, b) == (ErrorCode.NO_ERROR, 3)

        # Duplicates of appended batches are answered with their original base offsets, and not appended.
        assert producer.produce(0, a) == (ErrorCode.NO_ERROR, 0)
        assert producer.produce(3, b) == (ErrorCode.NO_ERROR, 3)

        # The refused batch, now in order, is new data (not mistaken for a duplicate): appended at offset 5.
        assert producer.produce(5, gap) == (ErrorCode.NO_ERROR, 5)
        # A sequence already passed but not matching an appended batch is out of order, not a duplicate.
        assert producer.produce(4, [b"y4"]) == (ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, -1)

    stored = read_log(bootstrap_servers, topic_name)
    assert [(s.offset, s.value) for s in stored] == list(enumerate(a + b + gap))
    assert {(s.producer_id, s.producer_epoch) for s in stored} == {(producer.producer_id, 0)}
    assert [s.base_sequence for s in stored] == [0, 0, 0, 3, 3, 5, 5]


def test_proxy_points_broker_addresses_at_itself_and_changes_nothing_else(
        bootstrap_servers: str, make_proxy: Callable[[str], KafkaProxy]) -> None:
    """The proxy's one rewrite: the broker's address in Metadata, FindCoordinator and DescribeCluster
    answers becomes the proxy's, so clients stay behind it; the answers are otherwise the broker's own."""
    proxy = make_proxy(bootstrap_servers)
    me = ("127.0.0.1", proxy.port)

    def find_coordinator(c: WireClient) -> Any:
        # Kafka creates __consumer_offsets on the first FindCoordinator for a group and answers
        # COORDINATOR_NOT_AVAILABLE (node -1, port -1) until the topic's partition is loaded, as
        # clients expect (they retry); kafkasim has it from the start. Ask until it is there.
        deadline = time.monotonic() + WAIT_S
        while True:
            resp = c.request(ApiKey.FIND_COORDINATOR, fc.FindCoordinatorRequest(key="g", coordinator_keys=["g"]))
            if resp.coordinators[0].error_code != ErrorCode.COORDINATOR_NOT_AVAILABLE or time.monotonic() > deadline:
                return resp
            time.sleep(0.1)  # poll interval while the coordinator loads

    def ask(bootstrap: str) -> tuple[Any, Any, Any]:
        with WireClient(bootstrap, client_id="idempotence-proxy") as c:
            # no topics: on a broker shared with other tests the topic list changes between two asks
            return (c.request(ApiKey.METADATA, md.MetadataRequest(topics=[])),
                    find_coordinator(c),
                    c.request(ApiKey.DESCRIBE_CLUSTER, dc.DescribeClusterRequest()))

    meta, coordinator, cluster = ask(proxy.bootstrap_servers)
    assert {(b.host, b.port) for b in meta.brokers} == {me}
    assert [(x.host, x.port) for x in coordinator.coordinators] == [me]
    assert {(b.host, b.port) for b in cluster.brokers} == {me}

    direct = ask(bootstrap_servers)
    for node in [*direct[0].brokers, *direct[1].coordinators, *direct[2].brokers]:
        node.host, node.port = me
    assert (meta, coordinator, cluster) == direct
    assert not proxy.errors
