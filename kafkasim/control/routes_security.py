"""Control API routes of security: the listeners, and the connections with their principals.

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
]


class SecurityRoutes(RoutesBase):
    async def list_listeners(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        return web.json_response({"listeners": [dataclasses.asdict(x) for x in c.listeners()],
                                  "ssl_ca_file": c.ssl_ca_file})

    async def list_connections(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        return web.json_response({"connections": [dataclasses.asdict(x) for x in c.connections()]})
