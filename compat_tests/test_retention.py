"""Retention, compaction and DeleteRecords with real clients, on the memory and the disk store.

Every test runs once per store (``store`` is ``memory`` or ``disk``); retention and compaction run every
100 ms here (``log.retention.check.interval.ms``, ``log.cleaner.backoff.ms``), so tests poll, with a
deadline, for their effects as a client sees them (ListOffsets, Fetch).

How segments roll matters: a segment is deleted or cleaned only as a whole, and the active (last) segment
is never cleaned. A segment rolls when a batch is appended to it after it is ``segment.ms`` old, so the
topics here use ``segment.ms=1`` and a test that needs a new segment lets a few milliseconds pass before
its next produce (:func:`age_segment`).

Against another broker the tests run once, with ``store`` "kafka": with ``--against kafka`` on a reference
broker with the same maintenance settings (conftest's ``broker_with``: retention checks and the cleaner's
back-off every 100 ms), never restarted; topic names get a random suffix, as the broker is shared.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiokafka.errors as AIOErrors
import kafka.errors as Errors
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AIOTopicPartition
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin import NewTopic as CKNewTopic
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KPTopicPartition
from kafka.admin import NewTopic as KPNewTopic

from compat_tests.clients.brokers import RestartableCluster
from compat_tests.clients.pyclients import WAIT_S, close_confluent_producer, now_ms, require_kafkasim

CHECK_INTERVAL_MS = 100
HOUR_MS = 3_600_000


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``store``: kafkasim's two stores, or "kafka" (once) when another broker is under test."""
    if "store" in metafunc.fixturenames:
        external = metafunc.config.getoption("--kafka-bootstrap")
        metafunc.parametrize("store", ["kafka"] if external else ["memory", "disk"])


@dataclass
class ReferenceBroker:
    """The broker under test when it is not a kafkasim: one that is never restarted."""

    bootstrap_servers: str

    def restart(self) -> ReferenceBroker:
        raise AssertionError("a broker other than kafkasim is not restarted here")


@pytest.fixture
def broker(request: pytest.FixtureRequest, store: str, tmp_path: Path) -> Iterator[RestartableCluster]:
    """A running kafkasim on the ``store`` under test, log maintenance every 100 ms; stopped at teardown."""
    if store == "kafka":
        broker_with = request.getfixturevalue("broker_with")  # skips against a broker it cannot configure
        # Kafka runs its first retention check log.initial.task.delay.ms (30 s) after start; its cleaner
        # sleeps log.cleaner.backoff.ms (15 s) when there is nothing to clean, and needs a dedupe buffer (128
        # MiB by default) that a small heap does not spare.
        yield ReferenceBroker(broker_with(log_retention_check_interval_ms=CHECK_INTERVAL_MS,
                                          log_initial_task_delay_ms=CHECK_INTERVAL_MS,
                                          log_cleaner_backoff_ms=CHECK_INTERVAL_MS,
                                          log_cleaner_dedupe_buffer_size=16 << 20))  # type: ignore[misc]
        return
    config: dict[str, Any] = {"log_retention_check_interval_ms": CHECK_INTERVAL_MS,
                              "log_cleaner_backoff_ms": CHECK_INTERVAL_MS}
    if store == "disk":
        config.update(data_dir=str(tmp_path / "data"), fsync="always")
    rc = RestartableCluster(**config)
    rc.start()
    yield rc
    rc.stop()


def unique(name: str) -> str:
    """A topic name no other test uses, so tests can share a broker."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


class Closer:
    """Closes every client a test made, newest first."""

    def __init__(self) -> None:
        self._closers: list[Callable[[], object]] = []

    def add(self, close: Callable[[], object]) -> None:
        self._closers.append(close)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()


@pytest.fixture
def closer() -> Iterator[Closer]:
    c = Closer()
    yield c
    c.close()


def wait_for(what: str, fn: Callable[[], Any], timeout_s: float = WAIT_S, interval_s: float = 0.05) -> Any:
    """Poll ``fn`` until it returns something truthy; fail with ``what`` (and the last result) at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = fn()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


