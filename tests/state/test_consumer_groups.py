"""KIP-848 consumer groups (state/consumer_groups.py and its use in state/groups.py), driven synchronously.

Expected behaviour is Kafka's: GroupMetadataManager.consumerGroupHeartbeat (validation, member epochs, static
members, the "full request" rule for sending the assignment), CurrentAssignmentBuilder (revoke first, then move
to the target epoch and take the target partitions no other member still holds), the server-side UniformAssignor
(balanced and sticky) and RangeAssignor, and ConsumerGroup.validateOffsetCommit.
"""

from __future__ import annotations

import struct
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.state.clock import Clock, ManualClock
from kafkasim.state.consumer_groups import (
    ConsumerGroup,
    ConsumerGroupCoordinator,
    ConsumerGroupState,
    ConsumerMember,
    HeartbeatResult,
    TopicPartition,
    assign,
)
from kafkasim.state.group_model import GroupConfig
from kafkasim.state.groups import GroupCoordinator

SESSION = 10_000
REBALANCE = 30_000
START = 1_000_000


# ---------------------------------------------------------------------------------------------- helpers


class Client:
    """A KIP-848 consumer as the coordinator sees it: it reports what it was last sent as its owned partitions."""

    def __init__(self, h: Harness, member_id: str, epoch: int, owned: set[TopicPartition], *,
                 topics: list[str], instance: str | None = None) -> None:
        self.h = h
        self.member_id = member_id
        self.epoch = epoch
        self.owned = owned
        self.topics = topics
        self.instance = instance

    def beat(self, **kw) -> HeartbeatResult:
        r = self.h.hb(self.member_id, self.epoch, self.owned, instance=self.instance, **kw)
        assert r.error == 0, r
        assert r.member_id == self.member_id
        self.epoch = r.member_epoch
        if r.assignment is not None:
            self.owned = set(r.assignment)
        return r

    def full_beat(self, **kw) -> HeartbeatResult:
        """A full request (what clients send after an error or timeout): subscription, rebalance timeout, owned."""
        return self.beat(topics=self.topics, rebalance=REBALANCE, **kw)


class Harness:
    """A ConsumerGroupCoordinator on a fake clock, deadlines recorded, partition counts from a dict."""

    def __init__(self, partitions: dict[str, int] | None = None, *, session: int = SESSION) -> None:
        self.clock = ManualClock(START)
        self.partitions: dict[str, int] = {"t": 6} if partitions is None else partitions
        self.deadlines: list[int] = []
        self.coord = ConsumerGroupCoordinator(self.clock, lambda t: self.partitions.get(t), session_timeout_ms=session)
        self.coord.schedule = self.deadlines.append

    @property
    def now(self) -> int:
        return self.clock.now

    def join_raw(self, member_id: str = "", topics: list[str] | None = None, *, group: str = "g",
                 instance: str | None = None, assignor: str | None = None, rebalance: int = REBALANCE,
                 owned: list[TopicPartition] | None = None, classic: bool = False) -> HeartbeatResult:
        return self.coord.heartbeat(group, member_id, 0, instance, None, rebalance,
                                    ["t"] if topics is None else topics, assignor, [] if owned is None else owned,
                                    "client", "/127.0.0.1", classic)

    def join(self, member_id: str = "", topics: list[str] | None = None, **kw) -> Client:
        r = self.join_raw(member_id, topics, **kw)
        assert r.error == 0, r
        assert r.assignment is not None  # a join always gets its assignment
        return Client(self, r.member_id, r.member_epoch, set(r.assignment),
                      topics=["t"] if topics is None else topics, instance=kw.get("instance"))

    def hb(self, member_id: str, epoch: int, owned: set[TopicPartition] | list[TopicPartition] | None = None, *,
           group: str = "g", topics: list[str] | None = None, instance: str | None = None, rebalance: int = -1,
           assignor: str | None = None, classic: bool = False) -> HeartbeatResult:
        return self.coord.heartbeat(group, member_id, epoch, instance, None, rebalance, topics, assignor,
                                    None if owned is None else sorted(owned), "client", "/127.0.0.1", classic)

    def group(self, group_id: str = "g") -> ConsumerGroup:
        return self.coord.groups[group_id]

    def member(self, member_id: str, group_id: str = "g") -> ConsumerMember:
        return self.group(group_id).members[member_id]

    def tick(self, advance_ms: int = 0) -> None:
        self.clock.advance(advance_ms)
        self.coord.tick()


def settle(clients: list[Client], rounds: int = 6) -> None:
    """Every client heartbeats (reporting what it was sent) until the group is Stable."""
    for _ in range(rounds):
        for c in clients:
            c.beat()
        if c.h.group().state == ConsumerGroupState.STABLE:
            return
    raise AssertionError(f"not stable: {c.h.group()}")


def tps(topic: str, *parts: int) -> set[TopicPartition]:
    return {(topic, p) for p in parts}


def owners(clients: list[Client]) -> dict[TopicPartition, str]:
    out: dict[TopicPartition, str] = {}
    for c in clients:
        for tp in c.owned:
            assert tp not in out, f"{tp} owned twice"
            out[tp] = c.member_id
    return out


def every_partition(partitions: dict[str, int]) -> set[TopicPartition]:
    return {(t, p) for t, n in partitions.items() for p in range(n)}


# ---------------------------------------------------------------------------------------------- join and validation


def test_heartbeat_join_generates_member_id_when_empty() -> None:
    h = Harness()
    r = h.join_raw("")
    assert r.error == 0 and r.member_id and len(r.member_id) >= 22
    assert r.member_epoch == 1
    assert r.assignment == sorted(tps("t", *range(6)))
    other = h.join_raw("")
    assert other.member_id != r.member_id


