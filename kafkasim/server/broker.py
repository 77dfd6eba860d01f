"""asyncio transport: a broker's listener, its connections and request dispatch.

A connection reads frames (size-capped before allocating), decodes the header and body with the
generated codec, calls the registered handler and writes responses strictly in request order. Malformed
input closes that one connection with a log line; a handler bug answers UNKNOWN_SERVER_ERROR and logs the
traceback. Nothing a client sends can stop the server or disturb other connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import socket
import struct
from collections import deque
from typing import TYPE_CHECKING, Protocol

from kafkasim.errors import ErrorCode
from kafkasim.handlers import CLOSE, HANDLERS, NO_RESPONSE
from kafkasim.handlers.k18_api_versions import api_versions_response
from kafkasim.protocol import api
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.frame import FrameReader, peek_request_header, read_request_header, response_header
from kafkasim.protocol.primitives import MalformedError
from kafkasim.server.faults import FaultRule
from kafkasim.server.stats import BrokerStats
from kafkasim.state.clock import ManualClock
from kafkasim.state.partitions import PartitionState

if TYPE_CHECKING:
    from kafkasim.config import BrokerConfig
    from kafkasim.server.faults import Faults
    from kafkasim.state.cluster import ClusterState

log = logging.getLogger(__name__)
_SIZE = struct.Struct(">i")
_DECODE_ERRORS = (MalformedError, struct.error, IndexError, UnicodeDecodeError, ValueError, TypeError)
_conn_ids = itertools.count(1)


class BrokerHost(Protocol):
    """What a broker needs of its cluster (``server.cluster.ClusterServer`` is the one implementation): the
    shared state, faults and served versions, and the long-poll wait on appends."""

    config: BrokerConfig
    state: ClusterState
    faults: Faults
    #: per API key: (advertised min, served min, max)
    versions: dict[int, tuple[int, int, int]]

    async def wait_for_append(self, partitions: list[PartitionState], timeout_s: float) -> None: ...


class Broker:
    """One virtual broker of a cluster: its node id, rack and listener, and the connections it accepted."""

    def __init__(self, cluster: BrokerHost, node_id: int, port: int = 0, rack: str | None = None) -> None:
        self.cluster = cluster
        self.config = cluster.config
        self.node_id = node_id
        self.rack = rack
        self.host = cluster.config.host
        self.port = port  # 0 until the first start picks a free port; kept across restarts
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[Connection] = set()
        self.stats = BrokerStats()

    @property
    def connections(self) -> int:
        """Open client connections."""
        return len(self._connections)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def advertised_host(self) -> str:
        """advertised.listeners: the configured host, else the listener's, else (wildcard) this host's name."""
        if self.config.advertised_host:
            return self.config.advertised_host
        if self.host in ("", "0.0.0.0", "::"):
            return socket.getfqdn()
        return self.host

    @property
    def bootstrap(self) -> str:
        return f"{self.advertised_host}:{self.port}"

    async def start(self) -> None:
        """Listen (on the same port as before after a restart) and join the cluster."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Connection(self), self.config.host, self.port,
                                                reuse_address=True, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        state = self.cluster.state
        b = state.brokers.get(self.node_id)
        state.register_broker(self.node_id, self.advertised_host, self.port, self.rack if b is None else b.rack)
        log.info("broker %d listening on %s:%d (advertised %s)", self.node_id, self.config.host, self.port,
                 self.bootstrap)

    async def stop(self) -> None:
        """Close the listener and every connection (a connection accepted meanwhile is closed as it opens)."""
        server, self._server = self._server, None
        if server is not None:
            # Stop accepting, and let the connections accepted just now become transports, before closing the
            # listener: Python 3.11's asyncio builds an accepted connection's transport a loop turn later, and
            # once the server is closed that fails silently, leaving the socket open (its client waits, and an
            # unclosed-transport ResourceWarning follows at garbage collection).
            loop = asyncio.get_running_loop()
            with contextlib.suppress(NotImplementedError, ValueError, OSError):  # loops without readers (uvloop)
                for sock in server.sockets:
                    loop.remove_reader(sock.fileno())
            for _ in range(2):
                await asyncio.sleep(0)
            server.close()
        for conn in list(self._connections):
            conn.close()
        if server is not None:
            await server.wait_closed()


