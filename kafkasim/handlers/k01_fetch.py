"""Fetch (key 1), versions 4-17.

Behaviour: returns stored batches as they are (no decoding), whole batches from the one holding the fetch
offset, bounded by partition_max_bytes and max_bytes; the first batch of the first non-empty partition is
returned even when larger (KIP-74). When fewer than min_bytes are available and no partition failed, the
request long-polls: it is woken by an append to any requested partition, or answers at max_wait_ms. OFFSET_OUT_OF_RANGE outside
[log start, high watermark]; FENCED/UNKNOWN_LEADER_EPOCH from current_leader_epoch (v9+). read_committed
reads only batches that start before the last stable offset (the first offset of the oldest open
transaction) and gets the aborted transactions (producer id, first offset) overlapping what it reads, so
the client drops their records; transaction markers (control batches) are served as stored, as Kafka does.
Brokers: the leader serves a partition; from v11 (a consumer with client metadata, KIP-392) any replica
does, and with replica.selector.class=RackAwareReplicaSelector the leader points a consumer whose rack_id
names another replica's rack at that replica (preferred_read_replica, no records, no waiting). Otherwise
NOT_LEADER_OR_FOLLOWER, with the current leader (v12+) and its endpoint (v16+, KIP-951).
Version notes: fetch sessions (v7+) are not kept: session_id 0 is always answered (a sessionless full
fetch, which Kafka also falls back to), and a non-zero session id gets FETCH_SESSION_ID_NOT_FOUND.
v13+ identifies topics by id (UNKNOWN_TOPIC_ID); v15 replica_state is accepted for consumers (-1).
Quotas (KIP-219, as KafkaApis): with a consumer_byte_rate, max_bytes is capped at what the quota allows in its
window (quota * 10 s) and min_bytes at that; the answer's record bytes count against the quota and the
handler's time against request_percentage. When either is exceeded the fetch is answered empty (no topics,
throttle_time_ms set, the bytes taken back off the quota) and the connection reads nothing for that long.
"""

from __future__ import annotations

from time import perf_counter_ns

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.authz import Op, topic_allowed
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.fetch import (
    FetchRequest,
    FetchResponse,
    FetchResponseAbortedTransaction,
    FetchResponseFetchableTopicResponse,
    FetchResponseLeaderIdAndEpoch,
    FetchResponseNodeEndpoint,
    FetchResponsePartitionData,
)
from kafkasim.state.partitions import PartitionState

READ_COMMITTED = 1


def error_response(req: FetchRequest, version: int, code: int) -> FetchResponse:
    """``code`` on every requested partition, as Kafka reports partition errors (the top-level error code
    is for fetch-session errors)."""
    return FetchResponse(responses=[FetchResponseFetchableTopicResponse(topic=ft.topic, topic_id=ft.topic_id, partitions=[
        FetchResponsePartitionData(partition_index=fp.partition, error_code=code, high_watermark=-1,
                                   last_stable_offset=-1, log_start_offset=-1, records=b"")
        for fp in ft.partitions]) for ft in req.topics])


def _epoch_error(p: PartitionState, current_leader_epoch: int) -> int:
    if current_leader_epoch == -1 or current_leader_epoch == p.leader_epoch:
        return 0
    if current_leader_epoch < p.leader_epoch:
        return ErrorCode.FENCED_LEADER_EPOCH
    return ErrorCode.UNKNOWN_LEADER_EPOCH


