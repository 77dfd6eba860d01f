"""Leaders: which replica leads each partition, and how that changes as brokers join, stop, crash and are
fenced (the next in-sync replica takes over, an offline partition gets its last in-sync replica back);
controlled, preferred and unclean elections; the coordinators (leaders of the __consumer_offsets and
__transaction_state partitions a key hashes to); and the in-sync replica a consumer in a rack fetches from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from kafkasim.config import BrokerConfig
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.state.brokers import BrokerInfo, BrokerRegistry
from kafkasim.state.clock import Clock
from kafkasim.state.partitions import NO_LEADER, CoordinatorPartition, PartitionState, Topic, set_leader
from kafkasim.state.placement import coordinator_partition, place_replicas
from kafkasim.state.topics import TopicRegistry

log = logging.getLogger(__name__)

#: FindCoordinator key types, and the internal topics whose partition leaders coordinate them
GROUP_KEY = 0
TRANSACTION_KEY = 1
INTERNAL_TOPIC = {GROUP_KEY: "__consumer_offsets", TRANSACTION_KEY: "__transaction_state"}


class Leadership:
    """Leaders of topics' partitions and of the coordinators' partitions. A change of leaders clears the
    topic's derived metadata, is kept (``on_change(topic)``), wakes the partitions' long-polls
    (``append_listeners``) and, for a group coordinator, calls ``groups_moved(moved)`` with a test of
    whether a group id's coordinator moved."""

    def __init__(self, config: BrokerConfig, clock: Clock, brokers: BrokerRegistry, topics: TopicRegistry,
                 append_listeners: list[Callable[[PartitionState], None]], on_change: Callable[[Topic], None],
                 groups_moved: Callable[[Callable[[str], bool]], None]) -> None:
        self.config = config
        self.clock = clock
        self.broker_registry = brokers
        self.brokers = brokers.brokers
        self.topics = topics.topics
        self.partition = topics.partition
        self.append_listeners = append_listeners
        self.on_change = on_change
        self.groups_moved = groups_moved
        self._coordinator_parts: dict[int, list[CoordinatorPartition]] = {}  # by key type, built on first use

    def register_broker(self, node_id: int, host: str, port: int, rack: str | None = None,
                        endpoints: dict[str, tuple[str, int]] | None = None) -> None:
        """A broker joins (or, running again, rejoins) the cluster at host:port (its first listener), with
        the advertised ``endpoints`` of each of its listeners."""
        b = self.brokers.get(node_id)
        if b is None:
            self.broker_registry.add(node_id, host, port, rack, endpoints)
            self._coordinator_parts.clear()  # placed again over the new set of brokers
            return
        b.host, b.port, b.endpoints = host, port, endpoints
        self.broker_started(node_id)

    def coordinator_parts(self, key_type: int) -> list[CoordinatorPartition]:
        """The partitions of __consumer_offsets (GROUP_KEY) or __transaction_state (TRANSACTION_KEY)."""
        parts = self._coordinator_parts.get(key_type)
        if parts is None:
            c = self.config
            count, rf = ((c.offsets_topic_num_partitions, c.offsets_topic_replication_factor) if key_type == GROUP_KEY
                         else (c.transaction_state_log_num_partitions, c.transaction_state_log_replication_factor))
            brokers = self.broker_registry.placement_brokers()
            parts = [CoordinatorPartition(replicas, replicas[0], 0, list(replicas))
                     for replicas in place_replicas(brokers, count, min(rf, len(brokers)))]
            self._coordinator_parts[key_type] = parts
        return parts

    def coordinator(self, key_type: int = GROUP_KEY, key: str = "") -> BrokerInfo:
        """The broker coordinating ``key`` (a group id or transactional id): the leader of its partition of
        __consumer_offsets or __transaction_state. COORDINATOR_NOT_AVAILABLE while that partition has no
        leader."""
        parts = self.coordinator_parts(key_type)
        p = parts[coordinator_partition(key, len(parts))]
        b = self.brokers.get(p.leader)
        if b is None:
            raise KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, "The coordinator is not available.")
        return b

    def coordinates(self, key_type: int, key: str, node_id: int) -> bool:
        """Whether broker ``node_id`` is the coordinator of ``key`` (else it answers NOT_COORDINATOR)."""
        parts = self.coordinator_parts(key_type)
        return parts[coordinator_partition(key, len(parts))].leader == node_id

    def check_coordinator(self, key_type: int, key: str, node_id: int) -> None:
        """NOT_COORDINATOR unless broker ``node_id`` coordinates ``key``."""
        if not self.coordinates(key_type, key, node_id):
            raise KafkaError(ErrorCode.NOT_COORDINATOR, "This is not the correct coordinator.")

    def _changed(self, topics: dict[str, Topic], coordinators: dict[int, set[int]]) -> None:
        """After elections: derived metadata is rebuilt, the change is kept, long-polls of the partitions
        wake (a fetch at a broker that no longer leads answers at once), coordinators' groups fail over."""
        for t in topics.values():
            t.cache.clear()
            self.on_change(t)
            for p in t.partitions:
                for listener in self.append_listeners:
                    listener(p)
        moved = coordinators.get(GROUP_KEY)
        if moved:  # a failover: the new coordinator gives every member of its groups a fresh session, as Kafka's
            n = len(self._coordinator_parts[GROUP_KEY])
            self.groups_moved(lambda group_id: coordinator_partition(group_id, n) in moved)

    def changed(self, topics: dict[str, Topic]) -> None:
        """Replicas or leaders of these topics' partitions changed outside an election (reassignments)."""
        self._changed(topics, {})

    def _update_replicas(self, node_id: int, step: Callable[[PartitionState | CoordinatorPartition], bool]) -> None:
        """Apply ``step`` to every partition (topics' and coordinators') that broker ``node_id`` replicates;
        it returns whether the partition's leader changed. Then the changes are published."""
        self.broker_registry.update_controller()
        topics: dict[str, Topic] = {}
        for t in self.topics.values():
            for p in t.partitions:
                if node_id in p.replicas:
                    step(p)
                    topics[t.name] = t
        coordinators: dict[int, set[int]] = {}  # key type -> coordinator partitions whose leader moved
        for key_type, parts in self._coordinator_parts.items():
            for i, p in enumerate(parts):
                if node_id in p.replicas and step(p):
                    coordinators.setdefault(key_type, set()).add(i)
        self._changed(topics, coordinators)

    def broker_stopped(self, node_id: int, fence: bool = True) -> None:
        """A broker's listener stopped. With ``fence`` (a clean stop, or a crash whose session expired) the
        controller takes it out: it leaves every ISR (the last in-sync replica stays, as Kafka keeps it when
        there is no other), and each partition it led gets the next in-sync replica as leader, or none
        (NO_LEADER, the partition is offline), with the leader epoch bumped. Without ``fence`` (a crash)
        nothing changes until ``fence_expired_brokers`` runs after broker.session.timeout.ms."""
        b = self.brokers[node_id]
        b.running = False
        if not fence:
            if not b.fenced and b.fence_at is None:
                b.fence_at = self.clock.now_ms() + self.config.broker_session_timeout_ms
            return
        b.fence_at = None
        if b.fenced:
            return
        b.fenced = True

        def leave(p: PartitionState | CoordinatorPartition) -> bool:
            if node_id in p.isr and len(p.isr) > 1:
                p.isr.remove(node_id)
            if p.leader != node_id:
                return False
            set_leader(p, self.broker_registry.first_eligible(p.replicas, [r for r in p.isr if r != node_id]))
            return True

        self._update_replicas(node_id, leave)
        log.info("broker %d left the cluster", node_id)

    def fence_expired_brokers(self) -> None:
        """Crashed brokers whose session timed out are fenced (their leaderships move)."""
        now = self.clock.now_ms()
        for b in list(self.brokers.values()):
            if b.fence_at is not None and b.fence_at <= now and not b.running:
                self.broker_stopped(b.node_id)

    def broker_started(self, node_id: int) -> None:
        """A broker runs again: it rejoins the ISR of every partition it replicates that has a leader (one
        shared log: it is caught up at once), and leads the partitions that went offline with it as their
        last in-sync replica, with the epoch bumped. Other leaderships stay where they moved (see
        ``elect_leader`` for preferred-leader elections)."""
        b = self.brokers[node_id]
        was_fenced = b.fenced
        b.running, b.fenced, b.fence_at = True, False, None
        if not was_fenced:
            return

        def rejoin(p: PartitionState | CoordinatorPartition) -> bool:
            if p.leader == NO_LEADER:
                if node_id in p.isr:
                    set_leader(p, node_id)
                    return True
            elif node_id not in p.isr:
                p.isr = [r for r in p.replicas if r in p.isr or r == node_id]
            return False

        self._update_replicas(node_id, rejoin)
        log.info("broker %d joined the cluster", node_id)

    def move_leader(self, topic: str, index: int, node_id: int) -> None:
        """Make broker ``node_id`` the leader of a partition (a test's controlled election); the epoch moves
        on. It must be an in-sync replica of the partition on a broker that is not fenced."""
        p = self.partition(topic, index)
        if node_id not in p.replicas:
            raise ValueError(f"broker {node_id} is not a replica of {topic}-{index} (replicas {p.replicas})")
        if self.broker_registry.is_fenced(node_id) or node_id not in p.isr:
            raise ValueError(f"broker {node_id} is not an in-sync replica of {topic}-{index} (ISR {p.isr})")
        if p.leader != node_id:
            set_leader(p, node_id)
            self._changed({topic: self.topics[topic]}, {})

    def elect_leader(self, topic: str, index: int, unclean: bool) -> None:
        """ElectLeaders for one partition: PREFERRED (the first replica, when it is in sync and running) or
        UNCLEAN (any running replica, only when the partition has no leader). Raises KafkaError with Kafka's
        codes: ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE, ELIGIBLE_LEADERS_NOT_AVAILABLE."""
        p = self.partition(topic, index)
        if unclean:
            if p.leader != NO_LEADER:
                raise KafkaError(ErrorCode.ELECTION_NOT_NEEDED, "Leader election not needed for topic partition.")
            running = [r for r in p.replicas if r in self.brokers and not self.brokers[r].fenced]
            if not running:
                raise KafkaError(ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE,
                                 f"No eligible replica of {topic}-{index} is online (replicas {p.replicas})")
            p.isr = [running[0]]
            set_leader(p, running[0])
        else:
            preferred = p.replicas[0]
            if p.leader == preferred:
                raise KafkaError(ErrorCode.ELECTION_NOT_NEEDED, "Leader election not needed for topic partition.")
            if preferred not in p.isr or self.broker_registry.is_fenced(preferred):
                raise KafkaError(ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
                                 f"Failed to elect leader for partition {topic}-{index} under strategy "
                                 "PreferredReplicaPartitionLeaderElectionStrategy")
            set_leader(p, preferred)
        self._changed({topic: self.topics[topic]}, {})

    def elect_leaders(self, wanted: Iterable[tuple[str, Iterable[int]]] | None, unclean: bool
                      ) -> list[tuple[str, list[tuple[int, KafkaError | None]]]]:
        """``elect_leader`` for partitions given per topic, or (None) for every partition of every topic; per
        topic, each partition with the error that stopped its election (None: it got a new leader). For every
        partition, those that needed no election are left out, and topics left with none, as Kafka does."""
        every = wanted is None
        if every:
            wanted = [(t.name, range(len(t.partitions))) for t in self.topics.values()]
        out = []
        for topic, indexes in wanted:  # type: ignore[union-attr]
            results: list[tuple[int, KafkaError | None]] = []
            for index in indexes:
                try:
                    self.elect_leader(topic, index, unclean)
                except KafkaError as exc:
                    if every and exc.code == ErrorCode.ELECTION_NOT_NEEDED:
                        continue
                    results.append((index, exc))
                else:
                    results.append((index, None))
            if results or not every:
                out.append((topic, results))
        return out

    def preferred_read_replica(self, p: PartitionState, rack_id: str | None) -> int:
        """KIP-392 with replica.selector.class=RackAwareReplicaSelector: the in-sync replica in the client's
        rack that a consumer should fetch from, or -1 for the leader (no selector, no rack, no replica in
        that rack, or the leader is in it)."""
        if not rack_id or not self.config.replica_selector_class.endswith("RackAwareReplicaSelector"):
            return -1
        same = [r for r in p.isr if r in self.brokers and not self.brokers[r].fenced and self.brokers[r].rack == rack_id]
        if not same or p.leader in same:
            return -1
        return min(same)
