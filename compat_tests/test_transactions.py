"""Transactions with real clients over TCP: confluent-kafka (librdkafka 2.x) and aiokafka.

What Kafka does, and these tests check (issue 5):

- A transactional producer's records are written to the partitions at once, but a ``read_committed``
  consumer only reads below the last stable offset (LSO): the first offset of the oldest transaction still
  open on the partition. ``EndTxn`` writes one control record (a commit or abort marker) to every partition
  of the transaction, and that marker takes an offset of its own. ``read_committed`` consumers skip the
  records of aborted transactions (from the aborted-transactions list of the Fetch response);
  ``read_uncommitted`` consumers read them. No client hands control records to the application.
- Offsets sent with ``send_offsets_to_transaction`` (AddOffsetsToTxn + TxnOffsetCommit) are pending until
  the transaction commits: an OffsetFetch does not return them, and with ``require_stable`` it answers
  UNSTABLE_OFFSET_COMMIT for the partition. An abort drops them.
- InitProducerId for a transactional id whose transaction is open aborts that transaction and bumps the
  epoch: the older producer is fenced, and its next EndTxn fails with PRODUCER_FENCED (answered as
  INVALID_PRODUCER_EPOCH to EndTxn v0-1, which is what librdkafka and aiokafka send) and its next Produce
  with INVALID_PRODUCER_EPOCH. librdkafka reports either as the fatal error ``_FENCED``; aiokafka as
  ``ProducerFenced``.
- A transaction left open longer than its ``transaction.timeout.ms`` is aborted by the coordinator (checked
  every ``transaction.abort.timed.out.transaction.cleanup.interval.ms``), which also bumps the epoch.
- ``transaction.timeout.ms`` above the broker's ``transaction.max.timeout.ms`` (900000 by default) is
  refused by InitProducerId with INVALID_TRANSACTION_TIMEOUT.

Kafka writes the markers after it has answered EndTxn, so the checks that follow a commit or an abort wait
for their condition (with a deadline); kafkasim answers once the markers are written. Where a test must show
that something does *not* arrive while a transaction is open, it says so with the LSO the broker reports
(ListOffsets with the consumer's isolation level) and with a consumer polled for ``BLOCKED_S``.

Consumers read everything up to an *end marker*: a plain record with a value unique to that check, produced
after the transaction ended. Having read it, a consumer has read every record before it, so a check of what
it read is complete without waiting for records that should not come.

Idempotent-producer retries are covered in test_durability.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import aiokafka.errors as AioErrors
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AioTopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin import NewTopic as AioNewTopic
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_INVALID,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from compat_tests.clients.pyclients import (
    WAIT_S,
    client_fixtures,
    close_confluent_producer,
    retry_until,
)

T = TypeVar("T")

N = 4  # records per transaction: enough to show order and exactly-once, small enough to be fast
# Forming a consumer group: kafkasim takes milliseconds; a real Kafka delays a new group's first rebalance
# by group.initial.rebalance.delay.ms (3 s by default).
JOIN_S = 15.0
# How long a read_committed consumer is polled to show that it gets nothing while a transaction is open.
BLOCKED_S = 1.0
# Kafka's transaction.max.timeout.ms default.
KAFKA_TRANSACTION_MAX_TIMEOUT_MS = 900000


# ----------------------------------------------------------------------------------- confluent-kafka


class Clients:
    """confluent-kafka clients for one broker; every one is closed at teardown, newest first."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._closers: list[Callable[[], object]] = []
        self._admins: list[AdminClient] = []

    def producer(self, **config: Any) -> Producer:
        """A Producer; with ``transactional.id`` a transactional one (not initialised)."""
        producer = Producer({"bootstrap.servers": self.bootstrap_servers, "linger.ms": 5, **config})
        self._closers.append(lambda: close_producer(producer))
        return producer

    def transactional(self, transactional_id: str, **config: Any) -> Producer:
        """A transactional producer, initialised (InitProducerId done)."""
        producer = self.producer(**{"transactional.id": transactional_id, **config})
        producer.init_transactions(WAIT_S)
        return producer

    def consumer(self, **config: Any) -> Consumer:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "group.id": f"assign-only-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 100,
                **config,
            }
        )
        self._closers.append(consumer.close)
        return consumer

    def reader(self, topics: Iterable[str], isolation: str) -> Consumer:
        """A consumer assigned to partition 0 of each topic from the beginning (never commits)."""
        consumer = self.consumer(**{"isolation.level": isolation})
        consumer.assign([TopicPartition(t, 0, OFFSET_BEGINNING) for t in topics])
        return consumer

    def group_member(self, group_id: str, topics: list[str]) -> Consumer:
        """A read_committed consumer subscribed to ``topics`` in ``group_id`` (the transform's input)."""
        consumer = self.consumer(**{"group.id": group_id, "isolation.level": "read_committed"})
        consumer.subscribe(topics)
        return consumer

    def admin(self) -> AdminClient:
        # AdminClient has no close(); keep it referenced until teardown so its futures are not failed.
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        self._admins.append(admin)
        return admin

    def close(self) -> None:
        errors = []
        for close in reversed(self._closers):
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - keep closing the others, then report
                errors.append(exc)
        self._admins.clear()
        if errors:
            raise errors[0]