def age_segment(segment_ms: int = 1) -> None:
    """Let the active segment (rolled at most now) become older than ``segment.ms``, so the next append
    rolls a new one. Elapsed time is the condition here, not a stand-in for an event."""
    until = now_ms() + segment_ms + 1
    while now_ms() <= until:
        time.sleep(0.001)


# ------------------------------------------------------------------------------------------------ clients


def kp_config(bootstrap: str, **config: Any) -> dict[str, Any]:
    return {"bootstrap_servers": bootstrap, "request_timeout_ms": 10_000, "bootstrap_timeout_ms": int(WAIT_S * 1000),
            **config}


def kp_admin(bootstrap: str, closer: Closer) -> KafkaAdminClient:
    admin = KafkaAdminClient(**kp_config(bootstrap))
    closer.add(admin.close)
    return admin


def kp_producer(bootstrap: str, closer: Closer, **config: Any) -> KafkaProducer:
    config.setdefault("enable_idempotence", False)
    producer = KafkaProducer(**kp_config(bootstrap, max_block_ms=int(WAIT_S * 1000), **config))
    closer.add(lambda: producer.close(timeout=5))
    return producer


def kp_consumer(bootstrap: str, closer: Closer, *partitions: KPTopicPartition, **config: Any) -> KafkaConsumer:
    config.setdefault("auto_offset_reset", "earliest")
    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, **kp_config(bootstrap, **config))
    closer.add(lambda: consumer.close(timeout_ms=5000))
    if partitions:
        consumer.assign(list(partitions))
    return consumer


def kp_consume(consumer: KafkaConsumer, count: int, timeout_s: float = WAIT_S) -> list[Any]:
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=100).values():
            records.extend(batch)
    return records


def kp_create(admin: KafkaAdminClient, name: str, partitions: int = 1, **configs: str) -> None:
    admin.create_topics([KPNewTopic(name, partitions, 1, topic_configs=configs)])


def ck_create(bootstrap: str, name: str, partitions: int = 1, **configs: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # referenced until the result: GC destroys it
    admin.create_topics([CKNewTopic(name, partitions, 1, config=configs)])[name].result(WAIT_S)


def ck_consumer(bootstrap: str, closer: Closer, *partitions: TopicPartition, **config: Any) -> Consumer:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "retention-assign-only",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest", **config})
    closer.add(consumer.close)
    if partitions:
        consumer.assign(list(partitions))
    return consumer


def ck_consume(consumer: Consumer, count: int, timeout_s: float = WAIT_S) -> list[Any]:
    """Up to ``count`` messages within the deadline; a consumer error fails the test."""
    messages: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(messages) < count and time.monotonic() < deadline:
        for msg in consumer.consume(count - len(messages), 0.1):
            if msg.error() is not None:
                raise KafkaException(msg.error())
            messages.append(msg)
    return messages


def ck_watermarks(consumer: Consumer, topic: str, partition: int = 0) -> tuple[int, int]:
    """(log start offset, high watermark) by ListOffsets (earliest, latest)."""
    return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=WAIT_S, cached=False)


def ck_produce(producer: Producer, topic: str, items: list[dict[str, Any]]) -> list[int]:
    """Produce and wait; return the offsets (a delivery error fails the test)."""
    reports: list[tuple[Any, Any]] = []
    for item in items:
        producer.produce(topic, on_delivery=lambda err, msg: reports.append((err, msg)), **item)
    assert producer.flush(WAIT_S) == 0
    assert all(err is None for err, _msg in reports), [err for err, _msg in reports]
    return [msg.offset() for _err, msg in reports]


# ------------------------------------------------------------------------------------------------ retention


