"""FeedbackSettings: the feedback service's knobs. Survey rules themselves are data (survey_policy rows)."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import Field, SecretStr

from shared.config import ServiceSettings


class FeedbackSettings(ServiceSettings):
    service: str = "feedback"
    port: int = 8104
    database_url: str = "postgresql://switchboard@127.0.0.1:5532/feedback"
    consumer_fetch_min_bytes: int = 64 * 1024
    consumer_fetch_max_wait_ms: int = 100
    """Fetches wait up to 100 ms for 64 KiB (surveys go out after the work is resolved): at 200 contacts/s
    this consumer makes a few fetches a second instead of one per producer batch."""
    public_base_url: str = ""
    """Where customers reach the survey page (`https://surveys.example.com`); links in invitations start with
    it. Required outside the local stack (`environment` production); empty in a local one: this server's own
    `http://host:port`."""
    survey_link_secret: SecretStr = Field(default=SecretStr(""))
    """Key that signs survey links; empty derives one from the token secret."""
    scheduler_interval_s: float = 1.0
    """How often the scheduler looks for due and expired invitations."""
    scheduler_batch: int = 200
    """Invitations handled per scheduler step and transaction."""
    figures_time_zone: str = "Asia/Shanghai"
    """Default time zone of the `day` grouping in figures."""
    consume_events: bool = True
    """Consume intake's and routing's events; an instance that only serves the page and the API may not."""

    def refusals(self) -> list[str]:
        if self.environment != "local" and not self.public_base_url:
            return [
                "SWITCHBOARD_PUBLIC_BASE_URL is required outside the local stack: survey links go to customers, "
                f"and this server's own address (http://{self.host}:{self.port}) is not one they can open"
            ]
        if self.public_base_url and not self.public_base_url.startswith(("https://", "http://")):
            return ["SWITCHBOARD_PUBLIC_BASE_URL must be an absolute http(s) URL"]
        return []

    def page_base_url(self) -> str:
        return self.public_base_url or f"http://{self.host}:{self.port}"

    def link_secret(self) -> bytes:
        own = self.survey_link_secret.get_secret_value()
        if own:
            return own.encode()
        # A key of its own, derived so that a survey link can never pass for a bearer token or the reverse.
        return hmac.new(self.token_secret.get_secret_value().encode(), b"survey-links", hashlib.sha256).digest()

    recipient_retention_days: int = 30
    """Where an invitation went (a phone number or address) is erased this long after the resolution it surveyed,
    once the invitation is over (answered, expired, skipped)."""
