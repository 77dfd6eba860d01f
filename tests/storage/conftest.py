"""The storage engines, as one fixture: a test that takes ``engine`` runs once per engine (Tansu style).

An engine hands out partition logs (``open_log``), compacts them with its own cleaned segments (``compact``)
and reopens them (``reopen``): the disk engine closes its data directory cleanly and recovers it; the memory
engine keeps the log it has (memory lasts as long as the process), so "after a restart" assertions hold for
both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkasim.storage.cleaner import Cleaned, CompactionSettings, compact
from kafkasim.storage.log import Log, LogConfig
from kafkasim.storage.memory import MemoryStore
from kafkasim.storage.segments import DiskStore

TOPIC = "t"


class MemoryEngine:
    def __init__(self) -> None:
        self.store: MemoryStore | DiskStore = MemoryStore()
        self.logs: dict[int, Log] = {}
        self._next = 0

    def open_log(self, partition: int | None = None, config: LogConfig | None = None, now_ms: int = 0) -> Log:
        """A new log (a new partition unless ``partition`` is given)."""
        if partition is None:
            partition = self._next
        self._next = max(self._next, partition + 1)
        lg = self.logs[partition] = self.store.open_log(TOPIC, partition, config or LogConfig(), now_ms)
        return lg

    def partition_of(self, lg: Log) -> int:
        return next(p for p, x in self.logs.items() if x is lg)

    def reopen(self, partition: int = 0, config: LogConfig | None = None, now_ms: int = 0) -> Log:
        return self.logs[partition]

    def compact(self, lg: Log, now_ms: int, settings: CompactionSettings, force: bool = False) -> Cleaned:
        store = self.store
        partition = self.partition_of(lg)
        return compact(lg, now_ms, settings, lambda base, ms: store.new_cleaned_segment(TOPIC, partition, base, ms),
                       store.commit_cleaned, store.finish_cleaned, force)

    def save_log_start(self, lg: Log) -> None:
        self.store.save_log_start(TOPIC, self.partition_of(lg), lg.log_start_offset)

    def close(self) -> None:
        self.store.close()


class DiskEngine(MemoryEngine):
    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.store = DiskStore(root)
        self.store.open()

    def reopen(self, partition: int = 0, config: LogConfig | None = None, now_ms: int = 0) -> Log:
        """Close the data directory cleanly and open it again; only ``partition`` is reopened."""
        self.store.close()
        self.store = DiskStore(self.root)
        self.store.open()
        self.logs.clear()
        return self.open_log(partition, config, now_ms)


@pytest.fixture(params=["memory", "disk"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryEngine]:
    e = MemoryEngine() if request.param == "memory" else DiskEngine(tmp_path / "data")
    yield e
    e.close()
