"""How fast the satisfaction figures answer over a large survey history (every `by` dimension).

Fills a scratch database on the local stack with N invitations sent over 90 days (about a third answered,
200 agents in 20 teams, every channel, grade and category), then times `repository.tallies` + the low-score
comments per grouping, as `GET /v1/feedback/figures` runs them. Needs PostgreSQL from the stack:
    ./switchboard up --no-services
    .venv/bin/python -m bench.feedback_figures --invitations 300000
Prints a table; record results in docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import psutil
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from deploy.config import StackSettings
from services.feedback import repository as repo
from services.feedback.app import MIGRATIONS
from services.feedback.domain.figures import figures
from shared.db import connect, create_pool, migrate, service_migrations
from shared.events import CHANNELS

DATABASE = "bench_feedback"
DIMENSIONS = ("all", "agent", "team", "channel", "grade", "category", "day")
CATEGORIES = ("enquiry", "complaint", "suggestion", "system_fault", "data_anomaly", "service_interruption")
INVITATION_COLUMNS = (
    "invitation_id", "contact_id", "work_id", "resolved_at", "status", "channel", "customer_id", "grade",
    "category", "agent_id", "team", "fcr", "customer_notified", "invite_channel", "language", "sent_at",
    "expires_at", "created_at", "delivery", "csat", "csat_points", "nps", "solved",
)  # fmt: skip
RESPONSE_COLUMNS = (
    "survey_response_id", "invitation_id", "source", "csat", "csat_points", "nps", "solved", "comment",
    "followup_reasons", "answered_at",
)  # fmt: skip


async def fresh_database(stack: StackSettings) -> str:
    admin = await asyncpg.connect(stack.database_url("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    url = stack.database_url(DATABASE)
    conn = await connect(url)
    try:
        await migrate(conn, service_migrations("feedback", MIGRATIONS))
    finally:
        await conn.close()
    return url


def rows(n: int, start: datetime, rng: random.Random) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    invitations: list[tuple[object, ...]] = []
    responses: list[tuple[object, ...]] = []
    for _ in range(n):
        invitation_id = uuid.uuid4()
        sent = start + timedelta(seconds=rng.randrange(90 * 86400))
        agent = rng.randrange(200)
        answered = rng.random() < 0.35
        csat = rng.choices((5, 4, 3, 2, 1), (45, 30, 12, 8, 5))[0] if answered else None
        nps = rng.randrange(11) if answered and rng.random() < 0.6 else None
        solved = rng.random() < 0.85 if answered else None
        invitations.append(
            (
                invitation_id, uuid.uuid4(), uuid.uuid4(), sent - timedelta(minutes=10),
                "answered" if answered else "expired", rng.choice(CHANNELS), uuid.uuid4(),
                rng.choices(("basic", "key", "strategic"), (80, 15, 5))[0], rng.choice(CATEGORIES),
                f"agent-{agent}", f"team-{agent % 20}", rng.random() < 0.7, True, "sms", "zh-Hans", sent,
                sent + timedelta(hours=72), sent, rng.choice(("delivered", "delivered", "delivered", "failed")),
                csat, None if csat is None else 20.0 * csat, nps, solved,
            )
        )  # fmt: skip
        if csat is not None:
            low = [
                reason
                for reason, hit in (
                    ("not_solved", solved is False),
                    ("csat", csat <= 2),
                    ("nps", nps is not None and nps <= 6),
                )
                if hit
            ]
            responses.append(
                (
                    uuid.uuid4(), invitation_id, "page", csat, 20.0 * csat, nps, solved,
                    "等了很久 13800138000" if low and rng.random() < 0.5 else None, low, sent + timedelta(hours=1),
                )
            )  # fmt: skip
    return invitations, responses


async def fill(url: str, n: int, console: Console) -> datetime:
    rng = random.Random(6)
    start = datetime(2026, 8, 1, tzinfo=UTC)
    conn = await connect(url)
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("writing invitations and responses", total=n)
            for done in range(0, n, 20_000):
                invitations, responses = rows(min(20_000, n - done), start, rng)
                await conn.copy_records_to_table("invitation", records=invitations, columns=INVITATION_COLUMNS)
                await conn.copy_records_to_table("survey_response", records=responses, columns=RESPONSE_COLUMNS)
                progress.update(task, completed=done + len(invitations))
        await conn.execute("ANALYZE invitation; ANALYZE survey_response")
    finally:
        await conn.close()
    return start


async def measure(
    url: str, start: datetime, runs: int, console: Console
) -> list[tuple[str, int, list[float], float]]:
    pool = await create_pool(url, min_size=1, max_size=2)
    results = []
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("timing figures", total=len(DIMENSIONS) * runs * 2)
            for period_days in (30, 90):
                since, until = start + timedelta(days=90 - period_days), start + timedelta(days=90)
                for by in DIMENSIONS:
                    timings: list[float] = []
                    groups = 0
                    satisfied = 0.0
                    for _ in range(runs):
                        began = time.perf_counter()
                        async with pool.acquire() as conn:
                            found = await repo.tallies(
                                conn, by=by, since=since, until=until, time_zone="Asia/Shanghai"
                            )
                            await repo.low_score_comments(conn, since=since, until=until, limit=20)
                        groups = len(found)
                        satisfied = figures(found[0][1]).satisfied_pct or 0.0
                        timings.append((time.perf_counter() - began) * 1000)
                        progress.advance(task)
                    results.append((f"{by} · {period_days} days", groups, timings, satisfied))
    finally:
        await pool.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invitations", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    console = Console()
    stack = StackSettings()

    async def run() -> tuple[list[tuple[str, int, list[float], float]], int]:
        url = await fresh_database(stack)
        start = await fill(url, args.invitations, console)
        conn = await connect(url)
        try:
            answered = int(await conn.fetchval("SELECT count(*) FROM survey_response"))
        finally:
            await conn.close()
        return await measure(url, start, args.runs, console), answered

    results, answered = asyncio.run(run())
    cpu = platform.processor() or platform.machine()
    table = Table(
        title=f"GET /v1/feedback/figures queries, {args.invitations:,} invitations / {answered:,} answers, "
        f"{args.runs} runs — {datetime.now(UTC):%Y-%m-%d}, {psutil.cpu_count()} cores {cpu}, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    )
    for column in ("grouping · period", "groups", "p50 ms", "max ms", "first group satisfied %"):
        table.add_column(column, justify="right")
    for name, groups, timings, satisfied in results:
        table.add_row(
            name, str(groups), f"{statistics.median(timings):.0f}", f"{max(timings):.0f}", f"{satisfied:.1f}"
        )
    console.print(table)


if __name__ == "__main__":
    main()