class RequestCtx:
    """What a handler sees of one request (see handlers.RequestContext)."""

    __slots__ = ("state", "api_version", "client_id", "client_host", "conn_id", "node_id", "versions", "principal",
                 "listener", "_cluster", "_conn")

    def __init__(self, broker: Broker, api_version: int, client_id: str | None, client_host: str,
                 conn_id: int, principal: str = "User:ANONYMOUS", listener: str = "PLAINTEXT",
                 conn: Connection | None = None) -> None:
        cluster = broker.cluster
        self.state = cluster.state
        self.api_version = api_version
        self.client_id = client_id
        self.client_host = client_host
        self.conn_id = conn_id
        self.node_id = broker.node_id
        self.versions = cluster.versions
        self.principal = principal
        self.listener = listener
        self._cluster = cluster
        self._conn = conn

    def throttle(self, ms: int) -> None:
        """KIP-219: the response goes out at once, then the connection reads nothing more for ``ms``."""
        if self._conn is not None:
            self._conn.mute_for(ms)

    async def wait_for_append(self, partitions: list[PartitionState], timeout_s: float) -> None:
        await self._cluster.wait_for_append(partitions, timeout_s)


class Connection(asyncio.Protocol):
    """One client connection: frames in, responses out in request order."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.id = next(_conn_ids)
        self.cluster = broker.cluster
        self.reader = FrameReader(broker.config.socket_request_max_bytes)
        self.transport: asyncio.Transport | None = None
        self.peer = None
        self.client_host = ""
        self._pending: deque[list] = deque()  # [payload or None] slots, in request order
        self._tasks: set[asyncio.Task] = set()
        self._closing = False
        self._write_paused = False
        self._muted_until: int | None = None  # quota throttling: cluster time (ms) reading resumes
        self._held: list[bytearray] = []  # frames read before the mute, dispatched after it

    # -------------------------------------------------------------- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.broker.running:  # accepted just before the listener closed
            self._closing = True
            transport.close()
            return
        self.peer = transport.get_extra_info("peername")
        self.client_host = f"/{self.peer[0]}" if self.peer else ""  # Kafka's form, e.g. "/127.0.0.1"
        self.broker._connections.add(self)
        self.broker.stats.connections_accepted += 1
        log.debug("conn %d opened from %s", self.id, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.broker._connections.discard(self)
        for t in self._tasks:
            t.cancel()
        self._pending.clear()
        self._unmute_hook(remove=True)
        log.debug("conn %d closed (%s)", self.id, exc or "eof")

    def pause_writing(self) -> None:
        self._write_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self.transport is not None and not self._closing and self._muted_until is None:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self.broker.stats.bytes_in += len(data)
        try:
            frames = self.reader.feed(data)
        except MalformedError as exc:
            log.warning("conn %d from %s: %s; closing connection", self.id, self.peer, exc)
            self.close()
            return
        self._dispatch_frames(frames)

    def _dispatch_frames(self, frames: list[bytearray]) -> None:
        for i, frame in enumerate(frames):
            if self._closing:
                return
            if self._muted_until is not None:  # throttled by a quota: the rest waits for the unmute
                self._held.extend(frames[i:])
                return
            try:
                self._dispatch(frame)
            except Exception:  # a bug outside any handler: lose this connection only
                log.exception("conn %d: internal error while dispatching; closing connection", self.id)
                self.close()
                return

    # -------------------------------------------------------------- quota throttling (KIP-219)

    def mute_for(self, ms: int) -> None:
        """Read nothing more for ``ms`` of cluster time (responses still go out): Kafka mutes a throttled
        client's channel. A virtual clock ends the mute when a test advances it past; the wall clock by a timer."""
        if ms <= 0 or self._closing or self.transport is None:
            return
        until = self.cluster.state.clock.now_ms() + ms
        if self._muted_until is not None:
            self._muted_until = max(self._muted_until, until)
            return
        self._muted_until = until
        self.transport.pause_reading()
        self._unmute_hook()

    def _unmute_hook(self, remove: bool = False) -> None:
        """Arm (or with ``remove`` disarm) the check that ends the mute."""
        clock = self.cluster.state.clock
        if isinstance(clock, ManualClock):
            if remove:
                if self._check_unmute in clock.on_advance:
                    clock.on_advance.remove(self._check_unmute)
            elif self._check_unmute not in clock.on_advance:
                clock.on_advance.append(self._check_unmute)
        elif not remove and self._muted_until is not None:
            delay = max(0, self._muted_until - clock.now_ms()) / 1000.0
            asyncio.get_running_loop().call_later(delay, self._check_unmute)

    def _check_unmute(self) -> None:
        until = self._muted_until
        if until is None or self._closing:
            self._unmute_hook(remove=True)
            return
        if self.cluster.state.clock.now_ms() < until:
            if not isinstance(self.cluster.state.clock, ManualClock):
                self._unmute_hook()  # extended meanwhile: wait for the rest
            return
        self._muted_until = None
        self._unmute_hook(remove=True)
        if not self._write_paused:
            self.transport.resume_reading()  # type: ignore[union-attr]
        held, self._held = self._held, []
        if held:
            self._dispatch_frames(held)

    # -------------------------------------------------------------- dispatch

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            if self.transport is not None:
                self.transport.close()

    def _dispatch(self, frame: bytearray) -> None:
        try:
            key, version, corr = peek_request_header(frame)
        except MalformedError as exc:
            log.warning("conn %d from %s: %s; closing connection", self.id, self.peer, exc)
            self.close()
            return
        cluster = self.cluster
        served = cluster.versions.get(key)
        if served is None:
            log.warning("conn %d from %s: unknown or unsupported API key %d (version %d, correlation %d); "
                        "closing connection", self.id, self.peer, key, version, corr)
            self.close()
            return
        if not served[1] <= version <= served[2]:
            if key == ApiKey.API_VERSIONS:
                # KIP-511: answer at v0 with UNSUPPORTED_VERSION and the versions we serve
                log.info("conn %d: ApiVersions v%d not supported, answering v0", self.id, version)
                self._respond(key, 0, corr, api_versions_response(cluster.versions, ErrorCode.UNSUPPORTED_VERSION))
                return
            log.warning("conn %d from %s: %s v%d is not supported (served: %d-%d); closing connection",
                        self.id, self.peer, api.api_name(key), version, served[1], served[2])
            self.close()
            return
        spec = HANDLERS[key]
        stats = self.broker.stats
        stats.requests[key] = stats.requests.get(key, 0) + 1
        mv = memoryview(frame)
        try:
            hdr = read_request_header(mv)
            req, end = api.decode_request(key, version, mv, hdr.body_offset)
        except _DECODE_ERRORS as exc:
            log.warning("conn %d from %s: malformed %s v%d request (correlation %d): %s; closing connection",
                        self.id, self.peer, api.api_name(key), version, corr, exc)
            self.close()
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("conn %d %s v%d corr=%d client=%s", self.id, api.api_name(key), version, corr,
                      hdr.client_id)
        broker = self.broker
        faults = cluster.faults
        rule = faults.match(key, version, broker.node_id, hdr.client_id, req, self._topic_name) \
            if faults.rules else None
        if rule is not None:
            log.info("conn %d: fault rule %d (%s) fired on %s v%d correlation %d", self.id, rule.id, rule.action,
                     api.api_name(key), version, corr)
            if rule.action == "close_before":
                self.close()
                return
            if rule.action == "error":
                self._respond(key, version, corr, self._error_result(spec, req, key, version, rule.error_code))
                return
        if spec.coordinator is not None:
            key_type, key_of = spec.coordinator
            ckey = key_of(req, version)
            if ckey is not None and not cluster.state.coordinates(key_type, ckey, broker.node_id):
                self._respond(key, version, corr,
                              self._error_result(spec, req, key, version, ErrorCode.NOT_COORDINATOR))
                return
        ctx = RequestCtx(broker, version, hdr.client_id, self.client_host, self.id, conn=self)
        try:
            result = spec.fn(ctx, req)
        except Exception:
            result = self._bug_response(spec, req, key, version, corr)
        if inspect.iscoroutine(result) or (rule is not None and rule.action == "delay"):
            slot: list = [None]
            self._pending.append(slot)
            task = asyncio.get_running_loop().create_task(
                self._finish(slot, result, spec, req, key, version, corr, rule))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._respond(key, version, corr, result if rule is None else self._after(rule, result))

    async def _finish(self, slot: list, coro, spec, req, key: int, version: int, corr: int,
                      rule: FaultRule | None = None) -> None:
        try:
            result = await coro if inspect.iscoroutine(coro) else coro
        except asyncio.CancelledError:
            raise
        except Exception:
            result = self._bug_response(spec, req, key, version, corr)
        if rule is not None:
            if rule.action == "delay":
                await asyncio.sleep(rule.delay_ms / 1000.0)
            result = self._after(rule, result)
        slot[0] = self._payload(key, version, corr, result)
        self._flush()

    def _topic_name(self, topic_id: bytes) -> str | None:
        t = self.cluster.state.topics_by_id.get(topic_id)
        return None if t is None else t.name

    @staticmethod
    def _after(rule: FaultRule, result):
        """A fault that lets the request take effect changes what is answered."""
        if rule.action == "close_after":
            return CLOSE
        if rule.action == "drop":
            return NO_RESPONSE
        if rule.action == "throttle" and result is not NO_RESPONSE and result is not CLOSE \
                and hasattr(result, "throttle_time_ms"):
            result.throttle_time_ms = rule.throttle_ms
        return result

    def _error_result(self, spec, req, key: int, version: int, code: int):
        """The response a fault's error code takes: the handler's own error form, else the top-level code."""
        if spec.error_response is not None:
            return spec.error_response(req, version, code)
        return self._top_level_error(key, code)

    def _bug_response(self, spec, req, key: int, version: int, corr: int):
        log.exception("conn %d: handler for %s v%d failed (correlation %d); answering UNKNOWN_SERVER_ERROR",
                      self.id, api.api_name(key), version, corr)
        if spec.error_response is not None:
            try:
                return spec.error_response(req, version, ErrorCode.UNKNOWN_SERVER_ERROR)
            except Exception:
                log.exception("conn %d: error response failed too", self.id)
        return self._top_level_error(key, ErrorCode.UNKNOWN_SERVER_ERROR)

    @staticmethod
    def _top_level_error(key: int, code: int):
        """An empty response carrying ``code`` at the top level, or CLOSE for APIs without one."""
        resp = api.module(key).RESPONSE_CLASS()
        if hasattr(resp, "error_code"):
            resp.error_code = code
            return resp
        return CLOSE

    def _payload(self, key: int, version: int, corr: int, result):
        if result is NO_RESPONSE or result is CLOSE:
            return result
        try:
            parts = api.encode_response(key, version, result)
        except Exception:
            log.exception("conn %d: cannot encode %s v%d response; closing connection", self.id,
                          api.api_name(key), version)
            return CLOSE
        head = response_header(key, version, corr)
        size = len(head) + sum(map(len, parts))
        parts.insert(0, _SIZE.pack(size) + head)
        stats = self.broker.stats
        stats.bytes_out += size + 4
        if stats.count_errors:
            stats.response(key, result)
        return parts

    def _respond(self, key: int, version: int, corr: int, resp) -> None:
        """Send now, or queue behind responses still pending, so responses keep request order."""
        payload = self._payload(key, version, corr, resp)
        if not self._pending:
            self._write(payload)
        else:
            self._pending.append([payload])
            self._flush()

    def _flush(self) -> None:
        pending = self._pending
        while pending and pending[0][0] is not None:
            self._write(pending.popleft()[0])

    def _write(self, payload) -> None:
        if self._closing or payload is NO_RESPONSE:
            return
        if payload is CLOSE:
            self.close()
            return
        self.transport.writelines(payload)  # type: ignore[union-attr]
