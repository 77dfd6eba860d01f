"""Produce (key 0), versions 3-12 served; 0-12 advertised.

Behaviour: each partition's records must be exactly one RecordBatch v2; it is validated from its header
(magic, lengths, CRC32C, count vs lastOffsetDelta), checked against the topic's max.message.bytes and
timestamp bounds, given offsets by rewriting its base offset in place and stored as sent (a topic whose
compression.type names another codec gets the batch recompressed first, off the hot path, as in Kafka). A topic
with schema validation (confluent.value.schema.validation ...) has its records read and checked against the schema
registry; a refused batch answers INVALID_RECORD with each bad record in record_errors. acks 0, 1 and
-1 (all) are served: with one log shared by all replicas, an appended batch is fully replicated; acks=all
answers NOT_ENOUGH_REPLICAS when fewer replicas than min.insync.replicas are in sync (brokers stopped). A
partition this broker does not lead answers NOT_LEADER_OR_FOLLOWER (with the current leader, v10+). With
acks=0 nothing is answered, and a failed partition closes the connection, as Kafka does so the client
refreshes its metadata. Any other acks value answers INVALID_REQUIRED_ACKS.
Quotas (KIP-219, as KafkaApis): the request's record bytes count against the client's producer_byte_rate, and
(acks 1 and all) the handler's time against its request_percentage; the larger throttle is answered in
throttle_time_ms at once and the connection reads nothing more for that long (with acks=0 it is muted too).
Version notes: v0-2 are advertised for librdkafka (KAFKA-18659) like Kafka 4, but not served. v5 adds
log_start_offset; v8 error_message; v8 record_errors (the records schema-at-producer refused, by index); v10+ current_leader and node_endpoints (KIP-951) with
NOT_LEADER_OR_FOLLOWER, so the client goes to the new leader without a metadata round trip; v12 is v11
(transaction v2 is not advertised); v13 (topic ids) is not served yet.
"""

from __future__ import annotations

from time import perf_counter_ns

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import CLOSE, NO_RESPONSE, handler
from kafkasim.handlers.authz import Op, R, allowed, topic_allowed
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.produce import (
    ProduceRequest,
    ProduceResponse,
    ProduceResponseBatchIndexAndErrorMessage,
    ProduceResponseLeaderIdAndEpoch,
    ProduceResponseNodeEndpoint,
    ProduceResponsePartitionProduceResponse,
    ProduceResponseTopicProduceResponse,
)


def error_response(req: ProduceRequest, version: int, code: int) -> ProduceResponse:
    return ProduceResponse(responses=[
        ProduceResponseTopicProduceResponse(name=t.name, partition_responses=[
            ProduceResponsePartitionProduceResponse(index=p.index, error_code=code, base_offset=-1)
            for p in t.partition_data]) for t in req.topic_data])


@handler(ApiKey.PRODUCE, (3, 12), advertised_min=0, error_response=error_response)
def produce(ctx, req: ProduceRequest):
    if req.acks not in (-1, 0, 1):
        return error_response(req, ctx.api_version, ErrorCode.INVALID_REQUIRED_ACKS)
    state = ctx.state
    started = perf_counter_ns() if state.quotas.active else 0
    node_id = ctx.node_id
    acks = req.acks
    authorizing = state.acls.enabled
    if authorizing and req.transactional_id and not allowed(ctx, Op.WRITE, R.TRANSACTIONAL_ID, req.transactional_id):
        return error_response(req, ctx.api_version, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    failed = False
    leaders: set[int] = set()
    topics = []
    for t in req.topic_data:
        parts = []
        denied = authorizing and not topic_allowed(ctx, Op.WRITE, t.name)
        for pd in t.partition_data:
            r = ProduceResponsePartitionProduceResponse(index=pd.index)
            if denied:
                failed = True
                r.error_code, r.base_offset = ErrorCode.TOPIC_AUTHORIZATION_FAILED, -1
                parts.append(r)
                continue
            try:
                res = state.append(t.name, pd.index, pd.records, node_id, acks)
            except KafkaError as exc:
                failed = True
                r.error_code = exc.code
                r.error_message = exc.message
                r.base_offset = -1
                if exc.record_errors and ctx.api_version >= 8:
                    r.record_errors = [ProduceResponseBatchIndexAndErrorMessage(batch_index=i, batch_index_error_message=m)
                                       for i, m in exc.record_errors]
                if exc.code == ErrorCode.NOT_LEADER_OR_FOLLOWER and ctx.api_version >= 10:
                    p = state.partition(t.name, pd.index)
                    r.current_leader = ProduceResponseLeaderIdAndEpoch(leader_id=p.leader, leader_epoch=p.leader_epoch)
                    leaders.add(p.leader)
            else:
                r.base_offset = res.base_offset
                r.log_append_time_ms = res.log_append_time
                r.log_start_offset = res.log_start_offset
            parts.append(r)
        topics.append(ProduceResponseTopicProduceResponse(name=t.name, partition_responses=parts))
    state.appended()  # fsync "always": durable before the answer
    throttle = _throttle(ctx, req, started) if started else 0
    if acks == 0:
        return CLOSE if failed else NO_RESPONSE
    resp = ProduceResponse(responses=topics, throttle_time_ms=throttle)
    if leaders:
        resp.node_endpoints = [ProduceResponseNodeEndpoint(node_id=b.node_id, host=host, port=port, rack=b.rack)
                               for b in state.brokers_by_id(leaders) for host, port in (b.address(ctx.listener),)]
    return resp


def _throttle(ctx, req: ProduceRequest, started: int) -> int:
    """Record the request against the client's quotas; mute the connection for the larger throttle."""
    state = ctx.state
    quotas = state.quotas
    now = state.clock.now_ms()
    size = sum(len(pd.records) for t in req.topic_data for pd in t.partition_data if pd.records is not None)
    bandwidth = quotas.record_produce(ctx.principal, ctx.client_id, size, now)
    request = 0 if req.acks == 0 else quotas.record_request_time(ctx.principal, ctx.client_id,
                                                                 perf_counter_ns() - started, now)
    throttle = max(bandwidth, request)
    if throttle > 0:
        ctx.throttle(throttle)
    return throttle
