"""Idempotent producer sequence rules (state/producers.py)."""

from __future__ import annotations

import pytest

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.state.producers import MAX_SEQUENCE, PartitionProducers


def appended(pp: PartitionProducers, pid: int, epoch: int, seq: int, count: int, offset: int) -> None:
    assert pp.check(pid, epoch, seq, count) is None
    pp.record(pid, epoch, seq, count, offset, 0)


def test_producers_in_order_batches_are_accepted() -> None:
    pp = PartitionProducers()
    appended(pp, 1, 0, 0, 3, 0)
    appended(pp, 1, 0, 3, 2, 3)
    assert pp.entries[1].last_seq == 4


def test_producers_retry_of_recent_batch_is_duplicate_with_original_offset() -> None:
    pp = PartitionProducers()
    for i in range(6):
        appended(pp, 1, 0, i * 2, 2, 100 + i * 2)
    dup = pp.check(1, 0, 4, 2)
    assert dup is not None and dup.base_offset == 104
    # only the last five batches are remembered: the first is no longer a duplicate, it is out of order
    with pytest.raises(KafkaError) as err:
        pp.check(1, 0, 0, 2)
    assert err.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_producers_gap_is_out_of_order_and_state_unchanged() -> None:
    pp = PartitionProducers()
    appended(pp, 1, 0, 0, 1, 0)
    with pytest.raises(KafkaError) as err:
        pp.check(1, 0, 5, 1)
    assert err.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert pp.entries[1].last_seq == 0
    appended(pp, 1, 0, 1, 1, 1)  # the right next batch is still accepted, not reported as a duplicate


def test_producers_older_epoch_is_rejected() -> None:
    pp = PartitionProducers()
    appended(pp, 1, 3, 0, 1, 0)
    with pytest.raises(KafkaError) as err:
        pp.check(1, 2, 1, 1)
    assert err.value.code == ErrorCode.INVALID_PRODUCER_EPOCH


def test_producers_new_epoch_must_start_at_zero() -> None:
    pp = PartitionProducers()
    appended(pp, 1, 0, 0, 5, 0)
    with pytest.raises(KafkaError):
        pp.check(1, 1, 7, 1)
    appended(pp, 1, 1, 0, 1, 5)


def test_producers_unknown_producer_accepts_any_sequence() -> None:
    pp = PartitionProducers()
    appended(pp, 9, 0, 42, 1, 0)


def test_producers_sequence_wraps_after_max() -> None:
    pp = PartitionProducers()
    appended(pp, 1, 0, MAX_SEQUENCE - 1, 2, 0)
    appended(pp, 1, 0, 0, 1, 2)

