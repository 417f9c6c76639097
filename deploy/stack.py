"""`switchboard up | down | status`: the whole local stack, idempotent, with progress and a status table."""

from __future__ import annotations

import asyncio
import getpass
import secrets
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx

from deploy.broker import KafkaBroker
from deploy.config import StackSettings
from deploy.postgres import Postgres
from deploy.processes import Managed, ProcessError, spawn, tail
from deploy.traces import OtlpReceiver, Zipkin
from services.web import repository as web_repo
from services.web.app import MIGRATIONS as WEB_MIGRATIONS
from services.web.domain import hash_password
from shared.auth import (
    NewApiKey,
    Role,
    audit_access,
    generate_api_key,
    insert_api_key,
    issue_token,
    revoke_subject,
)
from shared.clock import utcnow
from shared.db import SHARED_MIGRATIONS, connect, migrate
from shared.events import SERVICES, TOPICS
from shared.kafka import ensure_topics, wait_for_broker, warm_group_coordinator

DATABASES: tuple[str, ...] = (*SERVICES, "ops", "web")
"""One database per service, `ops` for the CLI's smoke checks and benchmarks, and `web` for the gateway's users
and sessions."""
WEB = "web"

Say = Callable[[str], None]


@dataclass
class StepTimes:
    steps: list[tuple[str, float, str]] = field(default_factory=list)

    def add(self, step: str, seconds: float, note: str = "") -> None:
        self.steps.append((step, seconds, note))

    @property
    def total(self) -> float:
        return sum(s for _, s, _ in self.steps)


@dataclass(frozen=True)
class ComponentStatus:
    component: str
    port: int | None
    pid: int | None
    health: str


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def operator() -> str:
    """Who runs this command, for the access audit (the login name; never a secret)."""
    return f"cli:{getpass.getuser()}"


Databases = Callable[[str], str]
"""A database's name to its URL on the deployment's server."""


async def add_user(
    database: Databases, *, user_id: str, display_name: str, role: Role, subject: str, password: str
) -> bool:
    """A person who signs in at the web gateway with a password (kept as a scrypt hash); True if new. An
    existing name gets the new display name, role, subject and password."""
    hashed = await asyncio.to_thread(hash_password, password)
    conn = await connect(database(WEB))
    try:
        await migrate(conn, [(WEB, WEB_MIGRATIONS)])
        async with conn.transaction():
            return await web_repo.upsert_user(
                conn,
                user_id=user_id.strip().lower(),
                display_name=display_name,
                role=role,
                subject=subject,
                password_hash=hashed,
                now=utcnow(),
            )
    finally:
        await conn.close()


async def list_users(database: Databases) -> list[tuple[str, str, str, str, bool]]:
    """(name, display name, role, subject, active) of every password user."""
    conn = await connect(database(WEB))
    try:
        await migrate(conn, [(WEB, WEB_MIGRATIONS)])
        users = await web_repo.list_users(conn)
    finally:
        await conn.close()
    return [(u.user_id, u.display_name, u.role, u.subject, u.active) for u in users]


async def create_api_key(
    database: Databases, name: str, channels: list[str], *, region: str | None = None
) -> NewApiKey:
    """Every service verifies adapters against its own database, so the key goes to each of them."""
    key = generate_api_key()
    for service in SERVICES:
        conn = await connect(database(service))
        try:
            await migrate(conn, [("shared", SHARED_MIGRATIONS)])
            async with conn.transaction():
                await insert_api_key(conn, key=key, name=name, channels=channels, now=utcnow(), region=region)
                await audit_access(
                    conn, actor=operator(), action="api_key.create", target=f"api_key:{key.key_id}",
                    detail={"name": name, "channels": channels, "region": region}, now=utcnow(),
                )  # fmt: skip
        finally:
            await conn.close()
    return key


async def revoke_everywhere(database: Databases, subject: str, *, reason: str | None) -> None:
    """A user's tokens stop working in every service (within a minute, open sockets too)."""
    for service in SERVICES:
        conn = await connect(database(service))
        try:
            await migrate(conn, [("shared", SHARED_MIGRATIONS)])
            async with conn.transaction():
                await revoke_subject(conn, subject=subject, by=operator(), reason=reason, now=utcnow())
                await audit_access(
                    conn, actor=operator(), action="subject.revoke", target=f"subject:{subject}",
                    detail={"reason": reason}, now=utcnow(),
                )  # fmt: skip
        finally:
            await conn.close()
    conn = await connect(database(WEB))
    try:
        await migrate(conn, [(WEB, WEB_MIGRATIONS)])
        await web_repo.end_subject(conn, subject=subject, now=utcnow())  # the gateway mints no new token
    finally:
        await conn.close()


