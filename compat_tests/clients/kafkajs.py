"""Drive kafkajs (node) from Python: one JSON command in, one JSON result out.

``run(command)`` starts ``node compat_tests/clients/node/driver.js`` with ``command`` on stdin and returns
its JSON result. The command language (ops, fields, how keys/values/headers are encoded) is documented
at the top of driver.js. Kafka errors come back as ``{"error": {"type": ..., "code": ...}}`` rather than
as exceptions, so tests can assert on them; ``ok`` and ``expect_error`` are the two usual shapes.

kafkajs and the snappy, lz4 and zstd codec packages the driver registers are installed by
``scripts/install_test_deps`` (``npm ci`` in compat_tests/clients/node, redone whenever package-lock.json
changes); without kafkajs (or without node) every caller is skipped with the reason. A codec package that
is missing fails the ops that use that codec (KafkaJSNotImplemented naming the package), not the others.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
DRIVER = NODE_DIR / "driver.js"
DEFAULT_TIMEOUT = 60.0


def unavailable_reason() -> str | None:
    """Why kafkajs tests cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not on PATH (needed for kafkajs); install Node.js, then run scripts/install_test_deps"
    if not (NODE_DIR / "node_modules" / "kafkajs" / "package.json").is_file():
        return "kafkajs is not installed in compat_tests/clients/node; run scripts/install_test_deps"
    return None


def run(command: dict[str, Any], timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Run one driver command; return its JSON result (which may be ``{"error": {...}}``).

    The driver gets a deadline (``timeout_ms``) a little inside ``timeout`` unless the command sets one,
    so it reports DRIVER_TIMEOUT itself; the subprocess is killed at ``timeout`` regardless.
    """
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    command = dict(command)
    command.setdefault("timeout_ms", int(max(1.0, min(20.0, timeout - 5.0)) * 1000))
    try:
        proc = subprocess.run(
            ["node", str(DRIVER)],
            input=json.dumps(command).encode(),
            capture_output=True,
            timeout=timeout,
            cwd=NODE_DIR,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = (exc.stderr or b"").decode(errors="replace")
        raise AssertionError(
            f"kafkajs driver did not finish within {timeout}s for op {command.get('op')!r}\n"
            f"stderr:\n{stderr}"
        ) from None
    stdout = proc.stdout.decode(errors="replace")
    stderr = proc.stderr.decode(errors="replace")
    lines = [line for line in stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise AssertionError(
            f"kafkajs driver failed (exit {proc.returncode}) for op {command.get('op')!r}\n"
            f"stdout:\n{stdout}\nstderr:\n{stderr}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def ok(command: dict[str, Any], timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Run a command that must succeed; fail the test with kafkajs's error otherwise."""
    result = run(command, timeout=timeout)
    if "error" in result:
        raise AssertionError(f"kafkajs {command.get('op')} failed: {result['error']}")
    return result


def expect_error(command: dict[str, Any], timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Run a command that must fail; return the error (``type``, ``code``, ``name``, ``message``...)."""
    result = run(command, timeout=timeout)
    if "error" not in result:
        raise AssertionError(f"kafkajs {command.get('op')} succeeded but an error was expected: {result}")
    error: dict[str, Any] = result["error"]
    return error
