"""The committed offsets of classic groups: OffsetCommit (in and out of a generation, transactional ones
pending until their transaction ends), OffsetFetch, OffsetDelete, DeleteGroups and the offsets of deleted
topics. A part of the coordinator (GroupCoordinator mixes it in): it works on the groups it holds."""

from __future__ import annotations

from collections.abc import Iterable

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.protocol.messages import consumer_protocol_subscription as cps
from kafkasim.state.consumer_protocol import (
    CONSUMER_PROTOCOL,
    _decode_versioned,
)
from kafkasim.state.group_model import (
    Group,
    GroupState,
    OffsetEntry,
)


class GroupOffsets:
    """OffsetCommit, TxnOffsetCommit, OffsetFetch, OffsetDelete and DeleteGroups of the classic coordinator."""

    def commit_offsets(self, group_id: str, generation: int, member_id: str, group_instance_id: str | None,
                       offsets: list[tuple[str, int, int, int, str | None]]) -> list[int]:
        """OffsetCommit: offsets are (topic, partition, offset, leader epoch, metadata); one error each."""
        if not group_id:
            return [ErrorCode.INVALID_GROUP_ID] * len(offsets)
        cg = self.consumer.groups.get(group_id)
        if cg is not None:
            # epoch -1 (admin, or a consumer without group management) may commit while the group is empty
            if cg.members or generation >= 0:
                try:
                    self.consumer.check_member(group_id, member_id, generation)
                except KafkaError as exc:
                    return [exc.code] * len(offsets)
            return self._store_offsets(self.groups.setdefault(group_id, Group(group_id)), offsets)
        g = self.groups.get(group_id)
        if g is None:
            if generation >= 0 or member_id:
                return [ErrorCode.ILLEGAL_GENERATION if generation >= 0 else ErrorCode.UNKNOWN_MEMBER_ID] * len(offsets)
            g = self.groups[group_id] = Group(group_id)
        error = 0
        if g.state == GroupState.DEAD:
            error = ErrorCode.COORDINATOR_NOT_AVAILABLE
        elif generation < 0 and g.state == GroupState.EMPTY:
            pass  # a group that only stores offsets (manual assignment)
        elif self._fenced(g, member_id, group_instance_id):
            error = ErrorCode.FENCED_INSTANCE_ID
        elif member_id not in g.members:
            error = ErrorCode.UNKNOWN_MEMBER_ID
        elif generation != g.generation:
            error = ErrorCode.ILLEGAL_GENERATION
        elif g.state == GroupState.COMPLETING_REBALANCE:
            error = ErrorCode.REBALANCE_IN_PROGRESS
        if error:
            return [error] * len(offsets)
        if member_id in g.members:
            self._touch(g.members[member_id])
        return self._store_offsets(g, offsets)

    def _store_offsets(self, g: Group, offsets: list[tuple[str, int, int, int, str | None]]) -> list[int]:
        now = self._now()
        out = []
        stored = []
        for topic, partition, offset, epoch, metadata in offsets:
            count = self._topic_partitions(topic)
            if count is None or not 0 <= partition < count:
                out.append(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            elif metadata is not None and len(metadata.encode('utf-16-le')) // 2 > self.config.offset_metadata_max_bytes:
                out.append(ErrorCode.OFFSET_METADATA_TOO_LARGE)
            else:
                entry = g.offsets[(topic, partition)] = OffsetEntry(offset, epoch, metadata or "", now)
                stored.append((topic, partition, entry))
                out.append(0)
        if stored and self.on_offsets is not None:
            self.on_offsets(g.group_id, stored)
        return out

    def _offsets_removed(self, group_id: str, keys: list[tuple[str, int]]) -> None:
        if keys and self.on_offsets is not None:
            self.on_offsets(group_id, [(t, p, None) for t, p in keys])

    def txn_commit_offsets(self, group_id: str, producer_id: int, generation: int, member_id: str,
                           group_instance_id: str | None, offsets: list[tuple[str, int, int, int, str | None]]
                           ) -> list[int]:
        """TxnOffsetCommit: offsets held until the producer's transaction ends (commit makes them visible).
        Generation and member are checked like OffsetCommit's when given (v3+), as Kafka does."""
        g = self.groups.get(group_id)
        if g is not None and generation >= 0 and group_id not in self.consumer.groups:
            if self._fenced(g, member_id, group_instance_id):
                return [ErrorCode.FENCED_INSTANCE_ID] * len(offsets)
            if member_id and member_id not in g.members:
                return [ErrorCode.UNKNOWN_MEMBER_ID] * len(offsets)
            if generation != g.generation:
                return [ErrorCode.ILLEGAL_GENERATION] * len(offsets)
        now = self._now()
        out = []
        pending = self.pending_txn_offsets.setdefault(group_id, {}).setdefault(producer_id, {})
        for topic, partition, offset, epoch, metadata in offsets:
            count = self._topic_partitions(topic)
            if count is None or not 0 <= partition < count:
                out.append(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            else:
                pending[(topic, partition)] = OffsetEntry(offset, epoch, metadata or "", now)
                out.append(0)
        if self.on_txn_offsets is not None:
            self.on_txn_offsets(group_id, producer_id, pending)
        return out

    def end_txn_offsets(self, group_id: str, producer_id: int, commit: bool) -> None:
        """The transaction of ``producer_id`` ended: its offsets become committed, or are dropped."""
        by_producer = self.pending_txn_offsets.get(group_id)
        offsets = by_producer.pop(producer_id, None) if by_producer else None
        if by_producer is not None and not by_producer:
            del self.pending_txn_offsets[group_id]
        if offsets is not None and self.on_txn_offsets is not None:
            self.on_txn_offsets(group_id, producer_id, None)
        if not commit or not offsets:
            return
        g = self.groups.setdefault(group_id, Group(group_id))
        g.offsets.update(offsets)
        if self.on_offsets is not None:
            self.on_offsets(group_id, [(t, p, e) for (t, p), e in offsets.items()])

    def has_pending_txn_offset(self, group_id: str, topic: str, partition: int) -> bool:
        """OffsetFetch require_stable: is a transactional commit for this partition still open?"""
        return any((topic, partition) in offsets for offsets in self.pending_txn_offsets.get(group_id, {}).values())

    def committed(self, group_id: str, partitions: Iterable[tuple[str, int]] | None
                  ) -> list[tuple[str, int, OffsetEntry | None]]:
        """OffsetFetch for one group: every committed partition when ``partitions`` is None."""
        g = self.groups.get(group_id)
        offsets = g.offsets if g is not None else {}
        if partitions is None:
            return [(t, p, e) for (t, p), e in sorted(offsets.items())]
        return [(t, p, offsets.get((t, p))) for t, p in partitions]

    def subscribed_topics(self, g: Group) -> set[str] | None:
        """Topics the members of a consumer group subscribe to; None (all topics, as Kafka assumes) when a
        member's subscription cannot be read."""
        if g.protocol_type != CONSUMER_PROTOCOL:
            return set()
        topics: set[str] = set()
        for m in g.members.values():
            sub = _decode_versioned(cps, m.metadata_for(g.protocol_name))
            if sub is None:
                return None
            topics.update(sub.topics)
        return topics

    def delete_offsets(self, group_id: str, partitions: list[tuple[str, int]]) -> list[int]:
        """OffsetDelete; GROUP_SUBSCRIBED_TO_TOPIC for topics a member of a non-empty group subscribes to."""
        g = self.groups.get(group_id)
        if g is None or g.state == GroupState.DEAD:
            raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} not found.")
        if g.state != GroupState.EMPTY and g.protocol_type != CONSUMER_PROTOCOL:
            raise KafkaError(ErrorCode.NON_EMPTY_GROUP, f"Group {group_id} is not a consumer group.")
        topics = self.subscribed_topics(g) if g.state != GroupState.EMPTY else set()
        out = []
        for t, p in partitions:
            if topics is None or t in topics:
                out.append(ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC)
            else:
                if g.offsets.pop((t, p), None) is not None:
                    self._offsets_removed(group_id, [(t, p)])
                out.append(0)
        return out

    def delete_group(self, group_id: str) -> None:
        g = self.groups.get(group_id)
        if not group_id:
            raise KafkaError(ErrorCode.INVALID_GROUP_ID)
        if group_id in self.consumer.groups:
            self.consumer.delete(group_id)
            gone = self.groups.pop(group_id, None)
            if gone is not None:
                self._offsets_removed(group_id, list(gone.offsets))
            return
        if g is None or g.state == GroupState.DEAD:
            raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND)
        if g.state != GroupState.EMPTY:
            raise KafkaError(ErrorCode.NON_EMPTY_GROUP)
        g.state = GroupState.DEAD
        del self.groups[group_id]
        self._offsets_removed(group_id, list(g.offsets))
        if self.on_group is not None:
            self.on_group(g)

    def remove_topic(self, topic: str) -> None:
        """Offsets of a deleted topic go with it."""
        for g in self.groups.values():
            keys = [k for k in g.offsets if k[0] == topic]
            for key in keys:
                del g.offsets[key]
            self._offsets_removed(g.group_id, keys)
