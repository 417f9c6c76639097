"""SLA timers: firing lateness with a million open clocks, idle and under load, the restart reload, and a plain
"poll the table every N seconds" loop for comparison — all in one run, on the real database and broker.

Runs against the local stack (`./switchboard up --no-services` is enough); makes its own `bench_sla` database:
    .venv/bin/python -m bench.sla_timers --clocks 1000000
What it does, in order:
  1. one million open clocks (5 due moments each: warning, breach, three levels) spread over the next 48 h,
     written by SQL; a bench policy whose clock has a `--target` seconds target;
  2. restart reload: a fresh scheduler fires what is overdue and loads its horizon (time and memory);
  3. idle: contacts arrive through the real handler at `--idle-rate` per second, each planning five due
     moments seconds ahead, on top of the background clocks falling due; the scheduler runs as in the service;
  4. under load: the same at `--load-rate` per second;
  5. down and up: the scheduler stops for `--down` seconds while contacts keep arriving, then a new one starts;
  6. the baseline: no scheduler, a loop that runs the same `fire_due` step every `--poll` seconds.
Lateness is commit time minus due time of every due moment fired in the phase (background ones included).
Prints a table; record results in docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import psutil
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from deploy.config import StackSettings
from services.sla.app import MIGRATIONS
from services.sla.domain.policy import ClockRule, Policy, Step, Target
from services.sla.handlers import SlaTx, on_contact_received
from services.sla.repository import admin as admin_repo
from services.sla.repository.contacts import Cause
from services.sla.scheduler import Scheduler
from shared.clock import SystemClock
from shared.config import ServiceSettings
from shared.db import connect, create_pool, migrate, service_migrations
from shared.events import ContactReceivedV1, CustomerRef
from shared.kafka import Producer
from shared.outbox import OutboxRelay, backlog

DATABASE = "bench_sla"
CLOCK = SystemClock()

# Background: open clocks whose five due moments fall between 2 minutes and 48 hours from now.
POPULATE = """
WITH made AS (
    INSERT INTO sla_contact (contact_id, channel, grade, priority_class, category, received_at, updated_at)
    SELECT gen_random_uuid(), 'phone', 'basic', 'routine', 'enquiry', $1::timestamptz, $1::timestamptz
    FROM generate_series(1, $2)
    RETURNING contact_id, received_at
), clocks AS (
    INSERT INTO sla_clock (contact_id, clock, policy_id, policy_version, spec, target_s, state, started_at, since,
                           elapsed_s, paused_s, due_at, grade, priority_class, channel, updated_at)
    SELECT contact_id, 'formal_response', $3, 1, $4::jsonb, 120 + random() * 86280, 'running', received_at,
           received_at, 0, 0, NULL, 'basic', 'routine', 'phone', received_at
    FROM made
    RETURNING contact_id, clock, target_s, started_at
)
INSERT INTO sla_due (contact_id, clock, alert, kind, level, target_role, due_at, breach_at, key_hash)
SELECT c.contact_id, c.clock, a.alert, a.kind, a.level, a.role,
       c.started_at + make_interval(secs => c.target_s * a.at),
       c.started_at + make_interval(secs => c.target_s),
       hashtext(c.contact_id::text) & 2147483647
FROM clocks c CROSS JOIN (VALUES ('warning', 'warning', 0, NULL, 0.8), ('breach', 'breach', 0, NULL, 1.0),
                                 ('escalation:1', 'escalation', 1, 'team_lead', 1.0),
                                 ('escalation:2', 'escalation', 2, 'supervisor', 1.5),
                                 ('escalation:3', 'escalation', 3, 'service_manager', 2.0))
     AS a(alert, kind, level, role, at)