def _build(ctx, req: FetchRequest, version: int) -> tuple[FetchResponse, int, list[PartitionState], bool]:
    """(response, bytes of records, partitions a long-poll may wait on, whether any partition failed)."""
    state = ctx.state
    node_id = ctx.node_id
    remaining = req.max_bytes if req.max_bytes > 0 else 0x7FFFFFFF
    min_one = True
    total = 0
    watched: list[PartitionState] = []
    topics = []
    failed = False
    leaders: set[int] = set()
    committed = req.isolation_level == READ_COMMITTED
    follower_reads = version >= 11
    authorizing = state.acls.enabled
    for ft in req.topics:
        name = ft.topic
        tresp = FetchResponseFetchableTopicResponse(topic=name, topic_id=ft.topic_id)
        topic = None
        try:
            topic = state.topic_by_id(ft.topic_id) if version >= 13 else state.topic(name)
        except KafkaError:
            pass
        denied = authorizing and (topic is not None or version < 13) and \
            not topic_allowed(ctx, Op.READ, topic.name if topic is not None else name)
        for fp in ft.partitions:
            pr = FetchResponsePartitionData(partition_index=fp.partition, high_watermark=-1,
                                            last_stable_offset=-1, log_start_offset=-1, records=b"")
            tresp.partitions.append(pr)
            if denied:
                pr.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
                failed = True
                continue
            if topic is None or not 0 <= fp.partition < len(topic.partitions):
                pr.error_code = ErrorCode.UNKNOWN_TOPIC_ID if version >= 13 else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                failed = True
                continue
            p = topic.partitions[fp.partition]
            leads = p.leader == node_id
            if not leads and not (follower_reads and node_id in p.replicas):
                err = ErrorCode.NOT_LEADER_OR_FOLLOWER
            else:
                err = _epoch_error(p, fp.current_leader_epoch)
            if err:
                pr.error_code = err
                failed = True
                if version >= 12 and err in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.FENCED_LEADER_EPOCH):
                    pr.current_leader = FetchResponseLeaderIdAndEpoch(leader_id=p.leader, leader_epoch=p.leader_epoch)
                    leaders.add(p.leader)
                continue
            log = p.log
            hw = p.high_watermark
            lso = p.last_stable_offset
            pr.high_watermark = hw
            pr.last_stable_offset = lso
            pr.log_start_offset = log.log_start_offset
            pr.aborted_transactions = [] if committed else None
            if fp.fetch_offset < log.log_start_offset or fp.fetch_offset > hw:
                pr.error_code = ErrorCode.OFFSET_OUT_OF_RANGE
                failed = True
                continue
            if leads and follower_reads and req.rack_id:
                preferred = state.preferred_read_replica(p, req.rack_id)
                if preferred >= 0:  # KIP-392: fetch from the replica in the consumer's rack; answer at once
                    pr.preferred_read_replica = preferred
                    failed = True
                    continue
            watched.append(p)
            upto = lso if committed else hw
            if fp.fetch_offset >= upto or remaining <= 0:
                continue
            limit = min(fp.partition_max_bytes, remaining)
            views, size = state.read(p, fp.fetch_offset, limit, min_one, upto if committed else None)
            if committed and p.aborted:
                aborted = p.aborted_since(fp.fetch_offset, upto)
                if aborted:
                    pr.aborted_transactions = [FetchResponseAbortedTransaction(producer_id=a.producer_id,
                                                                               first_offset=a.first_offset)
                                               for a in aborted]
            if views:
                min_one = False
                pr.records = views[0] if len(views) == 1 else views
                total += size
                remaining -= size
        topics.append(tresp)
    resp = FetchResponse(responses=topics)
    if leaders and version >= 16:
        resp.node_endpoints = [FetchResponseNodeEndpoint(node_id=b.node_id, host=host, port=port, rack=b.rack)
                               for b in state.brokers_by_id(leaders) for host, port in (b.address(ctx.listener),)]
    return resp, total, watched, failed


@handler(ApiKey.FETCH, (4, 17), error_response=error_response)
async def fetch(ctx, req: FetchRequest) -> FetchResponse:
    version = ctx.api_version
    if version >= 7 and req.session_id != 0:
        return FetchResponse(error_code=ErrorCode.FETCH_SESSION_ID_NOT_FOUND, session_id=0)
    quotas = ctx.state.quotas.active
    started = 0
    if quotas:
        _cap_to_quota(ctx, req)
        started = perf_counter_ns()
    resp, total, watched, failed = _build(ctx, req, version)
    if not (total >= req.min_bytes or req.max_wait_ms <= 0 or not watched or failed):
        clock = ctx.state.clock
        deadline = clock.monotonic() + req.max_wait_ms / 1000.0
        while True:
            left = deadline - clock.monotonic()
            if left <= 0:
                break
            await ctx.wait_for_append(watched, left)
            if quotas:
                started = perf_counter_ns()  # time spent waiting is not request time
            resp, total, watched, failed = _build(ctx, req, version)
            if total >= req.min_bytes or not watched or failed:
                break
    if quotas:
        return _under_quota(ctx, resp, total, started)
    return resp


def _cap_to_quota(ctx, req: FetchRequest) -> None:
    limit = ctx.state.quotas.fetch_max_bytes(ctx.principal, ctx.client_id)
    if limit is not None:
        req.max_bytes = min(req.max_bytes if req.max_bytes > 0 else 0x7FFFFFFF, limit)
        req.min_bytes = min(req.min_bytes, req.max_bytes)


def _under_quota(ctx, resp: FetchResponse, total: int, started: int) -> FetchResponse:
    """Record the answer against the client's quotas; throttled, it becomes an empty answer and the
    connection is muted."""
    state = ctx.state
    quotas = state.quotas
    now = state.clock.now_ms()
    request = quotas.record_request_time(ctx.principal, ctx.client_id, perf_counter_ns() - started, now)
    bandwidth = quotas.record_fetch(ctx.principal, ctx.client_id, total, now)
    throttle = max(bandwidth, request)
    if throttle <= 0:
        return resp
    quotas.unrecord_fetch(ctx.principal, ctx.client_id, total, now)
    ctx.throttle(throttle)
    return FetchResponse(throttle_time_ms=throttle, session_id=0, node_endpoints=resp.node_endpoints)
