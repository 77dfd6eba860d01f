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
    node_id: int
    host: str
    port: int
    rack: str | None = None


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
    """The state of one cluster: brokers, topics and their logs."""

    def __init__(self, config: BrokerConfig, clock: Clock | None = None,
                 store: MemoryStore | DiskStore | None = None) -> None:
        self.config = config
        if clock is None:
            clock = ManualClock(Clock().now_ms()) if config.clock == "virtual" else Clock()
        self.clock = clock
        self.cluster_id = config.cluster_id
        self.controller_id = config.node_id
        self.brokers: dict[int, BrokerInfo] = {}
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
        self.brokers[node_id] = BrokerInfo(node_id, host, port, rack)

    def _placement(self, index: int, replication_factor: int) -> tuple[int, list[int]]:
        """(leader, replicas) of a new partition: round-robin over brokers, leader first."""
        ids = self.broker_ids()
        replicas = [ids[(index + j) % len(ids)] for j in range(min(replication_factor, len(ids)))]
        return replicas[0], replicas

    def _partition_count(self, topic: str) -> int | None:
        t = self.topics.get(topic)
        return None if t is None else len(t.partitions)

    def coordinator(self) -> BrokerInfo:
        """The broker that coordinates every group and transactional id (one broker for now)."""
        ids = self.broker_ids()
        b = self.brokers.get(ids[0])
        if b is None:
            raise KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, "The coordinator is not available.")
        return b

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
            if rf > len(self.broker_ids()):
                raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                                 f"Unable to replicate the partition {rf} time(s): The target replication "
                                 f"factor of {rf} cannot be reached because only {len(self.broker_ids())} "
                                 "broker(s) are registered.")
        return count, rf, self.validate_configs(configs)

    def broker_ids(self) -> list[int]:
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
        parts = []
        for i in range(count):
            if assignments:
                replicas = list(assignments[i])
                leader = replicas[0]
            else:
                leader, replicas = self._placement(i, rf)
            parts.append(PartitionState(name, i, None, leader, replicas))  # type: ignore[arg-type]
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
        if validate_only:
            return
        now = self.clock.now_ms()
        new = []
        for i in range(old, count):
            if assignments is not None:
                replicas = list(assignments[i - old])
                leader = replicas[0]
            else:
                leader, replicas = self._placement(i, len(t.partitions[0].replicas))
            new.append(PartitionState(name, i, None, leader, replicas))  # type: ignore[arg-type]
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
                "compact" in self.topic_config(t, "cleanup.policy").split(","))
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
                if k == "max.message.bytes" and self.config.message_max_bytes != 1048588:
                    src = ConfigSource.STATIC_BROKER_CONFIG
                out.append(ConfigEntry(k, self.config.topic_default(k), src, cdef.type))
        return out

    def describe_broker_configs(self, keys: Iterable[str] | None) -> list[ConfigEntry]:
        allc = self.config.broker_configs()
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

    def append(self, topic: str, index: int, records) -> AppendResult:
        """Validate and append one partition's produced batch; raises KafkaError and changes nothing then."""
        p = self.partition(topic, index)
        t = self.topics[topic]
        if records is None:
            raise KafkaError(ErrorCode.INVALID_RECORD, "Produce request contains no records")
        try:
            h = validate_produced(records)
        except BatchError as exc:
            raise KafkaError(_BATCH_ERRORS[exc.kind], str(exc)) from None
        settings = self._append_settings(t)
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

    def delete_records(self, topic: str, index: int, offset: int) -> int:
        """DeleteRecords for one partition: move the log start offset; returns the new low watermark."""
        p = self.partition(topic, index)
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
