"""Fixtures for the real-client compatibility tests.

Every test talks to a broker over TCP. By default each test gets a fresh in-process kafkasim on an
ephemeral 127.0.0.1 port. Two options point the tests that do not need kafkasim's own controls at another
broker instead:

- ``--against kafka`` starts the Apache Kafka reference broker (compat_tests/reference/kafka.py) once for
  the whole run (the xdist controller starts it before the workers and stops it at the end) and runs
  against it; when no reference broker can run here (no Java 17, jars not installed) every compat test is
  skipped with the reason.
- ``--kafka-bootstrap HOST:PORT``: a broker that is already running (a real Kafka, Tansu, ...).

Tests of kafkasim-only features (faults, the virtual clock, the control API, records inspection, several
brokers, restarts) carry the ``kafkasim_only`` marker and are skipped against another broker; fixtures that
start a kafkasim with its own config call ``require_kafkasim`` (clients/pyclients.py) and skip likewise.
The ``kafka_reference`` session fixture gives the reference broker to tests that always want it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from compat_tests.clients.golang import GoClients, GoSession
from compat_tests.clients.java import JavaClients, JavaSession
from compat_tests.clients.pyclients import close_confluent_producer
from compat_tests.reference import kafka as reference

_REF_DIR_KEY = "kafka_reference_dir"
_REF_BOOTSTRAP_KEY = "kafka_reference_bootstrap"
_REF_UNAVAILABLE_KEY = "kafka_reference_unavailable"
# this process's reference broker: its state directory; (bootstrap, why unavailable) of the --against
# kafka broker; and, in the process that started it, the broker itself
_ref_dir = pytest.StashKey[Path]()
_ref_started = pytest.StashKey[tuple[str | None, str | None]]()
_ref_running = pytest.StashKey[reference.Running]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kafka-bootstrap",
        default=None,
        help="run compat tests against this external broker instead of an in-process kafkasim",
    )
    parser.addoption(
        "--against",
        choices=["kafkasim", "kafka"],
        default="kafkasim",
        help="kafka: start the Apache Kafka reference broker once and run the compat tests against it "
             "(kafkasim-only tests are skipped)",
    )


def _worker_input(config: pytest.Config) -> dict[str, Any] | None:
    return getattr(config, "workerinput", None)


def pytest_configure(config: pytest.Config) -> None:
    """The controller (or the only process) owns the reference broker's state directory: it starts the
    broker here with --against kafka, and stops it in pytest_unconfigure. Workers learn the directory and
    the bootstrap through their workerinput (pytest_configure_node)."""
    winput = _worker_input(config)
    if winput is not None:
        config.stash[_ref_dir] = Path(winput[_REF_DIR_KEY])
        config.stash[_ref_started] = (winput.get(_REF_BOOTSTRAP_KEY), winput.get(_REF_UNAVAILABLE_KEY))
    else:
        config.stash[_ref_dir] = Path(tempfile.mkdtemp(prefix="kafkasim-kafka-reference-"))
        config.stash[_ref_started] = (None, None)
        if config.getoption("--against") == "kafka":
            if config.getoption("--kafka-bootstrap"):
                raise pytest.UsageError("--against kafka starts its own broker: leave out --kafka-bootstrap")
            try:
                running = reference.ReferenceKafka(config.stash[_ref_dir]).ensure_started()
            except reference.ReferenceUnavailable as exc:
                config.stash[_ref_started] = (None, str(exc).splitlines()[0])
            else:
                config.stash[_ref_started] = (running.bootstrap, None)
                config.stash[_ref_running] = running
    bootstrap, _ = config.stash[_ref_started]
    if bootstrap is not None:
        # every test and fixture that asks for --kafka-bootstrap now gets the reference broker
        config.option.kafka_bootstrap = bootstrap


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand each worker the reference broker's directory and, if started, bootstrap."""
    bootstrap, unavailable = node.config.stash[_ref_started]
    node.workerinput[_REF_DIR_KEY] = str(node.config.stash[_ref_dir])
    node.workerinput[_REF_BOOTSTRAP_KEY] = bootstrap
    node.workerinput[_REF_UNAVAILABLE_KEY] = unavailable


