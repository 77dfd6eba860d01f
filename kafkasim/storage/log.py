"""The partition log every storage engine shares: segments of raw record batches, rolled, read and deleted.

A :class:`Log` is a list of segments; the last one is active and takes appends. A segment keeps, per batch,
its base offset, last offset and max timestamp in compact arrays (for bisection); where the bytes live is
the engine's business: :class:`kafkasim.storage.memory.MemorySegment` keeps the producer's buffers,
:class:`kafkasim.storage.segments.FileSegment` writes them to a file. Retention deletes whole segments,
DeleteRecords moves the log start offset, compaction replaces segments by cleaned ones; all of that is
the same code for every engine.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from kafkasim.protocol.records import set_base_offset


class BatchRef(NamedTuple):
    """Where a stored batch sits: its offsets and max timestamp (from its header)."""

    base_offset: int
    last_offset: int
    max_timestamp: int


class SegmentInfo(NamedTuple):
    """A segment as retention, compaction and inspection see it."""

    base_offset: int
    next_offset: int  # one past the last offset it holds (its base offset when empty)
    size_bytes: int
    batches: int
    max_timestamp: int  # -1 when empty
    created_ms: int


@dataclass(slots=True)
class LogConfig:
    """The topic configs a log needs (segment.bytes, segment.ms, index.interval.bytes)."""

    segment_bytes: int = 1073741824
    segment_ms: int = 604800000
    index_interval_bytes: int = 4096


class Segment:
    """Per-batch bookkeeping of one segment; engines subclass it to store the bytes."""

    __slots__ = ("base_offset", "bases", "lasts", "max_ts", "size", "created_ms", "max_timestamp")

    def __init__(self, base_offset: int, created_ms: int) -> None:
        self.base_offset = base_offset
        self.bases = array("q")
        self.lasts = array("q")
        self.max_ts = array("q")
        self.size = 0
        self.created_ms = created_ms
        self.max_timestamp = -1

    @property
    def next_offset(self) -> int:
        return self.lasts[-1] + 1 if self.lasts else self.base_offset

    def info(self) -> SegmentInfo:
        return SegmentInfo(self.base_offset, self.next_offset, self.size, len(self.bases), self.max_timestamp,
                           self.created_ms)

    def _note(self, base: int, last: int, max_ts: int, size: int) -> None:
        self.bases.append(base)
        self.lasts.append(last)
        self.max_ts.append(max_ts)
        self.size += size
        if max_ts > self.max_timestamp:
            self.max_timestamp = max_ts

    def _forget_from(self, i: int) -> None:
        del self.bases[i:], self.lasts[i:], self.max_ts[i:]
        self.max_timestamp = max(self.max_ts, default=-1)

    # engines implement these
    def append(self, batch: memoryview, base: int, last: int, max_ts: int) -> None:
        raise NotImplementedError

    def read(self, i: int, max_bytes: int, min_one: bool, stop: int) -> tuple[list[memoryview], int]:
        """Whole batches from index ``i`` and before index ``stop``, up to ``max_bytes`` (one more if
        ``min_one``)."""
        raise NotImplementedError

    def batch(self, i: int) -> memoryview:
        raise NotImplementedError

    def truncate(self, i: int) -> None:
        """Keep batches [0, i)."""
        raise NotImplementedError

    def flush(self) -> None:
        """Make what was appended durable (engines without a disk do nothing)."""

    def seal(self) -> None:
        """The segment stops being active (a roll): make it durable and complete (indexes written)."""
        self.flush()

    def sync_handle(self) -> int:
        """An OS handle whose fsync makes the appended data durable, or -1 (nothing to sync)."""
        return -1

    def close(self) -> None:
        """Release files (the segment stays on disk)."""

    def delete(self) -> None:
        """Remove the segment for good."""


#: Kafka's bound on an offset relative to its segment's base offset (indexes store it in 32 bits): a segment
#: never holds an offset further than this from its base, so recovery can tell such an offset is corrupt.
MAX_RELATIVE_OFFSET = 0x7FFFFFFF

SegmentFactory = Callable[[int, int], Segment]  # (base offset, now ms) -> a new empty segment


class Log:
    """A partition's log: segments in offset order, the last one active.

    ``append`` takes a validated batch whose base offset has not been assigned, assigns the next offsets by
    rewriting its header in place, stores the bytes and returns the base offset. ``read`` returns whole
    stored batches starting with the one containing ``offset``, from one segment, as Kafka does.
    """

    __slots__ = ("segments", "_seg_bases", "_start", "_end", "_size", "config", "_new_segment", "dirty",
                 "cleaned_upto")

    def __init__(self, new_segment: SegmentFactory, config: LogConfig | None = None, now_ms: int = 0,
                 segments: list[Segment] | None = None, log_start_offset: int = 0) -> None:
        self._new_segment = new_segment
        self.config = config or LogConfig()
        self.segments: list[Segment] = segments or [new_segment(log_start_offset, now_ms)]
        self._seg_bases = [s.base_offset for s in self.segments]
        self._end = self.segments[-1].next_offset
        # as Kafka: the first segment's base offset (not its first batch, which compaction may have removed)
        self._start = min(max(log_start_offset, self.segments[0].base_offset), self._end)
        self._size = sum(s.size for s in self.segments)
        self.dirty = False  # appended since the last flush
        self.cleaned_upto = 0  # compaction: offsets below this were cleaned (the rest is dirty)

    @property
    def log_start_offset(self) -> int:
        return self._start

    @property
    def log_end_offset(self) -> int:
        return self._end

    @property
    def size_bytes(self) -> int:
        return self._size

    # ------------------------------------------------------------------ append

    def append(self, batch: memoryview, records_count: int, max_timestamp: int, leader_epoch: int,
               now_ms: int = 0) -> int:
        base = self._end
        set_base_offset(batch, base, leader_epoch)
        seg = self.segments[-1]
        n = len(batch)
        last = base + records_count - 1
        if seg.bases and (seg.size + n > self.config.segment_bytes
                          or now_ms - seg.created_ms >= self.config.segment_ms
                          or last - seg.base_offset > MAX_RELATIVE_OFFSET):
            seg = self.roll(now_ms)
        seg.append(batch, base, last, max_timestamp)
        self._end = last + 1
        self._size += n
        self.dirty = True
        return base

    def roll(self, now_ms: int) -> Segment:
        """Start a new active segment at the log end (an empty active segment is kept as it is)."""
        if not self.segments[-1].bases:
            return self.segments[-1]
        self.segments[-1].seal()
        seg = self._new_segment(self._end, now_ms)
        self.segments.append(seg)
        self._seg_bases.append(seg.base_offset)
        return seg

    # ------------------------------------------------------------------ read

    def _locate(self, offset: int) -> tuple[int, int]:
        """(segment index, batch index) of the first batch whose last offset is >= offset."""
        si = max(0, bisect_right(self._seg_bases, offset) - 1)
        segs = self.segments
        while si < len(segs):
            seg = segs[si]
            i = max(0, bisect_right(seg.bases, offset) - 1)
            if i < len(seg.lasts) and seg.lasts[i] < offset:
                i += 1
            if i < len(seg.bases):
                return si, i
            si += 1
        return si, 0

    def read(self, offset: int, max_bytes: int, min_one: bool, upto: int | None = None
             ) -> tuple[list[memoryview], int]:
        """Whole batches from the one holding ``offset``, up to ``max_bytes`` (one more if ``min_one``);
        with ``upto`` (read_committed: the last stable offset) only batches that start before it."""
        end = self._end if upto is None else min(upto, self._end)
        if offset >= end:
            return [], 0
        si, i = self._locate(max(offset, self._start))
        if si >= len(self.segments):
            return [], 0
        seg = self.segments[si]
        stop = len(seg.bases) if upto is None or upto >= self._end else bisect_left(seg.bases, upto)
        if stop <= i:
            return [], 0
        return seg.read(i, max_bytes, min_one, stop)

    def batch_refs(self) -> list[BatchRef]:
        """Every batch holding an offset at or after the log start offset."""
        out = []
        start = self._start
        for seg in self.segments:
            out.extend(BatchRef(*t) for t in zip(seg.bases, seg.lasts, seg.max_ts, strict=True) if t[1] >= start)
        return out

    def batch_at(self, index: int) -> memoryview:
        """The batch ``batch_refs()[index]`` refers to."""
        si, i = self._locate(self._start)
        for seg in self.segments[si:]:
            if i + index < len(seg.bases):
                return seg.batch(i + index)
            index -= len(seg.bases) - i
            i = 0
        raise IndexError("batch index out of range")

    def segment_infos(self) -> list[SegmentInfo]:
        return [s.info() for s in self.segments]

    # ------------------------------------------------------------------ truncate, delete, replace

    def truncate(self, offset: int) -> None:
        """Drop every batch whose base offset is at or after ``offset`` (batches are atomic)."""
        while len(self.segments) > 1 and self.segments[-1].base_offset >= offset:
            seg = self.segments.pop()
            self._seg_bases.pop()
            self._size -= seg.size
            seg.delete()
        seg = self.segments[-1]
        i = bisect_left(seg.bases, offset)  # batches [0, i) start before offset
        before = seg.size
        seg.truncate(i)
        self._size -= before - seg.size
        self._end = seg.next_offset if seg.bases else max(self._start, min(offset, self._end))
        if not seg.bases:
            seg.base_offset = self._end
            self._seg_bases[-1] = self._end
        self._start = min(self._start, self._end)

    def delete_before(self, offset: int) -> None:
        """Move the log start offset to ``offset`` (DeleteRecords); segments wholly before it are deleted."""
        offset = min(offset, self._end)
        if offset <= self._start:
            return
        self._start = offset
        n = 0
        for seg in self.segments[:-1]:
            if seg.next_offset > offset:
                break
            n += 1
        self._drop_oldest(n)

    def roll_and_drop_all(self, now_ms: int) -> None:
        """Retention may delete the active segment too: roll an empty one at the log end first."""
        self.roll(now_ms)
        self._drop_oldest(len(self.segments) - 1)
        self._start = self._end

    def delete_oldest_segments(self, n: int, now_ms: int) -> None:
        """Retention: delete the ``n`` oldest segments; the log start offset moves to the first one kept."""
        if n <= 0:
            return
        if n >= len(self.segments):
            self.roll_and_drop_all(now_ms)
            return
        self._drop_oldest(n)
        self._start = max(self._start, self.segments[0].base_offset)

    def _drop_oldest(self, n: int) -> None:
        for seg in self.segments[:n]:
            self._size -= seg.size
            seg.delete()
        del self.segments[:n], self._seg_bases[:n]

    def replace_segments(self, count: int, cleaned: list[Segment]) -> None:
        """Compaction: the ``count`` oldest segments are replaced by ``cleaned`` (same offset range, fewer
        records). The engine made ``cleaned`` durable before this call."""
        old = self.segments[:count]
        for seg in old:
            self._size -= seg.size
            seg.delete()
        self.segments[:count] = cleaned
        self._seg_bases[:count] = [s.base_offset for s in cleaned]
        self._size += sum(s.size for s in cleaned)

    # ------------------------------------------------------------------ durability

    def flush(self) -> None:
        if self.dirty:
            self.segments[-1].flush()
            self.dirty = False

    def take_unsynced(self) -> int:
        """For a background flush: the handle to fsync for what was appended since the last flush (-1 when
        nothing was), and the log counts as flushed from now on."""
        if not self.dirty:
            return -1
        self.dirty = False
        return self.segments[-1].sync_handle()

    def close(self) -> None:
        for seg in self.segments:
            seg.close()
