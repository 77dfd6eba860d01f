"""``Cluster``: a kafkasim broker in-process, in the caller's event loop or on a thread of its own."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from kafkasim.config import BrokerConfig
from kafkasim.server.cluster import ClusterServer
from kafkasim.server.faults import Faults
from kafkasim.state.cluster import ClusterState, GroupOffset
from kafkasim.state.consumer_groups import ConsumerGroupState
from kafkasim.state.consumer_protocol import CONSUMER_PROTOCOL, consumer_assignment
from kafkasim.state.group_model import GroupState
from kafkasim.state.leadership import GROUP_KEY, TRANSACTION_KEY
from kafkasim.state.partitions import PartitionState
from kafkasim.state.topics import check_partition_budget
from kafkasim.testing import security
from kafkasim.testing.clock import ClusterClock
from kafkasim.testing.records import RecordInfo, RecordsWait, WaitTimeout, read_records
from kafkasim.testing.security import AclInfo, ConnectionInfo, ListenerInfo, QuotaInfo, UserInfo

T = TypeVar("T")

#: how often the wait helpers look again (they run a cheap check on the broker's loop each time)
POLL_INTERVAL_S = 0.02
#: group states a wait may name: the classic protocol's and KIP-848's
GROUP_STATES = frozenset(s.value for s in GroupState) | frozenset(s.value for s in ConsumerGroupState)


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


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerStatus:
    """A broker of the cluster as a test sees it."""

    node_id: int
    host: str
    port: int
    rack: str | None
    running: bool  # its listener accepts connections
    fenced: bool  # out of the cluster's metadata (stopped cleanly, or crashed longer than its session)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionStatus:
    """A partition's replication state: leader (-1: none), epoch, replicas and in-sync replicas."""

    topic: str
    partition: int
    leader: int
    leader_epoch: int
    replicas: list[int]
    isr: list[int]


def _partition_status(p: PartitionState) -> PartitionStatus:
    return PartitionStatus(p.topic, p.index, p.leader, p.leader_epoch, list(p.replicas), list(p.isr))


