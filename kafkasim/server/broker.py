"""asyncio transport: one listener per broker, connections, request dispatch and Fetch long-poll waiters.

A connection reads frames (size-capped before allocating), decodes the header and body with the
generated codec, calls the registered handler and writes responses strictly in request order. Malformed
input closes that one connection with a log line; a handler bug answers UNKNOWN_SERVER_ERROR and logs the
traceback. Nothing a client sends can stop the server or disturb other connections.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import socket
import struct
from collections import deque

from kafkasim.config import BrokerConfig
from kafkasim.errors import ErrorCode
from kafkasim.handlers import CLOSE, HANDLERS, NO_RESPONSE
from kafkasim.handlers.k18_api_versions import api_versions_response
from kafkasim.protocol import api
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.frame import FrameReader, peek_request_header, read_request_header, response_header
from kafkasim.protocol.primitives import MalformedError
from kafkasim.server.faults import FaultRule, Faults
from kafkasim.state.clock import ManualClock
from kafkasim.state.cluster import ClusterState, PartitionState

log = logging.getLogger(__name__)
_SIZE = struct.Struct(">i")
_DECODE_ERRORS = (MalformedError, struct.error, IndexError, UnicodeDecodeError, ValueError, TypeError)
_conn_ids = itertools.count(1)


class Broker:
    """One broker's listener on the cluster state; owns its connections and the append waiters."""

    def __init__(self, config: BrokerConfig, state: ClusterState | None = None, faults: Faults | None = None) -> None:
        self.config = config
        self.state = state or ClusterState(config)
        self.faults = faults if faults is not None else Faults()
        self.state.append_listeners.append(self._on_append)
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[Connection] = set()
        self._waiters: dict[tuple[str, int], set[asyncio.Future]] = {}
        self.host = config.host
        self.port = config.port
        self._group_timer: asyncio.TimerHandle | None = None
        self._group_timer_at: int | None = None
        self.state.groups.schedule = self._schedule_groups
        self._log_timers: list[asyncio.TimerHandle] = []
        self._flushing = False  # a background fsync is running

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
        loop = asyncio.get_running_loop()
        self.state.open()  # a data directory: recover the logs and the metadata before listening
        try:
            self._server = await loop.create_server(lambda: Connection(self), self.config.host, self.config.port,
                                                    reuse_address=True, backlog=1024)
        except BaseException:
            self.state.close()
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        clock = self.state.clock
        if isinstance(clock, ManualClock):  # virtual time: deadlines are acted on when the test advances it
            clock.on_advance.append(self._on_clock_advance)
        nxt = self.state.groups.next_deadline()  # restored group members must heartbeat in time
        if nxt is not None:
            self._schedule_groups(nxt)
        self._every(self.config.log_retention_check_interval_ms, self.state.maintain_logs, "log maintenance")
        self._every(self.config.transaction_abort_timed_out_transaction_cleanup_interval_ms,
                    self.state.abort_timed_out_transactions, "transaction timeouts")
        if self.state.store.fsync == "interval":
            self._every(self.config.flush_interval_ms, self._flush_logs, "log flush")
        self.state.register_broker(self.config.node_id, self.advertised_host, self.port, self.config.rack)
        log.info("broker %d listening on %s:%d (advertised %s)", self.config.node_id, self.config.host,
                 self.port, self.bootstrap)

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

    def _every(self, interval_ms: int, fn, what: str) -> None:
        """Run ``fn`` every ``interval_ms`` on the loop until the broker stops."""
        loop = asyncio.get_running_loop()
        slot = len(self._log_timers)
        self._log_timers.append(None)  # type: ignore[arg-type]

        def run() -> None:
            try:
                fn()
            except Exception:
                log.exception("%s failed", what)
            self._log_timers[slot] = loop.call_later(interval_ms / 1000.0, run)

        self._log_timers[slot] = loop.call_later(interval_ms / 1000.0, run)

    async def stop(self) -> None:
        clock = self.state.clock
        if isinstance(clock, ManualClock) and self._on_clock_advance in clock.on_advance:
            clock.on_advance.remove(self._on_clock_advance)
        for timer in self._log_timers:
            timer.cancel()
        self._log_timers.clear()
        if self._group_timer is not None:
            self._group_timer.cancel()
            self._group_timer = None
        self.state.groups.schedule = lambda deadline_ms: None
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        for futs in self._waiters.values():
            for f in futs:
                if not f.done():
                    f.cancel()
        self._waiters.clear()
        self.state.close()

    # -------------------------------------------------------------- group coordinator timers

    def _on_clock_advance(self) -> None:
        """The virtual clock moved: act on every deadline now past (groups, transactions, retention)."""
        nxt = self.state.groups.next_deadline()
        if nxt is not None and nxt <= self.state.clock.now_ms():
            self._group_tick()
        for what, fn in (("transaction timeouts", self.state.abort_timed_out_transactions),
                         ("log maintenance", self.state.maintain_logs)):
            try:
                fn()
            except Exception:
                log.exception("%s failed", what)

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
        """Return when any of ``partitions`` gets an append, or after ``timeout_s``."""
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


