"""The whole system under rising load: contact posted over HTTP → offer on an agent's desktop socket.

Steps through arrival rates (open loop: each post is sent at its scheduled time, whatever came before), each for
`--seconds`, against the running stack (`switchboard up --traces`, same SWITCHBOARD_* settings). Bench agents
hold real desktop WebSockets and accept every offer at once (each holds up to 50 web contacts, so capacity never
limits the figure). For each step it reports the achieved rate and the latency from the moment the adapter's
POST was sent to the moment the offer arrived on a socket, and the sustained rate: the highest step whose p99
stays under `--p99-ms` (250) with every contact offered.

Each hop's share comes from the traces: for a sample of contacts per step, the viewer's spans split the latency
into intake's request, the outbox relay's wait, Kafka to routing's consumer, routing's handling, the
dispatcher's decision, offer commit and desktop feed to the socket.

    .venv/bin/switchboard up --traces
    .venv/bin/python -m bench.system --rates 5,10,20,40 --seconds 15 --agents 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect

from deploy.config import StackSettings
from deploy.stack import Stack
from deploy.traces import fetch_contact_spans

HOPS = (
    "intake request",
    "outbox → Kafka",
    "Kafka → routing",
    "routing consumer",
    "dispatch → socket",
)
TEXTS = (
    "请问怎么修改账单地址？",
    "我想查询上个月的账单明细",
    "How do I change the email address on my account?",
    "会员积分什么时候到账？",
)
SKILLS = {"general": 5, "complaints": 5, "technical": 5, "data": 5}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Step:
    rate: float
    sent: dict[str, float] = field(default_factory=dict)
    """contact id → wall-clock time (epoch seconds) its POST was sent."""
    errors: int = 0
    wall_s: float = 0.0

    def latencies_ms(self, offered: dict[str, float]) -> list[float]:
        return [(offered[c] - t) * 1000 for c, t in self.sent.items() if c in offered]


class Desks:
    """Bench agents on real desktop sockets: every offer is timed on arrival and accepted at once."""

    def __init__(self) -> None:
        self.offered: dict[str, float] = {}
        self.sockets: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []

    async def open(self, url: str, tokens: Iterable[str]) -> None:
        for token in tokens:
            socket = await connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=30)
            json.loads(await socket.recv())  # hello
            await socket.send(json.dumps({"type": "presence", "presence": "available", "ref": "p"}))
            self.sockets.append(socket)
            self.readers.append(asyncio.create_task(self._read(socket)))

    async def _read(self, socket: ClientConnection) -> None:
        async for raw in socket:
            message = json.loads(raw)
            if message.get("type") == "offer":
                self.offered.setdefault(message["work"]["contact_id"], time.time())
                await socket.send(json.dumps({"type": "accept", "offer_id": message["offer_id"]}))

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        for socket in self.sockets:
            await socket.close()


async def drive(intake: httpx.AsyncClient, step: Step, seconds: float, rng: random.Random, progress: Any) -> None:
    total = int(step.rate * seconds)
    task = progress.add_task(f"{step.rate:g}/s for {seconds:g} s", total=total)
    started = time.perf_counter()

    async def post(i: int) -> None:
        phone = f"+86139{rng.randrange(10**8):08d}"
        form = {
            "form_id": "bench",
            "submission_id": uuid.uuid4().hex,
            "name": "Bench",
            "phone": phone,
            "subject": "bench",
            "message": TEXTS[i % len(TEXTS)],
        }
        at = time.time()
        try:
            response = await intake.post("/v1/channels/web", json=form)
        except httpx.HTTPError:
            step.errors += 1
            return
        if response.status_code != 202:
            step.errors += 1
            return
        step.sent[response.json()["contact_id"]] = at
        progress.advance(task)

    posts = []
    for i in range(total):
        delay = started + i / step.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        posts.append(asyncio.create_task(post(i)))
    await asyncio.gather(*posts)
    step.wall_s = time.perf_counter() - started
    progress.remove_task(task)


def hop_split(spans: list[dict[str, Any]], offered_at: float) -> dict[str, float] | None:
    """Milliseconds per hop for one contact, from its spans (Zipkin v2 JSON; times in µs since the epoch)."""

    def first(service: str, name: str) -> dict[str, Any] | None:
        found = [
            s
            for s in spans
            if s.get("localEndpoint", {}).get("serviceName") == service and s.get("name", "").lower() == name
        ]
        return min(found, key=lambda s: s["timestamp"]) if found else None

    request = first("intake", "post /v1/channels/web")
    sent = first("intake", "send intake.contacts")
    consumed = first("routing", "process intake.contacts")
    if not (request and sent and consumed):
        return None

    def end(span: dict[str, Any]) -> float:
        return float(span["timestamp"] + span.get("duration", 0))

    # Boundaries: request start and end (its commit), the relay's send, routing's consumer start and end (the
    # work row committed), the offer on the socket: the dispatcher, woken by the commit, decides and commits the
    # offer, whose commit wakes the desktop feed (not Kafka: the relay's send of work.offered is off this path).
    marks = [request["timestamp"], end(request), sent["timestamp"], consumed["timestamp"], end(consumed)]
    marks.append(offered_at * 1e6)
    return {hop: (b - a) / 1000 for hop, a, b in zip(HOPS, marks, marks[1:], strict=False)}


async def sample_hops(zipkin: str, step: Step, offered: dict[str, float], size: int) -> dict[str, float]:
    chosen = [c for c in step.sent if c in offered][:: max(1, len(step.sent) // max(size, 1))][:size]
    splits: list[dict[str, float]] = []
    for contact in chosen:
        split = hop_split(await fetch_contact_spans(zipkin, contact, lookback_ms=3_600_000), offered[contact])
        if split is not None:
            splits.append(split)
    return {hop: statistics.median([s[hop] for s in splits]) for hop in HOPS} if splits else {}


async def run(args: argparse.Namespace, console: Console) -> None:
    settings = StackSettings()
    stack = Stack(settings)
    rates = [float(r) for r in args.rates.split(",")]
    admin = {"Authorization": f"Bearer {stack.token('admin', 'bench-system')}"}
    routing_url = f"http://127.0.0.1:{settings.routing_port}"
    key = (await stack.create_api_key("bench-system", ["web"])).key
    prefix = f"bench-{uuid.uuid4().hex[:5]}"
    agents = [f"{prefix}-{i:03d}" for i in range(args.agents)]
    desks = Desks()
    steps: list[Step] = []
    rng = random.Random(args.seed)
    async with (
        httpx.AsyncClient(base_url=routing_url, headers=admin, timeout=30) as routing,
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.intake_port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        ) as intake,
    ):
        with console.status(f"{len(agents)} bench agents, desktops connecting…"):
            for agent_id in agents:
                body = {"display_name": agent_id, "tier": "senior", "team": "bench", "skills": SKILLS,
                        "languages": ["zh-Hans", "zh-Hant", "en"], "capacity": {"web": 50}}  # fmt: skip
                (await routing.put(f"/v1/agents/{agent_id}", json=body)).raise_for_status()
            await desks.open(
                routing_url.replace("http://", "ws://") + "/v1/desktop/ws",
                (stack.token("agent", a) for a in agents),
            )
        try:
            with Progress(console=console, transient=True) as progress:
                for rate in rates:
                    step = Step(rate)
                    steps.append(step)
                    await drive(intake, step, args.seconds, rng, progress)
                    settle = time.perf_counter() + args.drain
                    while time.perf_counter() < settle and any(c not in desks.offered for c in step.sent):  # noqa: ASYNC110
                        await asyncio.sleep(0.1)
            hops: dict[float, dict[str, float]] = {}
            if args.sample:
                with console.status("reading traces for each hop's share…"):
                    await asyncio.sleep(6)  # the services export spans in batches every few seconds
                    zipkin = f"http://127.0.0.1:{settings.zipkin_port}"
                    for step in steps:
                        try:
                            hops[step.rate] = await sample_hops(zipkin, step, desks.offered, args.sample)
                        except httpx.HTTPError as exc:
                            console.print(f"[yellow]no traces ({exc}); is the stack up with --traces?[/]")
                            break
        finally:
            await desks.close()
            for agent_id in agents:
                await routing.put(f"/v1/agents/{agent_id}/presence", json={"presence": "offline"})
    report(console, args, steps, desks.offered, hops)


def report(
    console: Console,
    args: argparse.Namespace,
    steps: list[Step],
    offered: dict[str, float],
    hops: dict[float, dict[str, float]],
) -> None:
    title = (
        f"contact posted → offer on the desktop — {datetime.now(UTC):%Y-%m-%d}, {psutil.cpu_count()} cores "
        f"{platform.machine()}, load average {psutil.getloadavg()[0]:.1f}, {args.agents} agents"
    )
    table = Table(title=title)
    for column in (
        "offered /s",
        "achieved /s",
        "posted",
        "errors",
        "offered",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
    ):
        table.add_column(column, justify="right")
    sustained = 0.0
    for step in steps:
        lat = step.latencies_ms(offered)
        achieved = len(step.sent) / step.wall_s if step.wall_s else 0.0
        complete = len(lat) == len(step.sent) and step.errors == 0
        if complete and lat and pct(lat, 0.99) < args.p99_ms and achieved >= 0.95 * step.rate:
            sustained = max(sustained, step.rate)
        table.add_row(
            f"{step.rate:g}", f"{achieved:.1f}", f"{len(step.sent):,}", str(step.errors), f"{len(lat):,}",
            f"{pct(lat, 0.5):.0f}", f"{pct(lat, 0.95):.0f}", f"{pct(lat, 0.99):.0f}", f"{max(lat, default=0):.0f}",
        )  # fmt: skip
    console.print(table)
    console.print(f"sustained: [bold]{sustained:g} contacts/s[/] with p99 under {args.p99_ms:g} ms, none lost")
    if hops:
        split = Table(title=f"median ms per hop, {args.sample} traced contacts per step")
        split.add_column("offered /s", justify="right")
        for hop in HOPS:
            split.add_column(hop, justify="right")
        for rate, by_hop in hops.items():
            total = sum(by_hop.values()) or 1.0
            split.add_row(
                f"{rate:g}",
                *(f"{by_hop[h]:.0f} ({100 * by_hop[h] / total:.0f} %)" if by_hop else "—" for h in HOPS),
            )
        console.print(split)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="5,10,20,40", help="arrival rates to step through, contacts/s")
    parser.add_argument("--seconds", type=float, default=15, help="length of each step")
    parser.add_argument("--agents", type=int, default=40, help="bench agents on desktop sockets")
    parser.add_argument("--drain", type=float, default=20, help="seconds to wait for the last offers of a step")
    parser.add_argument("--p99-ms", type=float, default=250, help="the latency bound for the sustained rate")
    parser.add_argument("--sample", type=int, default=20, help="traced contacts per step for the hop split")
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(run(parser.parse_args(), Console()))


if __name__ == "__main__":
    main()
