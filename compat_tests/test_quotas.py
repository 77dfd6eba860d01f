"""Client quotas over TCP: DescribeClientQuotas and AlterClientQuotas through kafka-python's own codec (its
KafkaAdminClient has no quota methods, so its request classes are sent on its admin connection), and a
confluent-kafka producer over its producer_byte_rate throttled to the quota, then freed when it is removed.

Against another broker (``--kafka-bootstrap``) the same tests run: entity names are unique per test and the
quotas are removed at the end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.protocol.admin.client_quotas import AlterClientQuotasRequest as Alter
from kafka.protocol.admin.client_quotas import DescribeClientQuotasRequest as Describe

from compat_tests.clients.pyclients import WAIT_S

INVALID_REQUEST = 42
QUOTA = 20_000  # producer_byte_rate, bytes per second
MEASURE_S = 3.0


@pytest.fixture
def admin(bootstrap_servers: str) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="quota-admin")
    yield client
    client.close()


def send(admin: KafkaAdminClient, request: Any) -> Any:
    return admin._manager.run(admin._manager.send, request)


def alter(admin: KafkaAdminClient, entity: dict[str, str | None], ops: dict[str, float | None],
          validate_only: bool = False) -> tuple[int, str | None]:
    req = Alter(entries=[Alter.EntryData(
        entity=[Alter.EntryData.EntityData(entity_type=t, entity_name=n) for t, n in entity.items()],
        ops=[Alter.EntryData.OpData(key=k, value=0.0 if v is None else v, remove=v is None) for k, v in ops.items()])],
        validate_only=validate_only)
    [entry] = send(admin, req).entries
    return entry.error_code, entry.error_message


def describe(admin: KafkaAdminClient, components: list[tuple[str, int, str | None]], strict: bool = False
             ) -> dict[tuple, dict[str, float]]:
    resp = send(admin, Describe(components=[Describe.ComponentData(entity_type=t, match_type=m, match=n)
                                            for t, m, n in components], strict=strict))
    assert resp.error_code == 0, resp
    return {tuple(sorted((e.entity_type, e.entity_name) for e in entry.entity)): {v.key: v.value for v in entry.values}
            for entry in resp.entries}


def test_quotas_alter_and_describe_through_kafka_python(admin: KafkaAdminClient) -> None:
    user, client = f"u-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    try:
        assert alter(admin, {"user": user}, {"producer_byte_rate": 1024, "request_percentage": 50.5}) == (0, None)
        assert alter(admin, {"user": user, "client-id": client}, {"consumer_byte_rate": 2048}) == (0, None)
        assert alter(admin, {"user": user, "client-id": None}, {"consumer_byte_rate": 4096},
                     validate_only=True) == (0, None)
        assert describe(admin, [("user", 0, user)], strict=True) == {
            (("user", user),): {"producer_byte_rate": 1024.0, "request_percentage": 50.5}}
        assert describe(admin, [("user", 0, user)]) == {
            (("user", user),): {"producer_byte_rate": 1024.0, "request_percentage": 50.5},
            (("client-id", client), ("user", user)): {"consumer_byte_rate": 2048.0}}
        assert describe(admin, [("user", 0, user), ("client-id", 1, None)]) == {}  # validate_only kept nothing
        # Kafka's validation, word for word
        assert alter(admin, {"user": user}, {"producer_byte_rate": 1.5}) == (
            INVALID_REQUEST, "producer_byte_rate cannot be a fractional value.")
        assert alter(admin, {"user": user}, {"no_such_quota": 1}) == (
            INVALID_REQUEST, "Invalid configuration key no_such_quota")
        assert alter(admin, {"user": user}, {"producer_byte_rate": 0}) == (
            INVALID_REQUEST, "Quota producer_byte_rate must be greater than 0")
        resp = send(admin, Describe(components=[Describe.ComponentData(entity_type="user", match_type=0, match=None)],
                                    strict=False))
        assert (resp.error_code, resp.error_message) == (
            INVALID_REQUEST, "Request specified MATCH_TYPE_EXACT, but set match string to null.")
        # removing the keys removes the entity
        assert alter(admin, {"user": user}, {"producer_byte_rate": None, "request_percentage": None}) == (0, None)
        assert describe(admin, [("user", 0, user)], strict=True) == {}
    finally:
        alter(admin, {"user": user}, {"producer_byte_rate": None, "request_percentage": None})
        alter(admin, {"user": user, "client-id": client}, {"consumer_byte_rate": None})


class Meter:
    """A producer kept busy with 1 KiB records; counts acknowledged bytes and throttle events."""

    def __init__(self, bootstrap: str, client_id: str, topic: str) -> None:
        self.throttles: list[int] = []
        self.delivered: list[tuple[float, int]] = []
        self.topic = topic
        self.producer = Producer({"bootstrap.servers": bootstrap, "client.id": client_id, "acks": "1",
                                  "linger.ms": 5, "batch.size": 16384, "queue.buffering.max.kbytes": 64,
                                  "throttle_cb": lambda ev: self.throttles.append(ev.throttle_time),
                                  "enable.idempotence": False})
        self.value = b"x" * 1024

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is None:
            self.delivered.append((time.monotonic(), len(msg.value())))

    def run_until(self, done: Any, deadline_s: float) -> None:
        end = time.monotonic() + deadline_s
        while not done() and time.monotonic() < end:
            try:
                self.producer.produce(self.topic, self.value, on_delivery=self._delivered)
            except BufferError:
                self.producer.poll(0.01)
            self.producer.poll(0)

    def rate_over(self, seconds: float) -> float:
        """Acknowledged bytes per second over the next ``seconds`` of producing as fast as the client may."""
        start = time.monotonic()
        self.run_until(lambda: False, seconds)
        self.producer.poll(0)
        got = sum(n for t, n in self.delivered if start <= t)
        return got / (time.monotonic() - start)

    def close(self) -> None:
        self.producer.purge()
        self.producer.flush(WAIT_S)


def test_quotas_producer_over_its_byte_rate_is_throttled_then_freed(admin: KafkaAdminClient, bootstrap_servers: str,
                                                                      topic_name: str) -> None:
    client = f"quota-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic_name, 1, 1)])
    assert alter(admin, {"client-id": client}, {"producer_byte_rate": QUOTA}) == (0, None)
    meter = Meter(bootstrap_servers, client, topic_name)
    try:
        # the first ~10 s worth of the quota goes through at once (Kafka's rate assumes 10 full windows):
        # produce until the broker throttles, then measure
        meter.run_until(lambda: meter.throttles, WAIT_S * 2)
        assert meter.throttles and max(meter.throttles) > 0, "the broker never throttled the producer"
        throttled = meter.rate_over(MEASURE_S)
        # the quota's rate, with room for one in-flight batch per measured second
        assert throttled < 2 * QUOTA + 16384 / MEASURE_S, f"{throttled:.0f} B/s under a {QUOTA} B/s quota"

        assert alter(admin, {"client-id": client}, {"producer_byte_rate": None}) == (0, None)
        meter.run_until(lambda: False, 1.5)  # past the last throttle (a quota of ~1 batch/s: ~1 s)
        free = meter.rate_over(MEASURE_S)
        assert free > 10 * QUOTA, f"{free:.0f} B/s without a quota"
    finally:
        meter.close()
        alter(admin, {"client-id": client}, {"producer_byte_rate": None})


@pytest.mark.kafkasim_only  # the virtual clock is kafkasim's own control
def test_quotas_throttled_connection_is_muted_until_the_virtual_clock_passes(make_cluster, topic_name: str) -> None:
    """KIP-219 on the wire: the throttled Produce is answered at once with its throttle time, and the
    connection reads nothing more until broker time has moved past it."""
    import socket

    from kafkasim.protocol.messages import api_versions as av
    from kafkasim.protocol.messages import produce as pr
    from kafkasim.protocol.records import Record, build_batch
    from kafkasim.state.quotas import AlterOp
    from kafkasim.testing.wire import WireClient

    cluster = make_cluster(clock="virtual")
    cluster.create_topic(topic_name, partitions=1)
    cluster.call(lambda: cluster.state.quotas.alter(
        [([("client-id", "slow")], [AlterOp("producer_byte_rate", 1000, False)])], False))
    batch = build_batch([Record(0, cluster.clock.now_ms(), None, b"x" * 20_000)])
    with WireClient(cluster.bootstrap_servers, client_id="slow") as wire:
        req = pr.ProduceRequest(acks=1, timeout_ms=5000, topic_data=[pr.ProduceRequestTopicProduceData(
            name=topic_name, partition_data=[pr.ProduceRequestPartitionProduceData(index=0, records=batch)])])
        resp = wire.request(0, req)
        assert resp.responses[0].partition_responses[0].error_code == 0
        # ~20,000 B over the 10 s assumed: (2,000 - 1,000) / 1,000 * 10 s, give or take the batch header
        assert 10_000 <= resp.throttle_time_ms <= 11_000
        wire.sock.settimeout(0.5)
        with pytest.raises(socket.timeout):  # muted: the next request is not read
            wire.request(18, av.ApiVersionsRequest())
        cluster.clock.advance(resp.throttle_time_ms - 1)
        with pytest.raises(socket.timeout):
            wire.recv_frame()
        wire.sock.settimeout(WAIT_S)
        cluster.clock.advance(1)
        assert wire.recv_frame()  # the held ApiVersions is answered once the mute is over
