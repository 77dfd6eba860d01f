"""What a data directory keeps besides the partition logs, and how a restart rebuilds the broker state.

Kept in the metadata log (:mod:`kafkasim.state.metadata_log`): the cluster id (as Kafka's meta.properties
keeps it: the directory's id wins over the configured one, so clients see the same cluster after a
restart), topics (id, partitions and their replicas, configs), committed offsets, classic group metadata
(generation, protocol, leader, members with their subscriptions and assignments: Kafka's GroupMetadata
record, written when a generation is synced and when the group empties) and the producer id block.
Rebuilt from the partition logs, as Kafka does: each partition's producer state (the last five batches of
every idempotent producer, from the batch headers read during recovery) and the next producer id.

After a restart, restored group members keep their generation and must heartbeat within their session
timeout, as after a coordinator failover in Kafka; KIP-848 groups keep their committed offsets, and their
members rejoin (their epochs are not kept).
"""

from __future__ import annotations

import base64
import logging
import uuid
from typing import TYPE_CHECKING, Any

from kafkasim.state.groups import Group, GroupState, Member, OffsetEntry
from kafkasim.state.metadata_log import (
    CLUSTER_ID,
    GROUP,
    OFFSET,
    PRODUCER_IDS,
    TOPIC,
    MetadataLog,
    offset_key,
    parse_offset_key,
)
from kafkasim.state.producers import PartitionProducers

if TYPE_CHECKING:
    from kafkasim.state.cluster import ClusterState, Topic

log = logging.getLogger(__name__)

PRODUCER_ID_BLOCK = 1000


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