def test_heartbeat_join_keeps_given_member_id() -> None:
    h = Harness()
    r = h.join_raw("client-chosen-id")
    assert (r.error, r.member_id, r.member_epoch) == (0, "client-chosen-id", 1)
    assert set(h.group().members) == {"client-chosen-id"}
    m = h.member("client-chosen-id")
    assert m.subscribed == ["t"] and m.rebalance_timeout_ms == REBALANCE and m.client_id == "client"


def test_heartbeat_join_without_subscription_is_invalid_request() -> None:
    h = Harness()
    r = h.coord.heartbeat("g", "m", 0, None, None, REBALANCE, None, None, [], "c", "h", False)
    assert r.error == ErrorCode.INVALID_REQUEST and r.message
    assert "g" not in h.coord.groups


def test_heartbeat_join_without_rebalance_timeout_is_invalid_request() -> None:
    h = Harness()
    r = h.join_raw("m", rebalance=-1)
    assert r.error == ErrorCode.INVALID_REQUEST and r.message
    assert "g" not in h.coord.groups


def test_heartbeat_empty_group_id_is_invalid_request() -> None:
    h = Harness()
    assert h.join_raw("m", group="").error == ErrorCode.INVALID_REQUEST
    assert h.hb("m", 3, group="").error == ErrorCode.INVALID_REQUEST
    assert not h.coord.groups


def test_heartbeat_unsupported_assignor_is_rejected() -> None:
    h = Harness()
    r = h.join_raw("m", assignor="sticky")
    assert r.error == ErrorCode.UNSUPPORTED_ASSIGNOR
    assert "uniform" in r.message and "range" in r.message
    assert not h.coord.groups
    assert h.join_raw("a", assignor="uniform").error == 0
    assert h.join_raw("b", assignor="range").error == 0


def test_heartbeat_classic_group_in_use_is_group_id_not_found() -> None:
    h = Harness()
    r = h.join_raw("m", classic=True)
    assert r.error == ErrorCode.GROUP_ID_NOT_FOUND
    assert "g" not in h.coord.groups


def test_heartbeat_invalid_negative_epoch_is_invalid_request() -> None:
    # Kafka: a member epoch below -2 is "MemberEpoch is invalid." (INVALID_REQUEST), never a tolerated epoch
    h = Harness()
    a = h.join("a")
    r = h.hb("a", -3, a.owned)
    assert r.error == ErrorCode.INVALID_REQUEST


def test_heartbeat_unknown_member_with_positive_epoch_is_unknown_member_id() -> None:
    h = Harness()
    assert h.hb("ghost", 1, []).error == ErrorCode.UNKNOWN_MEMBER_ID
    assert "g" not in h.coord.groups  # not created by a non-join heartbeat
    h.join("a")
    assert h.hb("ghost", 1, []).error == ErrorCode.UNKNOWN_MEMBER_ID
    assert set(h.group().members) == {"a"}


def test_heartbeat_greater_epoch_is_fenced() -> None:
    h = Harness()
    a = h.join("a")
    r = h.hb("a", a.epoch + 1, a.owned)
    assert r.error == ErrorCode.FENCED_MEMBER_EPOCH


def _lost_bump(h: Harness) -> tuple[Client, Client, int]:
    """a moves to a new epoch with a heartbeat whose response is lost; returns (a, b, a's previous epoch)."""
    a = h.join("a")
    b = h.join("b")
    a.beat()  # revoke half
    previous = a.epoch
    r = h.hb("a", a.epoch, a.owned)  # a revoked: it moves to the target epoch, but this response is lost
    assert r.error == 0 and r.member_epoch == previous + 1
    return a, b, previous


def test_heartbeat_previous_epoch_with_owned_subset_is_tolerated() -> None:
    h = Harness()
    a, _, previous = _lost_bump(h)
    r = h.hb("a", previous, a.owned)
    assert (r.error, r.member_epoch) == (0, previous + 1)


def test_heartbeat_previous_epoch_owning_more_than_assigned_is_fenced() -> None:
    h = Harness()
    a, b, previous = _lost_bump(h)
    b.beat()  # b takes the partitions a released
    r = h.hb("a", previous, a.owned | {next(iter(b.owned))})
    assert r.error == ErrorCode.FENCED_MEMBER_EPOCH


def test_heartbeat_epoch_older_than_previous_is_fenced() -> None:
    # Kafka tolerates exactly the previous epoch (throwIfMemberEpochIsInvalid), not any older one
    h = Harness()
    a = h.join("a")
    first = a.epoch
    b = h.join("b")
    settle([a, b])
    c = h.join("c")
    settle([a, b, c])
    assert h.member("a").epoch >= first + 2
    r = h.hb("a", first, a.owned)
    assert r.error == ErrorCode.FENCED_MEMBER_EPOCH


def test_heartbeat_rejoin_with_epoch_zero_starts_over() -> None:
    h = Harness()
    a = h.join("a")
    epoch = h.group().epoch
    r = h.join_raw("a")
    assert r.error == 0 and r.member_epoch == epoch + 1
    assert r.assignment == sorted(tps("t", *range(6)))  # a join always gets its assignment
    assert set(h.group().members) == {"a"} and a.member_id == "a"


# ---------------------------------------------------------------------------------------------- leave


def test_leave_bumps_epoch_and_remaining_target_grows() -> None:
    h = Harness()
    a, b = h.join("a"), h.join("b")
    settle([a, b])
    epoch = h.group().epoch
    r = h.hb("b", -1, b.owned)
    assert (r.error, r.member_id, r.member_epoch) == (0, "b", -1)
    g = h.group()
    assert g.epoch == epoch + 1 and set(g.members) == {"a"}
    assert g.target == {"a": tps("t", *range(6))}
    r = a.beat()
    assert r.member_epoch == epoch + 1
    assert a.owned == tps("t", *range(6))
    assert g.state == ConsumerGroupState.STABLE


