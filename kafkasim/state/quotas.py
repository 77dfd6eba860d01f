"""Client quotas as Kafka keeps and enforces them: entities, DescribeClientQuotas, AlterClientQuotas, throttling.

Entities are maps of entity type (``user``, ``client-id``, ``ip``) to a name; a name of None is that type's
default (``<default>``). An entity is stored in canonical form: a tuple of (type, name) pairs sorted by type.
Keys per entity kind, as Kafka's QuotaConfig declares them: user and client-id entities take
``producer_byte_rate`` and ``consumer_byte_rate`` (longs), ``request_percentage`` and
``controller_mutation_rate`` (doubles); ip entities take ``connection_creation_rate`` (an int).

Altering validates as Kafka's ClientQuotaControlManager (one result per distinct entity; an entity whose ops
fail validation changes nothing; the others are applied), describing filters as Kafka's ClientQuotasImage
(match types EXACT 0, DEFAULT 1, SPECIFIED 2, ``strict``).

Enforcement follows Kafka's ClientQuotaManager with its DefaultQuotaCallback: the quota of a (user, client-id)
pair is the most specific configured one, in this order::

    /users/<user>/clients/<client-id>  > /users/<user>/clients/<default>  > /users/<user>
    > /users/<default>/clients/<client-id> > /users/<default>/clients/<default> > /users/<default>
    > /clients/<client-id> > /clients/<default>

and the rate it is measured against is shared as Kafka shares its sensors (a user quota counts every client
id of that user together, a client-id quota every user of that client id). A rate is a sum over sampled
windows (``quota.window.num`` 11 windows of ``quota.window.size.seconds`` 1 s, Kafka's Rate over a
SampledStat: an elapsed time of at least 10 full windows is assumed); when it exceeds the quota the throttle
time is ``(rate - quota) / quota * window`` ms, rounded (request_percentage's is capped at one window, as
Kafka's ClientRequestQuotaManager caps it). Time is the cluster clock's ``now_ms`` passed in by the caller,
so a virtual clock drives it. Without any quota of a kind, ``producing``/``fetching``/``requesting`` are
False (``active``: any of them) and the handlers record nothing.

Not enforced (stored and described only): ``connection_creation_rate`` and ``controller_mutation_rate``.
Deviation: an ip entity's name must be an IP literal (Kafka also accepts a host name it can resolve).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable
from typing import NamedTuple

from kafkasim.errors import ErrorCode, KafkaError

USER = "user"
CLIENT_ID = "client-id"
IP = "ip"

PRODUCER_BYTE_RATE = "producer_byte_rate"
CONSUMER_BYTE_RATE = "consumer_byte_rate"
REQUEST_PERCENTAGE = "request_percentage"
CONTROLLER_MUTATION_RATE = "controller_mutation_rate"
CONNECTION_CREATION_RATE = "connection_creation_rate"

MATCH_EXACT = 0
MATCH_DEFAULT = 1
MATCH_SPECIFIED = 2

#: Kafka's quota.window.num and quota.window.size.seconds (defaults)
QUOTA_WINDOW_NUM = 11
QUOTA_WINDOW_SIZE_MS = 1000

_LONG, _INT, _DOUBLE = "LONG", "INT", "DOUBLE"
USER_CLIENT_KEYS = {PRODUCER_BYTE_RATE: _LONG, CONSUMER_BYTE_RATE: _LONG, REQUEST_PERCENTAGE: _DOUBLE,
                    CONTROLLER_MUTATION_RATE: _DOUBLE}
IP_KEYS = {CONNECTION_CREATION_RATE: _INT}
_INT_MAX = 2**31 - 1
_LONG_MAX = 2**63 - 1
_NANOS_TO_PERCENTAGE = 100.0 / 1_000_000_000

Entity = tuple[tuple[str, str | None], ...]


def canonical(entity: Iterable[tuple[str, str | None]]) -> Entity:
    """The stored form of an entity: (type, name) pairs sorted by type."""
    return tuple(sorted(dict(entity).items()))


def quota_user(principal: str) -> str:
    """The quota user of a principal: its name ("User:alice" -> "alice", "User:ANONYMOUS" -> "ANONYMOUS")."""
    _, sep, name = principal.partition(":")
    return name if sep else principal


class AlterOp(NamedTuple):
    key: str
    value: float
    remove: bool


class AlterResult(NamedTuple):
    #: the entity as Kafka answers it: the request's pairs, one per type (a later duplicate type wins)
    entity: list[tuple[str, str | None]]
    error_code: int
    error_message: str | None


def _java_hash(s: str) -> int:
    """Java's String.hashCode (over UTF-16 code units), spread as HashMap spreads it."""
    units = s.encode("utf-16-be")
    v = 0
    for i in range(0, len(units), 2):
        v = (31 * v + (units[i] << 8 | units[i + 1])) & 0xFFFFFFFF
    return v ^ (v >> 16)


