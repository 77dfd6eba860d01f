"""DescribeUserScramCredentials and AlterUserScramCredentials through confluent-kafka's and kafka-python's
admin clients, over PLAINTEXT: upserts, describes, deletes and Kafka's per-user errors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from kafka.admin import KafkaAdminClient
from kafka.admin import ScramMechanism as KpScramMechanism
from kafka.admin import UserScramCredentialDeletion as KpDeletion
from kafka.admin import UserScramCredentialUpsertion as KpUpsertion

SHA256 = ScramMechanism.SCRAM_SHA_256
SHA512 = ScramMechanism.SCRAM_SHA_512


def _user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def _admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def _alter(admin: AdminClient, alterations: list) -> dict[str, BaseException | None]:
    out: dict[str, BaseException | None] = {}
    for user, fut in admin.alter_user_scram_credentials(alterations, request_timeout=15).items():
        try:
            fut.result(timeout=20)
            out[user] = None
        except KafkaException as exc:
            out[user] = exc
    return out


def _describe(admin: AdminClient, users: list[str]) -> dict[str, dict[ScramMechanism, int] | BaseException]:
    out: dict[str, dict[ScramMechanism, int] | BaseException] = {}
    for user, fut in admin.describe_user_scram_credentials(users, request_timeout=15).items():
        try:
            desc = fut.result(timeout=20)
            out[user] = {i.mechanism: i.iterations for i in desc.scram_credential_infos}
        except KafkaException as exc:
            out[user] = exc
    return out


def _code(exc: BaseException | dict | None) -> str:
    assert isinstance(exc, KafkaException), exc
    return exc.args[0].name()


def test_confluent_upsert_then_describe_then_delete(bootstrap_servers: str) -> None:
    admin = _admin(bootstrap_servers)
    user = _user()
    assert _alter(admin, [UserScramCredentialUpsertion(user, ScramCredentialInfo(SHA256, 8192), b"secret")]) == {
        user: None}
    assert _describe(admin, [user]) == {user: {SHA256: 8192}}
    assert _alter(admin, [UserScramCredentialUpsertion(user, ScramCredentialInfo(SHA512, 4096), b"other")]) == {
        user: None}
    assert _describe(admin, [user]) == {user: {SHA256: 8192, SHA512: 4096}}
    assert _alter(admin, [UserScramCredentialDeletion(user, SHA256)]) == {user: None}
    assert _describe(admin, [user]) == {user: {SHA512: 4096}}
    assert _alter(admin, [UserScramCredentialDeletion(user, SHA512)]) == {user: None}
    assert _code(_describe(admin, [user])[user]) == "RESOURCE_NOT_FOUND"


def test_confluent_describe_all_lists_a_new_user(bootstrap_servers: str) -> None:
    admin = _admin(bootstrap_servers)
    user = _user()
    _alter(admin, [UserScramCredentialUpsertion(user, ScramCredentialInfo(SHA512, 4096), b"pw")])
    every = admin.describe_user_scram_credentials(request_timeout=15).result(timeout=20)
    assert {i.mechanism for i in every[user].scram_credential_infos} == {SHA512}


@pytest.mark.parametrize("iterations,reason", [(1000, "Too few iterations"), (20000, "Too many iterations")])
def test_confluent_iterations_out_of_bounds_are_unacceptable(bootstrap_servers: str, iterations: int,
                                                             reason: str) -> None:
    admin = _admin(bootstrap_servers)
    user = _user()
    errors = _alter(admin, [UserScramCredentialUpsertion(user, ScramCredentialInfo(SHA256, iterations), b"pw")])
    assert _code(errors[user]) == "UNACCEPTABLE_CREDENTIAL"
    assert reason in errors[user].args[0].str()
    assert _code(_describe(admin, [user])[user]) == "RESOURCE_NOT_FOUND"


def test_confluent_deleting_a_missing_credential_is_resource_not_found(bootstrap_servers: str) -> None:
    admin = _admin(bootstrap_servers)
    user = _user()
    errors = _alter(admin, [UserScramCredentialDeletion(user, SHA256)])
    assert _code(errors[user]) == "RESOURCE_NOT_FOUND"


def test_confluent_user_altered_twice_is_duplicate_and_nothing_applies(bootstrap_servers: str) -> None:
    admin = _admin(bootstrap_servers)
    user = _user()
    errors = _alter(admin, [UserScramCredentialUpsertion(user, ScramCredentialInfo(SHA256, 4096), b"a"),
                            UserScramCredentialUpsertion(user, ScramCredentialInfo(SHA512, 4096), b"b")])
    assert _code(errors[user]) == "DUPLICATE_RESOURCE"
    assert _code(_describe(admin, [user])[user]) == "RESOURCE_NOT_FOUND"


def test_confluent_describe_of_an_unknown_user_is_resource_not_found(bootstrap_servers: str) -> None:
    admin = _admin(bootstrap_servers)
    user = _user()
    result = _describe(admin, [user])[user]
    assert _code(result) == "RESOURCE_NOT_FOUND"
    assert user in result.args[0].str()


@pytest.fixture
def kp_admin(bootstrap_servers: str) -> Iterator[KafkaAdminClient]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15000)
    yield admin
    admin.close()


def test_kafka_python_upsert_describe_delete(kp_admin: KafkaAdminClient) -> None:
    user = _user()
    assert kp_admin.alter_user_scram_credentials(
        [KpUpsertion(user, KpScramMechanism.SCRAM_SHA_512, "secret", iterations=4096)]) == {user: None}
    described = kp_admin.describe_user_scram_credentials([user])
    assert described[user]["error"] is None
    assert described[user]["credential_infos"] == [{"mechanism": KpScramMechanism.SCRAM_SHA_512, "iterations": 4096}]
    assert kp_admin.alter_user_scram_credentials([KpDeletion(user, KpScramMechanism.SCRAM_SHA_512)]) == {user: None}
    gone = kp_admin.describe_user_scram_credentials([user])
    assert gone[user]["error"] == f"Attempt to describe a user credential that does not exist: {user}"


def test_kafka_python_unknown_mechanism_is_unsupported(kp_admin: KafkaAdminClient) -> None:
    user = _user()
    result = kp_admin.alter_user_scram_credentials([KpDeletion(user, KpScramMechanism.UNKNOWN)])
    assert result == {user: "Unknown SCRAM mechanism"}


def test_kafka_python_describe_same_user_twice_is_duplicate(kp_admin: KafkaAdminClient) -> None:
    user = _user()
    kp_admin.alter_user_scram_credentials([KpUpsertion(user, KpScramMechanism.SCRAM_SHA_256, "pw", iterations=4096)])
    result = kp_admin.describe_user_scram_credentials([user, user])
    assert result[user]["error"] == f"Cannot describe SCRAM credentials for the same user twice in a single request: {user}"


@pytest.mark.kafkasim_only
def test_configured_users_have_both_scram_credentials(make_cluster) -> None:
    c = make_cluster(users=("alice:alice-secret", "bob:bob-secret"))
    described = _describe(_admin(c.bootstrap_servers), ["alice", "bob"])
    assert described == {"alice": {SHA256: 4096, SHA512: 4096}, "bob": {SHA256: 4096, SHA512: 4096}}
