"""Drive kcat (librdkafka's command-line client) from Python.

kcat is Debian's ``kcat`` package, installed by ``scripts/install_test_deps``; without it every caller
is skipped with the reason. kcat's consumer mode (-C) reads partitions directly, without a consumer
group. Every call is a subprocess with a timeout; a non-zero exit fails the test with kcat's stderr
unless the caller asked for the completed process (``check=False``).

Records are passed to ``produce`` as ``(key, value)`` pairs of text (``None`` key: no key; ``None`` value
with ``null_empty=True``: a null value, via kcat -Z). Keys and values must not contain the tab or the
newline, which delimit them on kcat's stdin; kcat skips empty lines, so a keyless record needs a value.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

DEFAULT_TIMEOUT = 20.0
KEY_DELIMITER = "\t"
MESSAGE_DELIMITER = "\n"


def unavailable_reason() -> str | None:
    """Why kcat tests cannot run here, or None when they can."""
    if shutil.which("kcat") is None:
        return "kcat is not on PATH; run scripts/install_test_deps (Debian package kcat, needs root)"
    return None


def _kcat(
    args: Sequence[str], *, stdin: str | None = None, timeout: float = DEFAULT_TIMEOUT, check: bool = True
) -> subprocess.CompletedProcess[str]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    argv = ["kcat", *args]
    try:
        proc = subprocess.run(
            argv,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise AssertionError(f"kcat did not finish within {timeout}s: {argv}\nstderr:\n{stderr}") from None
    if check and proc.returncode != 0:
        raise AssertionError(
            f"kcat failed (exit {proc.returncode}): {argv}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[str | None, str | None]],
    *,
    partition: int | None = None,
    headers: Sequence[tuple[str, str]] = (),
    compression: str | None = None,
    null_empty: bool = False,
    extra: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """``kcat -P``: produce ``records`` (one kcat run; it waits for every delivery report before exiting).

    ``headers`` apply to every record of the run (kcat -H). ``partition`` is kcat -p (default: kcat's
    partitioner). ``compression`` is kcat -z (gzip, snappy, lz4, zstd). ``null_empty`` is kcat -Z: an
    empty value (give ``None``) is sent as a null value.
    """
    lines = []
    for key, value in records:
        for text in (key, value):
            if text is not None and (KEY_DELIMITER in text or MESSAGE_DELIMITER in text):
                raise ValueError(f"kcat records cannot contain tab or newline: {text!r}")
        if value is None and not null_empty:
            raise ValueError("a None value needs null_empty=True (kcat -Z)")
        if key is None and not value:
            raise ValueError("kcat skips empty input lines: a record without a key needs a non-empty value")
        if key == "" and null_empty:
            raise ValueError("with null_empty (kcat -Z) an empty key is sent as a null key")
        text = value or ""
        lines.append(text if key is None else f"{key}{KEY_DELIMITER}{text}")
    args = ["-P", "-b", bootstrap, "-t", topic, "-K", "\\t", "-D", "\\n"]
    if partition is not None:
        args += ["-p", str(partition)]
    for name, value in headers:
        args += ["-H", f"{name}={value}"]
    if compression is not None:
        args += ["-z", compression]
    if null_empty:
        args.append("-Z")
    args += list(extra)
    return _kcat(args, stdin="".join(line + MESSAGE_DELIMITER for line in lines), timeout=timeout, check=check)


def consume(
    bootstrap: str,
    topic: str,
    *,
    partition: int | None = None,
    offset: str = "beginning",
    count: int | None = None,
    extra: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> list[dict[str, Any]]:
    """``kcat -C -J -e``: read from ``offset`` to the end of the partition(s); one dict per message.

    Each dict is kcat's JSON envelope: topic, partition, offset, tstype, ts, key, payload and, when the
    record has any, headers (kcat prints them as a flat [name, value, name, value, ...] list).
    """
    args = ["-C", "-b", bootstrap, "-t", topic, "-o", offset, "-e", "-J", "-q"]
    if partition is not None:
        args += ["-p", str(partition)]
    if count is not None:
        args += ["-c", str(count)]
    args += list(extra)
    proc = _kcat(args, timeout=timeout)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def consume_formatted(
    bootstrap: str,
    topic: str,
    fmt: str,
    *,
    partition: int | None = None,
    offset: str = "beginning",
    extra: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """``kcat -C -e -f FMT``: the formatted output of every message from ``offset`` to the end."""
    args = ["-C", "-b", bootstrap, "-t", topic, "-o", offset, "-e", "-q", "-f", fmt]
    if partition is not None:
        args += ["-p", str(partition)]
    args += list(extra)
    return _kcat(args, timeout=timeout).stdout


def metadata(bootstrap: str, topic: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """``kcat -L -J``: cluster metadata (brokers, topics with partitions, leaders, replicas, isrs)."""
    args = ["-L", "-b", bootstrap, "-J"]
    if topic is not None:
        args += ["-t", topic]
    result: dict[str, Any] = json.loads(_kcat(args, timeout=timeout).stdout)
    return result


def offsets_for_times(
    bootstrap: str, topic: str, timestamps: dict[int, int], *, timeout: float = DEFAULT_TIMEOUT
) -> dict[int, int]:
    """``kcat -Q``: for each partition, the first offset whose timestamp is >= the given one (ListOffsets)."""
    args = ["-Q", "-b", bootstrap]
    for partition, ts in timestamps.items():
        args += ["-t", f"{topic}:{partition}:{ts}"]
    proc = _kcat([*args, "-J"], timeout=timeout)
    found: dict[int, int] = {}
    document = json.loads(proc.stdout)
    # kcat prints {"<topic>": {"topic": "<topic>", "<partition>": {"partition": p, "offset": o}, ...}}
    for part in document.get(topic, {}).values():
        if isinstance(part, dict) and "offset" in part:
            if "error" in part:
                raise AssertionError(f"kcat -Q {topic} [{part['partition']}] failed: {part['error']}")
            found[int(part["partition"])] = int(part["offset"])
    return found
