"""What a data directory keeps besides the partition logs, and how a restart rebuilds the broker state.

Kept in the metadata log (:mod:`kafkasim.state.metadata_log`): the cluster id (as Kafka's meta.properties
keeps it: the directory's id wins over the configured one, so clients see the same cluster after a
restart), topics (id, partitions and their replicas, configs), dynamic broker configs, client quotas,
committed offsets, classic group metadata (generation, protocol, leader, members with their subscriptions
and assignments: Kafka's GroupMetadata record, written when a generation is synced and when the group
empties) and the producer id block.
Rebuilt from the partition logs, as Kafka does: each partition's producer state (the last five batches of
every idempotent producer, from the batch headers read during recovery) and the next producer id.

After a restart, restored group members keep their generation and must heartbeat within their session
timeout, as after a coordinator failover in Kafka; KIP-848 groups keep their committed offsets, and their
members rejoin (their epochs are not kept).
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from typing import TYPE_CHECKING, Any, Protocol

from kafkasim.protocol.records import CONTROL_ABORT
from kafkasim.state.group_model import Group, GroupState, Member, OffsetEntry
from kafkasim.state.metadata_log import (
    ACL,
    BROKER_CONFIG,
    CLUSTER_ID,
    GROUP,
    OFFSET,
    PRODUCER_IDS,
    QUOTA,
    SCRAM,
    TOPIC,
    TXN,
    TXN_OFFSETS,
    MetadataLog,
    offset_key,
    parse_offset_key,
)
from kafkasim.state.partitions import INTERNAL_TOPICS, PartitionState, Topic, set_leader
from kafkasim.state.transactions import Transaction, TxnState

if TYPE_CHECKING:
    from kafkasim.config import BrokerConfig
    from kafkasim.security.scram import ScramCredential
    from kafkasim.state.acls import AclBinding, Acls
    from kafkasim.state.clock import Clock
    from kafkasim.state.credentials import Credentials
    from kafkasim.state.groups import GroupCoordinator
    from kafkasim.state.producers import ProducerIds
    from kafkasim.state.quotas import ClientQuotas, Entity
    from kafkasim.state.topic_configs import TopicConfigs
    from kafkasim.state.transactions import TransactionCoordinator
    from kafkasim.storage.segments import DiskStore

log = logging.getLogger(__name__)

PRODUCER_ID_BLOCK = 1000


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


class PersistedState(Protocol):
    """What persistence keeps and restores of the cluster's state (ClusterState has it all)."""

    cluster_id: str
    config: BrokerConfig
    clock: Clock
    store: DiskStore
    topics: dict[str, Topic]
    topics_by_id: dict[bytes, Topic]
    topic_configs: TopicConfigs
    groups: GroupCoordinator
    producer_ids: ProducerIds
    transactions: TransactionCoordinator
    credentials: Credentials
    acls: Acls
    quotas: ClientQuotas


