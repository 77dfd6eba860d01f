"""The HTTP control API (kafkasim/control/http.py) over real sockets against real in-process clusters: every
route's success and error answers, bytes surviving JSON exactly, waits and their timeout messages, the
token, the body limit, and the routes registered being exactly the paths openapi.json documents."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Callable

import pytest

from kafkasim.control import ControlServer
from kafkasim.control.common import (
    API_KEYS,
    API_NAMES,
    ERROR_CODES,
    ERROR_NAMES,
    MAX_BODY_BYTES,
    OPENAPI_PATH,
    UNDOCUMENTED_PATHS,
)
from kafkasim.control.http import ROUTES
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import metadata as md
from kafkasim.protocol.messages import offset_commit as oc
from kafkasim.testing import Cluster
from kafkasim.testing.wire import WireClient
from tests.control.conftest import Api, produce

C = "/clusters/default"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit offsets for ``group`` over the wire (the group is Empty: a commit from outside it)."""
    with WireClient(bootstrap) as c:
        resp = c.request(ApiKey.OFFSET_COMMIT, oc.OffsetCommitRequest(group_id=group, topics=[
            oc.OffsetCommitRequestOffsetCommitRequestTopic(name=topic, partitions=[
                oc.OffsetCommitRequestOffsetCommitRequestPartition(partition_index=p, committed_offset=o)
                for p, o in offsets.items()])]))
    assert [p.error_code for p in resp.topics[0].partitions] == [0] * len(offsets)


# ------------------------------------------------------------------------------------------ clusters


def test_http_clusters_describe_the_single_unnamed_cluster_as_default(api: Api) -> None:
    [summary] = api.ok("GET", "/clusters")["clusters"]
    assert summary == api.ok("GET", C)
    assert summary["name"] == "default" and summary["cluster_id"] == api.cluster.cluster_id
    assert summary["bootstrap"] == api.cluster.bootstrap_servers
    assert [(b["node_id"], b["running"], b["fenced"], b["rack"]) for b in summary["brokers"]] == [
        (1, True, False, None), (2, True, False, None), (3, True, False, None)]
    assert summary["clock"] == {"virtual": True, "now_ms": api.cluster.clock.now_ms()}


def test_http_clusters_are_named_and_an_unknown_one_is_404(control_factory: Callable[..., Api]) -> None:
    a = control_factory(Cluster(name="fronting"), Cluster(name="consumer", brokers=2))
    assert [c["name"] for c in a.ok("GET", "/clusters")["clusters"]] == ["fronting", "consumer"]
    assert len(a.ok("GET", "/clusters/consumer")["brokers"]) == 2
    err = a.error("GET", "/clusters/default", status=404)
    assert "fronting" in err["error"] and "consumer" in err["error"]
    for path in ("/brokers", "/faults", "/clock", "/groups", "/topics/t/records"):
        a.error("GET", "/clusters/nope" + path, status=404)


def test_http_cluster_names_must_differ() -> None:
    with pytest.raises(ValueError, match="differ"):
        ControlServer([Cluster(name="x"), Cluster(name="x")])


# ------------------------------------------------------------------------------------------ brokers


def test_http_broker_stop_start_and_crash(api: Api) -> None:
    api.ok("POST", C + "/topics", {"name": "t", "partitions": 1, "replication_factor": 3}, status=201)
    leader = api.ok("GET", C + "/topics/t/partitions/0")["leader"]
    stopped = api.ok("POST", f"{C}/brokers/{leader}/stop", {"controlled": True})
    assert (stopped["node_id"], stopped["running"], stopped["fenced"]) == (leader, False, True)
    moved = api.ok("GET", C + "/topics/t/partitions/0")
    assert moved["leader"] != leader and leader not in moved["isr"] and moved["leader_epoch"] == 1
    assert str(stopped["port"]) not in api.ok("GET", C)["bootstrap"]
    assert "not running" in api.error("POST", f"{C}/brokers/{leader}/stop", status=409)["error"]

    started = api.ok("POST", f"{C}/brokers/{leader}/start")  # no body at all
    assert (started["running"], started["fenced"], started["port"]) == (True, False, stopped["port"])
    assert "already running" in api.error("POST", f"{C}/brokers/{leader}/start", {}, status=409)["error"]

    crashed = api.ok("POST", f"{C}/brokers/{leader}/stop", {"controlled": False})
    assert (crashed["running"], crashed["fenced"]) == (False, False)  # a crash: still in the metadata
    assert api.ok("GET", C + "/brokers")["brokers"][leader - 1] == crashed


