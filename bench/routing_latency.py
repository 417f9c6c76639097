"""Contact → offer on the agent's desktop socket: latency at a steady arrival rate, through the running stack.

Publishes `contact.received` to `intake.contacts` (what intake emits for a posted contact) at `--rate` per
second, with real agents connected to routing's `/v1/desktop/ws`, and times each contact from its publish to
its offer arriving on a socket: routing's consumer, the work insert, the dispatcher's decision and offer
transaction, the desktop feed and the socket. Needs `switchboard up` (same SWITCHBOARD_* settings).

Nobody answers the offers, so a run must end before the first ones time out (the routing policy's offer
timeout; the bench refuses longer runs), and once measured it clears everything it created (`clear_pool`), so
the next run starts on a routing with nothing of this one left in it.

    .venv/bin/python -m bench.routing_latency --rate 200 --seconds 10 --agents 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import psutil
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect

from deploy.config import StackSettings
from deploy.stack import Stack
from shared.auth import issue_token
from shared.config import ServiceSettings
from shared.events import ContactReceivedV1, CustomerRef, encode
from shared.kafka import Producer


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


async def desk_reader(socket: ClientConnection, arrived: dict[str, float]) -> None:
    async for raw in socket:
        message = json.loads(raw)
        if message.get("type") == "offer":
            arrived.setdefault(message["work"]["contact_id"], time.time())


OPEN_WORK = "SELECT work_id::text FROM work_item WHERE pool = $1 AND state <> 'closed' ORDER BY created_at"


async def clear_pool(
    http: httpx.AsyncClient,
    db_url: str,
    pool: str,
    agents: list[str],
    token: Callable[[str, str], str],
    console: Console,
) -> int:
    """Leave nothing behind: the desks go offline (their live offers are withdrawn: none expires later and
    sets its agent away), then a supervisor assigns every open work item of the run to one of its agents and
    the agent resolves and closes it. Without this, a run's 2,400 offers expired 20 s later, inside the next
    run, and their work waited in routing's memory for good. Returns how many could not be cleared."""
    admin = {"Authorization": f"Bearer {token('admin', 'bench')}"}
    supervisor = {"Authorization": f"Bearer {token('supervisor', 'bench')}"}
    for agent_id in agents:
        await http.put(f"/v1/agents/{agent_id}/presence", headers=admin, json={"presence": "offline"})
    conn = await asyncpg.connect(db_url)
    try:
        works = [row["work_id"] for row in await conn.fetch(OPEN_WORK, pool)]
    finally:
        await conn.close()
    failed = 0
    gate = asyncio.Semaphore(8)

    async def clear(n: int, work_id: str) -> None:
        nonlocal failed
        agent_id = agents[n % len(agents)]
        async with gate:
            assigned = await http.post(
                f"/v1/work/{work_id}/assign",
                headers=supervisor,
                json={"agent_id": agent_id, "override_capacity": True, "reason": "benchmark clean-up"},
            )
            resolved = await http.post(
                f"/v1/work/{work_id}/resolve",
                headers={"Authorization": f"Bearer {token('agent', agent_id)}"},
                json={
                    "resolution_code": "bench",
                    "final_note": "cleared by the benchmark",
                    "fcr": True,
                    "customer_notified": True,
                    "send_end_notice": False,
                    "close": True,
                },
            )
        if assigned.status_code != 200 or resolved.status_code != 200:
            failed += 1
        progress.update(task, advance=1)

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("clearing the run's work (assign, resolve, close)", total=len(works))
        await asyncio.gather(*(clear(n, work_id) for n, work_id in enumerate(works)))
    return failed


STAGES = """
SELECT c.contact_id::text AS contact_id, extract(epoch FROM w.created_at) AS work_at,
       extract(epoch FROM o.created_at) AS offer_at
FROM work_item w JOIN contact c USING (contact_id)
LEFT JOIN LATERAL (SELECT created_at FROM offer WHERE work_id = w.work_id ORDER BY created_at LIMIT 1) o ON true
WHERE w.pool = $1
"""