def _java_map(pairs: list[tuple[str, str | None]], given: int) -> str:
    """An entity as Kafka prints it (``ClientQuotaEntity(entries={user=alice, client-id=app})``), in the order of
    the Java HashMap Kafka builds from the request's ``given`` entity pairs."""
    cap = 1
    while cap < given:
        cap *= 2
    for size in range(1, len(pairs) + 1):
        if size > int(cap * 0.75):
            cap *= 2
    ordered = sorted(enumerate(pairs), key=lambda ip: (_java_hash(ip[1][0]) & (cap - 1), ip[0]))
    inner = ", ".join(f"{t}={'null' if n is None else n}" for _, (t, n) in ordered)
    return f"ClientQuotaEntity(entries={{{inner}}})"


def _validate_entity(entity: dict[str, str | None]) -> str | None:
    """Why Kafka refuses an entity (its message), or None."""
    if not entity:
        return "Invalid empty client quota entity"
    for etype, name in entity.items():
        if etype not in (USER, CLIENT_ID, IP):
            return f"Unhandled client quota entity type: {etype}"
        if name is not None and name == "":
            return f"Empty {etype} not supported"
    if IP in entity:
        if USER in entity or CLIENT_ID in entity:
            return "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"
        ip = entity[IP]
        if ip is not None:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                return f"{ip} is not a valid IP or resolvable host."
    return None


def _validate_value(keys: dict[str, str], key: str, value: float) -> str | None:
    ktype = keys.get(key)
    if ktype is None:
        return f"Invalid configuration key {key}"
    if value <= 0.0:
        return f"Quota {key} must be greater than 0"
    if ktype == _DOUBLE:
        return None
    if ktype == _INT and value > _INT_MAX:
        return f"Proposed value for {key} is too large for an INT."
    if ktype == _LONG and value > _LONG_MAX:
        return f"Proposed value for {key} is too large for a LONG."
    if not math.isnan(value) and abs(math.fmod(value, 1.0)) > 1e-6:
        return f"{key} cannot be a fractional value."
    return None


def _java_int_round(x: float) -> int:
    """Java's ``(int) Math.round(x)``: NaN is 0, a long saturates, then wraps to 32 bits."""
    if math.isnan(x):
        return 0
    r = _LONG_MAX if x >= 2.0**63 else -(2**63) if x <= -(2.0**63) else math.floor(x + 0.5)
    r &= 0xFFFFFFFF
    return r - 2**32 if r >= 2**31 else r


