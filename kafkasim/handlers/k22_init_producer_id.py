"""InitProducerId (key 22), versions 0-5.

Behaviour: without a transactional id (idempotent producers) every call allocates a new producer id
with epoch 0, as Kafka does; per-partition sequence checks then apply to its batches (state/producers.py).
With a transactional id the transaction coordinator (state/transactions.py) answers: a new id gets a
producer id and epoch 0; a known one gets its epoch bumped, which fences older producers with that id,
and a transaction it left open is aborted first. transaction_timeout_ms must be positive and at most
transaction.max.timeout.ms (INVALID_TRANSACTION_TIMEOUT).
Version notes: v2 flexible; v3 producer_id/epoch in the request (KIP-360: a producer recovering its
epoch must name the current one; ignored without a transactional id, as in Kafka); v4 PRODUCER_FENCED
(older versions get INVALID_PRODUCER_EPOCH); v5 TRANSACTION_ABORTABLE. v6 (two-phase commit) is not served.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import BY_TRANSACTION, handler
from kafkasim.handlers.authz import Op, R, allowed, any_allowed
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.init_producer_id import InitProducerIdRequest, InitProducerIdResponse


def fenced_code(version: int, first_with_producer_fenced: int) -> int:
    """PRODUCER_FENCED where the version knows it, INVALID_PRODUCER_EPOCH before (KIP-588)."""
    return ErrorCode.PRODUCER_FENCED if version >= first_with_producer_fenced else ErrorCode.INVALID_PRODUCER_EPOCH


@handler(ApiKey.INIT_PRODUCER_ID, (0, 5), coordinator=BY_TRANSACTION)
def init_producer_id(ctx, req: InitProducerIdRequest) -> InitProducerIdResponse:
    if req.transactional_id is None:
        # an idempotent producer (Kafka 3+): IDEMPOTENT_WRITE on the cluster, or WRITE on some topic
        if ctx.state.acls.enabled and not (allowed(ctx, Op.IDEMPOTENT_WRITE, R.CLUSTER)
                                           or any_allowed(ctx, Op.WRITE, R.TOPIC)):
            return InitProducerIdResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED, producer_id=-1,
                                          producer_epoch=-1)
        return InitProducerIdResponse(producer_id=ctx.state.producer_ids.new_id(), producer_epoch=0)
    try:
        pid, epoch = ctx.state.transactions.init_producer_id(
            req.transactional_id, req.transaction_timeout_ms, req.producer_id, req.producer_epoch,
            fenced_code(ctx.api_version, 4))
    except KafkaError as exc:
        return InitProducerIdResponse(error_code=exc.code, producer_id=-1, producer_epoch=-1)
    return InitProducerIdResponse(producer_id=pid, producer_epoch=epoch)
