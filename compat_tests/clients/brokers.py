"""Brokers a durability test can kill, stop and start again on the same data directory.

:class:`BrokerProcess` runs ``python -m kafkasim serve`` as a subprocess (the CLI a user runs), so a test
can SIGKILL it mid-stream: no clean shutdown, no final flush, exactly what a crash leaves behind. It
restarts on the same port, so clients that were connected reconnect to the same bootstrap address as they
would to a restarted Kafka broker. :class:`RestartableCluster` is the in-process equivalent
(``kafkasim.Cluster(data_dir=...)`` on a thread), stopped cleanly and started again.

Both are stopped at teardown by the fixture that made them, whatever the test did.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kafkasim import Cluster

READY_PREFIX = "kafkasim ready bootstrap="
START_TIMEOUT_S = 20.0


def free_port() -> int:
    """An ephemeral 127.0.0.1 port that was free a moment ago (another process may take it meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BrokerStartError(Exception):
    """The broker process exited before printing its ready line."""

    def __init__(self, message: str, port_in_use: bool) -> None:
        super().__init__(message)
        self.port_in_use = port_in_use


class BrokerProcess:
    """``python -m kafkasim serve --data-dir DIR`` on 127.0.0.1, started, killed and restarted by a test.

    Its stderr (the broker's log) goes to ``log_path`` across restarts; :meth:`log_tail` helps explain a
    failure. ``data_dir`` None serves from memory; ``args`` go to ``serve`` (``--control-port 0`` makes
    :attr:`control_url` the URL of its control API, ``--schema-registry-port 0`` :attr:`schema_registry_url`
    that of its schema registry, from the ready line).
    """

    def __init__(self, data_dir: Path | None, log_path: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.args = args
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.control_url: str | None = None
        self.schema_registry_url: str | None = None

    @property
    def bootstrap_servers(self) -> str:
        assert self.port is not None, "the broker was never started"
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> str:
        """Start on a fresh free port the first time, on the same port afterwards; return the bootstrap.

        Binding a port that was just free can still fail: another process (even a client whose ephemeral
        source port happens to be it) may hold it for a moment. The first start then picks another port; a
        restart must keep its port, so it tries again until the deadline.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            port = self.port if self.port is not None else free_port()
            try:
                self._start_once(port, deadline)
            except BrokerStartError as exc:
                if not exc.port_in_use or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)  # backoff between attempts, not synchronisation
                continue
            self.port = port
            self.starts += 1
            return self.bootstrap_servers

    def _start_once(self, port: int, deadline: float) -> None:
        assert self.proc is None or self.proc.poll() is not None, "the broker is already running"
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            data_dir = [] if self.data_dir is None else ["--data-dir", str(self.data_dir)]
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kafkasim", "serve", "--host", "127.0.0.1", "--port", str(port), *data_dir,
                 *self.args],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, bufsize=0,
            )
        line = self._read_ready_line(deadline)
        if line is None:
            self.proc.wait(5)
            self.proc.stdout.close()  # type: ignore[union-attr]
            text = self.log_path.read_bytes()[log_start:].decode(errors="replace")
            raise BrokerStartError(f"broker exited ({self.proc.returncode}) before it was ready:\n{text}",
                                   port_in_use="cannot listen" in text)
        assert line.startswith(READY_PREFIX), line
        fields = dict(part.split("=", 1) for part in line.split()[2:])  # bootstrap=..., control=...
        assert fields["bootstrap"].split(",")[0] == f"127.0.0.1:{port}", line
        self.control_url = fields.get("control")
        self.schema_registry_url = fields.get("schema_registry")

    def _read_ready_line(self, deadline: float) -> str | None:
        """The first stdout line, or None when the process exits first; TimeoutError at the deadline."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.kill()
                    raise TimeoutError(f"broker not ready in time; log:\n{self.log_tail()}")
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    return None
                buf += chunk
        return buf.split(b"\n", 1)[0].decode()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the broker gets no chance to flush, close files or write its clean-shutdown marker."""
        self._end(signal.SIGKILL)

    def terminate(self) -> int:
        """SIGTERM: a clean stop; returns the exit status."""
        return self._end(signal.SIGTERM)

    def _end(self, sig: int) -> int:
        proc = self.proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
        return code

    def close(self) -> None:
        """Teardown: make sure no broker process outlives the test."""
        if self.running:
            self.kill()
        elif self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def log_tail(self, chars: int = 4000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-chars:].decode(errors="replace")


class RestartableCluster:
    """An in-process kafkasim (``Cluster(**config)`` on a thread) that can be stopped and started again.

    With ``data_dir`` in the config a restart recovers from the directory; without one (the memory
    store) a restart starts empty. Each start listens on a new ephemeral port.
    """

    def __init__(self, **config: Any) -> None:
        config.setdefault("port", 0)
        self.config = config
        self._runner: Any = None
        self.cluster: Cluster | None = None

    @property
    def bootstrap_servers(self) -> str:
        assert self.cluster is not None, "not running"
        return self.cluster.bootstrap_servers

    def start(self) -> Cluster:
        assert self._runner is None, "already running"
        runner = Cluster(**self.config).run_in_thread()
        self.cluster = runner.start()
        self._runner = runner
        return self.cluster

    def stop(self) -> None:
        """A clean stop (the store is flushed and closed)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            runner.stop()
            self.cluster = None

    def restart(self) -> Cluster:
        self.stop()
        return self.start()