def test_http_broker_errors(api: Api) -> None:
    assert "no broker 9" in api.error("POST", f"{C}/brokers/9/stop", status=404)["error"]
    api.error("POST", f"{C}/brokers/9/start", status=404)
    api.error("PUT", f"{C}/brokers/9/rack", {"rack": "a"}, status=404)
    assert "integer" in api.error("POST", f"{C}/brokers/one/stop")["error"]
    assert "boolean" in api.error("POST", f"{C}/brokers/1/stop", {"controlled": "yes"})["error"]
    assert "unknown field" in api.error("POST", f"{C}/brokers/1/stop", {"clean": True})["error"]
    api.error("POST", f"{C}/brokers/1/start", {"now": True})
    assert api.ok("GET", C + "/brokers")["brokers"][0]["running"]  # nothing happened


def test_http_broker_rack(api: Api) -> None:
    assert api.ok("PUT", f"{C}/brokers/2/rack", {"rack": "eu-1b"})["rack"] == "eu-1b"
    assert [b["rack"] for b in api.ok("GET", C + "/brokers")["brokers"]] == [None, "eu-1b", None]
    assert [b.rack for b in api.cluster.brokers()] == [None, "eu-1b", None]
    assert api.ok("PUT", f"{C}/brokers/2/rack", {"rack": None})["rack"] is None
    assert "required" in api.error("PUT", f"{C}/brokers/2/rack", {})["error"]
    assert "string" in api.error("PUT", f"{C}/brokers/2/rack", {"rack": 3})["error"]


# ------------------------------------------------------------------------------ topics and partitions


def test_http_create_topic(api: Api) -> None:
    created = api.ok("POST", C + "/topics", {"name": "orders", "partitions": 3, "replication_factor": 2,
                                              "configs": {"retention.ms": "3600000"}}, status=201)
    assert created["name"] == "orders"
    assert [(p["partition"], len(p["replicas"]), p["isr"] == p["replicas"]) for p in created["partitions"]] == [
        (0, 2, True), (1, 2, True), (2, 2, True)]
    assert api.cluster.state.topics["orders"].configs["retention.ms"] == "3600000"
    defaults = api.ok("POST", C + "/topics", {"name": "plain"}, status=201)
    assert [len(p["replicas"]) for p in defaults["partitions"]] == [1]  # num.partitions, replication factor 1

    exists = api.error("POST", C + "/topics", {"name": "orders"}, status=409)
    assert exists["kafka_error"] == "TOPIC_ALREADY_EXISTS" and "orders" in exists["error"]
    assert api.error("POST", C + "/topics", {"name": "a/b"})["kafka_error"] == "INVALID_TOPIC_EXCEPTION"
    assert api.error("POST", C + "/topics", {"name": "x", "partitions": 0})["kafka_error"] == "INVALID_PARTITIONS"
    assert api.error("POST", C + "/topics", {"name": "x", "replication_factor": 4})["kafka_error"] == \
        "INVALID_REPLICATION_FACTOR"
    assert api.error("POST", C + "/topics", {"name": "x", "partitions": 10_001})["kafka_error"] == \
        "POLICY_VIOLATION"
    assert api.error("POST", C + "/topics", {"name": "x", "configs": {"retention.mss": "1"}})["kafka_error"] == \
        "INVALID_CONFIG"
    assert "must be a string or null" in api.error("POST", C + "/topics",
                                                   {"name": "x", "configs": {"retention.ms": 5}})["error"]
    assert "required" in api.error("POST", C + "/topics", {"partitions": 1})["error"]
    assert "x" not in api.cluster.state.topics


def test_http_partition_status_and_leader_move(api: Api) -> None:
    api.ok("POST", C + "/topics", {"name": "t", "partitions": 2, "replication_factor": 2}, status=201)
    p0 = api.ok("GET", C + "/topics/t/partitions/0")
    assert p0 == {"topic": "t", "partition": 0, "leader": p0["replicas"][0], "leader_epoch": 0,
                  "replicas": p0["replicas"], "isr": p0["replicas"]}
    follower = p0["replicas"][1]
    moved = api.ok("POST", C + "/topics/t/partitions/0/leader", {"node_id": follower})
    assert (moved["leader"], moved["leader_epoch"]) == (follower, 1)
    assert api.cluster.leader("t", 0) == follower
    outsider = ({1, 2, 3} - set(p0["replicas"])).pop()
    assert "not a replica" in api.error("POST", C + "/topics/t/partitions/0/leader", {"node_id": outsider},
                                        status=409)["error"]

    err = api.error("GET", C + "/topics/t/partitions/2", status=404)
    assert err["kafka_error"] == "UNKNOWN_TOPIC_OR_PARTITION" and "t-2" in err["error"]
    api.error("GET", C + "/topics/nope/partitions/0", status=404)
    api.error("POST", C + "/topics/nope/partitions/0/leader", {"node_id": 1}, status=404)
    api.error("GET", C + "/topics/t/partitions/x")
    api.error("GET", C + "/topics/t/partitions/-1")
    api.error("POST", C + "/topics/t/partitions/0/leader", {"node_id": "2"})
    api.error("POST", C + "/topics/t/partitions/0/leader", {})


