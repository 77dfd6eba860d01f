"""The control API over HTTP, against a ``kafkasim serve --control-port 0`` process, with real clients: the
scenarios of test_faults.py and test_virtual_clock.py, driven the way a test in any language would drive
them, from outside the broker's process (issue 7).

- An ``error`` NOT_LEADER_OR_FOLLOWER rule on Produce, added with ``POST /faults``: the producer refreshes
  its metadata and retries; the record is stored once (checked with the records route).
- A ``close_after`` rule (a lost ack): an idempotent producer retries and the record is stored once.
- A ``delay`` beyond the client's timeout: the delivery times out, as against Kafka, and the delayed
  request took effect (``POST /wait/records`` finds it).
- ``--clock virtual``: advancing the clock past session.timeout.ms (``POST /clock/advance``) expires a
  consumer's session, seen through ``POST /wait/group`` and ``GET /groups/{group}``; and retention.ms of
  an hour deletes records when the clock moves two hours.
- kafkajs (node) drives the same API with fetch: compat_tests/clients/node/control_http.js.

Every broker here is a subprocess on ephemeral ports, stopped by its fixture. These tests need kafkasim's
own controls; with --kafka-bootstrap they are skipped.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from kafka import KafkaProducer

from compat_tests.clients import kafkajs
from compat_tests.clients.brokers import BrokerProcess
from compat_tests.clients.pyclients import FAST_RETRIES, WAIT_S, poll_until
from kafkasim.control.client import ControlClient, quote

pytestmark = pytest.mark.kafkasim_only  # kafkasim's control API


class Served:
    """A ``kafkasim serve`` process and its control API (one unnamed cluster: ``/clusters/default``)."""

    def __init__(self, broker: BrokerProcess) -> None:
        self.broker = broker
        assert broker.control_url is not None, "serve printed no control= URL"
        self.api = ControlClient(broker.control_url)
        self.c = "/clusters/default"

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap_servers

    def add_fault(self, **rule: Any) -> dict[str, Any]:
        return self.api.post(self.c + "/faults", rule)

    def fired(self, rule: dict[str, Any]) -> int:
        (listed,) = [r for r in self.api.get(self.c + "/faults")["faults"] if r["id"] == rule["id"]]
        return int(listed["fired"])

    def values(self, topic: str, **query: Any) -> list[str | None]:
        return [r["value"] for r in self.api.get(f"{self.c}/topics/{quote(topic)}/records", **query)["records"]]

    def create_topic(self, name: str, partitions: int = 1, **configs: str) -> None:
        self.api.post(self.c + "/topics", {"name": name, "partitions": partitions, "configs": configs})


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``serve(*args)``: ``kafkasim serve --control-port 0 *args`` in memory; stopped at teardown."""
    started: list[BrokerProcess] = []

    def start(*args: str) -> Served:
        broker = BrokerProcess(None, tmp_path / f"serve{len(started)}.log", "--control-port", "0", *args)
        started.append(broker)
        broker.start()
        return Served(broker)

    yield start
    for broker in started:
        if broker.running:
            broker.terminate()
        broker.close()


def topic_name() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"



def deliver(producer: Producer, topic: str, value: bytes) -> tuple[KafkaError | None, Message]:
    reports: list[tuple[KafkaError | None, Message]] = []
    producer.produce(topic, value=value, partition=0, on_delivery=lambda err, msg: reports.append((err, msg)))
    poll_until(lambda: producer.poll(0.05) is not None and reports, f"the delivery report of {value!r}")
    return reports[0]


def delivered_offset(producer: Producer, topic: str, value: bytes) -> int:
    err, msg = deliver(producer, topic, value)
    assert err is None, f"{value!r} was not delivered: {err}"
    return msg.offset()


# ------------------------------------------------------------------------------------------- faults


