"""KIP-848 consumer groups (group.protocol=consumer) with confluent-kafka over TCP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from compat_tests.clients.pyclients import WAIT_S, require_kafkasim, retry_until


@pytest.fixture
def fast_cluster(request: pytest.FixtureRequest) -> object:
    """kafkasim with a short KIP-848 heartbeat interval, so members learn of rebalances quickly."""
    require_kafkasim(request)  # the tests read the group from kafkasim's state (describe_group, group_offsets)
    return request.getfixturevalue("make_cluster")(group_consumer_heartbeat_interval_ms=200, group_consumer_session_timeout_ms=3000)


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
    info = fast_cluster.describe_group(group)
    assert info.state == "Stable" and info.protocol_type == "consumer"
    owned = [tp for m in info.members for tp in m.assignment]
    assert sorted(owned) == [(topic_name, p) for p in range(6)]


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
    epoch = fast_cluster.describe_group(group).generation
    b.close()

    def a_owns() -> int:
        a.poll(0.05)
        return len(a.assignment())

    retry_until(a_owns, lambda n: n == 4)
    info = fast_cluster.describe_group(group)
    assert len(info.members) == 1 and info.generation > epoch


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
    offsets = fast_cluster.group_offsets(group)
    assert offsets[(topic_name, 0)].committed == 4 and offsets[(topic_name, 0)].lag == 6
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


def test_consumer_protocol_group_described_by_classic_describe_groups(fast_cluster, consumers,
                                                                       topic_name: str) -> None:
    from kafka import KafkaAdminClient

    create_and_fill(fast_cluster.bootstrap_servers, topic_name, 2, 4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    a = consumers(group)
    a.subscribe([topic_name])
    retry_until(lambda: (a.poll(0.05), len(a.assignment()))[1], lambda n: n == 2)
    admin = KafkaAdminClient(bootstrap_servers=fast_cluster.bootstrap_servers)
    try:
        described = admin.describe_groups([group])[group]
    finally:
        admin.close()
    assert (described["group_state"], described["protocol_type"], described["protocol_data"]) == (
        "Stable", "consumer", "uniform")
    [m] = described["members"]
    assert m["member_metadata"]["topics"] == [topic_name]
    assert m["member_assignment"]["assigned_partitions"] == [{"topic": topic_name, "partitions": [0, 1]}]