def test_leave_unknown_member_is_unknown_member_id() -> None:
    h = Harness()
    assert h.hb("ghost", -1).error == ErrorCode.UNKNOWN_MEMBER_ID
    h.join("a")
    assert h.hb("ghost", -1).error == ErrorCode.UNKNOWN_MEMBER_ID
    assert set(h.group().members) == {"a"}


def test_leave_last_member_empties_group() -> None:
    h = Harness()
    a = h.join("a")
    assert h.hb("a", -1, a.owned).error == 0
    g = h.group()
    assert not g.members and g.state == ConsumerGroupState.EMPTY
    assert h.coord.next_deadline() is None


# ---------------------------------------------------------------------------------------------- reconciliation


def test_reconcile_second_member_waits_until_first_revokes() -> None:
    h = Harness()
    a = h.join("a")
    assert a.owned == tps("t", *range(6)) and a.epoch == 1
    g = h.group()
    assert g.state == ConsumerGroupState.STABLE

    b = h.join("b")
    assert g.epoch == 2 and g.assignment_epoch == 2
    assert g.target == {"a": tps("t", 0, 1, 2), "b": tps("t", 3, 4, 5)}
    assert b.epoch == 2 and b.owned == set()  # a still holds all of them
    assert g.state == ConsumerGroupState.RECONCILING

    r = a.beat()  # revoke first: the assignment shrinks, the epoch stays
    assert r.member_epoch == 1 and r.assignment == sorted(tps("t", 0, 1, 2))
    assert h.member("a").pending_revocation == tps("t", 3, 4, 5)

    assert b.beat().assignment is None  # still held by a (pending revocation)
    assert b.owned == set()
    # a has not finished revoking yet: it still reports them
    r = h.hb("a", 1, tps("t", *range(6)))
    assert (r.error, r.member_epoch, r.assignment) == (0, 1, None)
    assert b.beat().assignment is None
    assert g.state == ConsumerGroupState.RECONCILING

    r = a.beat()  # now reports [0, 1, 2]: revocation done, a moves to the target epoch
    assert r.member_epoch == 2 and r.assignment is None
    assert not h.member("a").pending_revocation
    assert g.state == ConsumerGroupState.RECONCILING  # b has not got its partitions yet

    r = b.beat()
    assert r.member_epoch == 2 and r.assignment == sorted(tps("t", 3, 4, 5))
    assert g.state == ConsumerGroupState.STABLE
    assert h.member("a").epoch == h.member("b").epoch == g.epoch == 2


def test_reconcile_owned_not_reported_keeps_revocation_pending() -> None:
    h = Harness()
    a = h.join("a")
    h.join("b")
    a.beat()
    r = h.hb("a", a.epoch, None)  # no owned partitions in the request: nothing is known to be revoked
    assert (r.error, r.member_epoch, r.assignment) == (0, 1, None)
    assert h.member("a").pending_revocation == tps("t", 3, 4, 5)


def test_group_state_assigning_while_target_lags_group_epoch() -> None:
    g = ConsumerGroup("g")
    assert g.state == ConsumerGroupState.EMPTY
    g.members["a"] = ConsumerMember("a", None, None, "c", "h", ["t"], REBALANCE, None, epoch=1)
    g.epoch, g.assignment_epoch = 2, 1
    assert g.state == ConsumerGroupState.ASSIGNING
    g.assignment_epoch = 2
    assert g.state == ConsumerGroupState.RECONCILING
    g.members["a"].epoch = 2
    assert g.state == ConsumerGroupState.STABLE


def test_heartbeat_assignment_sent_only_when_changed() -> None:
    h = Harness()
    a = h.join("a")
    for _ in range(3):
        r = a.beat()
        assert (r.error, r.member_epoch, r.assignment) == (0, 1, None)
    h.join("b")
    assert a.beat().assignment == sorted(tps("t", 0, 1, 2))
    assert a.beat().assignment is None  # moved to epoch 2 without a change of partitions
    assert a.beat().assignment is None


def test_heartbeat_full_request_after_lost_revocation_resends_assignment() -> None:
    # Kafka sends the assignment whenever the request is full (rebalance timeout, subscription and owned
    # partitions all set): clients send one after an error or timeout, e.g. when a response was lost.
    h = Harness()
    a = h.join("a")
    h.join("b")
    lost = h.hb("a", a.epoch, a.owned)  # asks a to revoke 3, 4, 5; the response never arrives
    assert lost.assignment == sorted(tps("t", 0, 1, 2))
    r = a.full_beat()
    assert r.assignment == sorted(tps("t", 0, 1, 2))


def test_heartbeat_full_request_after_lost_epoch_bump_resends_assignment() -> None:
    h = Harness()
    a, b = h.join("a"), h.join("b")
    settle([a, b])
    assert h.hb("b", -1, b.owned).error == 0
    lost = h.hb("a", a.epoch, a.owned)  # a gets all six and a new epoch; the response is lost
    assert lost.member_epoch == a.epoch + 1 and lost.assignment == sorted(tps("t", *range(6)))
    r = a.full_beat()  # previous epoch, owning a subset: tolerated
    assert r.member_epoch == lost.member_epoch
    assert r.assignment == sorted(tps("t", *range(6)))


def test_heartbeat_join_assignment_sent_even_when_empty() -> None:
    h = Harness({"t": 1})
    h.join("a")
    r = h.join_raw("b")
    assert r.error == 0 and r.assignment == []


