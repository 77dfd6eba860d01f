"""What a topic and its partitions are: the records the state modules share, and persistence stores.

A partition's replication state (leader, replicas, ISR, leader epochs), its producers and transactions
(last stable offset, aborted transactions for read_committed) and its log; a topic's partitions, configs
and the caches derived from them. The rules that change them live in :mod:`kafkasim.state.topics`,
:mod:`kafkasim.state.leadership` and :mod:`kafkasim.state.log_ops`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from kafkasim.protocol.records import BatchHeader, iter_batches
from kafkasim.schemas.validation import SchemaCheck
from kafkasim.state.producers import PartitionProducers
from kafkasim.storage.log import Log, LogConfig

INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})
NO_LEADER = -1
_SCAN_BYTES = 1 << 20  # bytes per log read while scanning (whole batches; at least one)


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
    schemas: SchemaCheck | None  # schema-at-producer: what the records' keys and values must be framed with


def set_leader(p: CoordinatorPartition | PartitionState, leader: int) -> None:
    """A leader change: the epoch always moves on; a new leader starts its epoch at the log end."""
    if isinstance(p, PartitionState):
        p.note_leader_epoch(p.leader_epoch + 1, leader != NO_LEADER)
    p.leader = leader
    p.leader_epoch += 1


def scan_batches(p: PartitionState, start: int, end: int) -> Iterator[tuple[BatchHeader, memoryview]]:
    """(header, batch) of the data batches holding offsets in [start, end), in offset order: how everything
    off the hot path that reads a log's records (inspection, the schema registry's replay) walks it."""
    offset = start
    while offset < end:
        views, _size = p.log.read(offset, _SCAN_BYTES, True)
        if not views:
            return
        for view in views:
            for h, b in iter_batches(view):
                if h.base_offset >= end:
                    return
                offset = h.last_offset + 1
                if not h.is_control and h.last_offset >= start:
                    yield h, b
