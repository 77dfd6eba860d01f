"""The HTTP control API (aiohttp), served on the clusters' own event loop.

Every route drives the :class:`kafkasim.testing.Cluster` objects (the Python API) directly: handlers run on
the loop the brokers run on, so ``Cluster.call`` runs inline and waits use the ``_async`` variants; nothing
here blocks the loop or knows more about the broker than the Python API tells. JSON in and out; the routes,
parameters and shapes are documented in ``openapi.json`` beside this file, served as is at
``GET /openapi.json`` (a test checks that the routes registered here and the document's paths are the same).

Errors answer ``{"error": "..."}`` (plus ``kafka_error``, Kafka's error name, where the Python API raised a
KafkaError) with 400 (bad input), 401 (token), 404 (unknown cluster, broker, topic, group, rule or route),
405, 408 (a wait timed out: the message says what was there instead), 409 (wrong state), 413 (body over
1 MiB) or 500 (a bug: the traceback is logged).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import hmac
import inspect
import json
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.protocol.api import ApiKey, api_name
from kafkasim.testing.cluster import BrokerStatus, Cluster, GroupInfo, PartitionStatus, ThreadedCluster
from kafkasim.testing.records import RecordInfo, WaitTimeout

log = logging.getLogger(__name__)

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
#: largest request body accepted (413 above it)
MAX_BODY_BYTES = 1 << 20
#: longest wait a request may ask for, in seconds
MAX_WAIT_S = 300.0
#: default wait timeout, as the Python API's
DEFAULT_WAIT_S = 10.0
#: largest amount of each unit of one clock advance (ten years): broker time stays far from int64's end
MAX_ADVANCE_MS = 10 * 365 * 24 * 3_600_000
#: the name of a process's single unnamed cluster
DEFAULT_CLUSTER = "default"
#: how long stop() lets requests in flight (waits) finish before cancelling them
SHUTDOWN_TIMEOUT_S = 1.0

#: Kafka errors that mean "no such thing" (404) and "not now" (409); any other KafkaError is bad input (400)
_NOT_FOUND = {ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.UNKNOWN_TOPIC_ID, ErrorCode.GROUP_ID_NOT_FOUND}
_CONFLICT = {ErrorCode.TOPIC_ALREADY_EXISTS, ErrorCode.ELECTION_NOT_NEEDED,
             ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE, ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE}

#: (method, path, handler name): every route of the API; openapi.json documents exactly these
ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/openapi.json", "openapi"),
    ("GET", "/metrics", "metrics"),
    ("GET", "/clusters", "list_clusters"),
    ("GET", "/clusters/{cluster}", "get_cluster"),
    ("GET", "/clusters/{cluster}/brokers", "list_brokers"),
    ("POST", "/clusters/{cluster}/brokers/{node_id}/stop", "stop_broker"),
    ("POST", "/clusters/{cluster}/brokers/{node_id}/start", "start_broker"),
    ("PUT", "/clusters/{cluster}/brokers/{node_id}/rack", "set_rack"),
    ("POST", "/clusters/{cluster}/topics", "create_topic"),
    ("GET", "/clusters/{cluster}/topics/{topic}/partitions/{partition}", "get_partition"),
    ("POST", "/clusters/{cluster}/topics/{topic}/partitions/{partition}/leader", "move_leader"),
    ("POST", "/clusters/{cluster}/elect-leaders", "elect_leaders"),
    ("GET", "/clusters/{cluster}/topics/{topic}/records", "get_records"),
    ("GET", "/clusters/{cluster}/faults", "list_faults"),
    ("POST", "/clusters/{cluster}/faults", "add_fault"),
    ("DELETE", "/clusters/{cluster}/faults", "clear_faults"),
    ("DELETE", "/clusters/{cluster}/faults/{rule_id:-?[0-9]+}", "remove_fault"),  # not .../faults/seed
    ("POST", "/clusters/{cluster}/faults/seed", "seed_faults"),
    ("GET", "/clusters/{cluster}/clock", "get_clock"),
    ("POST", "/clusters/{cluster}/clock/advance", "advance_clock"),
    ("POST", "/clusters/{cluster}/wait/records", "wait_records"),
    ("POST", "/clusters/{cluster}/wait/group", "wait_group"),
    ("GET", "/clusters/{cluster}/groups", "list_groups"),
    ("GET", "/clusters/{cluster}/groups/{group}", "get_group"),
]


#: what a fault rule's ``api`` may be: Kafka's names (ListOffsets), the enum's (LIST_OFFSETS, as rules list
#: them) or the key; its ``error``: Kafka's error names or codes (openapi.json enumerates the same)
API_NAMES = sorted({k.name for k in ApiKey} | {api_name(k) for k in ApiKey})
API_KEYS = sorted(int(k) for k in ApiKey)
ERROR_NAMES = sorted(e.name for e in ErrorCode)
ERROR_CODES = sorted(int(e) for e in ErrorCode)

#: routes that are not in openapi.json: /metrics belongs to the metrics work, which documents it
UNDOCUMENTED_PATHS = frozenset({"/metrics"})

#: ``metrics()`` returns (body, content type), or an awaitable of it
MetricsHook = Callable[[], "tuple[bytes, str] | Awaitable[tuple[bytes, str]]"]


class ApiError(Exception):
    """An answer other than success: the status and the ``{"error": ...}`` body."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.extra = extra


