"""What a classic group is: its states, members (protocols, metadata, assignment, deadlines), committed
offsets and the coordinator's config; the records the coordinator, its offsets and persistence share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple


class GroupState(StrEnum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """Broker settings of the group coordinator (Kafka's names in comments)."""

    min_session_timeout_ms: int = 6000  # group.min.session.timeout.ms
    max_session_timeout_ms: int = 1800000  # group.max.session.timeout.ms
    initial_rebalance_delay_ms: int = 0  # group.initial.rebalance.delay.ms (Kafka's default is 3000)
    max_size: int = 0x7FFFFFFF  # group.max.size
    offset_metadata_max_bytes: int = 4096  # offset.metadata.max.bytes
    consumer_session_timeout_ms: int = 45000  # group.consumer.session.timeout.ms (KIP-848 groups)
    consumer_heartbeat_interval_ms: int = 5000  # group.consumer.heartbeat.interval.ms (KIP-848 groups)
    new_member_join_timeout_ms: int = 300000  # fixed in Kafka (5 minutes)


class JoinResult(NamedTuple):
    error: int
    generation: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    member_id: str = ""
    members: list[tuple[str, str | None, bytes]] = []
    skip_assignment: bool = False


class SyncResult(NamedTuple):
    error: int
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


class OffsetEntry(NamedTuple):
    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp: int


@dataclass(slots=True)
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    assignment: bytes = b""
    heartbeat_deadline: int = 0
    on_join: Callable[[JoinResult], None] | None = None
    on_sync: Callable[[SyncResult], None] | None = None

    def metadata_for(self, protocol: str | None) -> bytes:
        for name, meta in self.protocols:
            if name == protocol:
                return meta
        return b""

    def same_protocols(self, protocols: list[tuple[str, bytes]]) -> bool:
        return self.protocols == protocols


@dataclass(slots=True)
class Group:
    group_id: str
    state: GroupState = GroupState.EMPTY
    generation: int = 0
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader_id: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    pending_members: dict[str, int] = field(default_factory=dict)  # member id -> deadline (MEMBER_ID_REQUIRED)
    static_members: dict[str, str] = field(default_factory=dict)  # group.instance.id -> member id
    pending_sync: set[str] = field(default_factory=set)
    rebalance_deadline: int | None = None
    initial_delay: bool = False  # the first rebalance of an empty group waits group.initial.rebalance.delay.ms
    new_member_added: bool = False  # a member joined during the initial delay: wait another delay
    initial_remaining: int = 0  # what is left of the rebalance timeout for such extensions
    sync_deadline: int | None = None
    offsets: dict[tuple[str, int], OffsetEntry] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.members and not self.pending_members

    def all_joined(self) -> bool:
        return not self.pending_members and all(m.on_join is not None for m in self.members.values())

    def max_rebalance_timeout(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def supports(self, protocols: list[tuple[str, bytes]]) -> bool:
        """Can a member with these protocols join (one protocol in common with everyone)?"""
        if not self.members:
            return bool(protocols)
        names = {n for n, _ in protocols}
        common = set.intersection(*({n for n, _ in m.protocols} for m in self.members.values()))
        return bool(names & common)

    def select_protocol(self) -> str:
        members = list(self.members.values())
        candidates = [n for n, _ in members[0].protocols if all(
            any(n == p for p, _ in m.protocols) for m in members)]
        votes = {c: 0 for c in candidates}
        for m in members:
            for n, _ in m.protocols:
                if n in votes:
                    votes[n] += 1
                    break
        return max(candidates, key=lambda c: votes[c])
