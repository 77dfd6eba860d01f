"""KIP-848 consumer groups (``group.protocol=consumer``): member epochs and a server-side assignor.

Each ConsumerGroupHeartbeat moves a member toward its target assignment the way Kafka's
CurrentAssignmentBuilder does: partitions the target takes away are revoked first (the member keeps its
epoch until it reports them gone); then it moves to the target epoch and receives the target partitions
that no other member still holds. Any change of membership, subscriptions or subscribed topics' partition
counts bumps the group epoch and recomputes the targets with the group's assignor ("uniform", sticky and
balanced, or "range"). Members expire after the session timeout, and a member that does not revoke within
its rebalance timeout is removed. Time comes from the Clock; deadlines are announced through ``schedule``.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.state.clock import Clock

ASSIGNORS = ("uniform", "range")
JOIN_EPOCH = 0
LEAVE_EPOCH = -1
STATIC_LEAVE_EPOCH = -2

TopicPartition = tuple[str, int]


class ConsumerGroupState(StrEnum):
    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass(slots=True)
class ConsumerMember:
    member_id: str
    instance_id: str | None
    rack_id: str | None
    client_id: str
    client_host: str
    subscribed: list[str]  # effective: the names it gave plus the topics its regex matches now
    rebalance_timeout_ms: int
    server_assignor: str | None
    epoch: int = 0
    previous_epoch: int = -1  # the epoch before the last change (a lost response is tolerated)
    assigned: set[TopicPartition] = field(default_factory=set)
    pending_revocation: set[TopicPartition] = field(default_factory=set)
    last_sent: frozenset[TopicPartition] | None = None
    session_deadline: int = 0
    revocation_deadline: int | None = None
    topic_names: list[str] = field(default_factory=list)  # SubscribedTopicNames as sent
    regex: str | None = None  # SubscribedTopicRegex (v1)


@dataclass(slots=True)
class ConsumerGroup:
    group_id: str
    epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, ConsumerMember] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)
    target: dict[str, set[TopicPartition]] = field(default_factory=dict)
    topics_seen: dict[str, int] = field(default_factory=dict)  # subscribed topic -> partition count
    assignor: str = "uniform"

    @property
    def state(self) -> ConsumerGroupState:
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.assignment_epoch != self.epoch:
            return ConsumerGroupState.ASSIGNING
        if any(m.epoch != self.assignment_epoch or m.assigned != self.target.get(m.member_id, set())
               for m in self.members.values()):
            return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE


class HeartbeatResult(NamedTuple):
    error: int
    member_id: str | None = None
    member_epoch: int = -1
    assignment: list[TopicPartition] | None = None
    message: str | None = None


@lru_cache(maxsize=256)
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def assign(assignor: str, members: dict[str, ConsumerMember], partitions: dict[str, int],
           current: dict[str, set[TopicPartition]]) -> dict[str, set[TopicPartition]]:
    """Target assignment: every partition of a subscribed topic to exactly one subscribed member."""
    out: dict[str, set[TopicPartition]] = {m: set() for m in members}
    ids = sorted(members)
    totals = dict.fromkeys(ids, 0)  # partitions given so far, over all topics
    for topic, count in sorted(partitions.items()):
        subs = [m for m in ids if topic in members[m].subscribed]
        if not subs or count <= 0:
            continue
        if assignor == "range":
            per, extra = divmod(count, len(subs))
            start = 0
            for i, m in enumerate(subs):
                n = per + (1 if i < extra else 0)
                out[m].update((topic, p) for p in range(start, start + n))
                start += n
            continue
        # uniform: balanced per topic and over all topics (a topic's extra partitions go to the members with the
        # fewest so far, preferring those that own more of it), keeping current owners where the balance allows
        owned = {m: sum(1 for t, p in current.get(m, ()) if t == topic and p < count) for m in subs}
        base, extra = divmod(count, len(subs))
        ranked = sorted(subs, key=lambda m: (totals[m], -owned[m], m))
        quota = {m: base + (1 if i < extra else 0) for i, m in enumerate(ranked)}
        for m in subs:
            totals[m] += quota[m]
        free = []
        for p in range(count):
            owner = next((m for m in subs if (topic, p) in current.get(m, ()) and quota[m] > 0), None)
            if owner is None:
                free.append(p)
            else:
                out[owner].add((topic, p))
                quota[owner] -= 1
        for p in free:
            m = max(subs, key=lambda x: (quota[x], -ids.index(x)))
            out[m].add((topic, p))
            quota[m] -= 1
    return out


class ConsumerGroupCoordinator:
    """All KIP-848 consumer groups of a cluster (their offsets live with the classic coordinator's)."""

    def __init__(self, clock: Clock, partitions_of: Callable[[str], int | None],
                 session_timeout_ms: int = 45000, heartbeat_interval_ms: int = 5000,
                 topic_names: Callable[[], Iterable[str]] = tuple) -> None:
        self._topic_names = topic_names
        self.clock = clock
        self.groups: dict[str, ConsumerGroup] = {}
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._partitions_of = partitions_of
        self.schedule: Callable[[int], None] = lambda deadline_ms: None

    def _deadline(self, delay_ms: int) -> int:
        d = self.clock.now_ms() + delay_ms
        self.schedule(d)
        return d

    # ------------------------------------------------------------------ heartbeat

    def heartbeat(self, group_id: str, member_id: str, member_epoch: int, instance_id: str | None,
                  rack_id: str | None, rebalance_timeout_ms: int, subscribed: list[str] | None,
                  server_assignor: str | None, owned: list[TopicPartition] | None, client_id: str,
                  client_host: str, classic_group_exists: bool, regex: str | None = None) -> HeartbeatResult:
        """One ConsumerGroupHeartbeat; ``subscribed``/``regex``/``owned`` None mean "unchanged"."""
        if not group_id:
            return HeartbeatResult(ErrorCode.INVALID_REQUEST, message="GroupId can't be empty.")
        if member_epoch < STATIC_LEAVE_EPOCH:
            return HeartbeatResult(ErrorCode.INVALID_REQUEST, message="MemberEpoch is invalid.")
        if member_epoch > JOIN_EPOCH and not member_id:
            return HeartbeatResult(ErrorCode.INVALID_REQUEST, message="MemberId can't be empty.")
        if member_epoch == JOIN_EPOCH and owned:
            return HeartbeatResult(ErrorCode.INVALID_REQUEST, message="TopicPartitions must be empty when "
                                                                      "(re-)joining.")
        if member_epoch == STATIC_LEAVE_EPOCH and instance_id is None:
            return HeartbeatResult(ErrorCode.INVALID_REQUEST, message="InstanceId can't be null.")
        if server_assignor is not None and server_assignor not in ASSIGNORS:
            return HeartbeatResult(ErrorCode.UNSUPPORTED_ASSIGNOR,
                                   message=f"Assignor {server_assignor} is not supported. Supported assignors: "
                                           f"{', '.join(ASSIGNORS)}.")
        if regex:
            try:
                _pattern(regex)
            except re.error as exc:
                return HeartbeatResult(ErrorCode.INVALID_REQUEST, message=f"Invalid regular expression {regex}: {exc}")
        if member_epoch == JOIN_EPOCH and subscribed is None and not regex:
            return HeartbeatResult(ErrorCode.INVALID_REQUEST,
                                   message="SubscribedTopicNames must be set in first request.")
        if member_epoch == JOIN_EPOCH and rebalance_timeout_ms < 0:
            return HeartbeatResult(ErrorCode.INVALID_REQUEST, message="RebalanceTimeoutMs must be provided in "
                                                                      "first request.")
        if classic_group_exists:
            return HeartbeatResult(ErrorCode.GROUP_ID_NOT_FOUND,
                                   message=f"Group {group_id} is not a consumer group.")
        g = self.groups.get(group_id)
        if member_epoch in (LEAVE_EPOCH, STATIC_LEAVE_EPOCH):
            return self._leave(g, member_id, instance_id, member_epoch)
        if g is None:
            if member_epoch != JOIN_EPOCH:
                return HeartbeatResult(ErrorCode.UNKNOWN_MEMBER_ID, message=f"Member {member_id} is not a member "
                                                                            f"of group {group_id}.")
            g = self.groups[group_id] = ConsumerGroup(group_id)
        m = g.members.get(member_id) if member_id else None
        if instance_id is not None and (member_epoch != JOIN_EPOCH or m is not None):
            owner = g.static_members.get(instance_id)
            if owner is not None and owner != member_id:
                return HeartbeatResult(ErrorCode.FENCED_INSTANCE_ID,
                                       message=f"Static member {member_id} with instance id {instance_id} was "
                                               f"fenced by member {owner}.")
        replaced: ConsumerMember | None = None
        if member_epoch == JOIN_EPOCH:
            if m is None:
                old = g.members.get(g.static_members.get(instance_id, "")) if instance_id is not None else None
                if old is not None and old.epoch != STATIC_LEAVE_EPOCH:
                    return HeartbeatResult(ErrorCode.UNRELEASED_INSTANCE_ID,
                                           message=f"Static member {member_id} with instance id {instance_id} "
                                                   f"cannot join the group because the instance id is owned by "
                                                   f"{old.member_id} member.")
                m, replaced = self._join(g, member_id or str(uuid.uuid4()), instance_id, rack_id, client_id,
                                         client_host, subscribed or [], rebalance_timeout_ms, server_assignor)
            else:  # a member rejoining with epoch 0 starts over (a static member that left keeps its partitions)
                if m.epoch != STATIC_LEAVE_EPOCH:
                    m.assigned.clear()
                m.epoch = 0
                m.pending_revocation.clear()
                m.revocation_deadline = None
                m.last_sent = None
        elif m is None:
            return HeartbeatResult(ErrorCode.UNKNOWN_MEMBER_ID,
                                   message=f"Member {member_id} is not a member of group {group_id}.")
        elif member_epoch != m.epoch:
            # a lost response: the previous epoch is tolerated while what it owns is what we gave it
            if not (member_epoch < m.epoch and member_epoch == m.previous_epoch and owned is not None
                    and set(owned) <= m.assigned):
                return HeartbeatResult(ErrorCode.FENCED_MEMBER_EPOCH,
                                       message=f"The member epoch {member_epoch} does not match {m.epoch}.")
        m.session_deadline = self._deadline(self.session_timeout_ms)
        changed = replaced is not None and (sorted(replaced.subscribed) != sorted(m.subscribed)
                                            or replaced.server_assignor != m.server_assignor)
        if subscribed is not None:
            m.topic_names = list(subscribed)
        if regex is not None:
            m.regex = regex or None
        effective = self._effective_subscription(m)
        if effective != sorted(m.subscribed):
            m.subscribed = effective
            changed = True
        if rebalance_timeout_ms >= 0:
            m.rebalance_timeout_ms = rebalance_timeout_ms
        if server_assignor is not None and server_assignor != m.server_assignor:
            m.server_assignor = server_assignor
            changed = True
        if changed or (member_epoch == JOIN_EPOCH and replaced is None) or self._topics_changed(g):
            self._bump(g)
        # a full request (sent on joining and after errors, e.g. a lost response) always gets the assignment
        full = member_epoch == JOIN_EPOCH or (rebalance_timeout_ms >= 0 and (subscribed is not None or regex)
                                              and owned is not None)
        return self._reconcile(g, m, owned, full)

    def _join(self, g: ConsumerGroup, member_id: str, instance_id: str | None, rack_id: str | None,
              client_id: str, client_host: str, subscribed: list[str], rebalance_timeout_ms: int,
              server_assignor: str | None) -> tuple[ConsumerMember, ConsumerMember | None]:
        """A new member, and the static member it replaces (which had left with epoch -2), if any."""
        m = ConsumerMember(member_id, instance_id, rack_id, client_id, client_host, list(subscribed),
                           rebalance_timeout_ms, server_assignor)
        old = None
        if instance_id is not None:
            old_id = g.static_members.get(instance_id)
            old = g.members.pop(old_id, None) if old_id is not None else None
            if old is not None:  # the new incarnation takes over the old one's partitions
                m.assigned = set(old.assigned)
                g.target[member_id] = g.target.pop(old_id, set())
            g.static_members[instance_id] = member_id
        g.members[member_id] = m
        return m, old

    def _leave(self, g: ConsumerGroup | None, member_id: str, instance_id: str | None, epoch: int) -> HeartbeatResult:
        if g is None or member_id not in g.members:
            return HeartbeatResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id=member_id, member_epoch=epoch)
        if instance_id is not None and g.static_members.get(instance_id, member_id) != member_id:
            return HeartbeatResult(ErrorCode.FENCED_INSTANCE_ID, member_id=member_id, member_epoch=epoch)
        m = g.members[member_id]
        if epoch == STATIC_LEAVE_EPOCH and m.instance_id is not None:
            # a static member leaving for a while keeps its assignment (no rebalance) until it rejoins with a
            # new member id or its session expires
            m.epoch = STATIC_LEAVE_EPOCH
            m.pending_revocation.clear()
            m.revocation_deadline = None
            m.last_sent = None
            return HeartbeatResult(0, member_id=member_id, member_epoch=epoch)
        self._remove(g, member_id)
        return HeartbeatResult(0, member_id=member_id, member_epoch=epoch)

    def _remove(self, g: ConsumerGroup, member_id: str) -> None:
        m = g.members.pop(member_id, None)
        if m is None:
            return
        if m.instance_id is not None and g.static_members.get(m.instance_id) == member_id:
            del g.static_members[m.instance_id]
        g.target.pop(member_id, None)
        self._bump(g)

    def _effective_subscription(self, m: ConsumerMember) -> list[str]:
        topics = set(m.topic_names)
        if m.regex:
            pattern = _pattern(m.regex)
            topics.update(t for t in self._topic_names() if pattern.fullmatch(t))
        return sorted(topics)

    def _subscribed_partitions(self, g: ConsumerGroup) -> dict[str, int]:
        topics = {t for m in g.members.values() for t in m.subscribed}
        out = {}
        for t in topics:
            n = self._partitions_of(t)
            if n is not None:
                out[t] = n
        return out

    def _topics_changed(self, g: ConsumerGroup) -> bool:
        return self._subscribed_partitions(g) != g.topics_seen

    def _bump(self, g: ConsumerGroup) -> None:
        """New group epoch: recompute every member's target assignment."""
        g.epoch += 1
        g.topics_seen = self._subscribed_partitions(g)
        preferred = Counter(m.server_assignor for m in g.members.values() if m.server_assignor)
        g.assignor = preferred.most_common(1)[0][0] if preferred else "uniform"  # the one most members name
        g.target = assign(g.assignor, g.members, g.topics_seen, {mid: m.assigned for mid, m in g.members.items()})
        g.assignment_epoch = g.epoch

    def _reconcile(self, g: ConsumerGroup, m: ConsumerMember, owned: list[TopicPartition] | None,
                   full: bool) -> HeartbeatResult:
        target = g.target.get(m.member_id, set())
        if m.pending_revocation and owned is not None and not (set(owned) & m.pending_revocation):
            m.pending_revocation.clear()  # the member reported the revoked partitions gone
            m.revocation_deadline = None
        if not m.pending_revocation:
            revoke = m.assigned - target
            if revoke:
                m.assigned -= revoke
                m.pending_revocation = revoke
                m.revocation_deadline = self._deadline(m.rebalance_timeout_ms)
            else:
                held = {tp for other in g.members.values() if other is not m
                        for tp in other.assigned | other.pending_revocation}
                m.assigned |= {tp for tp in target - m.assigned if tp not in held}
                if m.epoch != g.assignment_epoch:
                    m.previous_epoch, m.epoch = m.epoch, g.assignment_epoch
        current = frozenset(m.assigned)
        send = None
        if full or current != m.last_sent:
            send = sorted(current)
            m.last_sent = current
        return HeartbeatResult(0, m.member_id, m.epoch, send)

    # ------------------------------------------------------------------ timers and queries

    def coordinator_moved(self, moved: Callable[[str], bool]) -> None:
        """After a coordinator failover every member of the moved groups has a full session again."""
        for g in self.groups.values():
            if moved(g.group_id):
                for m in g.members.values():
                    m.session_deadline = self._deadline(self.session_timeout_ms)

    def next_deadline(self) -> int | None:
        ds = [d for g in self.groups.values() for m in g.members.values()
              for d in (m.session_deadline, m.revocation_deadline) if d is not None]
        return min(ds) if ds else None

    def tick(self) -> None:
        now = self.clock.now_ms()
        for g in self.groups.values():
            for mid, m in list(g.members.items()):
                if m.session_deadline <= now or (m.revocation_deadline is not None and m.revocation_deadline <= now):
                    self._remove(g, mid)

    def check_member(self, group_id: str, member_id: str, member_epoch: int) -> None:
        """OffsetCommit/OffsetFetch v9 by a member of a consumer group: its epoch must be current."""
        g = self.groups.get(group_id)
        m = g.members.get(member_id) if g is not None else None
        if m is None:
            raise KafkaError(ErrorCode.UNKNOWN_MEMBER_ID)
        if member_epoch != m.epoch:
            raise KafkaError(ErrorCode.STALE_MEMBER_EPOCH)

    def delete(self, group_id: str) -> None:
        g = self.groups.get(group_id)
        if g is None:
            raise KafkaError(ErrorCode.GROUP_ID_NOT_FOUND)
        if g.members:
            raise KafkaError(ErrorCode.NON_EMPTY_GROUP)
        del self.groups[group_id]
