"""Topics and their partitions: names and the rules for them, lookup by name and id, creation (with the
replicas placed over the brokers), deletion and added partitions (CreateTopics, DeleteTopics,
CreatePartitions, Metadata auto-creation).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from kafkasim.config import BrokerConfig
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.state.brokers import BrokerRegistry
from kafkasim.state.clock import Clock
from kafkasim.state.partitions import INTERNAL_TOPICS, NO_LEADER, PartitionState, Topic
from kafkasim.state.topic_configs import TopicConfigs

if TYPE_CHECKING:
    from kafkasim.storage.memory import MemoryStore
    from kafkasim.storage.segments import DiskStore

MAX_TOPIC_NAME = 249
#: Kafka's controller refuses to create more partitions than this in one request (POLICY_VIOLATION)
MAX_PARTITIONS_PER_BATCH = 10000
_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")


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


class TopicRegistry:
    """Every topic of the cluster, by name and by id. ``on_change(topic)`` keeps a created or grown topic,
    ``on_deleted(name)`` lets the rest of the cluster forget a deleted one."""

    def __init__(self, config: BrokerConfig, clock: Clock, store: MemoryStore | DiskStore, brokers: BrokerRegistry,
                 configs: TopicConfigs, on_change: Callable[[Topic], None],
                 on_deleted: Callable[[str], None]) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.brokers = brokers
        self.configs = configs
        self.on_change = on_change
        self.on_deleted = on_deleted
        self.topics: dict[str, Topic] = {}
        self.topics_by_id: dict[bytes, Topic] = {}
        # the internal topics that exist (name -> topic id): as in Kafka, each comes into being with the first
        # FindCoordinator of its key type, or a Metadata request that may auto-create it. Their partitions are
        # the coordinators' (Leadership.coordinator_parts); they hold no log here.
        self.internal: dict[str, bytes] = {}

    def create_internal(self, name: str) -> bytes:
        """``name`` (one of INTERNAL_TOPICS) exists from now on; its topic id."""
        topic_id = self.internal.get(name)
        if topic_id is None:
            topic_id = self.internal[name] = uuid.uuid4().bytes
        return topic_id

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
        if name in self.topics or (name in self.internal and name in INTERNAL_TOPICS):
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
                        r not in self.brokers.broker_ids() for r in replicas):
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
            self.brokers.check_replication_factor(rf)
        return count, rf, self.configs.validate_configs(configs)

    def create_topic(self, name: str, num_partitions: int = -1, replication_factor: int = -1,
                     configs: dict[str, str | None] | None = None,
                     assignments: dict[int, list[int]] | None = None, validate_only: bool = False) -> Topic | None:
        count, rf, normalised = self.check_new_topic(name, num_partitions, replication_factor, assignments,
                                                     configs or {})
        if validate_only:
            return None
        topic_id = uuid.uuid4().bytes
        layout = [list(assignments[i]) for i in range(count)] if assignments else self.brokers.placement(0, count, rf)
        parts = [self._new_partition(name, i, replicas) for i, replicas in enumerate(layout)]
        t = Topic(name, topic_id, parts, normalised, internal=name in INTERNAL_TOPICS)
        self.configs.apply_log_config(t)
        self.on_change(t)
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
        self.on_deleted(name)
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
                if not replicas or any(r not in self.brokers.broker_ids() for r in replicas):
                    raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                     f"Invalid replica assignment {replicas}")
        check_partition_budget(count - old)
        rf = len(t.partitions[0].replicas)
        if assignments is None:
            self.brokers.check_replication_factor(rf)
        if validate_only:
            return
        now = self.clock.now_ms()
        layout = [list(a) for a in assignments] if assignments is not None else self.brokers.placement(old, count - old, rf)
        new = [self._new_partition(name, old + j, replicas) for j, replicas in enumerate(layout)]
        t.partitions.extend(new)
        t.cache.clear()
        self.on_change(t)
        for p in new:
            p.log = self.store.open_log(name, p.index, t.log_config, now)

    def leader_partition(self, topic: str, index: int, node_id: int | None) -> PartitionState:
        """The partition, when broker ``node_id`` leads it (None: any broker); else NOT_LEADER_OR_FOLLOWER, as
        Kafka answers a request for a partition sent to a broker that does not lead it."""
        p = self.partition(topic, index)
        if node_id is not None and p.leader != node_id:
            raise KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER, "This server is not the leader for that topic-partition.")
        return p

    def _new_partition(self, topic: str, index: int, replicas: list[int]) -> PartitionState:
        isr = [r for r in replicas if not self.brokers.is_fenced(r)]
        leader = self.brokers.first_eligible(replicas, isr)
        if leader == NO_LEADER:
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             f"All brokers specified in the manual partition assignment for partition {index} are "
                             "fenced or in controlled shutdown.")
        return PartitionState(topic, index, None, leader, list(replicas), isr=isr)  # type: ignore[arg-type]

    def partition_count(self, topic: str) -> int | None:
        t = self.topics.get(topic)
        return None if t is None else len(t.partitions)
