"""A Kafka-aware TCP proxy in front of one broker, for fault-injection tests with real clients.

:class:`KafkaProxy` listens on an ephemeral 127.0.0.1 port and relays every connection to the broker,
frame by frame (the 4-byte size prefix), bytes unchanged, with one exception: responses that tell a
client where brokers are (Metadata, FindCoordinator, DescribeCluster) would send it straight to the
broker, around the proxy. The proxy decodes those with kafkasim's own codec, replaces the broker's port
with its own, and encodes them again; it first checks that decoding and re-encoding the unmodified
response gives back the very same bytes, so nothing else can change (a mismatch is recorded in
:attr:`KafkaProxy.errors` and the response is relayed as it came).

Fault injection: :meth:`KafkaProxy.drop_before_response` arms a rule "forward the Nth request of this API
key to the broker, wait for the broker's answer, then drop the connection instead of returning it" (a
Produce with acks=0, which gets no answer, does not count). For Produce that is the lost acknowledgement:
the records are in the log, the client never hears so, and reconnects and retries. Answers to the
requests before the Nth on that connection are still delivered.
Requests the client pipelined behind the Nth before its answer came were forwarded too: the proxy waits
for their answers as well (so every forwarded request took effect) and withholds them; anything the
client sends once the Nth is answered is discarded, as on a broken connection.

The proxy also records every Produce exchange (:class:`ProduceExchange`): per partition, the producer id,
epoch, base sequence and record count of the batch sent, and the broker's error code and base offset, so a
test can show that a retried batch was answered with the offsets of its first append.

One thread serves every connection (non-blocking sockets and a selector); :meth:`KafkaProxy.close` stops it
and closes every socket. The proxy fronts a single broker, and rewrites only addresses equal to the
``host:port`` it was given: with a multi-broker cluster, or a broker that advertises another name for
itself, clients would reach the broker directly. No TLS, no SASL.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
from dataclasses import dataclass, field

from kafkasim.protocol import api
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.frame import FrameReader, peek_request_header, read_request_header, read_response_header
from kafkasim.protocol.records import HEADER_SIZE, read_header
from kafkasim.testing.wire import parse_bootstrap

MAX_FRAME = 200 * 1024 * 1024  # above any broker's socket.request.max.bytes: the proxy never refuses a frame
_SIZE = struct.Struct(">i")
_READ = 65536
# Responses that carry broker addresses.
ADDRESS_RESPONSES = (ApiKey.METADATA, ApiKey.FIND_COORDINATOR, ApiKey.DESCRIBE_CLUSTER)


@dataclass(frozen=True)
class ProducedBatch:
    """One partition's batch of a Produce request, from its header."""

    topic: str  # the name (Produce v13+: the topic id in hex)
    partition: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records: int


@dataclass(frozen=True)
class PartitionResult:
    """The broker's answer for one partition of a Produce request."""

    topic: str
    partition: int
    error_code: int
    base_offset: int


@dataclass
class ProduceExchange:
    """A Produce request relayed to the broker and what the broker answered."""

    connection: int  # the proxy's number for the client connection (1, 2, ... in accept order)
    correlation_id: int
    version: int
    required_acks: int  # the request's acks (0: the broker sends no answer)
    batches: list[ProducedBatch]
    results: list[PartitionResult] | None = None  # None until the broker answers
    dropped: bool = False  # the broker's answer was withheld from the client and its connection dropped

    def result_for(self, batch: ProducedBatch) -> PartitionResult:
        """The answer for ``batch``'s partition. Found by topic and partition, not by position: the protocol
        gives the partitions of a Produce response no order, and Kafka 4.4 answers them in an order of its
        own (test_aiokafka_retry_after_a_lost_produce_ack_is_deduplicated against it: the answer to a
        Produce of several partitions listed them in another order than the request); kafkasim keeps the
        request's order."""
        assert self.results is not None, f"{self}: the broker never answered"
        [result] = [r for r in self.results if (r.topic, r.partition) == (batch.topic, batch.partition)]
        return result


@dataclass
class _Rule:
    api_key: int
    remaining: int  # matching requests still to let through before the one whose answer is dropped
    done: threading.Event


@dataclass
class _Pending:
    api_key: int
    version: int
    exchange: ProduceExchange | None
    drop: _Rule | None

    @property
    def answered(self) -> bool:
        return self.exchange is None or self.exchange.required_acks != 0


@dataclass(eq=False)  # hashed by identity
class _Conn:
    id: int
    client: socket.socket
    upstream: socket.socket | None
    requests: FrameReader = field(default_factory=lambda: FrameReader(MAX_FRAME))
    responses: FrameReader = field(default_factory=lambda: FrameReader(MAX_FRAME))
    to_client: bytearray = field(default_factory=bytearray)
    to_upstream: bytearray = field(default_factory=bytearray)
    pending: dict[int, _Pending] = field(default_factory=dict)
    # Set when a rule fires: from then on nothing more is relayed; the answers to what was already forwarded
    # are awaited (so those requests took effect) and withheld, then the connection is dropped.
    dropped_by: _Rule | None = None


