"""Stopping a broker closes every connection, also one accepted in the very loop turn the broker stops."""

from __future__ import annotations

import asyncio
import socket

from kafkasim.testing import Cluster


def test_broker_stop_closes_a_connection_accepted_as_it_stops() -> None:
    """Regression: asyncio (Python 3.11) builds an accepted connection's transport a loop turn after the
    accept, and once the listener is closed that fails silently, leaving the socket open: its client waited,
    and the socket surfaced in a later test as an unclosed-transport warning. A client that connects and
    closes just before its cluster stops (any short test) did this almost every time."""
    async def main() -> bytes:
        async with Cluster() as c:
            host, port = c.bootstrap_servers.split(":")
            client = socket.create_connection((host, int(port)))  # the kernel completes the handshake
            client.setblocking(False)
            try:
                await asyncio.sleep(0)  # this turn asyncio sees the listener readable and accepts, after us;
                await asyncio.sleep(0)  # the next it would build the transport: the stop begins first
                await c.stop()
                return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(client, 1), 5)
            except ConnectionResetError:
                return b""
            finally:
                client.close()

    assert asyncio.run(main()) == b""  # closed by the broker (a timeout here: the socket was left open)