def cpu_by_pid(pid: int | None) -> dict[int, float]:
    """User + system CPU of a process and of each of its children (PostgreSQL's backends), by pid."""
    if pid is None:
        return {}
    out: dict[int, float] = {}
    try:
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                out[process.pid] = float(sum(process.cpu_times()[:2]))
    except psutil.Error:
        pass
    return out


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two readings by the processes alive at the second (a backend that exited in between
    is not counted; one that started is counted whole)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def pid_of(stack: Stack, name: str) -> int | None:
    if name == "postgresql":
        return stack.postgres.pid()
    return stack.services[name].pid()


async def run(args: argparse.Namespace, console: Console) -> None:
    stack = StackSettings()
    running = Stack(stack)
    secret = running.token_secret()
    now = datetime.now(UTC)

    def token(role: str, subject: str) -> str:
        return issue_token(secret, role=role, subject=subject, ttl=timedelta(hours=1), now=now)  # type: ignore[arg-type]

    base = f"http://127.0.0.1:{stack.routing_port}"
    pool = f"bench-{uuid.uuid4().hex[:6]}"
    agents = [f"{pool}-{i:03d}" for i in range(args.agents)]
    admin = {"Authorization": f"Bearer {token('admin', 'bench')}"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        policy = (await http.get("/v1/routing/policy", headers=admin)).json()["document"]
        if args.seconds >= policy["offer_timeout_s"] - 3:
            # Nobody answers the bench's offers: once the first ones time out, a missed offer sets its agent
            # away, which withdraws all its offers, and the run measures that cascade instead of routing.
            raise SystemExit(
                f"--seconds {args.seconds} would outlast the offer timeout ({policy['offer_timeout_s']} s): "
                f"the first offers would expire mid-run; use --seconds {policy['offer_timeout_s'] - 4} or less"
            )
        for agent_id in agents:
            response = await http.put(
                f"/v1/agents/{agent_id}",
                headers=admin,
                json={
                    "display_name": agent_id,
                    "tier": "front_line",
                    "pool": pool,
                    "languages": ["zh"],
                    "capacity": {"chat": args.capacity},
                },
            )
            response.raise_for_status()
        sockets: list[ClientConnection] = []
        arrived: dict[str, float] = {}
        readers = []
        for agent_id in agents:
            socket = await connect(
                base.replace("http", "ws") + "/v1/desktop/ws",
                additional_headers={"Authorization": f"Bearer {token('agent', agent_id)}"},
            )
            json.loads(await socket.recv())  # hello
            await socket.send(json.dumps({"type": "presence", "presence": "available"}))
            json.loads(await socket.recv())
            sockets.append(socket)
            readers.append(asyncio.create_task(desk_reader(socket, arrived)))
        producer = Producer(ServiceSettings(service="bench", kafka_bootstrap=stack.kafka_bootstrap))
        await producer.start()
        sent: dict[str, float] = {}
        total = args.rate * args.seconds
        watched = ("routing", "postgresql", "sla", "knowledge")
        cpu_before = {name: cpu_by_pid(pid_of(running, name)) for name in watched}
        interval = 1.0 / args.rate
        try:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(
                    f"{args.rate}/s for {args.seconds}s to {args.agents} desktops", total=total
                )
                start = time.perf_counter()
                for i in range(total):
                    due = start + i * interval
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    contact = ContactReceivedV1(
                        contact_id=uuid.uuid4(),
                        message_id=uuid.uuid4(),
                        channel="chat",
                        customer=CustomerRef(
                            customer_id=uuid.uuid4(), grade="basic", attributes={"routing_pool": pool}
                        ),
                        subject="bench",
                        text="bench contact",
                        language="zh",
                        category="enquiry",
                        priority_class="routine",
                        received_at=datetime.now(UTC),
                    )
                    message = encode(
                        contact,
                        source="switchboard/bench",
                        subject=str(contact.contact_id),
                        time=datetime.now(UTC),
                    )
                    sent[str(contact.contact_id)] = time.time()
                    await producer.send(
                        message.topic, key=message.key, value=message.value, headers=message.headers
                    )
                    progress.update(task, completed=i + 1)
                offered_by = time.perf_counter() + args.drain
                while time.perf_counter() < offered_by and len(arrived) < total:  # noqa: ASYNC110 — polling a dict the readers fill
                    await asyncio.sleep(0.1)
                cpu = {name: cpu_spent(cpu_before[name], cpu_by_pid(pid_of(running, name))) for name in watched}
        finally:
            await producer.stop()
            for reader in readers:
                reader.cancel()
            for socket in sockets:
                await socket.close()
            uncleared = await clear_pool(http, stack.database_url("routing"), pool, agents, token, console)
            if uncleared:
                console.print(f"[yellow]{uncleared} work items of the run could not be cleared")
    latencies = [(arrived[c] - t) * 1000 for c, t in sent.items() if c in arrived]
    conn = await asyncpg.connect(stack.database_url("routing"))
    try:
        rows = {r["contact_id"]: r for r in await conn.fetch(STAGES, pool)}
    finally:
        await conn.close()
    # The stages from routing's own timestamps (each taken when its transaction began; same host clock).
    stages: dict[str, list[float]] = {
        "publish → work row": [],
        "work row → offer row": [],
        "offer row → socket": [],
    }
    for contact_id, at in sent.items():
        row = rows.get(contact_id)
        if row is None or row["offer_at"] is None or contact_id not in arrived:
            continue
        work_at, offer_at = float(row["work_at"]), float(row["offer_at"])
        stages["publish → work row"].append((work_at - at) * 1000)
        stages["work row → offer row"].append((offer_at - work_at) * 1000)
        stages["offer row → socket"].append((arrived[contact_id] - offer_at) * 1000)
    table = Table(
        title=f"contact.received → offer on the desktop socket — {datetime.now(UTC):%Y-%m-%d}, "
        f"{psutil.cpu_count()} cores {platform.processor() or platform.machine()}, "
        f"load average {psutil.getloadavg()[0]:.1f}"
    )
    for column in ("rate/s", "seconds", "desktops", "sent", "offered", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right")
    table.add_row(
        str(args.rate),
        str(args.seconds),
        str(args.agents),
        f"{len(sent):,}",
        f"{len(latencies):,}",
        f"{pct(latencies, 0.5):.1f}",
        f"{pct(latencies, 0.95):.1f}",
        f"{pct(latencies, 0.99):.1f}",
        f"{max(latencies, default=float('nan')):.1f}",
    )
    console.print(table)
    split = Table(title="where the time goes (routing's timestamps)")
    for column in ("stage", "p50 ms", "p95 ms", "p99 ms"):
        split.add_column(column, justify="right")
    for stage, values in stages.items():
        split.add_row(stage, *(f"{pct(values, p):.1f}" for p in (0.5, 0.95, 0.99)))
    console.print(split)
    cpu_table = Table(title=f"CPU per contact ({len(sent):,} contacts, from send to the last offer)")
    for column in ("process", "CPU s", "CPU ms per contact"):
        cpu_table.add_column(column, justify="right")
    for name, seconds in cpu.items():
        cpu_table.add_row(name, f"{seconds:.2f}", f"{seconds * 1000 / max(1, len(sent)):.2f}")
    console.print(cpu_table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=200, help="contacts per second")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--agents", type=int, default=100, help="connected desktops")
    parser.add_argument("--capacity", type=int, default=20, help="chat slots per agent")
    parser.add_argument("--drain", type=float, default=30.0, help="seconds to wait for the last offers")
    args = parser.parse_args()
    asyncio.run(run(args, Console(width=160)))


if __name__ == "__main__":
    main()
