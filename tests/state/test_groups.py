"""The classic consumer-group coordinator (state/groups.py), driven synchronously with a fake clock.

Expected behaviour is Kafka's GroupCoordinator / GroupMetadata (and the classic-group half of Kafka 4's
group coordinator where the two agree).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.state.clock import ManualClock
from kafkasim.state.consumer_protocol import consumer_assignment, consumer_subscription, lag
from kafkasim.state.group_model import Group, GroupConfig, GroupState, JoinResult, SyncResult
from kafkasim.state.groups import GroupCoordinator

SESSION = 10_000
REBALANCE = 30_000
START = 1_000_000


# ---------------------------------------------------------------------------------------------- helpers


def _str16(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def subscription(*topics: str) -> bytes:
    """Consumer-protocol subscription v0: version, topics, null user data."""
    return struct.pack(">hi", 0, len(topics)) + b"".join(_str16(t) for t in topics) + struct.pack(">i", -1)


def assignment(parts: dict[str, list[int]]) -> bytes:
    """Consumer-protocol assignment v0: version, [topic, [partition]], null user data."""
    out = struct.pack(">hi", 0, len(parts))
    for topic, ps in parts.items():
        out += _str16(topic) + struct.pack(">i", len(ps)) + b"".join(struct.pack(">i", p) for p in ps)
    return out + struct.pack(">i", -1)


SUB_T = subscription("t")
PROTOCOLS = [("range", SUB_T)]


class Harness:
    """A coordinator with a fake clock, recorded deadlines and list-collecting callbacks."""

    def __init__(self, config: GroupConfig | None = None,
                 topic_partitions: Callable[[str], int | None] = lambda t: 3 if t == "t" else None) -> None:
        self.clock = ManualClock(START)
        self.deadlines: list[int] = []
        self.coord = GroupCoordinator(config or GroupConfig(), self.clock, topic_partitions=topic_partitions)
        self.coord.schedule = lambda d: self.deadlines.append(d)

    @property
    def now(self) -> int:
        return self.clock.now

    def group(self, group_id: str = "g") -> Group:
        g = self.coord.group(group_id)
        assert g is not None
        return g

    def join(self, member_id: str = "", *, group: str = "g", instance: str | None = None, client_id: str = "c",
             session: int = SESSION, rebalance: int = REBALANCE, protocol_type: str = "consumer",
             protocols: list[tuple[str, bytes]] | None = None, require_known: bool = False) -> list[JoinResult]:
        out: list[JoinResult] = []
        self.coord.join(group, member_id, instance, client_id, "/127.0.0.1", session, rebalance, protocol_type,
                        PROTOCOLS if protocols is None else protocols, require_known, out.append)
        return out

    def sync(self, member_id: str, generation: int, assignments: dict[str, bytes] | None = None, *,
             group: str = "g", instance: str | None = None, protocol_type: str | None = None,
             protocol_name: str | None = None) -> list[SyncResult]:
        out: list[SyncResult] = []
        self.coord.sync(group, generation, member_id, instance, protocol_type, protocol_name, assignments or {},
                        out.append)
        return out

    def heartbeat(self, member_id: str, generation: int, *, group: str = "g", instance: str | None = None) -> int:
        return self.coord.heartbeat(group, generation, member_id, instance)

    def commit(self, member_id: str, generation: int, offsets: list[tuple[str, int, int, int, str | None]], *,
               group: str = "g", instance: str | None = None) -> list[int]:
        return self.coord.commit_offsets(group, generation, member_id, instance, offsets)

    def tick(self, advance_ms: int = 0) -> None:
        self.clock.advance(advance_ms)
        self.coord.tick()


def only(results: list):
    assert len(results) == 1, results
    return results[0]


def form_group(h: Harness, n: int, *, instances: list[str | None] | None = None, **kw) -> list[JoinResult]:
    """n new members joined into one generation (CompletingRebalance); results in join order."""
    inst = instances or [None] * n
    first = only(h.join(client_id="c0", instance=inst[0], **kw))
    assert first.error == 0
    if n == 1:
        return [first]
    pending = [h.join(client_id=f"c{i}", instance=inst[i], **kw) for i in range(1, n)]
    assert all(p == [] for p in pending)
    again = only(h.join(first.member_id, client_id="c0", instance=inst[0], **kw))
    results = [again] + [only(p) for p in pending]
    assert all(r.error == 0 for r in results)
    assert h.group().state == GroupState.COMPLETING_REBALANCE
    return results


def stabilize(h: Harness, results: list[JoinResult], *, instances: list[str | None] | None = None
              ) -> dict[str, bytes]:
    """Followers sync, then the leader with one partition of "t" each; the group is Stable."""
    inst = instances or [None] * len(results)
    leader = results[0].leader
    ids = [r.member_id for r in results]
    assignments = {mid: assignment({"t": [i]}) for i, mid in enumerate(ids)}
    waiting = {}
    for r, i in zip(results, inst, strict=True):
        if r.member_id != leader:
            waiting[r.member_id] = h.sync(r.member_id, r.generation, instance=i)
            assert waiting[r.member_id] == []
    lr = next(r for r in results if r.member_id == leader)
    li = inst[ids.index(leader)]
    assert only(h.sync(leader, lr.generation, assignments, instance=li)) == SyncResult(
        0, "consumer", "range", assignments[leader])
    for mid, out in waiting.items():
        assert only(out) == SyncResult(0, "consumer", "range", assignments[mid])
    assert h.group().state == GroupState.STABLE
    return assignments


def stable_group(h: Harness, n: int, *, instances: list[str | None] | None = None, **kw
                 ) -> tuple[list[JoinResult], dict[str, bytes]]:
    results = form_group(h, n, instances=instances, **kw)
    return results, stabilize(h, results, instances=instances)


# ---------------------------------------------------------------------------------------------- JoinGroup


def test_join_member_id_required_round_trip_then_single_member_completes() -> None:
    h = Harness()
    r = only(h.join(require_known=True, client_id="app"))
    assert r.error == ErrorCode.MEMBER_ID_REQUIRED
    assert r.member_id.startswith("app-")
    g = h.group()
    assert g.state == GroupState.EMPTY and not g.members
    assert g.pending_members == {r.member_id: h.now + SESSION}
    assert h.deadlines == [h.now + SESSION]

    done = only(h.join(r.member_id, require_known=True, client_id="app"))
    assert done == JoinResult(0, 1, "consumer", "range", r.member_id, r.member_id, [(r.member_id, None, SUB_T)])
    assert g.state == GroupState.COMPLETING_REBALANCE
    assert g.generation == 1 and g.leader_id == r.member_id
    assert not g.pending_members
    assert h.now + SESSION in h.deadlines  # heartbeat expiry
    assert h.now + REBALANCE in h.deadlines  # the sync deadline


def test_join_leader_gets_members_metadata_followers_get_none() -> None:
    h = Harness()
    sub_other = subscription("t", "u")
    first = only(h.join(client_id="a"))
    pending = h.join(client_id="b", protocols=[("range", sub_other)])
    a, b = only(h.join(first.member_id, client_id="a")), only(pending)
    assert a.leader == b.leader == a.member_id
    assert a.generation == b.generation == 2
    assert sorted(a.members) == sorted([(a.member_id, None, SUB_T), (b.member_id, None, sub_other)])
    assert b.members == []
    assert not a.skip_assignment and not b.skip_assignment


def test_join_second_member_triggers_rebalance() -> None:
    h = Harness()
    (a,), _ = stable_group(h, 1)
    assert a.generation == 1
    pending_b = h.join(client_id="b")
    assert pending_b == []
    g = h.group()
    assert g.state == GroupState.PREPARING_REBALANCE
    assert g.rebalance_deadline == h.now + REBALANCE and g.rebalance_deadline in h.deadlines
    assert h.heartbeat(a.member_id, 1) == ErrorCode.REBALANCE_IN_PROGRESS
    a2 = only(h.join(a.member_id, client_id="a"))
    b = only(pending_b)
    assert a2.error == b.error == 0
    assert a2.generation == b.generation == 2
    assert a2.leader == b.leader == a.member_id
    assert g.state == GroupState.COMPLETING_REBALANCE
    assert h.heartbeat(a.member_id, 2) == 0  # heartbeats are fine while completing


def test_join_while_preparing_replaces_previous_pending_join() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2)
    first = h.join(a.member_id)
    assert first == []
    second = h.join(a.member_id)
    assert only(first).error == ErrorCode.REBALANCE_IN_PROGRESS
    assert second == []
    only(h.join(b.member_id))
    assert only(second).error == 0


def test_join_follower_with_same_metadata_while_stable_gets_current_generation() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2)
    r = only(h.join(b.member_id))
    assert (r.error, r.generation, r.leader, r.members) == (0, a.generation, a.member_id, [])
    assert h.group().state == GroupState.STABLE


def test_join_leader_rejoin_while_stable_rebalances() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2)
    assert h.join(a.member_id) == []
    assert h.group().state == GroupState.PREPARING_REBALANCE


def test_join_follower_with_changed_metadata_while_stable_rebalances() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2)
    assert h.join(b.member_id, protocols=[("range", subscription("t", "u"))]) == []
    assert h.group().state == GroupState.PREPARING_REBALANCE


def test_join_protocol_chosen_by_votes() -> None:
    h = Harness()
    both = [("range", SUB_T), ("roundrobin", SUB_T)]
    rr_first = [("roundrobin", SUB_T), ("range", SUB_T)]
    first = only(h.join(protocols=both))
    pending = [h.join(protocols=rr_first), h.join(protocols=rr_first + [("sticky", SUB_T)])]
    a = only(h.join(first.member_id, protocols=both))
    assert a.protocol_name == "roundrobin"
    assert all(only(p).protocol_name == "roundrobin" for p in pending)
    assert h.group().protocol_name == "roundrobin"


def test_join_without_common_protocol_is_inconsistent_group_protocol() -> None:
    h = Harness()
    form_group(h, 2, protocols=[("range", SUB_T), ("roundrobin", SUB_T)])
    r = only(h.join(protocols=[("sticky", SUB_T)]))
    assert r.error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert len(h.group().members) == 2
    assert only(h.join(protocols=[])).error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert only(h.join(protocol_type="connect")).error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert h.group().state == GroupState.COMPLETING_REBALANCE


def test_join_invalid_session_timeout_is_rejected() -> None:
    h = Harness(GroupConfig(min_session_timeout_ms=6000, max_session_timeout_ms=60000))
    assert only(h.join(session=5999)).error == ErrorCode.INVALID_SESSION_TIMEOUT
    assert only(h.join(session=60001)).error == ErrorCode.INVALID_SESSION_TIMEOUT
    assert h.coord.group("g") is None
    assert only(h.join(session=6000)).error == 0


def test_join_empty_group_id_is_invalid_group_id() -> None:
    h = Harness()
    assert only(h.join(group="")).error == ErrorCode.INVALID_GROUP_ID
    assert h.coord.groups == {}


def test_join_unknown_member_id_on_unknown_group_is_unknown_member_id() -> None:
    h = Harness()
    assert only(h.join("ghost")).error == ErrorCode.UNKNOWN_MEMBER_ID
    assert h.coord.group("g") is None
    form_group(h, 1)
    assert only(h.join("ghost")).error == ErrorCode.UNKNOWN_MEMBER_ID


def test_join_rebalance_timeout_v0_defaults_to_session_timeout() -> None:
    h = Harness()
    r = only(h.join(rebalance=-1))
    assert h.group().members[r.member_id].rebalance_timeout_ms == SESSION


def test_join_group_max_size_reached() -> None:
    h = Harness(GroupConfig(max_size=1))
    form_group(h, 1)
    assert only(h.join()).error == ErrorCode.GROUP_MAX_SIZE_REACHED


# ---------------------------------------------------------------------------------------------- SyncGroup


def test_sync_followers_wait_for_leader_then_all_get_assignments() -> None:
    h = Harness()
    a, b, c = form_group(h, 3)
    g = h.group()
    assert a.leader == a.member_id
    wb = h.sync(b.member_id, b.generation)
    wc = h.sync(c.member_id, c.generation)
    assert wb == [] and wc == []
    assert g.state == GroupState.COMPLETING_REBALANCE
    asg = {a.member_id: assignment({"t": [0]}), b.member_id: assignment({"t": [1, 2]})}  # c gets nothing
    assert only(h.sync(a.member_id, a.generation, asg)) == SyncResult(0, "consumer", "range", asg[a.member_id])
    assert only(wb) == SyncResult(0, "consumer", "range", asg[b.member_id])
    assert only(wc) == SyncResult(0, "consumer", "range", b"")
    assert g.state == GroupState.STABLE
    assert g.sync_deadline is None or not g.pending_sync
    # a repeated sync while Stable answers the stored assignment at once
    assert only(h.sync(b.member_id, b.generation)).assignment == asg[b.member_id]


def test_sync_wrong_generation_is_illegal_generation() -> None:
    h = Harness()
    a, b = form_group(h, 2)
    assert only(h.sync(b.member_id, b.generation - 1)).error == ErrorCode.ILLEGAL_GENERATION
    assert only(h.sync(a.member_id, a.generation + 1, {})).error == ErrorCode.ILLEGAL_GENERATION
    assert h.group().state == GroupState.COMPLETING_REBALANCE


def test_sync_unknown_member_is_unknown_member_id() -> None:
    h = Harness()
    a, _ = form_group(h, 2)
    assert only(h.sync("ghost", a.generation)).error == ErrorCode.UNKNOWN_MEMBER_ID
    assert only(h.sync(a.member_id, a.generation, group="nope")).error == ErrorCode.UNKNOWN_MEMBER_ID


def test_sync_inconsistent_protocol_is_rejected() -> None:
    h = Harness()
    a, _ = form_group(h, 2)
    assert only(h.sync(a.member_id, a.generation, protocol_type="connect")).error == \
        ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert only(h.sync(a.member_id, a.generation, protocol_name="roundrobin")).error == \
        ErrorCode.INCONSISTENT_GROUP_PROTOCOL


def test_sync_while_preparing_is_rebalance_in_progress() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2)
    h.join(client_id="new")
    assert only(h.sync(b.member_id, b.generation)).error == ErrorCode.REBALANCE_IN_PROGRESS


def test_sync_waiting_followers_get_rebalance_in_progress_when_rebalance_starts() -> None:
    h = Harness()
    a, b = form_group(h, 2)
    wb = h.sync(b.member_id, b.generation)
    assert wb == []
    h.join(client_id="late")
    assert only(wb).error == ErrorCode.REBALANCE_IN_PROGRESS
    assert h.group().state == GroupState.PREPARING_REBALANCE


# ---------------------------------------------------------------------------------------------- Heartbeat


def test_heartbeat_old_generation_is_illegal_generation() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2)
    assert h.heartbeat(b.member_id, b.generation) == 0
    assert h.heartbeat(b.member_id, b.generation - 1) == ErrorCode.ILLEGAL_GENERATION
    assert h.heartbeat("ghost", b.generation) == ErrorCode.UNKNOWN_MEMBER_ID
    assert h.heartbeat(b.member_id, b.generation, group="nope") == ErrorCode.UNKNOWN_MEMBER_ID


def test_heartbeat_extends_session() -> None:
    h = Harness()
    (a,), _ = stable_group(h, 1)
    h.clock.advance(SESSION - 1)
    assert h.heartbeat(a.member_id, a.generation) == 0
    assert h.group().members[a.member_id].heartbeat_deadline == h.now + SESSION
    assert h.now + SESSION in h.deadlines
    h.tick(SESSION - 1)
    assert a.member_id in h.group().members


# ---------------------------------------------------------------------------------------------- LeaveGroup


def test_leave_triggers_rebalance_and_remaining_member_rejoins() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2)
    assert h.coord.leave("g", [(b.member_id, None)]) == (0, [0])
    g = h.group()
    assert b.member_id not in g.members
    assert g.state == GroupState.PREPARING_REBALANCE
    assert h.heartbeat(a.member_id, a.generation) == ErrorCode.REBALANCE_IN_PROGRESS
    r = only(h.join(a.member_id))
    assert (r.error, r.generation, r.leader) == (0, a.generation + 1, a.member_id)
    assert [m for m, _, _ in r.members] == [a.member_id]
    assert h.heartbeat(b.member_id, r.generation) == ErrorCode.UNKNOWN_MEMBER_ID


def test_leave_unknown_member_or_group_is_unknown_member_id() -> None:
    h = Harness()
    stable_group(h, 1)
    assert h.coord.leave("g", [("ghost", None)]) == (0, [ErrorCode.UNKNOWN_MEMBER_ID])
    assert h.coord.leave("nope", [("x", None)])[1] == [ErrorCode.UNKNOWN_MEMBER_ID]


def test_leave_of_waiting_member_answers_its_join() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2)
    wa = h.join(a.member_id)
    assert wa == []
    assert h.coord.leave("g", [(a.member_id, None)]) == (0, [0])
    assert only(wa).error == ErrorCode.UNKNOWN_MEMBER_ID


def test_leave_of_pending_member_lets_join_complete() -> None:
    h = Harness()
    (a,), _ = stable_group(h, 1)
    pending = only(h.join(require_known=True))
    assert pending.error == ErrorCode.MEMBER_ID_REQUIRED
    wa = h.join(a.member_id)
    assert wa == []  # the rebalance waits for the member whose id is outstanding (Kafka: hasAllMembersJoined)
    assert h.coord.leave("g", [(pending.member_id, None)]) == (0, [0])
    assert only(wa).error == 0 and only(wa).generation == a.generation + 1


def test_leave_of_last_member_empties_group() -> None:
    # Kafka: the rebalance that removing the last member starts has nobody to wait for, so it completes
    # at once: the group is Empty (and deletable) right after the LeaveGroup.
    h = Harness()
    (a,), _ = stable_group(h, 1)
    assert h.coord.leave("g", [(a.member_id, None)]) == (0, [0])
    assert h.group().state == GroupState.EMPTY
    h.coord.delete_group("g")
    assert h.coord.group("g") is None


# ---------------------------------------------------------------------------------------------- timers


def test_session_expiry_removes_member_and_rebalances() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2)
    h.tick(SESSION // 2)
    assert h.heartbeat(a.member_id, a.generation) == 0
    h.tick(SESSION // 2 - 1)
    g = h.group()
    assert b.member_id in g.members and g.state == GroupState.STABLE
    h.tick(1)  # b's session timeout has passed; a heartbeated half-way
    assert b.member_id not in g.members
    assert g.state == GroupState.PREPARING_REBALANCE
    assert h.heartbeat(a.member_id, a.generation) == ErrorCode.REBALANCE_IN_PROGRESS
    r = only(h.join(a.member_id))
    assert r.generation == a.generation + 1 and [m for m, _, _ in r.members] == [a.member_id]


def test_session_expiry_of_last_member_empties_group() -> None:
    h = Harness()
    (a,), _ = stable_group(h, 1)
    h.tick(SESSION)
    g = h.group()
    assert not g.members
    assert g.state == GroupState.EMPTY


def test_session_expiry_of_pending_member_forgets_it() -> None:
    h = Harness()
    r = only(h.join(require_known=True))
    h.tick(SESSION)
    assert not h.group().pending_members
    assert only(h.join(r.member_id)).error == ErrorCode.UNKNOWN_MEMBER_ID


def test_rebalance_timeout_removes_member_that_does_not_rejoin() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2)
    wc = h.join(client_id="c")
    wa = h.join(a.member_id)
    assert wc == [] and wa == []
    g = h.group()
    deadline = g.rebalance_deadline
    assert deadline == h.now + REBALANCE and deadline in h.deadlines
    # b stays alive by heartbeating but never rejoins
    for _ in range(3):
        h.tick(SESSION - 1)
        assert h.heartbeat(b.member_id, b.generation) == ErrorCode.REBALANCE_IN_PROGRESS
    assert h.now < deadline and wa == []
    h.clock.now = deadline
    h.coord.tick()
    ra, rc = only(wa), only(wc)
    assert ra.error == rc.error == 0 and ra.generation == a.generation + 1
    assert sorted(m for m, _, _ in ra.members) == sorted([a.member_id, rc.member_id])
    assert b.member_id not in g.members
    assert h.heartbeat(b.member_id, b.generation) == ErrorCode.UNKNOWN_MEMBER_ID
    assert only(h.join(b.member_id)).error == ErrorCode.UNKNOWN_MEMBER_ID


def test_rebalance_timeout_with_nobody_rejoining_empties_group() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2, session=REBALANCE * 2)
    h.coord.leave("g", [(b.member_id, None)])
    assert h.group().state == GroupState.PREPARING_REBALANCE
    h.tick(REBALANCE)
    g = h.group()
    assert g.state == GroupState.EMPTY and not g.members and g.generation == a.generation + 1


def test_sync_timeout_leader_never_syncs_is_removed_and_group_rebalances() -> None:
    h = Harness()
    a, b = form_group(h, 2)
    wb = h.sync(b.member_id, b.generation)
    g = h.group()
    assert g.sync_deadline == h.now + REBALANCE and g.sync_deadline in h.deadlines
    for _ in range(3):
        h.tick(SESSION - 1)
        assert h.heartbeat(a.member_id, a.generation) == 0  # the leader is alive, it just never syncs
        assert h.heartbeat(b.member_id, b.generation) == 0
    assert wb == []
    h.tick(REBALANCE - 3 * (SESSION - 1))
    assert only(wb).error == ErrorCode.REBALANCE_IN_PROGRESS
    assert a.member_id not in g.members
    assert g.state == GroupState.PREPARING_REBALANCE
    r = only(h.join(b.member_id))
    assert (r.error, r.generation, r.leader) == (0, b.generation + 1, b.member_id)


def test_sync_timeout_follower_that_never_syncs_after_leader_is_removed() -> None:
    # Kafka keeps every member that has not sent SyncGroup in the pending-sync set until the sync
    # deadline, also once the leader's assignment made the group Stable (GroupCoordinator.
    # onExpirePendingSync: CompletingRebalance | Stable); they are then removed and the group rebalances.
    h = Harness()
    a, b = form_group(h, 2)
    assert only(h.sync(a.member_id, a.generation, {a.member_id: b"x", b.member_id: b"y"})).error == 0
    g = h.group()
    assert g.state == GroupState.STABLE
    for _ in range(3):
        h.tick(SESSION - 1)
        assert h.heartbeat(a.member_id, a.generation) == 0
        assert h.heartbeat(b.member_id, b.generation) == 0  # b heartbeats but never sends SyncGroup
    h.tick(REBALANCE - 3 * (SESSION - 1))
    assert b.member_id not in g.members
    assert g.state == GroupState.PREPARING_REBALANCE


def test_sync_answer_restarts_session_of_waiting_follower() -> None:
    # Kafka (propagateAssignment): a member's session timer restarts when its SyncGroup is answered; its
    # expiry was ignored while it waited, so it must not be evicted for the time it spent waiting.
    h = Harness()
    a, b = form_group(h, 2)
    wb = h.sync(b.member_id, b.generation)  # b waits and does not heartbeat meanwhile
    for _ in range(2):
        h.tick(SESSION - 1)
        assert h.heartbeat(a.member_id, a.generation) == 0
    assert b.member_id in h.group().members  # waiting members are not expired
    assert only(h.sync(a.member_id, a.generation, {b.member_id: b"y"})).error == 0
    assert only(wb).assignment == b"y"
    h.tick(1)
    assert b.member_id in h.group().members
    assert h.group().state == GroupState.STABLE


def test_sync_error_answer_restarts_session_of_waiting_follower() -> None:
    h = Harness()
    a, b = form_group(h, 2)
    wb = h.sync(b.member_id, b.generation)
    for _ in range(2):
        h.tick(SESSION - 1)
        assert h.heartbeat(a.member_id, a.generation) == 0
    h.join(client_id="late")  # a new member: b's SyncGroup is answered REBALANCE_IN_PROGRESS
    assert only(wb).error == ErrorCode.REBALANCE_IN_PROGRESS
    h.tick(1)
    assert b.member_id in h.group().members  # b gets its session timeout to rejoin
    assert h.join(b.member_id) == []


def test_tick_before_deadlines_changes_nothing() -> None:
    h = Harness()
    a, b = form_group(h, 2)
    g = h.group()
    h.tick(SESSION - 1)
    assert g.state == GroupState.COMPLETING_REBALANCE and len(g.members) == 2


def test_next_deadline_is_earliest_deadline() -> None:
    h = Harness()
    assert h.coord.next_deadline() is None
    pending = only(h.join(require_known=True, session=8000))
    assert h.coord.next_deadline() == h.now + 8000
    h.clock.advance(100)
    h.join(group="g2", session=7000)
    g2 = h.group("g2")
    assert g2.state == GroupState.COMPLETING_REBALANCE
    assert h.coord.next_deadline() == h.now + 7000 == min(h.deadlines)
    h.coord.leave("g", [(pending.member_id, None)])
    assert h.coord.next_deadline() == h.now + 7000
    # every deadline the coordinator holds was announced
    assert h.coord.next_deadline() in h.deadlines


# ---------------------------------------------------------------------------------------------- initial delay


def test_initial_rebalance_delay_holds_first_join_until_tick() -> None:
    h = Harness(GroupConfig(initial_rebalance_delay_ms=3000))
    wa = h.join(client_id="a")
    assert wa == []
    g = h.group()
    assert g.state == GroupState.PREPARING_REBALANCE
    assert g.rebalance_deadline == h.now + 3000 and h.now + 3000 in h.deadlines
    h.tick(2999)
    assert wa == []
    h.clock.advance(1)
    assert wa == []  # time alone does nothing: tick acts on the deadline
    h.tick()
    a = only(wa)
    assert (a.error, a.generation, a.leader) == (0, 1, a.member_id)
    assert g.state == GroupState.COMPLETING_REBALANCE


def test_initial_rebalance_delay_members_joining_in_time_share_first_generation() -> None:
    h = Harness(GroupConfig(initial_rebalance_delay_ms=3000))
    wa = h.join(client_id="a")
    wb = h.join(client_id="b")
    h.tick(REBALANCE)
    a, b = only(wa), only(wb)
    assert a.error == b.error == 0 and a.generation == b.generation == 1
    assert len(a.members) == 2 and b.members == []


def test_initial_rebalance_delay_applies_only_to_empty_group() -> None:
    h = Harness(GroupConfig(initial_rebalance_delay_ms=3000))
    wa = h.join(client_id="a")
    h.tick(3000)
    a = only(wa)
    assert only(h.sync(a.member_id, a.generation, {})).error == 0
    wb = h.join(client_id="b")
    assert only(h.join(a.member_id)).generation == 2  # no delay once the group has a generation
    assert only(wb).generation == 2


def test_initial_rebalance_delay_is_extended_by_new_members() -> None:
    # Kafka's InitialDelayedJoin: when a member joined during the delay, wait another
    # group.initial.rebalance.delay.ms (bounded by the rebalance timeout) before completing.
    h = Harness(GroupConfig(initial_rebalance_delay_ms=3000))
    wa = h.join(client_id="a")
    h.tick(2000)
    wb = h.join(client_id="b")
    h.tick(1000)  # the first delay is over, but b arrived during it
    assert wa == [] and wb == []
    h.tick(3000)
    assert only(wa).error == only(wb).error == 0


# ---------------------------------------------------------------------------------------------- static members


def test_static_member_restart_while_stable_keeps_generation_and_assignment() -> None:
    h = Harness()
    (a, b), asg = stable_group(h, 2, instances=["ia", "ib"])
    g = h.group()
    gen = g.generation
    n_deadlines = len(h.deadlines)
    r = only(h.join("", instance="ib", client_id="c1"))
    new_b = r.member_id
    assert r.error == 0 and new_b != b.member_id
    assert (r.generation, r.leader, r.members, r.skip_assignment) == (gen, a.member_id, [], False)
    assert g.state == GroupState.STABLE and g.generation == gen
    assert g.static_members["ib"] == new_b and b.member_id not in g.members
    assert g.rebalance_deadline is None
    assert h.now + SESSION in h.deadlines[n_deadlines:]
    assert only(h.sync(new_b, gen, instance="ib")) == SyncResult(0, "consumer", "range", asg[b.member_id])
    # the previous incarnation is fenced everywhere
    assert h.heartbeat(b.member_id, gen, instance="ib") == ErrorCode.FENCED_INSTANCE_ID
    assert only(h.sync(b.member_id, gen, instance="ib")).error == ErrorCode.FENCED_INSTANCE_ID
    assert h.commit(b.member_id, gen, [("t", 0, 1, -1, None)], instance="ib") == [ErrorCode.FENCED_INSTANCE_ID]
    assert only(h.join(b.member_id, instance="ib")).error == ErrorCode.FENCED_INSTANCE_ID
    # the new one works
    assert h.heartbeat(new_b, gen, instance="ib") == 0
    assert h.commit(new_b, gen, [("t", 1, 5, -1, None)], instance="ib") == [0]


def test_static_leader_restart_while_stable_skips_assignment() -> None:
    h = Harness()
    (a, b), asg = stable_group(h, 2, instances=["ia", "ib"])
    r = only(h.join("", instance="ia"))
    assert r.error == 0 and r.skip_assignment
    assert r.leader == r.member_id != a.member_id
    assert sorted(m for m, _, _ in r.members) == sorted([r.member_id, b.member_id])
    g = h.group()
    assert g.state == GroupState.STABLE and g.leader_id == r.member_id
    assert only(h.sync(r.member_id, r.generation, instance="ia")).assignment == asg[a.member_id]


def test_static_member_restart_with_changed_subscription_keeps_generation() -> None:
    # Kafka's updateStaticMemberAndRebalance: in Stable, only a change of the group's selected protocol
    # triggers a rebalance; a returning static leader learns the members (KIP-814) to spot the rest
    h = Harness()
    (a, b), _ = stable_group(h, 2, instances=["ia", "ib"])
    r = only(h.join("", instance="ib", protocols=[("range", subscription("t", "u"))]))
    assert r.error == 0 and r.generation == b.generation
    assert h.group().state == GroupState.STABLE


def test_static_member_restart_while_waiting_fences_old_join() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2, instances=["ia", "ib"])
    old = h.join(b.member_id, instance="ib", protocols=[("range", subscription("u"))])
    assert old == []
    new = h.join("", instance="ib")
    assert only(old).error == ErrorCode.FENCED_INSTANCE_ID
    assert new == []
    only(h.join(a.member_id, instance="ia"))
    assert only(new).error == 0


def test_static_instance_id_with_mismatching_member_id_is_fenced() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2, instances=["ia", "ib"])
    assert only(h.join("bogus", instance="ib")).error == ErrorCode.FENCED_INSTANCE_ID
    assert only(h.join(a.member_id, instance="ib")).error == ErrorCode.FENCED_INSTANCE_ID
    assert h.heartbeat(a.member_id, a.generation, instance="ib") == ErrorCode.FENCED_INSTANCE_ID
    assert only(h.sync(a.member_id, a.generation, instance="ib")).error == ErrorCode.FENCED_INSTANCE_ID
    assert h.coord.leave("g", [(a.member_id, "ib")]) == (0, [ErrorCode.FENCED_INSTANCE_ID])
    assert h.group().state == GroupState.STABLE


def test_leave_by_instance_id_removes_static_member() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2, instances=["ia", "ib"])
    assert h.coord.leave("g", [("", "zz")]) == (0, [ErrorCode.UNKNOWN_MEMBER_ID])
    assert h.coord.leave("g", [("", "ib")]) == (0, [0])
    g = h.group()
    assert b.member_id not in g.members and "ib" not in g.static_members
    assert g.state == GroupState.PREPARING_REBALANCE
    # the instance can come back as a new member
    w = h.join("", instance="ib")
    assert w == []
    only(h.join(a.member_id, instance="ia"))
    assert only(w).error == 0 and g.static_members["ib"] == only(w).member_id


def test_static_member_not_rejoining_is_kept_at_rebalance_timeout() -> None:
    # Kafka's onCompleteJoin removes only *dynamic* members that have not rejoined; a static member that
    # is bouncing keeps its place (it is fenced or expires through its session timeout instead).
    h = Harness()
    (a, b), _ = stable_group(h, 2, instances=["ia", "ib"], session=REBALANCE * 2)
    wc = h.join(client_id="c")
    wa = h.join(a.member_id, instance="ia", session=REBALANCE * 2)
    h.tick(REBALANCE)
    g = h.group()
    ra = only(wa)
    assert only(wc).error == 0 and ra.error == 0
    assert b.member_id in g.members and g.static_members.get("ib") == b.member_id
    assert b.member_id in [m for m, _, _ in ra.members]


# ---------------------------------------------------------------------------------------------- protocol type


def test_join_empty_group_with_offsets_takes_new_members_protocol_type() -> None:
    # Kafka's GroupMetadata.add: the first member of an empty group sets the group's protocol type.
    h = Harness()
    (a,), _ = stable_group(h, 1)
    assert h.commit(a.member_id, a.generation, [("t", 0, 1, -1, None)]) == [0]
    h.coord.leave("g", [(a.member_id, None)])
    h.tick()
    g = h.group()
    assert g.state == GroupState.EMPTY and g.offsets
    r = only(h.join(protocol_type="connect", protocols=[("default", b"")]))
    assert r.error == 0 and r.protocol_type == "connect"
    assert only(h.sync(r.member_id, r.generation, {}, protocol_type="connect")).error == 0
    assert h.join(protocol_type="connect", protocols=[("default", b"")]) == []  # a second worker joins


# ---------------------------------------------------------------------------------------------- offsets


def test_commit_by_non_member_on_new_group_is_stored() -> None:
    h = Harness()
    assert h.commit("", -1, [("t", 0, 42, 7, "meta"), ("t", 2, 9, -1, None)], group="manual") == [0, 0]
    g = h.group("manual")
    assert g.state == GroupState.EMPTY and not g.members
    assert h.coord.committed("manual", [("t", 0), ("t", 1)]) == [
        ("t", 0, (42, 7, "meta", h.now)), ("t", 1, None)]
    e = h.coord.committed("manual", None)
    assert [(t, p, x.offset, x.leader_epoch, x.metadata) for t, p, x in e] == [
        ("t", 0, 42, 7, "meta"), ("t", 2, 9, -1, "")]
    # a second commit on the existing empty group also works and overwrites
    h.clock.advance(5)
    assert h.commit("", -1, [("t", 0, 43, 8, "")], group="manual") == [0]
    assert h.coord.committed("manual", [("t", 0)]) == [("t", 0, (43, 8, "", h.now))]


def test_commit_with_generation_on_unknown_group_is_illegal_generation() -> None:
    h = Harness()
    assert h.commit("", 3, [("t", 0, 1, -1, None)], group="x") == [ErrorCode.ILLEGAL_GENERATION]
    assert h.coord.group("x") is None
    assert h.commit("", -1, [("t", 0, 1, -1, None)], group="") == [ErrorCode.INVALID_GROUP_ID]


def test_commit_by_member_with_right_generation_is_stored() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2)
    h.clock.advance(SESSION - 1)
    assert h.commit(b.member_id, b.generation, [("t", 1, 10, 0, "x")]) == [0]
    assert h.group().members[b.member_id].heartbeat_deadline == h.now + SESSION  # a commit counts as heartbeat
    assert h.coord.committed("g", [("t", 1)])[0][2].offset == 10


def test_commit_with_wrong_generation_is_illegal_generation() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2)
    assert h.commit(b.member_id, b.generation - 1, [("t", 1, 10, 0, None)]) == [ErrorCode.ILLEGAL_GENERATION]
    assert h.commit("ghost", b.generation, [("t", 1, 10, 0, None)]) == [ErrorCode.UNKNOWN_MEMBER_ID]
    assert h.commit("", -1, [("t", 1, 10, 0, None)]) == [ErrorCode.UNKNOWN_MEMBER_ID]  # non-member, live group
    assert h.coord.committed("g", None) == []


def test_commit_during_completing_rebalance_is_rebalance_in_progress() -> None:
    h = Harness()
    a, b = form_group(h, 2)
    assert h.commit(b.member_id, b.generation, [("t", 0, 1, -1, None)] * 2) == [ErrorCode.REBALANCE_IN_PROGRESS] * 2
    assert h.coord.committed("g", None) == []


def test_commit_during_preparing_rebalance_by_member_is_stored() -> None:
    h = Harness()
    (a, b), _ = stable_group(h, 2)
    h.join(client_id="new")
    assert h.group().state == GroupState.PREPARING_REBALANCE
    assert h.commit(a.member_id, a.generation, [("t", 0, 3, -1, None)]) == [0]


def test_commit_stale_member_during_completing_rebalance_is_validated_first() -> None:
    # Kafka 3.x/4.x validate the member and generation before looking at the state (validateOffsetCommit):
    # a stale generation is ILLEGAL_GENERATION, an unknown member UNKNOWN_MEMBER_ID, even in
    # CompletingRebalance; REBALANCE_IN_PROGRESS is only for a current member of the current generation.
    h = Harness()
    a, b = form_group(h, 2)
    assert h.commit(b.member_id, b.generation - 1, [("t", 0, 1, -1, None)]) == [ErrorCode.ILLEGAL_GENERATION]
    assert h.commit("ghost", b.generation, [("t", 0, 1, -1, None)]) == [ErrorCode.UNKNOWN_MEMBER_ID]


def test_commit_unknown_partition_is_unknown_topic_or_partition() -> None:
    h = Harness()
    out = h.commit("", -1, [("t", 3, 1, -1, None), ("t", -1, 1, -1, None), ("other", 0, 1, -1, None),
                            ("t", 2, 1, -1, None)])
    assert out == [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION] * 3 + [0]
    assert [(t, p) for t, p, _ in h.coord.committed("g", None)] == [("t", 2)]


def test_commit_metadata_too_large_is_rejected() -> None:
    h = Harness()
    out = h.commit("", -1, [("t", 0, 1, -1, "m" * 4096), ("t", 1, 1, -1, "m" * 4097)])
    assert out == [0, ErrorCode.OFFSET_METADATA_TOO_LARGE]
    assert h.coord.committed("g", [("t", 0), ("t", 1)])[1][2] is None
    assert h.coord.committed("g", [("t", 0)])[0][2].metadata == "m" * 4096


def test_commit_metadata_limit_counts_characters() -> None:
    # Kafka checks metadata.length() (characters), not its UTF-8 size, against offset.metadata.max.bytes.
    h = Harness()
    assert h.commit("", -1, [("t", 0, 1, -1, "é" * 4096)]) == [0]


def test_committed_unknown_group_is_empty() -> None:
    h = Harness()
    assert h.coord.committed("nope", None) == []
    assert h.coord.committed("nope", [("t", 0)]) == [("t", 0, None)]


def test_remove_topic_drops_its_offsets() -> None:
    h = Harness(topic_partitions=lambda t: 3)
    h.commit("", -1, [("t", 0, 1, -1, None), ("u", 0, 2, -1, None)])
    h.coord.remove_topic("t")
    assert [(t, p) for t, p, _ in h.coord.committed("g", None)] == [("u", 0)]


# ---------------------------------------------------------------------------------------------- group admin


def test_delete_group_non_empty_is_non_empty_group() -> None:
    h = Harness()
    stable_group(h, 1)
    with pytest.raises(KafkaError) as err:
        h.coord.delete_group("g")
    assert err.value.code == ErrorCode.NON_EMPTY_GROUP
    assert h.coord.group("g") is not None


def test_delete_group_unknown_is_group_id_not_found() -> None:
    h = Harness()
    with pytest.raises(KafkaError) as err:
        h.coord.delete_group("nope")
    assert err.value.code == ErrorCode.GROUP_ID_NOT_FOUND
    with pytest.raises(KafkaError) as err:
        h.coord.delete_group("")
    assert err.value.code == ErrorCode.INVALID_GROUP_ID


def test_delete_group_empty_removes_group_and_offsets() -> None:
    h = Harness()
    h.commit("", -1, [("t", 0, 1, -1, None)])
    h.coord.delete_group("g")
    assert h.coord.group("g") is None and h.coord.committed("g", None) == []
    with pytest.raises(KafkaError) as err:
        h.coord.delete_group("g")
    assert err.value.code == ErrorCode.GROUP_ID_NOT_FOUND


def test_delete_offsets_subscribed_topic_is_group_subscribed_to_topic() -> None:
    h = Harness(topic_partitions=lambda t: 3)
    (a, b), _ = stable_group(h, 2, protocols=[("range", subscription("t", "u"))])
    assert h.commit(a.member_id, a.generation, [("t", 0, 1, -1, None), ("u", 0, 1, -1, None),
                                                ("v", 0, 1, -1, None)]) == [0, 0, 0]
    assert h.coord.subscribed_topics(h.group()) == {"t", "u"}
    out = h.coord.delete_offsets("g", [("t", 0), ("u", 0), ("v", 0)])
    assert out == [ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, 0]
    assert [(t, p) for t, p, _ in h.coord.committed("g", None)] == [("t", 0), ("u", 0)]


def test_delete_offsets_empty_group_deletes_any_topic() -> None:
    h = Harness()
    h.commit("", -1, [("t", 0, 1, -1, None), ("t", 1, 1, -1, None)])
    assert h.coord.delete_offsets("g", [("t", 0), ("zz", 0)]) == [0, 0]
    assert [(t, p) for t, p, _ in h.coord.committed("g", None)] == [("t", 1)]


def test_delete_offsets_unknown_group_is_group_id_not_found() -> None:
    h = Harness()
    with pytest.raises(KafkaError) as err:
        h.coord.delete_offsets("nope", [("t", 0)])
    assert err.value.code == ErrorCode.GROUP_ID_NOT_FOUND


def test_delete_offsets_non_consumer_group_is_non_empty_group() -> None:
    # Kafka (handleDeleteOffsets / ClassicGroup.validateOffsetDelete): offsets of a non-empty group that
    # does not use the consumer protocol cannot be deleted at all: NON_EMPTY_GROUP.
    h = Harness()
    r = only(h.join(protocol_type="connect", protocols=[("default", b"")]))
    assert only(h.sync(r.member_id, r.generation, {})).error == 0
    assert h.commit(r.member_id, r.generation, [("t", 0, 1, -1, None)]) == [0]
    with pytest.raises(KafkaError) as err:
        h.coord.delete_offsets("g", [("t", 0)])
    assert err.value.code == ErrorCode.NON_EMPTY_GROUP
    assert h.coord.committed("g", [("t", 0)])[0][2] is not None


# ---------------------------------------------------------------------------------------------- pure helpers


def test_consumer_subscription_reads_topics() -> None:
    assert consumer_subscription(subscription("a", "b")) == ["a", "b"]
    assert consumer_subscription(subscription()) == []
    assert consumer_subscription(b"") == []
    assert consumer_subscription(b"\x00\x00\x00\x00\x00\x05ab") == []  # truncated


def test_consumer_assignment_reads_sorted_pairs() -> None:
    raw = assignment({"b": [2, 0], "a": [1]})
    assert consumer_assignment(raw) == [("a", 1), ("b", 0), ("b", 2)]
    assert consumer_assignment(assignment({})) == []
    assert consumer_assignment(b"\x00") == []


def test_consumer_assignment_truncated_is_empty() -> None:
    # "[] when it cannot be read": a truncated assignment must not raise (struct.error escapes today)
    raw = assignment({"b": [2, 0], "a": [1]})
    for cut in range(len(raw) - 4):
        assert consumer_assignment(raw[:cut]) == [], cut


def test_consumer_subscription_truncated_is_empty() -> None:
    raw = subscription("a", "b")
    for cut in range(len(raw)):
        assert consumer_subscription(raw[:cut]) == [], cut


def test_lag_is_log_end_minus_committed() -> None:
    assert lag(5, 12) == 7
    assert lag(12, 12) == 0
    assert lag(15, 12) == 0
    assert lag(-1, 12) == -1
    assert lag(3, -1) == -1


# ---------------------------------------------------------------------------------------------- stateful


PARTITIONS = 6
S_SESSION = 6_000
S_REBALANCE = 9_000


class Client:
    """What a consumer knows about its own membership."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.member_id = ""
        self.generation = -1
        self.leader = ""
        self.members: list[str] = []
        self.joined = False  # has a successful JoinGroup answer for its generation, may sync
        self.awaiting_join = False
        self.awaiting_sync = False

    def reset(self) -> None:
        self.member_id, self.generation, self.joined = "", -1, False


class GroupMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = Harness()
        self.by_name = {n: Client(n) for n in "abcd"}
        self.max_generation = 0
        self.leader_assignments: dict[int, dict[str, bytes]] = {}  # generation -> the leader's assignment
        self.received: dict[int, dict[str, list[tuple[str, int]]]] = {}  # generation -> member -> partitions

    # -------------------------------------------------------- callbacks

    def _once(self, fn: Callable) -> Callable:
        calls = []

        def cb(result) -> None:
            assert not calls, f"callback answered twice: {calls[0]} then {result}"
            calls.append(result)
            fn(result)

        return cb

    def _on_join(self, c: Client, r: JoinResult) -> None:
        c.awaiting_join = False
        if r.error == ErrorCode.MEMBER_ID_REQUIRED:
            assert r.member_id
            c.member_id = r.member_id
        elif r.error == 0:
            assert r.generation >= 1 and r.member_id and r.leader
            c.member_id, c.generation, c.leader, c.joined = r.member_id, r.generation, r.leader, True
            if r.member_id == r.leader:
                c.members = [m for m, _, _ in r.members]
                assert r.member_id in c.members
            else:
                assert r.members == []
        elif r.error == ErrorCode.UNKNOWN_MEMBER_ID:
            c.reset()
        else:
            assert r.error == ErrorCode.REBALANCE_IN_PROGRESS, r
            c.joined = False

    def _on_sync(self, c: Client, gen: int, r: SyncResult) -> None:
        c.awaiting_sync = False
        if r.error == 0:
            leader = self.leader_assignments.get(gen)
            assert leader is not None, "a member got an assignment before the leader sent one"
            assert r.assignment == leader.get(c.member_id, b"")
            mine = consumer_assignment(r.assignment)
            got = self.received.setdefault(gen, {})
            got[c.member_id] = mine
            seen = [p for mid, ps in got.items() if mid != c.member_id for p in ps]
            assert not set(mine) & set(seen), f"overlapping assignments in generation {gen}: {got}"
        elif r.error == ErrorCode.UNKNOWN_MEMBER_ID:
            c.reset()
        else:
            assert r.error in (ErrorCode.REBALANCE_IN_PROGRESS, ErrorCode.ILLEGAL_GENERATION), r
            c.joined = False

    # -------------------------------------------------------- rules

    def _pick(self, data, ok: Callable[[Client], bool]) -> Client:
        return data.draw(st.sampled_from([c for c in self.by_name.values() if ok(c)]))

    @staticmethod
    def _can_join(c: Client) -> bool:
        return not c.awaiting_join and not c.awaiting_sync

    @staticmethod
    def _can_sync(c: Client) -> bool:
        return c.joined and not c.awaiting_join and not c.awaiting_sync

    @staticmethod
    def _can_heartbeat(c: Client) -> bool:
        return c.generation >= 0 and not c.awaiting_join

    @precondition(lambda self: any(map(self._can_join, self.by_name.values())))
    @rule(data=st.data(), require_known=st.booleans())
    def join(self, data, require_known):
        c = self._pick(data, self._can_join)
        c.awaiting_join = True
        self.h.coord.join("g", c.member_id, None, c.name, "/h", S_SESSION, S_REBALANCE, "consumer",
                          PROTOCOLS, require_known, self._once(lambda r: self._on_join(c, r)))

    @precondition(lambda self: any(map(self._can_sync, self.by_name.values())))
    @rule(data=st.data())
    def sync(self, data):
        c = self._pick(data, self._can_sync)
        assignments: dict[str, bytes] = {}
        if c.member_id == c.leader:  # the leader splits the partitions disjointly over its members
            ms = sorted(c.members)
            assignments = {m: assignment({"t": [p for p in range(PARTITIONS) if p % len(ms) == i]})
                           for i, m in enumerate(ms)}
        g = self.h.group()
        gen = c.generation
        completes = (g.state == GroupState.COMPLETING_REBALANCE and g.generation == gen
                     and c.member_id == g.leader_id)
        if completes:  # recorded first: every member's answer, the leader's own too, comes inside sync()
            self.leader_assignments[gen] = {m: assignments.get(m, b"") for m in g.members}
        c.awaiting_sync = True
        self.h.coord.sync("g", gen, c.member_id, None, None, None, assignments,
                          self._once(lambda r: self._on_sync(c, gen, r)))
        if completes:
            assert g.state == GroupState.STABLE
        if g.state == GroupState.STABLE and g.generation == gen:
            assert not c.awaiting_sync

    @precondition(lambda self: any(map(self._can_heartbeat, self.by_name.values())))
    @rule(data=st.data())
    def heartbeat(self, data):
        c = self._pick(data, self._can_heartbeat)
        err = self.h.coord.heartbeat("g", c.generation, c.member_id, None)
        if c.awaiting_sync:  # only CompletingRebalance keeps a SyncGroup waiting, and heartbeats are fine there
            assert err == 0, err
        elif err == ErrorCode.UNKNOWN_MEMBER_ID:
            c.reset()
        elif err in (ErrorCode.REBALANCE_IN_PROGRESS, ErrorCode.ILLEGAL_GENERATION):
            c.joined = False
        else:
            assert err == 0, err

    @precondition(lambda self: any(c.member_id for c in self.by_name.values()))
    @rule(data=st.data())
    def leave(self, data):
        c = self._pick(data, lambda c: bool(c.member_id))
        self.h.coord.leave("g", [(c.member_id, None)])
        assert not c.awaiting_join and not c.awaiting_sync, "a leaving member's waiting request was not answered"
        c.reset()

    @rule(ms=st.one_of(st.integers(0, 2_000), st.integers(0, 12_000)))
    def advance_and_tick(self, ms):
        self.h.tick(ms)

    # -------------------------------------------------------- invariants

    @invariant()
    def group_is_consistent(self):
        g = self.h.coord.group("g")
        if g is None:
            return
        assert g.state in set(GroupState)
        assert g.generation >= self.max_generation
        self.max_generation = g.generation
        assert g.pending_sync <= set(g.members)
        if g.state in (GroupState.COMPLETING_REBALANCE, GroupState.STABLE):
            assert g.leader_id in g.members
            assert g.protocol_name == "range"
        if g.state == GroupState.STABLE:
            leader = self.leader_assignments.get(g.generation)
            assert leader is not None
            assert {m: x.assignment for m, x in g.members.items()} == {m: leader.get(m, b"") for m in g.members}
            assert all(x.on_join is None and x.on_sync is None for x in g.members.values())
        if g.state == GroupState.EMPTY:
            assert not g.members
        d = self.h.coord.next_deadline()
        assert d is None or d in self.h.deadlines, "a deadline was never announced"

    def teardown(self):
        # with the clock moving on, every waiting JoinGroup/SyncGroup is answered
        for _ in range(8):
            self.h.tick(S_REBALANCE + S_SESSION)
        waiting = [c.name for c in self.by_name.values() if c.awaiting_join or c.awaiting_sync]
        assert not waiting, f"never answered: {waiting}"


GroupMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=50, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
test_group_state_machine_invariants_hold = GroupMachine.TestCase


def test_delete_offsets_unreadable_subscription_protects_every_topic() -> None:
    # Kafka treats a consumer group whose subscriptions cannot be parsed as subscribed to all topics
    h = Harness(topic_partitions=lambda t: 3)
    (a,), _ = stable_group(h, 1, protocols=[("range", b"\x00")])
    assert h.commit(a.member_id, a.generation, [("v", 0, 1, -1, None)]) == [0]
    assert h.coord.subscribed_topics(h.group()) is None
    assert h.coord.delete_offsets("g", [("v", 0)]) == [ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC]


def test_pending_member_id_survives_rebalance_completion() -> None:
    # a MEMBER_ID_REQUIRED id is kept (until its session expires) when a rebalance completes at its deadline
    h = Harness()
    (a,), _ = stable_group(h, 1)
    pending = only(h.join(require_known=True, session=60_000))
    assert pending.error == ErrorCode.MEMBER_ID_REQUIRED
    waiting = h.join(a.member_id)  # the leader rejoins: a rebalance that waits for the pending member
    assert waiting == [] and h.group().state == GroupState.PREPARING_REBALANCE
    h.tick(REBALANCE + 1)
    assert only(waiting).generation == a.generation + 1
    assert pending.member_id in h.group().pending_members
