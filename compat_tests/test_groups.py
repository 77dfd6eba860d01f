"""Consumer groups (the classic protocol) with real clients: kafka-python, aiokafka, confluent-kafka.

Members subscribe (not assign) and each runs on its own polling thread (``compat_tests/clients/groups.py``),
so rebalances proceed while the test watches. What a test checks comes from the clients themselves (their
assignments, rebalance callbacks, consumed records, admin APIs), which works against any broker; with
kafkasim a test also checks the coordinator's own view (``cluster.describe_group``/``group_offsets``).

kafkasim runs here with ``group.min.session.timeout.ms`` lowered to 500 so the expiry tests take ~1.5 s;
against another broker (``--kafka-bootstrap``) they use Kafka's minimum, 6 s. Tests of broker settings
(initial rebalance delay, group.max.size) get a broker with them (``make_groups``: a kafkasim, or with
``--against kafka`` a reference broker); the test of which member leads needs kafkasim's view.
Assignors: librdkafka and kafka-python share "range" and "roundrobin"; the two-library groups use those
(aiokafka defaults to roundrobin only, so it is told to use range where it joins a librdkafka group).
Crashes and pauses are real: a member in a child process gets SIGKILL or SIGSTOP.

Client quirks the helpers work around (not broker behaviour): confluent-kafka commits offset metadata
with a trailing NUL; kafka-python 3.0.12 can lose a metadata-triggered rejoin of the leader (see
``KafkaPythonMember``); librdkafka's ``consumer_group_metadata()`` raises while the consumer closes.
"""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kafka.errors as KErrors
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as AioTopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor as AioRangeAssignor
from aiokafka.errors import InconsistentGroupProtocolError
from confluent_kafka import (
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    ConsumerGroupType,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KTopicPartition
from kafka.admin import KafkaAdminClient, MemberToRemove
from kafka.admin import NewTopic as KNewTopic
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.structs import OffsetAndMetadata

from compat_tests.clients.groups import (
    HEARTBEAT_MS,
    TP,
    ConfluentMember,
    Consumed,
    KafkaPythonMember,
    Member,
    ProcessMember,
    wait_for_split,
)
from compat_tests.clients.pyclients import WAIT_S, retry_until

# Kafka's group.min.session.timeout.ms: the shortest session another broker is known to accept.
KAFKA_MIN_SESSION_MS = 6000
# Forming a group: kafkasim takes milliseconds; a real Kafka delays a new group's first rebalance by
# group.initial.rebalance.delay.ms (3 s by default); Tansu 0.6 takes ~6 s.
JOIN_S = 15.0

Record = tuple[str, int, int]  # (topic, partition, offset)


@dataclass
class Broker:
    bootstrap_servers: str
    cluster: Any | None  # the kafkasim Cluster; None against --kafka-bootstrap
    short_session_ms: int  # a session timeout the broker accepts that makes expiry quick


@pytest.fixture
def broker(request: pytest.FixtureRequest) -> Broker:
    external = request.config.getoption("--kafka-bootstrap")
    if external:
        return Broker(str(external), None, KAFKA_MIN_SESSION_MS)
    cluster = request.getfixturevalue("make_cluster")(group_min_session_timeout_ms=500)
    return Broker(cluster.bootstrap_servers, cluster, 1500)


class Groups:
    """A test's topic, group id and clients; closes every member and client at teardown."""

    def __init__(self, broker: Broker, topic: str, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.broker = broker
        self.bootstrap_servers = broker.bootstrap_servers
        self.cluster = broker.cluster
        self.topic = topic
        self.group_id = f"g-{uuid.uuid4().hex[:12]}"
        self.partitions: set[TP] = set()
        self.members: list[Member | ProcessMember] = []
        self._admin: AdminClient | None = None
        self._producer: Producer | None = None
        self._closers: list[Callable[[], object]] = []

    # -- clients --

    def confluent(self, name: str, group_id: str | None = None, **config: Any) -> ConfluentMember:
        member = ConfluentMember(name, self.bootstrap_servers, group_id or self.group_id, [self.topic], **config)
        self.members.append(member)
        return member.start()

    def kafka_python(self, name: str, group_id: str | None = None, **config: Any) -> KafkaPythonMember:
        member = KafkaPythonMember(name, self.bootstrap_servers, group_id or self.group_id, [self.topic], **config)
        self.members.append(member)
        return member.start()

    def process_member(self, name: str, **config: Any) -> ProcessMember:
        """A confluent-kafka member in a child process (to SIGKILL or SIGSTOP); ``config``: librdkafka's."""
        stderr_path = self.tmp_path / f"{name}.stderr"
        member = ProcessMember(name, self.bootstrap_servers, self.group_id, self.topic, stderr_path, **config)
        self.members.append(member)
        return member

    def admin(self) -> AdminClient:
        # AdminClient has no close(); keep it referenced until teardown (its futures fail when collected).
        if self._admin is None:
            self._admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        return self._admin

    def kafka_python_admin(self) -> KafkaAdminClient:
        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            bootstrap_timeout_ms=int(WAIT_S * 1000),
            request_timeout_ms=10_000,
        )
        self._closers.append(admin.close)
        return admin

    # -- topic and records --

    def create_topic(self, partitions: int) -> set[TP]:
        admin = self.admin()
        [future] = admin.create_topics([NewTopic(self.topic, num_partitions=partitions)]).values()
        future.result(timeout=WAIT_S)
        retry_until(
            lambda: admin.list_topics(self.topic, timeout=WAIT_S).topics.get(self.topic),
            lambda t: t is not None and t.error is None and len(t.partitions) == partitions,
        )
        self.partitions = {(self.topic, p) for p in range(partitions)}
        return self.partitions

    def produce(self, per_partition: int, tag: str = "r") -> set[Record]:
        """``per_partition`` records to every partition; returns them as (topic, partition, offset)."""
        return self.produce_to({p: per_partition for _, p in self.partitions}, tag)

    def produce_to(self, counts: dict[int, int], tag: str = "r") -> set[Record]:
        if self._producer is None:
            self._producer = Producer({"bootstrap.servers": self.bootstrap_servers, "linger.ms": 5})
        reports: list[tuple[KafkaError | None, Any]] = []
        for partition, count in counts.items():
            for i in range(count):
                self._producer.produce(
                    self.topic,
                    value=f"{tag}-p{partition}-{i}".encode(),
                    partition=partition,
                    on_delivery=lambda err, msg: reports.append((err, msg)),
                )
        assert self._producer.flush(WAIT_S) == 0, "records not delivered in time"
        assert [err for err, _ in reports] == [None] * len(reports)
        return {(m.topic(), m.partition(), m.offset()) for _, m in reports}

    # -- teardown --

    def close(self) -> None:
        errors: list[BaseException] = []
        for member in reversed(self.members):
            try:
                member.close()
            except BaseException as exc:  # noqa: BLE001 - close the rest, then report
                errors.append(exc)
        for close in reversed(self._closers):
            try:
                close()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
        if self._producer is not None:
            self._producer.flush(WAIT_S)
        self._admin = None
        if errors:
            raise errors[0]


@pytest.fixture
def groups(broker: Broker, topic_name: str, tmp_path: Path) -> Iterator[Groups]:
    made = Groups(broker, topic_name, tmp_path)
    yield made
    made.close()


@pytest.fixture
def make_groups(request: pytest.FixtureRequest, topic_name: str, tmp_path: Path) -> Iterator[Callable[..., Groups]]:
    """``make_groups(**cluster_config)``: a Groups on a broker started with that config: a kafkasim (its
    ``cluster`` set), or with --against kafka a reference broker with the same settings (conftest's
    ``broker_with``; ``cluster`` None). Skipped against another --kafka-bootstrap broker."""
    external = request.config.getoption("--kafka-bootstrap")
    broker_with = request.getfixturevalue("broker_with") if external else None
    made: list[Groups] = []

    def factory(**config: Any) -> Groups:
        config.setdefault("group_min_session_timeout_ms", 500)
        if broker_with is not None:
            broker = Broker(broker_with(**config), None, 1500)
        else:
            cluster = request.getfixturevalue("make_cluster")(**config)
            broker = Broker(cluster.bootstrap_servers, cluster, 1500)
        made.append(Groups(broker, topic_name, tmp_path))
        return made[-1]

    yield factory
    for groups_ in reversed(made):
        groups_.close()


# --- helpers ---------------------------------------------------------------------------------------


def records_of(consumed: list[Consumed]) -> list[Record]:
    return [(c.topic, c.partition, c.offset) for c in consumed]


def all_consumed(members: list[Member]) -> list[Consumed]:
    return [c for m in members for c in m.consumed]


def wait_consumed(members: list[Member], expected: set[Record], timeout_s: float = WAIT_S) -> list[Consumed]:
    """Wait until the members together consumed every record of ``expected``; return all they consumed."""

    def seen() -> list[Consumed]:
        for m in members:
            m.check()
        return all_consumed(members)

    got = retry_until(seen, lambda got: expected <= set(records_of(got)), timeout_s)
    missing = expected - set(records_of(got))
    assert not missing, f"{len(missing)} of {len(expected)} records not consumed in {timeout_s}s: {sorted(missing)[:5]}"
    return got


def assert_each_once(consumed: list[Consumed], expected: set[Record]) -> None:
    counts = Counter(records_of(consumed))
    assert {r for r, n in counts.items() if n > 1} == set(), "records consumed more than once"
    assert set(counts) == expected


def assert_split(shares: dict[str, frozenset[TP]], partitions: set[TP], note: Callable[[], str] = str) -> None:
    """Every member holds something, no partition is held twice, every partition is held."""
    held = [tp for share in shares.values() for tp in share]
    assert all(shares.values()), f"a member holds nothing: {shares} {note()}"
    assert sorted(held) == sorted(partitions), f"partitions not split exactly once: {shares} {note()}"


def kafkasim_shares(cluster: Any, group_id: str) -> tuple[Any, dict[str, set[TP]]]:
    """kafkasim's view of the group: (description, {client id: assignment})."""
    described = cluster.describe_group(group_id)
    return described, {m.client_id: {tuple(tp) for tp in m.assignment} for m in described.members}


def commit(member: Member) -> None:
    """Synchronously commit the member's consumed positions (on its own thread)."""
    if isinstance(member, ConfluentMember):
        member.call(lambda c: c.commit(asynchronous=False))
    else:
        member.call(lambda c: c.commit())


def commit_offsets(member: Member, offsets: dict[TP, tuple[int, str]]) -> None:
    """Synchronously commit explicit {(topic, partition): (offset, metadata)}."""
    if isinstance(member, ConfluentMember):
        tps = [TopicPartition(t, p, off, *([meta] if meta else [])) for (t, p), (off, meta) in offsets.items()]
        member.call(lambda c: c.commit(offsets=tps, asynchronous=False))
    else:
        kafka_offsets = {
            KTopicPartition(t, p): OffsetAndMetadata(off, meta, -1) for (t, p), (off, meta) in offsets.items()
        }
        member.call(lambda c: c.commit(kafka_offsets))


def committed(member: Member, partitions: set[TP]) -> dict[TP, tuple[int, str]]:
    """The member's committed (offset, metadata) per partition, fetched by the member's client.

    confluent-kafka (2.16) commits metadata with its C string's terminating NUL (``strlen + 1`` bytes), which
    other clients read back; the NUL is the client's, not the broker's, so it is dropped here.
    """
    if isinstance(member, ConfluentMember):
        got = member.call(lambda c: c.committed([TopicPartition(t, p) for t, p in sorted(partitions)], timeout=WAIT_S))
        return {(tp.topic, tp.partition): (tp.offset, tp.metadata or "") for tp in got}
    out = {}
    for t, p in sorted(partitions):
        om = member.call(lambda c, t=t, p=p: c.committed(KTopicPartition(t, p), metadata=True, timeout_ms=8000))
        out[(t, p)] = (om.offset, (om.metadata or "").removesuffix("\x00"))
    return out


def make_member(groups: Groups, library: str, name: str, **config: Any) -> Member:
    if library == "confluent-kafka":
        return groups.confluent(name, **config)
    return groups.kafka_python(name, **config)


# --- membership and assignment ---------------------------------------------------------------------


def test_group_two_libraries_split_partitions_and_consume_each_record_once(groups: Groups) -> None:
    partitions = groups.create_topic(6)
    members: list[Member] = [groups.confluent("ck-1"), groups.confluent("ck-2"), groups.kafka_python("kp-1")]

    shares = wait_for_split(members, partitions, JOIN_S)

    assert_split(shares, partitions)
    assert sorted(len(s) for s in shares.values()) == [2, 2, 2]  # range: 6 partitions over 3 members
    # The broker's record of the assignment, through the admin API, is what each client holds.
    described = groups.admin().describe_consumer_groups([groups.group_id])[groups.group_id].result(timeout=WAIT_S)
    assert described.state == ConsumerGroupState.STABLE
    assert described.partition_assignor == "range"
    assert {
        m.client_id: frozenset((tp.topic, tp.partition) for tp in m.assignment.topic_partitions)
        for m in described.members
    } == shares
    if groups.cluster is not None:
        group, kafkasim_view = kafkasim_shares(groups.cluster, groups.group_id)
        assert (group.state, group.protocol, len(group.members)) == ("Stable", "range", 3)
        assert kafkasim_view == {name: set(share) for name, share in shares.items()}

    produced = groups.produce(per_partition=10)
    consumed = wait_consumed(members, produced)

    assert_each_once(consumed, produced)
    for c in consumed:  # each record went to the member that owns its partition
        assert (c.topic, c.partition) in shares[c.member]


@pytest.mark.parametrize("leaver", ["confluent-kafka", "kafka-python"])
def test_group_member_leaving_hands_its_partitions_to_the_rest(groups: Groups, leaver: str) -> None:
    partitions = groups.create_topic(6)
    stay_a = groups.confluent("stay-ck")
    stay_b = groups.kafka_python("stay-kp")
    leaving = make_member(groups, leaver, "leaver")
    assert_split(wait_for_split([stay_a, stay_b, leaving], partitions, JOIN_S), partitions)
    before = groups.cluster.describe_group(groups.group_id).generation if groups.cluster is not None else None
    first = groups.produce(per_partition=5, tag="before")
    wait_consumed([stay_a, stay_b, leaving], first)
    for m in (stay_a, stay_b, leaving):
        commit(m)

    leaving.close()  # LeaveGroup: the coordinator rebalances at once, no session timeout to wait for
    shares = wait_for_split([stay_a, stay_b], partitions, WAIT_S)

    assert_split(shares, partitions)
    assert sorted(len(s) for s in shares.values()) == [3, 3]
    if groups.cluster is not None:
        group, kafkasim_view = kafkasim_shares(groups.cluster, groups.group_id)
        assert (group.state, len(group.members)) == ("Stable", 2)
        assert group.generation > before
        assert kafkasim_view == {name: set(share) for name, share in shares.items()}
    # The new owners resume from the committed offsets: nothing consumed twice, nothing missed.
    second = groups.produce(per_partition=5, tag="after")
    consumed = wait_consumed([stay_a, stay_b, leaving], first | second)
    assert_each_once(consumed, first | second)


@pytest.mark.kafkasim_only  # which member leads is known only to the coordinator: kafkasim's view tells
def test_group_leader_leaving_a_remaining_member_leads_and_assigns(make_groups: Callable[..., Groups]) -> None:
    groups = make_groups()  # needs kafkasim's view to know which member leads
    partitions = groups.create_topic(6)
    members = {name: groups.confluent(name) for name in ("ck-1", "ck-2", "ck-3")}
    assert_split(wait_for_split(list(members.values()), partitions, JOIN_S), partitions)
    group = groups.cluster.describe_group(groups.group_id)
    [leader] = [m.client_id for m in group.members if m.member_id == group.leader]

    members.pop(leader).close()
    shares = wait_for_split(list(members.values()), partitions, WAIT_S)

    assert_split(shares, partitions)
    after = groups.cluster.describe_group(groups.group_id)
    assert after.generation > group.generation
    assert after.leader in {m.member_id for m in after.members}
    assert {m.client_id for m in after.members} == set(members)
    produced = groups.produce(per_partition=2)
    assert_each_once(wait_consumed(list(members.values()), produced), produced)


def test_group_crashed_member_expires_after_session_timeout(groups: Groups) -> None:
    partitions = groups.create_topic(6)
    session_ms = groups.broker.short_session_ms
    survivor = groups.confluent("survivor", **{"session.timeout.ms": session_ms})
    crasher = groups.process_member("crasher", **{"session.timeout.ms": session_ms})
    shares = wait_for_split([survivor, crasher], partitions, JOIN_S)
    assert_split(shares, partitions, crasher.stderr_tail)
    before = groups.cluster.describe_group(groups.group_id).generation if groups.cluster is not None else None

    crasher.signal(signal.SIGKILL)  # no LeaveGroup, no more heartbeats; its TCP connections close
    killed_at = time.monotonic()
    retry_until(lambda: survivor.assignment, lambda a: a == partitions, session_ms / 1000 + WAIT_S)
    took_s = time.monotonic() - killed_at

    assert survivor.assignment == partitions
    # Kafka expires a member when its session times out, not when its connection closes.
    assert took_s >= session_ms / 2000, f"partitions moved {took_s:.2f}s after the crash"
    if groups.cluster is not None:
        group, kafkasim_view = kafkasim_shares(groups.cluster, groups.group_id)
        assert (group.state, group.generation > before) == ("Stable", True)
        assert kafkasim_view == {"survivor": partitions}
    produced = groups.produce(per_partition=2)
    assert_each_once(wait_consumed([survivor], produced), produced)


def test_group_paused_member_expires_then_rejoins_when_resumed(groups: Groups) -> None:
    partitions = groups.create_topic(6)
    session_ms = groups.broker.short_session_ms
    survivor = groups.confluent("survivor", **{"session.timeout.ms": session_ms})
    paused = groups.process_member("paused", **{"session.timeout.ms": session_ms})
    shares = wait_for_split([survivor, paused], partitions, JOIN_S)
    assert_split(shares, partitions, paused.stderr_tail)
    old_id = None
    if groups.cluster is not None:
        [old_id] = [
            m.member_id for m in groups.cluster.describe_group(groups.group_id).members if m.client_id == "paused"
        ]

    paused.signal(signal.SIGSTOP)  # a long GC pause: silent, but its connections stay open
    try:
        expired = retry_until(lambda: survivor.assignment, lambda a: a == partitions, session_ms / 1000 + WAIT_S)
        assert expired == partitions
        if groups.cluster is not None:
            assert [m.client_id for m in groups.cluster.describe_group(groups.group_id).members] == ["survivor"]
    finally:
        paused.signal(signal.SIGCONT)

    # Its next heartbeat is refused (UNKNOWN_MEMBER_ID): it rejoins as a new member and gets a share again.
    shares = wait_for_split([survivor, paused], partitions, JOIN_S)

    assert_split(shares, partitions, paused.stderr_tail)
    assert sorted(len(s) for s in shares.values()) == [3, 3]
    if groups.cluster is not None:
        group, kafkasim_view = kafkasim_shares(groups.cluster, groups.group_id)
        assert group.state == "Stable"
        assert kafkasim_view == {name: set(share) for name, share in shares.items()}
        [new_id] = [m.member_id for m in group.members if m.client_id == "paused"]
        assert new_id != old_id


def test_group_rebalance_drops_a_silent_member_at_its_session_timeout(groups: Groups) -> None:
    partitions = groups.create_topic(6)
    session_ms = groups.broker.short_session_ms
    # A 30 s rebalance timeout (max.poll.interval.ms): the join must end when the silent member's session
    # expires, not when the rebalance times out.
    config = {"session.timeout.ms": session_ms, "max.poll.interval.ms": 30000}
    survivor = groups.confluent("survivor", **config)
    paused = groups.process_member("paused", **config)
    assert_split(wait_for_split([survivor, paused], partitions, JOIN_S), partitions, paused.stderr_tail)
    paused.signal(signal.SIGSTOP)
    started = time.monotonic()

    joiner = groups.confluent("joiner", **config)  # a rebalance the paused member cannot take part in
    shares = wait_for_split([survivor, joiner], partitions, session_ms / 1000 + WAIT_S)
    took_s = time.monotonic() - started

    assert_split(shares, partitions)
    assert took_s < 15, f"the rebalance took {took_s:.1f}s"
    if groups.cluster is not None:
        group, kafkasim_view = kafkasim_shares(groups.cluster, groups.group_id)
        assert group.state == "Stable"
        assert kafkasim_view == {name: set(share) for name, share in shares.items()}


@pytest.mark.parametrize(
    ("first", "second"),
    [("confluent-kafka", "confluent-kafka"), ("kafka-python", "confluent-kafka"), ("confluent-kafka", "kafka-python")],
)
def test_offset_commit_restarted_consumer_resumes_after_committed(groups: Groups, first: str, second: str) -> None:
    partitions = groups.create_topic(2)
    produced = groups.produce(per_partition=10)
    t = groups.topic
    one = make_member(groups, first, "first")
    assert produced <= set(records_of(wait_consumed([one], produced, JOIN_S)))
    commit_offsets(one, {(t, 0): (4, "meta-0"), (t, 1): (7, "")})
    assert committed(one, partitions) == {(t, 0): (4, "meta-0"), (t, 1): (7, "")}
    one.close()
    if groups.cluster is not None:
        assert groups.cluster.describe_group(groups.group_id).state == "Empty"
        offsets = groups.cluster.group_offsets(groups.group_id)
        assert {tp: (o.committed, o.log_end, o.lag) for tp, o in offsets.items()} == {
            (t, 0): (4, 10, 6),
            (t, 1): (7, 10, 3),
        }

    two = make_member(groups, second, "second")
    expected = {r for r in produced if r[2] >= {0: 4, 1: 7}[r[1]]}
    consumed = wait_consumed([two], expected, JOIN_S)

    assert_each_once(consumed, expected)
    assert committed(two, partitions) == {(t, 0): (4, "meta-0"), (t, 1): (7, "")}


# --- static membership -----------------------------------------------------------------------------


def test_static_members_restart_without_rebalance(groups: Groups) -> None:
    partitions = groups.create_topic(6)
    # librdkafka static members do not send LeaveGroup on close; the session must outlive the restart.
    static = {"session.timeout.ms": 10000}
    members = {name: groups.confluent(name, **{"group.instance.id": name, **static}) for name in ("a", "b")}
    shares = wait_for_split(list(members.values()), partitions, JOIN_S)
    assert_split(shares, partitions)
    if groups.cluster is not None:
        group = groups.cluster.describe_group(groups.group_id)
        generation = group.generation
        member_ids = {m.group_instance_id: m.member_id for m in group.members}
        assert set(member_ids) == {"a", "b"}

    for name in ("b", "a"):  # one of them is the leader: restarting it must not rebalance either
        other = members["a" if name == "b" else "b"]
        other_rebalances = other.rebalances
        members[name].close()

        members[name] = groups.confluent(name, **{"group.instance.id": name, **static})
        restarted = retry_until(lambda n=name: members[n].assignment, lambda a, n=name: a == shares[n], JOIN_S)

        assert restarted == shares[name]
        assert [r.kind for r in members[name].rebalances] == ["assign"]
        assert other.rebalances == other_rebalances, "the other member saw a rebalance"
        assert other.assignment == shares[other.name]
        if groups.cluster is not None:
            group = groups.cluster.describe_group(groups.group_id)
            assert (group.state, group.generation) == ("Stable", generation)
            now = {m.group_instance_id: m.member_id for m in group.members}
            assert set(now) == {"a", "b"}
            assert now[name] != member_ids[name], "the restarted member kept its old member id"
            assert now[other.name] == member_ids[other.name]
            member_ids = now

    produced = groups.produce(per_partition=3)
    assert_each_once(wait_consumed(list(members.values()), produced), produced)


def test_static_member_same_instance_id_fences_the_old_consumer(groups: Groups) -> None:
    partitions = groups.create_topic(4)
    static = {"group.instance.id": "only", "session.timeout.ms": 10000}
    old = groups.confluent("old", expect_errors=True, **static)
    assert retry_until(lambda: old.assignment, lambda a: a == partitions, JOIN_S) == partitions
    generation = groups.cluster.describe_group(groups.group_id).generation if groups.cluster is not None else None

    new = groups.confluent("new", **static)  # same group.instance.id while the old consumer still runs

    assert retry_until(lambda: new.assignment, lambda a: a == partitions, JOIN_S) == partitions
    # The old member's next heartbeat gets FENCED_INSTANCE_ID, which librdkafka raises as a fatal error.
    errors = retry_until(lambda: old.errors, lambda e: len(e) > 0)
    assert [(e.code(), "fenced" in e.str()) for e in errors[:1]] == [(KafkaError._FATAL, True)], errors
    assert old.assignment == frozenset()
    if groups.cluster is not None:
        group = groups.cluster.describe_group(groups.group_id)
        assert (group.state, group.generation) == ("Stable", generation)  # replaced without a rebalance
        assert [(m.group_instance_id, m.client_id) for m in group.members] == [("only", "new")]


def test_static_member_not_restarted_expires_after_session_timeout(groups: Groups) -> None:
    partitions = groups.create_topic(4)
    session_ms = groups.broker.short_session_ms
    stays = groups.confluent("stays", **{"group.instance.id": "stays", "session.timeout.ms": session_ms})
    gone = groups.confluent("gone", **{"group.instance.id": "gone", "session.timeout.ms": session_ms})
    assert_split(wait_for_split([stays, gone], partitions, JOIN_S), partitions)

    gone.close()  # a static member sends no LeaveGroup: the coordinator waits for its session to expire
    closed_at = time.monotonic()
    taken_over = retry_until(lambda: stays.assignment, lambda a: a == partitions, session_ms / 1000 + WAIT_S)
    took_s = time.monotonic() - closed_at

    assert taken_over == partitions
    assert took_s >= session_ms / 2000, f"partitions moved {took_s:.2f}s after the static member closed"
    if groups.cluster is not None:
        group = groups.cluster.describe_group(groups.group_id)
        assert [m.group_instance_id for m in group.members] == ["stays"]


def test_static_member_removed_by_admin_hands_over_partitions(groups: Groups) -> None:
    partitions = groups.create_topic(4)
    static = {"session.timeout.ms": 10000}
    stays = groups.confluent("stays", **{"group.instance.id": "stays", **static})
    removed = groups.confluent("removed", **{"group.instance.id": "removed", **static})
    assert_split(wait_for_split([stays, removed], partitions, JOIN_S), partitions)
    removed.close()  # no LeaveGroup (static): the member stays in the group until removed or expired
    assert stays.assignment != partitions

    result = groups.kafka_python_admin().remove_group_members(
        groups.group_id, [MemberToRemove(group_instance_id="removed")]
    )

    assert list(result.values()) == [KErrors.NoError]
    assert retry_until(lambda: stays.assignment, lambda a: a == partitions) == partitions
    if groups.cluster is not None:
        group = groups.cluster.describe_group(groups.group_id)
        assert [m.group_instance_id for m in group.members] == ["stays"]


# --- broker settings -------------------------------------------------------------------------------


def test_group_session_timeout_outside_broker_bounds_fails_join(groups: Groups) -> None:
    groups.create_topic(1)
    # Below group.min.session.timeout.ms (kafkasim here: 500; Kafka: 6000) and above the maximum (30 min).
    for session_ms, heartbeat_ms in ((100, 30), (1_800_001, 3000)):
        consumer = KafkaConsumer(
            groups.topic,
            bootstrap_servers=groups.bootstrap_servers,
            group_id=groups.group_id,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=heartbeat_ms,
            request_timeout_ms=10_000,
        )
        try:
            with pytest.raises(KErrors.InvalidSessionTimeoutError):
                consumer.poll(timeout_ms=int(WAIT_S * 1000))
        finally:
            consumer.close(timeout_ms=5000)
    if groups.cluster is not None:
        group = groups.cluster.describe_group(groups.group_id)
        assert group is None or group.members == []


def test_group_initial_rebalance_delay_gathers_first_members_into_one_generation(
    make_groups: Callable[..., Groups],
) -> None:
    delay_ms = 1500
    groups = make_groups(group_initial_rebalance_delay_ms=delay_ms)
    partitions = groups.create_topic(6)
    started = time.monotonic()
    members = [groups.confluent(f"ck-{i}") for i in range(3)]

    shares = wait_for_split(members, partitions, JOIN_S)
    took_s = time.monotonic() - started

    assert_split(shares, partitions)
    # group.initial.rebalance.delay.ms holds the new group's first rebalance open for late joiners:
    # one generation, each member assigned once, no earlier than the delay.
    assert {m.name: [(r.kind, r.generation) for r in m.rebalances] for m in members} == {
        m.name: [("assign", 1)] for m in members}
    assert took_s >= delay_ms / 1000
    if groups.cluster is not None:
        group = groups.cluster.describe_group(groups.group_id)
        assert (group.state, group.generation) == ("Stable", 1)


def test_group_max_size_rejects_a_new_member_without_a_rebalance(make_groups: Callable[..., Groups]) -> None:
    groups = make_groups(group_max_size=2)
    partitions = groups.create_topic(4)
    members = [groups.confluent("ck-1"), groups.confluent("ck-2")]
    shares = wait_for_split(members, partitions, JOIN_S)
    assert_split(shares, partitions)
    [generation] = {m.rebalances[-1].generation for m in members}

    consumer = KafkaConsumer(
        groups.topic,
        bootstrap_servers=groups.bootstrap_servers,
        group_id=groups.group_id,
        heartbeat_interval_ms=HEARTBEAT_MS,
        request_timeout_ms=10_000,
    )
    try:
        with pytest.raises(KErrors.GroupMaxSizeReachedError):
            consumer.poll(timeout_ms=int(WAIT_S * 1000))
    finally:
        consumer.close(timeout_ms=5000)

    described = groups.admin().describe_consumer_groups([groups.group_id])[groups.group_id].result(timeout=WAIT_S)
    assert (described.state.name, len(described.members)) == ("STABLE", 2)
    if groups.cluster is not None:
        group = groups.cluster.describe_group(groups.group_id)
        assert (group.state, group.generation, len(group.members)) == ("Stable", generation, 2)
    assert {m.name: m.assignment for m in members} == shares
    assert all(r.generation != generation + 1 for m in members for r in m.rebalances)


# --- cooperative rebalancing -----------------------------------------------------------------------


def test_cooperative_sticky_second_member_takes_partitions_incrementally(groups: Groups) -> None:
    partitions = groups.create_topic(6)
    cooperative = {"partition.assignment.strategy": "cooperative-sticky"}
    first = groups.confluent("first", **cooperative)
    assert retry_until(lambda: first.assignment, lambda a: a == partitions, JOIN_S) == partitions
    early = groups.produce(per_partition=4, tag="early")
    wait_consumed([first], early)
    commit(first)
    seen_by_first: list[frozenset[TP]] = []
    watching = threading.Event()
    watching.set()

    def watch() -> None:  # the first member's assignment while the second joins
        while watching.is_set():
            seen_by_first.append(first.assignment)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        second = groups.confluent("second", **cooperative)
        shares = wait_for_split([first, second], partitions, JOIN_S)
    finally:
        watching.clear()
        watcher.join(WAIT_S)

    assert_split(shares, partitions)
    assert sorted(len(s) for s in shares.values()) == [3, 3]
    # Incremental: the first member never gave up all its partitions, only the ones that moved.
    assert min(len(a) for a in seen_by_first) >= 3, [sorted(a) for a in seen_by_first if len(a) < 3][:3]
    revoked = [r.partitions for r in first.rebalances if r.kind == "revoke"]
    assert revoked == [partitions - shares["first"]]
    # (librdkafka also calls on_assign with nothing to add in the rounds that only revoke)
    assert [r.kind for r in first.rebalances if r.partitions] == ["assign", "revoke"]
    assert [r.kind for r in second.rebalances if r.partitions] == ["assign"]
    if groups.cluster is not None:
        group, kafkasim_view = kafkasim_shares(groups.cluster, groups.group_id)
        assert (group.state, group.protocol) == ("Stable", "cooperative-sticky")
        assert kafkasim_view == {name: set(share) for name, share in shares.items()}
    late = groups.produce(per_partition=4, tag="late")
    assert_each_once(wait_consumed([first, second], early | late), early | late)


# --- aiokafka --------------------------------------------------------------------------------------


def test_aiokafka_group_commit_restarted_consumer_resumes_after_committed(groups: Groups) -> None:
    groups.create_topic(2)
    produced = groups.produce(per_partition=10)
    tp0, tp1 = AioTopicPartition(groups.topic, 0), AioTopicPartition(groups.topic, 1)

    def group_consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            groups.topic,
            bootstrap_servers=groups.bootstrap_servers,
            group_id=groups.group_id,
            client_id="aiokafka-member",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=6000,
            heartbeat_interval_ms=HEARTBEAT_MS,
            request_timeout_ms=10_000,
        )

    async def consume(consumer: AIOKafkaConsumer, count: int) -> list[Record]:
        records: list[Record] = []
        deadline = time.monotonic() + JOIN_S
        while len(records) < count and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend((r.topic, r.partition, r.offset) for r in batch)
        return records

    async def scenario() -> None:
        first = group_consumer()
        await first.start()
        try:
            assert set(await consume(first, len(produced))) == produced
            assert first.assignment() == {tp0, tp1}
            await first.commit({tp0: (4, "meta-0"), tp1: 7})
            assert (await first.committed(tp0), await first.committed(tp1)) == (4, 7)
        finally:
            await first.stop()  # LeaveGroup
        if groups.cluster is not None:
            assert groups.cluster.describe_group(groups.group_id).state == "Empty"
            offsets = groups.cluster.group_offsets(groups.group_id)
            assert {tp: o.committed for tp, o in offsets.items()} == {(groups.topic, 0): 4, (groups.topic, 1): 7}

        second = group_consumer()
        await second.start()
        try:
            records = await consume(second, 6 + 3)
            assert sorted(records) == sorted(r for r in produced if r[2] >= {0: 4, 1: 7}[r[1]])
            assert (await second.committed(tp0), await second.committed(tp1)) == (4, 7)
        finally:
            await second.stop()

    asyncio.run(scenario())