def _error_response(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status, headers=headers)


def _kafka_error(exc: KafkaError, what: str | None = None) -> ApiError:
    """A KafkaError of the Python API as an answer; ``what`` names the thing it is about."""
    code = ErrorCode(exc.code)
    status = 404 if code in _NOT_FOUND else 409 if code in _CONFLICT else 400
    message = exc.message or code.name
    return ApiError(status, f"{what}: {message}" if what else message, kafka_error=code.name)


# ---------------------------------------------------------------------------------------------- input


_MISSING = object()
_INTEGER = re.compile(r"-?[0-9]+")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


async def _json_body(request: web.Request, fields: set[str]) -> dict[str, Any]:
    """The request's JSON object (an empty body is ``{}``); unknown fields are refused."""
    raw = await request.read()  # over client_max_size: HTTPRequestEntityTooLarge (413)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the body must be a JSON object, not {type(data).__name__}")
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ApiError(400, f"unknown field(s) {unknown}; expected some of {sorted(fields)}")
    return data


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = _MISSING, *,
           nullable: bool = False, minimum: float | None = None, maximum: float | None = None) -> Any:
    """``data[name]`` checked against a JSON type (bool is never an int); ``default`` when absent."""
    if name not in data:
        if default is _MISSING:
            raise ApiError(400, f"field {name!r} is required")
        return default
    value = data[name]
    if value is None:
        if nullable:
            return None
        raise ApiError(400, f"field {name!r} must not be null")
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if int in kinds and isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema's integer: 3.0 is one
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise ApiError(400, f"field {name!r} must be {_type_names(kinds)}, not {_json_type(value)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if minimum is not None and value < minimum:
            raise ApiError(400, f"field {name!r} must be >= {minimum:g}, got {value}")
        if maximum is not None and value > maximum:
            raise ApiError(400, f"field {name!r} must be <= {maximum:g}, got {value}")
    return value


def _type_names(kinds: tuple[type, ...]) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", dict: "an object",
             list: "an array"}
    return " or ".join(dict.fromkeys(names[k] for k in kinds if not (k is int and float in kinds)))


def _json_type(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", dict: "an object",
            list: "an array"}.get(type(value), type(value).__name__)


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{what} is not valid base64") from None


def _int_param(text: str, what: str, minimum: int | None = 0) -> int:
    try:
        if not _INTEGER.fullmatch(text):
            raise ValueError
        value = int(text)  # ValueError beyond sys.get_int_max_str_digits()
    except ValueError:
        raise ApiError(400, f"{what} must be an integer, got {text[:40]!r}") from None
    if minimum is not None and value < minimum:
        raise ApiError(400, f"{what} must be >= {minimum}, got {value}")
    return value


