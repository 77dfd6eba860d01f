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
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from kafkasim.errors import ErrorCode
from kafkasim.handlers import CLOSE, HANDLERS, NO_RESPONSE
from kafkasim.handlers.authz import failed_check
from kafkasim.handlers.k18_api_versions import api_versions_response
from kafkasim.protocol import api
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.frame import FrameReader, peek_request_header, read_request_header, response_header
from kafkasim.protocol.primitives import MalformedError
from kafkasim.server.authentication import DONE, PRE_AUTH_KEYS, RAW, SaslFailure, SaslSession
from kafkasim.server.faults import FaultRule
from kafkasim.server.security import ANONYMOUS
from kafkasim.server.stats import BrokerStats
from kafkasim.state.acls import AclOperation, ResourceType
from kafkasim.state.partitions import PartitionState

if TYPE_CHECKING:
    from kafkasim.config import BrokerConfig, Listener
    from kafkasim.server.faults import Faults
    from kafkasim.server.security import ListenerSecurity
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
    #: TLS contexts, credentials and principal mapping of the listeners
    security: ListenerSecurity

    async def wait_for_append(self, partitions: list[PartitionState], timeout_s: float) -> None: ...

    def call_at(self, deadline_ms: int, fn: Callable[[], None]) -> None: ...


