"""The kafkasim command: serve prints one ready line, stops cleanly on SIGTERM; topics commands work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

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


# ------------------------------------------------------------------ control API commands (fault, clock, records,
# wait, broker, leader) against a real `kafkasim serve --control-port 0` process


class Controlled:
    """A `kafkasim serve --port 0 --control-port 0 ...` process: its bootstraps (by cluster) and control URL."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "kafkasim", "serve", "--port", "0", "--control-port", "0",
                                      *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # blocks until the ready line or EOF (process death)
        if not line.startswith("kafkasim ready "):
            self.close()
            raise AssertionError(f"no ready line: {line!r} {self.proc.stderr.read()}")
        fields = dict(part.split("=", 1) for part in line.split()[2:])
        self.control = fields.pop("control")
        self.bootstraps = fields

    def env(self, **more: str) -> dict[str, str]:
        return {"KAFKASIM_CONTROL": self.control, "KAFKASIM_CONTROL_TOKEN": "", **more}

    def cli(self, *args: str, **env: str):
        return CliRunner().invoke(main, list(args), env=self.env(**env))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def controlled() -> Iterator[Callable[..., Controlled]]:
    made: list[Controlled] = []

    def start(*args: str) -> Controlled:
        made.append(Controlled(*args))
        return made[-1]

    yield start
    for c in made:
        c.close()


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None, list]]) -> None:
    from kafkasim.protocol.api import ApiKey
    from kafkasim.protocol.messages import produce as pr
    from kafkasim.protocol.records import Record, build_batch
    from kafkasim.testing.wire import WireClient

    batch = build_batch([Record(0, 1_700_000_000_000 + i, k, v, h) for i, (k, v, h) in enumerate(records)])
    with WireClient(bootstrap) as c:
        resp = c.request(ApiKey.PRODUCE, pr.ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[
            pr.ProduceRequestTopicProduceData(name=topic, partition_data=[
                pr.ProduceRequestPartitionProduceData(index=0, records=batch)])]))
    assert resp.responses[0].partition_responses[0].error_code == 0


def test_cli_fault_add_list_remove_clear_seed(controlled) -> None:
    s = controlled()
    r = s.cli("fault", "add", "error", "--api", "produce", "--topic", "orders", "--error", "not_leader_or_follower",
              "--count", "2")
    assert r.exit_code == 0 and r.output == "1\n", r.output
    r = s.cli("fault", "add", "delay", "--api", "Fetch", "--delay-ms", "200", "--probability", "0.5",
              "--partition", "0")
    assert r.output == "2\n", r.output
    r = s.cli("fault", "list")
    assert r.exit_code == 0 and r.output.splitlines() == [
        "1  error  api=PRODUCE topic=orders count=2 error=NOT_LEADER_OR_FOLLOWER  fired=0",
        "2  delay  api=FETCH partition=0 delay_ms=200 probability=0.5  fired=0"]
    assert s.cli("fault", "remove", "1").output == "removed rule 1 (fired 0 times)\n"
    r = s.cli("fault", "remove", "1")
    assert r.exit_code == 1 and "no fault rule 1" in r.output
    r = s.cli("fault", "add", "error", "--api", "Produce")
    assert r.exit_code == 1 and "needs an error" in r.output
    r = s.cli("fault", "add", "delay", "--api", "NoSuchApi")
    assert r.exit_code == 1 and "unknown api" in r.output
    assert s.cli("fault", "seed", "7").output == "seeded with 7\n"
    assert s.cli("fault", "clear").output == "removed 1 rule(s)\n"
    assert s.cli("fault", "list").output == ""


def test_cli_clock_show_and_advance(controlled) -> None:
    s = controlled("--clock", "virtual")
    now, _date, kind = s.cli("clock", "show").output.split()
    assert kind == "virtual"
    r = s.cli("clock", "advance", "--hours", "2", "--minutes", "1", "--seconds", "1", "--ms", "1")
    assert r.exit_code == 0, r.output
    assert int(r.output.split()[0]) == int(now) + 7_261_001
    assert s.cli("clock", "show").output.split()[0] == r.output.split()[0]
    assert s.cli("clock", "advance", "--ms", "-1").exit_code == 2  # a usage error, nothing sent
    wall = controlled()
    r = wall.cli("clock", "advance", "--seconds", "1")
    assert r.exit_code == 1 and "wall clock" in r.output
    assert wall.cli("clock", "show").output.split()[2] == "wall"


