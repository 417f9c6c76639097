"""Accepted contacts per second and latency of one intake process over HTTP, with durable writes; email parse time.

Starts a private broker and database (durable, on free ports, under `.switchboard/bench-intake/`, removed
at the end) and its own intake process (uvicorn, the real service), so the hundreds of thousands of contacts a
run posts never reach the local stack, whose routing, SLA and knowledge would otherwise work through them
for the next hour. `--stack` uses the running local stack's broker and database instead:
    .venv/bin/python -m bench.intake_http --seconds 20
Phases: a baseline (an endpoint that does nothing: what HTTP alone costs here), sustained single posts
(closed loop, N concurrent clients), single posts at a fixed rate (open loop, latency from the scheduled
send time, so queueing counts), the same two for batches, and in-process email parsing over the real
fixtures. Pick some with `--phases live,single,rate,batch,batch-rate`. Besides rates and latencies each
phase reports the load average and the CPU time per accepted contact of the intake process and of
PostgreSQL: on a machine shared with other work, the rate says what this machine gave, the CPU time what the
work costs. Prints a table; record results in docs/benchmarks.md with machine and date.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from deploy.config import StackSettings
from deploy.stack import Stack
from services.intake.domain.channels import email_inbound
from services.intake.domain.mime import parse_email
from shared.auth import generate_api_key, insert_api_key
from shared.clock import utcnow
from shared.db import connect
from shared.outbox import backlog

ROOT = Path(__file__).resolve().parent.parent
EMAILS = ROOT.parent / "shared" / "data" / "emails"
TEXTS = [
    "您好，我的订单三天了还没有发货，请帮忙查询一下物流。",
    "我要投诉，客服态度太差，问题一直没有解决。",
    "App一打开就闪退，报错代码500，无法登录。",
    "这个月被重复扣费了两次，账单不对。",
    "Hello, I was charged twice for the same order, please refund.",
    "The portal has been unreachable since this morning.",
    "建议你们的App增加夜间模式。",
    "請問如何修改帳戶的聯繫電話？",
]


@dataclass
class Phase:
    name: str
    sent: int = 0
    accepted: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)
    """1-minute load average at the start and at the end."""
    intake_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0

    def cpu_ms(self, seconds: float) -> float:
        """CPU milliseconds per accepted contact (the outbox relay's share included: it runs until the outbox
        is empty)."""
        return seconds * 1000 / self.accepted if self.accepted else float("nan")

    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def web_form(senders: int) -> dict[str, Any]:
    n = random.randrange(senders)
    return {
        "form_id": "bench",
        "submission_id": uuid.uuid4().hex,
        "name": f"Bench {n}",
        "email": f"bench-{n}@example.com",
        "phone": f"+86139{n:08d}",
        "subject": "Bench",
        "message": random.choice(TEXTS),
    }


async def closed_loop(
    client: httpx.AsyncClient, send: Callable[[], Awaitable[int]], *, clients: int, seconds: float, phase: Phase
) -> None:
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                accepted = await send()
            except httpx.HTTPError:
                phase.errors += 1
                continue
            phase.latencies_ms.append((time.monotonic() - started) * 1000)
            phase.sent += 1
            phase.accepted += accepted

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(clients)))
    phase.seconds = time.monotonic() - started


async def open_loop(
    send: Callable[[], Awaitable[int]], *, per_second: float, seconds: float, phase: Phase, connections: int
) -> None:
    """Send on a fixed schedule; latency counts from the scheduled time, so a stalled server shows.

    At most `connections` requests are in flight (one per connection, like an adapter's connection pool);
    requests due while all are busy wait in a queue here, and that wait counts in their latency. (Left to
    httpx, thousands of requests waiting for a pooled connection cost the client more CPU than the server.)
    """
    start = time.monotonic()
    total = int(per_second * seconds)
    due: asyncio.Queue[float | None] = asyncio.Queue()

    async def connection() -> None:
        while (scheduled := await due.get()) is not None:
            try:
                accepted = await send()
            except httpx.HTTPError:
                phase.errors += 1
                continue
            phase.latencies_ms.append((time.monotonic() - scheduled) * 1000)
            phase.sent += 1
            phase.accepted += accepted

    senders = [asyncio.create_task(connection()) for _ in range(connections)]
    for i in range(total):
        scheduled = start + i / per_second
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        due.put_nowait(scheduled)
    for _ in senders:
        due.put_nowait(None)
    await asyncio.gather(*senders)
    phase.seconds = time.monotonic() - start


class CpuMeter:
    """CPU seconds used so far by the intake process and by every process of the stack's PostgreSQL."""

    def __init__(self, intake_pid: int, state_dir: Path) -> None:
        self.intake = psutil.Process(intake_pid)
        self.state_dir = str(state_dir)

    def _postgres(self) -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter(["name", "cmdline"]):
            try:
                if process.info["name"] != "postgres":
                    continue
                root = process
                while root.parent() is not None and root.parent().name() == "postgres":
                    root = root.parent()
                if self.state_dir in " ".join(root.cmdline()):
                    found.append(process)
            except psutil.Error:
                continue
        return found

    @staticmethod
    def _cpu(processes: list[psutil.Process]) -> float:
        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    def read(self) -> tuple[float, float]:
        return self._cpu([self.intake]), self._cpu(self._postgres())


def parse_times() -> tuple[float, float, int]:
    """Mean ms to parse and normalise one real email (all fixtures, 20 rounds) and ms for a 2 MB email."""
    files = sorted(p for p in EMAILS.rglob("*.eml"))
    raws = [p.read_bytes() for p in files]
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        for raw in raws:
            email_inbound(parse_email(raw), region="CN")
    mean_ms = (time.perf_counter() - started) * 1000 / (rounds * len(raws))
    big = (
        b"From: big@example.com\r\nSubject: =?gb2312?B?tPq/qrj3tdjU9ta1y7C3osax?=\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; charset=gbk\r\n\r\n'
        + "我的订单有问题。".encode("gbk") * 2000
        + b"\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b"QUJD" * 500_000
        + b"\r\n--b--\r\n"
    )
    started = time.perf_counter()
    email_inbound(parse_email(big), region="CN")
    return mean_ms, (time.perf_counter() - started) * 1000, len(raws)


async def private_stack(console: Console) -> Stack:
    """Broker and database of the benchmark's own, durable like the local stack's, on free ports."""
    state = ROOT / ".switchboard" / "bench-intake"
    if state.exists():
        Stack(StackSettings(state_dir=state)).down()  # leftovers of an interrupted run
        shutil.rmtree(state)
    stack = Stack(StackSettings.throwaway(state, kafka_lib_dir=StackSettings().jars, durable=True))
    with console.status("starting a private broker and database…"):
        await stack.up(services=False)
    return stack


async def run(args: argparse.Namespace, console: Console) -> list[Phase]:
    stack = Stack(StackSettings()) if args.stack else await private_stack(console)
    try:
        return await measure(stack, args, console)
    finally:
        if not args.stack:
            stack.down()
            shutil.rmtree(stack.settings.state, ignore_errors=True)


async def measure(stack: Stack, args: argparse.Namespace, console: Console) -> list[Phase]:
    env = {**os.environ, **stack.service_env("intake"), "SWITCHBOARD_LOG_LEVEL": "WARNING"}
    env["SWITCHBOARD_DB_POOL_MAX"] = str(args.pool)
    port = stack.settings.service_port("intake")
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(  # noqa: ASYNC220 — started once, before any load
        [sys.executable, "-m", "services.intake", "serve"], env=env, cwd=ROOT
    )
    phases: list[Phase] = []
    try:
        async with httpx.AsyncClient(
            base_url=base, timeout=30, limits=httpx.Limits(max_connections=256)
        ) as client:
            for _ in range(300):
                try:
                    if (await client.get("/health/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise SystemExit("intake did not become ready")
            key = generate_api_key()
            conn = await connect(stack.settings.database_url("intake"))
            try:
                await insert_api_key(conn, key=key, name=f"bench-{key.key_id}", channels=["web"], now=utcnow())
            finally:
                await conn.close()
            client.headers["Authorization"] = f"Bearer {key.key}"

            async def single() -> int:
                response = await client.post("/v1/channels/web", json=web_form(args.senders))
                return 1 if response.status_code == 202 else 0

            async def batch() -> int:
                items = [{"channel": "web", "payload": web_form(args.senders)} for _ in range(args.batch)]
                response = await client.post("/v1/channels/batch", json={"items": items})
                return int(response.json()["accepted"]) if response.status_code == 202 else 0

            async def live() -> int:
                response = await client.get("/health/live")
                return 1 if response.status_code == 200 else 0

            plan: list[tuple[str, str, Callable[[Phase, float], Awaitable[None]]]] = [
                (
                    "live",
                    f"baseline: GET /health/live, {args.clients} clients (the HTTP stack alone)",
                    lambda p, s: closed_loop(client, live, clients=args.clients, seconds=s, phase=p),
                ),
                (
                    "single",
                    f"single posts, {args.clients} clients, max rate",
                    lambda p, s: closed_loop(client, single, clients=args.clients, seconds=s, phase=p),
                ),
                (
                    "rate",
                    f"single posts at {args.rate:.0f}/s",
                    lambda p, s: open_loop(
                        single, per_second=args.rate, seconds=s, phase=p, connections=args.connections
                    ),
                ),
                (
                    "batch",
                    f"batches of {args.batch}, {args.batch_clients} clients, max rate",
                    lambda p, s: closed_loop(client, batch, clients=args.batch_clients, seconds=s, phase=p),
                ),
                (
                    "batch-rate",
                    f"batches of {args.batch} at {args.rate:.0f} contacts/s",
                    lambda p, s: open_loop(
                        batch,
                        per_second=args.rate / args.batch,
                        seconds=s,
                        phase=p,
                        connections=args.batch_clients,
                    ),
                ),
            ]
            meter = CpuMeter(server.pid, stack.settings.state)
            chosen = set(args.phases.split(","))
            for tag, name, body in plan:
                if tag not in chosen:
                    continue
                if args.warmup > 0:  # connections opened, statements prepared, caches filled: not measured
                    with console.status(f"{name}: warming up for {args.warmup:.0f} s…"):
                        await body(Phase(name), args.warmup)
                phase = Phase(name)
                intake_before, postgres_before = meter.read()
                load_before = os.getloadavg()[0]
                with console.status(f"{name} for {args.seconds:.0f} s…"):
                    await body(phase, args.seconds)
                    conn = await connect(stack.settings.database_url("intake"))
                    try:
                        for _ in range(600):  # the relay publishes what the phase left in the outbox
                            if not await backlog(conn):
                                break
                            await asyncio.sleep(0.2)
                    finally:
                        await conn.close()
                intake_after, postgres_after = meter.read()
                phase.load = (load_before, os.getloadavg()[0])
                phase.intake_cpu_s = intake_after - intake_before
                phase.postgres_cpu_s = postgres_after - postgres_before
                console.print(
                    f"{name}: {phase.accepted:,} accepted in {phase.seconds:.1f} s = {phase.rate():,.0f}/s, "
                    f"p50 {phase.pct(0.5):.1f} ms, p95 {phase.pct(0.95):.1f} ms, p99 {phase.pct(0.99):.1f} ms, "
                    f"errors {phase.errors}, "
                    f"CPU per contact: intake {phase.cpu_ms(phase.intake_cpu_s):.2f} ms, "
                    f"PostgreSQL {phase.cpu_ms(phase.postgres_cpu_s):.2f} ms; "
                    f"load average {phase.load[0]:.1f} → {phase.load[1]:.1f}"
                )
                phases.append(phase)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of each phase's traffic sent first and not measured"
    )
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients for single posts")
    parser.add_argument("--batch", type=int, default=100, help="items per batch")
    parser.add_argument("--batch-clients", type=int, default=4, help="concurrent clients for batches")
    parser.add_argument(
        "--connections", type=int, default=64, help="most single posts in flight in the fixed-rate phase"
    )
    parser.add_argument("--rate", type=float, default=300.0, help="fixed rate (contacts/s) for the latency phases")
    parser.add_argument("--senders", type=int, default=50_000, help="distinct customers the forms come from")
    parser.add_argument("--pool", type=int, default=10, help="database connections of the intake process")
    parser.add_argument(
        "--phases", default="live,single,rate,batch,batch-rate", help="which phases to run, comma-separated"
    )
    parser.add_argument(
        "--stack",
        action="store_true",
        help="use the local stack's broker and database (they keep the data)",
    )
    parser.add_argument("--no-parse", action="store_true", help="skip the in-process email parsing figures")
    args = parser.parse_args()
    console = Console(width=max(Console().width, 160))
    mean_ms, big_ms, files = (float("nan"), float("nan"), 0) if args.no_parse else parse_times()
    if files:
        console.print(
            f"email parse + normalise: {mean_ms:.2f} ms mean over {files} real emails; 2 MB email {big_ms:.0f} ms"
        )
    phases = asyncio.run(run(args, console))
    cpu = platform.processor() or platform.machine()
    table = Table(
        title=f"intake over HTTP, one process, durable writes — {datetime.now(UTC):%Y-%m-%d}, "
        f"{psutil.cpu_count()} cores {cpu}, {psutil.virtual_memory().total / 2**30:.0f} GiB"
    )
    columns = (
        "phase", "accepted", "seconds", "per second", "p50 ms", "p95 ms", "p99 ms", "errors",
        "intake CPU ms/contact", "PostgreSQL CPU ms/contact", "load average",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    for p in phases:
        table.add_row(
            p.name, f"{p.accepted:,}", f"{p.seconds:.1f}", f"{p.rate():,.0f}", f"{p.pct(0.5):.1f}",
            f"{p.pct(0.95):.1f}", f"{p.pct(0.99):.1f}", str(p.errors), f"{p.cpu_ms(p.intake_cpu_s):.2f}",
            f"{p.cpu_ms(p.postgres_cpu_s):.2f}", f"{p.load[0]:.1f} → {p.load[1]:.1f}",
        )  # fmt: skip
    if files:
        table.add_row("email parse + normalise, mean of real emails", str(files), "", "", f"{mean_ms:.2f}")
        table.add_row("email parse + normalise, 2 MB email", "1", "", "", f"{big_ms:.0f}")
    console.print(table)
    if phases and statistics.mean(p.errors for p in phases) > 0:
        console.print("[yellow]some requests failed; see the counts[/yellow]")


if __name__ == "__main__":
    main()
