"""``Cluster``: a kafkasim broker in-process, in the caller's event loop or on a thread of its own."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any

from kafkasim.config import BrokerConfig
from kafkasim.server.broker import Broker
from kafkasim.server.faults import Faults
from kafkasim.state.cluster import ClusterState, GroupOffset
from kafkasim.state.groups import CONSUMER_PROTOCOL, consumer_assignment
from kafkasim.testing.clock import ClusterClock


@dataclasses.dataclass(frozen=True, slots=True)
class GroupMemberInfo:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    assignment: list[tuple[str, int]]  # (topic, partition), decoded from the consumer protocol


@dataclasses.dataclass(frozen=True, slots=True)
class GroupInfo:
    group_id: str
    state: str  # Kafka's names: Empty, PreparingRebalance, CompletingRebalance, Stable, Dead
    generation: int
    protocol_type: str | None
    protocol: str | None
    leader: str | None
    members: list[GroupMemberInfo]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (``kafkasim[fast]``), plain asyncio otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class Cluster:
    """A running kafkasim cluster (one broker for now).

    ``async with Cluster() as c:`` inside an event loop, or ``with Cluster().run_in_thread() as c:`` from
    synchronous code; both give ``c.bootstrap_servers``. Keyword arguments are :class:`BrokerConfig`
    fields (``port``, ``auto_create_topics``, ``num_partitions``, ``socket_request_max_bytes``, ...).
    """

    def __init__(self, config: BrokerConfig | None = None, **overrides: Any) -> None:
        base = config or BrokerConfig()
        self.config = dataclasses.replace(base, **overrides) if overrides else base
        self.state = ClusterState(self.config)
        self.faults = Faults()  # fault injection rules (kafkasim.server.faults), shared by the cluster's brokers
        self.broker = Broker(self.config, self.state, self.faults)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = False

    @property
    def bootstrap_servers(self) -> str:
        if not self._started:
            raise RuntimeError("the cluster is not running")
        return self.broker.bootstrap

    @property
    def clock(self) -> ClusterClock:
        """Broker time; ``clock.advance(...)`` moves it when the cluster was made with ``clock="virtual"``."""
        return ClusterClock(self)

    @property
    def cluster_id(self) -> str:
        return self.state.cluster_id

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.broker.start()
        self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self.broker.stop()

    async def __aenter__(self) -> Cluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------- threads

    def run_in_thread(self) -> ThreadedCluster:
        """A context manager running this cluster on a daemon thread with its own event loop."""
        return ThreadedCluster(self)

    def call(self, fn, *args: Any) -> Any:
        """Run ``fn(*args)`` on the cluster's loop (thread-safe when running in a thread) and return its result."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the cluster is not running")
        if self._thread is None or threading.current_thread() is self._thread:
            return fn(*args)

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=30)

    def list_groups(self) -> list[str]:
        """Ids of every consumer group the cluster knows (with members or committed offsets)."""
        return self.call(lambda: sorted(set(self.state.groups.groups) | set(self.state.groups.consumer.groups)))

    def describe_group(self, group_id: str) -> GroupInfo | None:
        """A consistent snapshot of a group's state and members, or None when the group does not exist."""

        def snapshot() -> GroupInfo | None:
            cg = self.state.groups.consumer.groups.get(group_id)
            if cg is not None:  # a KIP-848 consumer group: epochs stand in for generations
                members = [GroupMemberInfo(m.member_id, m.instance_id, m.client_id, m.client_host, sorted(m.assigned))
                           for m in cg.members.values()]
                return GroupInfo(group_id, cg.state.value, cg.epoch, CONSUMER_PROTOCOL, cg.assignor, None, members)
            g = self.state.groups.group(group_id)
            if g is None:
                return None
            consumer = g.protocol_type == CONSUMER_PROTOCOL
            members = [GroupMemberInfo(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                                       consumer_assignment(m.assignment) if consumer else [])
                       for m in g.members.values()]
            return GroupInfo(g.group_id, g.state.value, g.generation, g.protocol_type, g.protocol_name, g.leader_id,
                             members)

        return self.call(snapshot)

    def group_offsets(self, group_id: str) -> dict[tuple[str, int], GroupOffset]:
        """Committed offset, log-end offset and lag per partition the group has committed."""
        return self.call(lambda: self.state.group_offsets(group_id))

    def create_topic(self, name: str, partitions: int = -1, configs: dict[str, str] | None = None) -> None:
        """Create a topic directly in the broker state (no client needed)."""
        self.call(lambda: self.state.create_topic(name, partitions, -1, configs or {}))


class ThreadedCluster:
    """Runs a :class:`Cluster` on a daemon thread; start errors (port in use) re-raise in the caller."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def _main(self) -> None:
        loop = new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.cluster.start()
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.cluster.stop()

    def start(self, timeout: float = 30.0) -> Cluster:
        self._thread = threading.Thread(target=self._main, name="kafkasim", daemon=True)
        self.cluster._thread = self._thread
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("kafkasim did not start in time")
        if self._error is not None:
            self._thread.join(timeout)
            raise self._error
        return self.cluster

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            if self._thread.is_alive():
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


