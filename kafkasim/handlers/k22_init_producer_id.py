"""InitProducerId (key 22), versions 0-5.

Behaviour: without a transactional id (idempotent producers) every call allocates a new producer id
with epoch 0, as Kafka does; per-partition sequence checks then apply to its batches (state/producers.py).
With a transactional id the request needs the transaction coordinator, which kafkasim does not serve yet
(FindCoordinator is not advertised): it answers NOT_COORDINATOR.
Version notes: v2 flexible; v3 producer_id/epoch in the request (ignored without a transactional id,
as in Kafka); v4 PRODUCER_FENCED; v5 TRANSACTION_ABORTABLE.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode
from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.init_producer_id import InitProducerIdRequest, InitProducerIdResponse


@handler(ApiKey.INIT_PRODUCER_ID, (0, 5))
def init_producer_id(ctx, req: InitProducerIdRequest) -> InitProducerIdResponse:
    if req.transactional_id is not None:
        return InitProducerIdResponse(error_code=ErrorCode.NOT_COORDINATOR, producer_id=-1, producer_epoch=-1)
    return InitProducerIdResponse(producer_id=ctx.state.producer_ids.new_id(), producer_epoch=0)
