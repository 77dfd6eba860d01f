"""Brokers, topics, partitions, leaders and topic configs; appends and offset lookups.

Synchronous and free of protocol messages: handlers call these methods and translate results and
:class:`KafkaError` into responses. Appends notify ``append_listeners`` (the server wakes Fetch long-polls).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from kafkasim.config import TOPIC_CONFIGS, BrokerConfig, ConfigSource, ConfigType, validate_config_value
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.protocol.compression import Codec
from kafkasim.protocol.primitives import MalformedError
from kafkasim.protocol.records import (
    BatchError,
    control_batch,
    iter_records,
    read_header,
    recompress,
    set_log_append_time,
    validate_produced,
)
from kafkasim.state.clock import Clock, ManualClock
from kafkasim.state.groups import GroupConfig, GroupCoordinator, lag
from kafkasim.state.placement import coordinator_partition, place_replicas
from kafkasim.state.producers import PartitionProducers, ProducerIds
from kafkasim.state.transactions import TransactionCoordinator
from kafkasim.storage.cleaner import CompactionSettings, apply_retention, compact
from kafkasim.storage.log import Log, LogConfig
from kafkasim.storage.memory import MemoryStore

if TYPE_CHECKING:  # the disk store and persistence are imported only with a data directory (start-up time)
    from kafkasim.state.persistence import Persistence
    from kafkasim.storage.segments import DiskStore

log = logging.getLogger(__name__)
MAX_TOPIC_NAME = 249
#: Kafka's controller refuses to create more partitions than this in one request (POLICY_VIOLATION)
MAX_PARTITIONS_PER_BATCH = 10000
_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})

#: FindCoordinator key types, and the internal topics whose partition leaders coordinate them
GROUP_KEY = 0
TRANSACTION_KEY = 1
NO_LEADER = -1

EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1
MAX_TIMESTAMP = -3
EARLIEST_LOCAL_TIMESTAMP = -4

#: topic compression.type -> codec id (None: keep what the producer sent)
COMPRESSION_TYPES = {"producer": None, "uncompressed": Codec.NONE, "gzip": Codec.GZIP, "snappy": Codec.SNAPPY,
                     "lz4": Codec.LZ4, "zstd": Codec.ZSTD}

_BATCH_ERRORS = {"corrupt": ErrorCode.CORRUPT_MESSAGE, "invalid": ErrorCode.INVALID_RECORD,
                 "unsupported_compression": ErrorCode.UNSUPPORTED_COMPRESSION_TYPE}


@dataclass(slots=True)
class BrokerInfo:
    """A broker of the cluster. ``running``: its listener accepts connections. ``fenced``: the controller has
    taken it out of the cluster (a clean stop, or a crash once ``broker.session.timeout.ms`` passed): it is
    not in Metadata, leads nothing and is in no ISR. A crashed broker is stopped but not yet fenced until
    ``fence_at`` (broker time)."""

    node_id: int
    host: str
    port: int
    rack: str | None = None
    running: bool = True
    fenced: bool = False
    fence_at: int | None = None


@dataclass(slots=True)
class CoordinatorPartition:
    """A partition of __consumer_offsets or __transaction_state: its leader coordinates the keys hashed to
    it. Only its replication state is modelled (the coordinators' state is shared by the cluster), with the
    same fields and elections as a topic's partition."""

    replicas: list[int]
    leader: int
    leader_epoch: int = 0
    isr: list[int] = field(default_factory=list)


class AbortedTxn(NamedTuple):
    producer_id: int
    first_offset: int
    last_offset: int  # the abort marker's offset


@dataclass(slots=True)
class PartitionState:
    topic: str
    index: int
    log: Log
    leader: int
    replicas: list[int]
    leader_epoch: int = 0
    producers: PartitionProducers = field(default_factory=PartitionProducers)
    isr: list[int] = field(default_factory=list)  # in-sync replicas: every running replica (one shared log)
    # (leader epoch, its first offset) of the epochs that had a leader; () until the first leader change
    epoch_starts: list[tuple[int, int]] | tuple = ()

    open_txns: dict[int, int] = field(default_factory=dict)  # producer id -> first offset of its open transaction
    aborted: list[AbortedTxn] = field(default_factory=list)  # aborted transactions, in marker order

    @property
    def high_watermark(self) -> int:
        # one log shared by all replicas: everything appended is replicated
        return self.log.log_end_offset

    @property
    def last_stable_offset(self) -> int:
        """read_committed consumers read up to here: the first offset of the oldest open transaction."""
        return min(self.open_txns.values()) if self.open_txns else self.log.log_end_offset

    def txn_appended(self, producer_id: int, base_offset: int) -> None:
        """A transactional batch was appended: its transaction's first offset holds the last stable offset."""
        if producer_id not in self.open_txns:
            self.open_txns[producer_id] = base_offset

    def txn_ended(self, producer_id: int, epoch: int, marker_offset: int, commit: bool) -> None:
        """A COMMIT or ABORT marker was appended (or found by recovery) at ``marker_offset``: it fences older
        epochs of the producer, closes its transaction, and an abort is remembered for read_committed."""
        self.producers.fence(producer_id, epoch)
        first = self.open_txns.pop(producer_id, None)
        if not commit and first is not None:
            self.aborted.append(AbortedTxn(producer_id, first, marker_offset))

    def aborted_since(self, offset: int, upto: int) -> list[AbortedTxn]:
        """Aborted transactions a read_committed fetch of [offset, upto) must filter (Fetch's list)."""
        return [a for a in self.aborted if a.last_offset >= offset and a.first_offset < upto]

    def note_leader_epoch(self, epoch: int, led: bool) -> None:
        """The partition moves to leader epoch ``epoch``; ``led``: a leader starts it, at the log end (an epoch
        without a leader starts nothing). The epoch before is remembered from the log start if it was not."""
        starts = self.epoch_starts
        if not starts:
            starts = self.epoch_starts = [(self.leader_epoch, self.log.log_start_offset)]
        if led:
            starts.append((epoch, self.log.log_end_offset))  # type: ignore[union-attr]

    def epoch_end_offset(self, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: (epoch, end offset) for a requested leader epoch, as Kafka's leader epoch
        cache answers: the log end for the current epoch; else the start of the first later epoch, paired
        with the latest epoch at or before the requested one (the requested one when it predates them all);
        (-1, -1) for an unknown or later epoch."""
        if epoch < 0:
            return -1, -1
        starts = self.epoch_starts or [(self.leader_epoch, self.log.log_start_offset)]
        if starts[-1][0] == epoch:
            return epoch, self.log.log_end_offset
        floor = None
        for e, start in starts:
            if e > epoch:
                return (epoch if floor is None else floor), start
            floor = e
        return -1, -1


@dataclass(slots=True)
class Topic:
    name: str
    topic_id: bytes
    partitions: list[PartitionState]
    configs: dict[str, str] = field(default_factory=dict)  # explicit overrides only; replace, never mutate
    internal: bool = False
    append_settings: AppendSettings | None = None  # parsed from configs on first append after a change
    log_config: LogConfig = field(default_factory=LogConfig)  # shared by the topic's logs; updated in place
    # derived data (e.g. Metadata's partition list), cleared whenever partitions, leaders or replicas change
    cache: dict = field(default_factory=dict)


class AppendSettings(NamedTuple):
    """The topic configs an append needs, parsed once per config change instead of on every append."""

    max_message_bytes: int
    log_append_time: bool
    timestamp_after_max_ms: int
    timestamp_before_max_ms: int
    codec: int | None  # compression.type as a codec id; None keeps what the producer sent
    compacted: bool  # cleanup.policy has compact: every record needs a key
    min_insync_replicas: int  # acks=all needs this many in-sync replicas


class AppendResult(NamedTuple):
    base_offset: int
    log_append_time: int  # -1 unless the topic uses LogAppendTime
    log_start_offset: int


class GroupOffset(NamedTuple):
    committed: int
    log_end: int
    lag: int
    metadata: str


class ConfigEntry(NamedTuple):
    name: str
    value: str | None
    source: ConfigSource
    type: ConfigType
    read_only: bool = False
    sensitive: bool = False


class ConfigOp(NamedTuple):
    name: str
    op: int  # 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT
    value: str | None


def check_partition_budget(total: int) -> None:
    """Refuse a request that would create more than MAX_PARTITIONS_PER_BATCH partitions, as Kafka does."""
    if total > MAX_PARTITIONS_PER_BATCH:
        raise KafkaError(ErrorCode.POLICY_VIOLATION, "Excessively large number of partitions per request.")


def validate_topic_name(name: str) -> None:
    if not name:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, "Topic name is illegal, it can't be empty")
    if name in (".", ".."):
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, "Topic name cannot be \".\" or \"..\"")
    if len(name) > MAX_TOPIC_NAME:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                         f"Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME} characters")
    if not _LEGAL_TOPIC.fullmatch(name):
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                         f"Topic name \"{name}\" is illegal, it contains a character other than ASCII "
                         "alphanumerics, '.', '_' and '-'")


class ClusterState:
    """The state of one cluster: brokers, topics and their logs, leaders and coordinators."""

    def __init__(self, config: BrokerConfig, clock: Clock | None = None,
                 store: MemoryStore | DiskStore | None = None) -> None:
        self.config = config
        if clock is None:
            clock = ManualClock(Clock().now_ms()) if config.clock == "virtual" else Clock()
        self.clock = clock
        self.cluster_id = config.cluster_id
        self.controller_id = config.node_id
        self.brokers: dict[int, BrokerInfo] = {}
        self._coordinator_parts: dict[int, list[CoordinatorPartition]] = {}  # by key type, built on first use
        self.topics: dict[str, Topic] = {}
        self.topics_by_id: dict[bytes, Topic] = {}
        if store is None:
            if config.data_dir:
                from kafkasim.storage.segments import DiskStore

                store = DiskStore(config.data_dir, config.fsync)
            else:
                store = MemoryStore()
        self.store = store
        self.append_listeners: list[Callable[[PartitionState], None]] = []
        self.producer_ids = ProducerIds()
        self.persistence: Persistence | None = None  # set by open() when the store keeps data on disk
        self._sync_appends = store.fsync == "always"
        self._unsynced: list[Log] = []  # appended by the current Produce, fsynced before its answer
        self.groups = GroupCoordinator(
            GroupConfig(min_session_timeout_ms=config.group_min_session_timeout_ms,
                        max_session_timeout_ms=config.group_max_session_timeout_ms,
                        initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
                        max_size=config.group_max_size,
                        consumer_session_timeout_ms=config.group_consumer_session_timeout_ms,
                        consumer_heartbeat_interval_ms=config.group_consumer_heartbeat_interval_ms),
            self.clock, self._partition_count, lambda: self.topics.keys())
        self.transactions = TransactionCoordinator(self.clock, self.producer_ids, config.transaction_max_timeout_ms,
                                                   self._write_markers, self.groups.end_txn_offsets)

    # ------------------------------------------------------------------ brokers

    def register_broker(self, node_id: int, host: str, port: int, rack: str | None = None) -> None:
        """A broker joins (or, running again, rejoins) the cluster at host:port."""
        b = self.brokers.get(node_id)
        if b is None:
            self.brokers[node_id] = BrokerInfo(node_id, host, port, rack)
            self._coordinator_parts.clear()  # placed again over the new set of brokers
            self._update_controller()
            return
        b.host, b.port = host, port
        self.broker_started(node_id)

    def brokers_by_id(self, node_ids) -> list[BrokerInfo]:
        """The brokers of these node ids that are in the metadata (not fenced), by node id."""
        return [self.brokers[n] for n in sorted(node_ids) if n in self.brokers and not self.brokers[n].fenced]

    def live_brokers(self) -> list[BrokerInfo]:
        """The brokers in the cluster's metadata (not fenced), by node id."""
        return [b for _, b in sorted(self.brokers.items()) if not b.fenced]

    def _update_controller(self) -> None:
        live = self.live_brokers()
        self.controller_id = live[0].node_id if live else -1

    def _placement(self, first: int, count: int, replication_factor: int) -> list[list[int]]:
        """The replicas (leader first) of ``count`` new partitions numbered from ``first``, placed as Kafka places
        them over the brokers that are not fenced (rack-aware when every one has a rack)."""
        return place_replicas(self._placement_brokers(), count, replication_factor, first)

    def _placement_brokers(self) -> list[tuple[int, str | None]]:
        if not self.brokers:
            return [(self.config.node_id, self.config.rack)]
        return [(b.node_id, b.rack) for b in self.live_brokers()]

    def _new_partition(self, topic: str, index: int, replicas: list[int]) -> PartitionState:
        isr = [r for r in replicas if not self._is_fenced(r)]
        leader = self._first_eligible(replicas, isr)
        if leader == NO_LEADER:
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             f"All brokers specified in the manual partition assignment for partition {index} are "
                             "fenced or in controlled shutdown.")
        return PartitionState(topic, index, None, leader, list(replicas), isr=isr)  # type: ignore[arg-type]

    def _first_eligible(self, replicas: list[int], isr: list[int]) -> int:
        """The first replica in the ISR whose broker is not fenced, else NO_LEADER."""
        return next((r for r in replicas if r in isr and not self._is_fenced(r)), NO_LEADER)

    def _partition_count(self, topic: str) -> int | None:
        t = self.topics.get(topic)
        return None if t is None else len(t.partitions)

    # ------------------------------------------------------------------ coordinators

    def coordinator_parts(self, key_type: int) -> list[CoordinatorPartition]:
        """The partitions of __consumer_offsets (GROUP_KEY) or __transaction_state (TRANSACTION_KEY)."""
        parts = self._coordinator_parts.get(key_type)
        if parts is None:
            c = self.config
            count, rf = ((c.offsets_topic_num_partitions, c.offsets_topic_replication_factor) if key_type == GROUP_KEY
                         else (c.transaction_state_log_num_partitions, c.transaction_state_log_replication_factor))
            brokers = self._placement_brokers()
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

    # ------------------------------------------------------------------ broker lifecycle and elections

    def _is_fenced(self, node_id: int) -> bool:
        b = self.brokers.get(node_id)
        return b is not None and b.fenced

    def set_leader(self, p: CoordinatorPartition | PartitionState, leader: int) -> None:
        """A leader change: the epoch always moves on; a new leader starts its epoch at the log end."""
        if isinstance(p, PartitionState):
            p.note_leader_epoch(p.leader_epoch + 1, leader != NO_LEADER)
        p.leader = leader
        p.leader_epoch += 1

    def _changed(self, topics: dict[str, Topic], coordinators: dict[int, set[int]]) -> None:
        """After elections: derived metadata is rebuilt, the change is kept, long-polls of the partitions
        wake (a fetch at a broker that no longer leads answers at once), coordinators' groups fail over."""
        for t in topics.values():
            t.cache.clear()
            if self.persistence is not None:
                self.persistence.topic(t)
            for p in t.partitions:
                for listener in self.append_listeners:
                    listener(p)
        moved = coordinators.get(GROUP_KEY)
        if moved:  # a failover: the new coordinator gives every member of its groups a fresh session, as Kafka's
            n = len(self._coordinator_parts[GROUP_KEY])
            self.groups.coordinator_moved(lambda group_id: coordinator_partition(group_id, n) in moved)

    def _update_replicas(self, node_id: int, step: Callable[[PartitionState | CoordinatorPartition], bool]) -> None:
        """Apply ``step`` to every partition (topics' and coordinators') that broker ``node_id`` replicates;
        it returns whether the partition's leader changed. Then the changes are published."""
        self._update_controller()
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
            self.set_leader(p, self._first_eligible(p.replicas, [r for r in p.isr if r != node_id]))
            return True

        self._update_replicas(node_id, leave)
        log.info("broker %d left the cluster", node_id)

    def fence_expired_brokers(self) -> None:
        """Crashed brokers whose session timed out are fenced (their leaderships move)."""
        now = self.clock.now_ms()
        for b in list(self.brokers.values()):
            if b.fence_at is not None and b.fence_at <= now and not b.running:
                self.broker_stopped(b.node_id)

    def next_fence_deadline(self) -> int | None:
        return min((b.fence_at for b in self.brokers.values() if b.fence_at is not None), default=None)

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
                    self.set_leader(p, node_id)
                    return True
            elif node_id not in p.isr:
                p.isr = [r for r in p.replicas if r in p.isr or r == node_id]
            return False

        self._update_replicas(node_id, rejoin)
        log.info("broker %d joined the cluster", node_id)

    def set_rack(self, node_id: int, rack: str | None) -> None:
        """Move a broker to another rack (broker.rack): Metadata, closest-replica fetching and the placement
        of later topics see it."""
        if node_id not in self.brokers:
            raise ValueError(f"no broker {node_id}")
        self.brokers[node_id].rack = rack or None

    def move_leader(self, topic: str, index: int, node_id: int) -> None:
        """Make broker ``node_id`` the leader of a partition (a test's controlled election); the epoch moves
        on. It must be an in-sync replica of the partition on a broker that is not fenced."""
        p = self.partition(topic, index)
        if node_id not in p.replicas:
            raise ValueError(f"broker {node_id} is not a replica of {topic}-{index} (replicas {p.replicas})")
        if self._is_fenced(node_id) or node_id not in p.isr:
            raise ValueError(f"broker {node_id} is not an in-sync replica of {topic}-{index} (ISR {p.isr})")
        if p.leader != node_id:
            self.set_leader(p, node_id)
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
            self.set_leader(p, running[0])
        else:
            preferred = p.replicas[0]
            if p.leader == preferred:
                raise KafkaError(ErrorCode.ELECTION_NOT_NEEDED, "Leader election not needed for topic partition.")
            if preferred not in p.isr or self._is_fenced(preferred):
                raise KafkaError(ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
                                 f"Failed to elect leader for partition {topic}-{index} under strategy "
                                 "PreferredReplicaPartitionLeaderElectionStrategy")
            self.set_leader(p, preferred)
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

    def leader_partition(self, topic: str, index: int, node_id: int | None) -> PartitionState:
        """The partition, when broker ``node_id`` leads it (None: any broker); else NOT_LEADER_OR_FOLLOWER, as
        Kafka answers a request for a partition sent to a broker that does not lead it."""
        p = self.partition(topic, index)
        if node_id is not None and p.leader != node_id:
            raise KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, "This server is not the leader for that topic-partition.")
        return p

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

    def group_offsets(self, group_id: str) -> dict[tuple[str, int], GroupOffset]:
        """Committed offset, log-end offset and lag of each partition the group has committed."""
        out = {}
        for topic, partition, entry in self.groups.committed(group_id, None):
            t = self.topics.get(topic)
            end = t.partitions[partition].high_watermark if t and partition < len(t.partitions) else -1
            committed = entry.offset if entry else -1
            out[(topic, partition)] = GroupOffset(committed, end, lag(committed, end), entry.metadata if entry else "")
        return out

    # ------------------------------------------------------------------ topics

    def topic(self, name: str) -> Topic:
        t = self.topics.get(name)
        if t is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                             "This server does not host this topic-partition.")
        return t

    def topic_by_id(self, topic_id: bytes) -> Topic:
        t = self.topics_by_id.get(bytes(topic_id))
        if t is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_ID, "This server does not host this topic ID.")
        return t

    def partition(self, topic: str, index: int) -> PartitionState:
        t = self.topic(topic)
        if not 0 <= index < len(t.partitions):
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                             "This server does not host this topic-partition.")
        return t.partitions[index]

    def new_topic_size(self, num_partitions: int, replication_factor: int,
                       assignments: dict[int, list[int]] | None) -> tuple[int, int]:
        """(partitions, replication factor) of a CreateTopics entry: -1 takes the broker default, and manual
        assignments decide both. Not validated (see check_new_topic)."""
        if assignments:
            return len(assignments), len(next(iter(assignments.values())))
        return (self.config.num_partitions if num_partitions == -1 else num_partitions,
                self.config.default_replication_factor if replication_factor == -1 else replication_factor)

    def check_new_topic(self, name: str, num_partitions: int, replication_factor: int,
                        assignments: dict[int, list[int]] | None, configs: dict[str, str | None]
                        ) -> tuple[int, int, dict[str, str]]:
        """Validate a CreateTopics entry; returns (partitions, replication factor, normalised configs)."""
        validate_topic_name(name)
        if name in self.topics:
            raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
        collide = name.replace(".", "_")
        for other in self.topics:
            if other.replace(".", "_") == collide:
                raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                                 f"Topic '{name}' collides with existing topic: {other}")
        if assignments:
            if num_partitions != -1 or replication_factor != -1:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "Both numPartitions or replicationFactor and "
                                 "replicasAssignments were set. Both cannot be used at the same time.")
            for pid, replicas in assignments.items():
                if not replicas or len(set(replicas)) != len(replicas) or any(
                        r not in self.broker_ids() for r in replicas):
                    raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                     f"Invalid replica assignment for partition {pid}: {replicas}")
            if sorted(assignments) != list(range(len(assignments))):
                raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 "Partitions should be a consecutive 0-based integer sequence")
        count, rf = self.new_topic_size(num_partitions, replication_factor, assignments)
        if not assignments:
            if count <= 0:
                raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                                 "Number of partitions was set to an invalid non-positive value.")
            if rf <= 0:
                raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                                 "Replication factor must be larger than 0, or -1 to use the default value.")
            self._check_replication_factor(rf)
        return count, rf, self.validate_configs(configs)

    def _check_replication_factor(self, rf: int) -> None:
        """INVALID_REPLICATION_FACTOR when fewer brokers than ``rf`` can take new replicas (not fenced)."""
        live = len(self._placement_brokers())
        if rf > live:
            raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                             f"Unable to replicate the partition {rf} time(s): The target replication "
                             f"factor of {rf} cannot be reached because only {live} broker(s) are registered.")

    def broker_ids(self) -> list[int]:
        """Node ids of every broker of the cluster (fenced ones too)."""
        return sorted(self.brokers) or [self.config.node_id]

    def validate_configs(self, configs: dict[str, str | None]) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in configs.items():
            cdef = TOPIC_CONFIGS.get(k)
            if cdef is None:
                raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {k}")
            try:
                out[k] = validate_config_value(cdef, v)
            except ValueError as exc:
                raise KafkaError(ErrorCode.INVALID_CONFIG, str(exc)) from None
        return out

    def create_topic(self, name: str, num_partitions: int = -1, replication_factor: int = -1,
                     configs: dict[str, str | None] | None = None,
                     assignments: dict[int, list[int]] | None = None, validate_only: bool = False) -> Topic | None:
        count, rf, normalised = self.check_new_topic(name, num_partitions, replication_factor, assignments,
                                                     configs or {})
        if validate_only:
            return None
        topic_id = uuid.uuid4().bytes
        layout = [list(assignments[i]) for i in range(count)] if assignments else self._placement(0, count, rf)
        parts = [self._new_partition(name, i, replicas) for i, replicas in enumerate(layout)]
        t = Topic(name, topic_id, parts, normalised, internal=name in INTERNAL_TOPICS)
        self._apply_log_config(t)
        if self.persistence is not None:
            self.persistence.topic(t)
        now = self.clock.now_ms()
        for p in parts:
            p.log = self.store.open_log(name, p.index, t.log_config, now)
        self.topics[name] = t
        self.topics_by_id[topic_id] = t
        return t

    def auto_create(self, name: str) -> Topic:
        """Create ``name`` with the broker defaults (Metadata auto-creation)."""
        return self.create_topic(name)  # type: ignore[return-value]

    def delete_topic(self, name: str) -> Topic:
        if not self.config.delete_topic_enable:
            raise KafkaError(ErrorCode.TOPIC_DELETION_DISABLED, "Topic deletion is disabled.")
        t = self.topic(name)
        del self.topics[name]
        del self.topics_by_id[t.topic_id]
        self.groups.remove_topic(name)
        if self.persistence is not None:
            self.persistence.topic_deleted(name)
        for p in t.partitions:
            self.store.drop_log(name, p.index)
        return t

    def create_partitions(self, name: str, count: int, assignments: list[list[int]] | None,
                          validate_only: bool) -> None:
        t = self.topic(name)
        old = len(t.partitions)
        if count <= old:
            if count == old:
                raise KafkaError(ErrorCode.INVALID_PARTITIONS, f"Topic already has {old} partitions.")
            raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                             f"The topic {name} currently has {old} partition(s); {count} would not be an "
                             "increase.")
        if assignments is not None:
            if len(assignments) != count - old:
                raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 f"Increasing the number of partitions by {count - old} but "
                                 f"{len(assignments)} assignments provided.")
            for replicas in assignments:
                if not replicas or any(r not in self.broker_ids() for r in replicas):
                    raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                     f"Invalid replica assignment {replicas}")
        check_partition_budget(count - old)
        rf = len(t.partitions[0].replicas)
        if assignments is None:
            self._check_replication_factor(rf)
        if validate_only:
            return
        now = self.clock.now_ms()
        layout = [list(a) for a in assignments] if assignments is not None else self._placement(old, count - old, rf)
        new = [self._new_partition(name, old + j, replicas) for j, replicas in enumerate(layout)]
        t.partitions.extend(new)
        t.cache.clear()
        if self.persistence is not None:
            self.persistence.topic(t)
        for p in new:
            p.log = self.store.open_log(name, p.index, t.log_config, now)

    # ------------------------------------------------------------------ configs

    def _set_configs(self, t: Topic, configs: dict[str, str]) -> None:
        t.configs = configs
        t.append_settings = None
        self._apply_log_config(t)
        if self.persistence is not None:
            self.persistence.topic(t)

    def _apply_log_config(self, t: Topic) -> None:
        c = t.log_config
        c.segment_bytes = int(self.topic_config(t, "segment.bytes"))
        c.segment_ms = int(self.topic_config(t, "segment.ms"))
        c.index_interval_bytes = int(self.topic_config(t, "index.interval.bytes"))

    def _append_settings(self, t: Topic) -> AppendSettings:
        s = t.append_settings
        if s is None:
            s = t.append_settings = AppendSettings(
                int(self.topic_config(t, "max.message.bytes")),
                self.topic_config(t, "message.timestamp.type") == "LogAppendTime",
                int(self.topic_config(t, "message.timestamp.after.max.ms")),
                int(self.topic_config(t, "message.timestamp.before.max.ms")),
                COMPRESSION_TYPES.get(self.topic_config(t, "compression.type")),
                "compact" in self.topic_config(t, "cleanup.policy").split(","),
                int(self.topic_config(t, "min.insync.replicas")))
        return s

    def topic_config(self, t: Topic, name: str) -> str:
        v = t.configs.get(name)
        return v if v is not None else self.config.topic_default(name)

    def describe_topic_configs(self, name: str, keys: Iterable[str] | None) -> list[ConfigEntry]:
        t = self.topic(name)
        wanted = list(TOPIC_CONFIGS) if keys is None else list(keys)
        out = []
        for k in wanted:
            cdef = TOPIC_CONFIGS.get(k)
            if cdef is None:
                continue  # Kafka omits unknown keys
            if k in t.configs:
                out.append(ConfigEntry(k, t.configs[k], ConfigSource.TOPIC_CONFIG, cdef.type))
            else:
                src = ConfigSource.DEFAULT_CONFIG
                if k in ("max.message.bytes", "min.insync.replicas") and self.config.topic_default(k) != cdef.default:
                    src = ConfigSource.STATIC_BROKER_CONFIG
                out.append(ConfigEntry(k, self.config.topic_default(k), src, cdef.type))
        return out

    def describe_broker_configs(self, node_id: int, keys: Iterable[str] | None) -> list[ConfigEntry]:
        b = self.brokers.get(node_id)
        allc = self.config.broker_configs(node_id, b.rack if b is not None else self.config.rack)
        wanted = list(allc) if keys is None else [k for k in keys if k in allc]
        return [ConfigEntry(k, allc[k][0], ConfigSource.STATIC_BROKER_CONFIG, allc[k][1], read_only=True)
                for k in wanted]

    def alter_topic_configs(self, name: str, ops: list[ConfigOp], validate_only: bool) -> None:
        """IncrementalAlterConfigs for one topic: validate every op, then apply all or nothing."""
        t = self.topic(name)
        seen = set()
        new = dict(t.configs)
        for op in ops:
            if op.name in seen:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Error due to duplicate config keys: {op.name}")
            seen.add(op.name)
            cdef = TOPIC_CONFIGS.get(op.name)
            if cdef is None:
                raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {op.name}")
            if op.op == 0:
                try:
                    new[op.name] = validate_config_value(cdef, op.value)
                except ValueError as exc:
                    raise KafkaError(ErrorCode.INVALID_CONFIG, str(exc)) from None
            elif op.op == 1:
                new.pop(op.name, None)
            elif op.op in (2, 3):
                if cdef.type != ConfigType.LIST:
                    raise KafkaError(ErrorCode.INVALID_CONFIG,
                                     f"Config value append is not allowed for config key: {op.name}")
                current = [i for i in self.topic_config(t, op.name).split(",") if i]
                items = [i.strip() for i in (op.value or "").split(",") if i.strip()]
                if op.op == 2:
                    current += [i for i in items if i not in current]
                else:
                    current = [i for i in current if i not in items]
                try:
                    new[op.name] = validate_config_value(cdef, ",".join(current))
                except ValueError as exc:
                    raise KafkaError(ErrorCode.INVALID_CONFIG, str(exc)) from None
            else:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown config operation {op.op}")
        if not validate_only:
            self._set_configs(t, new)

    def replace_topic_configs(self, name: str, configs: dict[str, str | None], count: int,
                              validate_only: bool) -> None:
        """AlterConfigs (legacy): the given configs become the topic's only explicit configs."""
        t = self.topic(name)
        if len(configs) != count:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
        normalised = self.validate_configs(configs)
        if not validate_only:
            self._set_configs(t, normalised)

    # ------------------------------------------------------------------ records

    def append(self, topic: str, index: int, records, node_id: int | None = None, acks: int = 1) -> AppendResult:
        """Validate and append one partition's produced batch, received by broker ``node_id`` (None: any) with
        ``acks``; raises KafkaError and changes nothing then."""
        p = self.leader_partition(topic, index, node_id)
        t = self.topics[topic]
        settings = self._append_settings(t)
        if acks == -1 and len(p.isr) < settings.min_insync_replicas:
            raise KafkaError(ErrorCode.NOT_ENOUGH_REPLICAS,
                             f"The size of the current ISR {p.isr} is insufficient to satisfy the min.isr requirement "
                             f"of {settings.min_insync_replicas} for partition {topic}-{index}")
        if records is None:
            raise KafkaError(ErrorCode.INVALID_RECORD, "Produce request contains no records")
        try:
            h = validate_produced(records)
        except BatchError as exc:
            raise KafkaError(_BATCH_ERRORS[exc.kind], str(exc)) from None
        limit = settings.max_message_bytes
        if h.size > limit:
            raise KafkaError(ErrorCode.MESSAGE_TOO_LARGE,
                             f"The record batch size in the append to {topic}-{index} is {h.size} bytes which "
                             f"exceeds the maximum configured value of {limit}.")
        now = self.clock.now_ms()
        log_append = settings.log_append_time
        if not log_append:
            after = settings.timestamp_after_max_ms
            before = settings.timestamp_before_max_ms
            if h.max_timestamp - now > after or (h.base_timestamp >= 0 and now - h.base_timestamp > before):
                raise KafkaError(ErrorCode.INVALID_TIMESTAMP,
                                 f"Timestamp {h.max_timestamp} of message is out of range. The timestamp should be "
                                 f"within [{now - before if before < now else 0}, {now + after}]")
        idempotent = h.producer_id >= 0
        if idempotent:  # first, as Kafka: a zombie fenced by markers on this partition gets INVALID_PRODUCER_EPOCH
            dup = p.producers.check(h.producer_id, h.producer_epoch, h.base_sequence, h.records_count)
            if dup is not None:  # a retry of an appended batch: answer with its original offsets
                return AppendResult(dup.base_offset, dup.timestamp if log_append else -1, p.log.log_start_offset)
        if h.is_transactional:
            self._check_transactional(h.producer_id, h.producer_epoch, topic, index)
        if settings.compacted:
            try:
                keyless = any(r.key is None for r in iter_records(records))
            except MalformedError as exc:
                raise KafkaError(ErrorCode.CORRUPT_MESSAGE, f"cannot read the batch: {exc}") from None
            if keyless:
                raise KafkaError(ErrorCode.INVALID_RECORD,
                                 f"Compacted topic cannot accept message without key in topic partition {topic}-{index}.")
        codec = settings.codec
        if codec is not None and codec != h.compression:
            try:
                records = recompress(records, codec)
            except MalformedError as exc:
                raise KafkaError(ErrorCode.CORRUPT_MESSAGE, f"cannot read the batch to recompress it: {exc}") from None
            h = read_header(records)
            if h.size > limit:
                raise KafkaError(ErrorCode.MESSAGE_TOO_LARGE,
                                 f"The record batch size in the append to {topic}-{index} is {h.size} bytes after "
                                 f"recompression, which exceeds the maximum configured value of {limit}.")
        if not isinstance(records, memoryview) or records.readonly:
            records = memoryview(bytearray(records))  # offsets are written into the batch in place
        batch = records
        max_ts = h.max_timestamp
        if log_append:
            set_log_append_time(batch, now)
            max_ts = now
        base = p.log.append(batch, h.records_count, max_ts, p.leader_epoch, now)
        if self._sync_appends:
            self._unsynced.append(p.log)
        if idempotent:
            p.producers.record(h.producer_id, h.producer_epoch, h.base_sequence, h.records_count, base, now)
            if h.is_transactional:
                p.txn_appended(h.producer_id, base)
        for listener in self.append_listeners:
            listener(p)
        return AppendResult(base, now if log_append else -1, p.log.log_start_offset)

    def read(self, p: PartitionState, offset: int, max_bytes: int, min_one: bool, upto: int | None = None
             ) -> tuple[list[memoryview], int]:
        return p.log.read(offset, max_bytes, min_one, upto)

    # ------------------------------------------------------------------ transactions

    def abort_timed_out_transactions(self) -> None:
        for txn_id in self.transactions.abort_timed_out():
            log.info("aborted transaction of %s: open longer than its timeout", txn_id)

    def _check_transactional(self, producer_id: int, epoch: int, topic: str, index: int) -> None:
        txn = self.transactions.by_producer.get(producer_id)
        if txn is not None and epoch < txn.epoch:
            raise KafkaError(ErrorCode.INVALID_PRODUCER_EPOCH,
                             f"Producer {producer_id}'s epoch {epoch} is older than the current {txn.epoch}")
        if producer_id < 0 or not self.transactions.ongoing(producer_id, epoch, topic, index):
            raise KafkaError(ErrorCode.INVALID_TXN_STATE,
                             f"Transactional records for {topic}-{index} from producer {producer_id} outside a "
                             "transaction that added the partition")

    def _write_markers(self, producer_id: int, epoch: int, partitions: set[tuple[str, int]], commit: bool) -> None:
        """End a transaction on its partitions: a COMMIT or ABORT control batch each, as Kafka's markers."""
        now = self.clock.now_ms()
        for topic, index in sorted(partitions):
            t = self.topics.get(topic)
            if t is None or index >= len(t.partitions):
                continue  # deleted meanwhile
            p = t.partitions[index]
            batch = memoryview(bytearray(control_batch(commit, producer_id, epoch, now)))
            offset = p.log.append(batch, 1, now, p.leader_epoch, now)
            p.txn_ended(producer_id, epoch, offset, commit)
            if self._sync_appends:
                p.log.flush()
            for listener in self.append_listeners:
                listener(p)

    def appended(self) -> None:
        """After the appends of one Produce request: with fsync "always", make them durable before the answer."""
        if self._unsynced:
            for log in self._unsynced:
                log.flush()
            self._unsynced.clear()

    def delete_records(self, topic: str, index: int, offset: int, node_id: int | None = None) -> int:
        """DeleteRecords for one partition, at its leader (``node_id``; None: any broker): move the log start
        offset; returns the new low watermark."""
        p = self.leader_partition(topic, index, node_id)
        if self.topic_config(self.topics[topic], "cleanup.policy").split(",") == ["compact"]:
            raise KafkaError(ErrorCode.POLICY_VIOLATION,
                             f"Records of partitions of topic {topic} with cleanup.policy=compact cannot be deleted")
        hw = p.high_watermark
        if offset == -1:
            offset = hw
        if offset < 0 or offset > hw:
            raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE,
                             f"Cannot increment the log start offset to {offset} of partition {topic}-{index} "
                             f"since it is larger than the high watermark {hw}")
        if offset > p.log.log_start_offset:
            p.log.delete_before(offset)
            self.store.save_log_start(topic, index, p.log.log_start_offset)
        return p.log.log_start_offset

    # ------------------------------------------------------------------ log maintenance

    def maintain_logs(self) -> None:
        """Retention and compaction of every partition (log.retention.check.interval.ms), and the metadata log."""
        now = self.clock.now_ms()
        for t in list(self.topics.values()):
            policy = self.topic_config(t, "cleanup.policy").split(",")
            retention_ms = int(self.topic_config(t, "retention.ms"))
            retention_bytes = int(self.topic_config(t, "retention.bytes"))
            settings = CompactionSettings(int(self.topic_config(t, "delete.retention.ms")),
                                          float(self.topic_config(t, "min.cleanable.dirty.ratio")),
                                          int(self.topic_config(t, "min.compaction.lag.ms")))
            for p in t.partitions:
                log = p.log
                if "compact" in policy:
                    compact(log, now, settings,
                            lambda base, ms, p=p: self.store.new_cleaned_segment(p.topic, p.index, base, ms),
                            self.store.commit_cleaned, self.store.finish_cleaned)
                if "delete" in policy:
                    apply_retention(log, now, retention_ms, retention_bytes)
        if self.persistence is not None:
            self.persistence.maintain()

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Open the store: with a data directory, recover the logs and replay the metadata log."""
        if self.persistence is not None or not self.store.persistent:
            return
        from kafkasim.state.metadata_log import MetadataLog
        from kafkasim.state.persistence import Persistence

        store = self.store
        store.open()
        try:
            meta_log = store.metadata_log(self.clock.now_ms())
            self.persistence = Persistence(self, MetadataLog(meta_log, self.clock.now_ms, store.fsync == "always"))
            self.persistence.load()
        except BaseException:
            # a damaged log: release the directory untouched (no clean-shutdown marker) so it can be repaired
            self.persistence = None
            self.topics.clear()
            self.topics_by_id.clear()
            store.abandon()
            raise

    def close(self) -> None:
        self.store.close()
        self.persistence = None

    def list_offset(self, p: PartitionState, timestamp: int, read_committed: bool = False) -> tuple[int, int]:
        """ListOffsets for one partition: (offset, timestamp); (-1, -1) when no record matches."""
        log = p.log
        if timestamp == EARLIEST_TIMESTAMP or timestamp == EARLIEST_LOCAL_TIMESTAMP:
            return log.log_start_offset, -1
        if timestamp == LATEST_TIMESTAMP:
            return (p.last_stable_offset if read_committed else p.high_watermark), -1
        if timestamp == MAX_TIMESTAMP:
            refs = log.batch_refs()
            if not refs:
                return -1, -1
            best_i = max(range(len(refs)), key=lambda i: (refs[i].max_timestamp, -i))
            best_ts = refs[best_i].max_timestamp
            for rec in iter_records(log.batch_at(best_i)):
                if rec.timestamp == best_ts and rec.offset >= log.log_start_offset:
                    return rec.offset, best_ts
            return refs[best_i].last_offset, best_ts
        if timestamp < 0:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Invalid timestamp {timestamp}")
        for i, ref in enumerate(log.batch_refs()):
            if ref.max_timestamp >= timestamp:
                for rec in iter_records(log.batch_at(i)):
                    if rec.timestamp >= timestamp and rec.offset >= log.log_start_offset:
                        return rec.offset, rec.timestamp
        return -1, -1


__all__ = ["ClusterState", "Topic", "PartitionState", "BrokerInfo", "AppendResult", "ConfigEntry", "ConfigOp",
           "GroupOffset"]