def test_retention_ms_deletes_expired_segments_and_consumers_reset(broker: RestartableCluster, closer: Closer) -> None:
    bootstrap = broker.bootstrap_servers
    topic = unique("retention-ms")
    ck_create(bootstrap, topic, **{"retention.ms": "600000", "segment.ms": "1"})
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all"})
    closer.add(lambda: close_confluent_producer(producer))
    old = now_ms() - HOUR_MS  # an hour old: past retention.ms (10 min) at the first check
    assert ck_produce(producer, topic, [{"value": b"old-%d" % i, "timestamp": old + i} for i in range(6)]) == list(
        range(6))
    age_segment()
    assert ck_produce(producer, topic, [{"value": b"new-%d" % i} for i in range(4)]) == list(range(6, 10))

    admin_view = ck_consumer(bootstrap, closer)
    wait_for("retention to delete the expired segments (log start 6, high watermark 10)",
             lambda: ck_watermarks(admin_view, topic) == (6, 10))
    # ListOffsets by timestamp finds the first record kept: the expired ones are no longer in the log.
    [found] = admin_view.offsets_for_times([TopicPartition(topic, 0, old)], timeout=WAIT_S)
    assert found.offset == 6

    # A consumer positioned before the log start gets OFFSET_OUT_OF_RANGE and resets to the earliest offset.
    earliest = ck_consumer(bootstrap, closer, TopicPartition(topic, 0, 0), **{"auto.offset.reset": "earliest"})
    got = ck_consume(earliest, 4)
    assert [(m.offset(), m.value()) for m in got] == [(6 + i, b"new-%d" % i) for i in range(4)]

    # With auto.offset.reset=latest it resets to the log end: only records produced after the reset arrive.
    latest = ck_consumer(bootstrap, closer, TopicPartition(topic, 0, 0), **{"auto.offset.reset": "latest"})
    deadline = time.monotonic() + WAIT_S
    seen: list[Any] = []
    markers = 0
    while not seen and time.monotonic() < deadline:  # the reset happens at the first fetch: keep producing
        ck_produce(producer, topic, [{"value": b"after-reset-%d" % markers}])
        markers += 1
        seen = ck_consume(latest, 1, timeout_s=0.3)
    assert seen, "the latest-reset consumer received nothing"
    assert seen[0].offset() >= 10 and seen[0].value().startswith(b"after-reset-")


def test_retention_ms_expires_the_active_segment_too(broker: RestartableCluster, store: str) -> None:
    """When every record is expired the active segment goes too: log start = log end, and producing
    continues there (after a restart too, on the disk store)."""
    topic = unique("retention-all")
    tp = AIOTopicPartition(topic, 0)

    async def consumer_for(bootstrap: str) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                    enable_auto_commit=False, request_timeout_ms=10_000)
        await consumer.start()
        return consumer

    async def expire(bootstrap: str) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
        await producer.start()
        consumer = await consumer_for(bootstrap)
        try:
            old = now_ms() - HOUR_MS
            for i in range(5):
                meta = await producer.send_and_wait(topic, b"old-%d" % i, timestamp_ms=old + i)
                assert meta.offset == i
            deadline = time.monotonic() + WAIT_S
            while (await consumer.beginning_offsets([tp]))[tp] != 5:
                assert time.monotonic() < deadline, "retention did not delete the expired active segment"
                await asyncio.sleep(0.05)  # polling interval
        finally:
            await consumer.stop()
            await producer.stop()

    async def resume(bootstrap: str) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
        await producer.start()
        consumer = await consumer_for(bootstrap)
        try:
            assert await consumer.beginning_offsets([tp]) == {tp: 5}
            assert await consumer.end_offsets([tp]) == {tp: 5}
            consumer.assign([tp])
            consumer.seek(tp, 0)  # out of range: reset to the earliest offset, 5
            meta = await producer.send_and_wait(topic, b"fresh")
            assert meta.offset == 5
            records: list[Any] = []
            deadline = time.monotonic() + WAIT_S
            while not records and time.monotonic() < deadline:
                for batch in (await consumer.getmany(timeout_ms=100)).values():
                    records.extend(batch)
            assert [(r.offset, r.value) for r in records] == [(5, b"fresh")]
        finally:
            await consumer.stop()
            await producer.stop()

    ck_create(broker.bootstrap_servers, topic, **{"retention.ms": "60000"})
    asyncio.run(expire(broker.bootstrap_servers))
    if store == "disk":
        broker.restart()
    asyncio.run(resume(broker.bootstrap_servers))