def test_aiokafka_joins_group_with_confluent_kafka_member(groups: Groups) -> None:
    """aiokafka's own range assignor and librdkafka's agree on the consumer protocol's metadata."""
    partitions = groups.create_topic(4)
    other = groups.confluent("ck-1")
    assert retry_until(lambda: other.assignment, lambda a: a == partitions, JOIN_S) == partitions

    async def scenario() -> None:
        consumer = AIOKafkaConsumer(
            groups.topic,
            bootstrap_servers=groups.bootstrap_servers,
            group_id=groups.group_id,
            client_id="aio-1",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=(AioRangeAssignor,),  # aiokafka's default is roundrobin only
            heartbeat_interval_ms=HEARTBEAT_MS,
            request_timeout_ms=10_000,
        )
        await consumer.start()
        try:
            deadline = time.monotonic() + JOIN_S
            mine: set[TP] = set()
            while time.monotonic() < deadline:
                await consumer.getmany(timeout_ms=100)
                mine = {(tp.topic, tp.partition) for tp in consumer.assignment()}
                if mine and mine.isdisjoint(other.assignment) and mine | other.assignment == partitions:
                    break
            assert len(mine) == 2 and mine | other.assignment == partitions and mine.isdisjoint(other.assignment)
        finally:
            await consumer.stop()
        assert retry_until(lambda: other.assignment, lambda a: a == partitions) == partitions

    asyncio.run(scenario())


