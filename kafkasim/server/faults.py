"""Fault injection at dispatch: rules that make matching requests fail the way a real cluster can.

A rule matches on the API (key, optionally version), the broker's node id, a topic and partition named in
the request, and the client id; it fires at most ``count`` times (None: always) with ``probability``
drawn from a seeded RNG, so a run is reproducible. Its action is one of:

``error``         answer with Kafka error ``error`` (every partition of the request), without executing it
``delay``         execute, and hold the response ``delay_ms`` (later responses on the connection wait too)
``close_before``  close the connection without executing the request
``close_after``   execute the request, then close the connection instead of answering (a lost ack)
``throttle``      execute, and answer with ``throttle_time_ms`` set
``drop``          execute, and never answer (the client times out)

Rules are added, listed and removed while clients are connected; each counts how often it fired.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from kafkasim.errors import ErrorCode
from kafkasim.protocol.api import ApiKey

ACTIONS = ("error", "delay", "close_before", "close_after", "throttle", "drop")
INT32_MAX = 2**31 - 1


def _api_key(api: int | str) -> int:
    if isinstance(api, str):
        name = api.replace("-", "_").upper()
        try:
            return ApiKey[name]
        except KeyError:
            # CamelCase names as Kafka writes them: "ListOffsets" -> LIST_OFFSETS
            snake = "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(api)).upper()
            try:
                return ApiKey[snake]
            except KeyError:
                raise ValueError(f"unknown API {api!r}") from None
    return ApiKey(api)


def _error_code(error: int | str | None) -> int:
    if error is None:
        raise ValueError("an 'error' rule needs an error code or name")
    if isinstance(error, str):
        try:
            return ErrorCode[error.upper()]
        except KeyError:
            raise ValueError(f"unknown Kafka error {error!r}") from None
    return ErrorCode(error)


@dataclass(slots=True)
class FaultRule:
    id: int
    action: str
    api_key: int | None = None
    api_version: int | None = None
    broker: int | None = None
    topic: str | None = None
    partition: int | None = None
    client_id: str | None = None
    count: int | None = None
    probability: float = 1.0
    error_code: int = 0
    delay_ms: int = 0
    throttle_ms: int = 0
    fired: int = 0

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["api"] = None if self.api_key is None else ApiKey(self.api_key).name
        d["error"] = ErrorCode(self.error_code).name if self.action == "error" else None
        return d


def request_partitions(req, topic_name: Callable[[bytes], str | None] | None = None
                       ) -> list[tuple[str | None, int | None]]:
    """(topic, partition) pairs a request names: topic-level entries give partition None. Requests that
    name topics by id (Fetch v13+) are resolved with ``topic_name``."""
    out: list[tuple[str | None, int | None]] = []
    for attr in ("topic_data", "topics", "v3_and_below_topics"):
        topics = getattr(req, attr, None)
        if not topics:
            continue
        for t in topics:
            name = getattr(t, "name", None) or getattr(t, "topic", None)
            if not name and topic_name is not None and getattr(t, "topic_id", None):
                name = topic_name(bytes(t.topic_id))
            parts = None
            for pattr in ("partition_data", "partitions", "partition_indexes"):
                parts = getattr(t, pattr, None)
                if parts is not None:
                    break
            if not parts:
                out.append((name, None))
                continue
            for p in parts:
                if isinstance(p, int):
                    out.append((name, p))
                else:
                    idx = getattr(p, "index", None)
                    if idx is None:
                        idx = getattr(p, "partition_index", None)
                    if idx is None:
                        idx = getattr(p, "partition", None)
                    out.append((name, idx))
    return out


@dataclass
class Faults:
    """The fault rules of a cluster (shared by its brokers). Thread-safe: tests add rules from their thread."""

    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, action: str, *, api: int | str | None = None, version: int | None = None,
            broker: int | None = None, topic: str | None = None, partition: int | None = None,
            client_id: str | None = None, count: int | None = None, probability: float = 1.0,
            error: int | str | None = None, delay_ms: int = 0, throttle_ms: int = 0) -> FaultRule:
        """Add a rule; see the module docstring for actions. Returns it (its ``id`` removes it)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if count is not None and count < 0:
            raise ValueError("count must not be negative")
        if not (0 <= delay_ms <= INT32_MAX and 0 <= throttle_ms <= INT32_MAX):
            raise ValueError(f"delay_ms and throttle_ms must be within [0, {INT32_MAX}] (throttle_time_ms is an "
                             "INT32 of the response)")
        rule = FaultRule(0, action, None if api is None else _api_key(api), version, broker, topic, partition,
                         client_id, count, probability, _error_code(error) if action == "error" else 0,
                         delay_ms, throttle_ms)
        with self._lock:
            rule.id = next(self._ids)
            self.rules = [*self.rules, rule]  # copy on write: the loop reads without the lock
        return rule

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            kept = [r for r in self.rules if r.id != rule_id]
            found = len(kept) != len(self.rules)
            self.rules = kept
        return found

    def clear(self) -> None:
        with self._lock:
            self.rules = []

    def list(self) -> list[FaultRule]:
        return list(self.rules)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self.seed = seed
            self._rng = random.Random(seed)

    def match(self, key: int, version: int, broker: int, client_id: str | None, req,
              topic_name: Callable[[bytes], str | None] | None = None) -> FaultRule | None:
        """The first rule that fires for this request (counting it), or None. ``topic_name`` resolves topic
        ids for requests that name topics by id."""
        named: list[tuple[str | None, int | None]] | None = None
        for rule in self.rules:
            if rule.api_key is not None and rule.api_key != key:
                continue
            if rule.api_version is not None and rule.api_version != version:
                continue
            if rule.broker is not None and rule.broker != broker:
                continue
            if rule.client_id is not None and rule.client_id != client_id:
                continue
            if rule.count is not None and rule.fired >= rule.count:
                continue
            if rule.topic is not None or rule.partition is not None:
                if named is None:
                    named = request_partitions(req, topic_name)
                if not any((rule.topic is None or t == rule.topic)
                           and (rule.partition is None or p is None or p == rule.partition) for t, p in named):
                    continue
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            rule.fired += 1
            return rule
        return None
