"""In-memory storage engine (the default): batches kept as the producer sent them."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from kafkasim.protocol.records import set_base_offset
from kafkasim.storage.log import BatchRef


class MemoryLog:
    """A partition log held in memory. Offsets index batches by base offset for bisection."""

    __slots__ = ("_bases", "_lasts", "_batches", "_max_ts", "_start", "_end", "_size")

    def __init__(self) -> None:
        self._bases: list[int] = []
        self._lasts: list[int] = []
        self._batches: list[memoryview] = []
        self._max_ts: list[int] = []
        self._start = 0
        self._end = 0
        self._size = 0

    @property
    def log_start_offset(self) -> int:
        return self._start

    @property
    def log_end_offset(self) -> int:
        return self._end

    @property
    def size_bytes(self) -> int:
        return self._size

    def append(self, batch: memoryview, records_count: int, max_timestamp: int, leader_epoch: int) -> int:
        base = self._end
        set_base_offset(batch, base, leader_epoch)
        self._bases.append(base)
        self._lasts.append(base + records_count - 1)
        self._batches.append(batch)
        self._max_ts.append(max_timestamp)
        self._end = base + records_count
        self._size += len(batch)
        return base

    def read(self, offset: int, max_bytes: int, min_one: bool) -> tuple[list[memoryview], int]:
        """Whole batches from the one holding ``offset``, up to ``max_bytes`` (one more if ``min_one``)."""
        if offset >= self._end or not self._batches:
            return [], 0
        i = bisect_right(self._bases, offset) - 1
        if i < 0:
            i = 0
        out: list[memoryview] = []
        total = 0
        batches = self._batches
        n = len(batches)
        while i < n:
            b = batches[i]
            size = len(b)
            if total + size > max_bytes and (out or not min_one):
                break
            out.append(b)
            total += size
            i += 1
        return out, total

    def batch_refs(self) -> list[BatchRef]:
        return [BatchRef(b, last, ts) for b, last, ts in zip(self._bases, self._lasts, self._max_ts, strict=True)]

    def batch_at(self, index: int) -> memoryview:
        return self._batches[index]

    def truncate(self, offset: int) -> None:
        """Drop every batch whose base offset is at or after ``offset`` (batches are atomic)."""
        i = bisect_left(self._bases, offset)
        while len(self._bases) > i:
            self._size -= len(self._batches.pop())
            self._bases.pop()
            self._lasts.pop()
            self._max_ts.pop()
        self._end = self._lasts[-1] + 1 if self._lasts else max(self._start, min(offset, self._end))

    def delete_before(self, offset: int) -> None:
        """Move the log start offset to ``offset``; batches wholly before it are dropped."""
        offset = min(offset, self._end)
        drop = 0
        while drop < len(self._lasts) and self._lasts[drop] < offset:
            self._size -= len(self._batches[drop])
            drop += 1
        if drop:
            del self._bases[:drop], self._lasts[:drop], self._batches[:drop], self._max_ts[:drop]
        self._start = max(self._start, offset)
