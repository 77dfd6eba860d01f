"""The classic consumer-group coordinator: Kafka's group state machine (its committed offsets: group_offsets.py).

States: Empty -> PreparingRebalance -> CompletingRebalance -> Stable, and Dead. JoinGroup and SyncGroup
are barriers: their answers arrive through callbacks (``on_join``, ``on_sync``) that the handler turns
into awaited futures; a callback may run before the call returns. Time comes only from the Clock: every
deadline the coordinator sets is announced through ``schedule(deadline_ms)`` (an intent the server turns
into a timer) and acted on in ``tick()``. Nothing here knows about sockets or asyncio.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from kafkasim.errors import ErrorCode
from kafkasim.state.clock import Clock
from kafkasim.state.consumer_groups import ConsumerGroupCoordinator
from kafkasim.state.group_model import (
    Group,
    GroupConfig,
    GroupState,
    JoinResult,
    Member,
    OffsetEntry,
    SyncResult,
)
from kafkasim.state.group_offsets import GroupOffsets


class GroupCoordinator(GroupOffsets):
    """All classic groups of a cluster and their committed offsets."""

    def __init__(self, config: GroupConfig | None = None, clock: Clock | None = None,
                 topic_partitions: Callable[[str], int | None] | None = None,
                 topic_names: Callable[[], Iterable[str]] = tuple) -> None:
        self.config = config or GroupConfig()
        self.clock = clock or Clock()
        self.groups: dict[str, Group] = {}
        # partitions of a topic (None when unknown): commits to unknown partitions are refused
        self._topic_partitions = topic_partitions or (lambda topic: None)
        self.consumer = ConsumerGroupCoordinator(self.clock, self._topic_partitions,
                                                 self.config.consumer_session_timeout_ms,
                                                 self.config.consumer_heartbeat_interval_ms, topic_names)
        self._schedule: Callable[[int], None] = lambda deadline_ms: None
        # durability hooks (a data directory): committed offsets changed (None: deleted), group metadata changed
        self.on_offsets: Callable[[str, list[tuple[str, int, OffsetEntry | None]]], None] | None = None
        # TxnOffsetCommit: group id -> producer id -> offsets waiting for their transaction to end
        self.pending_txn_offsets: dict[str, dict[int, dict[tuple[str, int], OffsetEntry]]] = {}
        # durability hook: the pending offsets of (group, producer) changed (None: the transaction ended)
        self.on_txn_offsets: Callable[[str, int, dict[tuple[str, int], OffsetEntry] | None], None] | None = None
        self.on_group: Callable[[Group], None] | None = None

    @property
    def schedule(self) -> Callable[[int], None]:
        """Called with every deadline the coordinators set (the server arms a timer for it)."""
        return self._schedule

    @schedule.setter
    def schedule(self, fn: Callable[[int], None]) -> None:
        self._schedule = fn
        self.consumer.schedule = fn

    def classic_in_use(self, group_id: str) -> bool:
        g = self.groups.get(group_id)
        return g is not None and not g.is_empty

    def consumer_heartbeat(self, group_id: str, member_id: str, member_epoch: int, **kwargs):
        """ConsumerGroupHeartbeat (KIP-848); the group id must not be a classic group with members."""
        return self.consumer.heartbeat(group_id, member_id, member_epoch,
                                       classic_group_exists=self.classic_in_use(group_id), **kwargs)

    # ------------------------------------------------------------------ helpers

    def _now(self) -> int:
        return self.clock.now_ms()

    def _deadline(self, delay_ms: int) -> int:
        d = self._now() + delay_ms
        self.schedule(d)
        return d

    def group(self, group_id: str) -> Group | None:
        return self.groups.get(group_id)

    def _touch(self, m: Member) -> None:
        m.heartbeat_deadline = self._deadline(m.session_timeout_ms)

    def _fenced(self, g: Group, member_id: str, instance_id: str | None) -> bool:
        return instance_id is not None and g.static_members.get(instance_id, member_id) != member_id

    # ------------------------------------------------------------------ JoinGroup

    def join(self, group_id: str, member_id: str, group_instance_id: str | None, client_id: str,
             client_host: str, session_timeout_ms: int, rebalance_timeout_ms: int, protocol_type: str,
             protocols: list[tuple[str, bytes]], require_known_member_id: bool,
             on_join: Callable[[JoinResult], None]) -> None:
        """Handle a JoinGroup; ``on_join`` receives the answer, now or when the rebalance completes."""
        if not group_id:
            on_join(JoinResult(ErrorCode.INVALID_GROUP_ID, member_id=member_id))
            return
        cfg = self.config
        if not cfg.min_session_timeout_ms <= session_timeout_ms <= cfg.max_session_timeout_ms:
            on_join(JoinResult(ErrorCode.INVALID_SESSION_TIMEOUT, member_id=member_id))
            return
        if rebalance_timeout_ms < 0:
            rebalance_timeout_ms = session_timeout_ms  # JoinGroup v0 has no rebalance timeout
        if self.consumer.groups.get(group_id) is not None and self.consumer.groups[group_id].members:
            on_join(JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id=member_id))
            return
        g = self.groups.get(group_id)
        if g is None:
            if member_id:
                on_join(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id=member_id))
                return
            g = self.groups[group_id] = Group(group_id)
        if g.state == GroupState.DEAD:
            on_join(JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id=member_id))
            return
        if not protocols or not protocol_type or (g.protocol_type not in (None, protocol_type) and not g.is_empty) \
                or not g.supports(protocols):
            on_join(JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id=member_id))
            return
        self.consumer.groups.pop(group_id, None)  # an empty consumer group: the classic group takes its id over
        args = (client_id, client_host, session_timeout_ms, rebalance_timeout_ms, protocol_type, protocols)
        if not member_id:
            self._join_unknown(g, group_instance_id, require_known_member_id, args, on_join)
        else:
            self._join_known(g, member_id, group_instance_id, args, on_join)

    def _new_member(self, g: Group, member_id: str, instance_id: str | None, args: tuple,
                    on_join: Callable[[JoinResult], None]) -> Member:
        client_id, client_host, session_ms, rebalance_ms, ptype, protocols = args
        m = Member(member_id, instance_id, client_id, client_host, session_ms, rebalance_ms, ptype, list(protocols),
                   on_join=on_join)
        g.members[member_id] = m
        g.pending_members.pop(member_id, None)
        if instance_id is not None:
            g.static_members[instance_id] = member_id
        if g.protocol_type is None or len(g.members) == 1:
            g.protocol_type = ptype
        m.heartbeat_deadline = self._deadline(self.config.new_member_join_timeout_ms)
        return m

    def _join_unknown(self, g: Group, instance_id: str | None, require_known: bool, args: tuple,
                      on_join: Callable[[JoinResult], None]) -> None:
        client_id = args[0]
        if len(g.members) >= self.config.max_size:
            on_join(JoinResult(ErrorCode.GROUP_MAX_SIZE_REACHED))
            return
        new_id = f"{client_id}-{uuid.uuid4()}"
        if instance_id is not None and instance_id in g.static_members:
            self._replace_static_member(g, instance_id, new_id, args, on_join)
            return
        if instance_id is None and require_known:
            g.pending_members[new_id] = self._deadline(args[2])
            on_join(JoinResult(ErrorCode.MEMBER_ID_REQUIRED, member_id=new_id))
            return
        if g.state == GroupState.PREPARING_REBALANCE and g.initial_delay:
            g.new_member_added = True
        self._new_member(g, new_id, instance_id, args, on_join)
        self._prepare_rebalance(g)

    def _replace_static_member(self, g: Group, instance_id: str, new_id: str, args: tuple,
                               on_join: Callable[[JoinResult], None]) -> None:
        old_id = g.static_members[instance_id]
        old = g.members.pop(old_id)
        if old.on_join is not None:
            old.on_join(JoinResult(ErrorCode.FENCED_INSTANCE_ID, member_id=old_id))
        if old.on_sync is not None:
            old.on_sync(SyncResult(ErrorCode.FENCED_INSTANCE_ID))
        g.pending_sync.discard(old_id)
        client_id, client_host, session_ms, rebalance_ms, ptype, protocols = args
        m = Member(new_id, instance_id, client_id, client_host, session_ms, rebalance_ms, ptype, list(protocols),
                   assignment=old.assignment)
        g.members[new_id] = m
        g.static_members[instance_id] = new_id
        if g.leader_id == old_id:
            g.leader_id = new_id
        if g.state == GroupState.STABLE and g.select_protocol() == g.protocol_name:
            # a static member coming back keeps its assignment without a rebalance unless the group's protocol
            # would change (Kafka's updateStaticMemberAndRebalance)
            self._touch(m)
            result = self._join_result(g, m)
            # KIP-814: a returning static leader learns the members but must not reassign
            on_join(result._replace(skip_assignment=True) if new_id == g.leader_id else result)
            return
        m.on_join = on_join
        self._touch(m)
        if g.state == GroupState.PREPARING_REBALANCE:
            self._maybe_complete_join(g)
        else:
            self._prepare_rebalance(g)

    def _join_known(self, g: Group, member_id: str, instance_id: str | None, args: tuple,
                    on_join: Callable[[JoinResult], None]) -> None:
        if member_id in g.pending_members:
            if g.state == GroupState.PREPARING_REBALANCE and g.initial_delay:
                g.new_member_added = True
            self._new_member(g, member_id, instance_id, args, on_join)
            self._prepare_rebalance(g)
            return
        if self._fenced(g, member_id, instance_id):
            on_join(JoinResult(ErrorCode.FENCED_INSTANCE_ID, member_id=member_id))
            return
        m = g.members.get(member_id)
        if m is None:
            on_join(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id=member_id))
            return
        client_id, client_host, session_ms, rebalance_ms, ptype, protocols = args
        changed = not m.same_protocols(list(protocols))
        m.client_id, m.client_host = client_id, client_host
        m.session_timeout_ms, m.rebalance_timeout_ms = session_ms, rebalance_ms
        m.protocols = list(protocols)
        if g.state == GroupState.PREPARING_REBALANCE:
            if m.on_join is not None:
                m.on_join(JoinResult(ErrorCode.REBALANCE_IN_PROGRESS, member_id=member_id))
            m.on_join = on_join
            self._touch(m)
            self._maybe_complete_join(g)
        elif g.state == GroupState.COMPLETING_REBALANCE:
            if not changed:
                self._touch(m)
                on_join(self._join_result(g, m))
            else:
                m.on_join = on_join
                self._prepare_rebalance(g)
        elif g.state == GroupState.STABLE:
            if member_id == g.leader_id or changed:
                m.on_join = on_join
                self._prepare_rebalance(g)
            else:
                self._touch(m)
                on_join(self._join_result(g, m))
        else:  # Empty with a known member cannot happen; treat as unknown
            on_join(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id=member_id))

    def _join_result(self, g: Group, m: Member) -> JoinResult:
        members = []
        if m.member_id == g.leader_id:
            members = [(x.member_id, x.group_instance_id, x.metadata_for(g.protocol_name)) for x in g.members.values()]
        return JoinResult(0, g.generation, g.protocol_type, g.protocol_name, g.leader_id or "", m.member_id, members)

    def _prepare_rebalance(self, g: Group) -> None:
        if g.state == GroupState.COMPLETING_REBALANCE:
            for m in g.members.values():
                m.assignment = b""
                if m.on_sync is not None:
                    cb, m.on_sync = m.on_sync, None
                    self._touch(m)
                    cb(SyncResult(ErrorCode.REBALANCE_IN_PROGRESS))
        g.pending_sync.clear()
        g.sync_deadline = None
        if g.state != GroupState.PREPARING_REBALANCE:
            delayed = g.state == GroupState.EMPTY and self.config.initial_rebalance_delay_ms > 0
            g.state = GroupState.PREPARING_REBALANCE
            g.initial_delay = delayed
            g.new_member_added = False
            timeout = g.max_rebalance_timeout()
            first = min(timeout, self.config.initial_rebalance_delay_ms) if delayed else timeout
            g.initial_remaining = max(timeout - first, 0)
            g.rebalance_deadline = self._deadline(first)
        self._maybe_complete_join(g)

    def _maybe_complete_join(self, g: Group) -> None:
        if g.state == GroupState.PREPARING_REBALANCE and not g.initial_delay and g.all_joined():
            self._complete_join(g)

    def _complete_join(self, g: Group) -> None:
        # members that did not rejoin in time are removed
        for mid in [mid for mid, m in g.members.items() if m.on_join is None and m.group_instance_id is None]:
            self._remove_member(g, mid, rebalance=False)
        joined = [mid for mid, m in g.members.items() if m.on_join is not None]
        if g.members and not joined:  # only static members that have not rejoined: wait another round
            g.rebalance_deadline = self._deadline(g.max_rebalance_timeout())
            return
        g.rebalance_deadline = None  # members still holding a MEMBER_ID_REQUIRED id stay pending until they expire
        g.initial_delay = False
        g.generation += 1
        if not g.members:
            g.state = GroupState.EMPTY
            g.protocol_name = None
            g.leader_id = None
            if not g.offsets:
                g.protocol_type = None
            if self.on_group is not None:
                self.on_group(g)
            return
        g.protocol_name = g.select_protocol()
        if g.leader_id not in joined:
            g.leader_id = joined[0]
        g.state = GroupState.COMPLETING_REBALANCE
        g.pending_sync = set(g.members)
        g.sync_deadline = self._deadline(g.max_rebalance_timeout())
        for m in list(g.members.values()):
            cb, m.on_join = m.on_join, None
            self._touch(m)
            if cb is not None:
                cb(self._join_result(g, m))

    def _remove_member(self, g: Group, member_id: str, rebalance: bool = True) -> None:
        m = g.members.pop(member_id, None)
        if m is None:
            return
        if m.group_instance_id is not None and g.static_members.get(m.group_instance_id) == member_id:
            del g.static_members[m.group_instance_id]
        g.pending_sync.discard(member_id)
        if m.on_join is not None:
            m.on_join(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id=member_id))
        if m.on_sync is not None:
            m.on_sync(SyncResult(ErrorCode.UNKNOWN_MEMBER_ID))
        if not rebalance:
            return
        if g.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._prepare_rebalance(g)
        elif g.state == GroupState.PREPARING_REBALANCE:
            if g.members:
                self._maybe_complete_join(g)
            else:
                self._complete_join(g)

    # ------------------------------------------------------------------ SyncGroup

    def sync(self, group_id: str, generation: int, member_id: str, group_instance_id: str | None,
             protocol_type: str | None, protocol_name: str | None, assignments: dict[str, bytes],
             on_sync: Callable[[SyncResult], None]) -> None:
        g = self.groups.get(group_id)
        if g is None or g.state == GroupState.DEAD:
            on_sync(SyncResult(ErrorCode.UNKNOWN_MEMBER_ID if g is None else ErrorCode.COORDINATOR_NOT_AVAILABLE))
            return
        if self._fenced(g, member_id, group_instance_id):
            on_sync(SyncResult(ErrorCode.FENCED_INSTANCE_ID))
            return
        m = g.members.get(member_id)
        if m is None:
            on_sync(SyncResult(ErrorCode.UNKNOWN_MEMBER_ID))
            return
        if generation != g.generation:
            on_sync(SyncResult(ErrorCode.ILLEGAL_GENERATION))
            return
        if (protocol_type is not None and protocol_type != g.protocol_type) or (
                protocol_name is not None and protocol_name != g.protocol_name):
            on_sync(SyncResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL))
            return
        if g.state == GroupState.PREPARING_REBALANCE:
            on_sync(SyncResult(ErrorCode.REBALANCE_IN_PROGRESS))
            return
        self._touch(m)
        if g.state == GroupState.STABLE:
            g.pending_sync.discard(member_id)
            if not g.pending_sync:
                g.sync_deadline = None
            on_sync(SyncResult(0, g.protocol_type, g.protocol_name, m.assignment))
            return
        # CompletingRebalance: wait for the leader's assignments
        g.pending_sync.discard(member_id)
        m.on_sync = on_sync
        if member_id == g.leader_id:
            for mid, x in g.members.items():
                x.assignment = assignments.get(mid, b"")
            g.state = GroupState.STABLE
            if self.on_group is not None:
                self.on_group(g)
            if not g.pending_sync:
                g.sync_deadline = None
            for x in g.members.values():
                if x.on_sync is not None:
                    cb, x.on_sync = x.on_sync, None
                    self._touch(x)
                    cb(SyncResult(0, g.protocol_type, g.protocol_name, x.assignment))

    # ------------------------------------------------------------------ Heartbeat, LeaveGroup

    def heartbeat(self, group_id: str, generation: int, member_id: str, group_instance_id: str | None) -> int:
        g = self.groups.get(group_id)
        if g is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if g.state == GroupState.DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if self._fenced(g, member_id, group_instance_id):
            return ErrorCode.FENCED_INSTANCE_ID
        m = g.members.get(member_id)
        if m is None or g.state == GroupState.EMPTY:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if generation != g.generation:
            return ErrorCode.ILLEGAL_GENERATION
        self._touch(m)
        if g.state == GroupState.PREPARING_REBALANCE:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return 0

    def leave(self, group_id: str, members: list[tuple[str, str | None]]) -> tuple[int, list[int]]:
        """LeaveGroup: (group error, one error per member)."""
        g = self.groups.get(group_id)
        if g is None or g.state == GroupState.DEAD:
            code = ErrorCode.UNKNOWN_MEMBER_ID if g is None else ErrorCode.COORDINATOR_NOT_AVAILABLE
            return code, [code] * len(members)
        errors = []
        for member_id, instance_id in members:
            if instance_id is not None:
                mapped = g.static_members.get(instance_id)
                if mapped is None:
                    errors.append(ErrorCode.UNKNOWN_MEMBER_ID)
                    continue
                if member_id and mapped != member_id:
                    errors.append(ErrorCode.FENCED_INSTANCE_ID)
                    continue
                member_id = mapped
            if member_id in g.pending_members:
                del g.pending_members[member_id]
                errors.append(0)
                self._maybe_complete_join(g)
                continue
            if member_id not in g.members:
                errors.append(ErrorCode.UNKNOWN_MEMBER_ID)
                continue
            self._remove_member(g, member_id)
            errors.append(0)
        return 0, errors

    # ------------------------------------------------------------------ timers

    def coordinator_moved(self, moved: Callable[[str], bool]) -> None:
        """The coordinator of the groups for which ``moved(group_id)`` holds is now another broker (a failover):
        as Kafka's new coordinator does when it loads them, every member's session starts afresh."""
        for g in self.groups.values():
            if moved(g.group_id):
                for m in g.members.values():
                    self._touch(m)
        self.consumer.coordinator_moved(moved)

    def next_deadline(self) -> int | None:
        best = self.consumer.next_deadline()
        for g in self.groups.values():
            for d in (g.rebalance_deadline, g.sync_deadline, *g.pending_members.values(),
                      *(m.heartbeat_deadline for m in g.members.values())):
                if d is not None and (best is None or d < best):
                    best = d
        return best

    def tick(self) -> None:
        """Act on every deadline that has passed."""
        self.consumer.tick()
        now = self._now()
        for g in list(self.groups.values()):
            for mid, d in list(g.pending_members.items()):
                if d <= now:
                    del g.pending_members[mid]
                    self._maybe_complete_join(g)
            if g.state == GroupState.PREPARING_REBALANCE and g.rebalance_deadline is not None \
                    and g.rebalance_deadline <= now:
                if g.initial_delay and g.new_member_added and g.initial_remaining > 0:
                    g.new_member_added = False  # Kafka's InitialDelayedJoin: wait one more delay
                    delay = min(self.config.initial_rebalance_delay_ms, g.initial_remaining)
                    g.initial_remaining -= delay
                    g.rebalance_deadline += delay
                    self.schedule(g.rebalance_deadline)
                if g.rebalance_deadline <= now:
                    self._complete_join(g)
            if g.state in (GroupState.COMPLETING_REBALANCE, GroupState.STABLE) and g.sync_deadline is not None \
                    and g.sync_deadline <= now and g.pending_sync:
                for mid in list(g.pending_sync):
                    self._remove_member(g, mid, rebalance=False)
                self._prepare_rebalance(g)
            for mid, m in list(g.members.items()):
                if m.heartbeat_deadline <= now and m.on_join is None and m.on_sync is None:
                    self._remove_member(g, mid)
