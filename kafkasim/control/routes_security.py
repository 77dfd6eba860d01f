"""Control API routes of security: the listeners, the connections with their principals, the ACLs, the client
quotas and the SASL users (names and mechanisms, never secrets).

The control API is not a Kafka listener: its own token guards it (``--control-token``), never SASL.
"""

from __future__ import annotations

import dataclasses

from aiohttp import web

from kafkasim.control.common import RoutesBase

#: (method, path, handler name) of this family's routes
ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/clusters/{cluster}/listeners", "list_listeners"),
    ("GET", "/clusters/{cluster}/connections", "list_connections"),
    ("GET", "/clusters/{cluster}/acls", "list_acls"),
    ("GET", "/clusters/{cluster}/quotas", "list_quotas"),
    ("GET", "/clusters/{cluster}/users", "list_users"),
]


class SecurityRoutes(RoutesBase):
    async def list_listeners(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        return web.json_response({"listeners": [dataclasses.asdict(x) for x in c.listeners()],
                                  "ssl_ca_file": c.ssl_ca_file})

    async def list_connections(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        return web.json_response({"connections": [dataclasses.asdict(x) for x in c.connections()]})

    async def list_acls(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        return web.json_response({"authorizer": c.config.authorizer,
                                  "acls": [dataclasses.asdict(x) for x in c.acls()]})

    async def list_quotas(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        return web.json_response({"quotas": [{"entity": [{"type": t, "name": n} for t, n in q.entity],
                                              "values": q.values} for q in c.quotas()]})

    async def list_users(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        return web.json_response({"users": [dataclasses.asdict(u) for u in c.users()]})
