"""Settings every service shares (pydantic-settings, `SWITCHBOARD_` environment variables).

Nothing is read at import time: `__main__` builds the settings once and passes them down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.events import MAX_EVENT_BYTES

Environment = Literal["local", "production"]

TOPIC_DURABILITY: dict[Environment, tuple[int, int]] = {"local": (1, 1), "production": (3, 2)}
"""Replication factor and `min.insync.replicas` of every topic by environment: one broker on a laptop; in
production three copies, of which two must have a write before it is acknowledged (acks=all), so one broker
may be away without losing or refusing anything."""


class ServiceSettings(BaseSettings):
    """What a service process needs to reach its database, the broker and its callers."""

    # Each field's docstring is its description: docs/operations.md's reference is generated from them.
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore", use_attribute_docstrings=True)

    environment: Environment = "local"
    """`local`: one machine (`switchboard up`, the tests). `production` (docker compose, a cluster): topics are
    replicated (`topic_replication_factor`) and customer-facing links need `public_base_url`."""
    service: str = "switchboard"
    """Service name: consumer group, event `source`, telemetry `service.name`."""
    host: str = "127.0.0.1"
    """Address the HTTP server binds to."""
    port: int = 8100
    """HTTP port."""
    database_url: str = "postgresql://switchboard@127.0.0.1:5532/switchboard"
    """This service's own database; no service reads another's."""
    database_listen_url: str = ""
    """Where the LISTEN connections go (the outbox relay, routing's dispatcher and desktop hub, SLA's timer
    scheduler): a session each, so behind PgBouncer in transaction mode give the server's address (or a
    session-mode pool) here, while `database_url` goes through PgBouncer. Empty: `database_url`."""
    db_pool_min: int = 1
    """Connections opened at start-up."""
    db_pool_max: int = 10
    """Upper bound on pooled connections."""
    db_statement_cache_size: int = Field(default=100, ge=0)
    """Prepared statements asyncpg keeps per connection. 0 behind PgBouncer in transaction mode before 1.21
    (a pooled server connection does not have the statements another client prepared); PgBouncer 1.21+ with
    `max_prepared_statements` set keeps the cache working. See docs/operations.md, "PgBouncer"."""
    db_plan_cache_mode: Literal["force_generic_plan", "auto", "force_custom_plan"] = "force_generic_plan"
    """PostgreSQL's `plan_cache_mode` for this service's connections; `auto` plans afresh whenever PostgreSQL
    guesses a custom plan is cheaper, which for our short keyed statements costs more than it saves."""
    kafka_bootstrap: str = "127.0.0.1:9192"
    """Kafka bootstrap servers, comma-separated."""
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """How every Kafka client (services, `provision`, `dlq`, the tools) talks to the brokers: TLS (`SSL`,
    `SASL_SSL`) and/or SASL authentication."""
    kafka_ssl_cafile: Path | None = None
    """PEM file of the CA that signed the brokers' certificates; unset: the system's trust store."""
    kafka_ssl_certfile: Path | None = None
    """PEM client certificate, for brokers that authenticate clients by TLS (mutual TLS)."""
    kafka_ssl_keyfile: Path | None = None
    """PEM private key of `kafka_ssl_certfile`."""
    kafka_ssl_key_password: SecretStr = Field(default=SecretStr(""))
    """Password of `kafka_ssl_keyfile`, if it is encrypted."""
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] = "PLAIN"
    """SASL mechanism with `SASL_PLAINTEXT` or `SASL_SSL`."""
    kafka_sasl_username: str = ""
    """SASL user (PLAIN, SCRAM)."""
    kafka_sasl_password: SecretStr = Field(default=SecretStr(""))
    """SASL password (PLAIN, SCRAM)."""
    kafka_oauth_token_file: Path | None = None
    """OAUTHBEARER: a file holding the current access token (a JWT), read afresh for every authentication, so
    whatever renews it (a sidecar, a projected service-account token) needs no restart here."""
    topic_replication_factor: int | None = Field(default=None, ge=1)
    """Replicas of every topic `switchboard provision` creates; unset: by `environment` (local 1, production
    3)."""
    topic_min_insync_replicas: int | None = Field(default=None, ge=1)
    """Topics' `min.insync.replicas`; unset: by `environment` (local 1, production 2)."""
    kafka_request_timeout_ms: int = 15_000
    """How long a produce may wait for the broker before the outbox relay retries the batch."""
    kafka_linger_ms: int = 5
    """Producer batching delay: a few ms of latency buys far fewer, larger requests."""
    kafka_max_batch_bytes: int = 256 * 1024
    """Largest producer batch per partition."""
    max_event_bytes: int = Field(default=MAX_EVENT_BYTES, ge=256 * 1024)
    """Largest message the producer sends; the topics are created (and kept) taking the same size from the same
    variable (`switchboard up`, `switchboard provision`). An event over it is parked in the outbox."""
    retry_initial_s: float = 0.25
    """First wait of a background loop or consumer after the database or the broker failed; doubles (with
    jitter) for as long as the failure lasts."""
    retry_max_s: float = 5.0
    """Longest such wait: how long a loop may take to notice that a dependency is back."""
    consumer_max_attempts: int = 5
    """Handler attempts per message before it goes to the dead-letter topic."""
    consumer_backoff_initial_s: float = 0.2
    """First retry delay; doubles per attempt."""
    consumer_backoff_max_s: float = 5.0
    """Longest retry delay."""
    consumer_max_records: int = 500
    """Records fetched per poll."""
    consumer_fetch_min_bytes: int = 1
    """The broker answers a consumer's fetch once this much is waiting, or after `consumer_fetch_max_wait_ms`.
    1 answers at once (latency first: one fetch round trip per producer batch); services whose consumers are
    not on a customer's or agent's path wait for more and make far fewer fetches (less CPU in them and in
    Kafka)."""
    consumer_fetch_max_wait_ms: int = 500
    """Longest the broker holds a fetch for `consumer_fetch_min_bytes`."""
    consumer_session_timeout_ms: int = Field(default=10_000, ge=1)
    """How long a consumer group waits for a member's heartbeat before it hands the member's partitions to the
    others: an instance that was killed (no goodbye to its group) holds its partitions this long, and one that
    is stalled longer loses them. Kafka accepts it between the broker's `group.min.session.timeout.ms` and
    `group.max.session.timeout.ms` (6 s and 30 min by default) and refuses the consumer otherwise."""
    consumer_heartbeat_interval_ms: int = Field(default=3_000, ge=1)
    """How often a consumer tells its group it is alive; keep it at a third of `consumer_session_timeout_ms` or
    less, so one lost heartbeat does not cost the partitions."""
    outbox_batch_size: int = 500
    """Outbox rows published per relay step."""
    outbox_idle_wait_s: float = 0.5
    """Longest wait for a NOTIFY before the relay looks at the outbox again."""
    audit_retention_days: int = 6 * 365
    """Audit records are kept this long (RULES.md: 6 years), then destroyed with a destruction record."""
    content_retention_days: int = 3 * 365
    """Contact content (messages, replies, notes, the text and addresses other services keep of a contact) is
    erased this long after the contact ended (RULES.md: 3 years); the contact's facts stay for the figures."""
    inbox_retention_s: int = 8 * 24 * 3600
    """How long handled event ids are kept against redelivery: longer than the topics' retention (7 days)."""
    journey_retention_s: int = 30 * 24 * 3600
    """How long a contact's journey trace is continued by later work; after it, later work starts a new trace."""
    housekeeping_interval_s: float = 3600.0
    """How often expired delivery records (and a service's own expired records) are deleted."""
    token_secret: SecretStr = Field(default=SecretStr(""))
    """Signs and verifies our bearer tokens (HS256); at least 32 characters; the local stack makes one per state
    dir. Services refuse to start without one unless an identity provider (`oidc_issuer`) signs every token."""
    token_secrets_previous: list[SecretStr] = Field(default_factory=list)
    """Secrets tokens may still be signed with while a new `token_secret` rolls out (verify only): rotate by
    putting the new secret first and the old one here, then removing it after `token_max_lifetime_s`."""
    token_max_lifetime_s: int = 24 * 3600
    """A token whose lifetime (expiry − issue time) is longer is refused, wherever it came from."""
    token_issuer: str = "switchboard"  # noqa: S105 — an issuer name, not a secret
    """`iss` claim of bearer tokens."""
    oidc_issuer: str | None = None
    """An OpenID Connect provider's issuer URL: its RS256/ES256 access tokens are then accepted beside ours,
    checked against its published keys (JWKS), this issuer, `oidc_audience` and their expiry."""
    oidc_audience: str | None = None
    """The `aud` the provider's tokens must carry for Switchboard (required with `oidc_issuer`)."""
    oidc_jwks_url: str | None = None
    """Where the provider publishes its signing keys; read from the issuer's discovery document when unset."""
    oidc_role_claim: str = "role"
    """Claim carrying the Switchboard role: a dotted path for nested claims (`realm_access.roles`), holding a
    string or a list; when a list names several roles the strongest counts (admin, supervisor, agent, ops)."""
    oidc_role_map: dict[str, str] = Field(default_factory=dict)
    """The provider's role names to Switchboard's (`{"cc-agents": "agent"}`); unmapped names count as they are."""
    oidc_subject_claim: str = "sub"
    """Claim carrying the agent or user id that routing and the other services know (e.g. `agent_id`)."""
    oidc_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    """Signature algorithms accepted from the provider (asymmetric only: HS256 is reserved for our own)."""
    oidc_leeway_s: float = 30.0
    """Clock skew allowed on `exp`, `nbf` and `iat`, in seconds."""
    oidc_jwks_cache_s: float = 600.0
    """How long the provider's keys are used before they are read again (an unknown key id reads them early)."""
    max_request_bytes: int = 25 * 1024 * 1024
    """Largest request body accepted (raw MIME with attachments is the big one), counted as it arrives."""
    max_json_depth: int = 64
    """Deepest nesting of arrays and objects a JSON body may have; deeper is refused before parsing."""
    rate_limit_adapter_per_s: float = 200.0
    """Requests a second each adapter key may send to one service process on average (0: no limit)."""
    rate_limit_adapter_burst: float = 400.0
    """Requests an adapter key may send at once before the average applies (429 with Retry-After after)."""
    rate_limit_user_per_s: float = 30.0
    """Requests a second each user (role and subject of a token) may send to one service process (0: no limit)."""
    rate_limit_user_burst: float = 60.0
    """Requests a user may send at once before the average applies."""
    db_acquire_timeout_s: float = 10.0
    """Longest a request or task waits for a pooled database connection before it is answered 503."""
    log_level: str = "INFO"
    """Root log level."""
    log_json: bool = True
    """Structured JSON logs (with trace ids) instead of plain lines."""

    def refusals(self) -> list[str]:
        """Why this configuration must not serve (a service adds its own); checked before start-up, apart from
        pydantic's validation, whose errors would print the inputs, secrets included."""
        return []

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> ServiceSettings:
        if self.consumer_heartbeat_interval_ms >= self.consumer_session_timeout_ms:
            raise ValueError(
                f"consumer_heartbeat_interval_ms ({self.consumer_heartbeat_interval_ms}) must be shorter than "
                f"consumer_session_timeout_ms ({self.consumer_session_timeout_ms}); a third of it or less"
            )
        return self

    @property
    def listen_url(self) -> str:
        return self.database_listen_url or self.database_url

    @property
    def replication_factor(self) -> int:
        return self.topic_replication_factor or TOPIC_DURABILITY[self.environment][0]

    @property
    def min_insync_replicas(self) -> int:
        return self.topic_min_insync_replicas or TOPIC_DURABILITY[self.environment][1]
