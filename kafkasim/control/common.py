"""What the control API's route families share: limits, JSON errors (ApiError), reading request fields
and parameters, the JSON shapes of records, brokers, partitions, clocks and groups, and RoutesBase (finding
the cluster and broker a request names)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.protocol.api import ApiKey, api_name
from kafkasim.testing.cluster import BrokerStatus, Cluster, GroupInfo, PartitionStatus
from kafkasim.testing.records import RecordInfo

#: the control API's one logger, for all its route families (configure one name to see its requests and changes)
log = logging.getLogger("kafkasim.control.http")

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


def record_json(r: RecordInfo, decoded: bool = False) -> dict[str, Any]:
    """A record as the API gives it: bytes as UTF-8 text (or null) and always exactly as base64; with
    ``decoded``, the key and value decoded with their registered schema too."""
    extra = {"key_decoded": r.key_decoded, "value_decoded": r.value_decoded} if decoded else {}
    return {**extra,
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


class RoutesBase:
    """The lookups every route family makes; ControlServer holds ``clusters`` (name -> Cluster)."""

    clusters: dict[str, Cluster]

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