def _timeout(data: dict[str, Any]) -> float:
    return float(_field(data, "timeout", (int, float), DEFAULT_WAIT_S, minimum=0, maximum=MAX_WAIT_S))


def _key_filter(given: Any, key: str | None, key_base64: str | None) -> bytes | str | None:
    """The key filter of ``key`` (text) or ``key_base64``; ``given`` holds the names present (not both)."""
    if "key" in given and "key_base64" in given:
        raise ApiError(400, "give key or key_base64, not both")
    return _b64(key_base64, "key_base64") if key_base64 is not None else key


# --------------------------------------------------------------------------------------------- output


def _text(data: bytes | None) -> str | None:
    """Bytes as text when they are valid UTF-8, else None (the ``*_base64`` field has them exactly)."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _base64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def record_json(r: RecordInfo) -> dict[str, Any]:
    """A record as the API gives it: bytes as UTF-8 text (or null) and always exactly as base64."""
    return {
        "topic": r.topic, "partition": r.partition, "offset": r.offset, "timestamp": r.timestamp,
        "timestamp_type": r.timestamp_type,
        "key": _text(r.key), "key_base64": _base64(r.key),
        "value": _text(r.value), "value_base64": _base64(r.value),
        "headers": [{"name": k, "value": _text(v), "value_base64": _base64(v)} for k, v in r.headers],
        "producer_id": r.producer_id, "producer_epoch": r.producer_epoch, "sequence": r.sequence,
        "transactional": r.transactional, "txn_state": r.txn_state,
    }


def _broker_json(b: BrokerStatus) -> dict[str, Any]:
    return {"node_id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack, "running": b.running,
            "fenced": b.fenced}


def _partition_json(p: PartitionStatus) -> dict[str, Any]:
    return dataclasses.asdict(p)


def _clock_json(c: Cluster) -> dict[str, Any]:
    return {"virtual": c.clock.virtual, "now_ms": c.clock.now_ms()}


def _group_json(c: Cluster, info: GroupInfo) -> dict[str, Any]:
    offsets = c.group_offsets(info.group_id)  # same loop turn as ``info``: one consistent snapshot
    return {
        "group_id": info.group_id, "state": info.state, "generation": info.generation,
        "protocol_type": info.protocol_type, "protocol": info.protocol, "leader": info.leader,
        "members": [{"member_id": m.member_id, "group_instance_id": m.group_instance_id, "client_id": m.client_id,
                     "client_host": m.client_host,
                     "assignment": [{"topic": t, "partition": p} for t, p in m.assignment]} for m in info.members],
        "offsets": [{"topic": t, "partition": p, "committed": o.committed, "log_end": o.log_end, "lag": o.lag,
                     "metadata": o.metadata} for (t, p), o in sorted(offsets.items())],
    }


def cluster_name(c: Cluster) -> str:
    return c.name or DEFAULT_CLUSTER


# --------------------------------------------------------------------------------------------- server


class ControlServer:
    """Serves the control API of ``clusters`` on host:port (port 0 picks a free one), on the loop the
    clusters run on. With ``token``, every request needs ``Authorization: Bearer TOKEN``.

    ``metrics`` is the hook of ``GET /metrics`` (Prometheus metrics, added by the metrics work): a callable
    returning (body, content type), or an awaitable of it; without it /metrics answers 404.
    """

    def __init__(self, clusters: list[Cluster], host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, *, metrics: MetricsHook | None = None) -> None:
        names = [cluster_name(c) for c in clusters]
        if len(set(names)) != len(names):
            raise ValueError(f"cluster names must differ: {names}")
        self.clusters = {cluster_name(c): c for c in clusters}
        self.host = host
        self.port = port
        self.token = token
        self.metrics_hook = metrics
        self._openapi = OPENAPI_PATH.read_bytes()
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def make_app(self) -> web.Application:
        """The aiohttp application (routes, token check, JSON errors, request log)."""
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._middleware])
        for method, path, name in ROUTES:
            app.router.add_route(method, path, getattr(self, name), name=name)
        return app

    async def start(self) -> None:
        family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        sock = socket.create_server((self.host, self.port), family=family)  # OSError: in use, no such address
        sock.setblocking(False)
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self._sock = sock
        self.port = sock.getsockname()[1]
        log.info("control API on %s (%s)", self.url, "token required" if self.token else "no token")

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        # Stop accepting first, and let the connections accepted just now become transports before the listener
        # closes: Python 3.11's asyncio builds an accepted connection's transport a loop turn later, and after
        # the server is closed that fails (silently), leaving its socket open and its client waiting.
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, ValueError, OSError):  # a loop without readers (uvloop)
            loop.remove_reader(self._sock.fileno())
        for _ in range(2):
            await asyncio.sleep(0)
        await runner.cleanup()  # answers (or, after SHUTDOWN_TIMEOUT_S, closes) what is in flight

    def run_in_thread(self) -> ThreadedCluster:
        """A context manager running the clusters and this server on a daemon thread (one loop), for tests
        and synchronous code: ``with ControlServer([Cluster()]).run_in_thread(): ... server.url``."""
        first, *others = self.clusters.values()
        return ThreadedCluster(first, *others, services=[self])

    # ------------------------------------------------------------------ plumbing

    def _authorized(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
        started = time.monotonic()
        try:
            if not self._authorized(request):
                raise ApiError(401, "missing or wrong token: send 'Authorization: Bearer TOKEN'",
                               headers={"WWW-Authenticate": 'Bearer realm="kafkasim"'})
            response = await handler(request)
        except ApiError as exc:
            response = _error_response(exc.status, exc.message, exc.headers, **exc.extra)
        except web.HTTPException as exc:  # unknown route (404), method (405), body too large (413)
            headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
            message = {404: f"no route {request.path}", 405: f"{request.method} is not allowed on {request.path}",
                       413: f"the body is larger than {MAX_BODY_BYTES} bytes"}.get(exc.status, exc.reason)
            response = _error_response(exc.status, message, headers)
        except Exception:
            log.exception("control API: %s %s failed", request.method, request.path_qs)
            response = _error_response(500, "internal error (the broker's log has the traceback)")
        log.debug("%s %s -> %d (%.1f ms)", request.method, request.path_qs, response.status,
                  (time.monotonic() - started) * 1000)
        return response

    def _cluster(self, request: web.Request) -> Cluster:
        name = request.match_info["cluster"]
        c = self.clusters.get(name)
        if c is None:
            raise ApiError(404, f"no cluster {name!r} (clusters: {sorted(self.clusters)})")
        return c

    @staticmethod
    def _node_id(request: web.Request, c: Cluster) -> int:
        node_id = _int_param(request.match_info["node_id"], "node_id", minimum=None)
        if node_id not in {b.node_id for b in c.brokers()}:
            raise ApiError(404, f"no broker {node_id} (brokers: {sorted(b.node_id for b in c.brokers())})")
        return node_id

    def _summary(self, c: Cluster) -> dict[str, Any]:
        return {"name": cluster_name(c), "cluster_id": c.cluster_id, "bootstrap": c.server.bootstrap,
                "brokers": [_broker_json(b) for b in c.brokers()], "clock": _clock_json(c)}

    @staticmethod
    def _broker_after(c: Cluster, node_id: int) -> web.Response:
        (b,) = [b for b in c.brokers() if b.node_id == node_id]
        return web.json_response(_broker_json(b))

    # ------------------------------------------------------------------ documents

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=self._openapi, content_type="application/json")

    async def metrics(self, request: web.Request) -> web.Response:
        # Hook for Prometheus metrics: the metrics work passes ControlServer(metrics=...); until then 404.
        if self.metrics_hook is None:
            raise ApiError(404, "metrics are not enabled")
        result = self.metrics_hook()
        if inspect.isawaitable(result):
            result = await result
        body, content_type = result
        return web.Response(body=body, headers={"Content-Type": content_type})

    # ------------------------------------------------------------------ clusters and brokers

    async def list_clusters(self, request: web.Request) -> web.Response:
        return web.json_response({"clusters": [self._summary(c) for c in self.clusters.values()]})

    async def get_cluster(self, request: web.Request) -> web.Response:
        return web.json_response(self._summary(self._cluster(request)))

    async def list_brokers(self, request: web.Request) -> web.Response:
        return web.json_response({"brokers": [_broker_json(b) for b in self._cluster(request).brokers()]})

    async def stop_broker(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        node_id = self._node_id(request, c)
        body = await _json_body(request, {"controlled"})
        controlled = _field(body, "controlled", bool, True)
        try:
            await c.server.stop_broker(node_id, controlled)
        except ValueError as exc:  # not running
            raise ApiError(409, str(exc)) from None
        return self._broker_after(c, node_id)

    async def start_broker(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        node_id = self._node_id(request, c)
        await _json_body(request, set())
        try:
            await c.server.start_broker(node_id)
        except ValueError as exc:  # already running
            raise ApiError(409, str(exc)) from None
        return self._broker_after(c, node_id)

    async def set_rack(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        node_id = self._node_id(request, c)
        body = await _json_body(request, {"rack"})
        c.set_rack(node_id, _field(body, "rack", str, nullable=True))
        return self._broker_after(c, node_id)

    # ------------------------------------------------------------------ topics and partitions

    async def create_topic(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        body = await _json_body(request, {"name", "partitions", "replication_factor", "configs"})
        name = _field(body, "name", str)
        partitions = _field(body, "partitions", int, -1, minimum=-1)
        replication_factor = _field(body, "replication_factor", int, -1, minimum=-1)
        configs = _field(body, "configs", dict, None, nullable=True) or {}
        for k, v in configs.items():
            if v is not None and not isinstance(v, str):
                raise ApiError(400, f"config {k!r} must be a string or null, not {_json_type(v)}")
        try:
            c.create_topic(name, partitions, configs, replication_factor=replication_factor)
        except KafkaError as exc:
            raise _kafka_error(exc, f"cannot create topic {name!r}") from None
        return web.json_response({"name": name, "partitions": [_partition_json(p) for p in c.partitions(name)]},
                                 status=201)

    def _partition_ref(self, request: web.Request) -> tuple[Cluster, str, int]:
        c = self._cluster(request)
        return c, request.match_info["topic"], _int_param(request.match_info["partition"], "partition")

    async def get_partition(self, request: web.Request) -> web.Response:
        c, topic, partition = self._partition_ref(request)
        try:
            return web.json_response(_partition_json(c.partition_status(topic, partition)))
        except KafkaError as exc:
            raise _kafka_error(exc, f"{topic}-{partition}") from None

    async def move_leader(self, request: web.Request) -> web.Response:
        c, topic, partition = self._partition_ref(request)
        body = await _json_body(request, {"node_id"})
        node_id = _field(body, "node_id", int)
        try:
            c.move_leader(topic, partition, node_id)
        except KafkaError as exc:
            raise _kafka_error(exc, f"{topic}-{partition}") from None
        except ValueError as exc:  # not an in-sync replica
            raise ApiError(409, str(exc)) from None
        return web.json_response(_partition_json(c.partition_status(topic, partition)))

    async def elect_leaders(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        body = await _json_body(request, {"topic"})
        topic = _field(body, "topic", str, None, nullable=True)
        try:
            moved = c.elect_preferred_leaders(topic)
        except KafkaError as exc:
            raise _kafka_error(exc, f"topic {topic!r}") from None
        return web.json_response({"moved": [{"topic": t, "partition": p} for t, p in moved]})

    # ------------------------------------------------------------------ records

    _RECORDS_PARAMS = frozenset({"partition", "start", "end", "key", "key_base64", "header", "header_base64",
                                 "isolation", "limit"})

    async def get_records(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        q = request.query
        unknown = sorted(set(q) - self._RECORDS_PARAMS)
        if unknown:
            raise ApiError(400, f"unknown query parameter(s) {unknown}; expected some of "
                                f"{sorted(self._RECORDS_PARAMS)}")
        for name in self._RECORDS_PARAMS - {"header", "header_base64"}:
            if len(q.getall(name, [])) > 1:
                raise ApiError(400, f"query parameter {name!r} given more than once")
        ints = {name: _int_param(q[name], name) if name in q else None
                for name in ("partition", "start", "end", "limit")}
        key = _key_filter(q, q.get("key"), q.get("key_base64"))
        headers = [(n, v) for n in ("header", "header_base64") for v in q.getall(n, [])]
        if len(headers) > 1:
            raise ApiError(400, "give at most one header filter (header or header_base64)")
        header = None
        if headers:
            param, text = headers[0]
            name, sep, value = text.partition(":")
            if not sep or not name:
                raise ApiError(400, f"{param} must be NAME:VALUE, got {text!r}")
            header = (name, _b64(value, param) if param == "header_base64" else value)
        topic = request.match_info["topic"]
        try:
            records = c.records(topic, ints["partition"], start=ints["start"], end=ints["end"], key=key,
                                header=header, isolation=q.get("isolation", "read_uncommitted"), limit=ints["limit"])
        except KafkaError as exc:
            where = f"topic {topic!r}" + ("" if ints["partition"] is None else f" partition {ints['partition']}")
            raise _kafka_error(exc, where) from None
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return web.json_response({"records": [record_json(r) for r in records]})

    # ------------------------------------------------------------------ faults

    _FAULT_FIELDS = {"action": str, "api": (str, int), "version": int, "broker": int, "topic": str,
                     "partition": int, "client_id": str, "count": int, "probability": (int, float),
                     "error": (str, int), "delay_ms": int, "throttle_ms": int}

    async def list_faults(self, request: web.Request) -> web.Response:
        return web.json_response({"faults": [r.as_dict() for r in self._cluster(request).faults.list()]})

    async def add_fault(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        body = await _json_body(request, set(self._FAULT_FIELDS))
        action = _field(body, "action", str)
        options = {name: _field(body, name, kind, None, nullable=True)
                   for name, kind in self._FAULT_FIELDS.items() if name != "action"}
        options = {k: v for k, v in options.items() if v is not None}
        for name, names, codes in (("api", API_NAMES, API_KEYS), ("error", ERROR_NAMES, ERROR_CODES)):
            value = options.get(name)
            if value is not None and value not in (names if isinstance(value, str) else codes):
                raise ApiError(400, f"unknown {name} {value!r}; one of {', '.join(names)} (or the number)")
        try:
            rule = c.faults.add(action, **options)
        except ValueError as exc:  # unknown action, API or error; out-of-range numbers
            raise ApiError(400, str(exc)) from None
        log.info("cluster %s: fault rule %d added: %s", cluster_name(c), rule.id, _rule_text(rule.as_dict()))
        return web.json_response(rule.as_dict(), status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        removed = len(c.faults.list())
        c.faults.clear()
        log.info("cluster %s: fault rules cleared (%d removed)", cluster_name(c), removed)
        return web.json_response({"removed": removed})

    async def remove_fault(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        rule_id = _int_param(request.match_info["rule_id"], "rule id", minimum=None)
        rule = next((r for r in c.faults.list() if r.id == rule_id), None)
        if rule is None or not c.faults.remove(rule_id):
            raise ApiError(404, f"no fault rule {rule_id} (rules: {[r.id for r in c.faults.list()]})")
        log.info("cluster %s: fault rule %d removed (fired %d times)", cluster_name(c), rule.id, rule.fired)
        return web.json_response(rule.as_dict())

    async def seed_faults(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        body = await _json_body(request, {"seed"})
        seed = _field(body, "seed", int)
        c.faults.reseed(seed)
        log.info("cluster %s: fault RNG seeded with %d", cluster_name(c), seed)
        return web.json_response({"seed": seed})

    # ------------------------------------------------------------------ clock

    async def get_clock(self, request: web.Request) -> web.Response:
        return web.json_response(_clock_json(self._cluster(request)))

    async def advance_clock(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        units = {"ms": 1, "seconds": 1000, "minutes": 60_000, "hours": 3_600_000}
        body = await _json_body(request, set(units))
        amounts = {name: _field(body, name, (int, float), 0, minimum=0, maximum=MAX_ADVANCE_MS / factor)
                   for name, factor in units.items()}
        if not c.clock.virtual:
            raise ApiError(409, f"cluster {cluster_name(c)!r} runs on the wall clock: start it with --clock virtual")
        before = c.clock.now_ms()
        now = c.clock.advance(amounts["ms"], seconds=amounts["seconds"], minutes=amounts["minutes"],
                              hours=amounts["hours"])
        log.info("cluster %s: clock advanced by %d ms to %d", cluster_name(c), now - before, now)
        return web.json_response(_clock_json(c))

    # ------------------------------------------------------------------ waits

    async def wait_records(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        body = await _json_body(request, {"topic", "count", "key", "key_base64", "header", "partition", "isolation",
                                          "timeout"})
        topic = _field(body, "topic", str)
        count = _field(body, "count", int, None, nullable=True, minimum=1)
        key = _key_filter(body, _field(body, "key", str, None, nullable=True), _field(body, "key_base64", str, None))
        header = _header_body(_field(body, "header", dict, None, nullable=True))
        partition = _field(body, "partition", int, None, nullable=True, minimum=0)
        isolation = _field(body, "isolation", str, "read_uncommitted")
        timeout = _timeout(body)
        try:
            records = await c.wait_for_records_async(topic, count, key=key, header=header, partition=partition,
                                                     isolation=isolation, timeout=timeout)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        except WaitTimeout as exc:
            raise ApiError(408, str(exc)) from None
        return web.json_response({"records": [record_json(r) for r in records]})

    async def wait_group(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        body = await _json_body(request, {"group_id", "state", "zero_lag", "timeout"})
        group_id = _field(body, "group_id", str)
        state = _field(body, "state", str, None, nullable=True)
        zero_lag = _field(body, "zero_lag", bool, False)
        timeout = _timeout(body)
        try:
            info = await c.wait_for_group_async(group_id, state=state, zero_lag=zero_lag, timeout=timeout)
        except ValueError as exc:  # unknown state name
            raise ApiError(400, str(exc)) from None
        except WaitTimeout as exc:
            raise ApiError(408, str(exc)) from None
        return web.json_response(_group_json(c, info))

    # ------------------------------------------------------------------ groups

    async def list_groups(self, request: web.Request) -> web.Response:
        return web.json_response({"groups": self._cluster(request).list_groups()})

    async def get_group(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        group_id = request.match_info["group"]
        info = c.describe_group(group_id)
        if info is None:
            raise ApiError(404, f"no group {group_id!r} (groups: {c.list_groups()})")
        return web.json_response(_group_json(c, info))


def _header_body(header: dict[str, Any] | None) -> tuple[str, bytes | str | None] | None:
    """A wait's ``header`` object: ``{"name", "value"}`` (text, or null for a null value) or
    ``{"name", "value_base64"}``."""
    if header is None:
        return None
    unknown = sorted(set(header) - {"name", "value", "value_base64"})
    if unknown:
        raise ApiError(400, f"unknown field(s) {unknown} in header; expected name and value or value_base64")
    name = _field(header, "name", str)
    if ("value" in header) == ("value_base64" in header):
        raise ApiError(400, "header needs one of value (text or null) and value_base64")
    if "value_base64" in header:
        return name, _b64(_field(header, "value_base64", str), "header value_base64")
    return name, _field(header, "value", str, nullable=True)


def _rule_text(rule: dict[str, Any]) -> str:
    shown = {k: v for k, v in rule.items() if k not in ("id", "fired", "api_key", "error_code")
             and v not in (None, 0) and not (k == "probability" and v == 1.0)}
    return " ".join(f"{k}={v}" for k, v in shown.items())
