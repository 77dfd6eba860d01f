"""``Cluster.clock``: read broker time, and advance it when the cluster runs on a virtual clock."""

from __future__ import annotations

from collections.abc import Callable

from kafkasim.state.clock import Clock, ManualClock


class ClusterClock:
    """Broker time of a cluster. With ``Cluster(clock="virtual")`` it moves only when ``advance`` is called;
    every deadline then past is acted on before ``advance`` returns: group session and rebalance timeouts,
    transaction timeouts, retention and compaction."""

    def __init__(self, clock: Clock, run: Callable[[Callable[[], object]], object]) -> None:
        """``run(fn)`` calls ``fn`` where the cluster's state may be changed: on its loop once it runs."""
        self._clock = clock
        self._run = run

    @property
    def virtual(self) -> bool:
        return isinstance(self._clock, ManualClock)

    def now_ms(self) -> int:
        return self._clock.now_ms()

    def advance(self, ms: int = 0, *, seconds: float = 0, minutes: float = 0, hours: float = 0) -> int:
        """Move broker time forward; returns the new time in ms since the epoch."""
        clock = self._clock
        if not isinstance(clock, ManualClock):
            raise RuntimeError("the cluster runs on the wall clock: start it with Cluster(clock=\"virtual\")")
        total = int(ms + seconds * 1000 + minutes * 60_000 + hours * 3_600_000)
        if total < 0:
            raise ValueError("a clock cannot go back")
        self._run(lambda: clock.advance(total))
        return clock.now_ms()