def test_http_elect_preferred_leaders(api: Api) -> None:
    api.ok("POST", C + "/topics", {"name": "t", "partitions": 2, "replication_factor": 2}, status=201)
    p1 = api.ok("GET", C + "/topics/t/partitions/1")
    api.ok("POST", C + "/topics/t/partitions/1/leader", {"node_id": p1["replicas"][1]})
    assert api.ok("POST", C + "/elect-leaders", {"topic": "t"}) == {"moved": [{"topic": "t", "partition": 1}]}
    assert api.ok("GET", C + "/topics/t/partitions/1")["leader"] == p1["replicas"][0]
    assert api.ok("POST", C + "/elect-leaders") == {"moved": []}  # no body: every topic
    api.error("POST", C + "/elect-leaders", {"topic": "nope"}, status=404)
    api.error("POST", C + "/elect-leaders", {"topic": 1})


# ------------------------------------------------------------------------------------------ records


def test_http_records_keep_binary_and_text_bytes_exact(api: Api) -> None:
    api.cluster.create_topic("bin", 1)
    binary = bytes(range(256))
    produce(api.cluster, "bin", 0, [
        (b"\xff\xfe", binary, [("trace", b"\x00\x80"), ("null", None), ("text", "é".encode())]),
        (None, None, []),
        ("ключ".encode(), b"", [("trace", b"abc")]),
    ])
    r0, r1, r2 = api.ok("GET", C + "/topics/bin/records")["records"]
    assert (r0["key"], base64.b64decode(r0["key_base64"])) == (None, b"\xff\xfe")  # not UTF-8: text is null
    assert (r0["value"], base64.b64decode(r0["value_base64"])) == (None, binary)
    assert r0["headers"] == [{"name": "trace", "value": None, "value_base64": b64(b"\x00\x80")},
                             {"name": "null", "value": None, "value_base64": None},
                             {"name": "text", "value": "é", "value_base64": b64("é".encode())}]
    assert (r1["key"], r1["key_base64"], r1["value"], r1["value_base64"], r1["headers"]) == (None, None, None, None,
                                                                                            [])
    assert (r2["key"], r2["key_base64"], r2["value"], r2["value_base64"]) == ("ключ", b64("ключ".encode()), "", "")
    assert [r["offset"] for r in (r0, r1, r2)] == [0, 1, 2]
    assert r0 == {**r0, "topic": "bin", "partition": 0, "timestamp": 1_700_000_000_000, "timestamp_type":
                  "CreateTime", "producer_id": -1, "producer_epoch": -1, "sequence": -1, "transactional": False,
                  "txn_state": None}
    # the JSON is exactly what the Python API sees
    py = api.cluster.records("bin")
    assert [(r.key, r.value, r.headers) for r in py] == [
        (base64.b64decode(r["key_base64"]) if r["key_base64"] else None,
         base64.b64decode(r["value_base64"]) if r["value_base64"] is not None else None,
         [(h["name"], None if h["value_base64"] is None else base64.b64decode(h["value_base64"]))
          for h in r["headers"]]) for r in (r0, r1, r2)]