clients, make_clients = client_fixtures(Clients)


def close_producer(producer: Producer) -> None:
    """Teardown: close a producer. One that a test drove into a fatal error (fenced, refused timeout) is
    expected to complain: close() reports that error again, and confluent-kafka 2.16's close() tries to
    abort an open transaction and warns (RuntimeWarning, an error under this suite's filter) when it can't."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Producer abort_transaction failed during close", RuntimeWarning)
            close_confluent_producer(producer)
    except KafkaException as exc:
        if not exc.args[0].fatal():
            raise


def create_topics(admin: AdminClient, *names: str) -> None:
    """Create single-partition topics and wait until the metadata lists them."""
    futures = admin.create_topics([NewTopic(name, num_partitions=1) for name in names])
    for future in futures.values():
        future.result(timeout=WAIT_S)
    retry_until(lambda: set(admin.list_topics(timeout=WAIT_S).topics), lambda topics: set(names) <= topics)


def send(producer: Producer, topic: str, values: Iterable[bytes]) -> list[int]:
    """Produce ``values`` to partition 0, wait for every delivery report; return the offsets (error -> raise)."""
    reports: list[tuple[KafkaError | None, Message]] = []
    for value in values:
        producer.produce(topic, value=value, partition=0, on_delivery=lambda err, msg: reports.append((err, msg)))
    remaining = producer.flush(WAIT_S)
    assert remaining == 0, f"{remaining} messages not delivered within {WAIT_S}s"
    for err, _ in reports:
        if err is not None:
            raise KafkaException(err)
    return [msg.offset() for _, msg in reports]


def end_marker(producer: Producer, topics: Iterable[str]) -> bytes:
    """Produce a plain record with a fresh unique value to partition 0 of each topic; return the value."""
    token = f"end-{uuid.uuid4().hex[:8]}".encode()
    for topic in topics:
        send(producer, topic, [token])
    return token


def poll_messages(consumer: Consumer, done: Callable[[list[Message]], bool], timeout_s: float) -> list[Message]:
    """Poll until ``done(messages)`` or the deadline; return the messages (a consumer error fails the test)."""
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while not done(messages) and time.monotonic() < deadline:
        msg = consumer.poll(0.1)
        if msg is None:
            continue
        if msg.error() is not None:
            raise KafkaException(msg.error())
        messages.append(msg)
    return messages


def read_to_end(consumer: Consumer, token: bytes, topics: Iterable[str]) -> dict[str, list[tuple[int, bytes]]]:
    """(offset, value) per topic of everything the consumer reads up to and including the end marker ``token``."""
    topics = list(topics)

    def reached(messages: list[Message]) -> bool:
        return {m.topic() for m in messages if m.value() == token} == set(topics)

    seen = poll_messages(consumer, reached, WAIT_S)
    got = {t: [(m.offset(), m.value()) for m in seen if m.topic() == t] for t in topics}
    assert reached(seen), f"end marker not reached within {WAIT_S}s; read so far: {got}"
    return got


def last_offset(consumer: Consumer, topic: str) -> int:
    """ListOffsets(latest) with the consumer's isolation level: the high watermark, or the LSO for
    read_committed."""
    return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=WAIT_S)[1]


def wait_last_offset(consumer: Consumer, topic: str, expected: int) -> int:
    return retry_until(lambda: last_offset(consumer, topic), lambda got: got == expected)


def group_offset(admin: AdminClient, group_id: str, topic: str, require_stable: bool = False) -> tuple[int, int | None]:
    """The group's committed offset of partition 0 of ``topic`` (OffsetFetch) and the partition's error code."""
    request = ConsumerGroupTopicPartitions(group_id, [TopicPartition(topic, 0)])
    [future] = admin.list_consumer_group_offsets([request], require_stable=require_stable,
                                                 request_timeout=WAIT_S).values()
    [tp] = future.result(timeout=WAIT_S).topic_partitions
    return tp.offset, (tp.error.code() if tp.error is not None else None)


def wait_group_offset(admin: AdminClient, group_id: str, topic: str, expected: tuple[int, int | None],
                      require_stable: bool = False) -> tuple[int, int | None]:
    return retry_until(lambda: group_offset(admin, group_id, topic, require_stable), lambda got: got == expected)


def kafka_error(excinfo: pytest.ExceptionInfo[KafkaException]) -> KafkaError:
    return excinfo.value.args[0]


def transform_input(clients: Clients, topic_name: str) -> tuple[str, str, str, str, list[Message], Consumer]:
    """A consume-transform-produce setup: topics ``src``, ``out_a``, ``out_b``; N plain records in ``src``;
    a read_committed group member that has consumed them. Returns (src, out_a, out_b, group, messages, member)."""
    src, out_a, out_b = f"{topic_name}-src", f"{topic_name}-a", f"{topic_name}-b"
    create_topics(clients.admin(), src, out_a, out_b)
    inputs = [f"in-{i}".encode() for i in range(N)]
    assert send(clients.producer(), src, inputs) == list(range(N))
    group = f"g-{topic_name}"
    member = clients.group_member(group, [src])
    consumed = poll_messages(member, lambda msgs: len(msgs) >= N, JOIN_S)
    assert [(m.offset(), m.value()) for m in consumed] == list(enumerate(inputs))
    return src, out_a, out_b, group, consumed, member


def produce_transformed(tx: Producer, out_a: str, out_b: str, consumed: list[Message], tag: bytes) -> None:
    """Inside the open transaction: one record per input to each output topic, then the member's offsets."""
    send(tx, out_a, [b"a:" + tag + m.value() for m in consumed])
    send(tx, out_b, [b"b:" + tag + m.value() for m in consumed])


