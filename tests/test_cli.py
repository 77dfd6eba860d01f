"""The kafkasim command: serve prints one ready line, stops cleanly on SIGTERM; topics commands work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from kafkasim.cli import main


def start_serve(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "kafkasim", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # blocks until the ready line or EOF (process death)
    if not line.startswith("kafkasim ready bootstrap="):
        proc.kill()
        raise AssertionError(f"no ready line: {line!r} {proc.stderr.read()}")
    return proc, line.strip().split("=", 1)[1]


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen, str]]:
    proc, bootstrap = start_serve()
    try:
        yield proc, bootstrap
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_cli_serve_prints_one_ready_line_and_stops_on_sigterm(served) -> None:
    proc, bootstrap = served
    host, port = bootstrap.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert proc.stdout.read() == ""  # exactly one line on stdout


def test_cli_serve_port_in_use_fails_with_message(served) -> None:
    _proc, bootstrap = served
    port = bootstrap.rsplit(":", 1)[1]
    res = subprocess.run([sys.executable, "-m", "kafkasim", "serve", "--port", port], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode != 0
    assert "cannot listen" in res.stderr


def test_cli_topics_create_list_describe_delete(served) -> None:
    _proc, bootstrap = served
    runner = CliRunner()
    env = {"KAFKASIM_BOOTSTRAP": bootstrap}
    r = runner.invoke(main, ["topics", "create", "orders", "-p", "3", "-c", "retention.ms=1000"], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["topics", "create", "orders"], env=env)
    assert r.exit_code == 1 and "TOPIC_ALREADY_EXISTS" in r.output
    r = runner.invoke(main, ["topics", "list"], env=env)
    assert r.output.split() == ["orders"]
    r = runner.invoke(main, ["topics", "describe", "orders"], env=env)
    assert r.exit_code == 0, r.output
    assert "partitions=3" in r.output and "retention.ms=1000  (set)" in r.output
    r = runner.invoke(main, ["topics", "delete", "orders"], env=env)
    assert r.exit_code == 0 and "deleted orders" in r.output
    r = runner.invoke(main, ["topics", "list"], env=env)
    assert r.output.split() == []


def test_cli_topics_unreachable_broker_reports_error() -> None:
    r = CliRunner().invoke(main, ["topics", "list", "-b", "127.0.0.1:1"], env=dict(os.environ))
    assert r.exit_code == 1 and "cannot connect" in r.output


def test_cli_groups_list_and_describe_show_offsets_and_lag(served) -> None:
    from kafkasim.protocol.api import ApiKey
    from kafkasim.protocol.messages import offset_commit as oc
    from kafkasim.protocol.messages import produce as pr
    from kafkasim.protocol.records import Record, build_batch
    from kafkasim.testing.wire import WireClient

    _proc, bootstrap = served
    runner = CliRunner()
    env = {"KAFKASIM_BOOTSTRAP": bootstrap}
    assert runner.invoke(main, ["topics", "create", "orders", "-p", "2"], env=env).exit_code == 0
    with WireClient(bootstrap) as c:
        batch = build_batch([Record(0, 1_700_000_000_000, None, b"v") for _ in range(5)])
        resp = c.request(ApiKey.PRODUCE, pr.ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[
            pr.ProduceRequestTopicProduceData(name="orders", partition_data=[
                pr.ProduceRequestPartitionProduceData(index=0, records=batch)])]))
        assert resp.responses[0].partition_responses[0].error_code == 0
        resp = c.request(ApiKey.OFFSET_COMMIT, oc.OffsetCommitRequest(group_id="billing", topics=[
            oc.OffsetCommitRequestOffsetCommitRequestTopic(name="orders", partitions=[
                oc.OffsetCommitRequestOffsetCommitRequestPartition(partition_index=0, committed_offset=2)])]))
        assert resp.topics[0].partitions[0].error_code == 0
    r = runner.invoke(main, ["groups", "list"], env=env)
    assert r.exit_code == 0 and r.output.split() == ["billing", "Empty", "-"]
    r = runner.invoke(main, ["groups", "describe", "billing"], env=env)
    assert r.exit_code == 0, r.output
    row = [line.split() for line in r.output.splitlines() if line.strip().startswith("orders")]
    assert row == [["orders", "0", "2", "5", "3", "-"]]


def _data_dir_with_records(path) -> None:
    from kafkasim.config import BrokerConfig
    from kafkasim.protocol.records import Record, build_batch
    from kafkasim.state.cluster import ClusterState

    state = ClusterState(BrokerConfig(data_dir=str(path)))
    state.open()
    state.register_broker(1, "127.0.0.1", 9092)
    state.create_topic("orders", 2)
    recs = [Record(0, 1_700_000_000_000 + i, b"k%d" % i, b"v%d" % i, [("trace-id", b"abc%d" % i)]) for i in range(3)]
    state.append("orders", 0, memoryview(bytearray(build_batch(recs))))
    state.append("orders", 0, memoryview(bytearray(build_batch([Record(0, 1_700_000_000_100, None, b"\xff\x00")]))))
    state.close()


def test_cli_inspect_lists_partitions_segments_and_records(tmp_path) -> None:
    _data_dir_with_records(tmp_path)
    runner = CliRunner()
    out = runner.invoke(main, ["inspect", "--data-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "clean shutdown" in out.output
    rows = {line.split()[0]: line.split() for line in out.output.splitlines()[2:]}
    assert rows["orders-0"][1:4] == ["1", "0", "4"]
    assert "orders-1" not in rows  # never written: no directory yet
    assert "__cluster_metadata-0" in rows
    out = runner.invoke(main, ["inspect", "--data-dir", str(tmp_path), "orders", "0", "--offset", "1"])
    assert out.exit_code == 0, out.output
    assert "2 batches, offsets 0-3" in out.output
    lines = [line.strip() for line in out.output.splitlines() if line.strip().startswith("offset=")]
    assert len(lines) == 3 and lines[0].startswith("offset=1 timestamp=2023-11-14T22:13:20.001Z")
    assert "key='k1' value='v1' headers: trace-id='abc1'" in lines[0]
    assert lines[2].endswith("key=null value=0xff00")


def test_cli_inspect_reports_a_damaged_segment_and_exits_1(tmp_path) -> None:
    _data_dir_with_records(tmp_path)
    seg = tmp_path / "orders-0" / "00000000000000000000.log"
    data = bytearray(seg.read_bytes())
    data[-3] ^= 0x10  # flip a bit inside the last batch's records
    seg.write_bytes(bytes(data))
    out = CliRunner().invoke(main, ["inspect", "--data-dir", str(tmp_path), "orders"])
    assert out.exit_code == 1
    assert "DAMAGED at byte" in out.output and "CRC32C mismatch" in out.output


def test_cli_inspect_unknown_topic_fails_with_message(tmp_path) -> None:
    _data_dir_with_records(tmp_path)
    out = CliRunner().invoke(main, ["inspect", "--data-dir", str(tmp_path), "nope"])
    assert out.exit_code != 0 and "no partition directory for nope" in out.output


def test_cli_serve_refuses_a_data_dir_in_use(tmp_path) -> None:
    proc, _ = start_serve("--data-dir", str(tmp_path))
    try:
        second = subprocess.run([sys.executable, "-m", "kafkasim", "serve", "--port", "0", "--data-dir", str(tmp_path)],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert "is in use by another broker" in second.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    assert (tmp_path / ".kafkasim_cleanshutdown").exists()


def test_cli_transactions_list_and_describe_show_an_open_transaction(served) -> None:
    from kafkasim.protocol.api import ApiKey
    from kafkasim.protocol.messages import add_partitions_to_txn as ap
    from kafkasim.protocol.messages import init_producer_id as ip
    from kafkasim.protocol.messages import produce as pr
    from kafkasim.protocol.records import Record, build_batch
    from kafkasim.testing.wire import WireClient

    _proc, bootstrap = served
    runner = CliRunner()
    env = {"KAFKASIM_BOOTSTRAP": bootstrap}
    assert runner.invoke(main, ["topics", "create", "ledger", "-p", "2"], env=env).exit_code == 0
    with WireClient(bootstrap) as c:
        init = c.request(ApiKey.INIT_PRODUCER_ID, ip.InitProducerIdRequest(transactional_id="wal-1",
                                                                           transaction_timeout_ms=60000))
        assert init.error_code == 0
        pid, epoch = init.producer_id, init.producer_epoch
        added = c.request(ApiKey.ADD_PARTITIONS_TO_TXN, ap.AddPartitionsToTxnRequest(
            v3_and_below_transactional_id="wal-1", v3_and_below_producer_id=pid, v3_and_below_producer_epoch=epoch,
            v3_and_below_topics=[ap.AddPartitionsToTxnRequestAddPartitionsToTxnTopic(name="ledger", partitions=[1])]),
            3)
        assert added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code == 0
        batch = build_batch([Record(0, 1_700_000_000_000, b"k", b"v")] * 3, producer_id=pid, producer_epoch=epoch,
                            base_sequence=0, transactional=True)
        resp = c.request(ApiKey.PRODUCE, pr.ProduceRequest(transactional_id="wal-1", acks=-1, timeout_ms=5000,
                                                           topic_data=[pr.ProduceRequestTopicProduceData(
                                                               name="ledger", partition_data=[
                                                                   pr.ProduceRequestPartitionProduceData(
                                                                       index=1, records=batch)])]))
        assert resp.responses[0].partition_responses[0].error_code == 0
    r = runner.invoke(main, ["transactions", "list"], env=env)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[1].split() == ["wal-1", str(pid), "Ongoing"]
    assert runner.invoke(main, ["transactions", "list", "--state", "CompleteCommit"], env=env).output.count("\n") == 1
    r = runner.invoke(main, ["transactions", "describe", "wal-1"], env=env)
    assert r.exit_code == 0, r.output
    assert f"wal-1: Ongoing, producer {pid} epoch {epoch}, timeout 60000 ms" in r.output
    assert "ledger-1: open transaction from offset 0" in r.output
    r = runner.invoke(main, ["transactions", "describe", "nope"], env=env)
    assert r.exit_code != 0 and "TRANSACTIONAL_ID_NOT_FOUND" in r.output