class Stack:
    def __init__(self, settings: StackSettings, *, say: Say = lambda _msg: None) -> None:
        self.settings = settings
        self.say = say
        self.kafka = KafkaBroker(settings)
        self.postgres = Postgres(settings)
        self.zipkin = Zipkin(settings)
        self.otlp = OtlpReceiver(settings, self.zipkin)
        self.services = {
            name: Managed(name, settings.state / "run" / f"{name}.pid", marker=f"services.{name}")
            for name in SERVICES
        }
        self.web = Managed(WEB, settings.state / "run" / "web.pid", marker="services.web")

    # --- secrets and environment --------------------------------------------------------------------------

    @property
    def secret_file(self) -> Path:
        return self.settings.state / "token-secret"

    def token_secret(self) -> str:
        """The HMAC secret for bearer tokens: generated once per state directory, readable by its owner only."""
        if not self.secret_file.exists():
            self.secret_file.parent.mkdir(parents=True, exist_ok=True)
            self.secret_file.touch(mode=0o600)
            self.secret_file.write_text(secrets.token_urlsafe(48))
        return self.secret_file.read_text().strip()

    def service_env(self, name: str) -> dict[str, str]:
        s = self.settings
        env = {
            "SWITCHBOARD_SERVICE": name,
            "SWITCHBOARD_HOST": "127.0.0.1",
            "SWITCHBOARD_PORT": str(s.service_port(name)),
            "SWITCHBOARD_DATABASE_URL": s.database_url(name),
            "SWITCHBOARD_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "SWITCHBOARD_TOKEN_SECRET": self.token_secret(),
            "SWITCHBOARD_MAX_EVENT_BYTES": str(s.max_event_bytes),
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.telemetry_env())
        return env

    def telemetry_env(self) -> dict[str, str]:
        """With the trace viewer up, spans go to its OTLP receiver; otherwise the caller's own `OTEL_*` settings
        (inherited) say where, if anywhere."""
        if self.otlp.process.pid() is None:
            return {}
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp.url, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}

    def web_env(self) -> dict[str, str]:
        s = self.settings
        env = {
            "SWITCHBOARD_SERVICE": WEB,
            "SWITCHBOARD_HOST": "127.0.0.1",
            "SWITCHBOARD_PORT": str(s.web_port),
            "SWITCHBOARD_DATABASE_URL": s.database_url(WEB),
            "SWITCHBOARD_TOKEN_SECRET": self.token_secret(),
            "PYTHONUNBUFFERED": "1",
            **{f"SWITCHBOARD_{name.upper()}_URL": f"http://127.0.0.1:{s.service_port(name)}" for name in SERVICES},
        }
        env.update(self.telemetry_env())
        return env

    async def add_user(self, *, user_id: str, display_name: str, role: Role, subject: str, password: str) -> bool:
        return await add_user(
            self.settings.database_url,
            user_id=user_id, display_name=display_name, role=role, subject=subject, password=password,
        )  # fmt: skip

    async def list_users(self) -> list[tuple[str, str, str, str, bool]]:
        return await list_users(self.settings.database_url)

    async def create_api_key(self, name: str, channels: list[str], *, region: str | None = None) -> NewApiKey:
        return await create_api_key(self.settings.database_url, name, channels, region=region)

    async def revoke_subject(self, subject: str, *, reason: str | None) -> None:
        await revoke_everywhere(self.settings.database_url, subject, reason=reason)

    def token(self, role: Role, subject: str, ttl: timedelta = timedelta(hours=8)) -> str:
        return issue_token(self.token_secret(), role=role, subject=subject, ttl=ttl, now=utcnow())

    # --- up -----------------------------------------------------------------------------------------------

    async def up(self, *, services: bool = True, traces: bool = False) -> StepTimes:
        times = StepTimes()
        s = self.settings
        s.state.mkdir(parents=True, exist_ok=True)
        if traces:
            t = time.monotonic()
            if self.zipkin.process.pid() is None:
                self._check_port_free(s.zipkin_port, "the Zipkin trace viewer")
            if self.otlp.process.pid() is None:
                self._check_port_free(s.otlp_port, "the OTLP receiver")
            self.zipkin.start()  # it boots while the rest comes up; services wait for it below
            self.otlp.start()
            times.add("trace viewer jar", time.monotonic() - t, "zipkin-server")

        t = time.monotonic()
        fetched = self.kafka.ensure_jars(echo=False)
        times.add("kafka jars", time.monotonic() - t, "fetched with Maven" if fetched else "cached")
        self.say(f"kafka jars: {'fetched' if fetched else 'present'} in {s.jars}")

        t = time.monotonic()
        if self.postgres.pid() is None:
            self._check_port_free(s.postgres_port, "PostgreSQL")
        pid = self.postgres.start()
        created = await self.postgres.ensure_databases(list(DATABASES))
        times.add("postgresql", time.monotonic() - t, f"pid {pid}")
        self.say(
            f"postgresql: ready on 127.0.0.1:{s.postgres_port} (pid {pid})"
            + (f", created databases {', '.join(created)}" if created else "")
        )

        t = time.monotonic()
        if self.kafka.process.pid() is None:
            self._check_port_free(s.kafka_port, "Kafka")
            self._check_port_free(s.kafka_controller_port, "the Kafka controller")
        pid = self.kafka.start()
        try:
            await wait_for_broker(s.kafka_bootstrap, timeout_s=s.start_timeout_s)
        except TimeoutError as exc:
            raise ProcessError(f"{exc}\n--- {self.kafka.log} ---\n{tail(self.kafka.log)}") from exc
        times.add("kafka broker", time.monotonic() - t, f"pid {pid}")
        self.say(f"kafka: ready on {s.kafka_bootstrap} (pid {pid}, answered a metadata request)")

        t = time.monotonic()
        new_topics = await ensure_topics(s.kafka_bootstrap, TOPICS, max_message_bytes=s.max_event_bytes)
        await warm_group_coordinator(s.kafka_bootstrap)
        times.add("topics", time.monotonic() - t, f"{len(new_topics)} created")
        self.say(f"topics: {len(TOPICS)} declared, {len(new_topics)} created now")

        if traces:
            t = time.monotonic()
            await self._await_http(self.zipkin.url + "/health", "zipkin", self.zipkin.process, self.zipkin.log)
            await self._await_http(self.otlp.url + "/health", "otlp", self.otlp.process, self.otlp.log)
            times.add("trace viewer", time.monotonic() - t, self.zipkin.url)
            self.say(
                f"zipkin: ready on {self.zipkin.url}, fed by the OTLP receiver on {self.otlp.url} "
                "(every service exports its spans there)"
            )

        if services:
            t = time.monotonic()
            await self.start_services()
            times.add("services", time.monotonic() - t, f"{len(SERVICES)} ready")
            t = time.monotonic()
            await self.start_web()
            times.add("web gateway", time.monotonic() - t, s.web_url)
        return times

    def _check_port_free(self, port: int, what: str) -> None:
        if port_in_use(port):
            raise ProcessError(
                f"port {port} for {what} is taken by another program; choose another with the "
                "SWITCHBOARD_*_PORT settings (see `switchboard up --help`)"
            )

    async def start_services(self) -> None:
        s = self.settings
        started: list[str] = []
        for name, managed in self.services.items():
            if managed.pid() is None:
                self._check_port_free(s.service_port(name), name)
                spawn(
                    managed,
                    [sys.executable, "-m", f"services.{name}", "serve"],
                    log=s.state / "logs" / f"{name}.log",
                    env=self.service_env(name),
                )
                started.append(name)
        await asyncio.gather(*(self._await_ready(name) for name in SERVICES))
        for name in SERVICES:
            self.say(
                f"{name}: ready on http://127.0.0.1:{s.service_port(name)} (pid {self.services[name].pid()})"
                + ("" if name in started else ", already running")
            )

    async def start_web(self) -> None:
        s = self.settings
        started = self.web.pid() is None
        if started:
            self._check_port_free(s.web_port, "the web gateway")
            spawn(
                self.web,
                [sys.executable, "-m", "services.web", "serve"],
                log=self._log(WEB),
                env=self.web_env(),
            )
        await self._await_http(f"{s.web_url}/health/ready", WEB, self.web, self._log(WEB))
        self.say(
            f"web: workspace {s.web_url}/workspace, wallboard {s.web_url}/wallboard (pid {self.web.pid()})"
            + ("" if started else ", already running")
        )

    async def _await_ready(self, name: str) -> None:
        url = f"http://127.0.0.1:{self.settings.service_port(name)}/health/ready"
        await self._await_http(url, name, self.services[name], self._log(name))

    async def _await_http(self, url: str, name: str, process: Managed, log: Path) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_s
        last = "no answer"
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if process.pid() is None:
                    raise ProcessError(f"{name} exited during start-up:\n{tail(log)}")
                try:
                    response = await client.get(url)
                    if response.status_code == 200:
                        return
                    last = response.json().get("detail", response.text)
                except (httpx.HTTPError, ValueError) as exc:
                    last = type(exc).__name__
                await asyncio.sleep(0.25)
        raise ProcessError(f"{name} not ready after {self.settings.start_timeout_s:.0f}s ({last}):\n{tail(log)}")

    def _log(self, name: str) -> Path:
        return self.settings.state / "logs" / f"{name}.log"

    # --- down ---------------------------------------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop the gateway and the services first (they drain and commit), then the broker, then the database."""
        stopped = [WEB] if self.web.stop(timeout_s=15) else []
        stopped += [name for name, managed in self.services.items() if managed.stop(timeout_s=20)]
        for name in stopped:
            self.say(f"{name}: stopped")
        if self.kafka.stop():
            stopped.append("kafka")
            self.say("kafka: stopped")
        if self.postgres.stop():
            stopped.append("postgresql")
            self.say("postgresql: stopped")
        if self.otlp.stop():
            stopped.append("otlp")
            self.say("otlp receiver: stopped")
        if self.zipkin.stop():
            stopped.append("zipkin")
            self.say("zipkin: stopped")
        return stopped

    # --- status -------------------------------------------------------------------------------------------

    async def status(self) -> list[ComponentStatus]:
        s = self.settings
        rows = [
            ComponentStatus("postgresql", s.postgres_port, self.postgres.pid(), await self._pg_health()),
            ComponentStatus("kafka", s.kafka_port, self.kafka.process.pid(), await self._kafka_health()),
        ]
        async with httpx.AsyncClient(timeout=2.0) as client:
            for name, managed in self.services.items():
                rows.append(
                    ComponentStatus(
                        name, s.service_port(name), managed.pid(), await self._http_health(client, name)
                    )
                )
            rows.append(ComponentStatus(WEB, s.web_port, self.web.pid(), await self._web_health(client)))
            zipkin_pid = self.zipkin.process.pid()
            if zipkin_pid is not None:
                try:
                    ok = (await client.get(self.zipkin.url + "/health")).status_code == 200
                except httpx.HTTPError:
                    ok = False
                rows.append(
                    ComponentStatus("zipkin (traces)", s.zipkin_port, zipkin_pid, "ok" if ok else "starting")
                )
            otlp_pid = self.otlp.process.pid()
            if otlp_pid is not None:
                try:
                    ok = (await client.get(self.otlp.url + "/health")).status_code == 200
                except httpx.HTTPError:
                    ok = False
                rows.append(ComponentStatus("otlp (spans in)", s.otlp_port, otlp_pid, "ok" if ok else "starting"))
        return rows

    async def _pg_health(self) -> str:
        if self.postgres.pid() is None:
            return "stopped"
        try:
            conn = await asyncpg.connect(self.settings.database_url("postgres"), timeout=3)
            try:
                await conn.fetchval("SELECT 1")
            finally:
                await conn.close()
            return "ok"
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            return f"unreachable ({type(exc).__name__})"

    async def _kafka_health(self) -> str:
        if self.kafka.process.pid() is None:
            return "stopped"
        try:
            await wait_for_broker(self.settings.kafka_bootstrap, timeout_s=5)
            return "ok"
        except TimeoutError:
            return "not answering metadata requests"

    async def _web_health(self, client: httpx.AsyncClient) -> str:
        if self.web.pid() is None:
            return "stopped"
        try:
            response = await client.get(f"{self.settings.web_url}/health/ready")
        except httpx.HTTPError as exc:
            return f"no answer ({type(exc).__name__})"
        return "ok" if response.status_code == 200 else f"not ready ({response.status_code})"

    async def _http_health(self, client: httpx.AsyncClient, name: str) -> str:
        if self.services[name].pid() is None:
            return "stopped"
        try:
            response = await client.get(f"http://127.0.0.1:{self.settings.service_port(name)}/health/ready")
        except httpx.HTTPError as exc:
            return f"no answer ({type(exc).__name__})"
        if response.status_code == 200:
            return "ok"
        detail: str = response.json().get("detail", str(response.status_code))
        return f"not ready: {detail}"