def test_retention_bytes_keeps_the_newest_segments(broker: RestartableCluster, store: str, closer: Closer) -> None:
    bootstrap = broker.bootstrap_servers
    topic = unique("retention-bytes")
    # One ~1070-byte batch per segment. Kafka deletes the oldest segment while the log without it is still
    # at least retention.bytes: 2500 bytes keeps three segments (3 x 1070 >= 2500 > 2 x 1070).
    kp_create(kp_admin(bootstrap, closer), topic, **{"retention.bytes": "2500", "segment.ms": "1"})
    producer = kp_producer(bootstrap, closer, linger_ms=0)
    for i in range(10):
        assert producer.send(topic, value=bytes([i]) * 1000, key=b"k").get(WAIT_S).offset == i
        age_segment()
    tp = KPTopicPartition(topic, 0)
    consumer = kp_consumer(bootstrap, closer, tp)
    wait_for("retention.bytes to delete the oldest segments", lambda: consumer.beginning_offsets([tp])[tp] == 7)
    assert consumer.end_offsets([tp])[tp] == 10
    if store == "disk":  # the deleted segments' files are gone (Kafka's layout: DIR/TOPIC-PARTITION/BASE.log)
        assert broker.config["data_dir"]
        files = sorted(p.name for p in (Path(broker.config["data_dir"]) / f"{topic}-0").glob("*.log"))
        assert files == [f"{base:020d}.log" for base in (7, 8, 9)]
    consumer.seek(tp, 2)  # deleted: OFFSET_OUT_OF_RANGE, reset to earliest
    got = kp_consume(consumer, 3)
    assert [(r.offset, r.value) for r in got] == [(i, bytes([i]) * 1000) for i in range(7, 10)]

    latest = kp_consumer(bootstrap, closer, tp, auto_offset_reset="latest")
    latest.seek(tp, 1)
    wait_for("the latest-reset consumer to move to the log end",
             lambda: latest.poll(timeout_ms=50) == {} and latest.position(tp) == 10)
    assert producer.send(topic, value=b"next", key=b"k").get(WAIT_S).offset == 10
    assert [(r.offset, r.value) for r in kp_consume(latest, 1)] == [(10, b"next")]


# ------------------------------------------------------------------------------------------------ compaction


