"""A pool behind a real PgBouncer in transaction mode (Debian's, 1.18: before `max_prepared_statements`), set up
as docs/operations.md says: `plan_cache_mode` in `ignore_startup_parameters`, the statement cache off."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pwd
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from deploy.config import free_port
from deploy.pgbouncer import ensure_pgbouncer
from deploy.postgres import SYSTEM_USER
from shared.clock import SystemClock
from shared.db import SHARED_MIGRATIONS, connect, create_pool, migrate
from shared.events import ProbePingedV1, encode
from shared.kafka import Producer
from shared.outbox import OutboxRelay, enqueue_message
from tests.support import ROOT, TestStack, new_topic, read_topic, service_settings, wait_until


@pytest.fixture(scope="module")
def bouncer(test_stack: TestStack) -> Iterator[str]:
    """A URL to the `postgres` database through PgBouncer: two server connections for any number of clients."""
    binary = ensure_pgbouncer(ROOT / ".switchboard")
    server = test_stack.postgres_url.split("@", 1)[1].split("/", 1)[0]
    host, port = server.rsplit(":", 1)
    listen = free_port()
    directory = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    directory.chmod(0o755)  # PgBouncer will not run as root: as root, it runs as the database's system user
    (directory / "users.txt").write_text('"switchboard" ""\n')
    (directory / "pgbouncer.ini").write_text(
        f"[databases]\n* = host={host} port={port}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {directory / 'users.txt'}\npool_mode = transaction\n"
        "default_pool_size = 2\nignore_startup_parameters = plan_cache_mode\n"
    )
    user = group = None
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SYSTEM_USER)
        user, group = entry.pw_uid, entry.pw_gid
    log = (directory / "pgbouncer.log").open("wb")
    process = subprocess.Popen(
        [str(binary.path), str(directory / "pgbouncer.ini")],
        env={**os.environ, **binary.env},
        stdout=log,
        stderr=subprocess.STDOUT,
        user=user,
        group=group,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((directory / "pgbouncer.log").read_text()) from None
                time.sleep(0.1)
        yield f"postgresql://switchboard@127.0.0.1:{listen}/postgres"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


STATEMENTS = (
    "SELECT $1::int * 1",
    "SELECT $1::int * 2",
    "SELECT $1::int * 3",
    "SELECT $1::int * 4",
    "SELECT $1::int * 5",
    "SELECT $1::int * 6",
    "SELECT $1::int * 7",
)


async def _many_statements(bouncer: str, *, statement_cache_size: int) -> list[int | BaseException]:
    """A pool of six clients over PgBouncer's two server connections, and 200 transactions through it: each may
    land on either server connection. The pool's set-up (type codecs) counts too: it prepares statements."""
    try:
        pool = await create_pool(bouncer, min_size=6, max_size=6, statement_cache_size=statement_cache_size)
    except asyncpg.PostgresError as exc:
        return [exc]

    async def one(i: int) -> int:
        async with pool.acquire() as conn, conn.transaction():
            value: int = await conn.fetchval(STATEMENTS[i % 7], i)
            return value

    try:
        return await asyncio.gather(*(one(i) for i in range(200)), return_exceptions=True)
    finally:
        await pool.close()


async def test_with_the_statement_cache_off_every_statement_works_through_transaction_mode(bouncer: str) -> None:
    outcomes = await _many_statements(bouncer, statement_cache_size=0)
    assert outcomes == [i * (i % 7 + 1) for i in range(200)]


async def test_with_the_cache_on_pgbouncer_before_1_21_mixes_up_prepared_statements(bouncer: str) -> None:
    """The control: the same load with asyncpg's default cache fails, so the setting is what makes it work."""
    outcomes = await _many_statements(bouncer, statement_cache_size=100)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert any(isinstance(f, asyncpg.PostgresError) and "prepared statement" in str(f) for f in failures), failures


async def test_the_outbox_relay_is_woken_through_a_direct_listen_url_while_its_pool_goes_through_pgbouncer(
    bouncer: str, test_stack: TestStack, empty_database: str
) -> None:
    """`database_listen_url`: the pool in transaction mode, the LISTEN session straight to the server. The relay
    waits a minute between polls here, so only the notification can have woken it within seconds (with its
    LISTEN through PgBouncer instead, it was not woken in 15 s)."""
    conn = await connect(empty_database)
    try:
        await migrate(conn, [("shared", SHARED_MIGRATIONS)])
    finally:
        await conn.close()
    database = empty_database.rsplit("/", 1)[1]
    through = f"{bouncer.rsplit('/', 1)[0]}/{database}"
    settings = service_settings(test_stack, database).model_copy(
        update={"database_url": through, "database_listen_url": empty_database, "db_statement_cache_size": 0}
    )
    assert settings.listen_url == empty_database and settings.database_url == through
    pool = await create_pool(settings.database_url, min_size=1, max_size=2, statement_cache_size=0)
    producer = Producer(settings)
    await producer.start()
    relay = OutboxRelay(pool, producer, dsn=settings.listen_url, idle_wait_s=60)
    running = asyncio.create_task(relay.run())
    try:
        await wait_until(lambda: relay.trouble() is None and relay.listening, timeout_s=30)
        topic = await new_topic(test_stack.kafka_bootstrap)
        event = ProbePingedV1(probe_id=uuid.uuid4(), note="through pgbouncer")
        message = encode(event, source="switchboard/tests", subject=str(event.probe_id), time=SystemClock().now())
        async with pool.acquire() as staging, staging.transaction():
            await enqueue_message(staging, dataclasses.replace(message, topic=topic), now=SystemClock().now())
        await wait_until(lambda: relay.published == 1, timeout_s=15)
    finally:
        relay.stop()
        await running
        await producer.stop()
        await pool.close()
    records = await read_topic(test_stack.kafka_bootstrap, topic)
    assert any(str(message.event_id).encode() in value for _, value in records)