class RequestCtx:
    """What a handler sees of one request (see handlers.RequestContext)."""

    __slots__ = ("state", "api_version", "client_id", "client_host", "conn_id", "_broker")

    def __init__(self, broker: Broker, api_version: int, client_id: str | None, client_host: str,
                 conn_id: int) -> None:
        self.state = broker.state
        self.api_version = api_version
        self.client_id = client_id
        self.client_host = client_host
        self.conn_id = conn_id
        self._broker = broker

    async def wait_for_append(self, partitions: list[PartitionState], timeout_s: float) -> None:
        await self._broker.wait_for_append(partitions, timeout_s)


class Connection(asyncio.Protocol):
    """One client connection: frames in, responses out in request order."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.id = next(_conn_ids)
        self.reader = FrameReader(broker.config.socket_request_max_bytes)
        self.transport: asyncio.Transport | None = None
        self.peer = None
        self.client_host = ""
        self._pending: deque[list] = deque()  # [payload or None] slots, in request order
        self._tasks: set[asyncio.Task] = set()
        self._closing = False

    # -------------------------------------------------------------- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")
        self.client_host = f"/{self.peer[0]}" if self.peer else ""  # Kafka's form, e.g. "/127.0.0.1"
        self.broker._connections.add(self)
        log.debug("conn %d opened from %s", self.id, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.broker._connections.discard(self)
        for t in self._tasks:
            t.cancel()
        self._pending.clear()
        log.debug("conn %d closed (%s)", self.id, exc or "eof")

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self._closing:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            frames = self.reader.feed(data)
        except MalformedError as exc:
            log.warning("conn %d from %s: %s; closing connection", self.id, self.peer, exc)
            self.close()
            return
        for frame in frames:
            if self._closing:
                return
            try:
                self._dispatch(frame)
            except Exception:  # a bug outside any handler: lose this connection only
                log.exception("conn %d: internal error while dispatching; closing connection", self.id)
                self.close()
                return

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
        spec = HANDLERS.get(key)
        if spec is None:
            log.warning("conn %d from %s: unknown or unsupported API key %d (version %d, correlation %d); "
                        "closing connection", self.id, self.peer, key, version, corr)
            self.close()
            return
        if not spec.min_version <= version <= spec.max_version:
            if key == ApiKey.API_VERSIONS:
                # KIP-511: answer at v0 with UNSUPPORTED_VERSION and the versions we serve
                log.info("conn %d: ApiVersions v%d not supported, answering v0", self.id, version)
                self._respond(key, 0, corr, api_versions_response(ErrorCode.UNSUPPORTED_VERSION))
                return
            log.warning("conn %d from %s: %s v%d is not supported (served: %d-%d); closing connection",
                        self.id, self.peer, api.api_name(key), version, spec.min_version, spec.max_version)
            self.close()
            return
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
        rule = broker.faults.match(key, version, broker.config.node_id, hdr.client_id, req, self._topic_name) \
            if broker.faults.rules else None
        if rule is not None:
            log.info("conn %d: fault rule %d (%s) fired on %s v%d correlation %d", self.id, rule.id, rule.action,
                     api.api_name(key), version, corr)
            if rule.action == "close_before":
                self.close()
                return
            if rule.action == "error":
                self._respond(key, version, corr, self._error_result(spec, req, key, version, rule.error_code))
                return
        ctx = RequestCtx(broker, version, hdr.client_id, self.client_host, self.id)
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
        t = self.broker.state.topics_by_id.get(topic_id)
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