def test_control_http_not_leader_on_produce_kafka_python_refreshes_metadata_and_retries(
        serve: Callable[..., Served]) -> None:
    s = serve()
    topic = topic_name()
    s.create_topic(topic)
    producer = KafkaProducer(bootstrap_servers=s.bootstrap, client_id="http-not-leader", linger_ms=0, retries=5,
                             retry_backoff_ms=20, request_timeout_ms=int(WAIT_S * 1000),
                             delivery_timeout_ms=int(WAIT_S * 1000) + 1000)
    try:
        assert producer.send(topic, value=b"warm-up", partition=0).get(timeout=WAIT_S).offset == 0
        not_leader = s.add_fault(action="error", api="Produce", topic=topic, error="NOT_LEADER_OR_FOLLOWER", count=2)
        metadata = s.add_fault(action="throttle", api="Metadata", client_id="http-not-leader", throttle_ms=0)
        assert producer.send(topic, value=b"retried", partition=0).get(timeout=WAIT_S).offset == 1
        assert s.fired(not_leader) == 2, "the producer did not retry through both errors"
        poll_until(lambda: s.fired(metadata), "a Metadata request after NOT_LEADER_OR_FOLLOWER")
    finally:
        producer.close(timeout=5)
    assert s.values(topic) == ["warm-up", "retried"]


