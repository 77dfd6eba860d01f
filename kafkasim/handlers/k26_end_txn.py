"""EndTxn (key 26), versions 0-4.

Behaviour: commits or aborts the producer's transaction: a COMMIT or ABORT marker (control batch) is
written to every partition of the transaction, the last stable offset moves past it, aborted records are
listed for read_committed fetches, and offsets sent with TxnOffsetCommit become committed (or are
dropped). A retry of the same EndTxn succeeds; committing an aborted transaction (or the reverse) is
INVALID_TXN_STATE, as in Kafka.
Version notes: v3 flexible; v2+ PRODUCER_FENCED (KIP-588), older INVALID_PRODUCER_EPOCH. v5 (transaction
version 2: epoch bump per transaction) is not served.
"""

from __future__ import annotations

from kafkasim.errors import KafkaError
from kafkasim.handlers import BY_TRANSACTION, handler
from kafkasim.handlers.k22_init_producer_id import fenced_code
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.end_txn import EndTxnRequest, EndTxnResponse


@handler(ApiKey.END_TXN, (0, 4), coordinator=BY_TRANSACTION)
def end_txn(ctx, req: EndTxnRequest) -> EndTxnResponse:
    try:
        ctx.state.transactions.end_txn(req.transactional_id, req.producer_id, req.producer_epoch, req.committed,
                                       fenced_code(ctx.api_version, 2))
    except KafkaError as exc:
        return EndTxnResponse(error_code=exc.code)
    return EndTxnResponse()