class Persistence:
    """Writes state changes to the metadata log and rebuilds the state from a data directory."""

    def __init__(self, state: PersistedState, mlog: MetadataLog) -> None:
        self.state = state
        self.mlog = mlog
        state.groups.on_offsets = self.offsets
        state.groups.on_group = self.group
        state.groups.on_txn_offsets = self.txn_offsets
        state.producer_ids.on_block = self.producer_id_block
        state.transactions.on_change = self.transaction
        state.credentials.on_change = self.scram
        state.acls.on_change = self.acl
        state.quotas.on_change = self.quota
        state.topic_configs.dynamic.on_change = self.broker_configs

    # ------------------------------------------------------------------ writes

    def topic(self, t: Topic) -> None:
        key = TOPIC + t.name
        self.mlog.put([(key, {"id": str(uuid.UUID(bytes=t.topic_id)), "configs": t.configs,
                              "partitions": [[p.leader, p.replicas, p.leader_epoch, p.isr, p.epoch_starts]
                                             for p in t.partitions]})])

    def topic_deleted(self, name: str) -> None:
        self.mlog.put([(TOPIC + name, None)])

    def offsets(self, group_id: str, changes: list[tuple[str, int, OffsetEntry | None]]) -> None:
        items = []
        for topic, partition, e in changes:
            key = offset_key(group_id, topic, partition)
            if e is None:
                items.append((key, None))
            else:
                items.append((key, [e.offset, e.leader_epoch, e.metadata, e.commit_timestamp]))
        self.mlog.put(items)

    def group(self, g: Group) -> None:
        key = GROUP + g.group_id
        if g.state == GroupState.DEAD:
            self.mlog.put([(key, None)])
            return
        members = [{"id": m.member_id, "instance": m.group_instance_id, "client": m.client_id, "host": m.client_host,
                    "session": m.session_timeout_ms, "rebalance": m.rebalance_timeout_ms,
                    "protocols": [[n, _b64(meta)] for n, meta in m.protocols], "assignment": _b64(m.assignment)}
                   for m in g.members.values()]
        self.mlog.put([(key, {"generation": g.generation, "protocol_type": g.protocol_type,
                              "protocol": g.protocol_name, "leader": g.leader_id, "members": members})])

    def transaction(self, t: Transaction) -> None:
        key = TXN + t.transactional_id
        self.mlog.put([(key, {"pid": t.producer_id, "epoch": t.epoch, "timeout": t.timeout_ms, "state": t.state.value,
                              "partitions": sorted(t.partitions), "groups": sorted(t.groups), "start": t.start_ms})])

    def txn_offsets(self, group_id: str, producer_id: int, offsets: dict[tuple[str, int], OffsetEntry] | None) -> None:
        key = TXN_OFFSETS + json.dumps([group_id, producer_id])
        if offsets is None:
            self.mlog.put([(key, None)])
            return
        self.mlog.put([(key, [[t, p, *e] for (t, p), e in offsets.items()])])

    def scram(self, user: str, mechanism: str, c: ScramCredential | None) -> None:
        # a deletion is a value, not a tombstone: a user of the config must stay deleted after compaction
        value = "deleted" if c is None else [_b64(c.salt), _b64(c.stored_key), _b64(c.server_key), c.iterations]
        self.mlog.put([(SCRAM + json.dumps([user, mechanism]), value)])

    def acl(self, b: AclBinding, added: bool) -> None:
        self.mlog.put([(ACL + json.dumps(b.as_list()), 1 if added else None)])
    def quota(self, entity: Entity, values: dict[str, float] | None) -> None:
        self.mlog.put([(QUOTA + json.dumps([list(pair) for pair in entity]), values)])

    def broker_configs(self, node_id: int | None, configs: dict[str, str]) -> None:
        self.mlog.put([(BROKER_CONFIG + ("" if node_id is None else str(node_id)), configs or None)])

    def producer_id_block(self, block_end: int) -> None:
        self.mlog.put([(PRODUCER_IDS, block_end)])

    def maintain(self) -> None:
        store = self.state.store
        self.mlog.maybe_compact(lambda base, ms: store.new_cleaned_segment("__cluster_metadata", 0, base, ms),
                                store.commit_cleaned, store.finish_cleaned)

    # ------------------------------------------------------------------ load

    def load(self) -> None:
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
        configured = set(state.config.node_ids())
        for key, value in entries.items():
            if not key.startswith(TOPIC):
                continue
            name = key[len(TOPIC):]
            topic_id = uuid.UUID(value["id"]).bytes
            elect: dict[int, int] = {}
            parts = [_restored_partition(name, i, entry, configured, elect)
                     for i, entry in enumerate(value["partitions"])]
            t = Topic(name, topic_id, parts, dict(value["configs"]), internal=name in INTERNAL_TOPICS)
            state.topic_configs.apply_log_config(t)
            for p in parts:
                p.log = store.open_log(name, p.index, t.log_config, now,
                                       on_batch=lambda *h, p=p: _rebuild_partition(p, *h))
                if p.index in elect:  # its leader is not a broker of this start: the epoch moves on
                    set_leader(p, elect[p.index])
                for pid in p.producers.entries:
                    max_pid = max(max_pid, pid)
            state.topics[name] = t
            state.topics_by_id[topic_id] = t
            if elect:
                self.topic(t)  # the new epochs, so that the next start goes on from them
        for topic, index, _path in list(store.partition_dirs()):
            t = state.topics.get(topic)
            if t is None or index >= len(t.partitions):
                store.remove_stray(topic, index)
        groups = state.groups
        for key, value in entries.items():
            if key.startswith(OFFSET):
                group_id, topic, partition = parse_offset_key(key)
                g = groups.groups.setdefault(group_id, Group(group_id))
                g.offsets[(topic, partition)] = OffsetEntry(*value)
            elif key.startswith(GROUP):
                self._restore_group(key[len(GROUP):], value, now)
            elif key.startswith(TXN_OFFSETS):
                group_id, pid = json.loads(key[len(TXN_OFFSETS):])
                groups.pending_txn_offsets.setdefault(group_id, {})[pid] = {
                    (t, p): OffsetEntry(*rest) for t, p, *rest in value}
            elif key.startswith(TXN):
                txn = Transaction(key[len(TXN):], value["pid"], value["epoch"], value["timeout"],
                                  TxnState(value["state"]), {(t, p) for t, p in value["partitions"]},
                                  set(value["groups"]), value["start"])
                state.transactions.restore(txn)
                max_pid = max(max_pid, txn.producer_id)
        self._restore_credentials(entries)
        from kafkasim.state.acls import AclBinding

        for key, value in entries.items():
            if key.startswith(ACL):
                state.acls.restore(AclBinding(*json.loads(key[len(ACL):])))
            elif key.startswith(QUOTA):
                state.quotas.restore(tuple((t, n) for t, n in json.loads(key[len(QUOTA):])), value)
            elif key.startswith(BROKER_CONFIG):
                node = key[len(BROKER_CONFIG):]
                state.topic_configs.dynamic.restore(int(node) if node else None, value)
                state.topic_configs.defaults_changed(state.topics.values())
        block = entries.get(PRODUCER_IDS, 0)  # ids in the logs and transactions were handed out before it
        state.producer_ids.resume(max(block, max_pid + 1))
        if store.truncated_bytes:
            log.warning("recovery truncated %d bytes of torn or corrupt batches", store.truncated_bytes)
        log.info("loaded %d topics, %d committed offsets and %d groups from %s (%s shutdown)", len(state.topics),
                 sum(k.startswith(OFFSET) for k in entries), sum(k.startswith(GROUP) for k in entries), store.root,
                 "clean" if store.clean else "unclean")

    def _restore_credentials(self, entries: dict[str, Any]) -> None:
        """SCRAM credentials altered over the wire: kept ones replace the config's, deleted ones stay deleted."""
        from kafkasim.security.scram import ScramCredential

        creds = self.state.credentials
        for key, value in entries.items():
            if key.startswith(SCRAM):
                user, mechanism = json.loads(key[len(SCRAM):])
                if value == "deleted":
                    creds.forget(user, mechanism)
                    continue
                salt, stored, server, iterations = value
                creds.restore(user, mechanism, ScramCredential(_unb64(salt), _unb64(stored), _unb64(server),
                                                               iterations))

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


