"""Several brokers in one cluster state: placement, elections, epochs, coordinators, min.insync.replicas
(state/placement.py and the broker lifecycle of state/cluster.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from kafkasim.config import BrokerConfig
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.protocol.records import Record, build_batch
from kafkasim.state.clock import ManualClock
from kafkasim.state.cluster import ClusterState
from kafkasim.state.leadership import GROUP_KEY, TRANSACTION_KEY
from kafkasim.state.partitions import NO_LEADER
from kafkasim.state.placement import coordinator_partition, java_string_hash, place_replicas, rack_alternated

NOW = 1_700_000_000_000


def make_state(brokers: int = 3, racks: tuple[str, ...] = (), **config) -> ClusterState:
    cfg = BrokerConfig(brokers=brokers, racks=racks, **config)
    state = ClusterState(cfg, clock=ManualClock(NOW))
    for i, node in enumerate(cfg.node_ids()):
        state.register_broker(node, "127.0.0.1", 9092 + i, cfg.broker_rack(i))
    return state


def batch(n: int = 1) -> memoryview:
    return memoryview(bytearray(build_batch([Record(i, NOW, b"k", b"v") for i in range(n)])))


def kafka_error(fn, *args, **kwargs) -> ErrorCode:
    with pytest.raises(KafkaError) as err:
        fn(*args, **kwargs)
    return err.value.code


# ------------------------------------------------------------------------------------------- placement


def test_placement_java_string_hash_matches_java() -> None:
    # values of String.hashCode() printed by Java 17
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -2147483648  # Integer.MIN_VALUE
    assert java_string_hash("\u00e9t\u00e9") == 227742  # non-ASCII: UTF-16 code units
    assert java_string_hash("\U0001F600") == 1772899  # a surrogate pair counts as two units


def test_placement_coordinator_partition_is_abs_hash_mod_count() -> None:
    assert coordinator_partition("hello", 50) == 99162322 % 50
    assert coordinator_partition("polygenelubricants", 50) == 0  # Utils.abs(MIN_VALUE) is 0
    assert coordinator_partition("Aa", 7) == coordinator_partition("BB", 7)  # equal Java hashes


def test_placement_rack_unaware_spreads_leaders_and_shifts_followers() -> None:
    brokers = [(1, None), (2, None), (3, None)]
    layout = place_replicas(brokers, 6, 2)
    assert [r[0] for r in layout] == [1, 2, 3, 1, 2, 3]
    assert layout[:3] == [[1, 2], [2, 3], [3, 1]]
    assert layout[3:] == [[1, 3], [2, 1], [3, 2]]  # the second round shifts the followers by one
    assert all(len(set(r)) == 2 for r in layout)


def test_placement_rack_alternated_orders_brokers_rack_by_rack() -> None:
    assert rack_alternated([(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c")]) == [1, 3, 5, 2, 4]


@pytest.mark.parametrize("racks,rf", [(("a", "b", "c"), 3), (("a", "b", "c"), 2), (("a", "b"), 2)])
def test_placement_rack_aware_puts_replicas_on_distinct_racks(racks: tuple[str, ...], rf: int) -> None:
    brokers = [(n, racks[(n - 1) % len(racks)]) for n in range(1, 7)]
    rack = dict(brokers)
    layout = place_replicas(brokers, 12, rf)
    for replicas in layout:
        assert len(set(replicas)) == rf
        assert len({rack[r] for r in replicas}) == min(rf, len(racks))
    leaders = Counter(r[0] for r in layout)
    assert set(leaders.values()) == {2}  # 12 partitions over 6 brokers: two leaderships each


def test_placement_refuses_more_replicas_than_brokers() -> None:
    with pytest.raises(ValueError):
        place_replicas([(1, None)], 1, 2)


def test_cluster_new_topic_uses_rack_aware_placement() -> None:
    state = make_state(brokers=6, racks=("a", "b", "c"))
    t = state.create_topic("t", 6, 3)
    assert t is not None
    for p in t.partitions:
        assert {state.brokers[r].rack for r in p.replicas} == {"a", "b", "c"}
        assert p.isr == p.replicas and p.leader == p.replicas[0]


# ------------------------------------------------------------------------------------------- elections


def test_stop_broker_moves_leadership_and_bumps_epoch() -> None:
    state = make_state()
    t = state.create_topic("t", 3, 3)
    assert t is not None
    led = [p for p in t.partitions if p.leader == 1]
    assert led
    before = {p.index: p.leader_epoch for p in t.partitions}
    state.broker_stopped(1)
    for p in t.partitions:
        assert p.leader != 1 and 1 not in p.isr and p.replicas == t.partitions[p.index].replicas
        if p in led:
            assert p.leader == [r for r in p.replicas if r != 1][0]
            assert p.leader_epoch == before[p.index] + 1
        else:
            assert p.leader_epoch == before[p.index]  # a follower leaving the ISR does not bump the epoch
    assert [b.node_id for b in state.live_brokers()] == [2, 3]
    assert state.controller_id == 2


def test_stop_last_in_sync_replica_leaves_partition_offline_until_it_returns() -> None:
    state = make_state(brokers=2)
    t = state.create_topic("t", 1, 1)
    assert t is not None
    p = t.partitions[0]
    node = p.leader
    state.broker_stopped(node)
    assert p.leader == NO_LEADER and p.isr == [node] and p.leader_epoch == 1
    assert kafka_error(state.append, "t", 0, batch(), node_id=node) == ErrorCode.NOT_LEADER_OR_FOLLOWER
    state.broker_started(node)
    assert p.leader == node and p.leader_epoch == 2


def test_restarted_broker_rejoins_isr_without_taking_leadership_back() -> None:
    state = make_state()
    t = state.create_topic("t", 1, 3)
    assert t is not None
    p = t.partitions[0]
    first = p.leader
    state.broker_stopped(first)
    moved_to = p.leader
    state.broker_started(first)
    assert p.leader == moved_to and sorted(p.isr) == sorted(p.replicas)
    state.elect_leader("t", 0, unclean=False)  # a preferred election brings it back
    assert p.leader == first
    assert kafka_error(state.elect_leader, "t", 0, False) == ErrorCode.ELECTION_NOT_NEEDED


def test_preferred_election_needs_the_preferred_replica_in_sync() -> None:
    state = make_state()
    t = state.create_topic("t", 1, 3)
    assert t is not None
    preferred = t.partitions[0].replicas[0]
    state.broker_stopped(preferred)
    assert kafka_error(state.elect_leader, "t", 0, False) == ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE


def test_unclean_election_elects_a_running_out_of_sync_replica() -> None:
    state = make_state(brokers=2)
    t = state.create_topic("t", 1, 2)
    assert t is not None
    p = t.partitions[0]
    assert kafka_error(state.elect_leader, "t", 0, True) == ErrorCode.ELECTION_NOT_NEEDED  # it has a leader
    a, b = p.replicas
    state.broker_stopped(a)
    state.broker_stopped(b)  # b was the last in-sync replica: offline
    assert p.leader == NO_LEADER and p.isr == [b]
    state.broker_started(a)  # a runs again but was not in sync: no clean leader
    assert p.leader == NO_LEADER
    epoch = p.leader_epoch
    state.elect_leader("t", 0, unclean=True)
    assert p.leader == a and p.isr == [a] and p.leader_epoch == epoch + 1
    state.broker_stopped(a)
    assert kafka_error(state.elect_leader, "t", 0, True) == ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE


def test_move_leader_checks_replica_and_isr() -> None:
    state = make_state()
    t = state.create_topic("t", 1, 2)
    assert t is not None
    p = t.partitions[0]
    other = next(r for r in p.replicas if r != p.leader)
    outsider = next(n for n in (1, 2, 3) if n not in p.replicas)
    state.move_leader("t", 0, other)
    assert p.leader == other and p.leader_epoch == 1
    with pytest.raises(ValueError, match="not a replica"):
        state.move_leader("t", 0, outsider)
    state.broker_stopped(p.replicas[0] if p.replicas[0] != other else p.replicas[1])
    state.move_leader("t", 0, other)  # already the leader: nothing changes
    assert p.leader_epoch == 1


def test_crashed_broker_is_fenced_after_its_session_timeout() -> None:
    state = make_state(broker_session_timeout_ms=9000)
    t = state.create_topic("t", 1, 3)
    assert t is not None
    p = t.partitions[0]
    node = p.leader
    state.broker_stopped(node, fence=False)
    assert p.leader == node and not state.brokers[node].fenced and not state.brokers[node].running
    assert node in [b.node_id for b in state.live_brokers()]  # still in the metadata
    clock = state.clock
    assert isinstance(clock, ManualClock)
    clock.advance(8999)
    state.fence_expired_brokers()
    assert p.leader == node
    clock.advance(1)
    state.fence_expired_brokers()
    assert p.leader != node and state.brokers[node].fenced and state.next_fence_deadline() is None


def test_new_topic_is_placed_on_brokers_that_are_not_fenced() -> None:
    state = make_state()
    state.broker_stopped(2)
    t = state.create_topic("t", 4, 2)
    assert t is not None
    assert all(2 not in p.replicas for p in t.partitions)
    assert kafka_error(state.create_topic, "u", 1, 3) == ErrorCode.INVALID_REPLICATION_FACTOR


# ------------------------------------------------------------------------------------------- leaders and min ISR


def test_append_only_at_the_leader() -> None:
    state = make_state()
    t = state.create_topic("t", 1, 3)
    assert t is not None
    p = t.partitions[0]
    follower = next(r for r in p.replicas if r != p.leader)
    assert kafka_error(state.append, "t", 0, batch(), node_id=follower) == ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert p.log.log_end_offset == 0
    assert state.append("t", 0, batch(), node_id=p.leader).base_offset == 0


def test_min_insync_replicas_refuses_acks_all_only() -> None:
    state = make_state()
    t = state.create_topic("t", 1, 3, configs={"min.insync.replicas": "2"})
    assert t is not None
    p = t.partitions[0]
    followers = [r for r in p.replicas if r != p.leader]
    state.broker_stopped(followers[0])
    assert state.append("t", 0, batch(), node_id=p.leader, acks=-1).base_offset == 0
    state.broker_stopped(followers[1])
    assert p.isr == [p.leader]
    assert kafka_error(state.append, "t", 0, batch(), node_id=p.leader, acks=-1) == ErrorCode.NOT_ENOUGH_REPLICAS
    assert p.log.log_end_offset == 1  # nothing appended
    assert state.append("t", 0, batch(), node_id=p.leader, acks=1).base_offset == 1
    state.broker_started(followers[0])
    assert state.append("t", 0, batch(), node_id=p.leader, acks=-1).base_offset == 2


def test_broker_default_min_insync_replicas() -> None:
    state = make_state(min_insync_replicas=3)
    t = state.create_topic("t", 1, 3)
    assert t is not None
    state.broker_stopped(t.partitions[0].replicas[1])
    assert kafka_error(state.append, "t", 0, batch(), acks=-1) == ErrorCode.NOT_ENOUGH_REPLICAS


def test_preferred_read_replica_in_the_client_rack() -> None:
    state = make_state(racks=("a", "b", "c"), replica_selector_class="rack-aware")
    t = state.create_topic("t", 1, 3)
    assert t is not None
    p = t.partitions[0]
    rack = {n: b.rack for n, b in state.brokers.items()}
    follower = next(r for r in p.replicas if r != p.leader)
    assert state.preferred_read_replica(p, rack[follower]) == follower
    assert state.preferred_read_replica(p, rack[p.leader]) == -1  # the leader is in that rack
    assert state.preferred_read_replica(p, "elsewhere") == -1
    assert state.preferred_read_replica(p, "") == -1
    state.broker_stopped(follower)
    assert state.preferred_read_replica(p, rack[follower]) == -1  # out of the ISR
    plain = make_state(racks=("a", "b", "c"))
    t2 = plain.create_topic("t", 1, 3)
    assert t2 is not None and plain.preferred_read_replica(t2.partitions[0], rack[follower]) == -1  # no selector


# ------------------------------------------------------------------------------------------- epochs


def test_epoch_end_offsets_follow_leader_changes() -> None:
    state = make_state()
    t = state.create_topic("t", 1, 3)
    assert t is not None
    p = t.partitions[0]
    state.append("t", 0, batch(5))  # epoch 0: offsets 0-4
    state.move_leader("t", 0, p.replicas[1])
    state.append("t", 0, batch(3))  # epoch 1: offsets 5-7
    state.move_leader("t", 0, p.replicas[2])
    state.append("t", 0, batch(2))  # epoch 2: offsets 8-9
    assert p.epoch_end_offset(0) == (0, 5)
    assert p.epoch_end_offset(1) == (1, 8)
    assert p.epoch_end_offset(2) == (2, 10)  # the current epoch ends at the log end
    assert p.epoch_end_offset(7) == (-1, -1)
    assert p.epoch_end_offset(-1) == (-1, -1)


def test_epoch_end_offset_across_an_offline_epoch() -> None:
    state = make_state(brokers=2)
    t = state.create_topic("t", 1, 1)
    assert t is not None
    p = t.partitions[0]
    state.append("t", 0, batch(4))
    state.broker_stopped(p.leader)  # epoch 1: no leader
    state.broker_started(p.replicas[0])  # epoch 2
    assert p.leader_epoch == 2
    assert p.epoch_end_offset(1) == (0, 4)  # epoch 1 led nothing: the latest known epoch before it, and its end
    assert p.epoch_end_offset(0) == (0, 4)


def test_single_broker_epoch_zero_ends_at_log_end() -> None:
    state = make_state(brokers=1)
    t = state.create_topic("t", 1)
    assert t is not None
    state.append("t", 0, batch(3))
    assert t.partitions[0].epoch_end_offset(0) == (0, 3)


# ------------------------------------------------------------------------------------------- coordinators


def test_coordinators_are_partition_leaders_and_move_with_them() -> None:
    state = make_state()
    groups = [f"group-{i}" for i in range(40)]
    owners = {g: state.coordinator(GROUP_KEY, g).node_id for g in groups}
    assert set(owners.values()) == {1, 2, 3}
    for g, node in owners.items():
        assert state.coordinates(GROUP_KEY, g, node)
        assert not state.coordinates(GROUP_KEY, g, node % 3 + 1)
    state.broker_stopped(1)
    for g, node in owners.items():
        now = state.coordinator(GROUP_KEY, g).node_id
        assert now != 1 and (now == node or node == 1)
    assert state.coordinator(TRANSACTION_KEY, "txn").node_id in (2, 3)


def test_coordinator_not_available_when_its_partition_has_no_leader() -> None:
    state = make_state(brokers=1)
    assert state.coordinator(GROUP_KEY, "g").node_id == 1
    state.broker_stopped(1)
    assert kafka_error(state.coordinator, GROUP_KEY, "g") == ErrorCode.COORDINATOR_NOT_AVAILABLE
    state.broker_started(1)
    assert state.coordinator(GROUP_KEY, "g").node_id == 1


def test_coordinator_failover_gives_members_a_fresh_session() -> None:
    state = make_state()
    joined = []
    state.groups.join("g", "", None, "c", "/h", 10_000, 10_000, "consumer", [("range", b"")], True, joined.append)
    member_id = joined[-1].member_id
    state.groups.join("g", member_id, None, "c", "/h", 10_000, 10_000, "consumer", [("range", b"")], True,
                      joined.append)
    member = state.groups.group("g").members[member_id]
    clock = state.clock
    assert isinstance(clock, ManualClock)
    clock.advance(9_000)
    old_deadline = member.heartbeat_deadline
    state.broker_stopped(state.coordinator(GROUP_KEY, "g").node_id)
    assert member.heartbeat_deadline == clock.now_ms() + 10_000 > old_deadline
