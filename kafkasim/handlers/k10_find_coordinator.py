"""FindCoordinator (key 10), versions 0-6.

Behaviour: groups (key type 0) and transactional ids (key type 1) are coordinated, as in Kafka, by the
leader of partition abs(hashCode(key)) % 50 of __consumer_offsets or __transaction_state (Java's
String.hashCode; offsets.topic.num.partitions and transaction.state.log.num.partitions); those
partitions are placed on the brokers like a topic's, with up to 3 replicas, and their leaders move when
brokers stop. A key type's first lookup creates its internal topic, which Metadata lists from then on.
COORDINATOR_NOT_AVAILABLE while a key's partition has no leader; other key types answer
INVALID_REQUEST.
Version notes: v1 key_type, throttle and error_message; v3 flexible; v4+ batches keys in
coordinator_keys and answers one coordinator per key; v6 adds share groups (key type 2, not served).
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.authz import Op, R, allowed
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.find_coordinator import (
    FindCoordinatorRequest,
    FindCoordinatorResponse,
    FindCoordinatorResponseCoordinator,
)
from kafkasim.state.leadership import INTERNAL_TOPIC

GROUP = 0
TRANSACTION = 1


def _find(ctx, key: str, key_type: int) -> FindCoordinatorResponseCoordinator:
    c = FindCoordinatorResponseCoordinator(key=key, node_id=-1, host="", port=-1)
    try:
        if key_type not in (GROUP, TRANSACTION):
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported key type {key_type}")
        if key_type == GROUP and not allowed(ctx, Op.DESCRIBE, R.GROUP, key):
            raise KafkaError(ErrorCode.GROUP_AUTHORIZATION_FAILED)
        if key_type == TRANSACTION and not allowed(ctx, Op.DESCRIBE, R.TRANSACTIONAL_ID, key):
            raise KafkaError(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
        # the key type's internal topic exists from the first lookup on, as Kafka creates it then
        ctx.state.topic_registry.create_internal(INTERNAL_TOPIC[key_type])
        b = ctx.state.coordinator(key_type, key)
    except KafkaError as exc:
        c.error_code = exc.code
        c.error_message = exc.message
        return c
    c.node_id, c.error_message = b.node_id, ""  # Kafka 4.4 answers a found coordinator with "", not null
    c.host, c.port = b.address(ctx.listener)
    return c


@handler(ApiKey.FIND_COORDINATOR, (0, 6))
def find_coordinator(ctx, req: FindCoordinatorRequest) -> FindCoordinatorResponse:
    if ctx.api_version >= 4:
        return FindCoordinatorResponse(coordinators=[_find(ctx, k, req.key_type) for k in req.coordinator_keys])
    c = _find(ctx, req.key, req.key_type)
    # before v4 Kafka's success message is Errors.NONE.message(): "NONE"
    return FindCoordinatorResponse(error_code=c.error_code, error_message=c.error_message if c.error_code else "NONE",
                                   node_id=c.node_id,
                                   host=c.host, port=c.port)
