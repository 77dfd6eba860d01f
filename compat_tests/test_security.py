"""Security with real clients over TCP (issue 16, "Tests"): SASL (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER) over
SASL_PLAINTEXT and SASL_SSL, TLS with and without client certificates, authentication failures as each client
reports them, ACL effects for named principals, re-authentication (KIP-368), and robustness before
authentication.

Each test asks for one of four brokers, started once per module (kafkasim) or once per run (the reference):

- ``main``: PLAINTEXT, SASL_PLAINTEXT, SASL_SSL and SSL listeners; users alice and admin; every mechanism;
  ssl.client.auth=none.
- ``mtls``: the same listeners with ssl.client.auth=required.
- ``acl``: the authorizer (StandardAuthorizer) with super.users=User:admin; only PLAIN and SCRAM-SHA-256 enabled
  (so SCRAM-SHA-512 is the "unknown mechanism"); ssl.client.auth=requested (so a client certificate names the
  principal on the SSL listener).
- ``ops``: connections.max.reauth.ms=2000 and connection.failed.authentication.delay.ms=0.

Against kafkasim (default) these are ``Cluster(listeners=..., users=..., ssl_generate_dir=...)``. With
``--against kafka`` they are reference brokers (compat_tests/reference/kafka.py ``Security``, via the
``secure_reference`` fixture) with the same settings and TLS material from compat_tests/clients/security.py. The
reference's PLAINTEXT listener authenticates as User:ANONYMOUS, a super user there (its broker and controller
talk over it); every ACL test here goes over SASL or SSL with a named principal, where the two agree.

Run: ``python -m pytest compat_tests/test_security.py -q -n 2`` (kafkasim) and with ``--against kafka``.

FINDINGS (observed on Apache Kafka 4.4.0, the reference; where the issue text says otherwise or is silent):
- Messages: PLAIN failures answer SASL_AUTHENTICATION_FAILED "Authentication failed: Invalid username or
  password" for a wrong password and for an unknown user alike; SCRAM failures answer "Authentication failed
  during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256" (the mechanism named),
  again the same for an unknown user. The client's own text wraps these; the tests assert Kafka's part.
- An unknown mechanism: SaslHandshake answers UNSUPPORTED_SASL_MECHANISM with the enabled mechanisms; clients
  report it as: see ``UNSUPPORTED`` below (librdkafka names the broker's list, kafkajs its own message).
- kafka-python 3 and aiokafka do not raise the authentication error from a producer's bootstrap: they log it
  ("SaslAuthenticationFailedError: ..." / "[Error 58] SaslAuthenticationFailed: ...") and raise a timeout /
  KafkaConnectionError ("Unable to bootstrap"); the tests assert both the raise and the logged Kafka message.
- The reference needs User:ANONYMOUS in super.users when its inter-broker/controller listeners are PLAINTEXT.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import statistics
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from compat_tests.clients import kafkajs, kcat, security
from compat_tests.clients.security import Auth

CLIENTS = ("kafka-python", "aiokafka", "confluent-kafka", "kafkajs", "kcat")
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
LISTENERS = ("PLAINTEXT://127.0.0.1:0", "SASL_PLAINTEXT://127.0.0.1:0", "SASL_SSL://127.0.0.1:0",
             "SSL://127.0.0.1:0")
USERS = tuple(f"{u}:{p}" for u, p in security.USERS.items())
WAIT_S = 15.0

# the kafkasim config (BrokerConfig fields) of each broker, and the same as the reference's Security/settings
SPECS: dict[str, dict[str, Any]] = {
    "main": {},
    "mtls": {"ssl_client_auth": "required"},
    "acl": {"authorizer": True, "super_users": ("User:admin",), "ssl_client_auth": "requested",
            "sasl_enabled_mechanisms": ("PLAIN", "SCRAM-SHA-256")},
    "ops": {"connections_max_reauth_ms": 2000, "connection_failed_authentication_delay_ms": 0},
}


def _reference_args(spec: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {"settings": {}}
    for key, value in spec.items():
        if key == "ssl_client_auth":
            args["client_auth"] = value
        elif key == "sasl_enabled_mechanisms":
            args["mechanisms"] = value
        elif key in ("authorizer", "super_users"):
            args[key] = value
        else:
            args["settings"][key.replace("_", ".")] = str(value)
    return args


@dataclass(frozen=True)
class SecureBroker:
    kind: str  # "kafkasim" | "kafka"
    listeners: dict[str, str]
    tls_dir: Path

    @property
    def cafile(self) -> str:
        return str(self.tls_dir / "ca.pem")

    def bootstrap(self, protocol: str) -> str:
        return self.listeners[protocol]

    def auth(self, protocol: str, mechanism: str | None = None, user: str = "alice", password: str | None = None,
             cert_cn: str | None = None) -> Auth:
        certfile = keyfile = None
        if cert_cn is not None:
            certfile, keyfile = security.client_certificate(self.tls_dir, cert_cn)
        if password is None and mechanism != "OAUTHBEARER":
            password = security.USERS.get(user)
        return Auth(protocol, mechanism if protocol.startswith("SASL") else None, user, password,
                    self.cafile if protocol.endswith("SSL") else None, certfile, keyfile)


@pytest.fixture(scope="module")
def secure(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        Callable[[str], SecureBroker]]:
    """``secure(name)``: the broker of SPECS[name], started on first use."""
    config = request.config
    started: dict[str, SecureBroker] = {}
    with contextlib.ExitStack() as stack:
        def get(name: str) -> SecureBroker:
            if name in started:
                return started[name]
            if config.getoption("--against") == "kafka":
                start_reference = request.getfixturevalue("secure_reference")
                running, tls_dir = start_reference(name, security.generate_ca_and_server,
                                                   **_reference_args(SPECS[name]))
                broker = SecureBroker("kafka", dict(running.listeners), tls_dir)
            elif config.getoption("--kafka-bootstrap"):
                pytest.skip("needs brokers with SASL and TLS listeners; not available with --kafka-bootstrap")
            else:
                from kafkasim import Cluster

                tls_dir = tmp_path_factory.mktemp(f"tls-{name}")
                cluster = stack.enter_context(Cluster(
                    listeners=LISTENERS, users=USERS, ssl_generate_dir=str(tls_dir), **SPECS[name]).run_in_thread())
                names = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
                broker = SecureBroker("kafkasim", {n: cluster.listener_bootstrap(n) for n in names}, tls_dir)
            started[name] = broker
            return broker

        yield get


@pytest.fixture
def topic() -> str:
    return f"sec-{uuid.uuid4().hex[:10]}"


# --- one produce and one consume per client ----------------------------------------------------------------

def _deadline_loop(what: str, timeout_s: float = WAIT_S) -> Iterator[None]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        yield
    raise AssertionError(f"timed out: {what}")


def _roundtrip_kafka_python(bootstrap: str, auth: Auth, topic: str, value: str) -> list[str]:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTP

    cfg = security.kafka_python(auth)
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_block_ms=10000, **cfg)
    try:
        producer.send(topic, value.encode()).get(10)
    finally:
        producer.close(5)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **cfg)
    try:
        consumer.assign([KTP(topic, 0)])
        consumer.seek_to_beginning()
        for _ in _deadline_loop(f"kafka-python reading {topic}"):
            got = [r.value.decode() for rs in consumer.poll(timeout_ms=500).values() for r in rs]
            if got:
                return got
    finally:
        consumer.close()
    raise AssertionError("unreachable")


def _roundtrip_aiokafka(bootstrap: str, auth: Auth, topic: str, value: str) -> list[str]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition as ATP

    async def run() -> list[str]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10000, **security.aiokafka(auth))
        await producer.start()
        try:
            await producer.send_and_wait(topic, value.encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    **security.aiokafka(auth))
        await consumer.start()
        try:
            tp = ATP(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            batch = await asyncio.wait_for(consumer.getmany(tp, timeout_ms=int(WAIT_S * 1000)), WAIT_S + 5)
            return [r.value.decode() for r in batch.get(tp, [])]
        finally:
            await consumer.stop()

    return asyncio.run(run())


def _roundtrip_confluent(bootstrap: str, auth: Auth, topic: str, value: str) -> list[str]:
    cfg = {"bootstrap.servers": bootstrap, **security.confluent(auth)}
    errors: list[KafkaError] = []
    producer = Producer({**cfg, "error_cb": errors.append})
    delivered: list[Any] = []
    producer.produce(topic, value.encode(), on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(WAIT_S)
    assert delivered == [None], (delivered, errors)
    consumer = Consumer({**cfg, "group.id": f"g-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
                         "error_cb": errors.append})
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        for _ in _deadline_loop(f"confluent-kafka reading {topic}: {errors}"):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                return [msg.value().decode()]
    finally:
        consumer.close()
    raise AssertionError("unreachable")


def _roundtrip_kafkajs(bootstrap: str, auth: Auth, topic: str, value: str) -> list[str]:
    common = {"brokers": bootstrap, **security.kafkajs(auth)}
    kafkajs.ok({"op": "produce", "topic": topic, "messages": [{"value": value}], **common})
    out = kafkajs.ok({"op": "consume_from", "topic": topic, "count": 1, **common})
    return [m["value"] for m in out["messages"]]


def _roundtrip_kcat(bootstrap: str, auth: Auth, topic: str, value: str) -> list[str]:
    extra = security.kcat(auth)
    kcat.produce(bootstrap, topic, [(None, value)], extra=extra)
    return [m["payload"] for m in kcat.consume(bootstrap, topic, partition=0, extra=extra)]


ROUNDTRIP: dict[str, Callable[[str, Auth, str, str], list[str]]] = {
    "kafka-python": _roundtrip_kafka_python,
    "aiokafka": _roundtrip_aiokafka,
    "confluent-kafka": _roundtrip_confluent,
    "kafkajs": _roundtrip_kafkajs,
    "kcat": _roundtrip_kcat,
}


def roundtrip(client: str, bootstrap: str, auth: Auth, topic: str) -> None:
    value = f"{client}-{auth.protocol}-{auth.mechanism}"
    assert ROUNDTRIP[client](bootstrap, auth, topic, value) == [value]


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("protocol", SASL_PROTOCOLS)
@pytest.mark.parametrize("mechanism", security.PASSWORD_MECHANISMS)
def test_password_mechanisms(secure: Callable[[str], SecureBroker], client: str, protocol: str, mechanism: str,
                             topic: str) -> None:
    broker = secure("main")
    auth = broker.auth(protocol, mechanism)
    if client == "kcat" and mechanism in security.SCRAM and _kcat_librdkafka() < (2, 6, 1):
        # librdkafka before 2.6.1 repeats its nonce in the SCRAM client-final-message (librdkafka#4895); Kafka 4
        # compares the nonce strictly (RFC 5802) and refuses the proof, so must kafkasim
        text = _fail_kcat(broker.bootstrap(protocol), auth)
        assert _scram_message(mechanism) in text, text
        return
    roundtrip(client, broker.bootstrap(protocol), auth, topic)


def _kcat_librdkafka() -> tuple[int, ...]:
    import re
    import subprocess

    if kcat.unavailable_reason() is not None:
        pytest.skip(kcat.unavailable_reason() or "")
    out = subprocess.run(["kcat", "-V"], capture_output=True, text=True, timeout=10, check=False).stdout
    match = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(g) for g in match.groups()) if match else (99,)


def _scram_message(mechanism: str) -> str:
    return f"Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("protocol", SASL_PROTOCOLS)
def test_oauthbearer_unsecured_token(secure: Callable[[str], SecureBroker], client: str, protocol: str,
                                     topic: str) -> None:
    """Every client here supports OAUTHBEARER: kafka-python and aiokafka through a token provider, librdkafka
    (confluent-kafka, kcat) through its own unsecured JWS builder, kafkajs through oauthBearerProvider."""
    broker = secure("main")
    roundtrip(client, broker.bootstrap(protocol), broker.auth(protocol, "OAUTHBEARER"), topic)


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("cert", [False, True], ids=["no-cert", "cert"])
def test_tls(secure: Callable[[str], SecureBroker], client: str, cert: bool, topic: str) -> None:
    """SSL listener with ssl.client.auth=none (no certificate) and =required (a certificate from the CA)."""
    broker = secure("mtls" if cert else "main")
    roundtrip(client, broker.bootstrap("SSL"), broker.auth("SSL", cert_cn="compat-client" if cert else None), topic)


def test_client_certificate_required(secure: Callable[[str], SecureBroker]) -> None:
    """ssl.client.auth=required: a handshake without a certificate fails, and librdkafka reports it; the
    broker's other connections are unaffected (one with a certificate works)."""
    broker = secure("mtls")
    host, port = broker.bootstrap("SSL").rsplit(":", 1)
    error = security.tls_handshake_error(host, int(port), broker.cafile)
    assert error is not None, "a TLS client without a certificate got an answer"
    errors: list[KafkaError] = []
    producer = Producer({"bootstrap.servers": broker.bootstrap("SSL"), **security.confluent(broker.auth("SSL")),
                         "error_cb": errors.append})
    try:
        for _ in _deadline_loop("librdkafka reporting the refused handshake"):
            producer.poll(0.2)
            if errors:
                break
        assert errors[0].code() in (KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN), errors
    finally:
        producer.flush(0)
    assert security.tls_handshake_error(host, int(port), broker.cafile) is not None


