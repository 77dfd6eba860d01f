"""SCRAM credentials through confluent-kafka's admin client (DescribeUserScramCredentials,
AlterUserScramCredentials): describe, upsert, delete with Kafka's errors; a new user authenticates at once;
with a data directory the changes survive a restart."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from compat_tests.clients.pyclients import require_kafkasim
from kafkasim import Cluster

LISTENERS = ("PLAINTEXT://127.0.0.1:0", "SASL_PLAINTEXT://127.0.0.1:0")


def _produce_as(c: Cluster, user: str, password: str, mechanism: str) -> bool:
    """Whether ``user`` authenticates (and gets metadata) with ``mechanism``."""
    admin = AdminClient({"bootstrap.servers": c.listener_bootstrap("SASL_PLAINTEXT"),
                         "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism, "sasl.username": user,
                         "sasl.password": password})
    try:
        admin.list_topics(timeout=3)
    except KafkaException:
        return False
    return True


def _described(admin: AdminClient, users: list[str] | None = None) -> dict[str, object]:
    if users is None:
        return {u: sorted((i.mechanism, i.iterations) for i in d.scram_credential_infos)
                for u, d in admin.describe_user_scram_credentials().result().items()}
    out: dict[str, object] = {}
    for u, f in admin.describe_user_scram_credentials(users).items():
        try:
            out[u] = sorted((i.mechanism, i.iterations) for i in f.result().scram_credential_infos)
        except KafkaException as exc:
            out[u] = exc.args[0].code()
    return out


@pytest.mark.kafkasim_only
def test_scram_credentials_describe_alter_and_authenticate(request: pytest.FixtureRequest) -> None:
    require_kafkasim(request)
    with Cluster(listeners=LISTENERS, users=("alice:alice-secret",)).run_in_thread() as c:
        admin = AdminClient({"bootstrap.servers": c.bootstrap_servers})
        both = [(ScramMechanism.SCRAM_SHA_256, 4096), (ScramMechanism.SCRAM_SHA_512, 4096)]
        assert _described(admin) == {"alice": both}
        fs = admin.alter_user_scram_credentials([
            UserScramCredentialUpsertion("carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"carol-pw"),
            UserScramCredentialDeletion("alice", ScramMechanism.SCRAM_SHA_256)])
        assert {u: f.result() for u, f in fs.items()} == {"alice": None, "carol": None}
        assert _described(admin, ["carol", "alice", "nobody"]) == {
            "carol": [(ScramMechanism.SCRAM_SHA_512, 8192)], "alice": [(ScramMechanism.SCRAM_SHA_512, 4096)],
            "nobody": KafkaError.RESOURCE_NOT_FOUND}
        assert _produce_as(c, "carol", "carol-pw", "SCRAM-SHA-512")
        assert not _produce_as(c, "alice", "alice-secret", "SCRAM-SHA-256")  # that credential is gone
        assert _produce_as(c, "alice", "alice-secret", "SCRAM-SHA-512")
        assert _produce_as(c, "alice", "alice-secret", "PLAIN")  # PLAIN passwords are not SCRAM credentials
        # Kafka's errors: too few iterations, deleting what is not there; the user's other changes are not made
        fs = admin.alter_user_scram_credentials([
            UserScramCredentialUpsertion("dave", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 1000), b"pw"),
            UserScramCredentialDeletion("erin", ScramMechanism.SCRAM_SHA_256)])
        codes = {}
        for u, f in fs.items():
            with pytest.raises(KafkaException) as err:
                f.result()
            codes[u] = err.value.args[0].code()
        assert codes == {"dave": KafkaError.UNACCEPTABLE_CREDENTIAL, "erin": KafkaError.RESOURCE_NOT_FOUND}
        assert "dave" not in _described(admin)


@pytest.mark.kafkasim_only
def test_scram_credentials_survive_a_restart(request: pytest.FixtureRequest, tmp_path) -> None:
    require_kafkasim(request)
    config = {"listeners": LISTENERS, "users": ("alice:alice-secret",), "data_dir": str(tmp_path)}
    with Cluster(**config).run_in_thread() as c:
        admin = AdminClient({"bootstrap.servers": c.bootstrap_servers})
        fs = admin.alter_user_scram_credentials([
            UserScramCredentialUpsertion("carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"c-pw"),
            UserScramCredentialDeletion("alice", ScramMechanism.SCRAM_SHA_512)])
        assert all(f.result() is None for f in fs.values())
    with Cluster(**config).run_in_thread() as c:
        admin = AdminClient({"bootstrap.servers": c.bootstrap_servers})
        assert _described(admin) == {"alice": [(ScramMechanism.SCRAM_SHA_256, 4096)],
                                     "carol": [(ScramMechanism.SCRAM_SHA_256, 4096)]}
        assert _produce_as(c, "carol", "c-pw", "SCRAM-SHA-256")
        assert not _produce_as(c, "alice", "alice-secret", "SCRAM-SHA-512")