class RateSensor:
    """Kafka's Rate over a WindowedSum: samples of one window each, at most ``num + 1`` kept."""

    __slots__ = ("samples", "current")

    def __init__(self) -> None:
        self.samples: list[list[float]] = []  # [start_ms, last_event_ms, value]
        self.current = 0

    def record(self, value: float, now: int) -> None:
        samples = self.samples
        if not samples:
            samples.append([now, now, 0.0])
        s = samples[self.current]
        if now - s[0] >= QUOTA_WINDOW_SIZE_MS:
            self.current = (self.current + 1) % (QUOTA_WINDOW_NUM + 1)
            if self.current >= len(samples):
                s = [now, now, 0.0]
                samples.append(s)
            else:
                s = samples[self.current]
                s[0] = s[1] = now
                s[2] = 0.0
        s[2] += value
        s[1] = now

    def _purge(self, now: int) -> None:
        expire = QUOTA_WINDOW_NUM * QUOTA_WINDOW_SIZE_MS
        for s in self.samples:
            if now - s[1] >= expire:
                s[0] = s[1] = now
                s[2] = 0.0

    def window_ms(self, now: int) -> int:
        self._purge(now)
        if not self.samples:
            self.samples.append([now, now, 0.0])
        elapsed = now - min(s[0] for s in self.samples)
        full = elapsed // QUOTA_WINDOW_SIZE_MS
        if full < QUOTA_WINDOW_NUM - 1:
            elapsed += (QUOTA_WINDOW_NUM - 1 - full) * QUOTA_WINDOW_SIZE_MS
        return max(int(elapsed), 1)

    def rate(self, now: int) -> float:
        """Per second, over the retained windows."""
        self._purge(now)
        total = sum(s[2] for s in self.samples)
        return total / (self.window_ms(now) / 1000.0)


class _QuotaKind:
    """One quota key's enforcement (Kafka's ClientQuotaManager for one quota type)."""

    __slots__ = ("key", "cap_ms", "sensors", "_tags")

    def __init__(self, key: str, cap_ms: int | None) -> None:
        self.key = key
        self.cap_ms = cap_ms
        self.sensors: dict[tuple[str, str], RateSensor] = {}
        self._tags: dict[tuple[str, str], tuple[tuple[str, str], float | None]] = {}

    def reset_lookups(self) -> None:
        self._tags.clear()

    def lookup(self, quotas: dict[Entity, dict[str, float]], user: str, client_id: str
               ) -> tuple[tuple[str, str], float | None]:
        """(sensor tags, quota) of a user and client id: Kafka's quotaMetricTags and quotaLimit."""
        hit = self._tags.get((user, client_id))
        if hit is None:
            hit = self._tags[(user, client_id)] = _tags_and_limit(quotas, self.key, user, client_id)
        return hit


def _tags_and_limit(quotas: dict[Entity, dict[str, float]], key: str, user: str, client_id: str
                    ) -> tuple[tuple[str, str], float | None]:
    def q(u: str | None | bool, c: str | None | bool) -> float | None:
        # False: the type is absent from the entity; None: its default
        pairs = []
        if c is not False:
            pairs.append((CLIENT_ID, c))
        if u is not False:
            pairs.append((USER, u))
        values = quotas.get(tuple(pairs))  # type: ignore[arg-type]
        return None if values is None else values.get(key)

    levels = (
        ((user, client_id), q(user, client_id)),
        ((user, client_id), q(user, None)),
        ((user, ""), q(user, False)),
        ((user, client_id), q(None, client_id)),
        ((user, client_id), q(None, None)),
        ((user, ""), q(None, False)),
    )
    # the sensor tags: the level of the most specific quota (DefaultQuotaCallback.quotaMetricTags)
    tags = ("", client_id)
    for level_tags, limit in levels:
        if limit is not None:
            tags = level_tags
            break
    u, c = tags
    if u and c:
        for _, limit in (levels[0], levels[1], levels[3], levels[4]):
            if limit is not None:
                return tags, limit
        return tags, None
    if u:
        for limit in (levels[2][1], levels[5][1]):
            if limit is not None:
                return tags, limit
        return tags, None
    if c:
        for limit in (q(False, client_id), q(False, None)):
            if limit is not None:
                return tags, limit
    return tags, None


