"""OffsetFetch (key 9), versions 1-9.

Behaviour: committed offsets (with metadata and leader epoch) of the requested partitions, -1 where none
is committed; all committed partitions when topics is null (v2+). With require_stable (v7+) a partition
with a transactional commit (TxnOffsetCommit) still open answers UNSTABLE_OFFSET_COMMIT and offset -1, as
Kafka does; the client retries. One group per request up to v7, several groups in v8+. Only a group's
coordinator answers for it: NOT_COORDINATOR elsewhere (per group in v8+, per partition in v1).
ACLs: DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED, per group in v8+), DESCRIBE per topic
(TOPIC_AUTHORIZATION_FAILED on requested partitions; left out of an all-topics answer).
Version notes: v2 top-level error_code; v5 leader epoch; v6 flexible; v8 groups array; v9
member_id/member_epoch (consumer protocol; not checked for classic groups); v10 (topic ids) not served.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode
from kafkasim.handlers import handler
from kafkasim.handlers.authz import allowed, denied_topics
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import offset_fetch as of
from kafkasim.state.acls import AclOperation, ResourceType
from kafkasim.state.leadership import GROUP_KEY


def _lookup(ctx, group_id: str, topics, require_stable: bool
            ) -> list[tuple[str, list[tuple[int, int, int, str, int]]]]:
    """[(topic, [(partition, offset, leader epoch, metadata, error)])] in request order (or all committed)."""
    wanted = None if topics is None else [(t.name, p) for t in topics for p in t.partition_indexes]
    groups = ctx.state.groups
    out: dict[str, list] = {}
    for topic, p, e in groups.committed(group_id, wanted):
        if require_stable and groups.has_pending_txn_offset(group_id, topic, p):
            out.setdefault(topic, []).append((p, -1, -1, "", ErrorCode.UNSTABLE_OFFSET_COMMIT))
            continue
        out.setdefault(topic, []).append((p, e.offset if e else -1, e.leader_epoch if e else -1,
                                          e.metadata if e else "", 0))
    if ctx.state.acls.enabled:  # DESCRIBE per topic: requested ones fail, the rest of "all" are left out
        denied = denied_topics(ctx, AclOperation.DESCRIBE, out)
        for topic in denied:
            if topics is None:
                del out[topic]
            else:
                out[topic] = [(p, -1, -1, "", ErrorCode.TOPIC_AUTHORIZATION_FAILED) for p, *_ in out[topic]]
    return list(out.items())


def error_response(req: of.OffsetFetchRequest, version: int, code: int) -> of.OffsetFetchResponse:
    """``code`` for the whole request: per group (v8+), at the top (v2-7), per partition (v1)."""
    if version >= 8:
        return of.OffsetFetchResponse(groups=[of.OffsetFetchResponseOffsetFetchResponseGroup(
            group_id=g.group_id, error_code=code) for g in req.groups])
    if version >= 2:
        return of.OffsetFetchResponse(error_code=code)
    return of.OffsetFetchResponse(topics=[of.OffsetFetchResponseOffsetFetchResponseTopic(name=t.name, partitions=[
        of.OffsetFetchResponseOffsetFetchResponsePartition(partition_index=p, committed_offset=-1, error_code=code)
        for p in t.partition_indexes]) for t in req.topics or []])


@handler(ApiKey.OFFSET_FETCH, (1, 9), error_response=error_response,
         coordinator=(GROUP_KEY, lambda req, version: req.group_id if version < 8 else None))
def offset_fetch(ctx, req: of.OffsetFetchRequest) -> of.OffsetFetchResponse:
    if ctx.api_version >= 8:
        groups = []
        for g in req.groups:
            err = ErrorCode.INVALID_GROUP_ID if not g.group_id else 0
            if not err and not allowed(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, g.group_id):
                err = ErrorCode.GROUP_AUTHORIZATION_FAILED
            if not err and not ctx.state.coordinates(GROUP_KEY, g.group_id, ctx.node_id):
                err = ErrorCode.NOT_COORDINATOR
            topics = [] if err else _lookup(ctx, g.group_id, g.topics, req.require_stable)
            groups.append(of.OffsetFetchResponseOffsetFetchResponseGroup(group_id=g.group_id, error_code=err, topics=[
                of.OffsetFetchResponseOffsetFetchResponseTopics(name=t, partitions=[
                    of.OffsetFetchResponseOffsetFetchResponsePartitions(
                        partition_index=p, committed_offset=o, committed_leader_epoch=le, metadata=m, error_code=pe)
                    for p, o, le, m, pe in parts]) for t, parts in topics]))
        return of.OffsetFetchResponse(groups=groups)
    if not allowed(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, req.group_id):
        return error_response(req, ctx.api_version, ErrorCode.GROUP_AUTHORIZATION_FAILED)
    if not req.group_id:
        return of.OffsetFetchResponse(error_code=ErrorCode.INVALID_GROUP_ID)
    topics = _lookup(ctx, req.group_id, req.topics, ctx.api_version >= 7 and req.require_stable)
    return of.OffsetFetchResponse(topics=[of.OffsetFetchResponseOffsetFetchResponseTopic(name=t, partitions=[
        of.OffsetFetchResponseOffsetFetchResponsePartition(partition_index=p, committed_offset=o,
                                                           committed_leader_epoch=le, metadata=m, error_code=pe)
        for p, o, le, m, pe in parts]) for t, parts in topics])
