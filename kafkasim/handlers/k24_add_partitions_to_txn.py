"""AddPartitionsToTxn (key 24), versions 0-4.

Behaviour: adds partitions to the producer's transaction (Empty or Complete* -> Ongoing). The producer id
must be the transactional id's (INVALID_PRODUCER_ID_MAPPING) and its epoch current (PRODUCER_FENCED, or
INVALID_PRODUCER_EPOCH before v2); an unknown partition fails the whole request: UNKNOWN_TOPIC_OR_PARTITION
for it and OPERATION_NOT_ATTEMPTED for the rest, as in Kafka. Only the transaction coordinator serves the
client form: NOT_COORDINATOR for every partition elsewhere.
ACLs: WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every partition), WRITE per
topic (TOPIC_AUTHORIZATION_FAILED, the other partitions OPERATION_NOT_ATTEMPTED); v4 needs CLUSTER_ACTION.
Version notes: v0-3 carry one transaction (the client form); v3 flexible; v4 batches transactions (the
broker-to-coordinator form, with verify_only: only checks that the partitions are in the transaction).
v5 (transaction version 2 errors) is not served.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode
from kafkasim.handlers import handler
from kafkasim.handlers.authz import (
    allowed,
    cluster_allowed,
    denied_topics,
)
from kafkasim.handlers.k22_init_producer_id import fenced_code
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import add_partitions_to_txn as ap
from kafkasim.state.acls import AclOperation, ResourceType
from kafkasim.state.leadership import TRANSACTION_KEY


def _results(errors: dict[tuple[str, int], int]) -> list[ap.AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult]:
    by_topic: dict[str, list] = {}
    for (topic, partition), code in errors.items():
        by_topic.setdefault(topic, []).append(ap.AddPartitionsToTxnResponseAddPartitionsToTxnPartitionResult(
            partition_index=partition, partition_error_code=code))
    return [ap.AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult(name=t, results_by_partition=r)
            for t, r in by_topic.items()]


def _add(ctx, txn_id: str, pid: int, epoch: int, topics, verify_only: bool) -> dict[tuple[str, int], int]:
    state = ctx.state
    wanted = [(t.name, p) for t in topics for p in t.partitions]
    if state.acls.enabled:
        if not allowed(ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
            return dict.fromkeys(wanted, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
        denied = denied_topics(ctx, AclOperation.WRITE, (t.name for t in topics))
        if denied:  # nothing is added: the others are not attempted, as Kafka answers
            return {(t, p): ErrorCode.TOPIC_AUTHORIZATION_FAILED if t in denied else ErrorCode.OPERATION_NOT_ATTEMPTED
                    for t, p in wanted}
    if verify_only:
        return {(t, p): 0 if state.transactions.ongoing(pid, epoch, t, p) else ErrorCode.INVALID_TXN_STATE
                for t, p in wanted}

    def exists(topic: str, partition: int) -> bool:
        t = state.topics.get(topic)
        return t is not None and 0 <= partition < len(t.partitions)

    return state.transactions.add_partitions(txn_id, pid, epoch, wanted, exists, fenced_code(ctx.api_version, 2))


def error_response(req: ap.AddPartitionsToTxnRequest, version: int, code: int) -> ap.AddPartitionsToTxnResponse:
    if version <= 3:
        return ap.AddPartitionsToTxnResponse(results_by_topic_v3_and_below=_results(
            {(t.name, p): code for t in req.v3_and_below_topics for p in t.partitions}))
    return ap.AddPartitionsToTxnResponse(error_code=code)


@handler(ApiKey.ADD_PARTITIONS_TO_TXN, (0, 4), error_response=error_response,
         coordinator=(TRANSACTION_KEY, lambda req, version: req.v3_and_below_transactional_id if version <= 3 else None))
def add_partitions_to_txn(ctx, req: ap.AddPartitionsToTxnRequest) -> ap.AddPartitionsToTxnResponse:
    if ctx.api_version >= 4 and not cluster_allowed(ctx, AclOperation.CLUSTER_ACTION):
        return error_response(req, ctx.api_version, ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    if ctx.api_version <= 3:
        errors = _add(ctx, req.v3_and_below_transactional_id, req.v3_and_below_producer_id,
                      req.v3_and_below_producer_epoch, req.v3_and_below_topics, False)
        return ap.AddPartitionsToTxnResponse(results_by_topic_v3_and_below=_results(errors))
    return ap.AddPartitionsToTxnResponse(results_by_transaction=[
        ap.AddPartitionsToTxnResponseAddPartitionsToTxnResult(
            transactional_id=t.transactional_id,
            topic_results=_results(_add(ctx, t.transactional_id, t.producer_id, t.producer_epoch, t.topics,
                                        t.verify_only)))
        for t in req.transactions])
