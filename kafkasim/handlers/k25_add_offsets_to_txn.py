"""AddOffsetsToTxn (key 25), versions 0-4.

Behaviour: adds a consumer group to the producer's transaction, so that TxnOffsetCommit may commit its
offsets when the transaction commits. Validation as AddPartitionsToTxn (INVALID_PRODUCER_ID_MAPPING,
PRODUCER_FENCED / INVALID_PRODUCER_EPOCH, CONCURRENT_TRANSACTIONS).
Version notes: v3 flexible; v2+ get PRODUCER_FENCED for a fenced epoch (KIP-588), older INVALID_PRODUCER_EPOCH.
"""

from __future__ import annotations

from kafkasim.errors import KafkaError
from kafkasim.handlers import BY_TRANSACTION, handler
from kafkasim.handlers.k22_init_producer_id import fenced_code
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.add_offsets_to_txn import AddOffsetsToTxnRequest, AddOffsetsToTxnResponse


@handler(ApiKey.ADD_OFFSETS_TO_TXN, (0, 4), coordinator=BY_TRANSACTION)
def add_offsets_to_txn(ctx, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse:
    try:
        ctx.state.transactions.add_offsets(req.transactional_id, req.producer_id, req.producer_epoch, req.group_id,
                                           fenced_code(ctx.api_version, 2))
    except KafkaError as exc:
        return AddOffsetsToTxnResponse(error_code=exc.code)
    return AddOffsetsToTxnResponse()