# ---------------------------------------------------------------------------------------------- assignors


def test_uniform_assignor_balances_single_topic() -> None:
    h = Harness({"t": 7})
    clients = [h.join(m) for m in ("a", "b", "c")]
    settle(clients)
    assert set(owners(clients)) == every_partition(h.partitions)
    assert sorted(len(c.owned) for c in clients) == [2, 2, 3]


def test_uniform_assignor_balances_each_topic() -> None:
    h = Harness({"t": 5, "u": 4})
    clients = [h.join(m, ["t", "u"]) for m in ("a", "b", "c")]
    settle(clients)
    assert set(owners(clients)) == every_partition(h.partitions)
    for topic in ("t", "u"):
        sizes = [sum(1 for tp in c.owned if tp[0] == topic) for c in clients]
        assert max(sizes) - min(sizes) <= 1, (topic, sizes)


def test_uniform_assignor_balances_total_across_topics() -> None:
    # UniformAssignor balances the number of partitions per member over all subscribed topics; with many
    # one-partition topics a per-topic split alone gives them all to the same member.
    h = Harness({"t1": 1, "t2": 1, "t3": 1, "t4": 1})
    topics = ["t1", "t2", "t3", "t4"]
    clients = [h.join(m, topics) for m in ("a", "b")]
    settle(clients)
    assert set(owners(clients)) == every_partition(h.partitions)
    assert sorted(len(c.owned) for c in clients) == [2, 2]


def test_assign_uniform_balances_total_across_topics() -> None:
    members = {m: ConsumerMember(m, None, None, "c", "h", ["t1", "t2", "t3"], REBALANCE, None)
               for m in ("a", "b", "c")}
    out = assign("uniform", members, {"t1": 2, "t2": 2, "t3": 2}, {})
    assert sorted(len(v) for v in out.values()) == [2, 2, 2]
    assert set().union(*out.values()) == every_partition({"t1": 2, "t2": 2, "t3": 2})


@pytest.mark.parametrize("newcomer", ["a", "z"])
def test_uniform_assignor_third_member_moves_fewest_partitions(newcomer: str) -> None:
    # 7 partitions over two members (4 + 3); a third takes 2, and only 2 need to move (sizes 3, 2, 2),
    # whichever way its member id sorts.
    h = Harness({"t": 7})
    first = [h.join("m"), h.join("n")]
    settle(first)
    before = owners(first)
    assert sorted(len(c.owned) for c in first) == [3, 4]
    clients = [*first, h.join(newcomer)]
    settle(clients)
    after = owners(clients)
    assert set(after) == every_partition(h.partitions)
    assert sorted(len(c.owned) for c in clients) == [2, 2, 3]
    moved = {tp for tp, owner in before.items() if after[tp] != owner}
    assert len(moved) == 2, moved


def test_uniform_assignor_member_leaving_keeps_others_partitions() -> None:
    h = Harness({"t": 6})
    clients = [h.join(m) for m in ("a", "b", "c")]
    settle(clients)
    kept = {c.member_id: set(c.owned) for c in clients[:2]}
    assert h.hb("c", -1, clients[2].owned).error == 0
    settle(clients[:2])
    for c in clients[:2]:
        assert kept[c.member_id] <= c.owned and len(c.owned) == 3


def test_range_assignor_assigns_contiguous_ranges() -> None:
    h = Harness({"t": 7, "u": 7})
    clients = [h.join(m, ["t", "u"], assignor="range") for m in ("m1", "m2", "m3")]
    settle(clients)
    assert h.group().assignor == "range"
    expected = {"m1": [0, 1, 2], "m2": [3, 4], "m3": [5, 6]}
    for c in clients:
        for topic in ("t", "u"):  # co-partitioned: the same partition numbers of each topic
            assert sorted(p for t, p in c.owned if t == topic) == expected[c.member_id]


def test_assign_range_gives_leading_members_the_extra_partitions() -> None:
    members = {m: ConsumerMember(m, None, None, "c", "h", ["t"], REBALANCE, "range") for m in ("b", "a")}
    out = assign("range", members, {"t": 5}, {})
    assert out == {"a": tps("t", 0, 1, 2), "b": tps("t", 3, 4)}


def test_assignor_preferred_by_most_members_is_used() -> None:
    # ConsumerGroup.computePreferredServerAssignor: the assignor named by the most members
    h = Harness()
    h.join("a", assignor="uniform")
    h.join("b", assignor="range")
    h.join("c", assignor="range")
    assert h.group().assignor == "range"


def test_heartbeat_members_with_different_topics_get_only_their_topics() -> None:
    h = Harness({"t": 4, "u": 2})
    a = h.join("a", ["t"])
    b = h.join("b", ["u"])
    c = h.join("c", ["t", "u"])
    settle([a, b, c])
    assert set(owners([a, b, c])) == every_partition(h.partitions)
    assert {t for t, _ in a.owned} == {"t"}
    assert {t for t, _ in b.owned} <= {"u"}
    assert len(a.owned) == 2 and sum(1 for t, _ in c.owned if t == "t") == 2


def test_heartbeat_subscription_change_bumps_epoch_and_moves_partitions() -> None:
    h = Harness({"t": 2, "u": 2})
    a, b = h.join("a", ["t"]), h.join("b", ["t"])
    settle([a, b])
    epoch = h.group().epoch
    a.topics = ["u"]
    r = a.beat(topics=["u"])
    assert h.group().epoch == epoch + 1
    assert r.assignment == []  # revoke t first
    settle([a, b])
    assert a.owned == tps("u", 0, 1) and b.owned == tps("t", 0, 1)