def pytest_unconfigure(config: pytest.Config) -> None:
    if _worker_input(config) is not None or _ref_dir not in config.stash:
        return
    ref_dir = config.stash[_ref_dir]
    reference.ReferenceKafka(ref_dir).stop()
    for other in ref_dir.glob("with-*"):  # the brokers broker_with and secure_reference started
        reference.ReferenceKafka(other).stop()
    if os.environ.get("KAFKASIM_REFERENCE_KEEP"):
        print(f"kafka reference broker's directory (log, config, data) kept: {ref_dir}")
    else:
        shutil.rmtree(ref_dir, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> str | None:
    if config.getoption("--against") != "kafka":
        return None
    running = config.stash.get(_ref_running, None)
    if running is None:
        return f"against: Apache Kafka reference broker UNAVAILABLE ({config.stash[_ref_started][1]})"
    return (f"against: Apache Kafka {running.version} reference broker at {running.bootstrap} "
            f"(pid {running.pid}, ready in {running.started_in_s}s)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    compat_dir = Path(__file__).resolve().parent
    external = config.getoption("--kafka-bootstrap")
    _, unavailable = config.stash[_ref_started]
    for item in items:
        if compat_dir not in Path(str(item.path)).resolve().parents:
            continue
        if unavailable is not None and config.getoption("--against") == "kafka":
            item.add_marker(pytest.mark.skip(reason=f"--against kafka: {unavailable}"))
        elif external and item.get_closest_marker("kafkasim_only") is not None:
            item.add_marker(pytest.mark.skip(reason="kafkasim_only: needs kafkasim's own controls; "
                                                    f"running against {external}"))


@pytest.fixture(scope="session")
def kafka_reference(pytestconfig: pytest.Config) -> reference.Running:
    """The Apache Kafka reference broker of this test run, started on first use (one for all workers: the
    first worker to ask starts it under a file lock, the others find it running; the controller stops it
    when the run ends). Skips with the reason when no reference broker can run here."""
    started = pytestconfig.stash.get(_ref_running, None)
    if started is not None:
        return started
    try:
        return reference.ReferenceKafka(pytestconfig.stash[_ref_dir]).ensure_started()
    except reference.ReferenceUnavailable as exc:
        pytest.skip(f"no Apache Kafka reference broker: {exc}")


@pytest.fixture(scope="session")
def secure_reference(pytestconfig: pytest.Config) -> Callable[..., tuple[reference.Running, Path]]:
    """``secure_reference(name, tls_generate, **security)``: a reference broker with SASL and TLS listeners
    (compat_tests/reference/kafka.py's Security; ``settings=`` adds broker configs), one per ``name`` for the
    whole run (shared by the workers, stopped at the end). ``tls_generate(directory)`` writes its TLS material
    into ``<state dir>/tls`` first (once, under a lock); returns (Running, that tls directory), the Running's
    ``listeners`` naming every listener's bootstrap. Only with --against kafka; otherwise a skip."""
    if pytestconfig.getoption("--against") != "kafka":
        pytest.skip("a secure reference broker runs only with --against kafka")

    def start(name: str, tls_generate: Callable[[Path], object], settings: dict[str, str] | None = None,
              **security: Any) -> tuple[reference.Running, Path]:
        state = pytestconfig.stash[_ref_dir] / f"with-sec-{name}"
        tls = state / "tls"
        state.mkdir(parents=True, exist_ok=True)
        with open(state / "tls.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (tls / "ca.pem").is_file():
                tls_generate(tls)
        broker = reference.ReferenceKafka(state, settings=settings,
                                          security=reference.Security(tls_dir=str(tls), **security))
        try:
            return broker.ensure_started(), tls
        except reference.ReferenceUnavailable as exc:
            pytest.fail(f"secure reference broker {name} did not start: {exc}")

    return start


# kafkasim's settings (BrokerConfig fields) as Kafka's broker configs, for broker_with on the reference broker
_KAFKA_NAMES = {"auto_create_topics": "auto.create.topics.enable"}


@pytest.fixture
def broker_with(request: pytest.FixtureRequest) -> Callable[..., str]:
    """``broker_with(**settings)``: the bootstrap of a broker with these settings (kafkasim's BrokerConfig
    names, e.g. ``auto_create_topics=False``). Against kafkasim: a fresh kafkasim. With --against kafka: a
    reference broker with the same Kafka configs, one per distinct setting for the whole run (shared by the
    workers, stopped at the end). With --kafka-bootstrap, whose broker cannot be reconfigured: a skip."""
    config = request.config
    if not config.getoption("--kafka-bootstrap"):
        make_cluster = request.getfixturevalue("make_cluster")
        return lambda **settings: str(make_cluster(**settings).bootstrap_servers)
    if config.getoption("--against") != "kafka":
        pytest.skip("needs a broker with its own settings; not available with --kafka-bootstrap")

    def start(**settings: Any) -> str:
        kafka_settings = {_KAFKA_NAMES.get(k, k.replace("_", ".")): str(v).lower() if isinstance(v, bool) else str(v)
                          for k, v in settings.items()}
        key = hashlib.sha256(json.dumps(kafka_settings, sort_keys=True).encode()).hexdigest()[:12]
        broker = reference.ReferenceKafka(config.stash[_ref_dir] / f"with-{key}", settings=kafka_settings)
        try:
            return broker.ensure_started().bootstrap
        except reference.ReferenceUnavailable as exc:
            pytest.fail(f"reference broker with {kafka_settings} did not start: {exc}")

    return start


def _not_against_another_broker(request: pytest.FixtureRequest, fixture: str) -> None:
    """A test that is not marked kafkasim_only must not quietly get a kafkasim when another broker is under
    test: it would 'pass against Kafka' without ever talking to Kafka."""
    external = request.config.getoption("--kafka-bootstrap")
    if external and request.node.get_closest_marker("kafkasim_only") is None:
        pytest.fail(f"{request.node.nodeid} uses the kafkasim fixture {fixture!r} while running against "
                    f"{external}: mark it kafkasim_only, or call require_kafkasim first")


@pytest.fixture
def make_cluster(request: pytest.FixtureRequest, kafkasim_factory: Callable[..., object]) -> Callable[..., object]:
    """Factory: ``make_cluster(**config)`` starts a kafkasim (the pytest plugin's ``kafkasim_factory``)."""
    _not_against_another_broker(request, "make_cluster")
    return kafkasim_factory


@pytest.fixture
def cluster(request: pytest.FixtureRequest, kafkasim_factory: Callable[..., object]) -> object:
    """A fresh kafkasim cluster (auto-create on, Kafka's defaults). Tests using it need kafkasim itself."""
    _not_against_another_broker(request, "cluster")
    return kafkasim_factory()


@pytest.fixture
def bootstrap_servers(request: pytest.FixtureRequest) -> str:
    """``host:port`` of the broker under test: --kafka-bootstrap if given, else a fresh kafkasim."""
    external = request.config.getoption("--kafka-bootstrap")
    if external:
        return str(external)
    return request.getfixturevalue("cluster").bootstrap_servers


@pytest.fixture
def topic_name() -> str:
    """A topic name unique to this test, so tests can share an external broker."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def ck_producer() -> Iterator[Callable[[dict[str, Any]], Producer]]:
    """``ck_producer(config)``: a confluent-kafka Producer, closed at teardown (before the brokers and proxies the
    test set up first)."""
    made: list[Producer] = []

    def factory(config: dict[str, Any]) -> Producer:
        made.append(Producer(config))
        return made[-1]

    yield factory
    for producer in made:
        close_confluent_producer(producer)


@pytest.fixture(scope="session")
def java_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JavaSession]:
    """The Java client driver of this test session (one JVM per worker, started on first use; a test that
    killed it gets a new one); stopped when the session ends."""
    session = JavaSession(tmp_path_factory.mktemp("java-driver"))
    yield session
    session.stop()


@pytest.fixture
def java(java_session: JavaSession, bootstrap_servers: str) -> Iterator[JavaClients]:
    """The Java clients of this test, against the broker under test; all closed at teardown. Skips with
    the reason when there is no java or the driver is not built."""
    clients = JavaClients(java_session.get(), bootstrap_servers)
    yield clients
    clients.close()


@pytest.fixture(scope="session")
def go_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoSession]:
    """The Go client driver of this test session (one process per worker, started on first use; a test that
    killed it gets a new one); stopped when the session ends."""
    session = GoSession(tmp_path_factory.mktemp("go-driver"))
    yield session
    session.stop()


@pytest.fixture
def go(go_session: GoSession, bootstrap_servers: str) -> GoClients:
    """The Go clients (franz-go, sarama) against the broker under test. Skips with the reason when the Go
    driver is not built."""
    return GoClients(go_session.get(), bootstrap_servers)
