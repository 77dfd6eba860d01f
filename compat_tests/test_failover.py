"""Broker failover with real clients (issue 6): three brokers, replication factor 3, an idempotent acks=all
producer and a consumer group keep running while the broker leading every partition of their topic (and,
by construction, coordinating their group) stops and starts again.

Afterwards every acknowledged record was consumed; the log holds each produced record exactly once, at the
offset its acknowledgement reported (the idempotent producer's retries across the failover were answered
as duplicates, never stored twice); and the clients' own metadata names the leaders the cluster elected.
The same scenario runs with confluent-kafka (librdkafka, which also checks its positions with
OffsetForLeaderEpoch after the leader epoch moves), kafka-python and aiokafka, with a controlled
shutdown, and with librdkafka against a crash, where the dead broker stays in the metadata, still the
leader, until its session times out.

Also: a router between two clusters in one process (consume from a fronting cluster, produce to a consumer
cluster, one consumer-cluster broker stopped midway) loses nothing acknowledged; librdkafka with
client.rack fetches from the replica in its rack (KIP-392); acks=all is refused with NOT_ENOUGH_REPLICAS
when too few replicas are in sync; kafka-python reads the emulated release from ApiVersions.

These tests need kafkasim's own controls; with --kafka-bootstrap they are skipped.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, KafkaError, Producer
from kafka import KafkaConsumer, KafkaProducer

from compat_tests.clients.pyclients import FAST_RETRIES, close_confluent_producer, poll_until
from kafkasim import Cluster

pytestmark = pytest.mark.kafkasim_only  # several kafkasim brokers stopped, crashed and moved by kafkasim's controls

TOPIC = "orders"
PARTITIONS = 3
VICTIM = 1  # the broker that leads every partition of TOPIC and is stopped
PER_PHASE = 150  # acknowledged records to wait for in each phase: before, during and after the outage
DEADLINE_S = 45.0
wait_until = functools.partial(poll_until, timeout_s=DEADLINE_S)  # failovers get a longer deadline



def group_led_by(cluster: Cluster, node_id: int, prefix: str) -> str:
    """A group id whose coordinator is broker ``node_id``, so its failover is part of the scenario."""
    for i in range(10_000):
        gid = f"{prefix}-{i}"
        if cluster.coordinator(gid) == node_id:
            return gid
    raise AssertionError("no group id hashes to that broker")


def three_brokers(make_cluster: Callable[..., Any], **config: Any) -> Cluster:
    """Three brokers; TOPIC with every partition led by VICTIM and replicated on all three."""
    cluster = make_cluster(brokers=3, racks=("a", "b", "c"), **config)
    assignments = {p: [VICTIM] + [n for n in (2, 3, 1) if n != VICTIM][: 2] for p in range(PARTITIONS)}
    cluster.call(lambda: cluster.state.create_topic(TOPIC, assignments=assignments))
    return cluster


@dataclass
class Ledger:
    """What the producer had acknowledged and what the consumers received, thread-safe."""

    acked: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # value -> (partition, offset)
    consumed: list[bytes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, value: bytes, partition: int, offset: int) -> None:
        with self.lock:
            self.acked[value] = (partition, offset)

    def got(self, value: bytes) -> None:
        with self.lock:
            self.consumed.append(value)

    def n_acked(self) -> int:
        with self.lock:
            return len(self.acked)

    def all_consumed(self) -> bool:
        with self.lock:
            return set(self.acked) <= set(self.consumed)

    def missing(self) -> str:
        with self.lock:
            lost = sorted(set(self.acked) - set(self.consumed))
        return f"{len(lost)} acknowledged records not consumed, e.g. {lost[:5]}; errors: {self.errors[:5]}"


def run_outage(cluster: Cluster, ledger: Ledger, controlled: bool = True) -> None:
    """With the clients running: wait for a phase of acknowledgements, stop VICTIM, wait for a phase (the
    clients found the new leaders), start it again, wait for a last phase."""
    def phase(what: str) -> None:
        target = ledger.n_acked() + PER_PHASE
        wait_until(lambda: ledger.n_acked() >= target, what,
                   explain=lambda: f"{ledger.n_acked()} acknowledged; errors: {ledger.errors[:5]}")

    phase("acknowledgements before the outage")
    cluster.stop_broker(VICTIM, controlled=controlled)
    phase("acknowledgements while the leader broker is stopped")
    assert all(cluster.leader(TOPIC, p) != VICTIM for p in range(PARTITIONS))
    cluster.start_broker(VICTIM)
    phase("acknowledgements after the broker is back")


def check_log(cluster: Cluster, ledger: Ledger) -> None:
    """Each produced value once in the log, at the offset its acknowledgement reported; all consumed."""
    wait_until(ledger.all_consumed, "the consumers to receive every acknowledged record", explain=ledger.missing)
    stored = cluster.records(TOPIC)
    values = [r.value for r in stored]
    dupes = {v for v in values if values.count(v) > 1}
    assert not dupes, f"stored twice: {sorted(dupes)[:5]}"
    where = {r.value: (r.partition, r.offset) for r in stored}
    for value, pos in ledger.acked.items():
        assert where.get(value) == pos, f"{value!r} acknowledged at {pos}, stored at {where.get(value)}"
    assert all(r.producer_id >= 0 for r in stored)  # all through the idempotent path


def expected_leaders(cluster: Cluster) -> dict[int, int]:
    return {p: cluster.leader(TOPIC, p) for p in range(PARTITIONS)}


# ------------------------------------------------------------------------------------- confluent-kafka


class ConfluentClients:
    def __init__(self, bootstrap: str, group: str, ledger: Ledger, consumer_config: dict | None = None) -> None:
        self.ledger = ledger
        self.stop_producing = threading.Event()
        self.stop_consuming = threading.Event()
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                                  "linger.ms": 2, **FAST_RETRIES})
        self.consumers = [Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                                    "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
                                    "auto.commit.interval.ms": 200, **FAST_RETRIES, **(consumer_config or {})})
                          for _ in range(2)]
        for c in self.consumers:
            c.subscribe([TOPIC])
        self.threads = [threading.Thread(target=self._produce, daemon=True)] + [
            threading.Thread(target=self._consume, args=(c,), daemon=True) for c in self.consumers]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _produce(self) -> None:
        i = 0

        def delivered(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                self.ledger.errors.append(str(err))
            else:
                self.ledger.ack(msg.value(), msg.partition(), msg.offset())

        while not self.stop_producing.is_set():
            try:
                self.producer.produce(TOPIC, key=b"k%d" % (i % 17), value=b"v%06d" % i, on_delivery=delivered)
                i += 1
            except BufferError:
                pass
            self.producer.poll(0.001)  # serves delivery callbacks; paces the loop
        self.producer.flush(30)

    def _consume(self, consumer: Consumer) -> None:
        while not self.stop_consuming.is_set():
            msg = consumer.poll(0.1)
            if msg is None:
                continue
            if msg.error():
                if not msg.error().retriable() and msg.error().code() != KafkaError._PARTITION_EOF:
                    self.ledger.errors.append(str(msg.error()))
                continue
            self.ledger.got(msg.value())

    def finish_producing(self) -> None:
        """Stop producing and wait until everything produced is acknowledged (or failed)."""
        self.stop_producing.set()
        self.threads[0].join(40)

    def close(self) -> None:
        self.stop_producing.set()
        self.stop_consuming.set()
        for t in self.threads:
            t.join(40)
        for c in self.consumers:
            c.close()
        close_confluent_producer(self.producer)

    def metadata_leaders(self) -> dict[int, int]:
        md = self.producer.list_topics(TOPIC, timeout=5).topics[TOPIC]
        return {p: md.partitions[p].leader for p in md.partitions}


@pytest.fixture
def confluent_clients() -> Iterator[Callable[..., ConfluentClients]]:
    made: list[ConfluentClients] = []

    def make(*args: Any, **kwargs: Any) -> ConfluentClients:
        c = ConfluentClients(*args, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.mark.parametrize("controlled", [True, False], ids=["controlled-shutdown", "crash"])
def test_failover_confluent_kafka(make_cluster: Callable[..., Any], confluent_clients: Callable[..., ConfluentClients],
                                  controlled: bool) -> None:
    cluster = three_brokers(make_cluster, broker_session_timeout_ms=1500)
    group = group_led_by(cluster, VICTIM, "billing")
    ledger = Ledger()
    clients = confluent_clients(cluster.bootstrap_servers, group, ledger)
    clients.start()
    cluster.wait_for_group(group, state="Stable", timeout=DEADLINE_S)
    run_outage(cluster, ledger, controlled)
    clients.finish_producing()
    check_log(cluster, ledger)
    leaders = expected_leaders(cluster)
    assert VICTIM not in leaders.values()
    wait_until(lambda: clients.metadata_leaders() == leaders, "the producer's metadata to name the new leaders",
               explain=lambda: f"client: {clients.metadata_leaders()}, cluster: {leaders}")


# ------------------------------------------------------------------------------------- kafka-python


# kafka-python 3.0.12 leaks the socket of a refused connection (kafka/net/inet.py raises without closing it), and
# it reconnects to the stopped broker: those sockets are collected inside this test, where the leak is known. Its
# error log records are not kept (pytest would keep their tracebacks, and so the sockets, past the test).
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
def test_failover_kafka_python(make_cluster: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="kafka")
    cluster = three_brokers(make_cluster)
    group = group_led_by(cluster, VICTIM, "kp")
    ledger = Ledger()
    stop_producing, stop_consuming = threading.Event(), threading.Event()
    bootstrap = cluster.bootstrap_servers.split(",")
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2,
                             retry_backoff_ms=20, reconnect_backoff_ms=20, reconnect_backoff_max_ms=200,
                             request_timeout_ms=5000, delivery_timeout_ms=60000)
    consumers = [KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                               session_timeout_ms=10000, heartbeat_interval_ms=500, auto_commit_interval_ms=200,
                               retry_backoff_ms=20, reconnect_backoff_ms=20, reconnect_backoff_max_ms=200)
                 for _ in range(2)]
    for c in consumers:
        c.partitions_for_topic(TOPIC)  # metadata first (kafka-python 3.0.12: see compat_tests/clients/groups.py)
        c.subscribe([TOPIC])

    def produce() -> None:
        i = 0
        while not stop_producing.is_set():
            value = b"v%06d" % i
            fut = producer.send(TOPIC, key=b"k%d" % (i % 17), value=value)
            fut.add_callback(lambda md, value=value: ledger.ack(value, md.partition, md.offset))
            fut.add_errback(lambda exc: ledger.errors.append(repr(exc)))
            i += 1
            if i % 20 == 0:
                producer.flush(30)  # bounds what is in flight; the callbacks record the acknowledgements
        producer.flush(30)

    def consume(c: KafkaConsumer) -> None:
        while not stop_consuming.is_set():
            for records in c.poll(timeout_ms=100).values():
                for r in records:
                    ledger.got(r.value)

    threads = [threading.Thread(target=produce, daemon=True)] + [
        threading.Thread(target=consume, args=(c,), daemon=True) for c in consumers]
    for t in threads:
        t.start()
    try:
        cluster.wait_for_group(group, state="Stable", timeout=DEADLINE_S)
        run_outage(cluster, ledger)
        stop_producing.set()
        threads[0].join(40)
        check_log(cluster, ledger)
        leaders = expected_leaders(cluster)

        def client_leaders() -> dict[int, int]:
            producer._sender._metadata.request_update()
            return {p: producer._metadata.leader_for_partition(_tp(p)) for p in range(PARTITIONS)}

        wait_until(lambda: client_leaders() == leaders, "kafka-python's metadata to name the new leaders",
                   explain=lambda: f"client: {client_leaders()}, cluster: {leaders}")
    finally:
        stop_producing.set()
        stop_consuming.set()
        for t in threads:
            t.join(40)
        for c in consumers:
            c.close()
        producer.close(5)
        gc.collect()


def _tp(partition: int):
    from kafka import TopicPartition

    return TopicPartition(TOPIC, partition)


# ------------------------------------------------------------------------------------- aiokafka


def test_failover_aiokafka(make_cluster: Callable[..., Any]) -> None:
    cluster = three_brokers(make_cluster)
    group = group_led_by(cluster, VICTIM, "aio")
    ledger = Ledger()

    async def scenario() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap_servers, acks="all", enable_idempotence=True,
                                    linger_ms=2, retry_backoff_ms=20, request_timeout_ms=5000)
        consumers = [AIOKafkaConsumer(TOPIC, bootstrap_servers=cluster.bootstrap_servers, group_id=group,
                                      auto_offset_reset="earliest", session_timeout_ms=10000,
                                      heartbeat_interval_ms=500, auto_commit_interval_ms=200, retry_backoff_ms=20)
                     for _ in range(2)]
        await producer.start()
        for c in consumers:
            await c.start()
        stop_producing, stop_consuming = asyncio.Event(), asyncio.Event()

        async def produce() -> None:
            i = 0
            pending: set[asyncio.Future] = set()
            while not stop_producing.is_set():
                value = b"v%06d" % i
                fut = await producer.send(TOPIC, key=b"k%d" % (i % 17), value=value)
                fut.add_done_callback(lambda f, value=value: ledger.errors.append(repr(f.exception()))
                                      if f.exception() else ledger.ack(value, f.result().partition, f.result().offset))
                pending.add(fut)
                i += 1
                if len(pending) >= 20:
                    await asyncio.wait(pending)
                    pending.clear()
            if pending:
                await asyncio.wait(pending)

        async def consume(c: AIOKafkaConsumer) -> None:
            while not stop_consuming.is_set():
                for records in (await c.getmany(timeout_ms=100)).values():
                    for r in records:
                        ledger.got(r.value)

        async def in_thread(fn: Callable[[], Any]) -> Any:
            return await asyncio.get_running_loop().run_in_executor(None, fn)

        tasks = [asyncio.create_task(produce())] + [asyncio.create_task(consume(c)) for c in consumers]
        try:
            await cluster.wait_for_group_async(group, state="Stable", timeout=DEADLINE_S)
            await in_thread(lambda: run_outage(cluster, ledger))
            stop_producing.set()
            await tasks[0]
            await in_thread(lambda: check_log(cluster, ledger))
            leaders = expected_leaders(cluster)
            deadline = time.monotonic() + DEADLINE_S
            while True:
                await producer.client.force_metadata_update()
                got = {p: producer.client.cluster.leader_for_partition(_tp_aio(p)) for p in range(PARTITIONS)}
                if got == leaders or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert got == leaders
        finally:
            stop_producing.set()
            stop_consuming.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for c in consumers:
                # aiokafka 0.14 spins forever in stop() when it marked its coordinator dead just before (here: a
                # commit it had queued for the stopped broker): a commit first makes it find the coordinator
                await asyncio.wait_for(c.commit(), DEADLINE_S)
                await c.stop()
            await producer.stop()

    asyncio.run(scenario())


def _tp_aio(partition: int):
    from aiokafka import TopicPartition

    return TopicPartition(TOPIC, partition)


# ------------------------------------------------------------------------------------- two clusters


def test_router_between_two_clusters_survives_a_broker_stop(make_cluster: Callable[..., Any]) -> None:
    """Keystone-style routing: a router consumes the fronting cluster and produces to the consumer cluster;
    a consumer-cluster broker stops midway. Every record the fronting producer had acknowledged reaches the
    consumer cluster, once, in order per key."""
    fronting = make_cluster(brokers=3, default_replication_factor=3, num_partitions=3)
    sink = make_cluster(brokers=3, default_replication_factor=3, num_partitions=3)
    assert fronting.cluster_id != sink.cluster_id
    assert not set(fronting.bootstrap_servers.split(",")) & set(sink.bootstrap_servers.split(","))
    fronting.create_topic("events", 3)
    sink.create_topic("events-sink", 3)
    total = 600
    producer = Producer({"bootstrap.servers": fronting.bootstrap_servers, "acks": "all", "enable.idempotence": True,
                         **FAST_RETRIES})
    acked: list[bytes] = []
    for i in range(total):
        producer.produce("events", key=b"k%d" % (i % 7), value=b"e%05d" % i,
                         on_delivery=lambda err, msg: err is None and acked.append(msg.value()))
    producer.flush(30)
    close_confluent_producer(producer)
    assert len(acked) == total

    stop = threading.Event()
    routed = Ledger()
    consumer = Consumer({"bootstrap.servers": fronting.bootstrap_servers, "group.id": "router",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, **FAST_RETRIES})
    consumer.subscribe(["events"])
    out = Producer({"bootstrap.servers": sink.bootstrap_servers, "acks": "all", "enable.idempotence": True,
                    "linger.ms": 2, **FAST_RETRIES})

    def route() -> None:
        """Commit the fronting offsets only after the sink acknowledged (at-least-once routing)."""
        since_commit = 0
        while not stop.is_set():
            msg = consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            out.produce("events-sink", key=msg.key(), value=msg.value(),
                        on_delivery=lambda err, m: routed.errors.append(str(err)) if err
                        else routed.ack(m.value(), m.partition(), m.offset()))
            out.poll(0)
            since_commit += 1
            if since_commit >= 50:
                out.flush(30)
                consumer.commit(asynchronous=False)
                since_commit = 0
        out.flush(30)

    router = threading.Thread(target=route, daemon=True)
    router.start()
    try:
        wait_until(lambda: routed.n_acked() >= total // 3, "the router to forward a third of the records")
        victim = sink.leader("events-sink", 0)
        sink.stop_broker(victim)
        wait_until(lambda: routed.n_acked() >= total, "the router to forward every record",
                   explain=lambda: f"{routed.n_acked()} forwarded; errors {routed.errors[:3]}")
    finally:
        stop.set()
        router.join(40)
        consumer.close()
        close_confluent_producer(out)
    stored = sink.records("events-sink")
    values = [r.value for r in stored]
    assert sorted(set(values)) == sorted(acked)
    assert len(values) == len(set(values)), "the idempotent router producer stored a record twice"
    for key in {r.key for r in stored}:
        in_sink = [r.value for r in stored if r.key == key]
        assert in_sink == sorted(in_sink), f"records of key {key!r} out of order"


# ------------------------------------------------------------------------------------- KIP-392, min ISR, versions


def test_consumer_fetches_from_the_replica_in_its_rack(make_cluster: Callable[..., Any],
                                                       confluent_clients: Callable[..., ConfluentClients]) -> None:
    cluster = make_cluster(brokers=3, racks=("a", "b", "c"), replica_selector_class="rack-aware")
    cluster.call(lambda: cluster.state.create_topic("near", assignments={0: [1, 2, 3]}))
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, **FAST_RETRIES})
    for i in range(20):
        producer.produce("near", value=b"n%d" % i)
    producer.flush(10)
    close_confluent_producer(producer)
    fetches: list[int] = []
    cluster.faults.add("throttle", api="Fetch", broker=3, throttle_ms=0)  # counts fetches served by broker 3
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "near", "client.rack": "c",
                         "auto.offset.reset": "earliest", "fetch.wait.max.ms": 50, **FAST_RETRIES})
    try:
        consumer.subscribe(["near"])
        got: list[bytes] = []
        deadline = time.monotonic() + DEADLINE_S
        while len(got) < 20 and time.monotonic() < deadline:
            msg = consumer.poll(0.1)
            if msg is not None and not msg.error():
                got.append(msg.value())
        assert got == [b"n%d" % i for i in range(20)]
        fetches = [r.fired for r in cluster.faults.list()]
    finally:
        consumer.close()
    assert fetches[0] > 0, "librdkafka never fetched from broker 3, the replica in its rack"
    assert cluster.leader("near", 0) == 1


def test_acks_all_refused_below_min_insync_replicas(make_cluster: Callable[..., Any]) -> None:
    cluster = make_cluster(brokers=3, min_insync_replicas=2)
    cluster.call(lambda: cluster.state.create_topic("strict", assignments={0: [1, 2, 3]}))
    cluster.stop_broker(2)
    cluster.stop_broker(3)
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers.split(","), acks="all", retries=0,
                             enable_idempotence=False, request_timeout_ms=5000)
    try:
        with pytest.raises(Exception) as err:
            producer.send("strict", b"x").get(timeout=10)
        assert "NotEnoughReplicas" in type(err.value).__name__
        lenient = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers.split(","), acks=1, retries=0,
                                enable_idempotence=False)
        try:
            assert lenient.send("strict", b"y").get(timeout=10).offset == 0
        finally:
            lenient.close(5)
        cluster.start_broker(2)
        assert producer.send("strict", b"z").get(timeout=10).offset == 1
    finally:
        producer.close(5)


@pytest.mark.parametrize("release,expected", [("2.8", (2, 8)), ("3.5", (3, 5)), ("1.1", (1, 1))])
def test_kafka_version_emulation_is_what_clients_detect(make_cluster: Callable[..., Any], release: str,
                                                        expected: tuple[int, int]) -> None:
    cluster = make_cluster(kafka_version=release)
    consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap_servers)
    try:
        assert consumer.config["api_version"][:2] == expected  # kafka-python infers the broker from ApiVersions
        consumer.topics()  # and talks to it with that release's versions
    finally:
        consumer.close()


def test_transactions_survive_their_coordinator_stopping(make_cluster: Callable[..., Any]) -> None:
    """Atomic multi-topic writes (a write-ahead log's) across a failover of the transaction coordinator and of
    the partitions' leader: every committed transaction is read by read_committed consumers, all of it."""
    cluster = three_brokers(make_cluster)
    cluster.call(lambda: cluster.state.create_topic("audit", assignments={0: [VICTIM, 2, 3]}))
    txn_id = next(t for t in (f"wal-{i}" for i in range(1000)) if cluster.coordinator(transactional_id=t) == VICTIM)
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "transactional.id": txn_id,
                         "transaction.timeout.ms": 30000, **FAST_RETRIES})
    committed: list[bytes] = []
    try:
        producer.init_transactions(30)
        for n in range(6):
            if n == 3:
                cluster.stop_broker(VICTIM)  # coordinator and leader of every partition
                assert cluster.coordinator(transactional_id=txn_id) != VICTIM
            producer.begin_transaction()
            batch = [b"t%d-%d" % (n, i) for i in range(5)]
            for v in batch:
                producer.produce(TOPIC, value=v)
                producer.produce("audit", value=v)
            producer.commit_transaction(30)
            committed += batch
    finally:
        close_confluent_producer(producer)
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "wal-reader",
                         "isolation.level": "read_committed", "auto.offset.reset": "earliest", **FAST_RETRIES})
    got: dict[str, list[bytes]] = {TOPIC: [], "audit": []}
    try:
        consumer.subscribe([TOPIC, "audit"])
        deadline = time.monotonic() + DEADLINE_S
        while sum(map(len, got.values())) < 2 * len(committed) and time.monotonic() < deadline:
            msg = consumer.poll(0.1)
            if msg is not None and not msg.error():
                got[msg.topic()].append(msg.value())
    finally:
        consumer.close()
    assert sorted(got[TOPIC]) == sorted(committed) and got["audit"] == committed