class Persistence:
    """Writes state changes to the metadata log and rebuilds the state from a data directory."""

    def __init__(self, state: ClusterState, mlog: MetadataLog) -> None:
        self.state = state
        self.mlog = mlog
        self.live_keys = 0
        self._offset_keys: set[str] = set()
        self._group_keys: set[str] = set()
        self._topic_keys: set[str] = set()
        state.groups.on_offsets = self.offsets
        state.groups.on_group = self.group
        state.producer_ids.on_block = self.producer_id_block

    # ------------------------------------------------------------------ writes

    def topic(self, t: Topic) -> None:
        key = TOPIC + t.name
        self._topic_keys.add(key)
        self.mlog.put([(key, {"id": str(uuid.UUID(bytes=t.topic_id)), "configs": t.configs,
                              "partitions": [[p.leader, p.replicas, p.leader_epoch] for p in t.partitions]})])

    def topic_deleted(self, name: str) -> None:
        self._topic_keys.discard(TOPIC + name)
        self.mlog.put([(TOPIC + name, None)])

    def offsets(self, group_id: str, changes: list[tuple[str, int, OffsetEntry | None]]) -> None:
        items = []
        for topic, partition, e in changes:
            key = offset_key(group_id, topic, partition)
            if e is None:
                self._offset_keys.discard(key)
                items.append((key, None))
            else:
                self._offset_keys.add(key)
                items.append((key, [e.offset, e.leader_epoch, e.metadata, e.commit_timestamp]))
        self.mlog.put(items)

    def group(self, g: Group) -> None:
        key = GROUP + g.group_id
        if g.state == GroupState.DEAD:
            self._group_keys.discard(key)
            self.mlog.put([(key, None)])
            return
        self._group_keys.add(key)
        members = [{"id": m.member_id, "instance": m.group_instance_id, "client": m.client_id, "host": m.client_host,
                    "session": m.session_timeout_ms, "rebalance": m.rebalance_timeout_ms,
                    "protocols": [[n, _b64(meta)] for n, meta in m.protocols], "assignment": _b64(m.assignment)}
                   for m in g.members.values()]
        self.mlog.put([(key, {"generation": g.generation, "protocol_type": g.protocol_type,
                              "protocol": g.protocol_name, "leader": g.leader_id, "members": members})])

    def producer_id_block(self, block_end: int) -> None:
        self.mlog.put([(PRODUCER_IDS, block_end)])

    def maintain(self) -> None:
        store = self.state.store
        live = len(self._topic_keys) + len(self._offset_keys) + len(self._group_keys) + 2  # producer ids, cluster id
        self.mlog.maybe_compact(live, lambda base, ms: store.new_cleaned_segment("__cluster_metadata", 0, base, ms),
                                store.commit_cleaned, store.finish_cleaned)

    # ------------------------------------------------------------------ load

    def load(self) -> None:
        from kafkasim.state.cluster import INTERNAL_TOPICS, PartitionState, Topic

        state = self.state
        store = state.store
        now = state.clock.now_ms()
        entries = self.mlog.replay()
        stored_id = entries.get(CLUSTER_ID)
        if stored_id is None:
            self.mlog.put([(CLUSTER_ID, state.cluster_id)])
        elif stored_id != state.cluster_id:
            log.info("cluster id %s from the data directory (not %s)", stored_id, state.cluster_id)
            state.cluster_id = stored_id
        max_pid = -1
        for key, value in entries.items():
            if not key.startswith(TOPIC):
                continue
            name = key[len(TOPIC):]
            self._topic_keys.add(key)
            topic_id = uuid.UUID(value["id"]).bytes
            parts = [PartitionState(name, i, None, leader, list(replicas), epoch)  # type: ignore[arg-type]
                     for i, (leader, replicas, epoch) in enumerate(value["partitions"])]
            t = Topic(name, topic_id, parts, dict(value["configs"]), internal=name in INTERNAL_TOPICS)
            state._apply_log_config(t)
            for p in parts:
                producers = p.producers
                p.log = store.open_log(name, p.index, t.log_config, now,
                                       on_batch=lambda *h, producers=producers: _rebuild_producer(producers, *h))
                for pid in producers.entries:
                    max_pid = max(max_pid, pid)
            state.topics[name] = t
            state.topics_by_id[topic_id] = t
        for topic, index, _path in list(store.partition_dirs()):
            t = state.topics.get(topic)
            if t is None or index >= len(t.partitions):
                store.remove_stray(topic, index)
        groups = state.groups
        for key, value in entries.items():
            if key.startswith(OFFSET):
                group_id, topic, partition = parse_offset_key(key)
                self._offset_keys.add(key)
                g = groups.groups.setdefault(group_id, Group(group_id))
                g.offsets[(topic, partition)] = OffsetEntry(*value)
            elif key.startswith(GROUP):
                self._group_keys.add(key)
                self._restore_group(key[len(GROUP):], value, now)
        block = entries.get(PRODUCER_IDS, 0)
        state.producer_ids.resume(max(block, max_pid + 1))
        if store.truncated_bytes:
            log.warning("recovery truncated %d bytes of torn or corrupt batches", store.truncated_bytes)
        log.info("loaded %d topics, %d committed offsets and %d groups from %s (%s shutdown)", len(state.topics),
                 len(self._offset_keys), len(self._group_keys), store.root, "clean" if store.clean else "unclean")

    def _restore_group(self, group_id: str, value: dict[str, Any], now: int) -> None:
        groups = self.state.groups
        g = groups.groups.setdefault(group_id, Group(group_id))
        g.generation = value["generation"]
        g.protocol_type = value["protocol_type"]
        g.protocol_name = value["protocol"]
        g.leader_id = value["leader"]
        for m in value["members"]:
            member = Member(m["id"], m["instance"], m["client"], m["host"], m["session"], m["rebalance"],
                            g.protocol_type or "", [(n, _unb64(meta)) for n, meta in m["protocols"]],
                            _unb64(m["assignment"]), heartbeat_deadline=now + m["session"])
            g.members[member.member_id] = member
            if member.group_instance_id is not None:
                g.static_members[member.group_instance_id] = member.member_id
        g.state = GroupState.STABLE if g.members else GroupState.EMPTY


def _rebuild_producer(producers: PartitionProducers, base: int, last_delta: int, max_ts: int, pid: int, epoch: int,
                      seq: int, count: int, transactional: bool) -> None:
    """Producer state from a batch header read during recovery, as Kafka rebuilds it from the log."""
    if pid < 0 or seq < 0:
        return
    # the last sequence follows lastOffsetDelta, not the record count: compaction removes records, not offsets
    producers.record(pid, epoch, seq, last_delta + 1, base, max_ts)
