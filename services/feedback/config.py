"""FeedbackSettings: the feedback service's knobs."""

from __future__ import annotations

from shared.config import ServiceSettings


class FeedbackSettings(ServiceSettings):
    service: str = "feedback"
    port: int = 8104
    database_url: str = "postgresql://switchboard@127.0.0.1:5532/feedback"
