"""The Apache Kafka reference broker: a single-node KRaft Kafka on 127.0.0.1, started with ``java -cp``.

Everything here is a test and benchmark dependency; nothing of it is part of ``pip install kafkasim``, and it
imports nothing of kafkasim (the broker under test must not help check itself).

- :func:`install` resolves ``org.apache.kafka:kafka_2.13`` (:data:`KAFKA_VERSION`), ``kafka-tools`` (the
  command-line tools) and their runtime jars with Maven (``compat_tests/reference/pom.xml``) into
  ``~/.cache/kafkasim/kafka-reference/<version>/lib-<pom hash>`` (``KAFKASIM_CACHE`` moves
  ``~/.cache/kafkasim``), renamed into place once complete. Once it is there nothing touches the network
  again. ``scripts/install_test_deps`` calls it.
- :class:`ReferenceKafka` owns one broker in a state directory: ``server.properties``, ``data/`` (log.dirs),
  ``broker.log`` and ``state.json`` (pid and bootstrap). :meth:`ReferenceKafka.ensure_started` starts the
  broker unless the directory's broker is already running (under a file lock, so several pytest workers
  share one), :meth:`ReferenceKafka.stop` stops it (SIGTERM, then SIGKILL). The broker is no one's
  child (a shell that exits starts it), so it outlives the process that started it until someone calls
  ``stop``: ``scripts/kafka-reference`` and the compat suite's fixtures (compat_tests/conftest.py) do.
- :func:`unavailable_reason` says why no reference broker can run here (no Java 17, jars not installed), for
  skips.

Start-up: the storage is formatted (``kafka.tools.StorageTool format``) once per version into a template in
the cache, and each start copies the template, so a start costs one JVM, not two. Readiness is the broker
answering a Metadata request that lists itself, polled until a deadline.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

KAFKA_VERSION = "4.4.0"  # keep equal to kafka.version in pom.xml
POM = Path(__file__).resolve().parent / "pom.xml"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
NODE_ID = 1

# Settings that make a one-node Kafka fit for tests, and agree with kafkasim's defaults (kafkasim/config.py)
# where a test could see them: no initial rebalance delay (kafkasim: 0, Kafka: 3000), internal topics with
# one replica (the only node), 50 partitions for __consumer_offsets and __transaction_state (both brokers'
# default). Retention and session settings stay Kafka's defaults.
TEST_SETTINGS: dict[str, str] = {
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "50",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "50",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "num.partitions": "1",
    "auto.create.topics.enable": "true",
    "delete.topic.enable": "true",
    # KIP-848 groups: the short heartbeat and session that compat_tests/test_groups_consumer_protocol.py gives
    # kafkasim (Kafka's defaults, 5 s and 45 s, would make each rebalance seconds long); the minimums must allow them
    "group.consumer.min.heartbeat.interval.ms": "200",
    "group.consumer.heartbeat.interval.ms": "200",
    "group.consumer.min.session.timeout.ms": "3000",
    "group.consumer.session.timeout.ms": "3000",
    # a test's group or transaction should not wait for background threads sized for production
    "num.network.threads": "2",
    "num.io.threads": "4",
    "background.threads": "2",
    "log.flush.interval.messages": "9223372036854775807",
}

# A small heap, the serial collector (no GC threads competing for 2 cores) and a small code cache: start-up
# in a few seconds and a few hundred MB of RSS. KAFKASIM_REFERENCE_JVM_OPTS replaces them.
JVM_OPTS = ["-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true"]

LOG4J2 = """\
# log4j2 for the reference broker: warnings and errors, plus the lines that say it started and stopped
status = warn
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = STDERR
logger.raftserver.name = kafka.server.KafkaRaftServer
logger.raftserver.level = info
logger.brokerserver.name = kafka.server.BrokerServer
logger.brokerserver.level = info
"""


class ReferenceUnavailable(Exception):
    """No reference broker can run here; the message says why (and what to run)."""


def cache_root() -> Path:
    base = os.environ.get("KAFKASIM_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "kafkasim"


def version_dir(version: str = KAFKA_VERSION) -> Path:
    return cache_root() / "kafka-reference" / version


def _pom_hash() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def java_command() -> str | None:
    """The java to run: $JAVA_HOME/bin/java if set, else java on PATH; None when there is none."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def java_major(java: str) -> int | None:
    """The major version of ``java`` (17 for "17.0.15"), or None when it cannot be told."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def lib_dir(version: str = KAFKA_VERSION) -> Path:
    """The jars this pom resolves to: ``<version dir>/lib-<pom hash>``, one directory per pom, so that checkouts
    with different poms (a branch that adds an artifact) share the cache without replacing each other's jars."""
    return version_dir(version) / f"lib-{_pom_hash()[:16]}"