def send_member_offsets(tx: Producer, member: Consumer, src: str) -> None:
    positions = member.position(member.assignment())
    assert [(p.topic, p.partition, p.offset) for p in positions] == [(src, 0, N)]
    tx.send_offsets_to_transaction(positions, member.consumer_group_metadata(), WAIT_S)


def test_confluent_transaction_commits_two_topics_and_group_offsets_atomically(
    clients: Clients, topic_name: str
) -> None:
    src, out_a, out_b, group, consumed, member = transform_input(clients, topic_name)
    admin = clients.admin()
    committed_reader = clients.reader([out_a, out_b], "read_committed")
    uncommitted_reader = clients.reader([out_a, out_b], "read_uncommitted")

    tx = clients.transactional(f"tx-{topic_name}")
    tx.begin_transaction()
    produce_transformed(tx, out_a, out_b, consumed, b"")
    send_member_offsets(tx, member, src)

    # Open: the records are in the log (high watermark N), behind the LSO (0) for read_committed; the
    # offsets are pending: not returned, and unstable for require_stable.
    for topic in (out_a, out_b):
        assert last_offset(uncommitted_reader, topic) == N
        assert last_offset(committed_reader, topic) == 0
    assert group_offset(admin, group, src) == (OFFSET_INVALID, None)
    assert group_offset(admin, group, src, require_stable=True) == (OFFSET_INVALID, KafkaError.UNSTABLE_OFFSET_COMMIT)

    tx.commit_transaction(WAIT_S)

    assert wait_group_offset(admin, group, src, (N, None), require_stable=True) == (N, None)
    assert group_offset(admin, group, src) == (N, None)
    token = end_marker(clients.producer(), [out_a, out_b])
    # Each committed record exactly once; the commit marker took offset N, so the end marker is at N + 1.
    expected = {
        out_a: [(i, b"a:" + m.value()) for i, m in enumerate(consumed)] + [(N + 1, token)],
        out_b: [(i, b"b:" + m.value()) for i, m in enumerate(consumed)] + [(N + 1, token)],
    }
    assert read_to_end(committed_reader, token, [out_a, out_b]) == expected
    assert read_to_end(uncommitted_reader, token, [out_a, out_b]) == expected
    for topic in (out_a, out_b):
        assert last_offset(committed_reader, topic) == N + 2


