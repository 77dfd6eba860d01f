"""A cluster on one event loop: its shared state, timers and Fetch long-poll waiters, and one listener per
virtual broker, each stopped and started under test control.

Every broker of a cluster serves the same :class:`ClusterState` (one log per partition, shared by its
replicas, so every replica is always caught up); what differs per broker is its node id, listener and
rack, and so which partitions it leads and which keys it coordinates. Stopping a broker closes its
listener and connections; a clean stop fences it at once (its leaderships move, epochs bump), a crash
leaves it in the metadata until ``broker.session.timeout.ms`` passes, as a dead Kafka broker stays until
its session with the controller expires.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from kafkasim.config import BrokerConfig
from kafkasim.handlers import served_versions
from kafkasim.server.broker import Broker
from kafkasim.server.faults import Faults
from kafkasim.server.security import ListenerSecurity
from kafkasim.state.clock import ManualClock
from kafkasim.state.cluster import ClusterState
from kafkasim.state.partitions import PartitionState

if TYPE_CHECKING:
    from kafkasim.server.schema_registry import SchemaRegistryServer
    from kafkasim.state.schema_store import SchemaStore

log = logging.getLogger(__name__)


class ClusterServer:
    """The brokers of one cluster and what they share. ``name`` tells clusters of one process apart."""

    def __init__(self, config: BrokerConfig, state: ClusterState | None = None, faults: Faults | None = None,
                 name: str | None = None) -> None:
        self.config = config
        self.name = name
        self.state = state or ClusterState(config)
        self.faults = faults if faults is not None else Faults()
        #: per API key: (advertised min, served min, max), capped to config.kafka_version
        self.versions = served_versions(config.kafka_version)
        self.security = ListenerSecurity(config, self.state.credentials)
        self.brokers: dict[int, Broker] = {
            node: Broker(self, node, i, config.broker_rack(i))
            for i, node in enumerate(config.node_ids())}
        self.state.append_listeners.append(self._on_append)
        self._waiters: dict[tuple[str, int], set[asyncio.Future]] = {}
        self._group_timer: asyncio.TimerHandle | None = None
        self._group_timer_at: int | None = None
        self._fence_timer: asyncio.TimerHandle | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._virtual_calls: list[tuple[int, int, Callable[[], None]]] = []  # heap of (deadline, seq, fn)
        self._call_seq = 0
        self._flushing = False  # a background fsync is running
        self.schema_store: SchemaStore | None = None
        #: the schema registry's HTTP listener, while the cluster runs with one
        self.schema_registry: SchemaRegistryServer | None = None
        self._started = False

    @property
    def bootstrap(self) -> str:
        """host:port of every running broker, comma-separated (a client's bootstrap.servers), on the first
        listener."""
        return ",".join(b.bootstrap for b in self.brokers.values() if b.running)

    def listener_bootstrap(self, name: str) -> str:
        """bootstrap.servers of listener ``name`` (``listeners`` names it, e.g. SASL_SSL)."""
        name = name.upper()
        if all(x.name != name for x in self.config.listener_specs):
            raise ValueError(f"no listener {name} (listeners: "
                             f"{', '.join(x.name for x in self.config.listener_specs)})")
        return ",".join(b.listener_bootstrap(name) for b in self.brokers.values() if b.running)

    def broker(self, node_id: int) -> Broker:
        b = self.brokers.get(node_id)
        if b is None:
            raise ValueError(f"no broker {node_id} (brokers: {sorted(self.brokers)})")
        return b

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self.state.open()  # a data directory: recover the logs and the metadata before listening
        started: list[Broker] = []
        try:
            self.security.open()
            for b in self.brokers.values():
                await b.start()
                started.append(b)
        except BaseException:
            for b in started:
                await b.stop()
            self.security.close()
            self.state.close()
            raise
        self._started = True
        self.state.groups.schedule = self._schedule_groups
        reassignments = self.state.reassignments
        reassignments.schedule = lambda deadline_ms: self.call_at(deadline_ms, reassignments.complete_due)
        clock = self.state.clock
        if isinstance(clock, ManualClock):  # virtual time: deadlines are acted on when the test advances it
            clock.on_advance.append(self._on_clock_advance)
        nxt = self.state.groups.next_deadline()  # restored group members must heartbeat in time
        if nxt is not None:
            self._schedule_groups(nxt)
        self._every(self.config.log_retention_check_interval_ms, self.state.apply_retention, "log retention")
        self._every(self.config.log_cleaner_backoff_ms, self.state.clean_logs, "log cleaner")
        self._every(self.config.transaction_abort_timed_out_transaction_cleanup_interval_ms,
                    self.state.abort_timed_out_transactions, "transaction timeouts")
        if self.state.store.fsync == "interval":
            self._every(self.config.flush_interval_ms, self._flush_logs, "log flush")
        if self.config.schema_registry_port is not None:
            await self._start_schema_registry()

    async def _start_schema_registry(self) -> None:
        """The registry's state follows ``_schemas``; its HTTP listener serves it (aiohttp: imported only here)."""
        from kafkasim.server.schema_registry import SchemaRegistryServer
        from kafkasim.state.schema_store import SchemaStore

        store = SchemaStore(self.state)
        server = SchemaRegistryServer(store.registry, self.config.host, self.config.schema_registry_port,
                                      self.config.schema_registry_auth)
        try:
            await server.start()
        except BaseException:
            store.close()
            await self.stop()
            raise
        self.state.schema_registry = store.registry
        self.schema_store, self.schema_registry = store, server

    async def stop(self) -> None:
        if self.schema_registry is not None:
            await self.schema_registry.stop()
            self.schema_store.close()  # type: ignore[union-attr]
            self.state.schema_registry = None
            self.schema_registry = self.schema_store = None
        clock = self.state.clock
        if isinstance(clock, ManualClock) and self._on_clock_advance in clock.on_advance:
            clock.on_advance.remove(self._on_clock_advance)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for timer in (self._group_timer, self._fence_timer):
            if timer is not None:
                timer.cancel()
        self._group_timer = self._fence_timer = None
        self.state.groups.schedule = lambda deadline_ms: None
        for b in self.brokers.values():
            await b.stop()
        for futs in self._waiters.values():
            for f in futs:
                if not f.done():
                    f.cancel()
        self._waiters.clear()
        if self._started:
            self._started = False
            self.security.close()
            self.state.close()

    async def stop_broker(self, node_id: int, controlled: bool = True) -> None:
        """Stop one broker: its listener and connections close. ``controlled`` (Kafka's controlled shutdown):
        its leaderships move to other in-sync replicas at once; else (a crash) it stays in the metadata, as
        the leader of its partitions, until broker.session.timeout.ms of broker time has passed."""
        b = self.broker(node_id)
        if not b.running:
            raise ValueError(f"broker {node_id} is not running")
        await b.stop()
        self.state.broker_stopped(node_id, fence=controlled)
        if not controlled:
            self._arm_fence_timer()
        log.info("broker %d stopped (%s)", node_id, "controlled shutdown" if controlled else "crash")

    async def start_broker(self, node_id: int) -> None:
        """Start a stopped broker again on its port: it rejoins the ISR of its partitions and leads those that
        went offline with it."""
        b = self.broker(node_id)
        if b.running:
            raise ValueError(f"broker {node_id} is already running")
        await b.start()  # registers the broker again: state.broker_started
        self._arm_fence_timer()
        log.info("broker %d started on port %d", node_id, b.port)

    # -------------------------------------------------------------- timers

    def _every(self, interval_ms: int, fn, what: str) -> None:
        """Run ``fn`` every ``interval_ms`` on the loop until the cluster stops."""
        loop = asyncio.get_running_loop()

        def run() -> None:
            try:
                fn()
            except Exception:
                log.exception("%s failed", what)
            self._timers[what] = loop.call_later(interval_ms / 1000.0, run)

        self._timers[what] = loop.call_later(interval_ms / 1000.0, run)

    def call_at(self, deadline_ms: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the cluster's clock reaches ``deadline_ms``: a loop timer on the wall clock; on a
        virtual clock, when a test advances it that far."""
        clock = self.state.clock
        if isinstance(clock, ManualClock):
            self._call_seq += 1
            heapq.heappush(self._virtual_calls, (deadline_ms, self._call_seq, fn))
            return
        delay = max(0.0, (deadline_ms - clock.now_ms()) / 1000.0)
        asyncio.get_running_loop().call_later(delay, fn)

    def _flush_logs(self) -> None:
        """``--fsync interval``: fsync what was appended since the last tick on a worker thread, so that
        thousands of partitions do not stop the loop; a tick is skipped while the previous flush runs."""
        if self._flushing:
            return
        fds = self.state.store.take_unsynced()
        if not fds:
            return
        self._flushing = True
        fut = asyncio.get_running_loop().run_in_executor(None, self.state.store.fsync_fds, fds)

        def done(f: asyncio.Future) -> None:
            self._flushing = False
            if not f.cancelled() and f.exception() is not None:
                log.error("log flush failed: %s", f.exception())

        fut.add_done_callback(done)

    def _on_clock_advance(self) -> None:
        """The virtual clock moved: act on every deadline now past (brokers, groups, transactions, retention)."""
        now = self.state.clock.now_ms()
        calls = self._virtual_calls
        while calls and calls[0][0] <= now:
            fn = heapq.heappop(calls)[2]
            try:
                fn()
            except Exception:
                log.exception("timer at %d failed", now)
        nxt = self.state.groups.next_deadline()
        if nxt is not None and nxt <= now:
            self._group_tick()
        for what, fn in (("broker sessions", self.state.fence_expired_brokers),
                         ("transaction timeouts", self.state.abort_timed_out_transactions),
                         ("log maintenance", self.state.maintain_logs)):
            try:
                fn()
            except Exception:
                log.exception("%s failed", what)

    def _arm_fence_timer(self) -> None:
        """Wall clock: one timer for the earliest crashed broker's session expiry."""
        if self._fence_timer is not None:
            self._fence_timer.cancel()
            self._fence_timer = None
        deadline = self.state.next_fence_deadline()
        if deadline is None or isinstance(self.state.clock, ManualClock):
            return
        delay = max(0.0, (deadline - self.state.clock.now_ms()) / 1000.0)

        def fire() -> None:
            self._fence_timer = None
            try:
                self.state.fence_expired_brokers()
            except Exception:
                log.exception("fencing crashed brokers failed")
            self._arm_fence_timer()

        self._fence_timer = asyncio.get_running_loop().call_later(delay, fire)

    def _schedule_groups(self, deadline_ms: int) -> None:
        """The coordinator's intent: act at ``deadline_ms``. One timer, armed for the earliest deadline."""
        if isinstance(self.state.clock, ManualClock):
            return  # virtual time: _on_clock_advance acts on it
        if self._group_timer_at is not None and self._group_timer_at <= deadline_ms:
            return
        if self._group_timer is not None:
            self._group_timer.cancel()
        delay = max(0.0, (deadline_ms - self.state.clock.now_ms()) / 1000.0)
        self._group_timer = asyncio.get_running_loop().call_later(delay, self._group_tick)
        self._group_timer_at = deadline_ms

    def _group_tick(self) -> None:
        self._group_timer = None
        self._group_timer_at = None
        groups = self.state.groups
        try:
            groups.tick()
        except Exception:
            log.exception("group coordinator timer failed")
        nxt = groups.next_deadline()
        if nxt is not None:
            self._schedule_groups(nxt)

    # -------------------------------------------------------------- long-poll waiters

    def _on_append(self, p: PartitionState) -> None:
        futs = self._waiters.pop((p.topic, p.index), None)
        if futs:
            for f in futs:
                if not f.done():
                    f.set_result(None)

    async def wait_for_append(self, partitions: list[PartitionState], timeout_s: float) -> None:
        """Return when any of ``partitions`` gets an append (or a new leader), or after ``timeout_s``."""
        fut = asyncio.get_running_loop().create_future()
        keys = [(p.topic, p.index) for p in partitions]
        for k in keys:
            self._waiters.setdefault(k, set()).add(fut)
        try:
            await asyncio.wait((fut,), timeout=timeout_s)
        finally:
            for k in keys:
                s = self._waiters.get(k)
                if s is not None:
                    s.discard(fut)
                    if not s:
                        del self._waiters[k]
            if not fut.done():
                fut.cancel()
