"""Control API routes of records and of waits for records and group states."""

from __future__ import annotations

from aiohttp import web

from kafkasim.control.common import (
    ApiError,
    RoutesBase,
    _b64,
    _field,
    _group_json,
    _header_body,
    _int_param,
    _json_body,
    _kafka_error,
    _key_filter,
    _timeout,
    record_json,
)
from kafkasim.errors import KafkaError
from kafkasim.testing.records import WaitTimeout

#: (method, path, handler name) of this family's routes
ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/clusters/{cluster}/topics/{topic}/records", "get_records"),
    ("POST", "/clusters/{cluster}/wait/records", "wait_records"),
    ("POST", "/clusters/{cluster}/wait/group", "wait_group"),
]


class RecordRoutes(RoutesBase):
    # ------------------------------------------------------------------ records

    _RECORDS_PARAMS = frozenset({"partition", "start", "end", "key", "key_base64", "header", "header_base64",
                                 "isolation", "limit", "decode"})

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
        decode = q.get("decode", "false")
        if decode not in ("true", "false"):
            raise ApiError(400, f"decode must be true or false, got {decode!r}")
        topic = request.match_info["topic"]
        try:
            records = c.records(topic, ints["partition"], start=ints["start"], end=ints["end"], key=key,
                                header=header, isolation=q.get("isolation", "read_uncommitted"), limit=ints["limit"],
                                decode=decode == "true")
        except KafkaError as exc:
            where = f"topic {topic!r}" + ("" if ints["partition"] is None else f" partition {ints['partition']}")
            raise _kafka_error(exc, where) from None
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return web.json_response({"records": [record_json(r, decode == "true") for r in records]})

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
