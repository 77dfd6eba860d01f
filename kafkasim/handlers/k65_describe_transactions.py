"""DescribeTransactions (key 65), version 0.

Behaviour: for each transactional id, its state (Kafka's names: Empty, Ongoing, CompleteCommit, ...),
timeout, start time of the current or last transaction (-1 before the first: Kafka keeps it after the end),
producer id and epoch, and the partitions it has added. TRANSACTIONAL_ID_NOT_FOUND for an unknown id; NOT_COORDINATOR from a broker that is not its
coordinator.
ACLs: DESCRIBE per transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); partitions of topics the
principal may not DESCRIBE are left out.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.authz import allowed, denied_topics
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import describe_transactions as dt
from kafkasim.state.acls import AclOperation
from kafkasim.state.acls import ResourceType as AclResource
from kafkasim.state.leadership import TRANSACTION_KEY


def _describe(ctx, txn_id: str) -> dt.DescribeTransactionsResponseTransactionState:
    try:
        if not allowed(ctx, AclOperation.DESCRIBE, AclResource.TRANSACTIONAL_ID, txn_id):
            raise KafkaError(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
        ctx.state.check_coordinator(TRANSACTION_KEY, txn_id, ctx.node_id)
        t = ctx.state.transactions.describe(txn_id)
    except KafkaError as exc:
        return dt.DescribeTransactionsResponseTransactionState(error_code=exc.code, transactional_id=txn_id,
                                                               producer_id=-1, producer_epoch=-1)
    by_topic: dict[str, list[int]] = {}
    for topic, partition in sorted(t.partitions):
        by_topic.setdefault(topic, []).append(partition)
    for topic in denied_topics(ctx, AclOperation.DESCRIBE, by_topic):  # left out, as Kafka does
        del by_topic[topic]
    return dt.DescribeTransactionsResponseTransactionState(
        transactional_id=txn_id, transaction_state=t.state.value, transaction_timeout_ms=t.timeout_ms,
        transaction_start_time_ms=t.start_ms, producer_id=t.producer_id, producer_epoch=t.epoch,
        topics=[dt.DescribeTransactionsResponseTopicData(topic=k, partitions=v) for k, v in by_topic.items()])


@handler(ApiKey.DESCRIBE_TRANSACTIONS, (0, 0))
def describe_transactions(ctx, req: dt.DescribeTransactionsRequest) -> dt.DescribeTransactionsResponse:
    return dt.DescribeTransactionsResponse(transaction_states=[_describe(ctx, i) for i in req.transactional_ids])