def test_http_records_filters(api: Api) -> None:
    api.cluster.create_topic("t", 2)
    produce(api.cluster, "t", 0, [(b"k%d" % i, b"v%d" % i, [("trace-id", b"id-%d" % (i % 2))]) for i in range(6)])
    produce(api.cluster, "t", 1, [(b"\x01\x02", b"bin-key", [("trace-id", b"\xff:x")])])

    def offsets(query: str) -> list[tuple[int, int]]:
        return [(r["partition"], r["offset"]) for r in api.ok("GET", f"{C}/topics/t/records?{query}")["records"]]

    assert offsets("") == [(0, i) for i in range(6)] + [(1, 0)]
    assert offsets("partition=1") == [(1, 0)]
    assert offsets("partition=0&start=2&end=4") == [(0, 2), (0, 3)]
    assert offsets("limit=2") == [(0, 0), (0, 1)]
    assert offsets("key=k3") == [(0, 3)]
    assert offsets("key_base64=" + b64(b"\x01\x02").replace("+", "%2B")) == [(1, 0)]
    assert offsets("header=trace-id:id-1") == [(0, 1), (0, 3), (0, 5)]
    assert offsets("header_base64=trace-id:" + b64(b"\xff:x")) == [(1, 0)]
    assert offsets("isolation=read_committed&partition=0&limit=1") == [(0, 0)]
    assert offsets("partition=0&start=100") == []


def test_http_records_errors(api: Api) -> None:
    api.cluster.create_topic("t", 1)
    err = api.error("GET", C + "/topics/nope/records", status=404)
    assert err["kafka_error"] == "UNKNOWN_TOPIC_OR_PARTITION" and "nope" in err["error"]
    assert api.error("GET", C + "/topics/t/records?partition=5", status=404)["kafka_error"] == \
        "UNKNOWN_TOPIC_OR_PARTITION"
    for query, words in (("partition=x", "integer"), ("limit=-1", ">= 0"), ("start=1.5", "integer"),
                         ("isolation=dirty", "isolation"), ("key=a&key_base64=YQ==", "not both"),
                         ("key_base64=%%%", "base64"), ("header=no-colon", "NAME:VALUE"),
                         ("header=a:1&header=b:2", "at most one"), ("header=a:1&header_base64=b:YQ==", "at most one"),
                         ("partiton=0", "unknown query parameter"), ("limit=1&limit=2", "more than once"),
                         ("partition=1_0", "integer")):
        assert words in api.error("GET", f"{C}/topics/t/records?{query}")["error"], query


# ---------------------------------------------------------------------------------------------- faults


def test_http_faults_add_list_fire_remove_clear(api: Api) -> None:
    rule = api.ok("POST", C + "/faults", {"action": "throttle", "api": "Metadata", "client_id": "probe",
                                           "throttle_ms": 250}, status=201)
    assert rule == {**rule, "action": "throttle", "api": "METADATA", "api_key": 3, "client_id": "probe",
                    "throttle_ms": 250, "fired": 0, "count": None, "probability": 1.0, "error": None}
    error_rule = api.ok("POST", C + "/faults", {"action": "error", "api": 0, "topic": "orders",
                                                 "error": "NOT_LEADER_OR_FOLLOWER", "count": 2}, status=201)
    assert (error_rule["api"], error_rule["error"], error_rule["error_code"]) == ("PRODUCE",
                                                                                 "NOT_LEADER_OR_FOLLOWER", 6)
    assert [r.id for r in api.cluster.faults.list()] == [rule["id"], error_rule["id"]]

    with WireClient(api.cluster.bootstrap_servers, client_id="probe") as c:
        resp = c.request(ApiKey.METADATA, md.MetadataRequest(topics=[]))
    assert resp.throttle_time_ms == 250  # the rule added over HTTP fired on a real request
    listed = api.ok("GET", C + "/faults")["faults"]
    assert [(r["id"], r["fired"]) for r in listed] == [(rule["id"], 1), (error_rule["id"], 0)]

    removed = api.ok("DELETE", f"{C}/faults/{rule['id']}")
    assert (removed["id"], removed["fired"]) == (rule["id"], 1)
    assert "no fault rule" in api.error("DELETE", f"{C}/faults/{rule['id']}", status=404)["error"]
    api.error("DELETE", f"{C}/faults/x", status=404)  # not a rule id: no such route
    assert api.ok("DELETE", C + "/faults") == {"removed": 1}
    assert api.ok("GET", C + "/faults") == {"faults": []} and api.cluster.faults.list() == []


def test_http_faults_seed_makes_probabilities_reproducible(api: Api) -> None:
    def pattern(seed: int) -> list[bool]:
        assert api.ok("POST", C + "/faults/seed", {"seed": seed}) == {"seed": seed}
        api.ok("DELETE", C + "/faults")
        api.ok("POST", C + "/faults", {"action": "throttle", "api": "Metadata", "probability": 0.5,
                                        "throttle_ms": 100}, status=201)
        with WireClient(api.cluster.bootstrap_servers) as c:
            return [c.request(ApiKey.METADATA, md.MetadataRequest(topics=[])).throttle_time_ms == 100
                    for _ in range(30)]

    first = pattern(7)
    assert 0 < sum(first) < len(first)
    assert api.cluster.faults.seed == 7
    assert pattern(7) == first
    assert pattern(8) != first  # 2**-30 to be equal
    api.error("POST", C + "/faults/seed", {})
    api.error("POST", C + "/faults/seed", {"seed": "7"})