# --- authentication failures as each client reports them -------------------------------------------------

@contextlib.contextmanager
def _captured_logs() -> Iterator[list[str]]:
    lines: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Handler(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("kafka", "aiokafka")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


def _fail_kafka_python(bootstrap: str, auth: Auth) -> str:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError as KPError

    with _captured_logs() as lines, pytest.raises(KPError) as raised:
        KafkaProducer(bootstrap_servers=bootstrap, max_block_ms=3000, **security.kafka_python(auth)).close(0)
    return f"{type(raised.value).__name__}: {raised.value} | " + " | ".join(lines)


def _fail_aiokafka(bootstrap: str, auth: Auth) -> str:
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError as AKError

    async def run() -> str:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000, **security.aiokafka(auth))
        try:
            with pytest.raises(AKError) as raised:
                await producer.start()
            return f"{type(raised.value).__name__}: {raised.value}"
        finally:
            await producer.stop()

    with _captured_logs() as lines:
        raised = asyncio.run(run())
    return raised + " | " + " | ".join(lines)


def _fail_confluent(bootstrap: str, auth: Auth) -> str:
    errors: list[KafkaError] = []
    producer = Producer({"bootstrap.servers": bootstrap, **security.confluent(auth), "error_cb": errors.append})
    try:
        for _ in _deadline_loop("librdkafka reporting the authentication error"):
            producer.poll(0.2)
            if any(e.code() == KafkaError._AUTHENTICATION for e in errors):
                break
    finally:
        producer.flush(0)
    first = next(e for e in errors if e.code() == KafkaError._AUTHENTICATION)
    return f"{first.name()}: {first.str()}"