def test_confluent_aborted_transaction_is_invisible_to_read_committed_and_commits_no_offsets(
    clients: Clients, topic_name: str
) -> None:
    src, out_a, out_b, group, consumed, member = transform_input(clients, topic_name)
    admin = clients.admin()
    committed_reader = clients.reader([out_a, out_b], "read_committed")
    uncommitted_reader = clients.reader([out_a, out_b], "read_uncommitted")
    tx = clients.transactional(f"tx-{topic_name}")

    tx.begin_transaction()
    produce_transformed(tx, out_a, out_b, consumed, b"aborted:")
    send_member_offsets(tx, member, src)
    assert group_offset(admin, group, src, require_stable=True) == (OFFSET_INVALID, KafkaError.UNSTABLE_OFFSET_COMMIT)
    tx.abort_transaction(WAIT_S)

    # The abort marker (offset N) ends the transaction: the LSO moves past it. The offsets it carried are
    # dropped: nothing committed and nothing pending any more.
    for topic in (out_a, out_b):
        assert wait_last_offset(committed_reader, topic, N + 1) == N + 1
    assert wait_group_offset(admin, group, src, (OFFSET_INVALID, None), require_stable=True) == (OFFSET_INVALID, None)
    assert group_offset(admin, group, src) == (OFFSET_INVALID, None)

    # The same input again, committed this time.
    tx.begin_transaction()
    produce_transformed(tx, out_a, out_b, consumed, b"committed:")
    send_member_offsets(tx, member, src)
    tx.commit_transaction(WAIT_S)
    assert wait_group_offset(admin, group, src, (N, None), require_stable=True) == (N, None)

    token = end_marker(clients.producer(), [out_a, out_b])
    # Offsets: aborted records 0..N-1, abort marker N, committed records N+1..2N, commit marker 2N+1.
    aborted = {p: [(i, p.encode() + b":aborted:" + m.value()) for i, m in enumerate(consumed)] for p in "ab"}
    committed = {p: [(N + 1 + i, p.encode() + b":committed:" + m.value()) for i, m in enumerate(consumed)]
                 for p in "ab"}
    end = [(2 * N + 2, token)]
    assert read_to_end(committed_reader, token, [out_a, out_b]) == {
        out_a: committed["a"] + end,
        out_b: committed["b"] + end,
    }
    # read_uncommitted reads the aborted records too, but never a control record (offsets N and 2N+1).
    assert read_to_end(uncommitted_reader, token, [out_a, out_b]) == {
        out_a: aborted["a"] + committed["a"] + end,
        out_b: aborted["b"] + committed["b"] + end,
    }


