"""Partition reassignments (state/reassignments.py): growth then completion, replacement, cancellation,
leader moves and epochs, on a virtual clock."""

from __future__ import annotations

from kafkasim.errors import ErrorCode
from tests.state.test_replication import NOW, kafka_error, make_state


def test_reassignment_completes_at_once_without_a_delay() -> None:
    state = make_state(4)
    state.create_topic("t", -1, -1, {}, assignments={0: [1, 2]})
    p = state.partition("t", 0)
    epoch = p.leader_epoch
    state.reassignments.alter("t", 0, [3, 4])
    assert (p.replicas, p.isr, p.leader) == ([3, 4], [3, 4], 3)
    assert p.leader_epoch == epoch + 1 and not state.reassignments.ongoing


def test_reassignment_removing_only_keeps_the_leader_and_bumps_the_epoch() -> None:
    state = make_state(3)
    state.create_topic("t", -1, -1, {}, assignments={0: [1, 2, 3]})
    p = state.partition("t", 0)
    state.reassignments.delay_ms = 10_000  # only removals: completes at once all the same
    state.reassignments.alter("t", 0, [1, 2])
    assert (p.replicas, p.isr, p.leader, p.leader_epoch) == ([1, 2], [1, 2], 1, 1)


def test_reassignment_with_a_delay_grows_then_completes_on_the_clock() -> None:
    state = make_state(4)
    state.create_topic("t", -1, -1, {}, assignments={0: [1, 2]})
    scheduled: list[int] = []
    r = state.reassignments
    r.schedule = scheduled.append
    r.delay_ms = 5_000
    r.alter("t", 0, [3, 1])
    p = state.partition("t", 0)
    assert p.replicas == [3, 1, 2] and p.isr == [1, 2] and p.leader == 1
    assert r.listing(None) == [("t", 0, [3, 1, 2], [3], [2])]
    assert scheduled == [NOW + 5_000]
    r.complete_due()  # not yet
    assert r.listing([("t", [0])]) and r.listing([("t", [1]), ("u", [0])]) == []
    state.clock.advance(5_000)
    r.complete_due()
    assert (p.replicas, p.isr, p.leader) == ([3, 1], [3, 1], 1) and r.listing(None) == []


def test_reassignment_replaced_and_cancelled_go_back_to_the_original() -> None:
    state = make_state(4)
    state.create_topic("t", -1, -1, {}, assignments={0: [1, 2]})
    r = state.reassignments
    r.delay_ms = 5_000
    r.alter("t", 0, [3, 4])
    r.alter("t", 0, [1, 3])  # replaces the first: adding 3, removing 2, from the original [1, 2]
    assert r.listing(None) == [("t", 0, [1, 3, 2], [3], [2])]
    r.alter("t", 0, None)
    p = state.partition("t", 0)
    assert p.replicas == [1, 2] and p.leader == 1 and r.listing(None) == []
    assert kafka_error(r.alter, "t", 0, None) == ErrorCode.NO_REASSIGNMENT_IN_PROGRESS


def test_reassignment_validation_errors() -> None:
    state = make_state(3)
    state.create_topic("t", -1, -1, {}, assignments={0: [1, 2]})
    r = state.reassignments
    assert kafka_error(r.alter, "t", 0, []) == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    assert kafka_error(r.alter, "t", 0, [1, 1]) == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    assert kafka_error(r.alter, "t", 0, [1, 7]) == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    assert kafka_error(r.alter, "t", 3, [1, 2]) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert kafka_error(r.alter, "u", 0, [1, 2]) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert kafka_error(r.alter, "t", 0, [1, 2, 3], False) == ErrorCode.INVALID_REPLICATION_FACTOR
    assert state.partition("t", 0).replicas == [1, 2]
