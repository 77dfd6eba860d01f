"""The transaction coordinator: transactional ids, producer epochs, the partitions and groups of a
transaction, and its end (commit or abort), after Kafka's TransactionCoordinator (transaction version 1).

States follow Kafka's names: Empty -> Ongoing (AddPartitionsToTxn / AddOffsetsToTxn) -> PrepareCommit or
PrepareAbort (EndTxn) -> CompleteCommit or CompleteAbort. Markers are written synchronously, so the
Prepare states last only inside one call. InitProducerId on a transactional id bumps the epoch, which
fences any older producer with that id; a transaction it left open is aborted first. A transaction
open longer than its timeout is aborted by :meth:`abort_timed_out` with an epoch bump, so the stalled
producer is fenced. Writing markers and completing offsets are the cluster's business: this class
calls ``end_partitions(producer_id, epoch, partitions, commit)`` and ``end_offsets(group_id, producer_id,
commit)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.state.clock import Clock
from kafkasim.state.producers import ProducerIds

MAX_EPOCH = 32767


class TxnState(StrEnum):
    EMPTY = "Empty"
    ONGOING = "Ongoing"
    PREPARE_COMMIT = "PrepareCommit"
    PREPARE_ABORT = "PrepareAbort"
    COMPLETE_COMMIT = "CompleteCommit"
    COMPLETE_ABORT = "CompleteAbort"


@dataclass(slots=True)
class Transaction:
    transactional_id: str
    producer_id: int
    epoch: int
    timeout_ms: int
    state: TxnState = TxnState.EMPTY
    partitions: set[tuple[str, int]] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    start_ms: int = -1
    updated_ms: int = -1


class TransactionCoordinator:
    """Every transactional id of the cluster."""

    def __init__(self, clock: Clock, producer_ids: ProducerIds, max_timeout_ms: int,
                 end_partitions: Callable[[int, int, set[tuple[str, int]], bool], None],
                 end_offsets: Callable[[str, int, bool], None]) -> None:
        self.clock = clock
        self.producer_ids = producer_ids
        self.max_timeout_ms = max_timeout_ms
        self.transactions: dict[str, Transaction] = {}
        self.by_producer: dict[int, Transaction] = {}
        self._end_partitions = end_partitions
        self._end_offsets = end_offsets
        self.on_change: Callable[[Transaction], None] | None = None  # durability hook (a data directory)

    def _changed(self, txn: Transaction) -> None:
        if self.on_change is not None:
            self.on_change(txn)

    def restore(self, txn: Transaction) -> None:
        """After a restart: a transactional id as the metadata log kept it."""
        self.transactions[txn.transactional_id] = txn
        self.by_producer[txn.producer_id] = txn

    # ------------------------------------------------------------------ InitProducerId

    def init_producer_id(self, transactional_id: str, timeout_ms: int, producer_id: int = -1,
                         epoch: int = -1, fenced_code: int = ErrorCode.PRODUCER_FENCED) -> tuple[int, int]:
        """(producer id, epoch) for a transactional producer; bumps the epoch of a known id (fencing)."""
        if not transactional_id:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Transactional id must not be empty")
        if timeout_ms <= 0 or timeout_ms > self.max_timeout_ms:
            raise KafkaError(ErrorCode.INVALID_TRANSACTION_TIMEOUT,
                             f"The transaction timeout {timeout_ms} is larger than the maximum value allowed by "
                             f"the broker (as configured by transaction.max.timeout.ms={self.max_timeout_ms}).")
        now = self.clock.now_ms()
        txn = self.transactions.get(transactional_id)
        if txn is None:
            txn = Transaction(transactional_id, self.producer_ids.new_id(), 0, timeout_ms, updated_ms=now)
            self.transactions[transactional_id] = txn
            self.by_producer[txn.producer_id] = txn
            self._changed(txn)
            return txn.producer_id, txn.epoch
        if producer_id >= 0 and (producer_id != txn.producer_id or epoch != txn.epoch):
            # KIP-360: a producer recovering its own epoch must name the current one
            raise KafkaError(fenced_code, "There is a newer producer with the same transactionalId which fences "
                                          "the current one.")
        if txn.state == TxnState.ONGOING:
            self._fence(txn)
            self._end(txn, commit=False)
        self._bump(txn)
        txn.timeout_ms = timeout_ms
        txn.state = TxnState.EMPTY
        txn.start_ms = -1  # Kafka's Empty has no txnStartTimestamp (a completed transaction keeps its own)
        txn.updated_ms = now
        self._changed(txn)
        return txn.producer_id, txn.epoch

    @staticmethod
    def _fence(txn: Transaction) -> None:
        """Bump the epoch to abort an open transaction (Kafka's prepareFenceProducerEpoch): the producer id stays,
        so the abort markers close the transaction on its partitions; an exhausted epoch may reach MAX_EPOCH here,
        and the next InitProducerId moves to a new producer id."""
        if txn.epoch < MAX_EPOCH:
            txn.epoch += 1

    def _bump(self, txn: Transaction) -> None:
        if txn.epoch + 1 >= MAX_EPOCH:  # exhausted: a new producer id, as Kafka does
            self.by_producer.pop(txn.producer_id, None)
            txn.producer_id = self.producer_ids.new_id()
            txn.epoch = 0
            self.by_producer[txn.producer_id] = txn
        else:
            txn.epoch += 1

    # ------------------------------------------------------------------ validation

    def _check(self, transactional_id: str, producer_id: int, epoch: int, fenced_code: int) -> Transaction:
        txn = self.transactions.get(transactional_id)
        if txn is None or txn.producer_id != producer_id:
            raise KafkaError(ErrorCode.INVALID_PRODUCER_ID_MAPPING,
                             "The producer attempted to use a producer id which is not currently assigned to its "
                             "transactional id.")
        if epoch != txn.epoch:
            raise KafkaError(fenced_code, "There is a newer producer with the same transactionalId which fences "
                                          "the current one.")
        if txn.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            raise KafkaError(ErrorCode.CONCURRENT_TRANSACTIONS,
                             "The producer attempted to update a transaction while another concurrent operation on "
                             "the same transaction was ongoing.")
        return txn

    def _begin(self, txn: Transaction) -> None:
        now = self.clock.now_ms()
        if txn.state != TxnState.ONGOING:
            txn.state = TxnState.ONGOING
            txn.start_ms = now
            txn.partitions = set()
            txn.groups = set()
        txn.updated_ms = now

    # ------------------------------------------------------------------ AddPartitionsToTxn, AddOffsetsToTxn

    def add_partitions(self, transactional_id: str, producer_id: int, epoch: int,
                       partitions: Iterable[tuple[str, int]], exists: Callable[[str, int], bool],
                       fenced_code: int = ErrorCode.PRODUCER_FENCED) -> dict[tuple[str, int], int]:
        """Error code per partition; all partitions fail together, as in Kafka."""
        wanted = list(partitions)
        try:
            txn = self._check(transactional_id, producer_id, epoch, fenced_code)
        except KafkaError as exc:
            return {tp: exc.code for tp in wanted}
        unknown = [tp for tp in wanted if not exists(*tp)]
        if unknown:
            return {tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if tp in unknown else ErrorCode.OPERATION_NOT_ATTEMPTED
                    for tp in wanted}
        self._begin(txn)
        if not txn.partitions.issuperset(wanted):
            txn.partitions.update(wanted)
            self._changed(txn)
        return {tp: 0 for tp in wanted}

    def add_offsets(self, transactional_id: str, producer_id: int, epoch: int, group_id: str,
                    fenced_code: int = ErrorCode.PRODUCER_FENCED) -> None:
        txn = self._check(transactional_id, producer_id, epoch, fenced_code)
        self._begin(txn)
        if group_id not in txn.groups:
            txn.groups.add(group_id)
            self._changed(txn)

    def ongoing(self, producer_id: int, epoch: int, topic: str, partition: int) -> bool:
        """May this producer append transactional records to this partition now?"""
        txn = self.by_producer.get(producer_id)
        return (txn is not None and txn.epoch == epoch and txn.state == TxnState.ONGOING
                and (topic, partition) in txn.partitions)

    def check_append(self, producer_id: int, epoch: int, topic: str, partition: int) -> None:
        """A transactional batch for this partition: INVALID_PRODUCER_EPOCH from a producer older than its
        transaction's epoch, INVALID_TXN_STATE outside a transaction that added the partition."""
        txn = self.by_producer.get(producer_id)
        if txn is not None and epoch < txn.epoch:
            raise KafkaError(ErrorCode.INVALID_PRODUCER_EPOCH,
                             f"Producer {producer_id}'s epoch {epoch} is older than the current {txn.epoch}")
        if producer_id < 0 or not self.ongoing(producer_id, epoch, topic, partition):
            raise KafkaError(ErrorCode.INVALID_TXN_STATE,
                             f"Transactional records for {topic}-{partition} from producer {producer_id} outside a "
                             "transaction that added the partition")

    def check_offset_commit(self, transactional_id: str, producer_id: int, epoch: int, group_id: str,
                            fenced_code: int = ErrorCode.PRODUCER_FENCED) -> None:
        """TxnOffsetCommit: the producer's transaction must be open and include the group."""
        txn = self._check(transactional_id, producer_id, epoch, fenced_code)
        if txn.state != TxnState.ONGOING or group_id not in txn.groups:
            raise KafkaError(ErrorCode.INVALID_TXN_STATE,
                             "The producer attempted a transactional operation in an invalid state.")

    # ------------------------------------------------------------------ EndTxn

    def end_txn(self, transactional_id: str, producer_id: int, epoch: int, commit: bool,
                fenced_code: int = ErrorCode.PRODUCER_FENCED) -> tuple[int, int]:
        txn = self._check(transactional_id, producer_id, epoch, fenced_code)
        if txn.state == TxnState.ONGOING:
            self._end(txn, commit)
        elif (txn.state == TxnState.COMPLETE_COMMIT and commit) or (txn.state == TxnState.COMPLETE_ABORT
                                                                    and not commit):
            pass  # a retry of the last EndTxn
        elif txn.state == TxnState.EMPTY and not commit:
            pass  # aborting nothing (librdkafka may abort before adding anything)
        else:
            raise KafkaError(ErrorCode.INVALID_TXN_STATE,
                             "The producer attempted a transactional operation in an invalid state.")
        return txn.producer_id, txn.epoch

    def _end(self, txn: Transaction, commit: bool) -> None:
        txn.state = TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT
        self._end_partitions(txn.producer_id, txn.epoch, txn.partitions, commit)
        for group_id in txn.groups:
            self._end_offsets(group_id, txn.producer_id, commit)
        txn.state = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
        txn.partitions = set()  # a completed transaction lists no partitions, as Kafka's DescribeTransactions
        txn.groups = set()
        txn.updated_ms = self.clock.now_ms()  # start_ms stays: Kafka's txnStartTimestamp survives the end
        self._changed(txn)

    # ------------------------------------------------------------------ timeouts, inspection

    def abort_timed_out(self) -> list[str]:
        """Abort (with an epoch bump, fencing the producer) every transaction open longer than its timeout."""
        now = self.clock.now_ms()
        aborted = []
        for txn in list(self.transactions.values()):
            if txn.state == TxnState.ONGOING and now - txn.start_ms > txn.timeout_ms:
                self._fence(txn)
                self._end(txn, commit=False)
                aborted.append(txn.transactional_id)
        return aborted

    def describe(self, transactional_id: str) -> Transaction:
        txn = self.transactions.get(transactional_id)
        if txn is None:
            raise KafkaError(ErrorCode.TRANSACTIONAL_ID_NOT_FOUND,
                             f"The transactionalId {transactional_id} could not be found.")
        return txn

    def list(self, states: Iterable[str] = (), producer_ids: Iterable[int] = (),
             duration_filter_ms: int = -1) -> list[Transaction]:
        wanted_states = set(states)
        wanted_pids = set(producer_ids)
        now = self.clock.now_ms()
        return [t for t in self.transactions.values()
                if (not wanted_states or t.state.value in wanted_states)
                and (not wanted_pids or t.producer_id in wanted_pids)
                and (duration_filter_ms < 0 or (t.start_ms >= 0 and now - t.start_ms >= duration_filter_ms))]