def test_group_member_without_a_common_assignor_is_rejected(groups: Groups) -> None:
    partitions = groups.create_topic(2)
    member = groups.confluent("range-only")  # the group's only protocol: range
    assert retry_until(lambda: member.assignment, lambda a: a == partitions, JOIN_S) == partitions

    async def scenario() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=groups.bootstrap_servers,
            group_id=groups.group_id,
            enable_auto_commit=False,
            heartbeat_interval_ms=HEARTBEAT_MS,
            request_timeout_ms=10_000,
        )  # roundrobin only (aiokafka's default): JoinGroup fails INCONSISTENT_GROUP_PROTOCOL
        await consumer.start()
        try:
            consumer.subscribe([groups.topic])
            with pytest.raises(InconsistentGroupProtocolError):
                await consumer.getmany(timeout_ms=int(JOIN_S * 1000))
        finally:
            await consumer.stop()

    asyncio.run(scenario())

    assert member.assignment == partitions
    assert [r.kind for r in member.rebalances if r.partitions] == ["assign"]  # the group never rebalanced
    if groups.cluster is not None:
        group = groups.cluster.describe_group(groups.group_id)
        assert (group.state, [m.client_id for m in group.members]) == ("Stable", ["range-only"])


# --- stress ----------------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_group_stress_members_churn_every_record_consumed_no_partition_shared(groups: Groups) -> None:
    rnd = random.Random(20240607)
    partitions = groups.create_topic(12)
    # librdkafka and kafka-python both speak "roundrobin"; eager rebalancing: every assign is a full set.
    ck = {"partition.assignment.strategy": "roundrobin", "enable.auto.commit": True, "auto.commit.interval.ms": 200}
    kp = {"partition_assignment_strategy": (RoundRobinPartitionAssignor,), "enable_auto_commit": True,
          "auto_commit_interval_ms": 200}  # fmt: skip
    libraries = ["kafka-python" if i % 6 == 5 else "confluent-kafka" for i in range(20)]  # 3 kafka-python
    survivors = {3, 5, 12, 17}  # members 5 and 17 are kafka-python
    churn_s = 4.0
    plan: list[tuple[float, str, int]] = []
    for i in range(20):
        start = rnd.uniform(0, churn_s * 0.7)
        plan.append((start, "start", i))
        if i not in survivors:
            plan.append((rnd.uniform(start + 0.2, churn_s), "stop", i))
    plan.sort()

    snapshots: list[Any] = []
    sampling = threading.Event()
    sampling.set()

    def sample() -> None:  # kafkasim's own view, as often as it can be read
        while sampling.is_set():
            snapshot = groups.cluster.describe_group(groups.group_id)
            if snapshot is not None:  # None until the first member joins
                snapshots.append(snapshot)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    members: dict[int, Member] = {}
    produced = groups.produce(per_partition=10, tag="before")
    if groups.cluster is not None:
        sampler.start()
    try:
        began = time.monotonic()
        for at, action, i in plan:
            time.sleep(max(0.0, began + at - time.monotonic()))  # pacing the plan, not waiting for state
            if action == "start":
                config = ck if libraries[i] == "confluent-kafka" else kp
                members[i] = make_member(groups, libraries[i], f"m{i:02d}", **config)
            else:
                members[i].stop()  # stop polling and close (LeaveGroup) on its own thread
            produced |= groups.produce_to({rnd.randrange(12): 3}, tag=f"{action}-{i}")
        produced |= groups.produce(per_partition=5, tag="after")
        for i in set(members) - survivors:
            members[i].close(timeout_s=WAIT_S)

        alive = [members[i] for i in sorted(survivors)]
        shares = wait_for_split(alive, partitions, 30.0)
        assert_split(shares, partitions)
        consumed = wait_consumed(list(members.values()), produced, 20.0)
    finally:
        sampling.clear()
        if sampler.ident is not None:
            sampler.join(WAIT_S)

    assert produced <= set(records_of(consumed)), f"{len(produced - set(records_of(consumed)))} records never consumed"
    assert sorted(len(s) for s in shares.values()) == [3, 3, 3, 3]
    # No partition was handed to two members in the same generation (as the clients saw it).
    owners: dict[tuple[int, TP], str] = {}
    generations = set()
    for member in members.values():
        for r in member.rebalances:
            if r.kind != "assign" or r.generation is None:
                continue
            generations.add(r.generation)
            for tp in r.partitions:
                owner = owners.setdefault((r.generation, tp), member.name)
                assert owner == member.name, f"generation {r.generation}: {tp} assigned to {owner} and {member.name}"
    assert len(generations) > 1
    if groups.cluster is not None:  # ... nor as the coordinator recorded it, at any moment it was sampled
        assert snapshots
        for snap in snapshots:
            held = [tuple(tp) for m in snap.members for tp in m.assignment]
            assert len(held) == len(set(held)), f"generation {snap.generation}: a partition held twice: {snap}"
        by_generation = {
            (s.generation, m.client_id): {tuple(tp) for tp in m.assignment}
            for s in snapshots
            if s.state == "Stable"
            for m in s.members
        }
        for member in members.values():  # what each client was given is what the coordinator recorded
            for r in member.rebalances:
                key = (r.generation, member.name)
                if r.kind == "assign" and key in by_generation:
                    assert by_generation[key] == set(r.partitions), key