class Broker:
    """One virtual broker of a cluster: its node id, rack and listeners, and the connections they accepted.

    Broker ``index`` (0-based) of the cluster binds each listener's port + index (a free port when the
    listener's port is 0); the ports are kept across restarts."""

    def __init__(self, cluster: BrokerHost, node_id: int, index: int = 0, rack: str | None = None) -> None:
        self.cluster = cluster
        self.config = cluster.config
        self.node_id = node_id
        self.rack = rack
        self.listeners = self.config.listener_specs
        first = self.listeners[0]
        self.host = first.host
        #: listener name -> bound port (0 until the first start picks a free one)
        self.ports: dict[str, int] = {x.name: x.port + index if x.port else 0 for x in self.listeners}
        self._advertised_ports = {x.name: x.advertised_port + index if x.advertised_port else 0
                                  for x in self.listeners}
        self._servers: list[asyncio.AbstractServer] = []
        self._connections: set[Connection] = set()
        self.stats = BrokerStats()

    @property
    def port(self) -> int:
        """The first listener's port."""
        return self.ports[self.listeners[0].name]

    @property
    def connections(self) -> int:
        """Open client connections."""
        return len(self._connections)

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def open_connections(self) -> list[Connection]:
        return list(self._connections)

    def listener_address(self, name: str) -> tuple[str, int]:
        """advertised.listeners of listener ``name``: the configured host, else the bound one (a wildcard:
        this host's name); the configured port, else the bound one."""
        spec = next(x for x in self.listeners if x.name == name)
        host = spec.advertised_host or spec.host
        if host in ("", "0.0.0.0", "::"):
            host = socket.getfqdn()
        return host, self._advertised_ports[name] or self.ports[name]

    @property
    def advertised_host(self) -> str:
        return self.listener_address(self.listeners[0].name)[0]

    @property
    def bootstrap(self) -> str:
        """host:port of the first listener."""
        return self.listener_bootstrap(self.listeners[0].name)

    def listener_bootstrap(self, name: str) -> str:
        host, port = self.listener_address(name)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def start(self) -> None:
        """Listen on every listener (on the same ports as before after a restart) and join the cluster."""
        loop = asyncio.get_running_loop()
        security = self.cluster.security
        try:
            for spec in self.listeners:
                server = await loop.create_server(
                    lambda spec=spec: Connection(self, spec), spec.host, self.ports[spec.name],
                    ssl=security.ssl_context(spec), reuse_address=True, backlog=1024)
                self._servers.append(server)
                self.ports[spec.name] = server.sockets[0].getsockname()[1]
        except BaseException:
            for server in self._servers:
                server.close()
            self._servers.clear()
            raise
        state = self.cluster.state
        b = state.brokers.get(self.node_id)
        endpoints = {x.name: self.listener_address(x.name) for x in self.listeners}
        host, port = endpoints[self.listeners[0].name]
        state.register_broker(self.node_id, host, port, self.rack if b is None else b.rack, endpoints)
        log.info("broker %d listening on %s", self.node_id,
                 ", ".join(f"{x.name}://{x.host}:{self.ports[x.name]}" for x in self.listeners))

    async def stop(self) -> None:
        """Close the listeners and every connection (a connection accepted meanwhile is closed as it opens)."""
        servers, self._servers = self._servers, []
        if servers:
            # Stop accepting, and let the connections accepted just now become transports, before closing the
            # listener: Python 3.11's asyncio builds an accepted connection's transport a loop turn later, and
            # once the server is closed that fails silently, leaving the socket open (its client waits, and an
            # unclosed-transport ResourceWarning follows at garbage collection).
            loop = asyncio.get_running_loop()
            with contextlib.suppress(NotImplementedError, ValueError, OSError):  # loops without readers (uvloop)
                for server in servers:
                    for sock in server.sockets:
                        loop.remove_reader(sock.fileno())
            for _ in range(2):
                await asyncio.sleep(0)
            for server in servers:
                server.close()
        for conn in list(self._connections):
            conn.close()
        for server in servers:
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

    def __init__(self, broker: Broker, listener: Listener) -> None:
        self.broker = broker
        self.listener = listener
        self.id = next(_conn_ids)
        self.cluster = broker.cluster
        config = broker.config
        #: SASL listeners: the authentication state; frames are capped to sasl.server.max.receive.size until
        #: it completes
        self.sasl: SaslSession | None = None
        if listener.sasl:
            self.sasl = SaslSession(listener, config, self.cluster.security)
            self.reader = FrameReader(min(config.sasl_server_max_receive_size, config.socket_request_max_bytes))
        else:
            self.reader = FrameReader(config.socket_request_max_bytes)
        self.principal = ANONYMOUS
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
        if self.listener.tls and self.sasl is None:
            try:
                self.principal = self.cluster.security.tls_principal(transport.get_extra_info("ssl_object"))
            except Exception:  # a certificate the mapping rules cannot name
                log.warning("conn %d from %s: cannot map the client certificate to a principal; closing", self.id,
                            self.peer, exc_info=True)
                self._closing = True
                transport.close()
                return
        self.broker._connections.add(self)
        self.broker.stats.connections_accepted += 1
        log.debug("conn %d opened from %s", self.id, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.broker._connections.discard(self)
        for t in self._tasks:
            t.cancel()
        self._pending.clear()
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
        client's channel. A virtual clock ends the mute when a test advances it past; the wall clock a timer."""
        if ms <= 0 or self._closing or self.transport is None:
            return
        until = self.cluster.state.clock.now_ms() + ms
        if self._muted_until is not None:
            self._muted_until = max(self._muted_until, until)  # the armed check waits for the rest
            return
        self._muted_until = until
        self.transport.pause_reading()
        self.cluster.call_at(until, self._check_unmute)

    def _check_unmute(self) -> None:
        until = self._muted_until
        if until is None or self._closing:
            return
        if self.cluster.state.clock.now_ms() < until:  # extended meanwhile
            self.cluster.call_at(until, self._check_unmute)
            return
        self._muted_until = None
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
        sasl = self.sasl
        if sasl is not None and sasl.state == RAW:
            self._raw_token(sasl, frame)
            return
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
        if sasl is not None and (not sasl.authenticated or sasl.intercepts(key)
                                 or sasl.expired(cluster.state.clock.now_ms())):
            if not self._sasl_request(sasl, key, version, corr, frame):
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
        ctx = RequestCtx(broker, version, hdr.client_id, self.client_host, self.id, self.principal,
                         self.listener.name, self)
        if cluster.state.acls.enabled:
            check = failed_check(ctx, key, req, version)
            if check is not None:
                log.info("conn %d: %s denied %s v%d (%s on %s)", self.id, self.principal, api.api_name(key), version,
                         AclOperation(check.operation).name, ResourceType(check.resource_type).name)
                self._respond(key, version, corr, self._error_result(spec, req, key, version, check.error))
                return
        if spec.coordinator is not None:
            key_type, key_of = spec.coordinator
            ckey = key_of(req, version)
            if ckey is not None and not cluster.state.coordinates(key_type, ckey, broker.node_id):
                self._respond(key, version, corr,
                              self._error_result(spec, req, key, version, ErrorCode.NOT_COORDINATOR))
                return
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

    # -------------------------------------------------------------- SASL

    def _sasl_request(self, sasl: SaslSession, key: int, version: int, corr: int, frame: bytearray) -> bool:
        """A request on a SASL listener before (or re-) authentication, or after the session expired. True: the
        request handlers serve it (ApiVersions); False: answered here, or the connection closed."""
        now = self.cluster.state.clock.now_ms()
        if sasl.authenticated and sasl.expired(now) and key not in (ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE):
            log.info("conn %d from %s (%s): %s after its session expired; closing connection", self.id, self.peer,
                     sasl.principal, api.api_name(key))
            self.close()
            return False
        if key not in PRE_AUTH_KEYS:
            log.warning("conn %d from %s: unexpected %s request during SASL authentication; closing connection",
                        self.id, self.peer, api.api_name(key))
            self.close()
            return False
        if key == ApiKey.API_VERSIONS:
            return True
        mv = memoryview(frame)
        try:
            hdr = read_request_header(mv)
            req, _ = api.decode_request(key, version, mv, hdr.body_offset)
        except _DECODE_ERRORS as exc:
            log.warning("conn %d from %s: malformed %s v%d request: %s; closing connection", self.id, self.peer,
                        api.api_name(key), version, exc)
            self.close()
            return False
        was = sasl.principal
        try:
            if key == ApiKey.SASL_HANDSHAKE:
                resp = sasl.handshake(req, version)
            else:
                resp = sasl.authenticate(req, version, now)
        except SaslFailure as exc:
            self._sasl_failed(exc, key, version, corr)
            return False
        except Exception:
            log.exception("conn %d: SASL %s failed unexpectedly; closing connection", self.id, api.api_name(key))
            self.close()
            return False
        self._respond(key, version, corr, resp)
        if sasl.authenticated and key == ApiKey.SASL_AUTHENTICATE and sasl.state == DONE:
            self._authenticated(sasl, was)
        return False

    def _raw_token(self, sasl: SaslSession, frame: bytearray) -> None:
        """After SaslHandshake v0: a bare token in, a bare token out (a size and the bytes)."""
        was = sasl.principal
        try:
            out = sasl.raw_token(bytes(frame), self.cluster.state.clock.now_ms())
        except SaslFailure as exc:
            self._sasl_failed(exc, None, 0, 0)
            return
        except Exception:
            log.exception("conn %d: SASL token failed unexpectedly; closing connection", self.id)
            self.close()
            return
        self._respond_raw(out)
        if sasl.state == DONE:
            self._authenticated(sasl, was)

    def _respond_raw(self, data: bytes) -> None:
        payload = [_SIZE.pack(len(data)) + data]
        if not self._pending:
            self._write(payload)
        else:
            self._pending.append([payload])
            self._flush()

    def _authenticated(self, sasl: SaslSession, was: str | None) -> None:
        self.principal = sasl.principal  # type: ignore[assignment]
        self.reader.max_size = self.broker.config.socket_request_max_bytes
        self.broker.stats.authentications += 1
        if was is None:
            log.info("conn %d from %s authenticated as %s (%s on %s)", self.id, self.peer, sasl.principal,
                     sasl.mechanism, self.listener.name)
        else:
            self.broker.stats.reauthentications += 1
            log.debug("conn %d re-authenticated as %s", self.id, sasl.principal)

    def _sasl_failed(self, exc: SaslFailure, key: int | None, version: int, corr: int) -> None:
        """Answer the failure (if it has an answer) after connection.failed.authentication.delay.ms, then close;
        nothing more is read meanwhile."""
        self.broker.stats.failed_authentications += 1
        log.info("conn %d from %s: SASL authentication failed: %s; closing connection", self.id, self.peer, exc)
        if self.transport is None:
            return
        self.transport.pause_reading()
        payload = None if exc.response is None or key is None else self._payload(key, version, corr, exc.response)
        slot: list = [None]
        self._pending.append(slot)

        def answer() -> None:
            slot[0] = CLOSE if payload is None else payload
            self._flush()
            if payload is not None:
                self._pending.append([CLOSE])
                self._flush()

        delay = self.broker.config.connection_failed_authentication_delay_ms
        if delay <= 0:
            answer()
        else:
            asyncio.get_running_loop().call_later(delay / 1000.0, answer)

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