def test_heartbeat_topic_created_later_is_assigned_at_next_heartbeat() -> None:
    h = Harness({})
    a = h.join("a", ["new"])
    assert a.owned == set()
    epoch = h.group().epoch
    assert a.beat().assignment is None and h.group().epoch == epoch
    h.partitions["new"] = 2
    r = a.beat()
    assert h.group().epoch == epoch + 1
    assert r.member_epoch == epoch + 1 and r.assignment == sorted(tps("new", 0, 1))


def test_heartbeat_partition_growth_bumps_epoch_and_assigns_new_partitions() -> None:
    h = Harness({"t": 4})
    a, b = h.join("a"), h.join("b")
    settle([a, b])
    before = {c.member_id: set(c.owned) for c in (a, b)}
    epoch = h.group().epoch
    h.partitions["t"] = 6
    assert h.group().epoch == epoch  # nothing happens until a heartbeat
    a.beat()
    assert h.group().epoch == epoch + 1
    settle([a, b])
    assert set(owners([a, b])) == every_partition(h.partitions)
    assert before["a"] <= a.owned and before["b"] <= b.owned
    assert len(a.owned) == len(b.owned) == 3


# ---------------------------------------------------------------------------------------------- timeouts


def test_heartbeat_schedules_session_deadline() -> None:
    h = Harness()
    h.join("a")
    assert h.deadlines == [START + SESSION]
    h.clock.advance(1000)
    h.hb("a", 1, [])
    assert h.deadlines[-1] == START + 1000 + SESSION
    assert h.member("a").session_deadline == START + 1000 + SESSION


def test_tick_session_timeout_removes_silent_member() -> None:
    h = Harness()
    a, b = h.join("a"), h.join("b")
    settle([a, b])
    epoch = h.group().epoch
    b_deadline = h.member("b").session_deadline
    h.clock.advance(SESSION - 1)
    a.beat()
    h.tick()
    assert set(h.group().members) == {"a", "b"}
    h.tick(b_deadline - h.now)
    assert set(h.group().members) == {"a"}
    assert h.group().epoch == epoch + 1
    settle([a])
    assert a.owned == tps("t", *range(6))
    assert h.hb("b", b.epoch, b.owned).error == ErrorCode.UNKNOWN_MEMBER_ID


def test_tick_member_that_never_revokes_is_removed_after_rebalance_timeout() -> None:
    h = Harness(session=REBALANCE * 10)
    a = h.join("a", rebalance=5000)
    b = h.join("b")
    r = h.hb("a", a.epoch, a.owned)  # asked to revoke 3, 4, 5
    assert r.assignment == sorted(tps("t", 0, 1, 2))
    revocation = h.member("a").revocation_deadline
    assert revocation == h.now + 5000 and revocation in h.deadlines
    assert h.coord.next_deadline() == revocation
    for _ in range(4):
        h.clock.advance(1000)
        h.hb("a", a.epoch, a.owned)  # keeps reporting all six: never revokes
        h.tick()
    assert "a" in h.group().members
    h.tick(revocation - h.now)
    assert set(h.group().members) == {"b"}
    settle([b])
    assert b.owned == tps("t", *range(6))


def test_tick_member_revoking_in_time_is_kept() -> None:
    h = Harness(session=REBALANCE * 10)
    a = h.join("a", rebalance=5000)
    h.join("b")
    a.beat()
    h.clock.advance(4000)
    a.beat()
    assert h.member("a").revocation_deadline is None
    h.tick(10_000)
    assert set(h.group().members) == {"a", "b"}


def test_tick_rejoined_member_loses_old_revocation_deadline() -> None:
    # a member fenced while revoking rejoins with epoch 0: its old rebalance deadline must not remove it later
    h = Harness(session=REBALANCE * 10)
    a = h.join("a", rebalance=5000)
    b = h.join("b")
    a.beat()  # revocation pending, deadline now + 5000
    a = h.join("a", rebalance=5000)  # starts over (drops everything it owned)
    settle([a, b])
    h.clock.advance(4000)
    settle([a, b])
    h.tick(2000)
    assert set(h.group().members) == {"a", "b"}


def test_next_deadline_is_earliest_of_session_and_revocation() -> None:
    h = Harness(session=REBALANCE * 10)
    assert h.coord.next_deadline() is None
    a = h.join("a", rebalance=5000)
    assert h.coord.next_deadline() == START + REBALANCE * 10
    h.clock.advance(100)
    h.join("b")
    assert h.coord.next_deadline() == START + REBALANCE * 10
    a.beat()
    assert h.coord.next_deadline() == h.now + 5000
    h.hb("a", -1, a.owned)
    h.hb("b", -1, [])
    assert h.coord.next_deadline() is None


# ---------------------------------------------------------------------------------------------- static members


def test_static_member_leave_keeps_assignment_for_rejoin_with_new_member_id() -> None:
    # A static member leaving with epoch -2 keeps its assignment (no rebalance) until it rejoins within the
    # session timeout; the new incarnation takes the old one's partitions over.
    h = Harness()
    a = h.join("a1", instance="i")
    b = h.join("b")
    settle([a, b])
    epoch = h.group().epoch
    a_owned = set(a.owned)
    r = h.hb("a1", -2, a.owned, instance="i")
    assert (r.error, r.member_id, r.member_epoch) == (0, "a1", -2)
    assert h.group().epoch == epoch  # no rebalance
    assert b.beat().assignment is None

    r = h.join_raw("a2", instance="i")
    assert r.error == 0 and r.member_id == "a2"
    assert set(r.assignment) == a_owned
    assert set(h.group().members) == {"a2", "b"}
    assert h.group().epoch == epoch
    assert b.beat().assignment is None
    assert h.group().state == ConsumerGroupState.STABLE