def test_control_http_not_leader_on_produce_confluent_is_delivered_once(
        serve: Callable[..., Served], ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    s = serve()
    topic = topic_name()
    s.create_topic(topic)
    producer = ck_producer({"bootstrap.servers": s.bootstrap, "client.id": "http-not-leader-ck", "linger.ms": 0,
                            "message.timeout.ms": int(WAIT_S * 1000), **FAST_RETRIES})
    assert delivered_offset(producer, topic, b"warm-up") == 0
    rule = s.add_fault(action="error", api="Produce", topic=topic, error="NOT_LEADER_OR_FOLLOWER", count=1)
    assert delivered_offset(producer, topic, b"once") == 1
    assert s.fired(rule) == 1
    assert s.values(topic) == ["warm-up", "once"]


def test_control_http_close_after_produce_idempotent_retry_is_stored_once(
        serve: Callable[..., Served], ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    s = serve()
    topic = topic_name()
    s.create_topic(topic)
    producer = ck_producer({"bootstrap.servers": s.bootstrap, "client.id": "http-lost-ack", "enable.idempotence": True,
                            "acks": "all", "linger.ms": 0, "message.timeout.ms": int(WAIT_S * 1000), **FAST_RETRIES})
    assert delivered_offset(producer, topic, b"warm-up") == 0  # the producer has its id
    lost_ack = s.add_fault(action="close_after", api="Produce", topic=topic, count=1)
    connections = s.add_fault(action="throttle", api="ApiVersions", client_id="http-lost-ack", throttle_ms=0)

    assert delivered_offset(producer, topic, b"once") == 1
    assert s.fired(lost_ack) == 1
    assert s.fired(connections) >= 1, "the producer did not reconnect"
    records = s.api.get(f"{s.c}/topics/{topic}/records")["records"]
    assert [r["value"] for r in records] == ["warm-up", "once"]
    assert records[1]["producer_id"] >= 0 and records[1]["sequence"] == 1  # the idempotent batch, stored once


def test_control_http_delay_beyond_the_timeout_times_the_client_out(
        serve: Callable[..., Served], ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    s = serve()
    topic = topic_name()
    s.create_topic(topic)
    slow = ck_producer({"bootstrap.servers": s.bootstrap, "client.id": "http-slow", "linger.ms": 0,
                        "request.timeout.ms": 500, "message.timeout.ms": 1000, **FAST_RETRIES})
    assert delivered_offset(slow, topic, b"warm-up") == 0
    delay = s.add_fault(action="delay", api="Produce", client_id="http-slow", delay_ms=4000)
    started = time.monotonic()
    err, _msg = deliver(slow, topic, b"late")
    assert err is not None and err.code() in (KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT), err
    assert time.monotonic() - started < 3.5, "the client waited for the delayed answer"
    assert s.fired(delay) >= 1
    # As on Kafka, the request that timed out took effect: the record is in the log.
    found = s.api.wait_records(topic=topic, header=None, key=None, timeout=WAIT_S, count=2)
    assert [r["value"] for r in found][:2] == ["warm-up", "late"]


# ------------------------------------------------------------------------------------- virtual clock


def test_control_http_advancing_past_the_session_timeout_expires_a_consumer(serve: Callable[..., Served]) -> None:
    s = serve("--clock", "virtual")
    topic, group = topic_name(), f"g-{uuid.uuid4().hex[:8]}"
    s.create_topic(topic, 2)
    consumer = Consumer({"bootstrap.servers": s.bootstrap, "group.id": group, "session.timeout.ms": 10000,
                         "heartbeat.interval.ms": 3000, "auto.offset.reset": "earliest"})
    stop = threading.Event()

    def keep_polling() -> None:  # the application loop; librdkafka heartbeats on its own thread
        while not stop.is_set():
            consumer.poll(0.05)

    poller = threading.Thread(target=keep_polling)
    try:
        consumer.subscribe([topic])
        poller.start()
        stable = s.api.wait_group(group_id=group, state="Stable", timeout=WAIT_S)
        [member] = stable["members"]
        assert sorted((a["topic"], a["partition"]) for a in member["assignment"]) == [(topic, 0), (topic, 1)]

        before = s.api.get(s.c + "/clock")["now_ms"]
        after = s.api.post(s.c + "/clock/advance", {"seconds": 11})  # past session.timeout.ms
        assert after == {"virtual": True, "now_ms": before + 11_000}
        expired = s.api.get(f"{s.c}/groups/{group}")
        assert member["member_id"] not in [m["member_id"] for m in expired["members"]]
        # librdkafka learns it was removed (UNKNOWN_MEMBER_ID) and joins again, as a new member
        rejoined = s.api.wait_group(group_id=group, state="Stable", timeout=WAIT_S)
        assert [m["member_id"] for m in rejoined["members"]] != [member["member_id"]]
        assert rejoined["generation"] > stable["generation"]
    finally:
        stop.set()
        if poller.is_alive():
            poller.join(10)
        consumer.close()


def test_control_http_two_hours_later_one_hour_retention_deletes_old_records(
        serve: Callable[..., Served], ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    s = serve("--clock", "virtual", "--log-retention-check-interval-ms", "3600000")
    topic = topic_name()
    s.create_topic(topic, 1, **{"retention.ms": "3600000"})
    producer = ck_producer({"bootstrap.servers": s.bootstrap, "linger.ms": 0})
    now = s.api.get(s.c + "/clock")["now_ms"]
    for i in range(5):
        producer.produce(topic, value=b"old-%d" % i, timestamp=now)
    assert producer.flush(10) == 0
    assert s.values(topic) == [f"old-{i}" for i in range(5)]
    s.api.post(s.c + "/clock/advance", {"minutes": 59})  # within retention: nothing goes
    assert len(s.values(topic)) == 5
    s.api.post(s.c + "/clock/advance", {"hours": 1, "minutes": 1})  # two hours after the records
    assert s.values(topic) == []
    now = s.api.get(s.c + "/clock")["now_ms"]
    producer.produce(topic, value=b"new", timestamp=now)
    assert producer.flush(10) == 0
    [record] = s.api.get(f"{s.c}/topics/{topic}/records")["records"]
    assert (record["offset"], record["value"]) == (5, "new")
    consumer = Consumer({"bootstrap.servers": s.bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])  # before the log start: reset to earliest

        def new_record() -> Message | None:
            m = consumer.poll(0.2)
            return m if m is not None and not m.error() else None

        m = poll_until(new_record, "the record produced after retention")
        assert (m.offset(), m.value()) == (5, b"new")
    finally:
        consumer.close()


# ------------------------------------------------------------------------------------- another language


@pytest.mark.kafkajs
def test_control_http_kafkajs_drives_faults_and_records_from_node(serve: Callable[..., Served]) -> None:
    reason = kafkajs.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    s = serve()
    script = kafkajs.NODE_DIR / "control_http.js"
    proc = subprocess.run(["node", str(script), s.bootstrap, s.api.url], capture_output=True, text=True,
                          timeout=120, cwd=kafkajs.NODE_DIR, check=False)
    assert proc.returncode == 0, f"control_http.js failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    topic, trace_id = result["topic"], result["trace_id"]
    # what the node script saw over HTTP is what the broker stored
    traced = s.api.get(f"{s.c}/topics/{topic}/records", header=f"trace-id:{trace_id}")["records"]
    assert [(r["key"], r["value"]) for r in traced] == [("order-1", "hello from kafkajs")]
    assert result["not_leader_fired"] == 1 and result["delay_error"] == "KafkaJSRequestTimeoutError"
    assert s.api.get(s.c + "/faults") == {"faults": []}  # the script cleaned up after itself