def test_cli_records_lines_and_json(controlled) -> None:
    import json

    s = controlled()
    bootstrap = s.bootstraps["bootstrap"]
    assert CliRunner().invoke(main, ["topics", "create", "orders", "-b", bootstrap]).exit_code == 0
    _produce(bootstrap, "orders", [(b"k1", b"v1", [("trace-id", b"abc")]), (b"\xff", b"\x00\x01", []),
                                   (b"k1", None, [("trace-id", b"xyz")])])
    r = s.cli("records", "orders")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        "orders-0@0 2023-11-14T22:13:20.000Z key='k1' value='v1' headers: trace-id='abc'",
        "orders-0@1 2023-11-14T22:13:20.001Z key=0xff value=0x0001",
        "orders-0@2 2023-11-14T22:13:20.002Z key='k1' value=null headers: trace-id='xyz'"]
    assert [line[:10] for line in s.cli("records", "orders", "--key", "k1").output.splitlines()] == [
        "orders-0@0", "orders-0@2"]
    assert s.cli("records", "orders", "--header", "trace-id=xyz").output.startswith("orders-0@2 ")
    assert len(s.cli("records", "orders", "--start", "1", "--end", "2", "--partition", "0").output.splitlines()) == 1
    assert len(s.cli("records", "orders", "--limit", "2", "--isolation", "read_committed").output.splitlines()) == 2
    answer = json.loads(s.cli("records", "orders", "--json", "--limit", "2").output)
    assert [r["key_base64"] for r in answer["records"]] == ["azE=", "/w=="]
    r = s.cli("records", "nope")
    assert r.exit_code == 1 and "topic 'nope'" in r.output and "does not host" in r.output
    assert s.cli("records", "orders", "--header", "no-equals").exit_code == 2


def test_cli_wait_records_met_and_timed_out(controlled) -> None:
    s = controlled()
    bootstrap = s.bootstraps["bootstrap"]
    assert CliRunner().invoke(main, ["topics", "create", "orders", "-b", bootstrap]).exit_code == 0
    _produce(bootstrap, "orders", [(b"k1", b"v1", [("trace-id", b"abc")]), (b"k2", b"v2", [])])
    r = s.cli("wait", "records", "orders", "--count", "2", "--timeout", "5")
    assert r.exit_code == 0 and len(r.output.splitlines()) == 2, r.output
    r = s.cli("wait", "records", "orders", "--header", "trace-id=abc", "--key", "k1", "--partition", "0")
    assert r.exit_code == 0 and r.output.startswith("orders-0@0 "), r.output
    # the real command in its own process: exit status 1 and what was there instead, on stderr
    res = subprocess.run([sys.executable, "-m", "kafkasim", "wait", "records", "orders", "--header", "trace-id=nope",
                          "--timeout", "0.2"], capture_output=True, text=True, timeout=60, env={**os.environ,
                                                                                                **s.env()})
    assert res.returncode == 1 and res.stdout == ""
    assert "timed out after 0.2s" in res.stderr and "has 0 record(s)" in res.stderr
    assert "orders-0@1" in res.stderr  # the last records of the topic


def test_cli_wait_group_met_and_timed_out(controlled) -> None:
    from kafkasim.protocol.api import ApiKey
    from kafkasim.protocol.messages import offset_commit as oc
    from kafkasim.testing.wire import WireClient

    s = controlled()
    bootstrap = s.bootstraps["bootstrap"]
    assert CliRunner().invoke(main, ["topics", "create", "orders", "-b", bootstrap]).exit_code == 0
    _produce(bootstrap, "orders", [(None, b"v", [])] * 3)
    with WireClient(bootstrap) as c:
        c.request(ApiKey.OFFSET_COMMIT, oc.OffsetCommitRequest(group_id="billing", topics=[
            oc.OffsetCommitRequestOffsetCommitRequestTopic(name="orders", partitions=[
                oc.OffsetCommitRequestOffsetCommitRequestPartition(partition_index=0, committed_offset=1)])]))
    r = s.cli("wait", "group", "billing", "--state", "Empty")
    assert r.exit_code == 0 and r.output.splitlines() == [
        "group billing  state=Empty  generation=0  protocol=-/-  members=0",
        "  orders-0  committed=1  log-end=3  lag=2"]
    r = s.cli("wait", "group", "billing", "--zero-lag", "--timeout", "0.1")
    assert r.exit_code == 1 and "zero lag" in r.output and "('orders', 0): 2" in r.output
    r = s.cli("wait", "group", "billing", "--state", "Calm", "--timeout", "0.1")
    assert r.exit_code == 1 and "unknown group state" in r.output