@pytest.mark.parametrize(("body", "words"), [
    ({"action": "explode"}, "unknown action"),
    ({"action": "error"}, "needs an error"),
    ({"action": "error", "error": "NO_SUCH_ERROR"}, "unknown error"),
    ({"action": "error", "error": 99999}, "unknown error"),
    ({"action": "delay", "api": "Produc"}, "unknown api"),
    ({"action": "delay", "api": 9999}, "unknown api"),
    ({"action": "delay", "probability": 1.5}, "probability"),
    ({"action": "delay", "count": -1}, "count"),
    ({"action": "delay", "count": True}, "integer"),
    ({"action": "delay", "delay_ms": -5}, "delay_ms"),
    ({"action": "throttle", "throttle_ms": 2**31}, "INT32"),
    ({"action": "delay", "speed": 1}, "unknown field"),
    ({"api": "Produce"}, "required"),
    ([{"action": "delay"}], "JSON object"),
])
def test_http_faults_refuse_bad_rules(api: Api, body: object, words: str) -> None:
    assert words in api.error("POST", C + "/faults", body)["error"]
    assert api.cluster.faults.list() == []


def test_http_faults_accept_every_documented_api_and_error_name() -> None:
    """The names openapi.json enumerates are the names the server takes, and Faults.add resolves each."""
    doc = json.loads(OPENAPI_PATH.read_text())
    props = doc["components"]["schemas"]["NewFaultRequest"]["properties"]
    api_enum, key_enum = props["api"]["anyOf"][0]["anyOf"]
    assert (api_enum["enum"], key_enum["enum"]) == (API_NAMES, API_KEYS)
    error_enum, code_enum = props["error"]["anyOf"][0]["anyOf"]
    assert (error_enum["enum"], code_enum["enum"]) == (ERROR_NAMES, ERROR_CODES)
    from kafkasim.server.faults import Faults

    faults = Faults()
    assert {ApiKey(faults.add("delay", api=name).api_key).name for name in API_NAMES} == {k.name for k in ApiKey}


# ----------------------------------------------------------------------------------------------- clock


def test_http_clock_advance(api: Api) -> None:
    start = api.ok("GET", C + "/clock")
    assert start == {"virtual": True, "now_ms": api.cluster.clock.now_ms()}
    after = api.ok("POST", C + "/clock/advance", {"ms": 5, "seconds": 1.5, "minutes": 2, "hours": 1})
    assert after == {"virtual": True, "now_ms": start["now_ms"] + 5 + 1500 + 120_000 + 3_600_000}
    assert api.cluster.clock.now_ms() == after["now_ms"]
    assert api.ok("POST", C + "/clock/advance")["now_ms"] == after["now_ms"]  # no body: by nothing
    for body, words in (({"ms": -1}, ">= 0"), ({"hours": "1"}, "number"), ({"days": 1}, "unknown field"),
                        ({"hours": 10**9}, "<=")):
        assert words in api.error("POST", C + "/clock/advance", body)["error"]
    assert "JSON" in api.error("POST", C + "/clock/advance", raw=b'{"ms": NaN}')["error"]
    assert api.cluster.clock.now_ms() == after["now_ms"]


def test_http_clock_advance_on_a_wall_clock_is_409(control_factory: Callable[..., Api]) -> None:
    a = control_factory(Cluster())
    assert a.ok("GET", C + "/clock")["virtual"] is False
    assert "wall clock" in a.error("POST", C + "/clock/advance", {"seconds": 1}, status=409)["error"]


# ----------------------------------------------------------------------------------------------- waits


def test_http_wait_records_answers_when_they_arrive(api: Api) -> None:
    api.cluster.create_topic("orders", 2)
    answers: list = []
    waiter = threading.Thread(target=lambda: answers.append(api.post(C + "/wait/records", {
        "topic": "orders", "count": 2, "header": {"name": "trace-id", "value": "abc"}, "timeout": 20})))
    waiter.start()
    produce(api.cluster, "orders", 1, [(b"k", b"v1", [("trace-id", b"abc")]), (b"k", b"other", [])])
    produce(api.cluster, "orders", 0, [(b"k", b"v2", [("trace-id", b"abc")])])
    waiter.join(30)
    [answer] = answers
    assert answer.status == 200, answer.body
    assert [(r["partition"], r["value"]) for r in answer.body["records"]] == [(0, "v2"), (1, "v1")]


