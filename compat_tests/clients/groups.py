"""Consumer-group members for the group compat tests: one real client each, driven by its own thread.

A group member must keep polling to take part in rebalances (librdkafka serves rebalance callbacks from
``poll``; kafka-python joins inside ``poll``), so each :class:`Member` owns a thread that polls its
consumer in a loop and records what the consumer saw: the records it consumed, every rebalance callback
(with the generation the client joined, where the client tells) and its current assignment. Work that
must run on the consumer's own thread (commits, kafka-python is not thread-safe) goes through
:meth:`Member.call`. :meth:`Member.close` stops the loop and closes the consumer on its thread (a clean
close: LeaveGroup, except for librdkafka static members).

Run as a script (``python -m compat_tests.clients.groups TOPIC CONFLUENT_CONFIG_JSON``)
it is a confluent-kafka group member in a process of its own (:class:`ProcessMember`), which a test can
SIGKILL to simulate a crash (no LeaveGroup, no more heartbeats) or SIGSTOP/SIGCONT to pause it. It
prints one JSON line per assignment it holds.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException
from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.coordinator.assignors.range import RangePartitionAssignor

TP = tuple[str, int]
REPO_ROOT = Path(__file__).resolve().parents[2]

# Short heartbeats: members notice a rebalance (REBALANCE_IN_PROGRESS on a heartbeat) within this.
HEARTBEAT_MS = 200
POLL_S = 0.1


@dataclass(frozen=True)
class Consumed:
    member: str
    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass(frozen=True)
class Rebalance:
    """One rebalance callback: ``kind`` is assign, revoke or lost; ``partitions`` what it carried."""

    member: str
    kind: str
    generation: int | None
    partitions: frozenset[TP]


def librdkafka_generation(consumer: Any) -> int | None:
    """The generation a confluent-kafka consumer is in, from its serialised group metadata.

    ``consumer_group_metadata()`` returns librdkafka's ``rd_kafka_consumer_group_metadata_write`` bytes:
    ``b"CGMDv2:"``, the generation id (int32, host byte order), then group id, member id, instance id.
    None while the consumer is closing (it raises then; raising from a rebalance callback inside
    ``close()`` turns into a SystemError in confluent-kafka 2.16).
    """
    try:
        raw = consumer.consumer_group_metadata()
    except RuntimeError:  # "Consumer group metadata not available"
        return None
    if not raw.startswith(b"CGMDv2:"):
        raise AssertionError(f"unknown librdkafka group metadata format: {raw[:16]!r}")
    return struct.unpack_from("=i", raw, 7)[0]


class Member:
    """A group member: a consumer polled by its own thread (see the module docstring)."""

    library = ""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._consumed: list[Consumed] = []
        self._rebalances: list[Rebalance] = []
        self._assignment: frozenset[TP] = frozenset()
        self._calls: queue.SimpleQueue[tuple[Callable[[Any], Any], Future]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"member-{name}", daemon=True)
        self.consumer: Any = None  # set by the subclass before start()

    # -- what the member saw (read from any thread) --

    @property
    def assignment(self) -> frozenset[TP]:
        """The partitions the consumer held after its latest poll."""
        with self._lock:
            return self._assignment

    @property
    def consumed(self) -> list[Consumed]:
        with self._lock:
            return list(self._consumed)

    @property
    def rebalances(self) -> list[Rebalance]:
        with self._lock:
            return list(self._rebalances)

    # -- control --

    def start(self) -> Member:
        self._thread.start()
        return self

    def call(self, fn: Callable[[Any], Any], timeout_s: float = 10.0) -> Any:
        """Run ``fn(consumer)`` on the member's thread between two polls; return its result."""
        future: Future = Future()
        self._calls.put((fn, future))
        if not self._thread.is_alive():
            self.check()
            raise AssertionError(f"member {self.name} is not running")
        return future.result(timeout=timeout_s)

    def stop(self) -> None:
        """Ask the thread to stop polling and close the consumer; :meth:`close` waits for it."""
        self._stop.set()

    def close(self, timeout_s: float = 15.0) -> None:
        """Stop polling and close the consumer (on its thread); raise what the thread raised, if anything."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise AssertionError(f"member {self.name} did not close within {timeout_s}s")
        elif self.consumer is not None:  # never started
            self._close_consumer()
            self.consumer = None
        self.check()

    def check(self) -> None:
        if self._error is not None:
            raise AssertionError(f"member {self.name} ({self.library}) failed") from self._error

    # -- the thread --

    def _run(self) -> None:
        try:
            try:
                while not self._stop.is_set():
                    self._serve_calls()
                    self._poll_once()
                    current = self._current_assignment()
                    with self._lock:
                        self._assignment = current
            finally:
                with self._lock:
                    self._assignment = frozenset()
                self._close_consumer()
        except BaseException as exc:  # noqa: BLE001 - reported by check()/close() on the test's thread
            self._error = exc
        finally:
            self._fail_pending_calls()

    def _serve_calls(self) -> None:
        while True:
            try:
                fn, future = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                future.set_result(fn(self.consumer))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

    def _fail_pending_calls(self) -> None:
        while True:
            try:
                _, future = self._calls.get_nowait()
            except queue.Empty:
                return
            future.set_exception(AssertionError(f"member {self.name} stopped"))

    def _record(self, kind: str, generation: int | None, partitions: Iterable[TP]) -> None:
        event = Rebalance(self.name, kind, generation, frozenset(partitions))
        with self._lock:
            self._rebalances.append(event)

    def _consumed_one(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        with self._lock:
            self._consumed.append(Consumed(self.name, topic, partition, offset, value))

    # -- per library --

    def _poll_once(self) -> None:
        raise NotImplementedError

    def _current_assignment(self) -> frozenset[TP]:
        raise NotImplementedError

    def _close_consumer(self) -> None:
        raise NotImplementedError


def confluent_settings(name: str, bootstrap_servers: str, group_id: str, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "client.id": name,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "partition.assignment.strategy": "range",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": HEARTBEAT_MS,
        # The rebalance timeout of JoinGroup: bounds how long a join waits for a slow member.
        "max.poll.interval.ms": 10000,
        **config,
    }


class ConfluentMember(Member):
    """A confluent-kafka (librdkafka) consumer subscribed to ``topics``."""

    library = "confluent-kafka"

    def __init__(
        self,
        name: str,
        bootstrap_servers: str,
        group_id: str,
        topics: list[str],
        expect_errors: bool = False,
        **config: Any,
    ) -> None:
        """``expect_errors``: record consumer errors in ``errors`` (polling on) instead of failing the member."""
        super().__init__(name)
        self.expect_errors = expect_errors
        self._errors: list[Any] = []
        self.consumer = Consumer(confluent_settings(name, bootstrap_servers, group_id, config))
        self.consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self._record("assign", librdkafka_generation(consumer), [(p.topic, p.partition) for p in partitions])

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        self._record("revoke", librdkafka_generation(consumer), [(p.topic, p.partition) for p in partitions])

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        self._record("lost", None, [(p.topic, p.partition) for p in partitions])

    def _poll_once(self) -> None:
        msg = self.consumer.poll(POLL_S)
        if msg is None:
            return
        if msg.error() is not None:
            if not self.expect_errors:
                raise KafkaException(msg.error())
            with self._lock:
                self._errors.append(msg.error())
            return
        self._consumed_one(msg.topic(), msg.partition(), msg.offset(), msg.value())

    @property
    def errors(self) -> list[Any]:
        """The KafkaErrors the consumer reported (with ``expect_errors``)."""
        with self._lock:
            return list(self._errors)

    def _current_assignment(self) -> frozenset[TP]:
        return frozenset((p.topic, p.partition) for p in self.consumer.assignment())

    def _close_consumer(self) -> None:
        self.consumer.close()


class KafkaPythonMember(Member):
    """A kafka-python consumer subscribed to ``topics``."""

    library = "kafka-python"

    def __init__(self, name: str, bootstrap_servers: str, group_id: str, topics: list[str], **config: Any) -> None:
        super().__init__(name)
        settings = {
            "bootstrap_servers": bootstrap_servers,
            "group_id": group_id,
            "client_id": name,
            "auto_offset_reset": "earliest",
            "enable_auto_commit": False,
            "partition_assignment_strategy": (RangePartitionAssignor,),
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": HEARTBEAT_MS,
            "max_poll_interval_ms": 10000,
            "request_timeout_ms": 15000,
            **config,
        }
        self.consumer = KafkaConsumer(**settings)
        # Know the topics' partitions before the first JoinGroup. Otherwise the leader assigns from empty
        # metadata and rejoins once the metadata arrives, and kafka-python 3.0.12 can lose that rejoin: it
        # is triggered by the metadata snapshot, not the rejoin flag, so when poll()'s timer runs out while
        # JoinGroup/SyncGroup is in flight, the leader's own assignment clears the trigger and the next poll
        # never completes the join (no assignment, no heartbeats, expelled after the session timeout).
        for topic in topics:
            self.consumer.partitions_for_topic(topic)
        self.consumer.subscribe(topics, listener=_KafkaPythonListener(self))

    def _poll_once(self) -> None:
        for batch in self.consumer.poll(timeout_ms=int(POLL_S * 1000)).values():
            for r in batch:
                self._consumed_one(r.topic, r.partition, r.offset, r.value)

    def _current_assignment(self) -> frozenset[TP]:
        return frozenset((tp.topic, tp.partition) for tp in self.consumer.assignment())

    def _close_consumer(self) -> None:
        self.consumer.close(timeout_ms=5000)

    def generation(self) -> int | None:
        # kafka-python has no public accessor for the generation it joined; the coordinator knows it.
        generation = self.consumer._coordinator.generation_if_stable()
        return None if generation is None else generation.generation_id


class _KafkaPythonListener(ConsumerRebalanceListener):
    def __init__(self, member: KafkaPythonMember) -> None:
        self.member = member

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.member._record("revoke", None, [(tp.topic, tp.partition) for tp in revoked])

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.member._record("assign", self.member.generation(), [(tp.topic, tp.partition) for tp in assigned])


def wait_for_split(members: list[Any], partitions: set[TP], timeout_s: float) -> dict[str, frozenset[TP]]:
    """Wait until every member holds a non-empty share and the shares partition ``partitions``.

    Returns {member name: assignment} as last seen (the caller asserts on it).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        for m in members:
            m.check()
        shares = {m.name: m.assignment for m in members}
        held = [tp for share in shares.values() for tp in share]
        if all(shares.values()) and len(held) == len(set(held)) and set(held) == partitions:
            return shares
        if time.monotonic() >= deadline:
            return shares
        time.sleep(0.05)


