"""KnowledgeSettings: the knowledge service's knobs (business figures live in the knowledge_setting table)."""

from __future__ import annotations

from shared.config import ServiceSettings


class KnowledgeSettings(ServiceSettings):
    service: str = "knowledge"
    port: int = 8105
    database_url: str = "postgresql://switchboard@127.0.0.1:5532/knowledge"
    consumer_fetch_min_bytes: int = 64 * 1024
    consumer_fetch_max_wait_ms: int = 100
    """Fetches wait up to 100 ms for 64 KiB (a suggestion a tenth of a second later is still in time):
    at 200 contacts/s this consumer makes a few fetches a second instead of one per producer batch."""
    index_poll_s: float = 1.0
    """How often the search index looks for changes other instances stored."""
    max_search_limit: int = 50
    """Largest page of search results."""
    max_import_items: int = 20_000
    """Most articles one import call may carry."""
    search_log_flush_s: float = 0.2
    """How often buffered lookups are written to the search log (a crash can lose this much of the log)."""
    search_log_batch: int = 500
    """Write at once when this many lookups wait."""
    search_log_max_pending: int = 100_000
    """Lookups kept while the database is unreachable; older ones are dropped (and counted) beyond this."""
    search_log_retention_days: int = 365
    """What agents searched for (it may quote a customer) is kept this long, then destroyed with a record."""
    overdue_check_s: float = 3600.0
    """How often articles past their review-by date are looked for and announced to their owners."""