# --- admin -----------------------------------------------------------------------------------------


def test_admin_confluent_kafka_lists_describes_alters_and_deletes_groups(groups: Groups) -> None:
    partitions = groups.create_topic(2)
    t, g = groups.topic, groups.group_id
    admin = groups.admin()
    produced = groups.produce(per_partition=3)
    member = groups.confluent("ck-admin")
    wait_consumed([member], produced, JOIN_S)
    commit(member)

    listed = admin.list_consumer_groups(request_timeout=WAIT_S).result(timeout=WAIT_S)
    assert {x.group_id: (x.state, x.is_simple_consumer_group) for x in listed.valid}[g] == (
        ConsumerGroupState.STABLE,
        False,
    )
    classic = admin.list_consumer_groups(types={ConsumerGroupType.CLASSIC}).result(timeout=WAIT_S)
    assert g in {x.group_id for x in classic.valid}
    kip848 = admin.list_consumer_groups(types={ConsumerGroupType.CONSUMER}).result(timeout=WAIT_S)
    assert g not in {x.group_id for x in kip848.valid}
    # librdkafka asks ConsumerGroupDescribe first and falls back to DescribeGroups for a classic group.
    described = admin.describe_consumer_groups([g])[g].result(timeout=WAIT_S)
    assert (described.state, described.type, described.partition_assignor, described.is_simple_consumer_group) == (
        ConsumerGroupState.STABLE,
        ConsumerGroupType.CLASSIC,
        "range",
        False,
    )
    [m] = described.members
    assert m.client_id == "ck-admin"
    assert {(tp.topic, tp.partition) for tp in m.assignment.topic_partitions} == partitions
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)])[g].result(timeout=WAIT_S)
    assert {(tp.topic, tp.partition): tp.offset for tp in offsets.topic_partitions} == {(t, 0): 3, (t, 1): 3}

    with pytest.raises(KafkaException) as non_empty:
        admin.delete_consumer_groups([g])[g].result(timeout=WAIT_S)
    assert non_empty.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
    # Only members commit to a group that has members: an admin commit is an unknown member.
    alter = [ConsumerGroupTopicPartitions(g, [TopicPartition(t, 0, 1)])]
    refused = admin.alter_consumer_group_offsets(alter)[g].result(timeout=WAIT_S)
    assert [tp.error.code() if tp.error else None for tp in refused.topic_partitions] == [KafkaError.UNKNOWN_MEMBER_ID]

    member.close()
    assert (
        retry_until(
            lambda: admin.describe_consumer_groups([g])[g].result(timeout=WAIT_S).state,
            lambda s: s == ConsumerGroupState.EMPTY,
        )
        == ConsumerGroupState.EMPTY
    )
    altered = admin.alter_consumer_group_offsets(alter)[g].result(timeout=WAIT_S)
    assert [(tp.topic, tp.partition, tp.offset, tp.error) for tp in altered.topic_partitions] == [(t, 0, 1, None)]
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)])[g].result(timeout=WAIT_S)
    assert {(tp.topic, tp.partition): tp.offset for tp in offsets.topic_partitions} == {(t, 0): 1, (t, 1): 3}

    admin.delete_consumer_groups([g])[g].result(timeout=WAIT_S)

    listed = admin.list_consumer_groups(request_timeout=WAIT_S).result(timeout=WAIT_S)
    assert g not in {x.group_id for x in listed.valid}
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)])[g].result(timeout=WAIT_S)
    assert [tp.offset for tp in offsets.topic_partitions if tp.offset >= 0] == []
    with pytest.raises(KafkaException) as not_found:
        admin.delete_consumer_groups([g])[g].result(timeout=WAIT_S)
    assert not_found.value.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND


def test_admin_kafka_python_lists_describes_alters_and_deletes_groups(groups: Groups) -> None:
    groups.create_topic(2)
    t, g = groups.topic, groups.group_id
    tp0, tp1 = KTopicPartition(t, 0), KTopicPartition(t, 1)
    admin = groups.kafka_python_admin()
    other = f"{t}-other"  # a topic the group commits offsets for but does not subscribe to
    admin.create_topics([KNewTopic(other, 1, 1)])
    other0 = KTopicPartition(other, 0)
    produced = groups.produce(per_partition=3)
    member = groups.kafka_python("kp-admin")
    wait_consumed([member], produced, JOIN_S)
    commit(member)
    member.call(lambda c: c.commit({other0: OffsetAndMetadata(0, "", -1)}))

    listed = {x["group_id"]: x for x in admin.list_groups()}
    assert listed[g]["protocol_type"] == "consumer"
    assert listed[g].get("group_state", "Stable") == "Stable"  # ListGroups v4+ reports the state
    assert g in [x["group_id"] for x in admin.list_groups(states_filter=["Stable"])]
    assert g not in [x["group_id"] for x in admin.list_groups(states_filter=["Empty"])]
    assert g in [x["group_id"] for x in admin.list_groups(types_filter=["classic"])]
    assert g not in [x["group_id"] for x in admin.list_groups(types_filter=["consumer"])]  # KIP-848 groups
    described = admin.describe_groups([g])[g]
    assert (described["group_state"], described["protocol_type"], described["protocol_data"]) == (
        "Stable",
        "consumer",
        "range",
    )
    [m] = described["members"]
    assert (m["client_id"], m["member_metadata"]["topics"]) == ("kp-admin", [t])
    assert m["member_assignment"]["assigned_partitions"] == [{"topic": t, "partitions": [0, 1]}]
    assert {tp: (om.offset, om.metadata) for tp, om in admin.list_group_offsets({g: None})[g].items()} == {
        tp0: (3, ""),
        tp1: (3, ""),
        other0: (0, ""),
    }

    assert admin.delete_groups([g]) == {g: "NonEmptyGroupError"}  # kafka-python reports error names
    # OffsetDelete refuses partitions of topics the group's members subscribe to, and only those.
    assert admin.delete_group_offsets(g, [tp0, other0]) == {
        tp0: KErrors.GroupSubscribedToTopicError,
        other0: KErrors.NoError,
    }
    assert admin.alter_group_offsets(g, {tp0: OffsetAndMetadata(1, "", -1)}) == {tp0: KErrors.UnknownMemberIdError}

    member.close()
    retry_until(lambda: admin.describe_groups([g])[g]["group_state"], lambda s: s == "Empty")
    assert admin.alter_group_offsets(g, {tp0: OffsetAndMetadata(1, "admin", -1)}) == {tp0: KErrors.NoError}
    assert {tp: (om.offset, om.metadata) for tp, om in admin.list_group_offsets({g: None})[g].items()} == {
        tp0: (1, "admin"),
        tp1: (3, ""),
    }
    assert admin.delete_group_offsets(g, [tp1]) == {tp1: KErrors.NoError}
    assert {tp: om.offset for tp, om in admin.list_group_offsets({g: None})[g].items()} == {tp0: 1}
    if groups.cluster is not None:
        assert set(groups.cluster.group_offsets(g)) == {(t, 0)}

    assert admin.delete_groups([g]) == {g: "OK"}

    assert g not in {x["group_id"] for x in admin.list_groups()}
    assert admin.list_group_offsets({g: None})[g] == {}
    assert admin.delete_groups([g]) == {g: "GroupIdNotFoundError"}