def installed(version: str = KAFKA_VERSION) -> bool:
    stamp = lib_dir(version) / "pom.sha256"
    return stamp.is_file() and stamp.read_text().strip() == _pom_hash()


def unavailable_reason(version: str = KAFKA_VERSION) -> str | None:
    """Why the reference broker cannot run here, or None when it can."""
    java = java_command()
    if java is None:
        return "no java on PATH (the Apache Kafka reference broker needs Java 17+)"
    major = java_major(java)
    if major is None or major < 17:
        return f"{java} is Java {major}; the Apache Kafka {version} reference broker needs Java 17+"
    if not installed(version):
        return (f"Apache Kafka {version} is not in {lib_dir(version)}; run scripts/install_test_deps "
                "(needs mvn and Maven Central once)")
    return None


def classpath(version: str = KAFKA_VERSION) -> str:
    return os.pathsep.join(sorted(str(p) for p in lib_dir(version).glob("*.jar")))


def install(version: str = KAFKA_VERSION, *, quiet: bool = True) -> None:
    """Resolve the broker's jars into the cache (idempotent; no network once complete).

    Atomic: Maven copies into a private temporary directory, which is renamed to :func:`lib_dir` once complete,
    so a broker or tool that another process starts meanwhile sees either no directory or a whole one, never a
    half-copied or emptied one. Raises :class:`ReferenceUnavailable` (with Maven's output) when Maven is missing
    or cannot resolve.
    """
    if installed(version):
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ReferenceUnavailable("mvn is not on PATH; cannot resolve the Apache Kafka reference broker")
    vdir = version_dir(version)
    lib = lib_dir(version)
    vdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{lib.name}.tmp-", dir=vdir))
    try:
        cmd = [mvn, "-B", "-q", "-f", str(POM), f"-Dkafka.version={version}",
               "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
               "-DincludeScope=runtime", f"-DoutputDirectory={work}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not list(work.glob("kafka_2.13-*.jar")):
            raise ReferenceUnavailable(f"mvn could not resolve org.apache.kafka:kafka_2.13:{version}:\n"
                                       f"{proc.stdout[-4000:]}{proc.stderr[-4000:]}")
        (work / "pom.sha256").write_text(_pom_hash() + "\n")
        with _cache_lock(version):
            if not installed(version):
                shutil.rmtree(lib, ignore_errors=True)  # an incomplete one (no stamp) from an older layout
                work.rename(lib)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not quiet:
        print(f"kafka-reference: {len(list(lib.glob('*.jar')))} jars in {lib}")


def new_cluster_id() -> str:
    """A random cluster id in Kafka's form (a UUID as 22 characters of URL-safe base64)."""
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_properties(*, port: int, controller_port: int, log_dir: Path,
                      extra: dict[str, str] | None = None, secure_ports: dict[str, int] | None = None) -> str:
    """A combined broker+controller KRaft config for one node on 127.0.0.1 (plus, with ``secure_ports``, a
    listener per secure protocol, named as the protocol)."""
    secure = secure_ports or {}
    listeners = "".join(f",{name}://127.0.0.1:{p}" for name, p in secure.items())
    props = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}{listeners}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}{listeners}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
                                          + "".join(f",{name}:{name}" for name in secure),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dir),
        **TEST_SETTINGS,
        **(extra or {}),
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def _template(java: str, version: str) -> Path:
    """A formatted, never-started log directory for this version (made once, under the cache's lock)."""
    vdir = version_dir(version)
    template = vdir / "template"
    if (template / "meta.properties").is_file():
        return template
    work = vdir / "template.tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    props = work / "format.properties"
    # ports do not reach the formatted directory (meta.properties and the bootstrap checkpoint hold the
    # cluster id, node id, directory id and feature levels only), so any will do
    props.write_text(server_properties(port=free_port(), controller_port=free_port(), log_dir=work / "data"))
    proc = subprocess.run(
        [java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", classpath(version), "kafka.tools.StorageTool",
         "format", "-t", new_cluster_id(), "-c", str(props)],
        capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0 or not (work / "data" / "meta.properties").is_file():
        raise ReferenceUnavailable(f"kafka-storage format failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    shutil.rmtree(template, ignore_errors=True)
    (work / "data").rename(template)
    shutil.rmtree(work, ignore_errors=True)
    return template


# --- readiness: one Metadata v12 request over a plain socket ---------------------------------------------

def _metadata_request(correlation_id: int) -> bytes:
    client_id = b"kafka-reference-probe"
    header = struct.pack(">hhih", 3, 12, correlation_id, len(client_id)) + client_id + b"\x00"
    body = b"\x00" + b"\x00" + b"\x00" + b"\x00"  # topics: null; allow auto-create: no; no topic ops; no tags
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def probe_metadata(host: str, port: int, timeout: float = 2.0) -> int:
    """How many brokers the broker at host:port lists in a Metadata response (OSError if it does not answer)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(_metadata_request(7))
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before a Metadata response")
            data += chunk
    (correlation_id,) = struct.unpack(">i", data[4:8])
    if correlation_id != 7:
        raise ConnectionError(f"answer to correlation id {correlation_id}, not 7")
    _, pos = _uvarint(data, 8)  # response header tagged fields: count, none expected
    pos += 4  # throttle_time_ms
    brokers_plus_one, _ = _uvarint(data, pos)
    return brokers_plus_one - 1


# --- one broker in a state directory ------------------------------------------------------------------------

@dataclass(frozen=True)
class Running:
    pid: int
    bootstrap: str
    version: str
    started_in_s: float
    #: "NAME" -> "127.0.0.1:PORT" of every client listener (PLAINTEXT and, with a Security, the secure ones)
    listeners: dict[str, str] = field(default_factory=dict)


# --- security: SASL and TLS listeners, SCRAM users, the StandardAuthorizer ---------------------------------

SECURE_LISTENERS = ("SASL_PLAINTEXT", "SASL_SSL", "SSL")


@dataclass(frozen=True)
class Security:
    """What a secure reference broker serves besides its PLAINTEXT listener (which stays: inter-broker traffic
    and the readiness probe use it).

    - ``listeners``: SASL_PLAINTEXT, SASL_SSL, SSL (each named as its protocol).
    - ``users``: "NAME:PASSWORD"; PLAIN through the listeners' JAAS ``user_NAME`` options, SCRAM-SHA-256 and
      -512 credentials written at format time (``kafka-storage format --add-scram``).
    - ``mechanisms``: sasl.enabled.mechanisms; OAUTHBEARER with Kafka's default unsecured-token validator.
    - ``tls_dir``: ca.pem, server-keystore.pem (key + chain) as written by
      compat_tests/clients/security.py:generate_ca_and_server, read as PEM key- and truststores.
    - ``client_auth``: ssl.client.auth. ``authorizer``: StandardAuthorizer with ``super_users``; User:ANONYMOUS
      is always a super user too, because the PLAINTEXT inter-broker and controller listeners authenticate as
      it (so a PLAINTEXT client of a secure reference broker is a super user: test ACLs over SASL).
    """

    tls_dir: str
    users: tuple[str, ...] = ("alice:alice-secret", "admin:admin-secret")
    mechanisms: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
    listeners: tuple[str, ...] = SECURE_LISTENERS
    client_auth: str = "none"
    authorizer: bool = False
    super_users: tuple[str, ...] = ()

    def properties(self, ports: dict[str, int]) -> dict[str, str]:
        tls = Path(self.tls_dir)
        props = {
            "sasl.enabled.mechanisms": ",".join(self.mechanisms),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(tls / "server-keystore.pem"),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls / "ca.pem"),
            "ssl.client.auth": self.client_auth,
        }
        plain_users = " ".join(f'user_{u.partition(":")[0]}="{u.partition(":")[2]}"' for u in self.users)
        modules = {
            "plain": f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
            "scram-sha-256": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "scram-sha-512": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "oauthbearer": "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
                           'unsecuredLoginStringClaim_sub="admin";',
        }
        for name in self.listeners:
            if not name.startswith("SASL"):
                continue
            for mech in self.mechanisms:
                props[f"listener.name.{name.lower()}.{mech.lower()}.sasl.jaas.config"] = modules[mech.lower()]
        if self.authorizer:
            props["authorizer.class.name"] = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
            props["super.users"] = ";".join(("User:ANONYMOUS", *self.super_users))
        return props

    def format_args(self) -> list[str]:
        args: list[str] = []
        for user in self.users:
            name, _, password = user.partition(":")
            for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                args += ["--add-scram", f"{mech}=[name={name},password={password}]"]
        return args


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (our own exited child not yet reaped) is not running
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class ReferenceKafka:
    """The reference broker of one state directory (created if missing)."""

    def __init__(self, state_dir: Path | str, version: str = KAFKA_VERSION,
                 settings: dict[str, str] | None = None, security: Security | None = None) -> None:
        self.dir = Path(state_dir)
        self.version = version
        self.settings = dict(settings or {})  # broker configs over TEST_SETTINGS, e.g. auto.create.topics.enable
        self.security = security  # SASL/TLS listeners, users, authorizer (None: PLAINTEXT only)
        self.state_file = self.dir / "state.json"
        self.log_path = self.dir / "broker.log"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def status(self) -> Running | None:
        """The running broker of this directory, or None."""
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        if not _alive(int(state["pid"])):
            return None
        return Running(int(state["pid"]), state["bootstrap"], state["version"], float(state["started_in_s"]),
                       dict(state.get("listeners", {})))

    def ensure_started(self, timeout_s: float = START_TIMEOUT_S) -> Running:
        """This directory's running broker, started now if there is none. Raises ReferenceUnavailable."""
        reason = unavailable_reason(self.version)
        if reason is not None:
            raise ReferenceUnavailable(reason)
        with self._locked():
            running = self.status()
            if running is not None:
                return running
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    return self._start(deadline)
                except _PortTaken:
                    if time.monotonic() >= deadline:
                        raise ReferenceUnavailable(f"no free ports in time; log:\n{self.log_tail()}") from None

    def _start(self, deadline: float) -> Running:
        java = java_command()
        assert java is not None
        t0 = time.monotonic()
        with _cache_lock(self.version):
            template = _template(java, self.version)
        data = self.dir / "data"
        shutil.rmtree(data, ignore_errors=True)
        port, controller_port = free_port(), free_port()
        secure_ports = {name: free_port() for name in self.security.listeners} if self.security else {}
        extra = {**(self.security.properties(secure_ports) if self.security else {}), **self.settings}
        props = self.dir / "server.properties"
        props.write_text(server_properties(port=port, controller_port=controller_port, log_dir=data,
                                           extra=extra, secure_ports=secure_ports))
        if self.security is None:
            shutil.copytree(template, data)
        else:  # SCRAM credentials go in at format time: one more JVM, but no wait for them after start
            proc = subprocess.run(
                [java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", classpath(self.version),
                 "kafka.tools.StorageTool", "format", "-t", new_cluster_id(), "-c", str(props),
                 *self.security.format_args()],
                capture_output=True, text=True, timeout=120, check=False)
            if proc.returncode != 0:
                raise ReferenceUnavailable(f"kafka-storage format failed ({proc.returncode}):\n{proc.stdout}"
                                           f"{proc.stderr}")
        (self.dir / "log4j2.properties").write_text(LOG4J2)
        opts = os.environ.get("KAFKASIM_REFERENCE_JVM_OPTS")
        jvm_opts = opts.split() if opts else JVM_OPTS
        cmd = [java, *jvm_opts, f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
               f"-Dkafka.logs.dir={self.dir}", "-cp", classpath(self.version), "kafka.Kafka", str(props)]
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        pid = _spawn_detached(cmd, self.log_path)
        bootstrap = f"127.0.0.1:{port}"
        while True:
            if not _alive(pid):
                text = self.log_path.read_bytes()[log_start:].decode(errors="replace")
                if "Address already in use" in text or "BindException" in text:
                    raise _PortTaken()
                raise ReferenceUnavailable(f"the reference broker exited before it was ready:\n{text[-6000:]}")
            try:
                if probe_metadata("127.0.0.1", port, timeout=1.0) >= 1:
                    break
            except (OSError, struct.error, IndexError):
                pass
            if time.monotonic() >= deadline:
                _end(pid)
                raise ReferenceUnavailable(f"the reference broker was not ready in time; log:\n{self.log_tail()}")
            time.sleep(0.1)  # poll interval of the readiness probe, not synchronisation
        listeners = {"PLAINTEXT": bootstrap, **{name: f"127.0.0.1:{p}" for name, p in secure_ports.items()}}
        running = Running(pid, bootstrap, self.version, round(time.monotonic() - t0, 2), listeners)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(running.__dict__))
        tmp.rename(self.state_file)
        return running

    def stop(self) -> bool:
        """Stop this directory's broker (SIGTERM, then SIGKILL); False when none was running."""
        with self._locked():
            running = self.status()
            self.state_file.unlink(missing_ok=True)
            if running is None:
                return False
            _end(running.pid)
            return True

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_bytes()[-chars:].decode(errors="replace")
        except OSError:
            return ""


class _PortTaken(Exception):
    pass


@contextlib.contextmanager
def _cache_lock(version: str) -> Iterator[None]:
    vdir = version_dir(version)
    vdir.mkdir(parents=True, exist_ok=True)
    with open(vdir / "lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _spawn_detached(cmd: list[str], log_path: Path) -> int:
    """Start ``cmd`` as no one's child: a shell starts it in the background in a new session and exits, so
    the JVM belongs to init. It outlives whichever process (a pytest worker, scripts/kafka-reference) started
    it, leaves no zombie and no Popen behind, and is found again by its pid. Returns its pid."""
    script = '"$@" </dev/null >>"$0" 2>&1 & echo $!'
    out = subprocess.run(["sh", "-c", script, str(log_path), *cmd], capture_output=True, text=True, timeout=30,
                         check=True, start_new_session=True)
    return int(out.stdout.strip().splitlines()[-1])


def _end(pid: int) -> None:
    """SIGTERM the broker's JVM, wait for it to exit, SIGKILL after STOP_TIMEOUT_S."""
    for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            if not _alive(pid):
                return
            time.sleep(0.05)  # poll interval while the JVM shuts down
