"""Control API routes of fault injection rules and the clock."""

from __future__ import annotations

from aiohttp import web

from kafkasim.control.common import (
    API_KEYS,
    API_NAMES,
    ERROR_CODES,
    ERROR_NAMES,
    MAX_ADVANCE_MS,
    ApiError,
    RoutesBase,
    _clock_json,
    _field,
    _int_param,
    _json_body,
    _rule_text,
    cluster_name,
    log,
)

#: (method, path, handler name) of this family's routes
ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/clusters/{cluster}/faults", "list_faults"),
    ("POST", "/clusters/{cluster}/faults", "add_fault"),
    ("DELETE", "/clusters/{cluster}/faults", "clear_faults"),
    ("DELETE", "/clusters/{cluster}/faults/{rule_id:-?[0-9]+}", "remove_fault"),  # not .../faults/seed
    ("POST", "/clusters/{cluster}/faults/seed", "seed_faults"),
    ("GET", "/clusters/{cluster}/clock", "get_clock"),
    ("POST", "/clusters/{cluster}/clock/advance", "advance_clock"),
]


class FaultRoutes(RoutesBase):
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
