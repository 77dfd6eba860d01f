"""In-memory storage engine (the default): batches kept as the producer sent them, as zero-copy views."""

from __future__ import annotations

from kafkasim.storage.log import Log, LogConfig, Segment


class MemorySegment(Segment):
    """A segment whose batches are memoryviews of the request buffers they arrived in."""

    __slots__ = ("_batches",)

    def __init__(self, base_offset: int, created_ms: int) -> None:
        super().__init__(base_offset, created_ms)
        self._batches: list[memoryview] = []

    def append(self, batch: memoryview, base: int, last: int, max_ts: int) -> None:
        self._batches.append(batch)
        self._note(base, last, max_ts, len(batch))

    def read(self, i: int, max_bytes: int, min_one: bool, stop: int) -> tuple[list[memoryview], int]:
        out: list[memoryview] = []
        total = 0
        batches = self._batches
        n = stop
        while i < n:
            b = batches[i]
            size = len(b)
            if total + size > max_bytes and (out or not min_one):
                break
            out.append(b)
            total += size
            i += 1
        return out, total

    def batch(self, i: int) -> memoryview:
        return self._batches[i]

    def truncate(self, i: int) -> None:
        for b in self._batches[i:]:
            self.size -= len(b)
        del self._batches[i:]
        self._forget_from(i)


def MemoryLog(config: LogConfig | None = None, now_ms: int = 0) -> Log:  # noqa: N802 - a factory named as a type
    """A partition log held in memory."""
    return Log(MemorySegment, config, now_ms)


class MemoryStore:
    """Where partition logs live when nothing is kept on disk (the default)."""

    persistent = False
    fsync = "never"
    clean = True
    truncated_bytes = 0

    def open(self) -> None:
        pass

    def open_log(self, topic: str, partition: int, config: LogConfig, now_ms: int, on_batch: object = None) -> Log:
        return Log(MemorySegment, config, now_ms)

    def metadata_log(self, now_ms: int) -> Log | None:
        return None

    def drop_log(self, topic: str, partition: int) -> None:
        pass

    def save_log_start(self, topic: str, partition: int, offset: int) -> None:
        pass

    def new_cleaned_segment(self, topic: str, partition: int, base: int, now_ms: int) -> MemorySegment:
        return MemorySegment(base, now_ms)

    def commit_cleaned(self, seg: Segment) -> None:
        pass

    def finish_cleaned(self, seg: Segment) -> None:
        pass

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abandon(self) -> None:
        pass
