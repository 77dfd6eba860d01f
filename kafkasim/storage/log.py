"""The PartitionLog interface every storage engine implements."""

from __future__ import annotations

from typing import NamedTuple, Protocol


class BatchRef(NamedTuple):
    """Where a stored batch sits: its offsets and max timestamp (from its header)."""

    base_offset: int
    last_offset: int
    max_timestamp: int


class PartitionLog(Protocol):
    """An append-only log of record batches for one partition.

    ``append`` takes a validated batch whose base offset has not been assigned, assigns the next offsets by
    rewriting its header in place, stores the bytes and returns the base offset. ``read`` returns whole
    stored batches starting with the one containing ``offset``.
    """

    @property
    def log_start_offset(self) -> int: ...

    @property
    def log_end_offset(self) -> int: ...

    @property
    def size_bytes(self) -> int: ...

    def append(self, batch: memoryview, records_count: int, max_timestamp: int, leader_epoch: int) -> int: ...

    def read(self, offset: int, max_bytes: int, min_one: bool) -> tuple[list[memoryview], int]: ...

    def batch_refs(self) -> list[BatchRef]: ...

    def batch_at(self, index: int) -> memoryview: ...

    def truncate(self, offset: int) -> None: ...

    def delete_before(self, offset: int) -> None: ...
