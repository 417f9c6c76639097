"""The deployment an operator command acts on: the one `TargetSettings` name, else the local stack.

Keys, token revocations and users are written to the deployment's databases, dead letters read from its broker
and health read from its services' URLs, with the same code whichever deployment it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import httpx
from aiokafka.errors import KafkaError
from pydantic import SecretStr

from deploy.config import MissingTarget, StackSettings, TargetSettings
from deploy.stack import Stack
from shared.events import SERVICES
from shared.kafka import KafkaClient, client_options, wait_for_broker

WEB = "web"


def resolve(target: TargetSettings, stack: StackSettings) -> TargetSettings:
    """`target` as given when it names a deployment; otherwise filled in with the local stack's addresses and
    secret (which the local stack makes on first use)."""
    if target.remote:
        return target
    local = Stack(stack)
    return target.model_copy(
        update={
            "postgres_url": stack.database_url("postgres"),
            "kafka_bootstrap": stack.kafka_bootstrap,
            "token_secret": SecretStr(local.token_secret()),
            "zipkin_url": local.zipkin.url,
            "web_url": stack.web_url,
            **{f"{name}_url": f"http://127.0.0.1:{stack.service_port(name)}" for name in SERVICES},
        }
    )


def kafka(target: TargetSettings) -> KafkaClient:
    return client_options(target)


def token_secret(target: TargetSettings) -> str:
    secret = target.token_secret.get_secret_value()
    if not secret:
        raise MissingTarget("SWITCHBOARD_TOKEN_SECRET")
    return secret


def zipkin_url(target: TargetSettings) -> str:
    if not target.zipkin_url:
        raise MissingTarget("SWITCHBOARD_ZIPKIN_URL")
    return target.zipkin_url


@dataclass(frozen=True)
class Health:
    component: str
    where: str
    health: str


async def health(target: TargetSettings) -> list[Health]:
    """Each part of the deployment the settings name, asked the way its readiness is defined."""
    rows: list[Health] = []
    if target.postgres_url:
        rows.append(Health("postgresql", _host(target.postgres_url), await _pg_health(target.postgres_url)))
    if "kafka_bootstrap" in target.model_fields_set or not target.remote:
        rows.append(Health("kafka", target.kafka_bootstrap, await _kafka_health(kafka(target))))
    urls: Sequence[tuple[str, str | None]] = [
        *((name, getattr(target, f"{name}_url")) for name in SERVICES),
        (WEB, target.web_url),
    ]
    async with httpx.AsyncClient(timeout=3.0) as client:
        for name, url in urls:
            if url:
                rows.append(Health(name, url, await _http_health(client, url)))
    return rows


def _host(dsn: str) -> str:
    return dsn.split("@", 1)[-1].split("?", 1)[0]  # never the user or password


async def _pg_health(dsn: str) -> str:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()
        return "ok"
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"unreachable ({type(exc).__name__})"


async def _kafka_health(options: KafkaClient) -> str:
    try:
        await wait_for_broker(options, timeout_s=5)
        return "ok"
    except (TimeoutError, KafkaError):
        return "not answering metadata requests"


async def _http_health(client: httpx.AsyncClient, url: str) -> str:
    try:
        response = await client.get(f"{url.rstrip('/')}/health/ready")
    except httpx.HTTPError as exc:
        return f"no answer ({type(exc).__name__})"
    if response.status_code == 200:
        return "ok"
    try:
        detail = str(response.json().get("detail", response.status_code))
    except ValueError:
        detail = str(response.status_code)
    return f"not ready: {detail}"