def fresh_view(bootstrap: str, topic: str, high_watermark: int) -> list[tuple[int, bytes, Any]]:
    """Everything a new consumer reads from the beginning up to the high watermark, as (offset, key, value)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "retention-assign-only",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    # From offset 0, which compaction never moves the log start past (OFFSET_BEGINNING would make
    # librdkafka wait ~0.5 s on its offset-query timer while it has no leader yet).
    consumer.assign([TopicPartition(topic, 0, 0)])
    try:
        out: list[tuple[int, bytes, Any]] = []
        deadline = time.monotonic() + WAIT_S
        while (not out or out[-1][0] < high_watermark - 1) and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.1):
                if msg.error() is not None:
                    raise KafkaException(msg.error())
                out.append((msg.offset(), msg.key(), msg.value()))
        return out
    finally:
        consumer.close()


def latest_per_key(records: list[tuple[int, bytes, Any]]) -> list[tuple[int, bytes, Any]]:
    """What compaction leaves of ``records`` when all of them are in cleanable segments. (A record in the
    active segment does not supersede anything yet: tests give it a key of its own.)"""
    latest: dict[bytes, tuple[int, bytes, Any]] = {}
    for rec in records:
        latest[rec[1]] = rec
    return sorted(latest.values())


COMPACTED = {"cleanup.policy": "compact", "segment.ms": "1", "min.cleanable.dirty.ratio": "0.01"}


def produce_history(producer: KafkaProducer, topic: str) -> list[tuple[int, bytes, Any]]:
    """Several values per key, two tombstones; then a last record, in a segment of its own (the active one,
    which is never cleaned) so that everything before it can be. Returns (offset, key, value) produced."""
    items: list[tuple[bytes, bytes | None]] = []
    for round_ in range(3):
        items += [(b"k%d" % k, b"v%d-%d" % (k, round_)) for k in range(5)]
    items += [(b"k1", None), (b"k2", b"v2-final"), (b"k3", None)]
    # One batch per record (each send waits), so cleaning removes whole batches, the first one included.
    produced = [(producer.send(topic, key=k, value=v).get(WAIT_S).offset, k, v) for k, v in items]
    age_segment()
    produced.append((producer.send(topic, key=b"end", value=b"roll").get(WAIT_S).offset, b"end", b"roll"))
    assert [o for o, _k, _v in produced] == list(range(len(produced)))
    return produced


def test_compaction_keeps_latest_value_per_key_and_tombstones_within_delete_retention(
        broker: RestartableCluster, store: str, closer: Closer) -> None:
    bootstrap = broker.bootstrap_servers
    topic = unique("compacted")
    kp_create(kp_admin(bootstrap, closer), topic, **COMPACTED)  # delete.retention.ms: Kafka's default, a day
    producer = kp_producer(bootstrap, closer, linger_ms=0)
    produced = produce_history(producer, topic)
    expected = latest_per_key(produced)
    assert {k: v for _o, k, v in expected}[b"k1"] is None  # a tombstone is the latest "value" of k1
    hw = len(produced)
    wait_for("compaction", lambda: fresh_view(bootstrap, topic, hw) == expected)

    # Offsets are kept: the high watermark and the log start offset do not move, reads between records work.
    tp = KPTopicPartition(topic, 0)
    consumer = kp_consumer(bootstrap, closer, tp)
    assert consumer.beginning_offsets([tp])[tp] == 0 and consumer.end_offsets([tp])[tp] == hw
    consumer.seek(tp, 3)  # compacted away: the next record kept is served, no OFFSET_OUT_OF_RANGE
    got = kp_consume(consumer, len([r for r in expected if r[0] >= 3]))
    assert [(r.offset, r.key, r.value) for r in got] == [r for r in expected if r[0] >= 3]

    # More data and another cleaning: the tombstones stay while delete.retention.ms has not passed.
    age_segment()
    more = [(producer.send(topic, key=b"k0", value=b"v0-again").get(WAIT_S).offset, b"k0", b"v0-again")]
    age_segment()
    more.append((producer.send(topic, key=b"end-2", value=b"roll").get(WAIT_S).offset, b"end-2", b"roll"))
    expected = latest_per_key(produced + more)
    wait_for("the second cleaning", lambda: fresh_view(bootstrap, topic, hw + 2) == expected)
    assert [k for _o, k, v in expected if v is None] == [b"k1", b"k3"]

    if store == "disk":  # the cleaned log is what a restart recovers
        closer.close()  # clients of the stopped broker would keep reconnecting to its port
        bootstrap = broker.restart().bootstrap_servers
        assert fresh_view(bootstrap, topic, hw + 2) == expected
        consumer = kp_consumer(bootstrap, closer, tp)
        assert consumer.beginning_offsets([tp])[tp] == 0


def test_compaction_removes_tombstones_after_delete_retention_ms(broker: RestartableCluster, closer: Closer) -> None:
    bootstrap = broker.bootstrap_servers
    topic = unique("compacted-tombstones")
    kp_create(kp_admin(bootstrap, closer), topic, **COMPACTED, **{"delete.retention.ms": "100"})
    producer = kp_producer(bootstrap, closer, linger_ms=0)
    produced = produce_history(producer, topic)
    # A tombstone is removed by the first cleaning after its delete horizon (set when a cleaning first kept
    # it, plus delete.retention.ms); a cleaning needs new data, so keep appending (each append rolls).
    fillers: list[tuple[int, bytes, Any]] = []

    def tombstones_gone() -> bool:
        age_segment()
        offset = producer.send(topic, key=b"filler", value=b"f%d" % len(fillers)).get(WAIT_S).offset
        fillers.append((offset, b"filler", b"f%d" % (len(fillers))))
        view = fresh_view(bootstrap, topic, offset + 1)
        return all(v is not None for _o, _k, v in view) and view[-1][0] == offset

    wait_for("the tombstones to be removed", tombstones_gone, interval_s=0.1)
    view = fresh_view(bootstrap, topic, fillers[-1][0] + 1)
    live = [r for r in latest_per_key(produced + fillers) if r[2] is not None]
    # Records of other keys are kept; of the fillers, the latest (and any not cleaned yet) remain.
    assert [r for r in view if r[1] != b"filler"] == [r for r in live if r[1] != b"filler"]
    assert view[-1] == fillers[-1]
    assert {k for _o, k, _v in view} == {b"k0", b"k2", b"k4", b"end", b"filler"}


def test_compacted_topic_rejects_records_without_key(broker: RestartableCluster, closer: Closer) -> None:
    """INVALID_RECORD (87) for a keyless record, as each client surfaces it; nothing is appended."""
    bootstrap = broker.bootstrap_servers
    topic = unique("compacted-keys")
    kp_create(kp_admin(bootstrap, closer), topic, **COMPACTED)

    producer = kp_producer(bootstrap, closer, linger_ms=0, retries=0)
    with pytest.raises(Errors.InvalidRecordError):
        producer.send(topic, value=b"no key").get(WAIT_S)
    assert producer.send(topic, key=b"k", value=b"keyed").get(WAIT_S).offset == 0

    ck = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    closer.add(lambda: close_confluent_producer(ck))
    reports: list[tuple[Any, Any]] = []
    ck.produce(topic, value=b"no key", on_delivery=lambda err, msg: reports.append((err, msg)))
    assert ck.flush(WAIT_S) == 0
    [(err, _msg)] = reports
    assert err is not None and err.code() == KafkaError.INVALID_RECORD

    async def aio() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
        await producer.start()
        try:
            # aiokafka 0.14 knows no error 87: it raises a bare UnknownError (the code is not kept).
            with pytest.raises(AIOErrors.UnknownError):
                await producer.send_and_wait(topic, b"no key")
            meta = await producer.send_and_wait(topic, b"keyed", key=b"k")
            assert meta.offset == 1  # the rejected batches took no offsets
        finally:
            await producer.stop()

    asyncio.run(aio())


# ------------------------------------------------------------------------------------------------ DeleteRecords


def test_delete_records_moves_log_start_offset_for_consumers(broker: RestartableCluster, store: str,
                                                             closer: Closer) -> None:
    bootstrap = broker.bootstrap_servers
    topic = unique("delete-records")
    admin = kp_admin(bootstrap, closer)
    kp_create(admin, topic, partitions=3)
    producer = kp_producer(bootstrap, closer, linger_ms=0)
    for p in range(3):
        for i in range(10):
            producer.send(topic, value=b"p%d-%d" % (p, i), partition=p)
    producer.flush(WAIT_S)
    tps = [KPTopicPartition(topic, p) for p in range(3)]

    # kafka-python: the result carries the new low watermark.
    result = admin.delete_records({tps[0]: 4})
    assert result[tps[0]]["low_watermark"] == 4 and result[tps[0]]["error_code"] == 0
    # confluent-kafka: an offset, and OFFSET_END (-1) for "up to the high watermark".
    ck_admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = ck_admin.delete_records([TopicPartition(topic, 1, 6), TopicPartition(topic, 2, OFFSET_END)])
    lows = {tp.partition: f.result(WAIT_S).low_watermark for tp, f in futures.items()}
    assert lows == {1: 6, 2: 10}
    # Moving it backwards changes nothing (the answer is the current low watermark).
    assert admin.delete_records({tps[0]: 2})[tps[0]]["low_watermark"] == 4

    # Beyond the high watermark: OFFSET_OUT_OF_RANGE, as each client reports it.
    with pytest.raises(Errors.OffsetOutOfRangeError):
        admin.delete_records({tps[0]: 11})
    [future] = ck_admin.delete_records([TopicPartition(topic, 1, 100)]).values()
    with pytest.raises(KafkaException) as info:
        future.result(WAIT_S)
    assert info.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE

    def check(bootstrap: str) -> None:
        consumer = kp_consumer(bootstrap, closer, *tps)
        assert consumer.beginning_offsets(tps) == {tps[0]: 4, tps[1]: 6, tps[2]: 10}
        assert consumer.end_offsets(tps) == {tp: 10 for tp in tps}
        consumer.seek(tps[0], 1)  # before the log start: OFFSET_OUT_OF_RANGE, reset to earliest
        got = kp_consume(consumer, 10)
        assert sorted((r.partition, r.offset, r.value) for r in got) == (
            [(0, i, b"p0-%d" % i) for i in range(4, 10)] + [(1, i, b"p1-%d" % i) for i in range(6, 10)])
        ck = ck_consumer(bootstrap, closer, TopicPartition(topic, 0, OFFSET_BEGINNING))
        assert [m.offset() for m in ck_consume(ck, 6)] == list(range(4, 10))

    check(bootstrap)
    if store == "disk":  # the log start offsets survive a restart
        closer.close()  # clients of the stopped broker would keep reconnecting to its port
        bootstrap = broker.restart().bootstrap_servers
        check(bootstrap)
    producer = kp_producer(bootstrap, closer, linger_ms=0)
    assert producer.send(topic, value=b"next", partition=2).get(WAIT_S).offset == 10


def test_delete_records_on_compacted_topic_is_a_policy_violation(broker: RestartableCluster, closer: Closer) -> None:
    bootstrap = broker.bootstrap_servers
    topic = unique("delete-records-compacted")
    admin = kp_admin(bootstrap, closer)
    kp_create(admin, topic, **{"cleanup.policy": "compact"})
    kp_producer(bootstrap, closer).send(topic, key=b"k", value=b"v").get(WAIT_S)
    with pytest.raises(Errors.PolicyViolationError):
        admin.delete_records({KPTopicPartition(topic, 0): 1})


@pytest.mark.kafkasim_only
def test_compaction_runs_on_the_cleaners_schedule_not_retentions(request: pytest.FixtureRequest,
                                                                  closer: Closer) -> None:
    """log.cleaner.backoff.ms, not log.retention.check.interval.ms, decides when compaction runs (issue 14
    item 8): with retention checked hourly and the cleaner every 100 ms, a compacted topic is cleaned at once."""
    require_kafkasim(request)
    rc = RestartableCluster(log_retention_check_interval_ms=3_600_000, log_cleaner_backoff_ms=CHECK_INTERVAL_MS)
    rc.start()
    try:
        bootstrap = rc.bootstrap_servers
        topic = unique("cleaner-schedule")
        kp_create(kp_admin(bootstrap, closer), topic, **COMPACTED)
        produced = produce_history(kp_producer(bootstrap, closer, linger_ms=0), topic)
        wait_for("compaction", lambda: fresh_view(bootstrap, topic, len(produced)) == latest_per_key(produced))
    finally:
        closer.close()
        rc.stop()
