"""Record inspection and wait helpers (``cluster.records``, ``cluster.wait_for_records``,
``cluster.wait_for_group``) while real clients produce and consume over TCP.

These tests need kafkasim's own Python API, so they always run against an in-process kafkasim.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka import Consumer, Producer
from kafka import KafkaProducer

from compat_tests.clients.pyclients import WAIT_S, close_confluent_producer, past_timestamps
from kafkasim.testing import WaitTimeout

pytestmark = pytest.mark.kafkasim_only  # records and group inspection of kafkasim's state, without a client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topic(cluster: Any) -> str:
    name = unique("t")
    cluster.create_topic(name, 2)
    return name


def test_inspection_confluent_idempotent_records_with_trace_headers(cluster: Any, topic: str) -> None:
    trace = uuid.uuid4().hex
    stamps = past_timestamps(3)
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "enable.idempotence": True,
                         "linger.ms": 0})
    try:
        for i in range(3):
            producer.produce(topic, key=b"order-1", value=b"v%d" % i, partition=1, timestamp=stamps[i],
                             headers=[("trace-id", trace.encode()), ("n", str(i).encode())])
        producer.produce(topic, key=b"order-2", value=b"other", partition=0, headers=[("trace-id", b"nope")])
        assert producer.flush(WAIT_S) == 0
        found = cluster.wait_for_records(topic, 3, header=("trace-id", trace), timeout=WAIT_S)
    finally:
        close_confluent_producer(producer)
    assert [(r.partition, r.offset, r.key, r.value, r.timestamp, r.timestamp_type) for r in found] == [
        (1, i, b"order-1", b"v%d" % i, stamps[i], "CreateTime") for i in range(3)]
    assert [r.headers for r in found] == [[("trace-id", trace.encode()), ("n", str(i).encode())] for i in range(3)]
    assert all(r.producer_id >= 0 and r.producer_epoch >= 0 for r in found)
    assert [r.sequence for r in found] == [0, 1, 2]
    assert all(not r.transactional and r.txn_state is None for r in found)
    assert [r.value for r in cluster.records(topic, key="order-2")] == [b"other"]
    assert cluster.records(topic, 1, start=1, end=2)[0].value == b"v1"


def test_inspection_kafka_python_key_filter_and_timeout_message(cluster: Any, topic: str) -> None:
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, linger_ms=0)
    try:
        for i in range(4):
            producer.send(topic, key=b"k%d" % (i % 2), value=b"v%d" % i, partition=0,
                          headers=[("trace-id", b"abc" if i != 1 else b"xyz")])
        producer.flush(WAIT_S)
    finally:
        producer.close(timeout=WAIT_S)
    assert [r.value for r in cluster.wait_for_records(topic, 2, key="k0", timeout=WAIT_S)] == [b"v0", b"v2"]
    assert all(r.producer_id == -1 or r.sequence >= 0 for r in cluster.records(topic))
    with pytest.raises(WaitTimeout) as err:
        cluster.wait_for_records(topic, 5, header=("trace-id", "abc"), timeout=0.2)
    msg = str(err.value)
    assert (f"topic {topic!r} has 3 record(s) matching header trace-id='abc' (wanted 5): "
            f"{topic}-0@0, {topic}-0@2, {topic}-0@3") in msg
    assert f"topic {topic!r} has 4 record(s), the last 4:" in msg
    assert f"{topic}-0@1 key=b'k1' value=b'v1' headers=[trace-id=b'xyz']" in msg


def test_inspection_transactional_states_with_confluent(cluster: Any, topic: str) -> None:
    def txn_producer(tid: str) -> Producer:
        p = Producer({"bootstrap.servers": cluster.bootstrap_servers, "transactional.id": tid, "linger.ms": 0})
        p.init_transactions(WAIT_S)
        return p

    committed, aborted, open_ = (txn_producer(unique(name)) for name in ("commit", "abort", "open"))
    try:
        committed.begin_transaction()
        committed.produce(topic, value=b"c", partition=0)
        committed.commit_transaction(WAIT_S)
        aborted.begin_transaction()
        aborted.produce(topic, value=b"a", partition=0)
        aborted.flush(WAIT_S)
        aborted.abort_transaction(WAIT_S)
        open_.begin_transaction()
        open_.produce(topic, value=b"o", partition=0)
        assert open_.flush(WAIT_S) == 0
        found = cluster.wait_for_records(topic, 3, partition=0, timeout=WAIT_S)
        assert [(r.value, r.transactional, r.txn_state) for r in found] == [
            (b"c", True, "committed"), (b"a", True, "aborted"), (b"o", True, "open")]
        assert [r.offset for r in found] == [0, 2, 4]  # 1 and 3 are the markers, never returned
        assert [r.value for r in cluster.records(topic, 0, isolation="read_committed")] == [b"c"]
        open_.commit_transaction(WAIT_S)
        committed_now = cluster.wait_for_records(topic, 2, partition=0, isolation="read_committed", timeout=WAIT_S)
        assert [(r.value, r.txn_state) for r in committed_now] == [(b"c", "committed"), (b"o", "committed")]
    finally:
        for p in (committed, aborted, open_):
            close_confluent_producer(p)


def test_inspection_wait_for_group_zero_lag_with_a_confluent_consumer(cluster: Any, topic: str) -> None:
    group = unique("g")
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "linger.ms": 0})
    try:
        for i in range(10):
            producer.produce(topic, value=b"%d" % i, partition=i % 2)
        assert producer.flush(WAIT_S) == 0
    finally:
        close_confluent_producer(producer)
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        got = []
        deadline = time.monotonic() + WAIT_S
        while len(got) < 10 and time.monotonic() < deadline:
            m = consumer.poll(0.1)
            if m is not None and m.error() is None:
                got.append(m.value())
        assert sorted(got) == sorted(b"%d" % i for i in range(10))
        info = cluster.wait_for_group(group, state="Stable", timeout=WAIT_S)
        assert [sorted(m.assignment) for m in info.members] == [[(topic, 0), (topic, 1)]]
        # consumed but not committed: the group still lags by everything
        with pytest.raises(WaitTimeout) as err:
            cluster.wait_for_group(group, zero_lag=True, timeout=0.1)
        assert (f"group {group!r} to reach zero lag: group {group!r} is Stable (generation {info.generation}) "
                f"with lag {{({topic!r}, 0): 5, ({topic!r}, 1): 5}}") in str(err.value)
        consumer.commit(asynchronous=False)
        info = cluster.wait_for_group(group, state="Stable", zero_lag=True, timeout=WAIT_S)
        assert info.group_id == group
        assert {tp: o.lag for tp, o in cluster.group_offsets(group).items()} == {(topic, 0): 0, (topic, 1): 0}
    finally:
        consumer.close()
    assert cluster.wait_for_group(group, state="Empty", zero_lag=True, timeout=WAIT_S).members == []


def test_inspection_wait_for_records_async_with_aiokafka(cluster: Any, topic: str) -> None:
    async def main() -> list:
        producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap_servers)
        await producer.start()
        try:
            waiter = asyncio.create_task(cluster.wait_for_records_async(topic, 2, header=("trace-id", "t1"),
                                                                        timeout=WAIT_S))
            for i in range(3):
                await producer.send_and_wait(topic, b"v%d" % i, partition=0,
                                             headers=[("trace-id", b"t1" if i != 1 else b"t2")])
            return await waiter
        finally:
            await producer.stop()

    assert [(r.offset, r.value) for r in asyncio.run(main())] == [(0, b"v0"), (2, b"v2")]
