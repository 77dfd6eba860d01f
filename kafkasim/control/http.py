"""HTTP control API (aiohttp, on the clusters' event loop). Placeholder until the API is built."""

from __future__ import annotations

from kafkasim.testing.cluster import Cluster


class ControlServer:
    """Serves the control API of ``clusters`` on host:port (port 0 picks a free one)."""

    def __init__(self, clusters: list[Cluster], host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None) -> None:
        self.clusters = clusters
        self.host = host
        self.port = port
        self.token = token

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        raise NotImplementedError("the control API is not built yet")

    async def stop(self) -> None:
        pass