def test_http_wait_records_filters_by_binary_key_and_header(api: Api) -> None:
    api.cluster.create_topic("t", 1)
    produce(api.cluster, "t", 0, [(b"\x00k", b"a", [("h", b"\xff")]), (b"\x00k", b"b", [("h", None)])])
    body = {"topic": "t", "key_base64": b64(b"\x00k"), "timeout": 5}
    assert [r["value"] for r in api.ok("POST", C + "/wait/records", body)["records"]] == ["a", "b"]
    body["header"] = {"name": "h", "value_base64": b64(b"\xff")}
    assert [r["value"] for r in api.ok("POST", C + "/wait/records", body)["records"]] == ["a"]
    body["header"] = {"name": "h", "value": None}  # a null header value
    assert [r["value"] for r in api.ok("POST", C + "/wait/records", body)["records"]] == ["b"]
    body = {"topic": "t", "key": "\x00k", "partition": 0, "isolation": "read_committed", "timeout": 5}
    assert len(api.ok("POST", C + "/wait/records", body)["records"]) == 2


def test_http_wait_records_timeout_says_what_was_there(api: Api) -> None:
    api.cluster.create_topic("orders", 1)
    produce(api.cluster, "orders", 0, [(b"k1", b"v1", [("trace-id", b"other")])])
    started = time.monotonic()
    err = api.error("POST", C + "/wait/records", {"topic": "orders", "header": {"name": "trace-id", "value": "abc"},
                                                   "timeout": 0.3}, status=408)
    assert time.monotonic() - started >= 0.3
    assert "timed out after 0.3s" in err["error"] and "has 0 record(s)" in err["error"]
    assert "orders-0@0" in err["error"] and "trace-id" in err["error"]  # the last records of the topic
    err = api.error("POST", C + "/wait/records", {"topic": "missing", "timeout": 0}, status=408)
    assert "does not exist" in err["error"] and "orders" in err["error"]


@pytest.mark.parametrize(("body", "words"), [
    ({"count": 1}, "required"),
    ({"topic": "t", "timeout": -1}, ">= 0"),
    ({"topic": "t", "timeout": 301}, "<= 300"),
    ({"topic": "t", "timeout": "1"}, "number"),
    ({"topic": "t", "count": 0}, ">= 1"),
    ({"topic": "t", "partition": -1}, ">= 0"),
    ({"topic": "t", "key": "a", "key_base64": "YQ=="}, "not both"),
    ({"topic": "t", "key_base64": "!!"}, "base64"),
    ({"topic": "t", "header": {"name": "h"}}, "value"),
    ({"topic": "t", "header": {"name": "h", "value": "a", "value_base64": "YQ=="}}, "value"),
    ({"topic": "t", "header": {"value": "a"}}, "required"),
    ({"topic": "t", "header": {"name": "h", "value": "a", "extra": 1}}, "unknown field"),
    ({"topic": "t", "isolation": "dirty"}, "isolation"),
    ({"topic": "t", "group": "g"}, "unknown field"),
])
def test_http_wait_records_refuses_bad_input(api: Api, body: dict, words: str) -> None:
    assert words in api.error("POST", C + "/wait/records", body)["error"]


def test_http_groups_and_wait_group(api: Api) -> None:
    api.cluster.create_topic("orders", 2)
    produce(api.cluster, "orders", 0, [(None, b"v", [])] * 5)
    assert api.ok("GET", C + "/groups") == {"groups": []}
    assert "no group" in api.error("GET", C + "/groups/billing", status=404)["error"]
    commit(api.cluster.bootstrap_servers, "billing", "orders", {0: 2, 1: 0})
    assert api.ok("GET", C + "/groups") == {"groups": ["billing"]}
    group = api.ok("GET", C + "/groups/billing")
    assert group == {"group_id": "billing", "state": "Empty", "generation": 0, "protocol_type": None,
                     "protocol": None, "leader": None, "members": [], "offsets": [
                         {"topic": "orders", "partition": 0, "committed": 2, "log_end": 5, "lag": 3, "metadata": ""},
                         {"topic": "orders", "partition": 1, "committed": 0, "log_end": 0, "lag": 0,
                          "metadata": ""}]}
    assert api.ok("POST", C + "/wait/group", {"group_id": "billing", "state": "Empty", "timeout": 5}) == group

    err = api.error("POST", C + "/wait/group", {"group_id": "billing", "zero_lag": True, "timeout": 0.2},
                    status=408)
    assert "zero lag" in err["error"] and "('orders', 0): 3" in err["error"]
    commit(api.cluster.bootstrap_servers, "billing", "orders", {0: 5})
    caught_up = api.ok("POST", C + "/wait/group", {"group_id": "billing", "zero_lag": True, "timeout": 5})
    assert [o["lag"] for o in caught_up["offsets"]] == [0, 0]

    err = api.error("POST", C + "/wait/group", {"group_id": "nobody", "timeout": 0}, status=408)
    assert "does not exist" in err["error"] and "billing" in err["error"]
    assert "unknown group state" in api.error("POST", C + "/wait/group", {"group_id": "g", "state": "Calm"})["error"]
    api.error("POST", C + "/wait/group", {"state": "Stable"})
    api.error("POST", C + "/wait/group", {"group_id": "g", "zero_lag": 1})
    api.error("POST", C + "/wait/group", {"group_id": "g", "timeout": 1000})


