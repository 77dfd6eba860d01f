"""Prometheus metrics on the control port (``GET /metrics``) while real clients run (issue 7): requests by API
and error, bytes in and out, connections, per-partition log-end offsets and leaders, per-group lag, fault
firings, read from a ``kafkasim serve --brokers 2 --control-port 0`` process with confluent-kafka, and parsed
with prometheus_client's own text parser (so the exposition format is checked too).

These tests need kafkasim's control API; with --kafka-bootstrap they are skipped.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from prometheus_client.parser import text_string_to_metric_families

from compat_tests.clients.brokers import BrokerProcess
from compat_tests.clients.pyclients import FAST_RETRIES, WAIT_S, close_confluent_producer, poll_until
from kafkasim.control.client import ControlClient

pytestmark = pytest.mark.kafkasim_only  # kafkasim's /metrics on its control port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[BrokerProcess]:
    broker = BrokerProcess(None, tmp_path / "serve.log", "--brokers", "2", "--control-port", "0",
                           "--num-partitions", "2", "--default-replication-factor", "2")
    broker.start()
    yield broker
    if broker.running:
        broker.terminate()
    broker.close()


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """name -> {sorted label items: value} of every sample."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def value(samples: dict[str, dict[tuple, float]], name: str, **labels: str) -> float:
    want = tuple(sorted({"cluster": "default", **labels}.items()))
    return samples.get(name, {}).get(want, 0.0)


def total(samples: dict[str, dict[tuple, float]], name: str, **labels: str) -> float:
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    return sum(v for k, v in samples.get(name, {}).items() if set(labels.items()) <= set(k))



def test_metrics_count_requests_bytes_offsets_and_lag(served: BrokerProcess) -> None:
    url = served.control_url
    assert url is not None
    before = scrape(url)  # the first scrape turns error counting on
    assert value(before, "kafkasim_broker_running", broker="1") == 1.0
    producer = Producer({"bootstrap.servers": served.bootstrap_servers, "acks": "all", **FAST_RETRIES})
    for i in range(30):
        producer.produce("orders", key=b"k%d" % i, value=b"v" * 100)
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": served.bootstrap_servers, "group.id": "billing",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, **FAST_RETRIES})
    try:
        consumer.subscribe(["orders"])
        got = 0
        deadline = time.monotonic() + WAIT_S
        while got < 30 and time.monotonic() < deadline:
            msg = consumer.poll(0.1)
            if msg is not None and not msg.error():
                got += 1
        assert got == 30
        consumer.commit(asynchronous=False)
        after = scrape(url)
        assert total(after, "kafkasim_requests_total", api="Produce") >= 1
        assert total(after, "kafkasim_requests_total", api="Fetch") >= 1
        assert total(after, "kafkasim_errors_total", api="Produce", error="NONE") >= 2  # per partition
        assert total(after, "kafkasim_bytes_in_total") > 30 * 100
        assert total(after, "kafkasim_bytes_out_total") > 30 * 100
        assert total(after, "kafkasim_connections") >= 2  # the producer and the consumer are connected
        ends = [value(after, "kafkasim_partition_log_end_offset", topic="orders", partition=str(p)) for p in (0, 1)]
        assert sum(ends) == 30
        leaders = {value(after, "kafkasim_partition_leader", topic="orders", partition=str(p)) for p in (0, 1)}
        assert leaders == {1.0, 2.0}
        assert value(after, "kafkasim_group_members", group="billing") == 1
        lags = [value(after, "kafkasim_group_lag", group="billing", topic="orders", partition=str(p)) for p in (0, 1)]
        assert lags == [0.0, 0.0]
    finally:
        consumer.close()
        close_confluent_producer(producer)


def test_metrics_count_injected_errors_and_fault_firings(served: BrokerProcess) -> None:
    url = served.control_url
    assert url is not None
    api = ControlClient(url)
    scrape(url)
    rule = api.post("/clusters/default/faults", {"action": "error", "api": "Produce",
                                                  "error": "NOT_LEADER_OR_FOLLOWER", "count": 1})
    producer = Producer({"bootstrap.servers": served.bootstrap_servers, "acks": "all", **FAST_RETRIES})
    try:
        producer.produce("payments", value=b"x", partition=0)
        assert producer.flush(10) == 0  # retried after the injected error
    finally:
        close_confluent_producer(producer)

    def errors_seen() -> bool:
        s = scrape(url)
        return total(s, "kafkasim_errors_total", api="Produce", error="NOT_LEADER_OR_FOLLOWER") >= 1
    poll_until(errors_seen, "the injected error in kafkasim_errors_total")
    s = scrape(url)
    assert value(s, "kafkasim_fault_fired_total", rule=str(rule["id"]), action="error") == 1
    api.post("/clusters/default/brokers/2/stop", {"controlled": True})
    s = scrape(url)
    assert value(s, "kafkasim_broker_running", broker="2") == 0 and value(s, "kafkasim_broker_fenced", broker="2") == 1
    assert all(value(s, "kafkasim_partition_leader", topic="payments", partition=str(p)) == 1 for p in (0, 1))
