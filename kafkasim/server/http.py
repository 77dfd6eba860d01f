"""Starting and stopping an aiohttp application on a socket of its own, on the running loop: the one home of
this for every HTTP listener kafkasim serves (the control API, the schema registry)."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from aiohttp import web


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
