"""Durability of the on-disk store with real clients: a broker killed mid-stream, a clean restart.

The crash test runs the broker as a process (``kafkasim serve --data-dir D --fsync always``), kills it
with SIGKILL while an idempotent confluent-kafka producer (acks=all) is producing, and restarts it on the
same data directory and port. Every record the producer was told is written must then be there exactly
once, in order, at the offset the producer was told; committed group offsets must be intact; and the
log must continue where it stopped. The restart tests run kafkasim in process and stop it cleanly.

These tests need kafkasim itself (a data directory, restarts): they do not run with --kafka-bootstrap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AIOTopicPartition
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions
from kafka.admin import NewTopic as KPNewTopic

from compat_tests.clients.brokers import BrokerProcess, RestartableCluster
from compat_tests.clients.groups import librdkafka_generation
from compat_tests.clients.pyclients import WAIT_S, require_kafkasim

pytestmark = pytest.mark.kafkasim_only  # kafkasim's processes killed and restarted on its data directory

# ----------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def broker_process(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., BrokerProcess]]:
    """``broker_process(*serve_args)``: a :class:`BrokerProcess` on a fresh data directory; killed at teardown."""
    require_kafkasim(request)
    made: list[BrokerProcess] = []

    def factory(*args: str) -> BrokerProcess:
        n = len(made)
        broker = BrokerProcess(tmp_path / f"data{n}", tmp_path / f"broker{n}.log", *args)
        made.append(broker)
        return broker

    yield factory
    for broker in made:
        broker.close()


@pytest.fixture
def restartable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., RestartableCluster]]:
    """``restartable(**config)``: a started :class:`RestartableCluster` on a fresh data directory."""
    require_kafkasim(request)
    made: list[RestartableCluster] = []

    def factory(**config: Any) -> RestartableCluster:
        config.setdefault("data_dir", str(tmp_path / f"data{len(made)}"))
        rc = RestartableCluster(**config)
        made.append(rc)
        rc.start()
        return rc

    yield factory
    for rc in reversed(made):
        rc.stop()


def wait_for(what: str, fn: Callable[[], Any], timeout_s: float = WAIT_S, interval_s: float = 0.05) -> Any:
    """Poll ``fn`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = fn()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


# ------------------------------------------------------------------------------------- confluent-kafka helpers


def ck_consume_all(bootstrap: str, topic: str, partitions: int, expected: dict[int, int],
                   timeout_s: float = WAIT_S) -> dict[int, list[tuple[int, bytes | None, bytes | None]]]:
    """Every record of ``topic`` from offset 0 with a fresh assign-only consumer, as (offset, key, value)
    per partition; stops once each partition reached ``expected[p]`` records, or at the deadline."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "durability-reader", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "enable.partition.eof": False})
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        got: dict[int, list[tuple[int, bytes | None, bytes | None]]] = {p: [] for p in range(partitions)}
        deadline = time.monotonic() + timeout_s
        while any(len(got[p]) < expected.get(p, 0) for p in got) and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.2):
                if msg.error() is not None:
                    raise AssertionError(f"consumer error: {msg.error()}")
                got[msg.partition()].append((msg.offset(), msg.key(), msg.value()))
        return got
    finally:
        consumer.close()


# --------------------------------------------------------------------------------------------- the crash test

KILLS = 3  # kill/restart cycles: each one catches a different mix of appended, in-flight and queued records
RECORDS_BEFORE_KILL = 200  # delivery reports that must arrive (per cycle) before the broker is killed
RECORDS_WHILE_DOWN = 100  # produced (queued) while no broker is running
PARTITIONS = 2
CRASH_GROUP = "durability-crash-group"


def test_crash_sigkill_mid_stream_keeps_every_acknowledged_record_once_in_order(
        broker_process: Callable[..., BrokerProcess], ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    broker = broker_process("--fsync", "always")
    bootstrap = broker.start()
    topic = "crash-topic"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(WAIT_S)
    cluster_id = admin.list_topics(timeout=WAIT_S).cluster_id

    # (error, partition, offset, value) in the order the reports arrive
    reports: list[tuple[KafkaError | None, int, int, bytes]] = []
    producer = ck_producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "batch.num.messages": 20,  # many small batches: several requests are in flight when the broker dies
        "message.timeout.ms": 60000,  # outlive the outages: nothing may fail for want of retries
        "reconnect.backoff.ms": 20,
        "reconnect.backoff.max.ms": 200,
        "retry.backoff.ms": 20,
        "retry.backoff.max.ms": 200,
    })

    def on_delivery(err: KafkaError | None, msg: Any) -> None:
        reports.append((err, msg.partition(), msg.offset(), msg.value()))

    def acked() -> int:
        return sum(1 for r in reports if r[0] is None)

    sent: list[tuple[int, bytes]] = []  # (partition, value) in production order

    def produce(n: int) -> None:
        for _ in range(n):
            i = len(sent)
            value = f"record-{i:06d}".encode()
            partition = i % PARTITIONS
            while True:
                try:
                    producer.produce(topic, value=value, partition=partition, on_delivery=on_delivery)
                    break
                except BufferError:  # local queue full: serve delivery reports, then retry
                    producer.poll(0.05)
            sent.append((partition, value))
            producer.poll(0)

    # Commit group offsets while records flow: they must survive the crashes too.
    produce(RECORDS_BEFORE_KILL // 2)
    wait_for("the first delivery reports", lambda: producer.poll(0.05) >= 0 and acked() >= 20)
    committer = Consumer({"bootstrap.servers": bootstrap, "group.id": CRASH_GROUP, "enable.auto.commit": False})
    try:
        commits = [TopicPartition(topic, 0, 7, metadata="crash-test-0"), TopicPartition(topic, 1, 5)]
        committed = committer.commit(offsets=commits, asynchronous=False)
        assert all(tp.error is None for tp in committed), committed
    finally:
        committer.close()

    unreported_at_kill = []
    for cycle in range(1, KILLS + 1):
        # Keep producing; kill the broker once enough reports arrived, while records are still in flight.
        deadline = time.monotonic() + WAIT_S
        while acked() < cycle * RECORDS_BEFORE_KILL:
            assert time.monotonic() < deadline, f"only {acked()} delivery reports before the deadline"
            produce(10)
            producer.poll(0.001)
        produce(50)  # queued or in flight at the moment of the kill
        broker.kill()
        unreported_at_kill.append(len(sent) - len(reports))
        produce(RECORDS_WHILE_DOWN)  # the producer keeps going while the broker is down
        broker.start()  # same data directory, same port
    produce(RECORDS_WHILE_DOWN)
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} records not delivered after the restart; broker log:\n{broker.log_tail()}"
    assert all(n > 0 for n in unreported_at_kill), unreported_at_kill

    # Every record was acknowledged exactly once, none failed (the idempotent producer retried through the
    # outage) and the reported offsets are contiguous per partition in production order.
    errors = [r for r in reports if r[0] is not None]
    assert not errors, f"{len(errors)} delivery errors, first: {errors[0]}"
    assert len(reports) == len(sent)
    by_partition: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(PARTITIONS)}
    for _err, partition, offset, value in reports:
        by_partition[partition].append((offset, value))
    for p, acks in by_partition.items():
        acks.sort()
        assert [v for _o, v in acks] == [v for q, v in sent if q == p], f"partition {p}: production order lost"
        assert [o for o, _v in acks] == list(range(len(acks))), f"partition {p}: offsets not contiguous"

    # The log holds exactly what was acknowledged, at the acknowledged offsets: no loss, no duplicate.
    expected = {p: len(acks) for p, acks in by_partition.items()}
    stored = ck_consume_all(bootstrap, topic, PARTITIONS, expected)
    for p, acks in by_partition.items():
        assert [(o, v) for o, _k, v in stored[p]] == acks, f"partition {p} differs from what was acknowledged"

    # Committed offsets survived, with their metadata; the log end is where it was.
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": CRASH_GROUP, "enable.auto.commit": False})
    try:
        after = reader.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=WAIT_S)
        assert [(tp.partition, tp.offset, tp.metadata) for tp in after] == [(0, 7, "crash-test-0"), (1, 5, None)]
        marks = [reader.get_watermark_offsets(TopicPartition(topic, p), timeout=WAIT_S) for p in range(PARTITIONS)]
        assert marks == [(0, expected[p]) for p in range(PARTITIONS)]
    finally:
        reader.close()

    # The data directory's cluster id is kept (librdkafka warns when a bootstrap address changes cluster).
    assert AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=WAIT_S).cluster_id == cluster_id

    # Producing continues at the log end.
    producer.produce(topic, value=b"after-the-crash", partition=0, on_delivery=on_delivery)
    assert producer.flush(WAIT_S) == 0
    err, partition, offset, value = reports[-1]
    assert (err, partition, offset, value) == (None, 0, expected[0], b"after-the-crash")
    assert broker.log_tail(1_000_000).count("(unclean shutdown)") >= KILLS  # each restart recovered from a crash


def test_crash_sigterm_restart_is_clean_and_keeps_everything(
        broker_process: Callable[..., BrokerProcess], ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    """A clean stop (SIGTERM) writes the clean-shutdown marker; the restart skips CRC checks but keeps all."""
    broker = broker_process("--fsync", "interval", "--flush-interval-ms", "50")
    bootstrap = broker.start()
    topic = "clean-stop"
    producer = ck_producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                            "linger.ms": 1, "reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 200})
    offsets: list[int] = []
    for i in range(50):
        producer.produce(topic, key=b"k%d" % (i % 5), value=b"v%d" % i,
                         on_delivery=lambda err, msg: offsets.append(-1 if err else msg.offset()))
    assert producer.flush(WAIT_S) == 0
    assert offsets == list(range(50))
    cluster_id = producer.list_topics(timeout=WAIT_S).cluster_id
    assert broker.terminate() == 0
    broker.start()
    stored = ck_consume_all(bootstrap, topic, 1, {0: 50})[0]
    assert [(o, k, v) for o, k, v in stored] == [(i, b"k%d" % (i % 5), b"v%d" % i) for i in range(50)]
    assert producer.flush(WAIT_S) == 0
    producer.produce(topic, value=b"next", on_delivery=lambda err, msg: offsets.append(-1 if err else msg.offset()))
    assert producer.flush(WAIT_S) == 0
    assert offsets[-1] == 50
    assert producer.list_topics(timeout=WAIT_S).cluster_id == cluster_id
    assert "(clean shutdown)" in broker.log_tail(100_000)


# ------------------------------------------------------------------------------------- restart in process

TOPIC_CONFIGS = {"retention.ms": "86400000", "max.message.bytes": "200000", "cleanup.policy": "delete",
                 "segment.ms": "3600000"}


def kp_config(bootstrap: str, **config: Any) -> dict[str, Any]:
    return {"bootstrap_servers": bootstrap, "request_timeout_ms": 10_000, "bootstrap_timeout_ms": int(WAIT_S * 1000),
            **config}


def kp_consume(consumer: KafkaConsumer, count: int, timeout_s: float = WAIT_S) -> list[Any]:
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=200).values():
            records.extend(batch)
    return records


async def aio_produce(bootstrap: str, topic: str, items: list[tuple[int, bytes, bytes]]) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=10_000)
    await producer.start()
    try:
        metas = [await producer.send_and_wait(topic, value, key=key, partition=p) for p, key, value in items]
        return [(m.partition, m.offset) for m in metas]
    finally:
        await producer.stop()


async def aio_consume_all(bootstrap: str, topic: str, partitions: int, total: int) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", request_timeout_ms=10_000)
    await consumer.start()
    try:
        consumer.assign([AIOTopicPartition(topic, p) for p in range(partitions)])
        records: list[Any] = []
        deadline = time.monotonic() + WAIT_S
        while len(records) < total and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


def test_restart_in_process_keeps_records_topics_configs_and_group_offsets(
        restartable: Callable[..., RestartableCluster]) -> None:
    rc = restartable(fsync="never", auto_create_topics=False)
    bootstrap = rc.bootstrap_servers
    topic = "restart-topic"
    group = "restart-group"
    admin = KafkaAdminClient(**kp_config(bootstrap))
    try:
        admin.create_topics([KPNewTopic(topic, 3, 1, topic_configs=TOPIC_CONFIGS)])
        admin.create_partitions({topic: NewPartitions(4)})
        cluster_id = admin.describe_cluster()["cluster_id"]
    finally:
        admin.close()

    # kafka-python writes partitions 0 and 1 (with headers), aiokafka partitions 2 and 3.
    producer = KafkaProducer(**kp_config(bootstrap, acks="all", enable_idempotence=True, max_block_ms=8000))
    try:
        kp_metas = [producer.send(topic, value=b"kp-%d" % i, key=b"k%d" % i, partition=i % 2,
                                  headers=[("h", b"%d" % i)]).get(WAIT_S) for i in range(40)]
    finally:
        producer.close(timeout=5)
    assert [(m.partition, m.offset) for m in kp_metas] == [(i % 2, i // 2) for i in range(40)]
    aio_items = [(2 + i % 2, b"a%d" % i, b"aio-%d" % i) for i in range(30)]
    aio_metas = asyncio.run(aio_produce(bootstrap, topic, aio_items))
    assert aio_metas == [(2 + i % 2, i // 2) for i in range(30)]

    # A consumer group consumes part of the topic and commits; then it leaves.
    consumer = KafkaConsumer(topic, **kp_config(bootstrap, group_id=group, auto_offset_reset="earliest",
                                                enable_auto_commit=False, max_poll_records=5))
    try:
        first = kp_consume(consumer, 5)
        assert len(first) >= 5
        consumer.commit()
        committed_before = {tp.partition: consumer.committed(tp) for tp in consumer.assignment()}
    finally:
        consumer.close(timeout_ms=5000)
    assert sum(committed_before.values()) == len(first)

    bootstrap = rc.restart().bootstrap_servers  # a new ephemeral port: clients bootstrap from scratch

    # Topic, partitions and configs as they were.
    admin = KafkaAdminClient(**kp_config(bootstrap))
    try:
        assert admin.describe_cluster()["cluster_id"] == cluster_id
        described = admin.describe_topics([topic])
        assert len(described[0]["partitions"]) == 4
        entries = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])["topic"][topic]
        values = {name: entry["value"] for name, entry in entries.items()}
        for name, value in TOPIC_CONFIGS.items():
            assert values[name] == value, name
        assert entries["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"  # still an explicit override
    finally:
        admin.close()

    # Every record back, with keys and headers, read by aiokafka.
    records = asyncio.run(aio_consume_all(bootstrap, topic, 4, 70))
    got = sorted((r.partition, r.offset, r.key, r.value, tuple(r.headers)) for r in records)
    want = sorted([(i % 2, i // 2, b"k%d" % i, b"kp-%d" % i, (("h", b"%d" % i),)) for i in range(40)]
                  + [(2 + i % 2, i // 2, b"a%d" % i, b"aio-%d" % i, ()) for i in range(30)])
    assert got == want

    # The group resumes from its committed offsets.
    consumer = KafkaConsumer(topic, **kp_config(bootstrap, group_id=group, auto_offset_reset="earliest",
                                                enable_auto_commit=False))
    try:
        rest = kp_consume(consumer, 70 - len(first))
        assert {tp.partition: consumer.committed(tp) for tp in consumer.assignment()} == committed_before
    finally:
        consumer.close(timeout_ms=5000)
    seen = {(r.partition, r.offset) for r in first} | {(r.partition, r.offset) for r in rest}
    assert len(rest) == 70 - len(first) and len(seen) == 70  # nothing consumed twice, nothing skipped

    # The logs continue at their end.
    producer = KafkaProducer(**kp_config(bootstrap, acks="all", enable_idempotence=False, max_block_ms=8000))
    try:
        meta = producer.send(topic, value=b"after", partition=3).get(WAIT_S)
    finally:
        producer.close(timeout=5)
    assert (meta.partition, meta.offset) == (3, 15)


def test_restart_in_process_topic_deleted_before_restart_stays_deleted(
        restartable: Callable[..., RestartableCluster]) -> None:
    rc = restartable(fsync="always")
    bootstrap = rc.bootstrap_servers
    producer = KafkaProducer(**kp_config(bootstrap, acks="all", enable_idempotence=False, max_block_ms=8000))
    try:
        for name in ("keep", "drop"):
            producer.send(name, value=b"x").get(WAIT_S)
    finally:
        producer.close(timeout=5)
    admin = KafkaAdminClient(**kp_config(bootstrap))
    try:
        admin.delete_topics(["drop"])
    finally:
        admin.close()
    bootstrap = rc.restart().bootstrap_servers
    admin = KafkaAdminClient(**kp_config(bootstrap))
    try:
        assert sorted(admin.list_topics()) == ["keep"]
    finally:
        admin.close()
    # Producing to the name again auto-creates a new, empty topic: the deleted records do not come back.
    producer = KafkaProducer(**kp_config(bootstrap, acks="all", enable_idempotence=False, max_block_ms=8000))
    try:
        assert producer.send("drop", value=b"y").get(WAIT_S).offset == 0
        assert producer.send("keep", value=b"y").get(WAIT_S).offset == 1
    finally:
        producer.close(timeout=5)


def test_crash_group_member_keeps_consuming_after_broker_restart(
        broker_process: Callable[..., BrokerProcess], ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    """A subscribed confluent-kafka group member outlives a broker crash: the restored group accepts its
    heartbeats and commits, and it consumes every record exactly once across the crash."""
    broker = broker_process("--fsync", "always")
    bootstrap = broker.start()
    topic = "crash-group-topic"
    group = "crash-live-group"
    fast = {"reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 200}
    producer = ck_producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                            "linger.ms": 1, **fast})
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "session.timeout.ms": 10000, "heartbeat.interval.ms": 200,
                         **fast})
    try:
        producer.produce(topic, value=b"first")  # auto-creates the topic
        assert producer.flush(WAIT_S) == 0
        consumer.subscribe([topic])
        received: list[tuple[int, bytes]] = []

        def consume_until(n: int) -> None:
            deadline = time.monotonic() + 2 * WAIT_S
            while len(received) < n and time.monotonic() < deadline:
                msg = consumer.poll(0.1)
                if msg is None:
                    continue
                if msg.error() is not None:
                    if msg.error().retriable() or msg.error().code() in (KafkaError._TRANSPORT,
                                                                          KafkaError._ALL_BROKERS_DOWN):
                        continue  # the broker is away for a moment
                    raise AssertionError(f"consumer error: {msg.error()}")
                received.append((msg.offset(), msg.value()))
            assert len(received) >= n, f"consumed {len(received)} of {n}"

        for i in range(1, 10):
            producer.produce(topic, value=b"v%d" % i)
        assert producer.flush(WAIT_S) == 0
        consume_until(10)
        [committed] = consumer.commit(asynchronous=False)
        assert committed.offset == 10
        assignment_before = consumer.assignment()
        generation = librdkafka_generation(consumer)

        broker.kill()
        broker.start()

        for i in range(10, 20):
            producer.produce(topic, value=b"v%d" % i)
        assert producer.flush(2 * WAIT_S) == 0
        consume_until(20)
        assert received == [(0, b"first")] + [(i, b"v%d" % i) for i in range(1, 20)]
        [committed] = consumer.commit(asynchronous=False)
        assert committed.offset == 20 and consumer.assignment() == assignment_before
        # No rebalance: the restored member kept its generation, as after a coordinator failover in Kafka.
        assert librdkafka_generation(consumer) == generation
    finally:
        consumer.close()
