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

import hmac
import inspect
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from kafkasim.control import routes_clusters, routes_faults, routes_records, routes_security
from kafkasim.control.common import (
    MAX_BODY_BYTES,
    OPENAPI_PATH,
    SHUTDOWN_TIMEOUT_S,
    ApiError,
    MetricsHook,
    _error_response,
    cluster_name,
    log,
)
from kafkasim.control.routes_clusters import ClusterRoutes
from kafkasim.control.routes_faults import FaultRoutes
from kafkasim.control.routes_records import RecordRoutes
from kafkasim.control.routes_security import SecurityRoutes
from kafkasim.server.http import HttpService
from kafkasim.testing.cluster import Cluster, ThreadedCluster

#: (method, path, handler name): every route of the API, by family (a new family: a module with its ROUTES and
#: its mixin, added here and to ControlServer's bases); openapi.json documents exactly these
ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/openapi.json", "openapi"),
    ("GET", "/metrics", "metrics"),
    *routes_clusters.ROUTES,
    *routes_records.ROUTES,
    *routes_faults.ROUTES,
    *routes_security.ROUTES,
]


class ControlServer(HttpService, ClusterRoutes, RecordRoutes, FaultRoutes, SecurityRoutes):
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
        super().__init__(host, port)
        self.clusters = {cluster_name(c): c for c in clusters}
        self.token = token
        self.metrics_hook = metrics
        self._openapi = OPENAPI_PATH.read_bytes()

    ROUTES = ROUTES
    max_body_bytes = MAX_BODY_BYTES
    shutdown_timeout_s = SHUTDOWN_TIMEOUT_S
    service_name = "control API"

    def start_note(self) -> str:
        return " (token required)" if self.token else " (no token)"

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