@pytest.mark.parametrize("outcome", ["commit", "abort"])
def test_confluent_read_committed_consumer_stops_at_the_last_stable_offset(
    clients: Clients, topic_name: str, outcome: str
) -> None:
    create_topics(clients.admin(), topic_name)
    tx = clients.transactional(f"tx-{topic_name}")
    tx.begin_transaction()
    assert send(tx, topic_name, [b"txn"]) == [0]
    plain = [f"plain-{i}".encode() for i in range(3)]
    assert send(clients.producer(), topic_name, plain) == [1, 2, 3]

    committed_reader = clients.reader([topic_name], "read_committed")
    uncommitted_reader = clients.reader([topic_name], "read_uncommitted")
    assert last_offset(uncommitted_reader, topic_name) == 4
    assert last_offset(committed_reader, topic_name) == 0  # the LSO: the open transaction's first offset
    everything = poll_messages(uncommitted_reader, lambda msgs: len(msgs) >= 4, WAIT_S)
    assert [(m.offset(), m.value()) for m in everything] == [(0, b"txn"), *enumerate(plain, start=1)]
    # The plain records after the transaction's first record wait for the transaction to end.
    blocked = poll_messages(committed_reader, lambda msgs: False, BLOCKED_S)
    assert [(m.offset(), m.value()) for m in blocked] == []

    if outcome == "commit":
        tx.commit_transaction(WAIT_S)
    else:
        tx.abort_transaction(WAIT_S)

    released = poll_messages(committed_reader, lambda msgs: any(m.value() == plain[-1] for m in msgs), WAIT_S)
    expected = ([(0, b"txn")] if outcome == "commit" else []) + list(enumerate(plain, start=1))
    assert [(m.offset(), m.value()) for m in released] == expected
    assert wait_last_offset(committed_reader, topic_name, 5) == 5  # the marker is at offset 4


def test_confluent_zombie_producer_is_fenced_by_a_new_instance(clients: Clients, topic_name: str) -> None:
    create_topics(clients.admin(), topic_name)
    transactional_id = f"tx-{topic_name}"
    zombie = clients.transactional(transactional_id)
    zombie.begin_transaction()
    assert send(zombie, topic_name, [b"zombie-0", b"zombie-1"]) == [0, 1]
    committed_reader = clients.reader([topic_name], "read_committed")
    uncommitted_reader = clients.reader([topic_name], "read_uncommitted")
    assert last_offset(committed_reader, topic_name) == 0

    # A new instance with the same transactional id: InitProducerId aborts the zombie's open transaction
    # (abort marker at offset 2, the LSO moves past it) and bumps the epoch.
    fresh = clients.transactional(transactional_id)
    assert wait_last_offset(committed_reader, topic_name, 3) == 3

    # The zombie's next produce carries the old epoch: rejected (INVALID_PRODUCER_EPOCH), and its commit
    # fails; librdkafka makes both the fatal error _FENCED.
    reports: list[KafkaError | None] = []
    zombie.produce(topic_name, value=b"zombie-late", partition=0, on_delivery=lambda err, msg: reports.append(err))
    with pytest.raises(KafkaException) as excinfo:
        zombie.commit_transaction(WAIT_S)
    error = kafka_error(excinfo)
    assert (error.code(), error.fatal()) == (KafkaError._FENCED, True), error
    retry_until(lambda: zombie.poll(0.1), lambda _: bool(reports))
    assert len(reports) == 1 and reports[0] is not None, reports

    fresh.begin_transaction()
    assert send(fresh, topic_name, [b"fresh-0", b"fresh-1"]) == [3, 4]
    fresh.commit_transaction(WAIT_S)

    token = end_marker(clients.producer(), [topic_name])
    assert read_to_end(committed_reader, token, [topic_name]) == {
        topic_name: [(3, b"fresh-0"), (4, b"fresh-1"), (6, token)],
    }
    # The late record was never appended.
    assert read_to_end(uncommitted_reader, token, [topic_name]) == {
        topic_name: [(0, b"zombie-0"), (1, b"zombie-1"), (3, b"fresh-0"), (4, b"fresh-1"), (6, token)],
    }


