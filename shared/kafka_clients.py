"""How every Kafka client of ours reaches the brokers: bootstrap servers, TLS and SASL, read from the settings
in one place (`client_options`) for producers, consumers and admin clients alike."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiokafka.abc import AbstractTokenProvider
from aiokafka.helpers import create_ssl_context

from shared.config import ServiceSettings

KafkaClient = Mapping[str, Any]
"""aiokafka's connection options: where the brokers are and how to reach them (`client_options`)."""


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """Bootstrap servers, TLS and SASL for every producer, consumer and admin client: the one place they are
    read from the settings."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
            certfile=str(settings.kafka_ssl_certfile) if settings.kafka_ssl_certfile else None,
            keyfile=str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
            password=settings.kafka_ssl_key_password.get_secret_value() or None,
        )
    if settings.kafka_security_protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        if settings.kafka_sasl_mechanism == "OAUTHBEARER":
            if settings.kafka_oauth_token_file is None:
                raise ValueError("SASL OAUTHBEARER needs SWITCHBOARD_KAFKA_OAUTH_TOKEN_FILE")
            options["sasl_oauth_token_provider"] = TokenFileProvider(settings.kafka_oauth_token_file)
        else:
            options["sasl_plain_username"] = settings.kafka_sasl_username
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


class TokenFileProvider(AbstractTokenProvider):  # type: ignore[misc]  # aiokafka is untyped
    """OAUTHBEARER tokens from a file, read for every authentication: whoever renews the file (a sidecar, a
    projected service-account token) needs no restart of ours."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def token(self) -> str:
        text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        return text.strip()


def as_client_options(kafka: str | KafkaClient) -> dict[str, Any]:
    return {"bootstrap_servers": kafka} if isinstance(kafka, str) else dict(kafka)