def test_http_a_pending_wait_does_not_hold_other_requests(api: Api) -> None:
    answers: list = []
    waiter = threading.Thread(target=lambda: answers.append(api.post(C + "/wait/records", {"topic": "never",
                                                                                           "timeout": 1.5})))
    waiter.start()
    slowest = 0.0
    served = 0
    while waiter.is_alive():  # the wait is in flight for 1.5 s of this loop
        started = time.monotonic()
        api.ok("GET", C + "/clock")
        slowest = max(slowest, time.monotonic() - started)
        served += 1
    waiter.join()
    assert answers[0].status == 408
    assert served > 1 and slowest < 1.0, (served, slowest)


# ------------------------------------------------------------------------------- token, limits, errors


def test_http_token_is_required_on_every_route(control_factory: Callable[..., Api]) -> None:
    a = control_factory(Cluster(), token="s3cret")
    for path in ("/clusters", "/openapi.json", C + "/faults", "/metrics", "/no-such-route"):
        for token in (None, "wrong", "s3cret-and-more"):
            answer = a.call("GET", path, token=token)
            assert answer.status == 401, (path, token, answer.status)
            assert answer.headers["WWW-Authenticate"].startswith("Bearer") and "token" in answer.body["error"]
    assert a.call("POST", C + "/faults", {"action": "drop"}, token=None).status == 401
    assert a.cluster.faults.list() == []
    assert a.ok("GET", "/clusters")["clusters"][0]["name"] == "default"
    assert a.call("GET", "/clusters", token=False, headers={"Authorization": "bearer s3cret"}).status == 200
    assert a.call("GET", "/clusters", token=False, headers={"Authorization": "Basic s3cret"}).status == 401


def test_http_body_over_the_limit_is_413_and_the_server_goes_on(api: Api) -> None:
    big = json.dumps({"topic": "t", "key": "x" * MAX_BODY_BYTES}).encode()
    assert "larger than" in api.error("POST", C + "/wait/records", raw=big, status=413)["error"]
    assert api.ok("GET", "/clusters")["clusters"]


def test_http_bad_json_unknown_routes_and_methods(api: Api) -> None:
    assert "not valid JSON" in api.error("POST", C + "/faults", raw=b'{"action": ')["error"]
    assert "not valid JSON" in api.error("POST", C + "/faults", raw=b"\xff\xfe")["error"]
    assert "JSON object" in api.error("POST", C + "/faults/seed", raw=b"7")["error"]
    assert "no route" in api.error("GET", "/nope", status=404)["error"]
    err = api.call("PATCH", C + "/faults")
    assert err.status == 405 and "PATCH" in err.body["error"]
    assert set(err.headers["Allow"].split(",")) == {"GET", "POST", "DELETE"}
    assert api.call("GET", C + "/faults/seed").status == 405


def test_http_openapi_document_is_the_committed_file(api: Api) -> None:
    answer = api.get("/openapi.json")
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("application/json")
    assert answer.raw == OPENAPI_PATH.read_bytes()


def test_http_routes_are_exactly_the_documented_paths() -> None:
    app = ControlServer([Cluster()]).make_app()
    registered = {(r.method, r.resource.canonical) for r in app.router.routes()
                  if r.resource.canonical not in UNDOCUMENTED_PATHS}
    doc = json.loads(OPENAPI_PATH.read_text())
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item
                  if method in ("get", "put", "post", "delete", "patch")}
    assert registered == documented
    assert len(registered) + len(UNDOCUMENTED_PATHS) == len(ROUTES)


