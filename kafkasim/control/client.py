"""A small client of the control API on the standard library only (urllib): what the CLI uses, and what a
Python test can use against a ``kafkasim serve`` in another process. It does not import aiohttp.

Every method sends one request and returns the decoded JSON answer; an error answer raises
:class:`ControlError` with the status and the API's message, and a server that cannot be reached raises
:class:`ControlUnreachable` naming the URL.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from kafkasim.control import DEFAULT_URL

#: seconds a request may take beyond the wait it asks for
REQUEST_SLACK_S = 10.0


class ControlError(Exception):
    """The control API answered with an error: ``status`` and ``message`` (its ``error``), ``body`` in full."""

    def __init__(self, status: int, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body or {}


class ControlUnreachable(ControlError):
    """No answer from the control API's URL (connection refused, unknown host, timeout)."""

    def __init__(self, url: str, reason: object) -> None:
        super().__init__(0, f"cannot reach the control API at {url}: {reason}")
        self.url = url


def quote(segment: object) -> str:
    """One path segment, percent-encoded (group ids and client ids may hold anything)."""
    return urllib.parse.quote(str(segment), safe="")


class ControlClient:
    """``ControlClient(url, token)``: requests to the control API at ``url`` (``http://HOST:PORT``)."""

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                query: list[tuple[str, object]] | None = None, timeout: float | None = None) -> Any:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode([(k, v) for k, v in query if v is not None])
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            exc.close()
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = None
            if isinstance(answer, dict) and isinstance(answer.get("error"), str):
                raise ControlError(exc.code, answer["error"], answer) from None
            raise ControlError(exc.code, f"HTTP {exc.code} {exc.reason} from {url}") from None
        except urllib.error.URLError as exc:
            raise ControlUnreachable(self.url, exc.reason) from None
        except (TimeoutError, ConnectionError) as exc:
            raise ControlUnreachable(self.url, exc) from None

    def get(self, path: str, **query: object) -> Any:
        return self.request("GET", path, query=list(query.items()))

    def post(self, path: str, body: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        return self.request("POST", path, body if body is not None else {}, timeout=timeout)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    # ------------------------------------------------------------------ clusters

    def clusters(self) -> list[dict[str, Any]]:
        return self.get("/clusters")["clusters"]

    def cluster_name(self, name: str | None = None) -> str:
        """``name``, or the name of the only cluster; with several and no name, an error listing them."""
        if name is not None:
            return name
        names = [c["name"] for c in self.clusters()]
        if len(names) != 1:
            raise ControlError(400, f"the server runs {len(names)} clusters: choose one with --cluster "
                                    f"({', '.join(names)})")
        return names[0]

    def cluster_path(self, name: str | None = None) -> str:
        return f"/clusters/{quote(self.cluster_name(name))}"

    # ------------------------------------------------------------------ waits

    def wait_records(self, cluster: str | None = None, **body: Any) -> list[dict[str, Any]]:
        timeout = float(body.get("timeout") or 10.0)
        return self.post(self.cluster_path(cluster) + "/wait/records", body,
                         timeout=timeout + REQUEST_SLACK_S)["records"]

    def wait_group(self, cluster: str | None = None, **body: Any) -> dict[str, Any]:
        timeout = float(body.get("timeout") or 10.0)
        return self.post(self.cluster_path(cluster) + "/wait/group", body, timeout=timeout + REQUEST_SLACK_S)
