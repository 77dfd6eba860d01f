"""KIP-848 consumer groups (group.protocol=consumer) with confluent-kafka over TCP.

The group is read back as a client would: ConsumerGroupDescribe over the wire (kafkasim's codec, a single
broker, so it is the coordinator) and the AdminClient, so the tests run against any broker. The reference
broker (compat_tests/reference/kafka.py) has the heartbeat interval and session timeout these tests give
kafkasim; another broker given with --kafka-bootstrap has its own (Kafka's: 5 s), which makes them slower.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from compat_tests.clients.pyclients import WAIT_S, retry_until
from kafkasim.errors import ErrorCode
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import consumer_group_describe as cgd
from kafkasim.testing.wire import WireClient


@dataclass(frozen=True)
class Described:
    state: str  # ConsumerGroupDescribe's names: Empty, Assigning, Reconciling, Stable, Dead
    epoch: int
    members: list[list[tuple[str, int]]]  # each member's current assignment, sorted


@dataclass
class FastBroker:
    bootstrap_servers: str

    def describe(self, group: str) -> Described:
        with WireClient(self.bootstrap_servers, client_id="kip848-test") as c:
            resp = c.request(ApiKey.CONSUMER_GROUP_DESCRIBE, cgd.ConsumerGroupDescribeRequest(group_ids=[group]),
                             version=0)
        [g] = resp.groups
        assert g.error_code == ErrorCode.NO_ERROR, (g.error_code, g.error_message)
        return Described(g.group_state, g.group_epoch, [
            sorted((t.topic_name, p) for t in m.assignment.topic_partitions for p in t.partitions) for m in g.members])

    def committed(self, group: str, topic: str, partition: int) -> int:
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        [tp] = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, partition)])])[group].result(timeout=WAIT_S).topic_partitions
        return int(tp.offset)


@pytest.fixture
def fast_cluster(request: pytest.FixtureRequest) -> FastBroker:
    """The broker under test; a kafkasim gets a short KIP-848 heartbeat interval, so members learn of
    rebalances quickly (the reference broker has the same, see compat_tests/reference/kafka.py)."""
    external = request.config.getoption("--kafka-bootstrap")
    if external:
        return FastBroker(str(external))
    cluster = request.getfixturevalue("make_cluster")(group_consumer_heartbeat_interval_ms=200,
                                                      group_consumer_session_timeout_ms=3000)
    return FastBroker(cluster.bootstrap_servers)


@pytest.fixture
def consumers(fast_cluster) -> Iterator[Callable[..., Consumer]]:
    made: list[Consumer] = []

    def make(group: str, **extra: object) -> Consumer:
        c = Consumer({"bootstrap.servers": fast_cluster.bootstrap_servers, "group.id": group,
                      "group.protocol": "consumer", "auto.offset.reset": "earliest", **extra})
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def create_and_fill(bootstrap: str, topic: str, partitions: int, count: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout=WAIT_S)
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(count):
        p.produce(topic, value=str(i).encode(), partition=i % partitions)
    assert p.flush(WAIT_S) == 0


def poll_all(members: list[Consumer], seen: list[bytes], want: int, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while len(set(seen)) < want and time.monotonic() < deadline:
        for c in members:
            m = c.poll(0.05)
            if m is not None and m.error() is None:
                seen.append(m.value())


def test_consumer_protocol_two_members_share_partitions(fast_cluster, consumers, topic_name: str) -> None:
    create_and_fill(fast_cluster.bootstrap_servers, topic_name, 6, 600)
    group = f"g-{uuid.uuid4().hex[:8]}"
    a = consumers(group)
    a.subscribe([topic_name])
    seen: list[bytes] = []
    poll_all([a], seen, 1)
    b = consumers(group)
    b.subscribe([topic_name])

    def split() -> tuple[set, set]:
        for c in (a, b):
            m = c.poll(0.05)
            if m is not None and m.error() is None:
                seen.append(m.value())  # records returned while rebalancing count too
        return ({tp.partition for tp in a.assignment()}, {tp.partition for tp in b.assignment()})

    pa, pb = retry_until(split, lambda s: len(s[0]) == 3 and len(s[1]) == 3)
    assert pa | pb == set(range(6)) and not pa & pb
    poll_all([a, b], seen, 600)
    assert set(seen) == {str(i).encode() for i in range(600)}
    info = fast_cluster.describe(group)
    assert info.state == "Stable"
    assert sorted(tp for m in info.members for tp in m) == [(topic_name, p) for p in range(6)]


def test_consumer_protocol_member_leaving_hands_over_partitions(fast_cluster, consumers, topic_name: str) -> None:
    create_and_fill(fast_cluster.bootstrap_servers, topic_name, 4, 40)
    group = f"g-{uuid.uuid4().hex[:8]}"
    a, b = consumers(group), consumers(group)
    a.subscribe([topic_name])
    b.subscribe([topic_name])

    def sizes() -> tuple[int, int]:
        for c in (a, b):
            c.poll(0.05)
        return len(a.assignment()), len(b.assignment())

    retry_until(sizes, lambda s: s == (2, 2))
    epoch = fast_cluster.describe(group).epoch
    b.close()

    def a_owns() -> int:
        a.poll(0.05)
        return len(a.assignment())

    retry_until(a_owns, lambda n: n == 4)
    info = fast_cluster.describe(group)
    assert len(info.members) == 1 and info.epoch > epoch


def test_consumer_protocol_commit_and_resume(fast_cluster, consumers, topic_name: str) -> None:
    create_and_fill(fast_cluster.bootstrap_servers, topic_name, 1, 10)
    group = f"g-{uuid.uuid4().hex[:8]}"
    a = consumers(group, **{"enable.auto.commit": False})
    a.subscribe([topic_name])
    got: list[bytes] = []
    deadline = time.monotonic() + WAIT_S
    while len(got) < 4 and time.monotonic() < deadline:
        m = a.poll(0.05)
        if m is not None and m.error() is None:
            got.append(m.value())
            if len(got) == 4:
                a.commit(message=m, asynchronous=False)
    a.close()
    assert fast_cluster.committed(group, topic_name, 0) == 4
    b = consumers(group)
    b.subscribe([topic_name])
    first = None
    deadline = time.monotonic() + WAIT_S
    while first is None and time.monotonic() < deadline:
        m = b.poll(0.05)
        if m is not None and m.error() is None:
            first = m
    assert first is not None and first.offset() == 4 and first.value() == b"4"


def test_consumer_protocol_admin_describe(fast_cluster, consumers, topic_name: str) -> None:
    create_and_fill(fast_cluster.bootstrap_servers, topic_name, 2, 4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    a = consumers(group)
    a.subscribe([topic_name])
    retry_until(lambda: (a.poll(0.05), len(a.assignment()))[1], lambda n: n == 2)
    admin = AdminClient({"bootstrap.servers": fast_cluster.bootstrap_servers})
    desc = admin.describe_consumer_groups([group])[group].result(timeout=WAIT_S)
    assert desc.group_id == group
    assert len(desc.members) == 1
    assert sorted(tp.partition for tp in desc.members[0].assignment.topic_partitions) == [0, 1]
    listed = admin.list_consumer_groups().result(timeout=WAIT_S)
    assert group in {g.group_id for g in listed.valid}


def test_consumer_protocol_regex_subscription(fast_cluster, consumers, topic_name: str) -> None:
    create_and_fill(fast_cluster.bootstrap_servers, topic_name + "-a", 1, 3)
    create_and_fill(fast_cluster.bootstrap_servers, topic_name + "-b", 1, 3)
    create_and_fill(fast_cluster.bootstrap_servers, "other-" + topic_name, 1, 3)
    a = consumers(f"g-{uuid.uuid4().hex[:8]}")
    a.subscribe([f"^{topic_name}-.*"])
    seen: list[bytes] = []
    topics: set[str] = set()
    deadline = time.monotonic() + WAIT_S
    while len(seen) < 6 and time.monotonic() < deadline:
        m = a.poll(0.05)
        if m is not None and m.error() is None:
            seen.append(m.value())
            topics.add(m.topic())
    assert topics == {topic_name + "-a", topic_name + "-b"} and len(seen) == 6


@pytest.mark.parametrize("version", [5, 6])
def test_consumer_protocol_group_is_not_described_by_classic_describe_groups(
        request: pytest.FixtureRequest, fast_cluster, consumers, topic_name: str, version: int) -> None:
    """The classic DescribeGroups does not describe a KIP-848 group. Kafka 4.4.0 answers v0-5 with no error,
    state Dead, no protocol and no members (as for a group that does not exist), and v6 (KIP-1043) with
    GROUP_ID_NOT_FOUND and "Group <id> is not a classic group." (seen against the reference broker)."""
    from kafkasim.protocol.messages import describe_groups as dg

    create_and_fill(fast_cluster.bootstrap_servers, topic_name, 2, 4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    a = consumers(group)
    a.subscribe([topic_name])
    retry_until(lambda: (a.poll(0.05), len(a.assignment()))[1], lambda n: n == 2)
    with WireClient(fast_cluster.bootstrap_servers, client_id="kip848-test") as c:
        resp = c.request(ApiKey.DESCRIBE_GROUPS, dg.DescribeGroupsRequest(groups=[group]), version=version)
    [g] = resp.groups
    want_error = (ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group} is not a classic group.") if version >= 6 else (
        ErrorCode.NO_ERROR, None)
    assert (g.error_code, g.error_message) == want_error
    assert (g.group_id, g.group_state, g.protocol_type, g.protocol_data, g.members) == (group, "Dead", "", "", [])