"""


@dataclass
class Phase:
    name: str
    fired: int = 0
    lateness_ms: list[float] = field(default_factory=list)
    contacts: int = 0
    seconds: float = 0.0
    note: str = ""

    def pct(self, q: float) -> float:
        if not self.lateness_ms:
            return float("nan")
        ordered = sorted(self.lateness_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_policy(target_s: float, calendar_ids: list[str]) -> Policy:
    ladder = (
        Step(1, "team_lead"),
        Step(2, "supervisor", after_fraction=0.5),
        Step(3, "service_manager", after_fraction=1.0),
    )
    return Policy(
        policy_id=uuid.uuid4(),
        name="bench",
        grade="key",
        priority_class="complex",
        channel="social",
        calendar_id="24x7" if "24x7" in calendar_ids else calendar_ids[0],
        warning_fraction=0.5,
        ladder=ladder,
        clocks=(ClockRule("first_response", Target(target_s, "seconds"), stops_on=("responded",)),),
    )


def contact(now: datetime) -> ContactReceivedV1:
    return ContactReceivedV1(
        contact_id=uuid.uuid4(),
        message_id=uuid.uuid4(),
        channel="social",
        customer=CustomerRef(customer_id=uuid.uuid4(), grade="key"),
        text="bench",
        category="enquiry",
        priority_class="complex",
        received_at=now,
    )


async def feed(
    pool: asyncpg.Pool, rules: admin_repo.AdminCache, *, rate: float, seconds: float, tick: Callable[[], None]
) -> int:
    """Contacts through the real handler, `rate` per second, for `seconds`; returns how many."""
    sent = 0
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate) + 1
        while sent < due:
            async with pool.acquire() as conn, conn.transaction():
                event = contact(CLOCK.now())
                tx = SlaTx(conn, CLOCK.now(), admin=rules, live_channels=frozenset({"phone", "chat"}))
                await on_contact_received(tx, event, Cause(event.TYPE, uuid.uuid4()), event.received_at)
            sent += 1
        tick()
        await asyncio.sleep(max(0.0, (sent / rate) - (time.monotonic() - start)))
    return sent


async def drain_phase(scheduler: Scheduler, phase: Phase, *, settle_s: float) -> None:
    await asyncio.sleep(settle_s)
    phase.lateness_ms = list(scheduler.stats.lateness_ms)
    phase.fired = len(phase.lateness_ms)


async def run(args: argparse.Namespace, console: Console) -> tuple[list[Phase], dict[str, str]]:
    stack = StackSettings()
    admin = await asyncpg.connect(stack.database_url("postgres"))
    await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    await admin.close()
    dsn = stack.database_url(DATABASE)
    conn = await connect(dsn)
    await migrate(conn, service_migrations("sla", MIGRATIONS))
    calendars = [c.calendar_id for c in await admin_repo.list_calendars(conn)]
    policy = bench_policy(args.target, calendars)
    await admin_repo.save_policy(conn, policy, by="bench", now=CLOCK.now())
    spec = await conn.fetchval(
        "SELECT definition->'clocks'->0 FROM sla_policy WHERE policy_id = $1", policy.policy_id
    )
    facts: dict[str, str] = {}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"{args.clocks:,} open clocks", total=args.clocks)
        chunk = 100_000
        started = time.monotonic()
        for done in range(0, args.clocks, chunk):
            n = min(chunk, args.clocks - done)
            spec_json = {
                **spec,
                "clock": "formal_response",
                "policy_id": str(policy.policy_id),
                "policy_version": 1,
                "calendar_id": "24x7",
                "ladder": [],
                "warning_fraction": 0.8,
            }
            await conn.execute(POPULATE, CLOCK.now(), n, policy.policy_id, spec_json)
            progress.update(task, completed=done + n)
    await conn.execute("ANALYZE")
    facts["populate"] = f"{time.monotonic() - started:.0f} s"
    facts["database size"] = str(
        await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    )
    due_rows = await conn.fetchval("SELECT count(*) FROM sla_due")
    facts["due rows"] = f"{due_rows:,}"
    await conn.close()

    pool = await create_pool(dsn, min_size=2, max_size=8)
    settings = ServiceSettings(service="sla-bench", database_url=dsn, kafka_bootstrap=stack.kafka_bootstrap)
    producer = Producer(settings)
    await producer.start()
    relay = OutboxRelay(pool, producer, dsn=dsn)
    relay_task = asyncio.create_task(relay.run())
    rules = admin_repo.AdminCache()
    phases: list[Phase] = []
    process = psutil.Process()
    try:
        # Restart reload with a million open clocks.
        rss_before = process.memory_info().rss
        scheduler = Scheduler(pool, CLOCK, dsn=dsn, horizon_s=args.horizon)
        t = time.monotonic()
        await scheduler.catch_up()
        reload = Phase("restart reload (1M open clocks)", seconds=time.monotonic() - t)
        reload.fired = scheduler.stats.fired
        reload.note = (
            f"held {scheduler.held:,} instants of the next {args.horizon:.0f} s; "
            f"RSS +{(process.memory_info().rss - rss_before) / 2**20:.1f} MiB, "
            f"{process.memory_info().rss / 2**20:.0f} MiB in all"
        )
        phases.append(reload)
        if args.hold_all:
            rss_before = process.memory_info().rss
            everything = Scheduler(pool, CLOCK, dsn=dsn, horizon_s=49 * 3600, max_held=10_000_000)
            t = time.monotonic()
            await everything.reload(now=CLOCK.now())
            held_all = Phase("for comparison: every due moment in memory", seconds=time.monotonic() - t)
            grown = (process.memory_info().rss - rss_before) / 2**20
            held_all.note = f"held {everything.held:,} instants; RSS +{grown:.0f} MiB"
            phases.append(held_all)
            del everything

        async def with_scheduler(
            name: str, rate: float, make: Callable[[], Coroutine[Any, Any, None]] | None = None
        ) -> Phase:
            nonlocal scheduler
            phase = Phase(name)
            scheduler = Scheduler(pool, CLOCK, dsn=dsn, horizon_s=args.horizon, lead_s=args.lead)
            runner = asyncio.create_task(make() if make else scheduler.run())
            await asyncio.sleep(1.0)
            scheduler.stats.lateness_ms.clear()
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(name, total=args.seconds)
                start = time.monotonic()
                phase.contacts = await feed(
                    pool,
                    rules,
                    rate=rate,
                    seconds=args.seconds,
                    tick=lambda: progress.update(task, completed=time.monotonic() - start),
                )
            await drain_phase(scheduler, phase, settle_s=args.target * 2 + 3)
            phase.seconds = args.seconds
            scheduler.stop()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            phase.note = (
                f"{phase.contacts / args.seconds:.0f} contacts/s in; {phase.fired / args.seconds:.0f} firings/s"
            )
            return phase

        phases.append(await with_scheduler("idle (scheduler)", args.idle_rate))
        phases.append(await with_scheduler("under load (scheduler)", args.load_rate))

        # Down and up: contacts keep arriving while no scheduler runs; then a new one catches up.
        phase = Phase(f"down {args.down:.0f} s, then restart")
        phase.contacts = await feed(pool, rules, rate=args.idle_rate, seconds=args.down, tick=lambda: None)
        await asyncio.sleep(args.target * 2)
        scheduler = Scheduler(pool, CLOCK, dsn=dsn, horizon_s=args.horizon)
        t = time.monotonic()
        await scheduler.catch_up()
        phase.seconds = time.monotonic() - t
        phase.lateness_ms = list(scheduler.stats.lateness_ms)
        phase.fired = len(phase.lateness_ms)
        phase.note = f"caught up {phase.fired:,} overdue in {phase.seconds:.2f} s (lateness = time down)"
        phases.append(phase)

        async def poll_loop() -> None:
            while True:
                await asyncio.sleep(args.poll)
                await scheduler.fire_due(now=CLOCK.now())

        baseline = await with_scheduler(f"baseline: poll every {args.poll:g} s", args.idle_rate, poll_loop)
        phases.append(baseline)
        async with pool.acquire() as c:
            facts["outbox left at the end"] = str(await backlog(c))
    finally:
        relay.stop()
        await relay_task
        await producer.stop()
        await pool.close()
    return phases, facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clocks", type=int, default=1_000_000, help="open background clocks")
    parser.add_argument("--target", type=float, default=4.0, help="seconds: the bench clock's target")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the idle and load phases")
    parser.add_argument("--idle-rate", type=float, default=5.0, help="contacts per second when idle")
    parser.add_argument("--load-rate", type=float, default=60.0, help="contacts per second under load")
    parser.add_argument("--down", type=float, default=10.0, help="seconds without a scheduler")
    parser.add_argument("--poll", type=float, default=5.0, help="the baseline's polling period, seconds")
    parser.add_argument("--horizon", type=float, default=300.0, help="seconds of due moments held in memory")
    parser.add_argument(
        "--lead", type=float, default=0.05, help="seconds a firing is prepared ahead of its moment"
    )
    parser.add_argument(
        "--hold-all", action=argparse.BooleanOptionalAction, default=True, help="also measure holding everything"
    )
    args = parser.parse_args()
    console = Console(width=180)
    phases, facts = asyncio.run(run(args, console))
    cpu = platform.processor() or platform.machine()
    table = Table(
        title=f"SLA timers, {args.clocks:,} open clocks — {datetime.now(UTC):%Y-%m-%d}, "
        f"{psutil.cpu_count()} cores {cpu}, {psutil.virtual_memory().total / 2**30:.0f} GiB"
    )
    for column in ("phase", "fired", "p50 ms", "p99 ms", "max ms", "seconds", "note"):
        table.add_column(column, justify="left" if column in ("phase", "note") else "right")
    for p in phases:
        table.add_row(
            p.name,
            f"{p.fired:,}",
            f"{p.pct(0.5):,.0f}",
            f"{p.pct(0.99):,.0f}",
            f"{max(p.lateness_ms):,.0f}" if p.lateness_ms else "—",
            f"{p.seconds:.2f}",
            p.note,
        )
    console.print(table)
    console.print(", ".join(f"{k}: {v}" for k, v in facts.items()))


if __name__ == "__main__":
    main()
