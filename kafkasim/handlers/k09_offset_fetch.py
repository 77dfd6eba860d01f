"""OffsetFetch (key 9), versions 1-9.

Behaviour: committed offsets (with metadata and leader epoch) of the requested partitions, -1 where none
is committed; all committed partitions when topics is null (v2+). require_stable (v7+) never waits here:
no transactional offsets exist yet. One group per request up to v7, several groups in v8+.
Version notes: v2 top-level error_code; v5 leader epoch; v6 flexible; v8 groups array; v9
member_id/member_epoch (consumer protocol; not checked for classic groups); v10 (topic ids) not served.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode
from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import offset_fetch as of


def _lookup(ctx, group_id: str, topics) -> list[tuple[str, list[tuple[int, int, int, str]]]]:
    """[(topic, [(partition, offset, leader epoch, metadata)])] in request order (or all committed)."""
    wanted = None if topics is None else [(t.name, p) for t in topics for p in t.partition_indexes]
    out: dict[str, list] = {}
    for topic, p, e in ctx.state.groups.committed(group_id, wanted):
        out.setdefault(topic, []).append((p, e.offset if e else -1, e.leader_epoch if e else -1,
                                          e.metadata if e else ""))
    return list(out.items())


@handler(ApiKey.OFFSET_FETCH, (1, 9))
def offset_fetch(ctx, req: of.OffsetFetchRequest) -> of.OffsetFetchResponse:
    if ctx.api_version >= 8:
        groups = []
        for g in req.groups:
            err = ErrorCode.INVALID_GROUP_ID if not g.group_id else 0
            topics = [] if err else _lookup(ctx, g.group_id, g.topics)
            groups.append(of.OffsetFetchResponseOffsetFetchResponseGroup(group_id=g.group_id, error_code=err, topics=[
                of.OffsetFetchResponseOffsetFetchResponseTopics(name=t, partitions=[
                    of.OffsetFetchResponseOffsetFetchResponsePartitions(
                        partition_index=p, committed_offset=o, committed_leader_epoch=le, metadata=m)
                    for p, o, le, m in parts]) for t, parts in topics]))
        return of.OffsetFetchResponse(groups=groups)
    if not req.group_id:
        return of.OffsetFetchResponse(error_code=ErrorCode.INVALID_GROUP_ID)
    topics = _lookup(ctx, req.group_id, req.topics)
    return of.OffsetFetchResponse(topics=[of.OffsetFetchResponseOffsetFetchResponseTopic(name=t, partitions=[
        of.OffsetFetchResponseOffsetFetchResponsePartition(partition_index=p, committed_offset=o,
                                                           committed_leader_epoch=le, metadata=m)
        for p, o, le, m in parts]) for t, parts in topics])