# --- a member in a process of its own, to crash (SIGKILL) or pause (SIGSTOP) ---------------------------


class ProcessMember:
    """A confluent-kafka group member running this module as a script in a child process.

    ``assignment`` follows the JSON lines the child prints; ``signal`` crashes (SIGKILL: no LeaveGroup, no
    more heartbeats) or pauses (SIGSTOP/SIGCONT) it. ``close`` kills it if it is still running.
    """

    def __init__(
        self, name: str, bootstrap_servers: str, group_id: str, topic: str, stderr_path: Path, **config: Any
    ) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._assignment: frozenset[TP] = frozenset()
        self._stderr = stderr_path.open("w+b")
        self._expected_exit = False
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "compat_tests.clients.groups", topic,
             json.dumps(confluent_settings(name, bootstrap_servers, group_id, config))],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=self._stderr,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, name=f"process-member-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            report = json.loads(line)
            with self._lock:
                self._assignment = frozenset(tuple(tp) for tp in report["assignment"])

    @property
    def assignment(self) -> frozenset[TP]:
        with self._lock:
            return self._assignment

    def signal(self, sig: int) -> None:
        if sig == signal.SIGKILL:
            self._expected_exit = True
        self.proc.send_signal(sig)

    def stderr_tail(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-3000:]

    def check(self) -> None:
        if self.proc.poll() is not None and not self._expected_exit:
            raise AssertionError(f"member process {self.name} exited {self.proc.returncode}: {self.stderr_tail()}")

    def close(self) -> None:
        self._expected_exit = True
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL ends a stopped (SIGSTOP) process too
        self.proc.wait(10)
        self._reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._stderr.close()


# --- the child process's side of ProcessMember ---------------------------------------------------------


def _subprocess_member(topic: str, config: dict[str, Any]) -> None:
    consumer = Consumer(config)
    consumer.subscribe([topic])
    reported = None
    while True:  # until killed
        consumer.poll(POLL_S)
        current = sorted([p.topic, p.partition] for p in consumer.assignment())
        if current != reported:
            print(json.dumps({"assignment": current, "generation": librdkafka_generation(consumer)}), flush=True)
            reported = current


if __name__ == "__main__":
    _subprocess_member(sys.argv[1], json.loads(sys.argv[2]))
