"""KnowledgeSettings: the knowledge service's knobs."""

from __future__ import annotations

from shared.config import ServiceSettings


class KnowledgeSettings(ServiceSettings):
    service: str = "knowledge"
    port: int = 8105
    database_url: str = "postgresql://switchboard@127.0.0.1:5532/knowledge"
