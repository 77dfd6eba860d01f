"""The ClusterState facade: one object with the state of one cluster, wired from the parts that own it.

Synchronous and free of protocol messages: handlers call these methods and translate results and
:class:`KafkaError` into responses. Each concept lives in its own module, and this one only wires them:

- :mod:`~kafkasim.state.brokers`: brokers, racks, fencing flags, the controller, replica placement
- :mod:`~kafkasim.state.topics`: topics and partitions (create, delete, add partitions, lookups)
- :mod:`~kafkasim.state.topic_configs`: topic configs (validate, describe, alter) and broker configs
- :mod:`~kafkasim.state.leadership`: leaders, elections, broker lifecycle, coordinators, rack-aware fetching
- :mod:`~kafkasim.state.log_ops`: append, read, ListOffsets, DeleteRecords, markers, retention
- :mod:`~kafkasim.state.groups`, :mod:`~kafkasim.state.transactions`: the coordinators
- :mod:`~kafkasim.state.persistence`: with a data directory, what is kept and how a restart rebuilds it

Appends notify ``append_listeners`` (the server wakes Fetch long-polls).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NamedTuple

from kafkasim.config import BrokerConfig
from kafkasim.state.acls import Acls
from kafkasim.state.brokers import BrokerRegistry
from kafkasim.state.clock import Clock, ManualClock
from kafkasim.state.consumer_protocol import lag
from kafkasim.state.credentials import Credentials
from kafkasim.state.group_model import GroupConfig
from kafkasim.state.groups import GroupCoordinator
from kafkasim.state.leadership import Leadership
from kafkasim.state.log_ops import LogOperations
from kafkasim.state.partitions import PartitionState, Topic
from kafkasim.state.producers import ProducerIds
from kafkasim.state.quotas import ClientQuotas
from kafkasim.state.reassignments import Reassignments
from kafkasim.state.topic_configs import ConfigEntry, ConfigOp, TopicConfigs
from kafkasim.state.topics import TopicRegistry
from kafkasim.state.transactions import TransactionCoordinator
from kafkasim.storage.memory import MemoryStore

if TYPE_CHECKING:  # the disk store and persistence are imported only with a data directory (start-up time)
    from kafkasim.schemas.registry import SchemaRegistryState
    from kafkasim.state.persistence import Persistence
    from kafkasim.storage.segments import DiskStore

log = logging.getLogger(__name__)


class GroupOffset(NamedTuple):
    committed: int
    log_end: int
    lag: int
    metadata: str


class ClusterState:
    """The state of one cluster: brokers, topics and their logs, leaders and coordinators."""

    #: The parts' operations that callers reach through ClusterState, by part. Each is bound once, as this
    #: object's own attribute: the hot path (append, read, partition lookups) pays no extra call.
    _SERVED = {
        "broker_registry": ("brokers_by_id", "live_brokers", "broker_ids", "set_rack", "next_fence_deadline"),
        "topic_registry": ("topic", "topic_by_id", "partition", "leader_partition", "new_topic_size", "create_topic",
                           "auto_create", "delete_topic", "create_partitions"),
        "topic_configs": ("topic_config", "describe_broker_configs"),
        "leadership": ("register_broker", "broker_stopped", "broker_started", "fence_expired_brokers", "move_leader",
                       "elect_leader", "elect_leaders", "preferred_read_replica", "coordinator", "coordinates",
                       "check_coordinator"),
        "logs": ("append", "appended", "read", "list_offset", "delete_records"),
    }
    # slots: past 30 attributes a plain instance dict makes every ``state.x`` lookup slower
    __slots__ = ("config", "clock", "cluster_id", "store", "append_listeners", "producer_ids", "persistence",
                 "broker_registry", "brokers", "topic_configs", "topic_registry", "topics", "topics_by_id", "groups",
                 "leadership", "logs", "transactions", "reassignments", "credentials", "acls", "quotas",
                 *(name for names in _SERVED.values() for name in names))

    def __init__(self, config: BrokerConfig, clock: Clock | None = None,
                 store: MemoryStore | DiskStore | None = None) -> None:
        self.config = config
        if clock is None:
            clock = ManualClock(Clock().now_ms()) if config.clock == "virtual" else Clock()
        self.clock = clock
        self.cluster_id = config.cluster_id
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

        self.broker_registry = brokers = BrokerRegistry(config)
        self.brokers = brokers.brokers
        self.topic_configs = configs = TopicConfigs(config, brokers.brokers, self._topic_changed)
        self.topic_registry = topics = TopicRegistry(config, clock, store, brokers, configs, self._topic_changed,
                                                     self._topic_deleted)
        self.topics = topics.topics
        self.topics_by_id = topics.topics_by_id
        self.groups = GroupCoordinator(
            GroupConfig(min_session_timeout_ms=config.group_min_session_timeout_ms,
                        max_session_timeout_ms=config.group_max_session_timeout_ms,
                        initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
                        max_size=config.group_max_size,
                        consumer_session_timeout_ms=config.group_consumer_session_timeout_ms,
                        consumer_heartbeat_interval_ms=config.group_consumer_heartbeat_interval_ms),
            clock, topics.partition_count, self.topics.keys)
        self.leadership = Leadership(config, clock, brokers, topics, self.append_listeners, self._topic_changed,
                                     self.groups.coordinator_moved)
        self.logs = logs = LogOperations(clock, store, topics, configs, self.append_listeners)
        self.transactions = TransactionCoordinator(clock, self.producer_ids, config.transaction_max_timeout_ms,
                                                   logs.write_markers, self.groups.end_txn_offsets)
        logs.transactions = self.transactions
        self.reassignments = Reassignments(clock, brokers, topics, self.leadership.changed)
        self.credentials = Credentials(config)
        self.acls = Acls(config)
        self.quotas = ClientQuotas()

        for part, names in self._SERVED.items():
            served = getattr(self, part)
            for name in names:
                setattr(self, name, getattr(served, name))

    @property
    def controller_id(self) -> int:
        return self.broker_registry.controller_id

    # ------------------------------------------------------------------ what crosses the parts

    def _topic_changed(self, t: Topic) -> None:
        if self.persistence is not None:
            self.persistence.topic(t)

    def _topic_deleted(self, name: str) -> None:
        self.groups.remove_topic(name)
        self.reassignments.topic_deleted(name)
        if self.persistence is not None:
            self.persistence.topic_deleted(name)

    def describe_topic_configs(self, name: str, keys: Iterable[str] | None) -> list[ConfigEntry]:
        return self.topic_configs.describe_topic_configs(self.topic(name), keys)

    def alter_topic_configs(self, name: str, ops: list[ConfigOp], validate_only: bool) -> None:
        """IncrementalAlterConfigs for one topic: validate every op, then apply all or nothing."""
        self.topic_configs.alter_topic_configs(self.topic(name), ops, validate_only)

    def replace_topic_configs(self, name: str, configs: dict[str, str | None], count: int,
                              validate_only: bool) -> None:
        """AlterConfigs (legacy): the given configs become the topic's only explicit configs."""
        self.topic_configs.replace_topic_configs(self.topic(name), configs, count, validate_only)

    def group_offsets(self, group_id: str) -> dict[tuple[str, int], GroupOffset]:
        """Committed offset, log-end offset and lag of each partition the group has committed."""
        out = {}
        for topic, partition, entry in self.groups.committed(group_id, None):
            t = self.topics.get(topic)
            end = t.partitions[partition].high_watermark if t and partition < len(t.partitions) else -1
            committed = entry.offset if entry else -1
            out[(topic, partition)] = GroupOffset(committed, end, lag(committed, end), entry.metadata if entry else "")
        return out

    def abort_timed_out_transactions(self) -> None:
        for txn_id in self.transactions.abort_timed_out():
            log.info("aborted transaction of %s: open longer than its timeout", txn_id)

    def maintain_logs(self) -> None:
        """Retention and compaction of every partition, and the metadata log: all that is due (a virtual clock
        moved on, or a test asks)."""
        self.logs.maintain_logs()
        if self.persistence is not None:
            self.persistence.maintain()

    def apply_retention(self) -> None:
        """Retention (log.retention.check.interval.ms), and the metadata log's own cleaning."""
        self.logs.apply_retention()
        if self.persistence is not None:
            self.persistence.maintain()

    def clean_logs(self) -> None:
        """The log cleaner's pass: compaction (log.cleaner.backoff.ms)."""
        self.logs.clean_logs()

    # ------------------------------------------------------------------ lifecycle

    @property
    def schema_registry(self) -> SchemaRegistryState | None:
        """The schema registry's subjects and ids, while the cluster serves one (schema-at-producer checks
        appends against it)."""
        return self.logs.schema_registry

    @schema_registry.setter
    def schema_registry(self, registry: SchemaRegistryState | None) -> None:
        self.logs.schema_registry = registry

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