def test_static_member_rejoin_while_old_member_active_is_unreleased_instance_id() -> None:
    # Kafka's throwIfInstanceIdIsUnreleased: replacing is only allowed after the old member left with -2
    h = Harness()
    a = h.join("a1", instance="i")
    r = h.join_raw("a2", instance="i")
    assert r.error == ErrorCode.UNRELEASED_INSTANCE_ID
    assert set(h.group().members) == {"a1"}
    assert a.beat().error == 0


def test_static_member_old_member_id_after_replacement_is_fenced_instance_id() -> None:
    h = Harness()
    a = h.join("a1", instance="i")
    assert h.hb("a1", -2, a.owned, instance="i").error == 0
    assert h.join_raw("a2", instance="i").error == 0
    r = h.hb("a1", a.epoch, a.owned, instance="i")
    assert r.error == ErrorCode.FENCED_INSTANCE_ID


def test_static_member_new_member_id_takes_over_assignment() -> None:
    h = Harness()
    a = h.join("a1", instance="i")
    b = h.join("b")
    settle([a, b])
    assert h.hb("a1", -2, a.owned, instance="i").error == 0
    a2 = h.join("a2", instance="i")
    settle([a2, b])
    assert a2.owned == a.owned
    assert h.group().static_members == {"i": "a2"}
    assert set(owners([a2, b])) == every_partition(h.partitions)


def test_static_member_that_left_expires_after_session_timeout() -> None:
    h = Harness()
    a = h.join("a1", instance="i")
    b = h.join("b")
    settle([a, b])
    assert h.hb("a1", -2, a.owned, instance="i").error == 0
    h.clock.advance(SESSION - 1)
    b.beat()
    h.tick(1)
    assert set(h.group().members) == {"b"}
    assert "i" not in h.group().static_members
    settle([b])
    assert b.owned == tps("t", *range(6))


# ---------------------------------------------------------------------------------------------- offsets and delete


def subscription(*topics: str) -> bytes:
    """Consumer-protocol subscription v0 (for a classic JoinGroup)."""
    body = b"".join(struct.pack(">h", len(t)) + t.encode() for t in topics)
    return struct.pack(">hi", 0, len(topics)) + body + struct.pack(">i", -1)


class Coordinators:
    """The classic GroupCoordinator with its ConsumerGroupCoordinator, as the broker wires them."""

    def __init__(self) -> None:
        self.clock = ManualClock(START)
        self.partitions = {"t": 6}
        self.deadlines: list[int] = []
        self.coord = GroupCoordinator(GroupConfig(consumer_session_timeout_ms=SESSION), self.clock,
                                      topic_partitions=lambda t: self.partitions.get(t))
        self.coord.schedule = self.deadlines.append

    def heartbeat(self, member_id: str, epoch: int, owned: list[TopicPartition] | None = None, *,
                  topics: list[str] | None = None, rebalance: int = -1, group: str = "g") -> HeartbeatResult:
        return self.coord.consumer_heartbeat(group, member_id, epoch, instance_id=None, rack_id=None,
                                             rebalance_timeout_ms=rebalance, subscribed=topics, server_assignor=None,
                                             owned=owned, client_id="c", client_host="h")

    def join(self, member_id: str) -> HeartbeatResult:
        r = self.heartbeat(member_id, 0, [], topics=["t"], rebalance=REBALANCE)
        assert r.error == 0
        return r

    def commit(self, member_id: str, epoch: int, offset: int = 5, group: str = "g") -> list[int]:
        return self.coord.commit_offsets(group, epoch, member_id, None, [("t", 0, offset, -1, None)])

    def classic_join(self, group: str = "g"):
        out: list = []
        self.coord.join(group, "", None, "c", "h", SESSION, REBALANCE, "consumer", [("range", subscription("t"))],
                        False, out.append)
        assert len(out) == 1 and out[0].error == 0, out
        return out[0]


def test_consumer_heartbeat_refuses_group_id_of_classic_group_with_members() -> None:
    c = Coordinators()
    c.classic_join()
    r = c.heartbeat("m", 0, [], topics=["t"], rebalance=REBALANCE)
    assert r.error == ErrorCode.GROUP_ID_NOT_FOUND
    assert "g" not in c.coord.consumer.groups


def test_commit_offsets_with_current_member_epoch_succeeds() -> None:
    c = Coordinators()
    r = c.join("a")
    assert c.commit("a", r.member_epoch) == [0]
    assert c.coord.committed("g", [("t", 0)])[0][2].offset == 5


def test_commit_offsets_with_stale_member_epoch_is_stale_member_epoch() -> None:
    c = Coordinators()
    a = c.join("a")
    c.join("b")
    r = c.heartbeat("a", a.member_epoch, sorted(tps("t", *range(6))))
    c.heartbeat("a", r.member_epoch, r.assignment)  # a reaches epoch 2
    assert c.coord.consumer.groups["g"].members["a"].epoch == 2
    assert c.commit("a", 1) == [ErrorCode.STALE_MEMBER_EPOCH]
    assert c.commit("a", 3) == [ErrorCode.STALE_MEMBER_EPOCH]
    assert c.commit("a", 2) == [0]
    assert c.coord.committed("g", [("t", 0)])[0][2].offset == 5


def test_commit_offsets_unknown_member_is_unknown_member_id() -> None:
    c = Coordinators()
    c.join("a")
    assert c.commit("ghost", 1) == [ErrorCode.UNKNOWN_MEMBER_ID]
    assert c.commit("", -1) == [ErrorCode.UNKNOWN_MEMBER_ID]  # a non-member, but the group has members
    assert c.coord.committed("g", [("t", 0)])[0][2] is None


