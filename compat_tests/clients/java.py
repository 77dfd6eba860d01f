"""Drive the Apache Kafka Java clients from Python: one long-lived JVM serving JSON-line commands.

The JVM runs ``dev.kafkasim.compat.Driver`` (compat_tests/clients/java/, a Maven module with exact pins:
kafka-clients and kafka-streams of the reference broker's version), built by ``scripts/install_test_deps``
into ``target/kafkasim-java-driver.jar`` and ``target/lib``. :class:`JavaDriver` starts it once per test
session (the ``java_driver`` fixture in compat_tests/conftest.py), sends ``{"id", "op", ...}`` lines and
reads one reply line per command with a deadline; a command that does not answer in time kills the JVM
(the next test starts another) and fails the test with the driver's stderr. :class:`JavaClients` is what a
test uses: the driver bound to one broker, every client it makes closed at the test's teardown.

Ops and their fields are the ``switch`` in Driver.java; data is encoded as there (a str is UTF-8 text,
``{"base64": ...}`` raw bytes, None null). Kafka errors come back as ``{"type", "code", "class",
"message", "chain"}`` (``type`` is Kafka's error name, from the first ApiException in the cause chain).
"""

from __future__ import annotations

import base64
import json
import os
import selectors
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

JAVA_DIR = Path(__file__).resolve().parent / "java"
JAR = JAVA_DIR / "target" / "kafkasim-java-driver.jar"
LIB = JAVA_DIR / "target" / "lib"
START_TIMEOUT_S = 30.0
# Small heap, serial GC, C1 only: the driver starts in a fraction of a second and competes little for 2 cores.
JVM_OPTS = ["-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-Dorg.slf4j.simpleLogger.logFile=System.err"]


def unavailable_reason() -> str | None:
    """Why the Java clients cannot run here, or None when they can."""
    if shutil.which("java") is None:
        return "java is not on PATH (needed for the Java clients); install Java 17+, then run scripts/install_test_deps"
    if not JAR.is_file() or not LIB.is_dir():
        return f"the Java driver is not built ({JAR}); run scripts/install_test_deps (needs mvn and Maven Central once)"
    return None


class JavaDriverError(AssertionError):
    """The driver JVM died or did not answer in time."""


