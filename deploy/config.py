"""Settings of the local stack (`SWITCHBOARD_*` environment variables); every port is configurable."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.config import ServiceSettings
from shared.events import MAX_EVENT_BYTES, SERVICES


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


DEFAULT_SERVICE_PORTS = {"intake": 8101, "routing": 8102, "sla": 8103, "feedback": 8104, "knowledge": 8105}


class StackSettings(BaseSettings):
    # Each field's docstring is its description: docs/operations.md's reference is generated from them.
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore", use_attribute_docstrings=True)

    state_dir: Path = Path(".switchboard")
    """Where Kafka's log, PostgreSQL's data, pid files, logs and the token secret live (ignored by git)."""
    kafka_port: int = 9192
    """Kafka client listener (127.0.0.1)."""
    kafka_controller_port: int = 9193
    """KRaft controller listener (127.0.0.1)."""
    kafka_heap_opts: str = "-Xms256m -Xmx512m"
    """JVM heap for the broker."""
    kafka_lib_dir: Path | None = None
    """Where Maven copies the broker's jars; defaults to `<state_dir>/kafka/lib`."""
    postgres_port: int = 5532
    """PostgreSQL TCP port (127.0.0.1)."""
    postgres_durable: bool = True
    """fsync and synchronous commit; the test stack turns them off for speed."""
    intake_port: int = DEFAULT_SERVICE_PORTS["intake"]
    """Intake's HTTP port on 127.0.0.1 (channel adapters post here)."""
    routing_port: int = DEFAULT_SERVICE_PORTS["routing"]
    """Routing's HTTP port on 127.0.0.1."""
    sla_port: int = DEFAULT_SERVICE_PORTS["sla"]
    """SLA's HTTP port on 127.0.0.1."""
    feedback_port: int = DEFAULT_SERVICE_PORTS["feedback"]
    """Feedback's HTTP port on 127.0.0.1 (the survey page)."""
    knowledge_port: int = DEFAULT_SERVICE_PORTS["knowledge"]
    """Knowledge's HTTP port on 127.0.0.1."""
    web_port: int = 8100
    """The web gateway: the workspace, the wallboard and sign-in, with `/api/<service>/…` behind it."""
    zipkin_port: int = 9511
    """The trace viewer (Zipkin UI and API) started by `up --traces`."""
    otlp_port: int = 9518
    """The OTLP/HTTP receiver `up --traces` starts: every service exports its spans there (`/v1/traces`), and it
    hands them to the trace viewer."""
    start_timeout_s: float = 120.0
    """How long `up` waits for each component to become ready."""
    max_event_bytes: int = MAX_EVENT_BYTES
    """Largest message the topics take; the services' producers get the same (`SWITCHBOARD_MAX_EVENT_BYTES`)."""

    @property
    def state(self) -> Path:
        return self.state_dir.expanduser().resolve()

    @property
    def jars(self) -> Path:
        return (self.kafka_lib_dir or self.state / "kafka" / "lib").expanduser().resolve()

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def service_port(self, service: str) -> int:
        port: int = getattr(self, f"{service}_port")
        return port

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def database_url(self, database: str) -> str:
        return f"postgresql://switchboard@127.0.0.1:{self.postgres_port}/{database}"

    @property
    def services(self) -> tuple[str, ...]:
        return SERVICES

    @classmethod
    def throwaway(
        cls, state_dir: Path, *, kafka_lib_dir: Path | None = None, durable: bool = False
    ) -> StackSettings:
        """A private stack (tests, benchmarks) in `state_dir` on free ports, sharing the broker's jars; without
        fsync unless `durable`."""
        return cls(
            state_dir=state_dir,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            postgres_port=free_port(),
            postgres_durable=durable,
            kafka_lib_dir=kafka_lib_dir,
            intake_port=free_port(),
            routing_port=free_port(),
            sla_port=free_port(),
            feedback_port=free_port(),
            knowledge_port=free_port(),
            web_port=free_port(),
            zipkin_port=free_port(),
            otlp_port=free_port(),
            start_timeout_s=120,
        )


class MissingTarget(ValueError):
    """A command against a deployment lacks the setting naming that part of it."""

    def __init__(self, variable: str) -> None:
        super().__init__(
            f"this command needs {variable}: other SWITCHBOARD_* settings name a deployment, so the local stack "
            "is not used (see docs/operations.md, 'Operator commands against a deployment')"
        )


class TargetSettings(ServiceSettings):
    """Where the operator commands (`keys`, `token`, `users`, `dlq`, `status`, `trace`) act: a deployment given
    by these settings (docker compose, a cluster), else the local stack `switchboard up` runs. The broker's
    connection (`SWITCHBOARD_KAFKA_BOOTSTRAP`, TLS, SASL) and `SWITCHBOARD_TOKEN_SECRET` are the services' own
    settings."""

    postgres_url: str | None = None
    """The PostgreSQL server of a deployment, as a URL to any database on it with a role that may write the
    services' databases (`postgresql://admin:pw@db:5432/postgres?sslmode=verify-full`): each service's database
    is this URL with its name. Unset: the local stack's."""
    zipkin_url: str | None = None
    """The trace viewer's Zipkin API that `switchboard trace` reads (compose: `http://localhost:9411`). Unset:
    the local stack's (`up --traces`)."""
    intake_url: str | None = None
    """Intake's base URL for `switchboard status` (compose: `http://localhost:8101`). Unset: the local stack's."""
    routing_url: str | None = None
    """Routing's base URL for `switchboard status`."""
    sla_url: str | None = None
    """SLA's base URL for `switchboard status`."""
    feedback_url: str | None = None
    """Feedback's base URL for `switchboard status`."""
    knowledge_url: str | None = None
    """Knowledge's base URL for `switchboard status`."""
    web_url: str | None = None
    """The web gateway's base URL for `switchboard status` (compose: `http://localhost:8100`)."""

    @property
    def remote(self) -> bool:
        """True when any setting names a deployment: the commands then never touch the local stack."""
        given = {"postgres_url", "zipkin_url", "kafka_bootstrap", "token_secret", "web_url"}
        given |= {f"{name}_url" for name in SERVICES}
        return bool(given & self.model_fields_set)

    def service_database(self, database: str) -> str:
        """`database` on the deployment's server; inside a service's pod or container, where only that
        service's own `SWITCHBOARD_DATABASE_URL` is set, that one database (the gateway's for `users`)."""
        if self.postgres_url is None:
            own = self.database_url.partition("?")[0].rsplit("/", 1)[-1]
            if "database_url" in self.model_fields_set and own == database:
                return self.database_url
            raise MissingTarget("SWITCHBOARD_POSTGRES_URL")
        base, _, query = self.postgres_url.partition("?")
        return base.rsplit("/", 1)[0] + "/" + database + (f"?{query}" if query else "")
