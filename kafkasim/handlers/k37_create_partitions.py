"""CreatePartitions (key 37), versions 0-3.

Behaviour: raises a topic's partition count; a count that is not an increase answers INVALID_PARTITIONS,
a wrong number of assignments or unknown brokers INVALID_REPLICA_ASSIGNMENT, an unknown topic
UNKNOWN_TOPIC_OR_PARTITION, a topic named twice INVALID_REQUEST. validate_only changes nothing.
Version notes: v2 flexible; v3 same as v2.
"""

from __future__ import annotations

from collections import Counter

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.authz import Op, require_topic
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.create_partitions import (
    CreatePartitionsRequest,
    CreatePartitionsResponse,
    CreatePartitionsResponseCreatePartitionsTopicResult,
)


def error_response(req: CreatePartitionsRequest, version: int, code: int) -> CreatePartitionsResponse:
    return CreatePartitionsResponse(results=[
        CreatePartitionsResponseCreatePartitionsTopicResult(name=t.name, error_code=code) for t in req.topics])


@handler(ApiKey.CREATE_PARTITIONS, (0, 3), error_response=error_response)
def create_partitions(ctx, req: CreatePartitionsRequest) -> CreatePartitionsResponse:
    counts = Counter(t.name for t in req.topics)
    out = []
    for t in req.topics:
        r = CreatePartitionsResponseCreatePartitionsTopicResult(name=t.name)
        out.append(r)
        if counts[t.name] > 1:
            r.error_code = ErrorCode.INVALID_REQUEST
            r.error_message = "Duplicate topic in request."
            continue
        assignments = None if t.assignments is None else [list(a.broker_ids) for a in t.assignments]
        try:
            require_topic(ctx, Op.ALTER, t.name)
            ctx.state.create_partitions(t.name, t.count, assignments, req.validate_only)
        except KafkaError as exc:
            r.error_code = exc.code
            r.error_message = exc.message
    return CreatePartitionsResponse(results=out)
