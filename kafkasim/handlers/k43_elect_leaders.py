"""ElectLeaders (key 43), versions 0-2.

Behaviour: a preferred election (type 0) makes each partition's first replica its leader when that replica
is in sync and its broker is not fenced (PREFERRED_LEADER_NOT_AVAILABLE otherwise, ELECTION_NOT_NEEDED
when it already leads); an unclean election (type 1) gives a partition without a leader its first running
replica (ELECTION_NOT_NEEDED when it has a leader, ELIGIBLE_LEADERS_NOT_AVAILABLE when none runs). Either
bumps the leader epoch. Null topic_partitions means every partition, and then only the partitions that
got a new leader are listed, as Kafka does. Unknown partitions answer UNKNOWN_TOPIC_OR_PARTITION. Any
broker answers (Kafka forwards it to the controller).
Version notes: v1 election_type and the top-level error code (INVALID_REQUEST for an unknown type); v2
flexible.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode
from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import elect_leaders as el

PREFERRED = 0
UNCLEAN = 1


@handler(ApiKey.ELECT_LEADERS, (0, 2))
def elect_leaders(ctx, req: el.ElectLeadersRequest) -> el.ElectLeadersResponse:
    state = ctx.state
    election = req.election_type if ctx.api_version >= 1 else PREFERRED
    if election not in (PREFERRED, UNCLEAN):
        return el.ElectLeadersResponse(error_code=ErrorCode.INVALID_REQUEST)
    wanted = None if req.topic_partitions is None else [(t.topic, t.partitions) for t in req.topic_partitions]
    return el.ElectLeadersResponse(replica_election_results=[
        el.ElectLeadersResponseReplicaElectionResult(topic=topic, partition_result=[
            el.ElectLeadersResponsePartitionResult(partition_id=index, error_code=exc.code if exc else 0,
                                                   error_message=exc.message if exc else None)
            for index, exc in results])
        for topic, results in state.elect_leaders(wanted, election == UNCLEAN)])
