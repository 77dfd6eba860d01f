"""Clock: the only source of time for broker state: wall time, or a virtual clock a test advances.

Broker time (``now_ms``) is what records get as LogAppendTime and what session, rebalance and transaction
timeouts, retention and segment rolling are measured against. ``monotonic`` is transport time for waits
on the network (a Fetch's max wait): it is real time for every clock, so clients never hang on a virtual
clock that nobody advances.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    """Wall-clock time in Kafka's unit, milliseconds since the epoch."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock(Clock):
    """A virtual clock: broker time moves only when ``advance`` is called (or ``now`` is set). After each
    advance the ``on_advance`` callbacks run (the broker acts on the deadlines that have passed)."""

    def __init__(self, now_ms: int = 0) -> None:
        self.now = now_ms
        self.on_advance: list[Callable[[], None]] = []

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("a clock cannot go back")
        self.now += ms
        for fn in list(self.on_advance):
            fn()
