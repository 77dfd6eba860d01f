"""Run Apache Kafka's own command-line tools (the reference's jars, compat_tests/reference) against a broker.

``run("kafka-topics", "--bootstrap-server", bootstrap, "--list")`` runs what ``bin/kafka-topics.sh`` runs, as
``java -cp <the reference's classpath> <main class> args...`` (no shell scripts), with a quiet log4j2 config
(warnings and errors only, on stderr) and the bin scripts' small-heap options. Every run has a timeout; a
non-zero exit fails the test with the tool's output unless the caller asked for the completed process
(``check=False``). Without Java 17 or the jars every caller is skipped with
:func:`unavailable_reason` (compat_tests.reference.kafka.unavailable_reason, asked once).
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import pytest

from compat_tests.reference import kafka as reference

DEFAULT_TIMEOUT = 60.0

#: bin/<name>.sh -> the main class it runs (Kafka 4.4: the tools module, org.apache.kafka.tools)
MAIN_CLASSES: dict[str, str] = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-configs": "org.apache.kafka.tools.ConfigCommand",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-transactions": "org.apache.kafka.tools.TransactionsCommand",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
}

# kafka-run-class.sh's defaults for tools are -Xmx256m and G1; the serial collector and C1 only start faster
# on two cores, and a tool's run is too short for either to matter otherwise
JVM_OPTS = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true"]

# warnings and errors on stderr, as bin/*.sh's tools-log4j2.yaml (a file beside this module: no temporary files)
LOG4J2 = Path(__file__).resolve().parent / "kafka_tools_log4j2.properties"


@functools.cache
def unavailable_reason() -> str | None:
    """Why Kafka's tools cannot run here (no Java 17, jars not installed), or None; asked once per process
    (it runs ``java -version``)."""
    return reference.unavailable_reason()


def run(tool: str, *args: str, stdin: str | None = None, timeout: float = DEFAULT_TIMEOUT,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run Kafka's ``tool`` (a bin script's name, e.g. ``kafka-topics``; see :data:`MAIN_CLASSES`) with
    ``args``; ``stdin`` is its input (none: empty). Returns the completed process (text stdout and stderr)."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    java = reference.java_command()
    assert java is not None
    argv = [java, *JVM_OPTS, f"-Dlog4j2.configurationFile={LOG4J2}", "-cp", reference.classpath(),
            MAIN_CLASSES[tool], *args]
    try:
        proc = subprocess.run(argv, input=stdin if stdin is not None else "", capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise AssertionError(f"{tool} did not finish within {timeout}s: {tool} {' '.join(args)}\n"
                             f"stdout:\n{out}\nstderr:\n{err}") from None
    if check and proc.returncode != 0:
        raise AssertionError(f"{tool} failed (exit {proc.returncode}): {tool} {' '.join(args)}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc
