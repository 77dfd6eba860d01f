"""DeleteTopics (key 20), versions 1-6.

Behaviour: deletes each named topic and its partitions' logs; UNKNOWN_TOPIC_OR_PARTITION (by id:
UNKNOWN_TOPIC_ID) when it does not exist; TOPIC_DELETION_DISABLED when delete.topic.enable is false.
Version notes: v5 adds error_message; v6 names topics by name or id.
"""

from __future__ import annotations

from kafkasim.errors import KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.authz import Op, require_topic
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.delete_topics import (
    DeleteTopicsRequest,
    DeleteTopicsResponse,
    DeleteTopicsResponseDeletableTopicResult,
)
from kafkasim.protocol.primitives import ZERO_UUID


def _targets(req: DeleteTopicsRequest, version: int) -> list[tuple[str | None, bytes]]:
    if version >= 6:
        return [(t.name, t.topic_id) for t in req.topics]
    return [(n, ZERO_UUID) for n in req.topic_names]


def error_response(req: DeleteTopicsRequest, version: int, code: int) -> DeleteTopicsResponse:
    return DeleteTopicsResponse(responses=[DeleteTopicsResponseDeletableTopicResult(name=n, topic_id=i,
                                                                                     error_code=code)
                                           for n, i in _targets(req, version)])


@handler(ApiKey.DELETE_TOPICS, (1, 6), error_response=error_response)
def delete_topics(ctx, req: DeleteTopicsRequest) -> DeleteTopicsResponse:
    state = ctx.state
    out = []
    for name, topic_id in _targets(req, ctx.api_version):
        r = DeleteTopicsResponseDeletableTopicResult(name=name, topic_id=topic_id)
        out.append(r)
        try:
            if name is None:
                t = state.topic_by_id(topic_id)
                r.name = t.name
            else:
                t = state.topic(name)
            r.topic_id = t.topic_id
            require_topic(ctx, Op.DELETE, t.name)
            state.delete_topic(t.name)
        except KafkaError as exc:
            r.error_code = exc.code
            r.error_message = exc.message
    return DeleteTopicsResponse(responses=out)