class Cluster:
    """A running kafkasim cluster of one or more brokers.

    ``async with Cluster() as c:`` inside an event loop, or ``with Cluster().run_in_thread() as c:`` from
    synchronous code; both give ``c.bootstrap_servers``. Keyword arguments are :class:`BrokerConfig`
    fields (``brokers``, ``racks``, ``port``, ``auto_create_topics``, ``num_partitions``, ...); ``name``
    tells clusters of one process apart (the control API's cluster names). ``schema_registry=True`` serves a
    Confluent-compatible schema registry beside the brokers (``schema_registry_url``), on a free port, or on
    ``schema_registry_port``.
    """

    def __init__(self, config: BrokerConfig | None = None, *, name: str | None = None,
                 schema_registry: bool = False, **overrides: Any) -> None:
        if schema_registry and overrides.get("schema_registry_port") is None:
            overrides["schema_registry_port"] = 0
        base = config or BrokerConfig()
        self.config = dataclasses.replace(base, **overrides) if overrides else base
        self.name = name
        self.state = ClusterState(self.config)
        self.faults = Faults()  # fault injection rules (kafkasim.server.faults), shared by the cluster's brokers
        self.server = ClusterServer(self.config, self.state, self.faults, name)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = False

    @property
    def bootstrap_servers(self) -> str:
        """host:port of every running broker, comma-separated."""
        if not self._started:
            raise RuntimeError("the cluster is not running")
        return self.server.bootstrap

    def listener_bootstrap(self, name: str) -> str:
        """bootstrap.servers of the listener named ``name`` (``Cluster(listeners=("SASL_SSL://127.0.0.1:0",
        ...))``): host:port of every running broker on it."""
        if not self._started:
            raise RuntimeError("the cluster is not running")
        return self.server.listener_bootstrap(name)

    def listeners(self) -> list[ListenerInfo]:
        """The listeners of every broker: name, protocol, SASL mechanisms and bootstrap.servers."""
        return self.call(lambda: security.listeners(self.server))

    def connections(self) -> list[ConnectionInfo]:
        """Every open client connection of every broker: its listener, peer and principal."""
        return self.call(lambda: security.connections(self.server))

    def acls(self) -> list[AclInfo]:
        """The ACL bindings (CreateAcls), with Kafka's names."""
        return self.call(lambda: security.acls(self.server))

    def quotas(self) -> list[QuotaInfo]:
        """The client quotas (AlterClientQuotas), per entity."""
        return self.call(lambda: security.quotas(self.server))

    def users(self) -> list[UserInfo]:
        """The SASL users: PLAIN passwords and SCRAM credentials (mechanisms and iterations; never secrets)."""
        return self.call(lambda: security.users(self.server))

    @property
    def ssl_ca_file(self) -> str | None:
        """The CA file TLS clients trust (ssl.ca.location / ssl_cafile): the configured ``ssl_cafile``, or the
        CA generated at start; None when no listener serves TLS."""
        return self.server.security.ca_file

    @property
    def schema_registry_url(self) -> str:
        """http://host:port of the cluster's schema registry (``Cluster(schema_registry=True)``)."""
        if self.server.schema_registry is None:
            raise RuntimeError("the cluster serves no schema registry: start it with Cluster(schema_registry=True)"
                               if self.config.schema_registry_port is None else "the cluster is not running")
        return self.server.schema_registry.url

    @property
    def clock(self) -> ClusterClock:
        """Broker time; ``clock.advance(...)`` moves it when the cluster was made with ``clock="virtual"``."""
        return ClusterClock(self.state.clock, lambda fn: self.call(fn) if self._started else fn())

    @property
    def cluster_id(self) -> str:
        return self.state.cluster_id

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.server.start()
        self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self.server.stop()

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

    # ---------------------------------------------------------------- brokers and leaders

    def brokers(self) -> list[BrokerStatus]:
        """Every broker of the cluster, by node id."""
        return self.call(lambda: [BrokerStatus(b.node_id, b.host, b.port, b.rack, b.running, b.fenced)
                                  for _, b in sorted(self.state.brokers.items())])

    def stop_broker(self, node_id: int, *, controlled: bool = True) -> None:
        """Stop broker ``node_id``: its listener and connections close. ``controlled`` (the default, Kafka's
        controlled shutdown): its leaderships move to other in-sync replicas at once, epochs bump; else a
        crash: it stays in the metadata, leading its partitions, until ``broker_session_timeout_ms`` of
        broker time has passed (advance a virtual clock to make that instant)."""
        self._run_async(lambda: self.server.stop_broker(node_id, controlled))

    def start_broker(self, node_id: int) -> None:
        """Start a stopped broker again on its port; it rejoins the ISR of its partitions."""
        self._run_async(lambda: self.server.start_broker(node_id))

    def move_leader(self, topic: str, partition: int, node_id: int) -> None:
        """Make broker ``node_id`` (an in-sync replica) the partition's leader; the leader epoch bumps."""
        self.call(self.state.move_leader, topic, partition, node_id)

    def elect_preferred_leaders(self, topic: str | None = None) -> list[tuple[str, int]]:
        """A preferred-leader election (as ``kafka-leader-election --election-type PREFERRED``) for the
        partitions of ``topic`` (every topic when None); returns the partitions whose leader moved."""
        def run() -> list[tuple[str, int]]:
            wanted = None if topic is None else [(topic, range(len(self.state.topic(topic).partitions)))]
            return [(t, index) for t, results in self.state.elect_leaders(wanted, unclean=False)
                    for index, exc in results if exc is None]

        return self.call(run)

    def set_rack(self, node_id: int, rack: str | None) -> None:
        """Move broker ``node_id`` to ``rack`` (broker.rack) as Metadata and closest-replica fetching see it."""
        self.call(self.state.set_rack, node_id, rack)

    def set_reassignment_delay(self, ms: int) -> None:
        """How long a partition reassignment that adds replicas takes to complete (cluster time; 0, the
        default: at once), so a test can see it in progress (ListPartitionReassignments)."""
        if ms < 0:
            raise ValueError("the reassignment delay must not be negative")

        def run() -> None:
            self.state.reassignments.delay_ms = ms

        self.call(run)

    def partition_status(self, topic: str, partition: int) -> PartitionStatus:
        """Leader, leader epoch, replicas and in-sync replicas of a partition."""
        return self.call(lambda: _partition_status(self.state.partition(topic, partition)))

    def leader(self, topic: str, partition: int) -> int:
        """Node id of the partition's leader (-1 while it has none)."""
        return self.partition_status(topic, partition).leader

    def coordinator(self, group_id: str | None = None, *, transactional_id: str | None = None) -> int:
        """Node id of the broker coordinating a group, or (``transactional_id``) a transactional id."""
        if (group_id is None) == (transactional_id is None):
            raise ValueError("give one of group_id and transactional_id")
        key_type, key = (GROUP_KEY, group_id) if group_id is not None else (TRANSACTION_KEY, transactional_id)
        return self.call(lambda: self.state.coordinator(key_type, key).node_id)

    def _run_async(self, make: Callable[[], Any]) -> Any:
        """Run the coroutine ``make()`` on the cluster's loop from another thread (run_in_thread)."""
        loop = self._loop
        if loop is None or not self._started:
            raise RuntimeError("the cluster is not running")
        if self._on_cluster_loop():
            raise RuntimeError("call 'await cluster.server....' on the cluster's own loop")
        return asyncio.run_coroutine_threadsafe(make(), loop).result(timeout=30)

    def list_groups(self) -> list[str]:
        """Ids of every consumer group the cluster knows (with members or committed offsets)."""
        return self.call(lambda: sorted(set(self.state.groups.groups) | set(self.state.groups.consumer.groups)))

    def describe_group(self, group_id: str) -> GroupInfo | None:
        """A consistent snapshot of a group's state and members, or None when the group does not exist."""
        return self.call(self._group_snapshot, group_id)

    def _group_snapshot(self, group_id: str) -> GroupInfo | None:
        """describe_group's snapshot; runs on the broker's loop."""
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

    def group_offsets(self, group_id: str) -> dict[tuple[str, int], GroupOffset]:
        """Committed offset, log-end offset and lag per partition the group has committed."""
        return self.call(lambda: self.state.group_offsets(group_id))

    def create_topic(self, name: str, partitions: int = -1, configs: dict[str, str | None] | None = None, *,
                     replication_factor: int = -1) -> None:
        """Create a topic directly in the broker state (no client needed); -1 takes the broker's default
        (num.partitions, default.replication.factor). Invalid topics raise KafkaError with Kafka's code (more
        than 10,000 partitions at once: POLICY_VIOLATION, as CreateTopics)."""
        check_partition_budget(partitions)
        self.call(lambda: self.state.create_topic(name, partitions, replication_factor, configs or {}))

    def partitions(self, topic: str) -> list[PartitionStatus]:
        """:meth:`partition_status` of every partition of ``topic``, by index."""
        return self.call(lambda: [_partition_status(p) for p in self.state.topic(topic).partitions])

    # ---------------------------------------------------------------- records and waits

    def records(self, topic: str, partition: int | None = None, *, start: int | None = None,
                end: int | None = None, key: bytes | str | None = None,
                header: tuple[str, bytes | str | None] | None = None, isolation: str = "read_uncommitted",
                limit: int | None = None, decode: bool = False) -> list[RecordInfo]:
        """The stored records of a topic, decoded (see :func:`kafkasim.testing.records.read_records`). With
        ``decode``, keys and values framed for the cluster's schema registry are also decoded with their schema
        (``key_decoded``, ``value_decoded``), so a test asserts on an event's fields without a deserializer."""
        def read() -> list[RecordInfo]:
            found = read_records(self.state, topic, partition, start, end, key, header, isolation, limit)
            registry = self.state.schema_registry
            if not decode or registry is None:
                return found
            return [dataclasses.replace(r, key_decoded=registry.decode(r.key), value_decoded=registry.decode(r.value))
                    for r in found]

        return self.call(read)

    def wait_for_records(self, topic: str, count: int | None = None, *, key: bytes | str | None = None,
                         header: tuple[str, bytes | str | None] | None = None, partition: int | None = None,
                         isolation: str = "read_uncommitted", timeout: float = 10.0) -> list[RecordInfo]:
        """Block until ``topic`` holds at least ``count`` (default 1) records matching ``key``/``header``; return
        all matching records. Raises :class:`WaitTimeout` saying what was there after ``timeout`` seconds.
        Not on the cluster's own loop: there, ``await wait_for_records_async(...)``."""
        cond = RecordsWait(topic, count, key, header, partition, isolation)
        return self._wait("wait_for_records", lambda: cond.probe(self.state),
                          lambda: cond.describe(self.state, timeout), timeout)

    async def wait_for_records_async(self, topic: str, count: int | None = None, *,
                                     key: bytes | str | None = None,
                                     header: tuple[str, bytes | str | None] | None = None,
                                     partition: int | None = None, isolation: str = "read_uncommitted",
                                     timeout: float = 10.0) -> list[RecordInfo]:
        """:meth:`wait_for_records` for coroutines (any event loop, the cluster's own included)."""
        cond = RecordsWait(topic, count, key, header, partition, isolation)
        return await self._wait_async(lambda: cond.probe(self.state), lambda: cond.describe(self.state, timeout),
                                      timeout)

    def wait_for_group(self, group_id: str, *, state: str | None = None, zero_lag: bool = False,
                       timeout: float = 10.0) -> GroupInfo:
        """Block until group ``group_id`` exists and, if given, is in ``state`` (Kafka's names: "Stable",
        "Empty", ...) and, with ``zero_lag``, has caught up (see README). Returns its :class:`GroupInfo`;
        raises :class:`WaitTimeout` saying what the group looked like after ``timeout`` seconds.
        Not on the cluster's own loop: there, ``await wait_for_group_async(...)``."""
        self._check_group_state(state)
        return self._wait("wait_for_group", lambda: self._group_probe(group_id, state, zero_lag),
                          lambda: self._group_describe(group_id, state, zero_lag, timeout), timeout)

    async def wait_for_group_async(self, group_id: str, *, state: str | None = None, zero_lag: bool = False,
                                   timeout: float = 10.0) -> GroupInfo:
        """:meth:`wait_for_group` for coroutines (any event loop, the cluster's own included)."""
        self._check_group_state(state)
        return await self._wait_async(lambda: self._group_probe(group_id, state, zero_lag),
                                      lambda: self._group_describe(group_id, state, zero_lag, timeout), timeout)

    def wait_for(self, condition: Callable[[ClusterState], T], *, timeout: float = 10.0,
                 message: str | Callable[[ClusterState], str] | None = None) -> T:
        """Block until ``condition(state)`` (run on the broker's loop every POLL_INTERVAL_S) returns a truthy
        value, and return it. After ``timeout`` seconds raise :class:`WaitTimeout` with ``message``: a str, or
        ``message(state)`` saying what was there instead. Not on the cluster's own loop: there,
        ``await wait_for_async(...)``."""
        probe, describe = self._condition(condition, timeout, message)
        return self._wait("wait_for", probe, describe, timeout)

    async def wait_for_async(self, condition: Callable[[ClusterState], T], *, timeout: float = 10.0,
                             message: str | Callable[[ClusterState], str] | None = None) -> T:
        """:meth:`wait_for` for coroutines (any event loop, the cluster's own included)."""
        probe, describe = self._condition(condition, timeout, message)
        return await self._wait_async(probe, describe, timeout)

    def _condition(self, condition: Callable[[ClusterState], T], timeout: float,
                   message: str | Callable[[ClusterState], str] | None
                   ) -> tuple[Callable[[], T | None], Callable[[], str]]:
        """``wait_for``'s condition as a probe (None until truthy) and a describe for the timeout."""
        def probe() -> T | None:
            result = condition(self.state)
            return result if result else None

        def describe() -> str:
            name = getattr(condition, "__name__", "<lambda>")
            head = f"timed out after {timeout:g}s waiting for " + ("the condition" if name == "<lambda>" else name)
            if message is None:
                return head
            return f"{head}: {message(self.state) if callable(message) else message}"

        return probe, describe

    @staticmethod
    def _check_group_state(state: str | None) -> None:
        if state is not None and state not in GROUP_STATES:
            raise ValueError(f"unknown group state {state!r}; one of {sorted(GROUP_STATES)}")

    def _group_lag(self, info: GroupInfo) -> dict[tuple[str, int], int]:
        """Lag of every partition the group committed or has assigned (on the loop). An assigned partition
        without a committed offset lags by the records it holds."""
        lags = {tp: o.lag for tp, o in self.state.group_offsets(info.group_id).items()}
        for m in info.members:
            for topic, index in m.assignment:
                if (topic, index) in lags:
                    continue
                t = self.state.topics.get(topic)
                if t is not None and 0 <= index < len(t.partitions):
                    p = t.partitions[index]
                    lags[(topic, index)] = p.high_watermark - p.log.log_start_offset
        return lags

    def _group_probe(self, group_id: str, state: str | None, zero_lag: bool) -> GroupInfo | None:
        info = self._group_snapshot(group_id)
        if info is None or (state is not None and info.state != state):
            return None
        if zero_lag:
            lags = self._group_lag(info)
            if not lags or any(v != 0 for v in lags.values()):
                return None
        return info

    def _group_describe(self, group_id: str, state: str | None, zero_lag: bool, timeout: float) -> str:
        wanted = " and ".join(w for w in (f"state {state}" if state else "", "zero lag" if zero_lag else "") if w)
        head = f"timed out after {timeout:g}s waiting for group {group_id!r}" + (f" to reach {wanted}" if wanted
                                                                                    else " to exist")
        info = self._group_snapshot(group_id)
        if info is None:
            groups = sorted(set(self.state.groups.groups) | set(self.state.groups.consumer.groups))
            return f"{head}: the group does not exist (groups: {groups})"
        lags = self._group_lag(info)
        lag_text = "{" + ", ".join(f"{tp!r}: {v}" for tp, v in sorted(lags.items())) + "}"
        members = "; ".join(f"{m.member_id} {[f'{t}-{p}' for t, p in m.assignment]}" for m in info.members)
        return (f"{head}: group {group_id!r} is {info.state} (generation {info.generation}) with lag {lag_text}"
                f"{' (no committed offsets or assigned partitions)' if not lags else ''}; "
                f"{len(info.members)} member(s){': ' + members if members else ''}")

    def _on_cluster_loop(self) -> bool:
        if self._thread is not None and threading.current_thread() is self._thread:
            return True
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _blocking_call(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the cluster's loop, from a thread that is not running it."""
        loop = self._loop
        if loop is None or not self._started:
            raise RuntimeError("the cluster is not running")

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=30)

    def _wait(self, name: str, probe: Callable[[], T | None], describe: Callable[[], str], timeout: float) -> T:
        if self._on_cluster_loop():
            raise RuntimeError(f"{name}() would block the event loop the cluster runs on: "
                               f"use 'await cluster.{name}_async(...)' there")
        deadline = time.monotonic() + timeout
        while True:
            result = self._blocking_call(probe)
            if result is not None:
                return result
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(self._blocking_call(describe))
            time.sleep(min(POLL_INTERVAL_S, left))

    async def _async_call(self, fn: Callable[[], T]) -> T:
        loop = self._loop
        if loop is None or not self._started:
            raise RuntimeError("the cluster is not running")
        if asyncio.get_running_loop() is loop:
            return fn()

        async def run() -> T:
            return fn()

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), loop))

    async def _wait_async(self, probe: Callable[[], T | None], describe: Callable[[], str], timeout: float) -> T:
        deadline = time.monotonic() + timeout
        while True:
            result = await self._async_call(probe)
            if result is not None:
                return result
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(await self._async_call(describe))
            await asyncio.sleep(min(POLL_INTERVAL_S, left))


class Service(Protocol):
    """Something that runs on a cluster's loop beside it (kafkasim.control.ControlServer)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ThreadedCluster:
    """Runs a :class:`Cluster` on a daemon thread; start errors (port in use) re-raise in the caller.

    ``others`` are more clusters run on the same thread and loop, and ``services`` (objects with ``async
    start()`` and ``stop()``, such as the control API's server) start after the clusters, on their loop, and
    stop before them."""

    def __init__(self, cluster: Cluster, *others: Cluster, services: Sequence[Service] = ()) -> None:
        self.cluster = cluster
        self.clusters = [cluster, *others]
        self.services = list(services)
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
        running: list[Cluster | Service] = []
        try:
            try:
                for part in (*self.clusters, *self.services):
                    await part.start()
                    running.append(part)
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            await self._stop.wait()
        finally:
            for part in reversed(running):
                await part.stop()

    def start(self, timeout: float = 30.0) -> Cluster:
        self._thread = threading.Thread(target=self._main, name="kafkasim", daemon=True)
        for c in self.clusters:
            c._thread = self._thread
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