class JavaDriver:
    """One driver JVM; its stderr (the clients' warnings) goes to ``log_path``.

    The line protocol is not Java's own: the Go driver (compat_tests/clients/golang.py) reuses this class,
    changing only :attr:`label` and :meth:`command`.
    """

    label = "the Java driver"

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self._next_id = 1
        self.started_in_s: float | None = None
        self.kafka_clients: str | None = None
        self.ready: dict[str, Any] = {}

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> JavaDriver:
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, bufsize=0)
        ready = self._read_line(time.monotonic() + START_TIMEOUT_S)
        if not ready.get("ready"):
            raise JavaDriverError(f"{self.label} did not say it was ready: {ready}")
        self.ready = ready
        self.kafka_clients = ready.get("kafka_clients")
        self.started_in_s = round(time.monotonic() - t0, 2)
        return self

    def command(self) -> list[str]:
        """The driver's command line."""
        return [shutil.which("java") or "java", *JVM_OPTS, "-cp", f"{JAR}{os.pathsep}{LIB}/*",
                "dev.kafkasim.compat.Driver"]

    def call(self, op: str, timeout_s: float = 30.0, **fields: Any) -> dict[str, Any]:
        """Send one command; return the reply (``{"id", "result"}`` or ``{"id", "error"}``).

        The driver gets ``timeout_ms`` (what its clients may wait) a few seconds inside ``timeout_s``.
        """
        if not self.alive:
            raise JavaDriverError(f"{self.label} is not running; stderr:\n{self.log_tail()}")
        assert self.proc is not None and self.proc.stdin is not None
        cid = self._next_id
        self._next_id += 1
        fields.setdefault("timeout_ms", int(max(1.0, timeout_s - 5.0) * 1000))
        self.proc.stdin.write((json.dumps({"id": cid, "op": op, **fields}) + "\n").encode())
        self.proc.stdin.flush()
        reply = self._read_line(time.monotonic() + timeout_s, op)
        if reply.get("id") != cid:
            raise JavaDriverError(f"reply to {op} (id {cid}) came with id {reply.get('id')}: {reply}")
        return reply

    def _read_line(self, deadline: float, op: str = "start") -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.kill()
                    raise JavaDriverError(f"{self.label} did not answer {op} in time; stderr:\n{self.log_tail()}")
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.kill()
                    raise JavaDriverError(f"{self.label} exited during {op}; stderr:\n{self.log_tail()}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        result: dict[str, Any] = json.loads(line)
        return result

    def stop(self) -> None:
        """Ask the driver to close its clients and exit; kill it if it does not within 15 s."""
        if self.alive:
            try:
                self.call("exit", timeout_s=15.0)
            except (JavaDriverError, OSError):
                pass
        self.kill()

    def kill(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_bytes()[-chars:].decode(errors="replace")
        except OSError:
            return ""


class JavaSession:
    """The session's driver, started on first use and again after a test killed it."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.driver: JavaDriver | None = None
        self.starts = 0

    def get(self) -> JavaDriver:
        reason = unavailable_reason()
        if reason is not None:
            pytest.skip(reason)
        if self.driver is None or not self.driver.alive:
            self.starts += 1
            self.driver = JavaDriver(self.log_dir / f"java-driver-{self.starts}.log").start()
        return self.driver

    def stop(self) -> None:
        if self.driver is not None:
            self.driver.stop()


class JavaClients:
    """The Java clients of one test against one broker; :meth:`close` (teardown) closes all of them."""

    def __init__(self, driver: JavaDriver, bootstrap: str) -> None:
        self.driver = driver
        self.bootstrap = bootstrap

    def run(self, op: str, timeout_s: float = 30.0, **fields: Any) -> dict[str, Any]:
        return self.driver.call(op, timeout_s=timeout_s, **fields)

    def ok(self, op: str, timeout_s: float = 30.0, **fields: Any) -> dict[str, Any]:
        """Run an op that must succeed; its result."""
        reply = self.run(op, timeout_s, **fields)
        if "error" in reply:
            raise AssertionError(f"java {op} failed: {reply['error']}")
        result: dict[str, Any] = reply["result"]
        return result

    def error(self, op: str, timeout_s: float = 30.0, **fields: Any) -> dict[str, Any]:
        """Run an op that must fail; the error."""
        reply = self.run(op, timeout_s, **fields)
        if "error" not in reply:
            raise AssertionError(f"java {op} succeeded but an error was expected: {reply['result']}")
        error: dict[str, Any] = reply["error"]
        return error

    def _make(self, kind: str, config: dict[str, Any]) -> str:
        full = {"bootstrap.servers": self.bootstrap, **{k: _config_value(v) for k, v in config.items()}}
        handle: str = self.ok(kind, config=full)["handle"]
        return handle

    def producer(self, **config: Any) -> str:
        """A KafkaProducer<byte[], byte[]>; config keys are Kafka's names with '.' written '_' or as given."""
        return self._make("producer", _dotted(config))

    def consumer(self, **config: Any) -> str:
        return self._make("consumer", _dotted(config))

    def admin(self, **config: Any) -> str:
        return self._make("admin", _dotted(config))

    def close(self) -> None:
        if self.driver.alive:
            self.driver.call("close_all", timeout_s=30.0)


def _dotted(config: dict[str, Any]) -> dict[str, Any]:
    """Python keyword names to Kafka's: ``enable_idempotence`` -> ``enable.idempotence``."""
    return {k.replace("_", "."): v for k, v in config.items()}


def _config_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def data(b: bytes | str | None) -> Any:
    """A key, value or header value as the driver takes it."""
    if b is None or isinstance(b, str):
        return b
    try:
        text = b.decode()
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(b).decode()}
    return text if text.encode() == b else {"base64": base64.b64encode(b).decode()}


def as_bytes(v: Any) -> bytes | None:
    """A key, value or header value as the driver gives it, as bytes."""
    if v is None:
        return None
    if isinstance(v, dict):
        return base64.b64decode(v["base64"])
    return str(v).encode()
