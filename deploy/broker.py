"""A single-node Apache Kafka broker (KRaft, broker + controller) run from jars Maven fetches from Maven Central.

Jars land under the state directory (never in git); Maven's local repository caches them for the next run.
Storage is formatted once; the broker binds to 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from deploy.config import StackSettings
from deploy.processes import Managed, ProcessError, spawn

KAFKA_DIR = Path(__file__).parent / "kafka"
POM = KAFKA_DIR / "pom.xml"
LOG4J = KAFKA_DIR / "log4j2.properties"


class MissingTool(RuntimeError):
    pass


def require_tools() -> None:
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        raise MissingTool(
            f"{' and '.join(missing)} not found on PATH. The local stack runs a real Kafka broker from "
            "Maven Central jars: install a Java 17+ JDK and Apache Maven 3.8+ (Debian/Ubuntu: "
            "`apt-get install openjdk-17-jdk-headless maven`; macOS: `brew install openjdk@17 maven`). "
            "With Docker instead, `docker compose up` runs the same stack from docker-compose.yml."
        )


def fetch_with_maven(pom: Path, lib: Path, expect: str, *, what: str, echo: bool = False) -> bool:
    """Copy the pom's dependencies into `lib` unless they are there for this exact pom; True if Maven ran."""
    require_tools()
    stamp = lib / ".pom-sha256"
    want = hashlib.sha256(pom.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == want and any(lib.glob(expect)):
        return False
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    command = ["mvn", "-B", "--no-transfer-progress", "-f", str(pom), "dependency:copy-dependencies"]
    command.append(f"-DoutputDirectory={lib}")
    if not echo:
        command.insert(2, "-q")
    result = subprocess.run(command, capture_output=not echo, text=True, check=False)
    if result.returncode != 0:
        raise ProcessError(
            f"Maven could not fetch {what} (is Maven Central reachable?)\n{(result.stdout or '')[-3000:]}"
        )
    stamp.write_text(want)
    return True


class KafkaBroker:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.home = settings.state / "kafka"
        self.data = self.home / "data"
        self.config = self.home / "server.properties"
        self.process = Managed("kafka", settings.state / "run" / "kafka.pid", marker="kafka.Kafka")
        self.log = settings.state / "logs" / "kafka.log"

    # --- jars ---------------------------------------------------------------------------------------------

    def ensure_jars(self, *, echo: bool = True) -> bool:
        """Fetch the broker's jars when missing or when the pom changed; True if Maven ran."""
        return fetch_with_maven(POM, self.settings.jars, "kafka_2.13-*.jar", what="Kafka's jars", echo=echo)

    # --- config and storage -------------------------------------------------------------------------------

    def properties(self) -> dict[str, str]:
        """The broker's server.properties (a test broker adds listeners to them)."""
        s = self.settings
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{s.kafka_controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data),
            "num.partitions": "3",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "5",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Topics come from the declared list (shared.events.TOPICS), never from a typo in a client.
            "auto.create.topics.enable": "false",
        }

    def format_options(self) -> list[str]:
        """More options of `kafka-storage format` (a test broker adds SCRAM users with them)."""
        return []

    def write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        text = "# Written by `switchboard up`; edit deploy/broker.py instead.\n"
        text += "".join(f"{k}={v}\n" for k, v in self.properties().items())
        self.config.write_text(text)

    def format_storage(self) -> bool:
        """Format the KRaft storage once; True if it was formatted now."""
        if (self.data / "meta.properties").exists():
            return False
        cluster_id = "-"
        while cluster_id.startswith("-"):  # as Kafka's own Uuid.randomUuid: a leading "-" reads as an option
            cluster_id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        command = [
            "java",
            "-cp",
            f"{self.settings.jars}/*",
            f"-Dlog4j2.configurationFile={LOG4J}",
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(self.config),
            "--ignore-formatted",
            *self.format_options(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            raise ProcessError(f"formatting Kafka storage failed:\n{result.stdout}\n{result.stderr}")
        return True

    # --- process ------------------------------------------------------------------------------------------

    def start(self) -> int:
        """Start the broker if it is not running; return its pid."""
        running = self.process.pid()
        if running is not None:
            return running
        self.write_config()
        self.format_storage()
        command = [
            "java",
            *self.settings.kafka_heap_opts.split(),
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J}",
            f"-Dkafka.logs.dir={self.settings.state / 'logs'}",
            "-cp",
            f"{self.settings.jars}/*",
            "kafka.Kafka",
            str(self.config),
        ]
        return spawn(self.process, command, log=self.log)

    def stop(self, *, timeout_s: float = 60.0) -> bool:
        return self.process.stop(timeout_s=timeout_s)
