"""Per-record errors in Produce (v8+ record_errors): a batch with bad records fails whole, and the answer names
each bad record by its index in the batch, as Kafka's log validator does. Raw Produce requests over a socket, so
the test reads the field clients only summarise."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, NewTopic

from compat_tests.clients.pyclients import WAIT_S
from kafkasim.errors import ErrorCode
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import produce as pr
from kafkasim.protocol.records import Record, build_batch
from kafkasim.testing.wire import WireClient


def produce(bootstrap: str, topic: str, records: list[Record], version: int = 9) -> pr.ProduceResponsePartitionProduceResponse:
    request = pr.ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[pr.ProduceRequestTopicProduceData(
        name=topic, partition_data=[pr.ProduceRequestPartitionProduceData(index=0, records=build_batch(records))])])
    with WireClient(bootstrap, client_id="record-errors") as c:
        resp = c.request(ApiKey.PRODUCE, request, version=version)
    [t] = resp.responses
    [p] = t.partition_responses
    return p


def test_record_errors_name_each_keyless_record_of_a_compacted_topic(bootstrap_servers: str, topic_name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    admin.create_topics([NewTopic(topic_name, 1, 1, config={"cleanup.policy": "compact"})])[topic_name].result(WAIT_S)
    now = 1_700_000_000_000
    records = [Record(0, now, b"k0", b"a"), Record(1, now, None, b"b"), Record(2, now, b"k2", b"c"),
               Record(3, now, None, b"d")]
    p = produce(bootstrap_servers, topic_name, records)
    assert p.error_code == ErrorCode.INVALID_RECORD and p.base_offset == -1
    assert [e.batch_index for e in p.record_errors] == [1, 3]
    assert p.error_message and "without key" in p.error_message
    ok = produce(bootstrap_servers, topic_name, [Record(0, now, b"k", b"ok")])
    assert (ok.error_code, ok.base_offset) == (0, 0)  # nothing of the refused batch was stored
