"""Rate and latency of one event through outbox → relay → Kafka → consumer loop → inbox + effect row.

Runs against the local stack (`./switchboard up --no-services` is enough):
    .venv/bin/python -m bench.outbox_pipeline --events 20000
Prints a table; record results in docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
from datetime import UTC, datetime

import psutil
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from deploy.config import StackSettings
from deploy.probe import ProbeReport, round_trip
from shared.config import ServiceSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--batch", action="store_true", help="consumer handles each polled batch in one transaction"
    )
    parser.add_argument("--paced", type=int, default=200, help="events sent one by one, 20 ms apart (latency)")
    args = parser.parse_args()
    stack = StackSettings()
    settings = ServiceSettings(
        service="bench", database_url=stack.database_url("ops"), kafka_bootstrap=stack.kafka_bootstrap
    )
    console = Console()
    reports: list[ProbeReport] = []
    for run in range(1, args.runs + 1):
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"run {run}/{args.runs}", total=args.events)

            def show(done: int, _total: int, task: TaskID = task) -> None:
                progress.update(task, completed=done)

            reports.append(
                asyncio.run(
                    round_trip(
                        settings,
                        events=args.events,
                        timeout_s=600,
                        batch_transactions=args.batch,
                        progress=show,
                    )
                )
            )
    paced = (
        asyncio.run(round_trip(settings, events=args.paced, pace_s=0.02, timeout_s=120)) if args.paced else None
    )
    cpu = platform.processor() or platform.machine()
    table = Table(
        title=f"outbox → Kafka → consumer → inbox{' (batch transactions)' if args.batch else ''}, "
        f"{args.events:,} events × {args.runs} runs — "
        f"{datetime.now(UTC):%Y-%m-%d}, {psutil.cpu_count()} cores {cpu}, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    )
    for column in (
        "run",
        "delivered",
        "dupes",
        "enqueue s",
        "all handled s",
        "events/s",
        "p50 ms",
        "p99 ms",
        "max ms",
    ):
        table.add_column(column, justify="right")
    for i, r in enumerate(reports, 1):
        table.add_row(
            str(i),
            f"{r.delivered:,}",
            str(r.duplicates),
            f"{r.enqueue_s:.2f}",
            f"{r.drain_s:.2f}",
            f"{r.rate_per_s:,.0f}",
            f"{r.latency_p50_ms:,.0f}",
            f"{r.latency_p99_ms:,.0f}",
            f"{r.latency_max_ms:,.0f}",
        )
    if paced is not None:
        table.add_row(
            "paced",
            f"{paced.delivered:,}",
            str(paced.duplicates),
            "—",
            "—",
            "—",
            f"{paced.latency_p50_ms:,.0f}",
            f"{paced.latency_p99_ms:,.0f}",
            f"{paced.latency_max_ms:,.0f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
