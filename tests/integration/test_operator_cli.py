"""The operator's commands against a deployment named only by settings (here: the test session's real broker and
database, never the local state dir), topic drift reported from the real broker, and the statement cache that
PgBouncer in transaction mode needs off."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from deploy.cli import main
from deploy.config import free_port
from deploy.topics import Drift, drift, found_shapes, wanted_shapes
from shared.auth import verify_token
from shared.db import create_pool
from shared.events import SERVICES, Topic
from shared.kafka import ensure_topics
from tests.support import TOKEN_SECRET, TestStack

WEEK_MS = 7 * 24 * 3600 * 1000


async def test_drift_on_the_real_broker_names_what_a_wrongly_created_topic_lacks(test_stack: TestStack) -> None:
    wrong = f"test.drift.{uuid.uuid4().hex[:8]}"
    missing = f"test.drift.{uuid.uuid4().hex[:8]}"
    await ensure_topics(
        test_stack.kafka_bootstrap, [Topic(wrong, 1, 3_600_000, "tests")], max_message_bytes=300_000
    )
    declared = [Topic(wrong, 3, WEEK_MS, "tests"), Topic(missing, 3, WEEK_MS, "tests")]
    wanted = wanted_shapes(declared, max_message_bytes=1_048_576, replication_factor=3, min_insync_replicas=2)

    found = await found_shapes(test_stack.kafka_bootstrap, list(wanted))

    assert drift(wanted, found) == [
        Drift(wrong, "partitions", "3", "1"),
        Drift(wrong, "replication factor", "3", "1"),
        Drift(wrong, "retention.ms", str(WEEK_MS), "3600000"),
        Drift(wrong, "max.message.bytes", "1048576", "300000"),
        Drift(wrong, "min.insync.replicas", "2", "1"),
        Drift(missing, "topic", "present", "missing"),
    ]


def test_provision_check_passes_on_the_local_topics_and_fails_against_production_durability(
    test_stack: TestStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA_BOOTSTRAP", test_stack.kafka_bootstrap)
    monkeypatch.setenv("SWITCHBOARD_ENVIRONMENT", "local")
    assert main(["provision", "--check", "--wait", "30"]) == 0, capsys.readouterr().out
    assert "no drift" in capsys.readouterr().out

    monkeypatch.setenv("SWITCHBOARD_ENVIRONMENT", "production")
    assert main(["provision", "--check", "--wait", "30"]) == 1
    report = capsys.readouterr().out
    assert "intake.contacts" in report and "replication factor" in report and "min.insync.replicas" in report


def test_keys_token_dlq_and_status_work_against_a_deployment_given_only_by_settings(
    test_stack: TestStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "no-local-stack"
    monkeypatch.setenv("SWITCHBOARD_STATE_DIR", str(state))
    monkeypatch.setenv("SWITCHBOARD_POSTGRES_URL", test_stack.postgres_url)
    monkeypatch.setenv("SWITCHBOARD_KAFKA_BOOTSTRAP", test_stack.kafka_bootstrap)
    monkeypatch.setenv("SWITCHBOARD_TOKEN_SECRET", TOKEN_SECRET)
    name = f"cli-{uuid.uuid4().hex[:8]}"

    assert main(["keys", "create", "--name", name, "--channels", "email,chat"]) == 0
    key = capsys.readouterr().out.strip()

    async def key_rows() -> dict[str, tuple[str, bool]]:
        rows = {}
        for service in SERVICES:
            conn = await asyncpg.connect(test_stack.database_url(service))
            try:
                row = await conn.fetchrow(
                    "SELECT api_key_id, revoked_at IS NOT NULL FROM api_key WHERE name = $1", name
                )
            finally:
                await conn.close()
            assert row is not None, f"{service} has no key {name}"
            rows[service] = (row[0], row[1])
        return rows

    rows = asyncio.run(key_rows())
    assert {key_id for key_id, _ in rows.values()} == {key.split("_")[1]}, "one key, in every service"
    assert not any(revoked for _, revoked in rows.values())

    assert main(["token", "--role", "agent", "--sub", "A-42", "--ttl", "30m"]) == 0
    claims = verify_token(TOKEN_SECRET, capsys.readouterr().out.strip())
    assert (claims.role, claims.subject) == ("agent", "A-42")

    assert main(["dlq", "list", "intake"]) == 0
    assert "intake.dlq" in capsys.readouterr().out

    assert main(["status"]) == 0
    status = capsys.readouterr().out
    assert "postgresql" in status and "kafka" in status and test_stack.kafka_bootstrap in status

    assert main(["keys", "revoke", name]) == 0
    assert all(revoked for _, revoked in asyncio.run(key_rows()).values())
    assert not (state / "token-secret").exists(), "the local stack's secret was neither made nor read"


def test_a_deployment_without_the_setting_a_command_needs_is_told_which_one(
    test_stack: TestStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWITCHBOARD_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("SWITCHBOARD_KAFKA_BOOTSTRAP", test_stack.kafka_bootstrap)
    monkeypatch.delenv("SWITCHBOARD_TOKEN_SECRET", raising=False)
    assert main(["token", "--role", "agent", "--sub", "A-1"]) == 1
    assert "SWITCHBOARD_TOKEN_SECRET" in capsys.readouterr().err


@pytest.mark.parametrize(("cache_size", "kept"), [(100, 1), (0, 0)])
async def test_with_the_statement_cache_off_no_named_statement_outlives_its_query(
    empty_database: str, cache_size: int, kept: int
) -> None:
    """What PgBouncer in transaction mode (before 1.21) needs: the next query may run on another server
    connection, which never saw a statement this connection prepared."""
    pool = await create_pool(empty_database, statement_cache_size=cache_size)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT $1::int + 1", 1) == 2
            prepared = await conn.fetchval(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int + 1%'"
            )
    finally:
        await pool.close()
    assert prepared == kept


async def test_the_urls_sslmode_reaches_asyncpg_and_require_refuses_a_server_without_tls(
    empty_database: str,
) -> None:
    """The embedded server is built without OpenSSL, so the other half (verify-full against a TLS server) is
    asyncpg's own; what is ours is that the URL's options arrive unchanged."""
    with pytest.raises(ConnectionError, match="SSL"):
        await create_pool(f"{empty_database}?sslmode=require")
    pool = await create_pool(f"{empty_database}?sslmode=prefer")
    try:
        assert await pool.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is False
    finally:
        await pool.close()


def test_trace_reads_the_viewer_the_settings_name_and_says_when_it_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("SWITCHBOARD_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("SWITCHBOARD_ZIPKIN_URL", nowhere)
    assert main(["trace", str(uuid.uuid4())]) == 1
    said = capsys.readouterr().err
    assert nowhere in said and "up --traces" not in said, "a deployment's viewer, not the local stack's"
