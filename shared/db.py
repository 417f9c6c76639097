"""PostgreSQL: the asyncpg pool, LISTEN connections that reopen themselves, and the migration runner.

Migrations are numbered plain-SQL files (`0001_slug.sql`), forward-only, applied in order under an advisory
lock so concurrent starters apply each file exactly once. Each service applies `shared/migrations/` (outbox,
inbox, API keys) and then its own. A landed file is never edited: a changed checksum stops the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.faults import Backoff
from shared.redact import describe
from shared.telemetry import database_spans, query_span

log = logging.getLogger(__name__)

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
"""A connection, pooled or not: what repositories take."""

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK_ID = 0x5B_0A_2D_01
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    if database_spans():
        conn.add_query_logger(query_span)


PLAN_CACHE_MODE = "force_generic_plan"
"""How PostgreSQL plans our prepared statements. Every statement here is a short keyed OLTP statement, prepared
once per connection and run thousands of times; under the default (`auto`) PostgreSQL keeps planning a
statement afresh for each call whenever its generic plan's estimate is above the custom plans' (array
parameters make that common), which cost intake's lookup 550 µs of server CPU per call instead of 70."""


async def _reset_connection(conn: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool: an open transaction rolled back (its task was
    cancelled in the middle). asyncpg's default reset also closes cursors, unlistens, resets settings and
    releases session advisory locks: a round trip on every checkout for state we never leave on a pooled
    connection (listeners have connections of their own, locks are transaction-scoped, settings `SET LOCAL`;
    the migration lock is released where it is taken)."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class Pool(asyncpg.Pool):
    """asyncpg's pool, whose `acquire` waits at most `acquire_timeout` seconds for a connection unless told
    otherwise: a caller flooding one service makes the others wait a bounded time (then 503), never forever."""

    def __init__(self, *args: Any, acquire_timeout: float | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    plan_cache_mode: str = PLAN_CACHE_MODE,
    settings: Mapping[str, str] | None = None,
    acquire_timeout: float | None = None,
    statement_cache_size: int = 100,
) -> asyncpg.Pool:
    """A pool whose connections run with `plan_cache_mode` and any further server `settings`."""
    pool = Pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        init=_init_connection,
        reset=_reset_connection,
        command_timeout=30,
        statement_cache_size=statement_cache_size,
        server_settings={"plan_cache_mode": plan_cache_mode, **(settings or {})},
        acquire_timeout=acquire_timeout,
    )
    await pool
    return pool


async def connect(dsn: str, *, plan_cache_mode: str = PLAN_CACHE_MODE) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(
        dsn, timeout=10, server_settings={"plan_cache_mode": plan_cache_mode}
    )
    await _init_connection(conn)
    return conn


Notice = Callable[[Any, int, str, object], None]
"""What asyncpg calls with each notification: (connection, sender pid, channel, payload)."""


class Listener:
    """A LISTEN connection that opens again when it is lost.

    Its owner calls `ensure()` on every turn of its loop: it opens the connection when there is none (no more
    often than its backoff allows) and checks an idle one with a round trip every `keepalive_s` (a connection
    cut without a word looks open forever). `ensure()` is True when it opened the connection just now:
    notifications sent while there was none are lost, so the owner then re-reads what they would have told it.
    LISTEN comes before that read, so nothing falls between the two.
    """

    def __init__(
        self,
        dsn: str,
        channel: str,
        on_notice: Notice,
        *,
        what: str,
        backoff: Backoff | None = None,
        keepalive_s: float = 15.0,
    ) -> None:
        self.dsn = dsn
        self.channel = channel
        self.on_notice = on_notice
        self.what = what
        self.backoff = backoff or Backoff()
        self.keepalive_s = keepalive_s
        self.lost = asyncio.Event()
        """Set when the connection ends (an owner may wait on it); cleared when one is open again."""
        self.trouble: str | None = None
        """Why there is no connection, while there is none."""
        self.opened = 0
        self._conn: asyncpg.Connection | None = None
        self._next_try = 0.0
        self._next_check = 0.0

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def retry_in(self) -> float | None:
        """Seconds until `ensure()` tries to open the connection again; None while it is open."""
        if self.listening:
            return None
        return max(self._next_try - asyncio.get_running_loop().time(), 0.0)

    async def ensure(self) -> bool:
        now = asyncio.get_running_loop().time()
        if self._conn is not None and not self._conn.is_closed():
            if now < self._next_check:
                return False
            try:
                async with asyncio.timeout(5):
                    await self._conn.fetchval("SELECT 1")
                self._next_check = now + self.keepalive_s
                return False
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("%s: the LISTEN connection stopped answering (%s); opening another", self.what, exc)
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None
            self.lost.set()
        if now < self._next_try:
            return False
        try:
            conn: asyncpg.Connection = await asyncpg.connect(self.dsn, timeout=10)
        except Exception as exc:  # noqa: BLE001 — whatever kept it from opening, it is tried again (and shown)
            self._unavailable(exc)
            return False
        try:
            await conn.add_listener(self.channel, self.on_notice)
        except Exception as exc:  # noqa: BLE001 — as above
            conn.terminate()
            self._unavailable(exc)
            return False
        conn.add_termination_listener(lambda _conn: self.lost.set())
        self._conn = conn
        self.lost.clear()
        self.trouble = None
        self.backoff.reset()
        self._next_check = now + self.keepalive_s
        self.opened += 1
        if self.opened > 1:
            log.info("%s: LISTEN connection open again", self.what)
        return True

    def _unavailable(self, exc: BaseException) -> None:
        delay = self.backoff.next()
        self._next_try = asyncio.get_running_loop().time() + delay
        self.lost.set()
        self.trouble = f"no LISTEN connection: {describe(exc)}"
        log.warning("%s: cannot LISTEN (%s); trying again in %.1fs", self.what, describe(exc), delay)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await asyncio.wait_for(conn.close(), 5)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                conn.terminate()


@dataclass(frozen=True)
class Migration:
    namespace: str
    version: str
    name: str
    sql: str

    @property
    def key(self) -> str:
        return f"{self.namespace}:{self.version}"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def load_migrations(namespace: str, directory: Path) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration files are named NNNN_slug.sql")
        found.append(Migration(namespace, match.group(1), path.stem, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{directory}: two migrations share a number")
    return found


CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migration (
    migration_key text PRIMARY KEY,
    name          text NOT NULL,
    checksum      text NOT NULL,
    applied_at    timestamptz NOT NULL DEFAULT now()
)
"""


async def migrate(conn: Conn, sources: Sequence[tuple[str, Path]]) -> list[str]:
    """Apply what is missing from each (namespace, directory); return the keys applied now."""
    migrations = [m for namespace, directory in sources for m in load_migrations(namespace, directory)]
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(CREATE_LEDGER)
        done: dict[str, Any] = {
            r["migration_key"]: r["checksum"]
            for r in await conn.fetch("SELECT migration_key, checksum FROM schema_migration")
        }
        for migration in migrations:
            if migration.key in done:
                if done[migration.key] != migration.checksum:
                    raise MigrationError(
                        f"{migration.key} ({migration.name}) changed after it was applied; "
                        "landed migrations are never edited — add a new one"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migration (migration_key, name, checksum) VALUES ($1, $2, $3)",
                    migration.key,
                    migration.name,
                    migration.checksum,
                )
            log.info("applied migration %s", migration.key)
            applied_now.append(migration.key)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return applied_now


def service_migrations(service: str, directory: Path) -> list[tuple[str, Path]]:
    return [("shared", SHARED_MIGRATIONS), (service, directory)]
