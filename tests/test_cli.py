"""The kafkasim command: serve prints one ready line, stops cleanly on SIGTERM; topics commands work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from kafkasim.cli import main


def start_serve(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "kafkasim", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # blocks until the ready line or EOF (process death)
    if not line.startswith("kafkasim ready bootstrap="):
        proc.kill()
        raise AssertionError(f"no ready line: {line!r} {proc.stderr.read()}")
    return proc, line.strip().split("=", 1)[1]


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen, str]]:
    proc, bootstrap = start_serve()
    try:
        yield proc, bootstrap
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_cli_serve_prints_one_ready_line_and_stops_on_sigterm(served) -> None:
    proc, bootstrap = served
    host, port = bootstrap.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert proc.stdout.read() == ""  # exactly one line on stdout


def test_cli_serve_port_in_use_fails_with_message(served) -> None:
    _proc, bootstrap = served
    port = bootstrap.rsplit(":", 1)[1]
    res = subprocess.run([sys.executable, "-m", "kafkasim", "serve", "--port", port], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode != 0
    assert "cannot listen" in res.stderr


def test_cli_topics_create_list_describe_delete(served) -> None:
    _proc, bootstrap = served
    runner = CliRunner()
    env = {"KAFKASIM_BOOTSTRAP": bootstrap}
    r = runner.invoke(main, ["topics", "create", "orders", "-p", "3", "-c", "retention.ms=1000"], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["topics", "create", "orders"], env=env)
    assert r.exit_code == 1 and "TOPIC_ALREADY_EXISTS" in r.output
    r = runner.invoke(main, ["topics", "list"], env=env)
    assert r.output.split() == ["orders"]
    r = runner.invoke(main, ["topics", "describe", "orders"], env=env)
    assert r.exit_code == 0, r.output
    assert "partitions=3" in r.output and "retention.ms=1000  (set)" in r.output
    r = runner.invoke(main, ["topics", "delete", "orders"], env=env)
    assert r.exit_code == 0 and "deleted orders" in r.output
    r = runner.invoke(main, ["topics", "list"], env=env)
    assert r.output.split() == []


def test_cli_topics_unreachable_broker_reports_error() -> None:
    r = CliRunner().invoke(main, ["topics", "list", "-b", "127.0.0.1:1"], env=dict(os.environ))
    assert r.exit_code == 1 and "cannot connect" in r.output