def test_confluent_transaction_left_open_is_aborted_after_its_timeout(
    make_clients: Callable[..., Clients], topic_name: str
) -> None:
    clients = make_clients(transaction_abort_timed_out_transaction_cleanup_interval_ms=100)
    create_topics(clients.admin(), topic_name)
    stalled = clients.transactional(f"tx-{topic_name}", **{"transaction.timeout.ms": 1000})
    stalled.begin_transaction()
    started = time.monotonic()  # the coordinator starts the clock at AddPartitionsToTxn, after this
    assert send(stalled, topic_name, [b"stalled-0", b"stalled-1"]) == [0, 1]
    assert send(clients.producer(), topic_name, [b"after-0", b"after-1"]) == [2, 3]
    committed_reader = clients.reader([topic_name], "read_committed")

    # The stalled producer does nothing more. The coordinator aborts its transaction once it is older than
    # 1 s (abort marker at offset 4), so the LSO moves past it and the records after it become readable.
    released = poll_messages(committed_reader, lambda msgs: any(m.value() == b"after-1" for m in msgs), WAIT_S)
    waited = time.monotonic() - started
    assert [(m.offset(), m.value()) for m in released] == [(2, b"after-0"), (3, b"after-1")]
    assert waited >= 0.95, f"read_committed read past the open transaction after {waited:.2f}s, before its timeout"
    assert wait_last_offset(committed_reader, topic_name, 5) == 5

    # The abort bumped the epoch: the stalled producer's commit is fenced.
    with pytest.raises(KafkaException) as excinfo:
        stalled.commit_transaction(WAIT_S)
    error = kafka_error(excinfo)
    assert (error.code(), error.fatal()) == (KafkaError._FENCED, True), error

    uncommitted_reader = clients.reader([topic_name], "read_uncommitted")
    token = end_marker(clients.producer(), [topic_name])
    assert read_to_end(uncommitted_reader, token, [topic_name]) == {
        topic_name: [(0, b"stalled-0"), (1, b"stalled-1"), (2, b"after-0"), (3, b"after-1"), (5, token)],
    }


def test_confluent_transaction_timeout_above_the_broker_maximum_is_refused(clients: Clients, topic_name: str) -> None:
    producer = clients.producer(**{"transactional.id": f"tx-{topic_name}",
                                   "transaction.timeout.ms": KAFKA_TRANSACTION_MAX_TIMEOUT_MS + 1})
    with pytest.raises(KafkaException) as excinfo:
        producer.init_transactions(WAIT_S)
    error = kafka_error(excinfo)
    assert (error.code(), error.fatal()) == (KafkaError.INVALID_TRANSACTION_TIMEOUT, True), error


def test_confluent_transaction_max_timeout_is_the_broker_setting(
    make_clients: Callable[..., Clients], topic_name: str
) -> None:
    clients = make_clients(transaction_max_timeout_ms=5000)
    too_long = clients.producer(**{"transactional.id": f"tx-long-{topic_name}", "transaction.timeout.ms": 5001})
    with pytest.raises(KafkaException) as excinfo:
        too_long.init_transactions(WAIT_S)
    assert kafka_error(excinfo).code() == KafkaError.INVALID_TRANSACTION_TIMEOUT

    at_max = clients.transactional(f"tx-max-{topic_name}", **{"transaction.timeout.ms": 5000})
    at_max.begin_transaction()
    assert send(at_max, topic_name, [b"ok"]) == [0]
    at_max.commit_transaction(WAIT_S)
    reader = clients.reader([topic_name], "read_committed")
    assert [(m.offset(), m.value()) for m in poll_messages(reader, lambda msgs: len(msgs) >= 1, WAIT_S)] == [(0, b"ok")]


# ------------------------------------------------------------------------------------------- aiokafka


