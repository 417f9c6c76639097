"""IntakeSettings: the intake service's knobs."""

from __future__ import annotations

from typing import Self

from pydantic import Field, IPvAnyNetwork, SecretStr, model_validator

from services.intake.domain.sealing import parse_key
from shared.config import ServiceSettings

EVENT_ALLOWANCE_BYTES = 64 * 1024
"""What an event holds besides its text (envelope, subject, customer, keys, headers), generously."""


class IntakeSettings(ServiceSettings):
    service: str = "intake"
    port: int = 8101
    database_url: str = "postgresql://switchboard@127.0.0.1:5532/intake"
    consumer_fetch_min_bytes: int = 64 * 1024
    consumer_fetch_max_wait_ms: int = 100
    """Fetches wait up to 100 ms for 64 KiB (routing's work events only update intake's view of a contact):
    at 200 contacts/s this consumer makes a few fetches a second instead of one per producer batch."""
    default_region: str = "CN"
    """Region for phone numbers written without a country code (ISO 3166 alpha-2)."""
    max_email_bytes: int = 20 * 1024 * 1024
    """Largest raw email accepted (the whole MIME message)."""
    max_attachment_bytes: int = 15 * 1024 * 1024
    """Largest single attachment in an email; a bigger one refuses the email with 413."""
    max_text_chars: int = 100_000
    """Longest text of a chat, web, phone transcript or generic message."""
    event_text_chars: int = 32_000
    """Longest text an event carries; a longer one (an email's, up to `max_email_bytes`) is cut in the event,
    flagged `text_truncated`, and kept whole in intake's database. At most 4 bytes a character, so with the
    envelope it stays well inside `max_event_bytes`."""
    max_batch_items: int = 500
    """Items per `POST /v1/channels/batch`."""
    idempotency_key_retention_s: int = 7 * 24 * 3600
    """How long an `Idempotency-Key` answers retries; natural keys (Message-ID, call and chat ids) never expire."""
    natural_key_window_s: int = Field(default=300, gt=0)
    """A message without an id or a send time is a retry of an earlier one from the same sender with the same
    content only within this window; later, the same words are a new message (the customer wrote again).
    Five minutes outlasts an adapter's retries with backoff (seconds to about two minutes) and a gateway
    restart, and is shorter than a customer waits before writing the same thing again. A message without any
    identity is never a retry by its content (two people may type the same words): send an Idempotency-Key."""
    group_commit_max_items: int = 100
    """Most single posts one transaction commits together (group commit); 1 commits every post on its own."""
    group_commit_flushers: int = 4
    """Transactions of single posts in flight at once; posts arriving meanwhile wait and share the next one."""
    group_commit_max_waiting: int = 2000
    """Most posts waiting for a group commit; past it a post is answered 503 with Retry-After at once."""
    group_commit_max_waiting_per_adapter: int = 500
    """Most posts of one adapter waiting for a group commit, so a flooding adapter cannot crowd out the others."""
    reply_message_id_domain: str = "switchboard.invalid"
    """The domain of the Message-IDs our e-mail replies carry (`<reply id@domain>`); set it to your mail domain."""
    ownership_wait_s: float = 2.0
    """How long a reply or note by an agent waits for intake to learn (from routing's events) that the agent owns
    the work, before it is refused: the desktop learns it first."""

    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)
    """How long a webhook receiver has to answer one delivery before the attempt counts as failed (and is
    retried on the schedule of `docs/adapters.md` §6)."""
    webhook_batch: int = Field(default=50, ge=1, le=1000)
    """Webhook deliveries each instance keeps in flight at once (each POSTed and recorded on its own, so a slow
    receiver holds up only its own)."""
    webhook_idle_s: float = Field(default=0.5, gt=0)
    """How often an idle webhook sender looks for due deliveries: a new message's webhook leaves within it."""
    webhook_rotation_overlap_s: int = Field(default=24 * 3600, ge=0)
    """After a webhook secret is rotated, the old one keeps signing beside the new one this long, so the
    receiver can switch without refusing a delivery."""
    webhook_retention_days: int = Field(default=30, ge=1)
    """Finished webhook deliveries (with the message they carried) and their attempts are deleted after this."""
    webhook_https_only: bool | None = None
    """Refuse webhook endpoint URLs that are not https. Unset: refused outside the local stack (`environment`)."""
    webhook_public_only: bool | None = None
    """Refuse webhook endpoints whose host is, or resolves to, an address that is not public — loopback, private,
    link-local (a cloud's metadata address), carrier-grade NAT, multicast, reserved —, checked when an endpoint
    is registered and again at every delivery, which then connects to the very address it checked (a name that
    resolves elsewhere later is checked again). Unset: refused outside the local stack (`environment`)."""
    webhook_allowed_networks: list[IPvAnyNetwork] = Field(default_factory=list)
    """Networks webhook deliveries may reach even so: receivers inside your own network (JSON list of CIDRs,
    e.g. `["10.20.0.0/16"]`)."""

    webhook_secret_keys: list[SecretStr] = Field(default_factory=list)
    """Keys that seal webhook signing secrets in the database (AES-256-GCM; each 32 random bytes in base64,
    `openssl rand -base64 32`; JSON list). The first seals, every one opens: rotate by putting a new key first —
    the service reseals what is stored when it starts — and drop the old one after. Empty: stored in the clear."""

    def refusals(self) -> list[str]:
        for n, key in enumerate(self.webhook_secret_keys):
            try:
                parse_key(key.get_secret_value())
            except ValueError as exc:
                return [f"SWITCHBOARD_WEBHOOK_SECRET_KEYS[{n}]: {exc}"]
        return super().refusals()

    @property
    def webhook_https_required(self) -> bool:
        return self.webhook_https_only if self.webhook_https_only is not None else self.environment != "local"

    @property
    def webhook_public_required(self) -> bool:
        return self.webhook_public_only if self.webhook_public_only is not None else self.environment != "local"

    @model_validator(mode="after")
    def _events_fit(self) -> Self:
        if self.event_text_chars * 4 + EVENT_ALLOWANCE_BYTES > self.max_event_bytes:
            raise ValueError(
                f"event_text_chars={self.event_text_chars} (up to 4 bytes each) does not fit in "
                f"max_event_bytes={self.max_event_bytes}; lower it or raise max_event_bytes"
            )
        return self
