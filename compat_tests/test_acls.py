"""ACLs through real clients over SASL (issue 16): the admin APIs of confluent-kafka and kafka-python create,
describe (ANY and MATCH filters) and delete bindings, and producers and consumers authenticated as other
users meet Kafka's authorization errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from compat_tests.clients.pyclients import close_confluent_producer, poll_until, require_kafkasim
from kafkasim import Cluster

USERS = ("admin:admin-secret", "alice:alice-secret", "bob:bob-secret")


@pytest.fixture(scope="module")
def secured(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    require_kafkasim(request)
    with Cluster(listeners=("SASL_PLAINTEXT://127.0.0.1:0",), users=USERS, authorizer=True,
                 super_users=("User:admin",), connection_failed_authentication_delay_ms=0).run_in_thread() as c:
        yield c


def conf(c: Cluster, user: str, **extra) -> dict:
    return {"bootstrap.servers": c.bootstrap_servers, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": user, "sasl.password": f"{user}-secret", **extra}


def admin(c: Cluster, user: str = "admin") -> AdminClient:
    return AdminClient(conf(c, user))


def allow(principal: str, rtype, name: str, op, pattern=ResourcePatternType.LITERAL, perm=AclPermissionType.ALLOW):
    return AclBinding(rtype, name, pattern, principal, "*", op, perm)


def create(c: Cluster, *bindings) -> None:
    a = admin(c)
    for f in a.create_acls(list(bindings)).values():
        f.result()


def create_topics(c: Cluster, *names: str) -> None:
    a = admin(c)
    for f in a.create_topics([NewTopic(n, 1, 1) for n in names]).values():
        f.result()


def produce_error(c: Cluster, user: str, topic: str, **extra) -> int | None:
    """The error code of producing one record as ``user`` (None: delivered)."""
    outcome: list = []
    p = Producer(conf(c, user, **{"message.timeout.ms": 5000, **extra}))
    try:
        p.produce(topic, b"v", on_delivery=lambda err, msg: outcome.append(err))
        p.flush(10)
    finally:
        close_confluent_producer(p)
    assert len(outcome) == 1
    return None if outcome[0] is None else outcome[0].code()


@pytest.mark.kafkasim_only
def test_acls_admin_create_describe_delete(secured: Cluster) -> None:
    a = admin(secured)
    created = [allow("User:alice", ResourceType.TOPIC, "acl-orders", AclOperation.READ),
               allow("User:alice", ResourceType.TOPIC, "acl-", AclOperation.WRITE, ResourcePatternType.PREFIXED),
               allow("User:bob", ResourceType.GROUP, "acl-g", AclOperation.READ)]
    for f in a.create_acls(created).values():
        f.result()
    topic_any = AclBindingFilter(ResourceType.TOPIC, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                 AclPermissionType.ANY)
    assert sorted(b.name for b in a.describe_acls(topic_any).result()) == ["acl-", "acl-orders"]
    match = AclBindingFilter(ResourceType.TOPIC, "acl-orders", ResourcePatternType.MATCH, None, None,
                             AclOperation.ANY, AclPermissionType.ANY)
    assert sorted(b.operation for b in a.describe_acls(match).result()) == [AclOperation.READ, AclOperation.WRITE]
    group_filter = AclBindingFilter(ResourceType.GROUP, "acl-g", ResourcePatternType.LITERAL, None, None,
                                    AclOperation.ANY, AclPermissionType.ANY)
    (deleted,) = [f.result() for f in a.delete_acls([group_filter]).values()]
    assert [b.principal for b in deleted] == ["User:bob"]
    assert a.describe_acls(group_filter).result() == []
    # Kafka's validation: the CLUSTER resource is named kafka-cluster
    bad = allow("User:alice", ResourceType.BROKER, "other", AclOperation.ALTER)
    with pytest.raises(KafkaException) as err:
        next(iter(a.create_acls([bad]).values())).result()
    assert err.value.args[0].code() == KafkaError.INVALID_REQUEST
    # a user without ALTER on the cluster may not create ACLs
    bob = admin(secured, "bob")
    with pytest.raises(KafkaException) as err:
        next(iter(bob.create_acls([allow("User:bob", ResourceType.TOPIC, "x", AclOperation.READ)]).values())).result()
    assert err.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


def test_acls_with_kafka_python_admin(secured: Cluster) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import (
        ACL,
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourcePatternFilter,
    )
    from kafka.admin import ResourceType as KpResourceType

    kp = KafkaAdminClient(bootstrap_servers=secured.bootstrap_servers, security_protocol="SASL_PLAINTEXT",
                          sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="admin",
                          sasl_plain_password="admin-secret")
    try:
        acl = ACL("User:alice", "*", ACLOperation.DESCRIBE, ACLPermissionType.ALLOW,
                  ResourcePattern(KpResourceType.TOPIC, "kp-topic"))
        result = kp.create_acls([acl])
        assert result["failed"] == [] and len(result["succeeded"]) == 1
        flt = ACLFilter("User:alice", None, ACLOperation.ANY, ACLPermissionType.ANY,
                        ResourcePatternFilter(KpResourceType.TOPIC, "kp-topic", ACLResourcePatternType.LITERAL))
        found, error = kp.describe_acls(flt)
        assert error.errno == 0 and [a.operation for a in found] == [ACLOperation.DESCRIBE]
        (deleted,) = kp.delete_acls([flt])
        assert len(deleted[1]) == 1
    finally:
        kp.close()


@pytest.mark.kafkasim_only
def test_acls_producer_needs_write_and_consumer_needs_read(secured: Cluster) -> None:
    c = secured
    create_topics(c, "guarded")
    assert produce_error(c, "alice", "guarded") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert produce_error(c, "admin", "guarded") is None  # a super user
    create(c, allow("User:alice", ResourceType.TOPIC, "guarded", AclOperation.WRITE),
           allow("User:alice", ResourceType.BROKER, "kafka-cluster", AclOperation.IDEMPOTENT_WRITE))
    assert produce_error(c, "alice", "guarded") is None
    # a consumer with READ on the topic but not on its group
    create(c, allow("User:bob", ResourceType.TOPIC, "guarded", AclOperation.READ))
    errors: list = []
    consumer = Consumer(conf(c, "bob", **{"group.id": "bobs", "auto.offset.reset": "earliest",
                                          "error_cb": errors.append}))
    consumer.subscribe(["guarded"])
    try:
        def group_denied() -> bool:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is not None:
                errors.append(msg.error())
            return any(e.code() == KafkaError.GROUP_AUTHORIZATION_FAILED for e in errors)

        poll_until(group_denied, "GROUP_AUTHORIZATION_FAILED for bob's group")
    finally:
        consumer.close()


@pytest.mark.kafkasim_only
def test_acls_idempotent_and_transactional_producers(secured: Cluster) -> None:
    c = secured
    create_topics(c, "txn-guarded")
    # bob may write nowhere: his idempotent producer cannot get a producer id
    assert produce_error(c, "bob", "txn-guarded", **{"enable.idempotence": True}) in (
        KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError.TOPIC_AUTHORIZATION_FAILED)
    create(c, allow("User:bob", ResourceType.TOPIC, "txn-guarded", AclOperation.WRITE))
    assert produce_error(c, "bob", "txn-guarded", **{"enable.idempotence": True}) is None
    p = Producer(conf(c, "bob", **{"transactional.id": "bobs-txn"}))
    try:
        with pytest.raises(KafkaException) as err:
            p.init_transactions(10)
        assert err.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    finally:
        with contextlib.suppress(KafkaException):  # the producer is in a fatal state: purge raises it again
            close_confluent_producer(p)
    create(c, allow("User:bob", ResourceType.TRANSACTIONAL_ID, "bobs-", AclOperation.WRITE,
                    ResourcePatternType.PREFIXED))
    p = Producer(conf(c, "bob", **{"transactional.id": "bobs-txn"}))
    try:
        p.init_transactions(10)
        p.begin_transaction()
        p.produce("txn-guarded", b"in a transaction")
        p.commit_transaction(10)
    finally:
        close_confluent_producer(p)


@pytest.mark.kafkasim_only
def test_acls_prefixed_allow_with_literal_deny_and_metadata_hides_topics(secured: Cluster) -> None:
    c = secured
    create_topics(c, "pre-a", "pre-b", "hidden")
    create(c, allow("User:alice", ResourceType.TOPIC, "pre-", AclOperation.ALL, ResourcePatternType.PREFIXED),
           allow("User:alice", ResourceType.TOPIC, "pre-b", AclOperation.WRITE, perm=AclPermissionType.DENY))
    assert produce_error(c, "alice", "pre-a") is None
    assert produce_error(c, "alice", "pre-b") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    alice = admin(c, "alice")
    seen = set(alice.list_topics(timeout=10).topics)
    assert {"pre-a", "pre-b"} <= seen and "hidden" not in seen
