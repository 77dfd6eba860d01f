"""ACLs with real clients over TCP (issue 16 item 4): the admin APIs of kafka-python and confluent-kafka
(create, describe with ANY and MATCH filters, delete) and the effect of ACLs on producers and consumers, as
Kafka's StandardAuthorizer decides. Every client connects as User:ANONYMOUS (PLAINTEXT, no SASL yet), so
the tests grant and deny that principal.

All tests are kafkasim_only: they start kafkasim with its own ``authorizer`` / ``super_users`` /
``allow_everyone_if_no_acl_found`` settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import admin as ck
from kafka import KafkaAdminClient, KafkaProducer
from kafka import admin as kp
from kafka.errors import TopicAuthorizationFailedError

from kafkasim.state.acls import AclBinding, AclOperation, AclPermission, PatternType, ResourceType

pytestmark = pytest.mark.kafkasim_only

ME = "User:ANONYMOUS"
OP, RT, PT = AclOperation, ResourceType, PatternType


def grant(cluster: Any, *specs: tuple) -> None:
    """ACLs for User:ANONYMOUS straight into the cluster: (resource type, name, operation[, pattern[, perm]])."""
    bindings = []
    for rtype, name, op, *rest in specs:
        pattern = rest[0] if rest else PT.LITERAL
        perm = rest[1] if len(rest) > 1 else AclPermission.ALLOW
        bindings.append(AclBinding(rtype, name, pattern, ME, "*", op, perm))
    assert cluster.call(lambda: cluster.state.acls.create(bindings)) == [None] * len(bindings)


@pytest.fixture
def secured(make_cluster: Callable[..., Any]) -> Any:
    """An authorizer-enabled kafkasim where ANONYMOUS may administer ACLs (ALTER and DESCRIBE on the cluster)
    and nothing else; topics "t", "app-public" and "app-secret" exist."""
    c = make_cluster(authorizer=True)
    grant(c, (RT.CLUSTER, "kafka-cluster", OP.ALTER), (RT.CLUSTER, "kafka-cluster", OP.DESCRIBE))
    for name in ("t", "app-public", "app-secret"):
        c.call(lambda n=name: c.state.create_topic(n, 1, 1))
    return c


def deliveries(producer: Producer, topic: str, n: int = 1, timeout: float = 15.0) -> list[KafkaError | None]:
    results: list[KafkaError | None] = []
    for i in range(n):
        producer.produce(topic, b"v%d" % i, on_delivery=lambda err, msg: results.append(err))
    deadline = time.monotonic() + timeout
    while len(results) < n and time.monotonic() < deadline:
        producer.poll(0.1)
    assert len(results) == n, "no delivery report before the deadline"
    return results


# ---------------------------------------------------------------------- admin APIs


def test_kafka_python_admin_creates_describes_and_deletes_acls(secured):
    admin = KafkaAdminClient(bootstrap_servers=secured.bootstrap_servers, request_timeout_ms=10000)
    try:
        prefixed = kp.ACL("User:alice", "*", kp.ACLOperation.READ, kp.ACLPermissionType.ALLOW,
                          kp.ResourcePattern(kp.ResourceType.TOPIC, "app-", kp.ACLResourcePatternType.PREFIXED))
        literal = kp.ACL("User:bob", "10.0.0.1", kp.ACLOperation.WRITE, kp.ACLPermissionType.DENY,
                         kp.ResourcePattern(kp.ResourceType.TOPIC, "app-orders", kp.ACLResourcePatternType.LITERAL))
        group = kp.ACL("User:alice", "*", kp.ACLOperation.READ, kp.ACLPermissionType.ALLOW,
                       kp.ResourcePattern(kp.ResourceType.GROUP, "g", kp.ACLResourcePatternType.LITERAL))
        result = admin.create_acls([prefixed, literal, group])
        assert len(result["succeeded"]) == 3 and not result["failed"]

        match = kp.ACLFilter(None, None, kp.ACLOperation.ANY, kp.ACLPermissionType.ANY,
                             kp.ResourcePatternFilter(kp.ResourceType.TOPIC, "app-orders",
                                                      kp.ACLResourcePatternType.MATCH))
        acls, error = admin.describe_acls(match)
        assert error is kafka_no_error()
        assert sorted((a.principal, a.resource_pattern.resource_name) for a in acls) == [
            ("User:alice", "app-"), ("User:bob", "app-orders")]
        anything = kp.ACLFilter(None, None, kp.ACLOperation.ANY, kp.ACLPermissionType.ANY,
                                kp.ResourcePatternFilter(kp.ResourceType.ANY, None, kp.ACLResourcePatternType.ANY))
        acls, _ = admin.describe_acls(anything)
        assert len(acls) == 5  # and the two cluster ACLs of the fixture

        alice = kp.ACLFilter("User:alice", None, kp.ACLOperation.ANY, kp.ACLPermissionType.ANY,
                             kp.ResourcePatternFilter(kp.ResourceType.ANY, None, kp.ACLResourcePatternType.ANY))
        [(_, deleted, error)] = admin.delete_acls([alice])
        assert error is kafka_no_error()
        assert sorted(a.resource_pattern.resource_name for a in deleted) == ["app-", "g"]
        acls, _ = admin.describe_acls(anything)
        assert len(acls) == 3
    finally:
        admin.close()


def kafka_no_error():
    from kafka.errors import NoError

    return NoError


def test_confluent_admin_creates_describes_and_deletes_acls(secured):
    admin = ck.AdminClient({"bootstrap.servers": secured.bootstrap_servers})
    bindings = [
        ck.AclBinding(ck.ResourceType.TOPIC, "app-", ck.ResourcePatternType.PREFIXED, "User:alice", "*",
                      ck.AclOperation.READ, ck.AclPermissionType.ALLOW),
        ck.AclBinding(ck.ResourceType.TRANSACTIONAL_ID, "tx", ck.ResourcePatternType.LITERAL, "User:alice", "*",
                      ck.AclOperation.WRITE, ck.AclPermissionType.ALLOW),
    ]
    for f in admin.create_acls(bindings).values():
        assert f.result(timeout=15) is None
    bad = ck.AclBinding(ck.ResourceType.BROKER, "not-the-cluster", ck.ResourcePatternType.LITERAL, "User:alice",
                        "*", ck.AclOperation.ALTER, ck.AclPermissionType.ALLOW)
    with pytest.raises(KafkaException) as exc:
        admin.create_acls([bad])[bad].result(timeout=15)
    assert exc.value.args[0].code() == KafkaError.INVALID_REQUEST

    match = ck.AclBindingFilter(ck.ResourceType.TOPIC, "app-public", ck.ResourcePatternType.MATCH, None, None,
                                ck.AclOperation.ANY, ck.AclPermissionType.ANY)
    found = admin.describe_acls(match).result(timeout=15)
    assert [(b.name, b.resource_pattern_type) for b in found] == [("app-", ck.ResourcePatternType.PREFIXED)]
    literal = ck.AclBindingFilter(ck.ResourceType.TOPIC, "app-public", ck.ResourcePatternType.LITERAL, None, None,
                                  ck.AclOperation.ANY, ck.AclPermissionType.ANY)
    assert admin.describe_acls(literal).result(timeout=15) == []

    any_alice = ck.AclBindingFilter(ck.ResourceType.ANY, None, ck.ResourcePatternType.ANY, "User:alice", None,
                                    ck.AclOperation.ANY, ck.AclPermissionType.ANY)
    deleted = admin.delete_acls([any_alice])[any_alice].result(timeout=15)
    assert sorted(b.name for b in deleted) == ["app-", "tx"]
    assert admin.describe_acls(any_alice).result(timeout=15) == []


def test_confluent_admin_without_alter_on_the_cluster_is_refused(make_cluster):
    c = make_cluster(authorizer=True)
    admin = ck.AdminClient({"bootstrap.servers": c.bootstrap_servers})
    b = ck.AclBinding(ck.ResourceType.TOPIC, "t", ck.ResourcePatternType.LITERAL, ME, "*", ck.AclOperation.READ,
                      ck.AclPermissionType.ALLOW)
    with pytest.raises(KafkaException) as exc:
        admin.create_acls([b])[b].result(timeout=15)
    assert exc.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


# ---------------------------------------------------------------------- effects on clients


def test_producer_without_write_gets_topic_authorization_failed(secured):
    grant(secured, (RT.TOPIC, "t", OP.DESCRIBE))
    p = Producer({"bootstrap.servers": secured.bootstrap_servers, "enable.idempotence": False, "acks": "all"})
    [err] = deliveries(p, "t")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    grant(secured, (RT.TOPIC, "t", OP.WRITE))
    # librdkafka keeps the topic in its failed state: a new producer
    p = Producer({"bootstrap.servers": secured.bootstrap_servers, "enable.idempotence": False, "acks": "all"})
    assert deliveries(p, "t") == [None]


def test_consumer_without_read_on_its_group_gets_group_authorization_failed(secured):
    grant(secured, (RT.TOPIC, "t", OP.READ))
    c = Consumer({"bootstrap.servers": secured.bootstrap_servers, "group.id": "g", "auto.offset.reset": "earliest"})
    try:
        c.subscribe(["t"])
        deadline = time.monotonic() + 15
        code = None
        while code is None and time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is not None and msg.error() is not None:
                code = msg.error().code()
        assert code == KafkaError.GROUP_AUTHORIZATION_FAILED
    finally:
        c.close()


def test_idempotent_producer_without_idempotent_write_is_refused(secured):
    grant(secured, (RT.TOPIC, "t", OP.DESCRIBE))  # no WRITE on any topic, no IDEMPOTENT_WRITE on the cluster
    p = Producer({"bootstrap.servers": secured.bootstrap_servers, "enable.idempotence": True})
    with pytest.raises(KafkaException) as exc:  # librdkafka: a fatal error (InitProducerId refused)
        deliveries(p, "t")
    err = exc.value.args[0]
    assert err.fatal() and err.code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


def test_idempotent_producer_with_idempotent_write_on_the_cluster_produces(secured):
    grant(secured, (RT.TOPIC, "t", OP.DESCRIBE), (RT.TOPIC, "t", OP.WRITE),
          (RT.CLUSTER, "kafka-cluster", OP.IDEMPOTENT_WRITE))
    p = Producer({"bootstrap.servers": secured.bootstrap_servers, "enable.idempotence": True})
    assert deliveries(p, "t", 3) == [None, None, None]


def test_transactional_producer_without_write_on_its_transactional_id_is_refused(secured):
    grant(secured, (RT.TOPIC, "t", OP.WRITE), (RT.TRANSACTIONAL_ID, "tx", OP.DESCRIBE))
    p = Producer({"bootstrap.servers": secured.bootstrap_servers, "transactional.id": "tx"})
    with pytest.raises(KafkaException) as exc:
        p.init_transactions(15)
    assert exc.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED


def test_transactional_producer_with_write_on_its_transactional_id_commits(secured):
    grant(secured, (RT.TOPIC, "t", OP.WRITE), (RT.TRANSACTIONAL_ID, "tx", OP.WRITE))
    p = Producer({"bootstrap.servers": secured.bootstrap_servers, "transactional.id": "tx"})
    p.init_transactions(15)
    p.begin_transaction()
    p.produce("t", b"in-txn")
    p.commit_transaction(15)


def test_prefixed_allow_with_a_literal_deny(secured):
    grant(secured, (RT.TOPIC, "app-", OP.ALL, PT.PREFIXED),
          (RT.TOPIC, "app-secret", OP.WRITE, PT.LITERAL, AclPermission.DENY))
    p = KafkaProducer(bootstrap_servers=secured.bootstrap_servers, acks="all", retries=0, request_timeout_ms=10000)
    try:
        assert p.send("app-public", b"ok").get(timeout=15).offset == 0
        with pytest.raises(TopicAuthorizationFailedError):
            p.send("app-secret", b"no").get(timeout=15)
    finally:
        p.close(timeout=5)


def test_super_user_may_do_everything(make_cluster):
    c = make_cluster(authorizer=True, super_users=(ME,))
    p = Producer({"bootstrap.servers": c.bootstrap_servers, "enable.idempotence": True})
    assert deliveries(p, "auto-created") == [None]  # auto-creation, IDEMPOTENT_WRITE, WRITE
    consumer = Consumer({"bootstrap.servers": c.bootstrap_servers, "group.id": "g", "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe(["auto-created"])
        deadline = time.monotonic() + 15
        got = None
        while got is None and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None:
                assert msg.error() is None, msg.error()
                got = msg.value()
        assert got == b"v0"
    finally:
        consumer.close()


def test_allow_everyone_if_no_acl_found(make_cluster):
    c = make_cluster(authorizer=True, allow_everyone_if_no_acl_found=True)
    c.call(lambda: c.state.create_topic("t", 1, 1))
    p = Producer({"bootstrap.servers": c.bootstrap_servers, "enable.idempotence": False})
    assert deliveries(p, "t") == [None]
    # an ACL on the topic (for someone else) means the default no longer applies to it
    assert c.call(lambda: c.state.acls.create([AclBinding(RT.TOPIC, "t", PT.LITERAL, "User:alice", "*", OP.WRITE,
                                                          AclPermission.ALLOW)])) == [None]
    p2 = Producer({"bootstrap.servers": c.bootstrap_servers, "enable.idempotence": False})
    [err] = deliveries(p2, "t")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
