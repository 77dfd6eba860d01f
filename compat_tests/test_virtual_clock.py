"""A virtual clock (``Cluster(clock="virtual")``) with real clients: broker time moves only when the test
advances it, and deadlines act at once: a consumer's session expires, retention deletes old segments,
LogAppendTime follows the clock, all without real waiting."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.kafkasim_only  # the virtual clock is kafkasim's own control

WAIT_S = 20.0


def poll_until(predicate, what: str, deadline_s: float = WAIT_S):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)  # polling with a deadline, not synchronisation by sleeping
    raise AssertionError(f"timed out waiting for {what}")


def create(bootstrap: str, topic: str, partitions: int = 1, **configs: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the result is in
    fs = admin.create_topics([NewTopic(topic, partitions, 1, config=configs)], operation_timeout=10)
    fs[topic].result(10)


def test_virtual_clock_advancing_past_the_session_timeout_expires_a_consumer(make_cluster) -> None:
    cluster = make_cluster(clock="virtual")
    bootstrap = cluster.bootstrap_servers
    topic = f"t-{uuid.uuid4().hex[:8]}"
    create(bootstrap, topic, 2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    # a consumer that joins, then stops polling (its heartbeats keep going on librdkafka's thread)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "session.timeout.ms": 10000,
                         "heartbeat.interval.ms": 3000, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        poll_until(lambda: consumer.poll(0.1) is None and cluster.describe_group(group) is not None
                   and cluster.describe_group(group).state == "Stable", "the group to be stable")
        member = cluster.describe_group(group).members[0].member_id
        before = cluster.clock.now_ms()
        cluster.clock.advance(seconds=11)  # past session.timeout.ms, before the next heartbeat can arrive
        assert cluster.clock.now_ms() == before + 11_000
        info = cluster.describe_group(group)
        assert member not in [m.member_id for m in info.members]
        assert info.state in ("Empty", "PreparingRebalance")
    finally:
        consumer.close()


def test_virtual_clock_two_hours_later_one_hour_retention_deletes_old_records(make_cluster) -> None:
    cluster = make_cluster(clock="virtual", log_retention_check_interval_ms=3_600_000)
    bootstrap = cluster.bootstrap_servers
    topic = f"t-{uuid.uuid4().hex[:8]}"
    create(bootstrap, topic, 1, **{"retention.ms": "3600000"})
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(5):
        producer.produce(topic, value=b"old-%d" % i, timestamp=cluster.clock.now_ms())
    assert producer.flush(10) == 0
    p = cluster.state.partition(topic, 0)
    assert (p.log.log_start_offset, p.high_watermark) == (0, 5)
    cluster.clock.advance(minutes=59)  # within retention: nothing goes
    assert p.log.log_start_offset == 0
    cluster.clock.advance(hours=1, minutes=1)  # two hours after the records: expired, deleted at once
    assert p.log.log_start_offset == 5
    producer.produce(topic, value=b"new", timestamp=cluster.clock.now_ms())
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])  # before the log start: reset to earliest

        def new_record():
            m = consumer.poll(0.2)
            return m if m is not None and not m.error() else None

        m = poll_until(new_record, "the record produced after retention")
        assert (m.offset(), m.value()) == (5, b"new")
    finally:
        consumer.close()


def test_virtual_clock_log_append_time_is_broker_time(make_cluster) -> None:
    cluster = make_cluster(clock="virtual")
    bootstrap = cluster.bootstrap_servers
    topic = f"t-{uuid.uuid4().hex[:8]}"
    create(bootstrap, topic, 1, **{"message.timestamp.type": "LogAppendTime"})
    now = cluster.clock.advance(hours=24)
    producer = Producer({"bootstrap.servers": bootstrap})
    reports = []
    producer.produce(topic, value=b"x", on_delivery=lambda err, msg: reports.append((err, msg.timestamp())))
    assert producer.flush(10) == 0
    (err, (ts_type, ts)), = reports
    assert err is None and ts == now  # LogAppendTime: the virtual clock, a day ahead of the wall clock


def test_virtual_clock_advance_needs_a_virtual_cluster(cluster) -> None:
    assert not cluster.clock.virtual
    with pytest.raises(RuntimeError, match="virtual"):
        cluster.clock.advance(1000)