def test_check_member_errors() -> None:
    h = Harness()
    h.join("a")
    h.coord.check_member("g", "a", 1)
    with pytest.raises(KafkaError) as e:
        h.coord.check_member("g", "a", 0)
    assert e.value.code == ErrorCode.STALE_MEMBER_EPOCH
    for gid, mid in (("g", "ghost"), ("nope", "a")):
        with pytest.raises(KafkaError) as e:
            h.coord.check_member(gid, mid, 1)
        assert e.value.code == ErrorCode.UNKNOWN_MEMBER_ID


def test_commit_offsets_non_member_on_empty_consumer_group_succeeds() -> None:
    c = Coordinators()
    c.join("a")
    assert c.heartbeat("a", -1).error == 0
    assert c.commit("", -1, offset=7) == [0]
    assert c.coord.committed("g", [("t", 0)])[0][2].offset == 7


def test_commit_offsets_epoch_minus_one_with_member_id_on_empty_consumer_group_succeeds() -> None:
    # ConsumerGroup.validateOffsetCommit: "if (memberEpoch < 0 && members().isEmpty()) return;" (any member id)
    c = Coordinators()
    c.join("a")
    assert c.heartbeat("a", -1).error == 0
    assert c.commit("a", -1, offset=8) == [0]


def test_commit_offsets_classic_member_after_consumer_group_emptied() -> None:
    # once the consumer group is empty, a classic group may take the id over; its members' commits count
    c = Coordinators()
    c.join("a")
    assert c.heartbeat("a", -1).error == 0
    j = c.classic_join()
    out: list = []
    c.coord.sync("g", j.generation, j.member_id, None, "consumer", "range", {j.member_id: b""}, out.append)
    assert out and out[0].error == 0
    assert c.commit(j.member_id, j.generation, offset=9) == [0]


def test_delete_group_non_empty_consumer_group_is_non_empty_group() -> None:
    c = Coordinators()
    c.join("a")
    with pytest.raises(KafkaError) as e:
        c.coord.delete_group("g")
    assert e.value.code == ErrorCode.NON_EMPTY_GROUP
    with pytest.raises(KafkaError) as e:
        c.coord.consumer.delete("g")
    assert e.value.code == ErrorCode.NON_EMPTY_GROUP
    assert "g" in c.coord.consumer.groups


def test_delete_group_empty_consumer_group_removes_it_and_offsets() -> None:
    c = Coordinators()
    r = c.join("a")
    assert c.commit("a", r.member_epoch) == [0]
    assert c.heartbeat("a", -1).error == 0
    c.coord.delete_group("g")
    assert "g" not in c.coord.consumer.groups and "g" not in c.coord.groups
    assert c.coord.committed("g", None) == []
    with pytest.raises(KafkaError) as e:
        c.coord.consumer.delete("g")
    assert e.value.code == ErrorCode.GROUP_ID_NOT_FOUND


def test_delete_group_classic_members_after_consumer_group_emptied_is_non_empty_group() -> None:
    c = Coordinators()
    c.join("a")
    assert c.heartbeat("a", -1).error == 0
    c.classic_join()
    with pytest.raises(KafkaError) as e:
        c.coord.delete_group("g")
    assert e.value.code == ErrorCode.NON_EMPTY_GROUP
    assert c.coord.groups["g"].members


def test_group_coordinator_tick_and_next_deadline_include_consumer_groups() -> None:
    c = Coordinators()
    c.join("a")
    assert c.coord.next_deadline() == START + SESSION
    assert c.deadlines == [START + SESSION]
    c.clock.advance(SESSION)
    c.coord.tick()
    assert not c.coord.consumer.groups["g"].members


# ---------------------------------------------------------------------------------------------- stateful model

TOPICS = ("t", "u", "v")
MAX_MEMBERS = 5
MACHINE_SESSION = 30_000