class KafkaProxy:
    """``KafkaProxy("127.0.0.1:9092").start()``; clients use :attr:`bootstrap_servers`; :meth:`close` at the end."""

    def __init__(self, upstream: str, host: str = "127.0.0.1") -> None:
        self.upstream = parse_bootstrap(upstream)
        self.host = host
        self.port = 0
        self.errors: list[str] = []  # anything the proxy could not relay faithfully; a test asserts it is empty
        self.exchanges: list[ProduceExchange] = []
        self.connections = 0  # client connections accepted so far
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._conns: dict[socket.socket, tuple[_Conn, str]] = {}
        self._sel = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False
        self._closed = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ public API

    @property
    def bootstrap_servers(self) -> str:
        assert self.port, "the proxy is not started"
        return f"{self.host}:{self.port}"

    def start(self) -> KafkaProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((self.host, 0))
        listener.listen(64)
        listener.setblocking(False)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._wake_r.setblocking(False)
        self._sel.register(listener, selectors.EVENT_READ, "listen")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._main, name=f"kafka-proxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the proxy thread and close every socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._stopping = True
            self._wake_w.send(b"x")
            self._thread.join(10)
            assert not self._thread.is_alive(), "the proxy thread did not stop"
            self._thread = None
        for conn in {c for c, _side in list(self._conns.values())}:
            self._close_conn(conn)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._wake_r.close()
        self._wake_w.close()
        self._sel.close()

    def __enter__(self) -> KafkaProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def drop_before_response(self, api_key: int = ApiKey.PRODUCE, nth: int = 1) -> threading.Event:
        """Arm: the ``nth`` request with ``api_key`` from now on (on any connection) is forwarded to the
        broker, and when the broker's answer arrives the client connection is dropped instead of receiving
        it (see the module docstring). Returns an event set once the connection is closed."""
        assert nth >= 1
        rule = _Rule(int(api_key), nth - 1, threading.Event())
        with self._lock:
            self._rules.append(rule)
        return rule.done

    def produce_exchanges(self) -> list[ProduceExchange]:
        """A snapshot of the Produce exchanges so far, in the order the requests were relayed."""
        with self._lock:
            return list(self.exchanges)

    # ------------------------------------------------------------------ the loop

    def _main(self) -> None:
        try:
            while not self._stopping:
                for key, mask in self._sel.select():
                    if key.data == "listen":
                        self._accept()
                    elif key.data == "wake":
                        self._wake_r.recv(64)
                    else:
                        conn, side = key.data
                        try:
                            self._serve(conn, side, mask)
                        except Exception as exc:  # noqa: BLE001 - e.g. a malformed frame: drop this connection
                            self.errors.append(f"connection {conn.id}: {exc!r}")
                            self._close_conn(conn)
        except Exception as exc:  # noqa: BLE001 - recorded for the test, never an unhandled thread exception
            self.errors.append(f"proxy loop failed: {exc!r}")

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _addr = self._listener.accept()
        except BlockingIOError:
            return
        self.connections += 1
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()  # the broker is down: the client sees its connection closed, as it would
            return
        for s in (client, upstream):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(self.connections, client, upstream)
        self._conns[client] = (conn, "client")
        self._conns[upstream] = (conn, "upstream")
        self._sel.register(client, selectors.EVENT_READ, (conn, "client"))
        self._sel.register(upstream, selectors.EVENT_READ, (conn, "upstream"))

    def _serve(self, conn: _Conn, side: str, mask: int) -> None:
        sock = conn.client if side == "client" else conn.upstream
        if sock is None or sock.fileno() < 0:
            return  # closed by an earlier event of this round
        if mask & selectors.EVENT_READ:
            try:
                data = sock.recv(_READ)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""
            if data == b"":
                if side == "client":
                    self._close_conn(conn)
                    return
                self._close_upstream(conn)  # the broker closed: the client still gets what it is owed
            elif data:
                if side == "upstream":
                    self._from_upstream(conn, data)
                elif conn.dropped_by is None:
                    self._from_client(conn, data)
                # else: requests sent once the drop began are lost, as on a connection that broke
        if mask & selectors.EVENT_WRITE and sock.fileno() >= 0:
            buf = conn.to_client if side == "client" else conn.to_upstream
            try:
                sent = sock.send(buf)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._close_conn(conn)
                return
            del buf[:sent]
        self._update(conn)

    def _update(self, conn: _Conn) -> None:
        """Re-register interest after buffers changed; once the broker side is gone, close the client as soon
        as it has received what it is owed."""
        if conn.client.fileno() < 0:
            return
        if conn.upstream is None:
            if not conn.to_client:
                self._close_conn(conn)
                return
            self._sel.modify(conn.client, selectors.EVENT_WRITE, (conn, "client"))
            return
        self._sel.modify(conn.client, selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.to_client else 0),
                         (conn, "client"))
        self._sel.modify(conn.upstream, selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.to_upstream else 0),
                         (conn, "upstream"))

    def _close_upstream(self, conn: _Conn) -> None:
        upstream, conn.upstream = conn.upstream, None
        if upstream is not None:
            self._conns.pop(upstream, None)
            self._sel.unregister(upstream)
            upstream.close()

    def _close_conn(self, conn: _Conn) -> None:
        for s in (conn.client, conn.upstream):
            if s is None or s.fileno() < 0:
                continue
            self._conns.pop(s, None)
            try:
                self._sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
        conn.upstream = None
        if conn.dropped_by is not None:
            conn.dropped_by.done.set()

    # ------------------------------------------------------------------ frames

    def _from_client(self, conn: _Conn, data: bytes) -> None:
        for frame in conn.requests.feed(data):
            key, version, corr = peek_request_header(frame)
            exchange = self._produce_request(conn, frame, version, corr) if key == ApiKey.PRODUCE else None
            answered = exchange is None or exchange.required_acks != 0
            with self._lock:
                drop = None
                for rule in self._rules:
                    if rule.api_key != key or not answered:  # a Produce with acks=0 gets no answer to drop
                        continue
                    if rule.remaining > 0:
                        rule.remaining -= 1
                    elif drop is None:
                        drop = rule
                if drop is not None:
                    self._rules.remove(drop)
                if exchange is not None:
                    self.exchanges.append(exchange)
            conn.pending[corr] = _Pending(key, version, exchange, drop)
            conn.to_upstream += _SIZE.pack(len(frame))
            conn.to_upstream += frame

    def _from_upstream(self, conn: _Conn, data: bytes) -> None:
        for frame in conn.responses.feed(data):
            (corr,) = _SIZE.unpack_from(frame, 0)
            pending = conn.pending.pop(corr, None)
            if pending is None:
                self.errors.append(f"connection {conn.id}: response to unknown correlation id {corr}")
            else:
                if pending.exchange is not None:
                    self._produce_response(pending, frame)
                if pending.drop is not None:
                    conn.dropped_by = pending.drop  # the broker has handled it; the client will not hear of it
                if conn.dropped_by is None and pending.api_key in ADDRESS_RESPONSES:
                    frame = self._rewrite_addresses(pending.api_key, pending.version, frame)
            if conn.dropped_by is not None:
                if pending is not None and pending.exchange is not None:
                    pending.exchange.dropped = True
                continue  # withheld
            conn.to_client += _SIZE.pack(len(frame))
            conn.to_client += frame
        if conn.dropped_by is not None and not any(p.answered for p in conn.pending.values()):
            self._close_upstream(conn)  # everything forwarded has been answered (and applied): drop the connection

    def _rewrite_addresses(self, key: int, version: int, frame: bytearray) -> bytearray:
        """The response with the broker's port replaced by the proxy's; anything else unchanged."""
        name = f"{api.api_name(key)} v{version}"
        try:
            _corr, pos = read_response_header(key, version, frame)
            msg, end = api.decode_response(key, version, memoryview(frame), pos)
            if end != len(frame) or b"".join(api.encode_response(key, version, msg)) != frame[pos:]:
                self.errors.append(f"{name} response does not survive a decode/encode round trip; relayed as is")
                return frame
        except Exception as exc:  # noqa: BLE001 - relay as is, and let the test fail on the recorded error
            self.errors.append(f"cannot decode a {name} response: {exc!r}")
            return frame
        if key == ApiKey.FIND_COORDINATOR:
            nodes = [msg, *msg.coordinators]
        else:
            nodes = list(msg.brokers)
        for node in nodes:
            if (node.host, node.port) == self.upstream:
                node.host, node.port = self.host, self.port
        return frame[:pos] + b"".join(api.encode_response(key, version, msg))

    def _produce_request(self, conn: _Conn, frame: bytearray, version: int, corr: int) -> ProduceExchange:
        batches = []
        required_acks = -1
        try:
            pos = read_request_header(frame).body_offset
            req, _end = api.decode_request(ApiKey.PRODUCE, version, memoryview(frame), pos)
            required_acks = req.acks
            for t in req.topic_data:
                for pd in t.partition_data:
                    if pd.records is None or len(pd.records) < HEADER_SIZE:
                        continue
                    h = read_header(pd.records)
                    batches.append(ProducedBatch(_topic(t), pd.index, h.producer_id, h.producer_epoch,
                                                 h.base_sequence, h.records_count))
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"cannot decode Produce v{version} request {corr}: {exc!r}")
        return ProduceExchange(conn.id, corr, version, required_acks, batches)

    def _produce_response(self, pending: _Pending, frame: bytearray) -> None:
        assert pending.exchange is not None
        try:
            _corr, pos = read_response_header(ApiKey.PRODUCE, pending.version, frame)
            resp, _end = api.decode_response(ApiKey.PRODUCE, pending.version, memoryview(frame), pos)
            results = [PartitionResult(_topic(t), p.index, p.error_code, p.base_offset)
                       for t in resp.responses for p in t.partition_responses]
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"cannot decode Produce v{pending.version} response: {exc!r}")
            return
        with self._lock:
            pending.exchange.results = results


def _topic(t: object) -> str:
    name = getattr(t, "name", "")
    return name if name else getattr(t, "topic_id", b"").hex()