class ClientQuotas:
    """The configured client quotas of a cluster and the rates they are enforced against."""

    __slots__ = ("quotas", "active", "producing", "fetching", "requesting", "on_change", "_produce", "_fetch",
                 "_request")

    def __init__(self) -> None:
        self.quotas: dict[Entity, dict[str, float]] = {}
        #: fast-path flags: a quota of this kind is configured somewhere (active: of any enforced kind)
        self.active = False
        self.producing = False
        self.fetching = False
        self.requesting = False
        #: persistence: ``on_change(entity, values or None)`` after each change
        self.on_change: Callable[[Entity, dict[str, float] | None], None] | None = None
        self._produce = _QuotaKind(PRODUCER_BYTE_RATE, None)
        self._fetch = _QuotaKind(CONSUMER_BYTE_RATE, None)
        self._request = _QuotaKind(REQUEST_PERCENTAGE, QUOTA_WINDOW_SIZE_MS)

    # ------------------------------------------------------------------ admin

    def describe(self, components: list[tuple[str, int, str | None]], strict: bool
                 ) -> list[tuple[Entity, dict[str, float]]]:
        """DescribeClientQuotas: (entity type, match type, match) filters. Raises KafkaError INVALID_REQUEST
        or UNSUPPORTED_VERSION with Kafka's message."""
        exact: dict[str, str | None] = {}
        typed: set[str] = set()
        for etype, match_type, match in components:
            if etype == "":
                raise KafkaError(ErrorCode.INVALID_REQUEST, "Invalid empty entity type.")
            if etype in exact or etype in typed:
                raise KafkaError(ErrorCode.INVALID_REQUEST,
                                 f"Entity type {etype} cannot appear more than once in the filter.")
            if etype not in (IP, USER, CLIENT_ID):
                raise KafkaError(ErrorCode.UNSUPPORTED_VERSION, f"Unsupported entity type {etype}")
            if match_type == MATCH_EXACT:
                if match is None:
                    raise KafkaError(ErrorCode.INVALID_REQUEST,
                                     "Request specified MATCH_TYPE_EXACT, but set match string to null.")
                exact[etype] = match
            elif match_type == MATCH_DEFAULT:
                if match is not None:
                    raise KafkaError(ErrorCode.INVALID_REQUEST,
                                     "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.")
                exact[etype] = None
            elif match_type == MATCH_SPECIFIED:
                if match is not None:
                    raise KafkaError(ErrorCode.INVALID_REQUEST,
                                     "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.")
                typed.add(etype)
            else:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown match type {match_type}")
        if (IP in exact or IP in typed) and ({USER, CLIENT_ID} & (set(exact) | typed)):
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Invalid entity filter component combination. IP filter "
                                                        "component should not be used with user or clientId filter "
                                                        "component.")
        if not exact and not typed:
            return [] if strict else [(e, dict(v)) for e, v in self.quotas.items()]
        out = []
        for entity, values in self.quotas.items():
            names = dict(entity)
            if any(t not in names or names[t] != n for t, n in exact.items()):
                continue
            if any(t not in names for t in typed):
                continue
            if strict and len(names) != len(exact) + len(typed):
                continue
            out.append((entity, dict(values)))
        return out

    def alter(self, entries: list[tuple[list[tuple[str, str | None]], list[AlterOp]]], validate_only: bool
              ) -> list[AlterResult]:
        """AlterClientQuotas: one result per distinct entity, in order of first appearance."""
        results: dict[Entity, AlterResult] = {}
        changes: list[tuple[Entity, dict[str, float | None]]] = []
        for raw_entity, ops in entries:
            emap: dict[str, str | None] = {}
            for t, n in raw_entity:
                emap[t] = n
            pairs = list(emap.items())
            entity = canonical(pairs)
            alterations: dict[str, float | None] = {}
            failed = entity in results
            for op in ops:
                if op.key in alterations:
                    failed = True
                else:
                    alterations[op.key] = None if op.remove else float(op.value)
            if failed:
                results[entity] = AlterResult(pairs, ErrorCode.INVALID_REQUEST,
                                              f"Ignoring duplicate entity {_java_map(pairs, len(raw_entity))}")
                continue
            err = _validate_entity(emap)
            if err is not None:
                results[entity] = AlterResult(pairs, ErrorCode.INVALID_REQUEST, err)
                continue
            keys = IP_KEYS if IP in emap else USER_CLIENT_KEYS
            message = None
            for key, value in alterations.items():
                if value is not None:
                    message = _validate_value(keys, key, value)
                    if message is not None:
                        break
            if message is not None:
                results[entity] = AlterResult(pairs, ErrorCode.INVALID_REQUEST, message)
                continue
            results[entity] = AlterResult(pairs, ErrorCode.NO_ERROR, None)
            changes.append((entity, alterations))
        if not validate_only:
            for entity, alterations in changes:
                self._apply(entity, alterations)
        return list(results.values())

    def _apply(self, entity: Entity, alterations: dict[str, float | None]) -> None:
        current = self.quotas.get(entity, {})
        new = dict(current)
        for key, value in alterations.items():
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        if new == current:
            return
        if new:
            self.quotas[entity] = new
        else:
            self.quotas.pop(entity, None)
        self._changed()
        if self.on_change is not None:
            self.on_change(entity, new or None)

    def restore(self, entity: Entity, values: dict[str, float]) -> None:
        """A quota entity read back from the metadata log."""
        self.quotas[canonical(entity)] = dict(values)
        self._changed()

    def _changed(self) -> None:
        keys = {k for values in self.quotas.values() for k in values}
        self.producing = PRODUCER_BYTE_RATE in keys
        self.fetching = CONSUMER_BYTE_RATE in keys
        self.requesting = REQUEST_PERCENTAGE in keys
        self.active = self.producing or self.fetching or self.requesting
        for kind in (self._produce, self._fetch, self._request):
            kind.reset_lookups()

    def quota_for(self, key: str, user: str, client_id: str | None) -> float | None:
        """The quota of ``key`` that applies to a user and client id (Kafka's precedence), or None."""
        return _tags_and_limit(self.quotas, key, user, client_id or "")[1]

    # ------------------------------------------------------------------ enforcement

    def _record(self, kind: _QuotaKind, principal: str, client_id: str | None, value: float, now_ms: int,
                check: bool = True) -> int:
        tags, limit = kind.lookup(self.quotas, quota_user(principal), client_id or "")
        if limit is None:
            return 0
        sensor = kind.sensors.get(tags)
        if sensor is None:
            sensor = kind.sensors[tags] = RateSensor()
        sensor.record(value, now_ms)
        if not check:
            return 0
        rate = sensor.rate(now_ms)
        if rate <= limit:  # Quota.acceptable (NaN is never acceptable, and throttles 0)
            return 0
        throttle = _java_int_round((rate - limit) / limit * sensor.window_ms(now_ms))
        if kind.cap_ms is not None:
            throttle = min(throttle, kind.cap_ms)
        return max(throttle, 0)

    def record_produce(self, principal: str, client_id: str | None, nbytes: int, now_ms: int) -> int:
        """Bytes a client produced: the throttle time in ms its producer_byte_rate calls for (0: none)."""
        if not self.producing:
            return 0
        return self._record(self._produce, principal, client_id, nbytes, now_ms)

    def record_fetch(self, principal: str, client_id: str | None, nbytes: int, now_ms: int) -> int:
        """Bytes a fetch would return: the throttle time its consumer_byte_rate calls for. A throttled fetch is
        answered empty, so call :meth:`unrecord_fetch` with the same bytes then (as Kafka does)."""
        if not self.fetching:
            return 0
        return self._record(self._fetch, principal, client_id, nbytes, now_ms)

    def unrecord_fetch(self, principal: str, client_id: str | None, nbytes: int, now_ms: int) -> None:
        if self.fetching:
            self._record(self._fetch, principal, client_id, -nbytes, now_ms, check=False)

    def fetch_max_bytes(self, principal: str, client_id: str | None) -> int | None:
        """The most a fetch may return without being throttled for certain: quota * (windows - 1) * window s
        (Kafka's maxValueInQuotaWindow), or None without a consumer quota."""
        if not self.fetching:
            return None
        limit = self._fetch.lookup(self.quotas, quota_user(principal), client_id or "")[1]
        if limit is None:
            return None
        value = limit * (QUOTA_WINDOW_NUM - 1) * (QUOTA_WINDOW_SIZE_MS / 1000)
        return 0 if math.isnan(value) else int(min(value, _INT_MAX))

    def record_request_time(self, principal: str, client_id: str | None, thread_time_ns: int, now_ms: int) -> int:
        """Time a request kept the broker busy: the throttle its request_percentage calls for (at most one window)."""
        if not self.requesting:
            return 0
        return self._record(self._request, principal, client_id, thread_time_ns * _NANOS_TO_PERCENTAGE, now_ms)
