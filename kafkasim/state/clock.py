"""Clock: the only source of time for broker state (wall time now; a virtual clock plugs in here)."""

from __future__ import annotations

import time


class Clock:
    """Wall-clock time in Kafka's unit, milliseconds since the epoch."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock(Clock):
    """A virtual clock: time moves only when ``advance`` is called (or ``now`` is set)."""

    def __init__(self, now_ms: int = 0) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def monotonic(self) -> float:
        return self.now / 1000.0

    def advance(self, ms: int) -> None:
        self.now += ms
