"""Starting and stopping an aiohttp application on a socket of its own, on the running loop: the one home of
this for every HTTP listener kafkasim serves (the control API, the schema registry)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import ClassVar

from aiohttp import web

log = logging.getLogger(__name__)


class HttpService:
    """An aiohttp application served on host:port (0 picks a free port) on the running loop. A subclass names
    its ``ROUTES`` ((method, path, handler method name)), defines ``_middleware`` (errors, auth, the request log),
    and sets its body limit and the name its start is logged with."""

    ROUTES: ClassVar[list[tuple[str, str, str]]] = []
    max_body_bytes: ClassVar[int] = 1 << 20
    shutdown_timeout_s: ClassVar[float] = 1.0
    #: how the log names the service when it starts ("control API", "schema registry")
    service_name: ClassVar[str] = "HTTP service"

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def make_app(self) -> web.Application:
        """The aiohttp application: the routes behind the middleware, bodies capped."""
        app = web.Application(client_max_size=self.max_body_bytes, middlewares=[self._middleware])
        for method, path, name in self.ROUTES:
            app.router.add_route(method, path, getattr(self, name), name=name)
        return app

    def start_note(self) -> str:
        """What the start's log line adds after the URL."""
        return ""

    async def start(self) -> None:
        self._runner, self._sock = await start_site(self.make_app(), self.host, self.port, self.shutdown_timeout_s)
        self.port = self._sock.getsockname()[1]
        log.info("%s on %s%s", self.service_name, self.url, self.start_note())

    async def stop(self) -> None:
        """Answers (or, after the shutdown timeout, closes) what is in flight."""
        runner, self._runner = self._runner, None
        if runner is not None and self._sock is not None:
            await stop_site(runner, self._sock)


async def start_site(app: web.Application, host: str, port: int, shutdown_timeout: float
                     ) -> tuple[web.AppRunner, socket.socket]:
    """Listen on host:port (0 picks a free port) and serve ``app``. Raises OSError when the address is in use
    or does not exist; nothing is left open then."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    sock = socket.create_server((host, port), family=family)
    sock.setblocking(False)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
    except BaseException:
        sock.close()
        await runner.cleanup()
        raise
    return runner, sock


async def stop_site(runner: web.AppRunner, sock: socket.socket) -> None:
    """Stop accepting first, and let the connections accepted just now become transports before the listener
    closes: Python 3.11's asyncio builds an accepted connection's transport a loop turn later, and after the
    server is closed that fails (silently), leaving its socket open and its client waiting. Then answer (or,
    after the shutdown timeout, close) what is in flight."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, ValueError, OSError):  # a loop without readers (uvloop)
        loop.remove_reader(sock.fileno())
    for _ in range(2):
        await asyncio.sleep(0)
    await runner.cleanup()