class ConsumerGroupMachine(RuleBasedStateMachine):
    """Up to five KIP-848 members joining, heartbeating with what they were last sent, leaving, expiring, while
    topics grow. Checks: exclusive ownership, assignments within target, epochs never decrease, and
    convergence to a Stable group with every subscribed partition assigned exactly once."""

    def __init__(self) -> None:
        super().__init__()
        self.h = Harness({"t": 3, "u": 2}, session=MACHINE_SESSION)
        self.clients: dict[str, Client] = {}
        self.counter = 0
        self.group_epoch = 0
        self.member_epochs: dict[str, int] = {}

    # -------------------------------------------------------------- helpers

    def _g(self) -> ConsumerGroup | None:
        return self.h.coord.groups.get("g")

    def _sync_expired(self) -> None:
        g = self._g()
        for mid in list(self.clients):
            if g is None or mid not in g.members:
                del self.clients[mid]

    def _check_after_beat(self, c: Client) -> None:
        g = self._g()
        m = g.members[c.member_id]
        assert c.epoch == m.epoch
        assert c.owned == m.assigned
        target = g.target.get(c.member_id, set())
        # right after its own heartbeat a member holds only target partitions, unless it is waiting to revoke
        if not m.pending_revocation:
            assert m.assigned <= target, (m, target)

    # -------------------------------------------------------------- rules

    @precondition(lambda self: len(self.clients) < MAX_MEMBERS)
    @rule(topics=st.sets(st.sampled_from(TOPICS), min_size=1, max_size=3), prefix=st.sampled_from("amz"),
          rebalance=st.sampled_from([5_000, 20_000, 60_000]))
    def join(self, topics: set[str], prefix: str, rebalance: int) -> None:
        # member ids chosen here (not generated) keep runs reproducible; the prefix varies their sort order,
        # which the assignors use
        self.counter += 1
        mid = f"{prefix}{self.counter}"
        c = self.h.join(mid, sorted(topics), rebalance=rebalance)
        assert c.member_id not in self.clients
        self.clients[c.member_id] = c
        self._check_after_beat(c)

    @precondition(lambda self: self.clients)
    @rule(data=st.data())
    def heartbeat(self, data) -> None:
        mid = data.draw(st.sampled_from(sorted(self.clients)))
        c = self.clients[mid]
        c.beat()
        self._check_after_beat(c)

    @precondition(lambda self: self.clients)
    @rule(data=st.data())
    def leave(self, data) -> None:
        mid = data.draw(st.sampled_from(sorted(self.clients)))
        c = self.clients.pop(mid)
        r = self.h.hb(mid, -1, c.owned)
        assert (r.error, r.member_epoch) == (0, -1)
        assert mid not in self._g().members

    @rule(ms=st.integers(0, MACHINE_SESSION + 5_000))
    def tick(self, ms: int) -> None:
        self.h.tick(ms)
        self._sync_expired()

    @rule(topic=st.sampled_from(TOPICS), more=st.integers(1, 3))
    def grow(self, topic: str, more: int) -> None:
        self.h.partitions[topic] = self.h.partitions.get(topic, 0) + more

    @precondition(lambda self: self.clients)
    @rule()
    def settle(self) -> None:
        clients = list(self.clients.values())
        g = self._g()
        for _ in range(6):
            for c in clients:
                c.beat()
                self._check_after_beat(c)
            if g.state == ConsumerGroupState.STABLE:
                break
        assert g.state == ConsumerGroupState.STABLE, g
        subscribed = {t for c in clients for t in c.topics if t in self.h.partitions}
        expected = every_partition({t: self.h.partitions[t] for t in subscribed})
        got = Counter(tp for c in clients for tp in c.owned)
        assert set(got) == expected and all(n == 1 for n in got.values()), got
        for c in clients:
            assert {t for t, _ in c.owned} <= set(c.topics)
            assert c.epoch == g.epoch

    # -------------------------------------------------------------- invariants

    @invariant()
    def no_partition_held_twice(self) -> None:
        g = self._g()
        if g is None:
            return
        seen: dict[TopicPartition, str] = {}
        for mid, m in g.members.items():
            for tp in m.assigned | m.pending_revocation:
                assert tp not in seen, f"{tp} held by {seen[tp]} and {mid}"
                seen[tp] = mid
            assert not m.assigned & m.pending_revocation

    @invariant()
    def reconciled_members_hold_only_target(self) -> None:
        g = self._g()
        if g is None:
            return
        for mid, m in g.members.items():
            if m.epoch == g.assignment_epoch:
                assert not m.pending_revocation, m
                assert m.assigned <= g.target.get(mid, set()), (m, g.target.get(mid))

    @invariant()
    def epochs_never_decrease(self) -> None:
        g = self._g()
        if g is None:
            return
        assert g.epoch >= self.group_epoch
        self.group_epoch = g.epoch
        for mid, m in g.members.items():
            assert m.epoch >= self.member_epochs.get(mid, 0), (mid, m.epoch, self.member_epochs[mid])
            assert m.epoch <= g.epoch
            self.member_epochs[mid] = m.epoch

    @invariant()
    def clients_match_server(self) -> None:
        g = self._g()
        if g is None:
            assert not self.clients
            return
        assert set(self.clients) == set(g.members)
        for mid, c in self.clients.items():
            assert c.owned == g.members[mid].assigned


ConsumerGroupMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=50, deadline=None,
                                                  suppress_health_check=[HealthCheck.too_slow])
test_consumer_group_state_machine_invariants_hold = ConsumerGroupMachine.TestCase


def test_heartbeat_join_with_owned_partitions_is_invalid_request() -> None:
    coord = ConsumerGroupCoordinator(Clock(), {"t": 2}.get)
    r = coord.heartbeat("g", "m1", 0, None, None, 30000, ["t"], None, [("t", 0)], "c", "/h", False)
    assert r.error == ErrorCode.INVALID_REQUEST
    assert "g" not in coord.groups


def test_heartbeat_empty_member_id_with_epoch_is_invalid_request() -> None:
    coord = ConsumerGroupCoordinator(Clock(), {"t": 2}.get)
    r = coord.heartbeat("g", "", 3, None, None, -1, None, None, None, "c", "/h", False)
    assert r.error == ErrorCode.INVALID_REQUEST


def test_heartbeat_regex_subscription_follows_new_topics() -> None:
    parts = {"orders-eu": 2, "audit": 1}
    coord = ConsumerGroupCoordinator(Clock(), parts.get, topic_names=lambda: list(parts))
    r = coord.heartbeat("g", "m1", 0, None, None, 30000, None, None, [], "c", "/h", False, regex="orders-.*")
    assert r.error == 0 and sorted(r.assignment) == [("orders-eu", 0), ("orders-eu", 1)]
    parts["orders-us"] = 1  # a matching topic is created later
    r = coord.heartbeat("g", "m1", r.member_epoch, None, None, -1, None, None, None, "c", "/h", False)
    assert r.error == 0 and ("orders-us", 0) in r.assignment and ("audit", 0) not in r.assignment


def test_heartbeat_invalid_regex_is_invalid_request() -> None:
    coord = ConsumerGroupCoordinator(Clock(), {}.get)
    r = coord.heartbeat("g", "m1", 0, None, None, 30000, None, None, [], "c", "/h", False, regex="(")
    assert r.error == ErrorCode.INVALID_REQUEST
