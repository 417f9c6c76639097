"""Watches every topic of the running stack (no consumer group: it changes nothing) and folds events into a Tally;
renders the live terminal view from it."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from demo.tally import Snapshot, Tally, percentile
from shared.events import (
    FEEDBACK_EVENTS,
    INTAKE_CONTACTS,
    KNOWLEDGE_EVENTS,
    ROUTING_AGENTS,
    ROUTING_WORK,
    SLA_EVENTS,
    UndecodableMessage,
    decode,
)

WATCHED = (INTAKE_CONTACTS, ROUTING_WORK, ROUTING_AGENTS, SLA_EVENTS, FEEDBACK_EVENTS, KNOWLEDGE_EVENTS)
"""The declared topics: their partition counts come from the same list that created them."""


class Observer:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.tally = Tally()
        self.undecodable = 0
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()
        """Set once every partition is assigned and positioned at its end."""
        self._consumer: AIOKafkaConsumer | None = None
        self._next: dict[TopicPartition, int] = {}
        """Per partition, the offset after the last record folded into the tally."""
        self._progress = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic.name, p) for topic in WATCHED for p in range(topic.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)  # only what this run causes
            for tp in partitions:
                self._next[tp] = await consumer.position(tp)
            self._consumer = consumer
            self.ready.set()
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                for tp, messages in batch.items():
                    if messages:
                        self._next[tp] = messages[-1].offset + 1
                    for message in messages:
                        try:
                            decoded = decode(message.value)
                        except UndecodableMessage:
                            self.undecodable += 1
                            continue
                        if decoded.event is not None:
                            self.tally.apply(decoded.envelope, decoded.event)
                self._progress.set()
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def catch_up(self, timeout_s: float = 30.0) -> bool:
        """Wait until the tally holds every record published before this call (the topics' ends as of now), so
        a report made next counts everything that happened until then. False if that took over `timeout_s`."""
        await self.ready.wait()
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(list(self._next))
        deadline = asyncio.get_running_loop().time() + timeout_s
        while any(self._next[tp] < end for tp, end in ends.items()):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
        return True


def live_view(snap: Snapshot, *, elapsed_s: float, total_s: float, posted: int, errors: int) -> Group:
    head = Table.grid(expand=True)
    head.add_column()
    head.add_column(justify="right")
    head.add_row(
        f"[bold]Switchboard demo[/]  {elapsed_s:,.0f}/{total_s:,.0f} s  ·  adapters posted {posted}"
        + (f"  ·  [red]{errors} rejected[/]" if errors else ""),
        f"queue depth [bold]{snap.queue_depth}[/]",
    )

    contacts = Table(title="contacts", expand=True)
    contacts.add_column("channel")
    contacts.add_column("n", justify="right")
    for channel, n in sorted(snap.by_channel.items()):
        contacts.add_row(channel, str(n))
    states = Table(title="by state", expand=True)
    states.add_column("state")
    states.add_column("n", justify="right")
    for state in ("received", "queued", "offered", "assigned", "pending", "resolved", "closed"):
        if snap.by_state.get(state):
            states.add_row(state, str(snap.by_state[state]))
    agents = Table(title="agents", expand=True)
    agents.add_column("presence")
    agents.add_column("n", justify="right")
    for presence, n in sorted(snap.presence.items()):
        agents.add_row(presence, str(n))
    sla = Table(title="SLA", expand=True)
    sla.add_column("event")
    sla.add_column("n", justify="right")
    for kind in ("warnings", "breaches", "escalations"):
        sla.add_row(kind, str(snap.sla.get(kind, 0)))
    customers = Table(title="customers", expand=True)
    customers.add_column("figure")
    customers.add_column("value", justify="right")
    customers.add_row(
        "wait p50 / p90 s", f"{percentile(snap.wait_s, 0.5):.0f} / {percentile(snap.wait_s, 0.9):.0f}"
    )
    customers.add_row("CSAT answers", str(snap.csat_answers))
    customers.add_row("satisfaction", f"{snap.satisfaction_pct:.0f} %")
    customers.add_row("FCR", f"{snap.fcr_pct:.0f} %")
    customers.add_row("follow-ups", str(snap.followups))

    row = Table.grid(expand=True)
    for _ in range(5):
        row.add_column(ratio=1)
    row.add_row(contacts, states, agents, sla, customers)
    return Group(Panel(head), row)