def test_cli_broker_and_leader_commands(controlled) -> None:
    s = controlled("--brokers", "3")
    bootstrap = s.bootstraps["bootstrap"].split(",")[0]
    assert CliRunner().invoke(main, ["topics", "create", "t", "-p", "1", "-r", "3", "-b", bootstrap]).exit_code == 0
    r = s.cli("broker", "list")
    assert [line.split()[0::2] for line in r.output.splitlines()[1:]] == [["1", "-"], ["2", "-"], ["3", "-"]]
    assert all(line.endswith("running") for line in r.output.splitlines()[1:])
    assert s.cli("broker", "stop", "2", "--crash").output == "broker 2 crashed\n"
    assert s.cli("broker", "list").output.splitlines()[2].endswith("stopped (in metadata)")
    r = s.cli("broker", "stop", "2")
    assert r.exit_code == 1 and "not running" in r.output
    assert s.cli("broker", "start", "2").output.startswith("broker 2 started on 127.0.0.1:")
    assert s.cli("broker", "rack", "3", "eu-1c").output == "broker 3 rack eu-1c\n"
    assert s.cli("broker", "list").output.splitlines()[3].split()[2] == "eu-1c"
    assert s.cli("broker", "rack", "3", "").output == "broker 3 rack -\n"
    r = s.cli("leader", "move", "t", "0", "3")
    assert r.exit_code == 0 and r.output.startswith("t-0 leader=3 epoch=1"), r.output
    r = s.cli("leader", "move", "t", "0", "7")
    assert r.exit_code == 1 and "not a replica" in r.output
    assert s.cli("leader", "elect", "t").output == "t-0\n"
    assert s.cli("leader", "elect").output == "no leader moved\n"
    r = s.cli("broker", "stop", "9")
    assert r.exit_code == 1 and "no broker 9" in r.output


def test_cli_control_token_and_cluster_choice(controlled) -> None:
    s = controlled("--cluster", "fronting", "--cluster", "consumer:2", "--control-token", "s3cret")
    assert set(s.bootstraps) == {"fronting", "consumer"}
    r = s.cli("broker", "list", "--cluster", "consumer")
    assert r.exit_code == 1 and "token" in r.output
    r = s.cli("broker", "list", "--cluster", "consumer", "--token", "s3cret")
    assert r.exit_code == 0 and len(r.output.splitlines()) == 3, r.output
    r = s.cli("fault", "list", KAFKASIM_CONTROL_TOKEN="s3cret")
    assert r.exit_code == 1 and "--cluster" in r.output and "fronting, consumer" in r.output
    r = s.cli("fault", "add", "drop", "--cluster", "fronting", KAFKASIM_CONTROL_TOKEN="s3cret")
    assert r.exit_code == 0 and r.output == "1\n"
    r = s.cli("fault", "list", "--cluster", "nope", KAFKASIM_CONTROL_TOKEN="s3cret")
    assert r.exit_code == 1 and "no cluster 'nope'" in r.output


def test_cli_control_unreachable_names_the_url() -> None:
    r = CliRunner().invoke(main, ["fault", "list", "--control", "http://127.0.0.1:1"], env={"KAFKASIM_CONTROL_TOKEN": ""})
    assert r.exit_code == 1 and "cannot reach the control API at http://127.0.0.1:1" in r.output


def test_cli_import_and_help_do_not_load_aiohttp() -> None:
    probe = ("import sys, kafkasim.cli; from click.testing import CliRunner; "
             "CliRunner().invoke(kafkasim.cli.main, ['fault', '--help']); print(sorted(m for m in sys.modules "
             "if m.split('.')[0] in ('aiohttp', 'urllib') and m != 'urllib.parse'))")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "aiohttp" not in res.stdout and "urllib.request" not in res.stdout, res.stdout