def _restored_partition(topic: str, index: int, entry: list, configured: set[int], elect: dict[int, int]
                        ) -> PartitionState:
    """A partition from its topic record (leader, replicas, epoch[, ISR, epoch starts]). Every broker of the
    configuration starts with the broker, so each replica it has is in sync again; a partition whose leader
    is not one of them (offline when the broker stopped, or a broker no longer configured) is to get the
    first replica that is (``elect``: partition -> new leader, -1 for none), once its log is open."""
    leader, replicas, epoch = entry[0], list(entry[1]), entry[2]
    starts = [(e, o) for e, o in entry[4]] if len(entry) > 4 else []
    p = PartitionState(topic, index, None, leader, replicas, epoch, isr=[r for r in replicas if r in configured],
                       epoch_starts=starts)  # type: ignore[arg-type]
    if leader not in p.isr:
        if not p.isr:
            log.warning("%s-%d: none of its replicas %s is a broker of this cluster; it has no leader", topic, index,
                        replicas)
            p.isr = replicas[:1]
        new = p.isr[0] if p.isr[0] in configured else -1
        if new != leader:
            elect[index] = new
    return p


def _rebuild_partition(p: PartitionState, base: int, last_delta: int, max_ts: int, pid: int, epoch: int,
                       seq: int, count: int, transactional: bool, control: int) -> None:
    """Producer and transaction state from a batch header read during recovery, as Kafka rebuilds it from the
    log: sequences of idempotent producers, open transactions (their first offset holds the last stable
    offset back) and aborted ones (for read_committed fetches), ended by markers."""
    if control >= 0:
        p.txn_ended(pid, epoch, base, control != CONTROL_ABORT)
        return
    if transactional:
        p.txn_appended(pid, base)
    if pid >= 0 and seq >= 0:
        # the last sequence follows lastOffsetDelta, not the record count: compaction removes records, not offsets
        p.producers.record(pid, epoch, seq, last_delta + 1, base, max_ts)
