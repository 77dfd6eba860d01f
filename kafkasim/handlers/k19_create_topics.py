"""CreateTopics (key 19), versions 2-7.

Behaviour: per topic: name legality and collisions (INVALID_TOPIC_EXCEPTION), TOPIC_ALREADY_EXISTS,
partitions (-1 for num.partitions; <= 0 INVALID_PARTITIONS), replication factor (-1 default; more than the
brokers INVALID_REPLICATION_FACTOR), manual assignments, and configs (unknown names or bad values
INVALID_CONFIG). validate_only checks everything and creates nothing. A name given twice in one request
fails with INVALID_REQUEST for that name. More than 10000 partitions in one request fail the whole request
with POLICY_VIOLATION, as Kafka's controller does (so no request can make the broker allocate unbounded
partitions).
Version notes: v5+ returns partitions, replication factor and the topic's configs; v7 topic ids.
"""

from __future__ import annotations

from collections import Counter

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.authz import Op, R, allowed, require_topic
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.create_topics import (
    CreateTopicsRequest,
    CreateTopicsResponse,
    CreateTopicsResponseCreatableTopicConfigs,
    CreateTopicsResponseCreatableTopicResult,
)
from kafkasim.state.topics import check_partition_budget


def error_response(req: CreateTopicsRequest, version: int, code: int) -> CreateTopicsResponse:
    return CreateTopicsResponse(topics=[CreateTopicsResponseCreatableTopicResult(name=t.name, error_code=code)
                                        for t in req.topics])


def requested_partitions(state, req: CreateTopicsRequest) -> int:
    """Partitions the whole request would create (invalid counts add none)."""
    return sum(max(0, state.new_topic_size(t.num_partitions, t.replication_factor,
                                           {a.partition_index: a.broker_ids for a in t.assignments} or None)[0])
               for t in req.topics)


@handler(ApiKey.CREATE_TOPICS, (2, 7), error_response=error_response)
def create_topics(ctx, req: CreateTopicsRequest) -> CreateTopicsResponse:
    state = ctx.state
    try:
        check_partition_budget(requested_partitions(state, req))
    except KafkaError as exc:
        resp = error_response(req, ctx.api_version, exc.code)
        for r in resp.topics:
            r.error_message = exc.message
        return resp
    counts = Counter(t.name for t in req.topics)
    cluster_create = allowed(ctx, Op.CREATE, R.CLUSTER)
    results = []
    for t in req.topics:
        r = CreateTopicsResponseCreatableTopicResult(name=t.name)
        results.append(r)
        if counts[t.name] > 1:
            r.error_code = ErrorCode.INVALID_REQUEST
            r.error_message = f"Create topics request from client contains multiple entries for topic {t.name}"
            continue
        assignments = {a.partition_index: list(a.broker_ids) for a in t.assignments} or None
        configs = {c.name: c.value for c in t.configs}
        try:
            if not cluster_create:
                require_topic(ctx, Op.CREATE, t.name)
            if len(configs) != len(t.configs):
                raise KafkaError(ErrorCode.INVALID_CONFIG, "Duplicate config keys in the request")
            created = state.create_topic(t.name, t.num_partitions, t.replication_factor, configs, assignments,
                                         req.validate_only)
            r.num_partitions, r.replication_factor = state.new_topic_size(t.num_partitions, t.replication_factor,
                                                                          assignments)
            if created is not None:
                r.topic_id = created.topic_id
                entries = state.describe_topic_configs(t.name, None)
            else:
                entries = []
            r.configs = [CreateTopicsResponseCreatableTopicConfigs(
                name=e.name, value=e.value, read_only=e.read_only, config_source=e.source,
                is_sensitive=e.sensitive) for e in entries]
        except KafkaError as exc:
            r.error_code = exc.code
            r.error_message = exc.message
    return CreateTopicsResponse(topics=results)