def test_cli_admin_commands_ask_the_leaders_and_coordinators_of_a_multi_broker_cluster() -> None:
    from kafkasim import Cluster
    from kafkasim.protocol.records import Record, build_batch

    with Cluster(brokers=3).run_in_thread() as cluster:
        cluster.create_topic("spread", 3, replication_factor=3)
        now = 1_700_000_000_000
        for p in range(3):
            for _ in range(p + 1):
                cluster.call(lambda p=p: cluster.state.append("spread", p, memoryview(bytearray(
                    build_batch([Record(0, now, b"k", b"v")])))))
        groups = [g for g in (f"g{i}" for i in range(50)) if cluster.coordinator(g) != 1][:2]
        for g in groups:
            assert cluster.call(lambda g=g: cluster.state.groups.commit_offsets(
                g, -1, "", None, [("spread", p, 1, -1, "") for p in range(3)])) == [0, 0, 0]
        first = cluster.brokers()[0].bootstrap  # broker 1: neither coordinator, and leader of one partition only
        runner = CliRunner()
        described = runner.invoke(main, ["topics", "describe", "spread", "-b", first])
        assert described.exit_code == 0, described.output
        for p in range(3):
            status = cluster.partition_status("spread", p)
            assert (f"partition {p}  leader={status.leader}  epoch=0  replicas={','.join(map(str, status.replicas))}  "
                    f"isr={','.join(map(str, status.isr))}  start=0  end={p + 1}") in described.output
        listed = runner.invoke(main, ["groups", "list", "-b", first])
        assert listed.exit_code == 0 and all(g in listed.output for g in groups), listed.output
        shown = runner.invoke(main, ["groups", "describe", groups[0], "-b", first])
        assert shown.exit_code == 0, shown.output
        lags = [line.split() for line in shown.output.splitlines() if line.strip().startswith("spread")]
        assert [(r[1], r[2], r[3], r[4]) for r in lags] == [("0", "1", "1", "0"), ("1", "1", "2", "1"),
                                                            ("2", "1", "3", "2")]