def _fail_kafkajs(bootstrap: str, auth: Auth) -> str:
    error = kafkajs.expect_error({"op": "produce", "brokers": bootstrap, "topic": "never", "retries": 0,
                                  "messages": [{"value": "v"}], **security.kafkajs(auth)})
    return f"{error['type']}: {error['message']}"


def _fail_kcat(bootstrap: str, auth: Auth) -> str:
    proc = kcat.produce(bootstrap, "never", [(None, "v")], extra=[*security.kcat(auth), "-X", "message.timeout.ms=3000"],
                        check=False)
    assert proc.returncode != 0, proc.stderr
    return proc.stderr


FAIL: dict[str, Callable[[str, Auth], str]] = {
    "kafka-python": _fail_kafka_python,
    "aiokafka": _fail_aiokafka,
    "confluent-kafka": _fail_confluent,
    "kafkajs": _fail_kafkajs,
    "kcat": _fail_kcat,
}

# how each client names an authentication failure (class, librdkafka error name), next to Kafka's message
FAILED_AS = {
    "kafka-python": "KafkaTimeoutError",  # and the log: "SaslAuthenticationFailedError" / "Authentication failed"
    "aiokafka": "SaslAuthenticationFailed",  # KafkaConnectionError raised; the log names [Error 58]
    "confluent-kafka": "_AUTHENTICATION",
    "kafkajs": "KafkaJSSASLAuthenticationError",
    "kcat": "SASL authentication error",
}
KAFKA_MESSAGE = {
    "PLAIN": "Authentication failed: Invalid username or password",
    "SCRAM-SHA-256": _scram_message("SCRAM-SHA-256"),
}
UNSUPPORTED = {  # UNSUPPORTED_SASL_MECHANISM as each client words it
    "kafka-python": "UnsupportedSaslMechanism",
    "aiokafka": "UnsupportedSaslMechanism",
    "confluent-kafka": "SCRAM-SHA-512",
    "kafkajs": "KafkaJSSASLAuthenticationError",
    "kcat": "SCRAM-SHA-512",
}


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
@pytest.mark.parametrize("case", ["wrong-password", "unknown-user"])
def test_authentication_failure(secure: Callable[[str], SecureBroker], client: str, mechanism: str,
                                case: str) -> None:
    broker = secure("main")
    user, password = ("alice", "not-alice-secret") if case == "wrong-password" else ("mallory", "mallory-secret")
    text = FAIL[client](broker.bootstrap("SASL_PLAINTEXT"),
                        broker.auth("SASL_PLAINTEXT", mechanism, user=user, password=password))
    assert FAILED_AS[client] in text, text
    assert KAFKA_MESSAGE[mechanism] in text, text


@pytest.mark.parametrize("client", CLIENTS)
def test_unsupported_mechanism(secure: Callable[[str], SecureBroker], client: str) -> None:
    """SCRAM-SHA-512 against a listener that enables only PLAIN and SCRAM-SHA-256."""
    broker = secure("acl")
    text = FAIL[client](broker.bootstrap("SASL_PLAINTEXT"), broker.auth("SASL_PLAINTEXT", "SCRAM-SHA-512"))
    assert UNSUPPORTED[client] in text, text
