"""Clock: the only source of time for broker state (wall time now; a virtual clock plugs in here)."""

from __future__ import annotations

import time


class Clock:
    """Wall-clock time in Kafka's unit, milliseconds since the epoch."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()
