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

from kafkasim.errors import ErrorCode, KafkaError
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
    every = req.topic_partitions is None
    wanted = ([(t.name, [p.index for p in t.partitions]) for t in state.topics.values()] if every
              else [(t.topic, t.partitions) for t in req.topic_partitions])
    results = []
    for topic, partitions in wanted:
        out = []
        for index in partitions:
            r = el.ElectLeadersResponsePartitionResult(partition_id=index, error_message=None)
            try:
                state.elect_leader(topic, index, election == UNCLEAN)
            except KafkaError as exc:
                if every and exc.code == ErrorCode.ELECTION_NOT_NEEDED:
                    continue
                r.error_code, r.error_message = exc.code, exc.message
            out.append(r)
        if out or not every:
            results.append(el.ElectLeadersResponseReplicaElectionResult(topic=topic, partition_result=out))
    return el.ElectLeadersResponse(replica_election_results=results)