def test_http_metrics_is_a_hook(control_factory: Callable[..., Api]) -> None:
    assert "not enabled" in control_factory(Cluster()).error("GET", "/metrics", status=404)["error"]
    a = control_factory(Cluster(), metrics=lambda: (b"kafkasim_up 1\n", "text/plain; version=0.0.4"))
    answer = a.get("/metrics")
    assert (answer.status, answer.raw, answer.headers["Content-Type"]) == (200, b"kafkasim_up 1\n",
                                                                           "text/plain; version=0.0.4")

    async def later() -> tuple[bytes, str]:
        await asyncio.sleep(0)
        return b"async 1\n", "text/plain"

    assert control_factory(Cluster(), metrics=later).get("/metrics").raw == b"async 1\n"


def test_http_a_bug_answers_500_and_logs_the_traceback(control_factory: Callable[..., Api],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> tuple[bytes, str]:
        raise ZeroDivisionError("the hook is broken")

    a = control_factory(Cluster(), metrics=broken)
    with caplog.at_level(logging.ERROR, logger="kafkasim.control.http"):
        assert "internal error" in a.error("GET", "/metrics", status=500)["error"]
    [record] = [r for r in caplog.records if r.name == "kafkasim.control.http"]
    assert "GET /metrics failed" in record.getMessage() and record.exc_info[0] is ZeroDivisionError
    assert a.ok("GET", "/clusters")  # still serving


def test_http_logs_requests_at_debug_and_changes_at_info(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="kafkasim.control.http"):
        rule = api.ok("POST", C + "/faults", {"action": "drop", "api": "Fetch"}, status=201)
        api.ok("DELETE", f"{C}/faults/{rule['id']}")
        api.ok("POST", C + "/clock/advance", {"seconds": 2})
        api.ok("GET", C + "/clock")
    mine = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "kafkasim.control.http"]
    assert [m.rsplit(" (", 1)[0] for lvl, m in mine if lvl == "DEBUG"] == [
        f"POST {C}/faults -> 201", f"DELETE {C}/faults/{rule['id']} -> 200", f"POST {C}/clock/advance -> 200",
        f"GET {C}/clock -> 200"]
    info = [m for lvl, m in mine if lvl == "INFO"]
    assert len(info) == 3
    assert f"fault rule {rule['id']} added" in info[0] and "action=drop" in info[0] and "api=FETCH" in info[0]
    assert f"fault rule {rule['id']} removed" in info[1] and "advanced by 2000 ms" in info[2]


def test_http_start_error_is_raised_in_the_caller() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ControlServer([Cluster()], port=port)
        with pytest.raises(OSError):
            server.run_in_thread().start()


def test_http_stop_does_not_wait_for_a_long_wait() -> None:
    server = ControlServer([Cluster()])
    runner = server.run_in_thread()
    runner.start()
    a = Api(server.url, server, list(server.clusters.values()))
    answers: list = []

    def wait() -> None:
        try:
            answers.append(a.post(C + "/wait/records", {"topic": "never", "timeout": 60}).status)
        except OSError as exc:  # the server went away mid-request
            answers.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    a.ok("GET", "/clusters")  # the server is serving; the wait is on its way
    started = time.monotonic()
    runner.stop()
    waiter.join(30)
    assert time.monotonic() - started < 10, "stop waited for the pending wait"
    assert not waiter.is_alive() and len(answers) == 1 and answers[0] != 200


def test_http_a_connection_accepted_as_the_server_stops_is_closed_not_left_open() -> None:
    """Regression: asyncio (Python 3.11) builds an accepted connection's transport a loop turn after the
    accept, and once the listener is closed that fails silently, leaving the socket open: its client hung
    until its own timeout, and the socket surfaced later as an unclosed-transport warning. Here the accept
    lands exactly between: the listener is readable when stop() begins."""
    async def main() -> bytes:
        async with Cluster() as c:
            server = ControlServer([c])
            await server.start()
            client = socket.create_connection(("127.0.0.1", server.port))  # the kernel completes the handshake
            client.setblocking(False)
            try:
                await asyncio.sleep(0)  # this turn asyncio sees the listener readable and accepts, after us;
                await asyncio.sleep(0)  # the next it would build the transport: stop() begins first
                await server.stop()
                return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(client, 1), 5)
            except ConnectionResetError:
                return b""
            finally:
                client.close()

    assert asyncio.run(main()) == b""  # closed by the server (a timeout here: the socket was left open)
