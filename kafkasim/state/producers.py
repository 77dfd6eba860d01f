"""Producer ids, epochs and per-partition sequence windows (idempotent producers).

Kafka's rules: a batch from a producer id (>= 0) is checked against that producer's entry on the
partition. An older epoch is INVALID_PRODUCER_EPOCH. A batch equal to one of the last five appended
(same epoch, first and last sequence) is a duplicate: it is not appended again and is answered with its
original offsets. Otherwise, in the same epoch, the first sequence must follow the last one appended
(wrapping at 2**31-1), else OUT_OF_ORDER_SEQUENCE_NUMBER; a new epoch must start at sequence 0 (any
sequence when the partition has no state for the producer). State only moves when a batch is appended.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from kafkasim.errors import ErrorCode, KafkaError

NO_PRODUCER_ID = -1
NO_EPOCH = -1
MAX_CACHED_BATCHES = 5
MAX_SEQUENCE = 0x7FFFFFFF


class BatchMeta(NamedTuple):
    first_seq: int
    last_seq: int
    base_offset: int
    timestamp: int


@dataclass(slots=True)
class ProducerEntry:
    epoch: int = NO_EPOCH
    batches: deque[BatchMeta] = field(default_factory=lambda: deque(maxlen=MAX_CACHED_BATCHES))

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1


def _next_seq(seq: int) -> int:
    return 0 if seq == MAX_SEQUENCE else seq + 1


def last_sequence(first_seq: int, count: int) -> int:
    return (first_seq + count - 1) % (MAX_SEQUENCE + 1)


class PartitionProducers:
    """The producer state of one partition."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[int, ProducerEntry] = {}

    def check(self, producer_id: int, epoch: int, first_seq: int, count: int) -> BatchMeta | None:
        """Validate a batch before it is appended. Returns the original batch when it is a duplicate."""
        entry = self.entries.get(producer_id)
        if entry is None:
            return None
        if epoch < entry.epoch:
            raise KafkaError(ErrorCode.INVALID_PRODUCER_EPOCH,
                             f"Epoch of producer {producer_id} at offset is {epoch}, which is smaller than the "
                             f"last seen epoch {entry.epoch}")
        last = last_sequence(first_seq, count)
        if epoch == entry.epoch:
            for b in entry.batches:
                if b.first_seq == first_seq and b.last_seq == last:
                    return b
            if entry.batches and first_seq != _next_seq(entry.last_seq):
                raise KafkaError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                                 f"Out of order sequence number for producer {producer_id}: {first_seq} "
                                 f"(incoming seq. number), {entry.last_seq} (current end sequence number)")
        elif first_seq != 0 and entry.epoch != NO_EPOCH:
            raise KafkaError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                             f"Invalid sequence number for new epoch of producer {producer_id}: {epoch} "
                             f"(request epoch), {first_seq} (seq. number), {entry.epoch} (current producer epoch)")
        return None

    def fence(self, producer_id: int, epoch: int) -> None:
        """A transaction marker with ``epoch`` was written: older epochs of the producer are fenced here."""
        entry = self.entries.get(producer_id)
        if entry is None:
            entry = self.entries[producer_id] = ProducerEntry()
        if epoch > entry.epoch:
            entry.epoch = epoch
            entry.batches.clear()

    def record(self, producer_id: int, epoch: int, first_seq: int, count: int, base_offset: int,
               timestamp: int) -> None:
        """Remember an appended batch."""
        entry = self.entries.get(producer_id)
        if entry is None:
            entry = self.entries[producer_id] = ProducerEntry()
        if epoch != entry.epoch:
            entry.epoch = epoch
            entry.batches.clear()
        entry.batches.append(BatchMeta(first_seq, last_sequence(first_seq, count), base_offset, timestamp))


class ProducerIds:
    """Allocates producer ids (InitProducerId without a transactional id gets a new id, epoch 0).

    Ids are handed out from blocks of ``block`` ids; ``on_block`` is told the end of each new block before
    an id from it is used (a data directory records it, so ids are never reused after a restart)."""

    def __init__(self, first: int = 1000, block: int = 1000) -> None:
        self._next = first
        self._block = block
        self._block_end = first
        self.on_block: Callable[[int], None] | None = None

    def resume(self, next_id: int) -> None:
        """After a restart: continue from ``next_id`` (the recorded block end, or past the ids in the logs)."""
        self._next = self._block_end = max(self._next, next_id)

    def new_id(self) -> int:
        pid = self._next
        if pid >= self._block_end:
            self._block_end = pid + self._block
            if self.on_block is not None:
                self.on_block(self._block_end)
        self._next += 1
        return pid