def serve_ready_line(*args: str) -> tuple[subprocess.Popen, dict[str, str]]:
    """Start ``kafkasim serve ARGS``; return the process and its ready line as {name: value}."""
    proc = subprocess.Popen([sys.executable, "-m", "kafkasim", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("kafkasim ready "):
        proc.kill()
        raise AssertionError(f"no ready line: {line!r} {proc.stderr.read()}")
    return proc, dict(item.split("=", 1) for item in line.split()[2:])


def consecutive_free_ports(n: int) -> int:
    """The first of ``n`` consecutive 127.0.0.1 ports that were all free a moment ago."""
    import socket

    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + n > 65535:
            continue
        held = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
        return base
    raise AssertionError(f"no {n} consecutive free ports")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    proc.stdout.close()
    proc.stderr.close()


def test_cli_serve_brokers_and_racks() -> None:
    from kafkasim.protocol.api import ApiKey
    from kafkasim.protocol.messages import metadata as md
    from kafkasim.testing.wire import WireClient

    proc, ready = serve_ready_line("--port", "0", "--brokers", "3", "--racks", "east,west")
    try:
        addresses = ready["bootstrap"].split(",")
        assert len(addresses) == 3 and len(set(addresses)) == 3
        with WireClient(addresses[2]) as c:
            meta = c.request(ApiKey.METADATA, md.MetadataRequest(topics=None))
        assert [(b.node_id, b.rack, f"{b.host}:{b.port}") for b in meta.brokers] == [
            (1, "east", addresses[0]), (2, "west", addresses[1]), (3, "east", addresses[2])]
    finally:
        stop(proc)


def test_cli_serve_several_clusters_take_consecutive_ports(tmp_path) -> None:
    from kafkasim.protocol.api import ApiKey
    from kafkasim.protocol.messages import metadata as md
    from kafkasim.testing.wire import WireClient

    base = consecutive_free_ports(5)
    proc, ready = serve_ready_line("--port", str(base), "--cluster", "fronting:3", "--cluster", "consumer:2",
                                   "--data-dir", str(tmp_path))
    try:
        assert ready["fronting"] == ",".join(f"127.0.0.1:{base + i}" for i in range(3))
        assert ready["consumer"] == ",".join(f"127.0.0.1:{base + i}" for i in range(3, 5))
        ids = set()
        for name in ("fronting", "consumer"):
            with WireClient(ready[name].split(",")[0]) as c:
                ids.add(c.request(ApiKey.METADATA, md.MetadataRequest(topics=None)).cluster_id)
        assert len(ids) == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == ["consumer", "fronting"]
    finally:
        stop(proc)


def test_cli_serve_config_file(tmp_path) -> None:
    config = tmp_path / "clusters.toml"
    config.write_text('[defaults]\nnum-partitions = 4\n\n[clusters.east]\nbrokers = 2\nracks = ["a", "b"]\n\n'
                      '[clusters.west]\nbrokers = 1\ncluster_id = "west-cluster-id-00000"\n')
    proc, ready = serve_ready_line("--port", "0", "--config", str(config), "--auto-create-topics")
    try:
        assert len(ready["east"].split(",")) == 2 and len(ready["west"].split(",")) == 1
        from kafkasim.protocol.api import ApiKey
        from kafkasim.protocol.messages import metadata as md
        from kafkasim.testing.wire import WireClient

        with WireClient(ready["west"]) as c:
            meta = c.request(ApiKey.METADATA, md.MetadataRequest(topics=[md.MetadataRequestMetadataRequestTopic(
                name="auto")]))
        assert meta.cluster_id == "west-cluster-id-00000" and len(meta.topics[0].partitions) == 4
    finally:
        stop(proc)


@pytest.mark.parametrize("args,message", [
    (["--kafka-version", "0.8"], "older than 0.10.0"),
    (["--cluster", "a", "--cluster", "a"], "must differ"),
    (["--cluster", "bad name"], "NAME or NAME:BROKERS"),
    (["--racks", ","], "rack names"),
    (["--brokers", "0"], "0"),
], ids=["old-release", "same-name", "bad-name", "no-racks", "no-brokers"])
def test_cli_serve_bad_cluster_options_are_usage_errors(args: list[str], message: str) -> None:
    res = CliRunner().invoke(main, ["serve", "--port", "0", *args])
    assert res.exit_code == 2 and message in res.output, res.output


def test_cli_serve_bad_config_file_is_a_usage_error(tmp_path) -> None:
    config = tmp_path / "c.toml"
    for text, message in (('[clusters.a]\nbrokerz = 3\n', "unknown setting 'brokerz'"),
                          ('[nonsense]\n', "unknown tables"),
                          ('[clusters.a]\nport = 9092\n[clusters.b]\nport = 9092\n', "share ports"),
                          ('[clusters.a\n', "c.toml")):
        config.write_text(text)
        res = CliRunner().invoke(main, ["serve", "--config", str(config)])
        assert res.exit_code == 2 and message in res.output, (text, res.output)


def test_cli_listeners_and_connections(controlled) -> None:
    s = controlled("--listeners", "PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
                   "--listener-security-protocol-map", "INTERNAL:PLAINTEXT")
    internal = s.bootstraps["INTERNAL"]
    assert s.bootstraps["PLAINTEXT"] == s.bootstraps["bootstrap"] != internal
    r = s.cli("listeners")
    assert [line.split()[:2] for line in r.output.splitlines()[1:]] == [["PLAINTEXT", "PLAINTEXT"],
                                                                        ["INTERNAL", "PLAINTEXT"]]
    assert r.output.splitlines()[2].endswith(internal)
    from kafkasim.protocol.api import ApiKey
    from kafkasim.protocol.messages import metadata
    from kafkasim.testing.wire import WireClient

    with WireClient(internal) as c:
        resp = c.request(ApiKey.METADATA, metadata.MetadataRequest(topics=None))
        assert [f"{b.host}:{b.port}" for b in resp.brokers] == [internal]  # the listener it came in on
        r = s.cli("connections")
        rows = [line.split() for line in r.output.splitlines()[1:]]
        assert [row[2:3] + row[4:] for row in rows] == [["INTERNAL", "User:ANONYMOUS", "-"]], r.output



def test_cli_acls_quotas_and_users(controlled) -> None:
    s = controlled("--listeners", "PLAINTEXT://127.0.0.1:0", "--user", "alice:alice-secret", "--authorizer",
                   "--super-users", "User:ANONYMOUS")
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, AdminClient, ResourcePatternType
    from confluent_kafka.admin import ResourceType as Rt

    admin = AdminClient({"bootstrap.servers": s.bootstraps["bootstrap"]})
    for f in admin.create_acls([AclBinding(Rt.TOPIC, "orders", ResourcePatternType.PREFIXED, "User:alice", "*",
                                           AclOperation.WRITE, AclPermissionType.ALLOW)]).values():
        f.result()
    r = s.cli("acls")
    assert r.output.splitlines()[1].split() == ["TOPIC:orders", "PREFIXED", "User:alice", "*", "WRITE", "ALLOW"]
    assert s.cli("users").output.split() == ["alice", "plain=yes", "scram=SCRAM-SHA-256:4096", "SCRAM-SHA-512:4096"]
    assert s.cli("quotas").output == ""
