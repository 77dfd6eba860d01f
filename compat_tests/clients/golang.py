"""Drive the Go Kafka clients from Python: one long-lived Go process serving JSON-line commands.

The process is compat_tests/clients/go/ (a Go module with exact pins in go.mod and go.sum: franz-go's kgo and
kadm, IBM sarama), built by ``scripts/install_test_deps`` into ``bin/kafkasim-go-driver``. It speaks the Java
driver's line protocol (``{"id", "op", ...}`` in, ``{"id", "result"}`` or ``{"id", "error": {"message"}}``
out), so :class:`GoDriver` is :class:`~compat_tests.clients.java.JavaDriver` with another command line. Unlike
the Java driver it keeps no handles: each op (the ``switch`` in main.go) makes its clients, runs a whole
scenario (produce, consume a count, a transactional pipeline, an admin call) and closes them before answering.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from compat_tests.clients.java import JavaDriver

GO_DIR = Path(__file__).resolve().parent / "go"
BINARY = GO_DIR / "bin" / "kafkasim-go-driver"


def unavailable_reason() -> str | None:
    """Why the Go clients cannot run here, or None when they can."""
    if BINARY.is_file():
        return None
    if shutil.which("go") is None:
        return "go is not on PATH (needed to build the Go client driver); install Go, then run scripts/install_test_deps"
    return f"the Go driver is not built ({BINARY}); run scripts/install_test_deps (needs the Go module proxy once)"


class GoDriver(JavaDriver):
    label = "the Go driver"

    def command(self) -> list[str]:
        return [str(BINARY)]


class GoSession:
    """The session's driver, started on first use and again after a test killed it."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.driver: GoDriver | None = None
        self.starts = 0

    def get(self) -> GoDriver:
        reason = unavailable_reason()
        if reason is not None:
            pytest.skip(reason)
        if self.driver is None or not self.driver.alive:
            self.starts += 1
            driver = GoDriver(self.log_dir / f"go-driver-{self.starts}.log")
            driver.start()
            self.driver = driver
        return self.driver

    def stop(self) -> None:
        if self.driver is not None:
            self.driver.stop()


class GoClients:
    """The Go driver bound to the broker under test."""

    def __init__(self, driver: GoDriver, bootstrap: str) -> None:
        self.driver = driver
        self.bootstrap = bootstrap

    def run(self, op: str, timeout_s: float = 30.0, **fields: Any) -> dict[str, Any]:
        return self.driver.call(op, timeout_s=timeout_s, bootstrap=self.bootstrap, **fields)

    def ok(self, op: str, timeout_s: float = 30.0, **fields: Any) -> dict[str, Any]:
        """Run an op that must succeed; its result."""
        reply = self.run(op, timeout_s, **fields)
        if "error" in reply:
            raise AssertionError(f"go {op} failed: {reply['error']['message']}")
        result: dict[str, Any] = reply["result"]
        return result

    def error(self, op: str, timeout_s: float = 30.0, **fields: Any) -> str:
        """Run an op that must fail; the error's message."""
        reply = self.run(op, timeout_s, **fields)
        if "error" not in reply:
            raise AssertionError(f"go {op} succeeded but an error was expected: {reply['result']}")
        message: str = reply["error"]["message"]
        return message