class AioClients:
    """Started aiokafka clients for one broker; ``close`` stops every one of them, newest first."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._stoppers: list[Callable[[], Awaitable[object]]] = []

    def _config(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap_servers, "request_timeout_ms": 10_000, **config}

    async def producer(self, **config: Any) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(**self._config(config))
        self._stoppers.append(producer.stop)
        await producer.start()
        return producer

    async def reader(self, isolation_level: str, *partitions: AioTopicPartition) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                    isolation_level=isolation_level, fetch_max_wait_ms=100, **self._config({}))
        self._stoppers.append(consumer.stop)
        await consumer.start()
        consumer.assign(list(partitions))
        return consumer

    async def admin(self) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(**self._config({}))
        self._stoppers.append(admin.close)
        await admin.start()
        return admin

    async def close(self) -> None:
        errors = []
        for stop in reversed(self._stoppers):
            try:
                await stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the others, then report
                errors.append(exc)
        if errors:
            raise errors[0]


def run_aio(bootstrap_servers: str, scenario: Callable[[AioClients], Awaitable[None]]) -> None:
    async def main() -> None:
        aio = AioClients(bootstrap_servers)
        try:
            await scenario(aio)
        finally:
            await aio.close()

    asyncio.run(main())


async def aio_retry_until(fn: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout_s: float = WAIT_S) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        result = await fn()
        if ok(result) or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(0.05)  # backoff between attempts, not synchronisation


async def aio_create_topics(admin: AIOKafkaAdminClient, *names: str) -> None:
    response = await admin.create_topics([AioNewTopic(name, 1, 1) for name in names])
    errors = {e["topic"]: e["error_code"] for e in response.to_object()["topic_errors"]}
    assert errors == dict.fromkeys(names, 0), errors


async def aio_end_marker(producer: AIOKafkaProducer, tps: Iterable[AioTopicPartition]) -> bytes:
    token = f"end-{uuid.uuid4().hex[:8]}".encode()
    for tp in tps:
        await producer.send_and_wait(tp.topic, token, partition=tp.partition)
    return token


async def aio_read_to_end(consumer: AIOKafkaConsumer, token: bytes,
                          tps: Iterable[AioTopicPartition]) -> dict[str, list[tuple[int, bytes]]]:
    """(offset, value) per topic of everything read up to and including the end marker ``token``."""
    tps = list(tps)
    got: dict[str, list[tuple[int, bytes]]] = {tp.topic: [] for tp in tps}
    pending = {tp.topic for tp in tps}
    deadline = time.monotonic() + WAIT_S
    while pending and time.monotonic() < deadline:
        for batch in (await consumer.getmany(timeout_ms=100)).values():
            for record in batch:
                got[record.topic].append((record.offset, record.value))
                if record.value == token:
                    pending.discard(record.topic)
    assert not pending, f"end marker not reached within {WAIT_S}s; read so far: {got}"
    return got


async def aio_group_offset(admin: AIOKafkaAdminClient, group_id: str, tp: AioTopicPartition) -> int:
    offsets = await admin.list_consumer_group_offsets(group_id, partitions=[tp])
    return offsets[tp].offset


class AbortTransaction(Exception):
    """Raised inside ``async with producer.transaction()`` to abort it."""


def test_aiokafka_transaction_aborted_by_an_exception_then_committed(bootstrap_servers: str, topic_name: str) -> None:
    src, out_a, out_b = f"{topic_name}-src", f"{topic_name}-a", f"{topic_name}-b"
    src_tp, tp_a, tp_b = AioTopicPartition(src, 0), AioTopicPartition(out_a, 0), AioTopicPartition(out_b, 0)
    group = f"g-{topic_name}"
    inputs = [f"in-{i}".encode() for i in range(N)]

    async def scenario(aio: AioClients) -> None:
        admin = await aio.admin()
        await aio_create_topics(admin, src, out_a, out_b)
        plain = await aio.producer()
        for value in inputs:
            await plain.send_and_wait(src, value, partition=0)
        source = await aio.reader("read_committed", src_tp)
        consumed = []
        deadline = time.monotonic() + WAIT_S
        while len(consumed) < N and time.monotonic() < deadline:
            for batch in (await source.getmany(timeout_ms=100)).values():
                consumed.extend(record.value for record in batch)
        assert consumed == inputs
        offsets = {src_tp: await source.position(src_tp)}
        assert offsets == {src_tp: N}

        tx = await aio.producer(transactional_id=f"tx-{topic_name}")
        committed_reader = await aio.reader("read_committed", tp_a, tp_b)
        uncommitted_reader = await aio.reader("read_uncommitted", tp_a, tp_b)

        async def transform(tag: bytes) -> None:
            for value in consumed:
                await tx.send_and_wait(out_a, b"a:" + tag + value, partition=0)
                await tx.send_and_wait(out_b, b"b:" + tag + value, partition=0)
            await tx.send_offsets_to_transaction(offsets, group)

        with pytest.raises(AbortTransaction):
            async with tx.transaction():
                await transform(b"aborted:")
                # Open: in the log, behind the LSO for read_committed; the offsets are not committed.
                assert await uncommitted_reader.end_offsets([tp_a, tp_b]) == {tp_a: N, tp_b: N}
                assert await committed_reader.end_offsets([tp_a, tp_b]) == {tp_a: 0, tp_b: 0}
                assert await aio_group_offset(admin, group, src_tp) == -1
                raise AbortTransaction

        # The abort marker is at offset N; the offsets sent in the aborted transaction are dropped.
        ends = await aio_retry_until(lambda: committed_reader.end_offsets([tp_a, tp_b]),
                                     lambda got: got == {tp_a: N + 1, tp_b: N + 1})
        assert ends == {tp_a: N + 1, tp_b: N + 1}
        assert await aio_group_offset(admin, group, src_tp) == -1

        async with tx.transaction():
            await transform(b"committed:")
        assert await aio_retry_until(lambda: aio_group_offset(admin, group, src_tp), lambda got: got == N) == N

        token = await aio_end_marker(plain, [tp_a, tp_b])
        aborted = {p: [(i, p + b":aborted:" + v) for i, v in enumerate(inputs)] for p in (b"a", b"b")}
        committed = {p: [(N + 1 + i, p + b":committed:" + v) for i, v in enumerate(inputs)] for p in (b"a", b"b")}
        end = [(2 * N + 2, token)]
        assert await aio_read_to_end(committed_reader, token, [tp_a, tp_b]) == {
            out_a: committed[b"a"] + end,
            out_b: committed[b"b"] + end,
        }
        assert await aio_read_to_end(uncommitted_reader, token, [tp_a, tp_b]) == {
            out_a: aborted[b"a"] + committed[b"a"] + end,
            out_b: aborted[b"b"] + committed[b"b"] + end,
        }
        assert committed_reader.last_stable_offset(tp_a) == 2 * N + 3

    run_aio(bootstrap_servers, scenario)


def test_aiokafka_zombie_producer_is_fenced_by_a_new_instance(bootstrap_servers: str, topic_name: str) -> None:
    tp = AioTopicPartition(topic_name, 0)
    transactional_id = f"tx-{topic_name}"

    async def scenario(aio: AioClients) -> None:
        await aio_create_topics(await aio.admin(), topic_name)
        zombie = await aio.producer(transactional_id=transactional_id)
        await zombie.begin_transaction()
        await zombie.send_and_wait(topic_name, b"zombie", partition=0)
        committed_reader = await aio.reader("read_committed", tp)
        assert await committed_reader.end_offsets([tp]) == {tp: 0}

        # start() sends InitProducerId (v0): the zombie's transaction is aborted (marker at offset 1).
        fresh = await aio.producer(transactional_id=transactional_id)
        assert await aio_retry_until(lambda: committed_reader.end_offsets([tp]), lambda got: got == {tp: 2}) == {tp: 2}

        # EndTxn v0 with the old epoch: INVALID_PRODUCER_EPOCH, which aiokafka raises as ProducerFenced.
        with pytest.raises(AioErrors.ProducerFenced):
            await zombie.commit_transaction()

        async with fresh.transaction():
            await fresh.send_and_wait(topic_name, b"fresh", partition=0)
        token = await aio_end_marker(await aio.producer(), [tp])
        assert await aio_read_to_end(committed_reader, token, [tp]) == {topic_name: [(2, b"fresh"), (4, token)]}

    run_aio(bootstrap_servers, scenario)
