"""Raw transaction requests whose answers clients only summarise, checked against kafkasim and (with
``--against kafka``) the reference broker."""

from __future__ import annotations

from compat_tests.clients.pyclients import poll_until
from kafkasim.errors import ErrorCode
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import create_topics as ct
from kafkasim.protocol.messages import find_coordinator as fc
from kafkasim.protocol.messages import txn_offset_commit as toc
from kafkasim.testing.wire import WireClient

#: Kafka answers these while its coordinators load (and COORDINATOR_NOT_AVAILABLE to a TxnOffsetCommit while
#: __transaction_state does not exist yet: the group coordinator verifies with the transaction coordinator);
#: kafkasim's coordinators are always there
LOADING = {ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR}


def test_txn_offset_commit_of_a_transactional_id_the_coordinator_does_not_know(bootstrap_servers: str,
                                                                                topic_name: str) -> None:
    """INVALID_PRODUCER_ID_MAPPING (49) on every version, as Kafka 4.4 answers (issue 14, item 10)."""
    group, txn_id = f"g-{topic_name}", f"tx-{topic_name}"
    with WireClient(bootstrap_servers, client_id="txn-raw") as c:
        c.request(ApiKey.CREATE_TOPICS, ct.CreateTopicsRequest(timeout_ms=10_000, topics=[
            ct.CreateTopicsRequestCreatableTopic(name=topic_name, num_partitions=1, replication_factor=1)]))

        def coordinators_ready() -> bool:
            found = [c.request(ApiKey.FIND_COORDINATOR, fc.FindCoordinatorRequest(key_type=kind, coordinator_keys=[key]),
                               version=4).coordinators[0].error_code for kind, key in ((0, group), (1, txn_id))]
            return found == [0, 0]

        poll_until(coordinators_ready, "the group and transaction coordinators")
        answers = {}
        for version in (0, 3, 4):
            request = toc.TxnOffsetCommitRequest(
                transactional_id=txn_id, group_id=group, producer_id=123_456, producer_epoch=0, generation_id=-1,
                member_id="", topics=[toc.TxnOffsetCommitRequestTxnOffsetCommitRequestTopic(name=topic_name, partitions=[
                    toc.TxnOffsetCommitRequestTxnOffsetCommitRequestPartition(partition_index=0, committed_offset=5)])])

            def answer(req: toc.TxnOffsetCommitRequest = request, v: int = version) -> int | None:
                code = c.request(ApiKey.TXN_OFFSET_COMMIT, req, version=v).topics[0].partitions[0].error_code
                return None if code in LOADING else code

            answers[version] = poll_until(answer, f"TxnOffsetCommit v{version} past the coordinators' loading")
    assert answers == {v: ErrorCode.INVALID_PRODUCER_ID_MAPPING for v in (0, 3, 4)}
