"""Two routing processes on one database and broker: pools are owned by lease, every offer is fenced by the
lease's epoch, and one live offer / one assignment per work item is enforced by the database. One process is
frozen (SIGSTOP) past its lease while contacts keep coming; the other takes its pools over; nothing is offered
or assigned twice and every contact ends assigned."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from deploy.config import free_port
from services.routing.handlers.common import Tx
from services.routing.handlers.offers import Offers, make_offers
from services.routing.repository import leases
from services.routing.repository.leases import Fence, Fenced
from services.routing.repository.policy import current_policy
from shared.db import connect
from shared.kafka import Producer
from tests.integration.routing.harness import (
    Desktop,
    Routing,
    contact_received,
    publish,
    routing_settings,
    running_routing,
)
from tests.support import ROOT, TOKEN_SECRET, TestStack, wait_until

pytestmark = pytest.mark.integration

POOLS = 4
AGENTS_PER_POOL = 3
CONTACTS = 30


async def test_a_deposed_instance_cannot_offer_its_epoch_is_fenced(
    test_stack: TestStack, service_database: str
) -> None:
    async with running_routing(routing_settings(test_stack, service_database, dispatcher=False)) as routing:
        pool = "fenced-pool"
        await routing.put_agent("F1", pool=pool)
        await routing.call("PUT", "/v1/agents/F1/presence", json={"presence": "available"}, as_=("agent", "F1"))
        work = await routing.manual_work(pool)
        conn = await connect(service_database)
        try:
            now = datetime.now(UTC)
            old = await leases.acquire_lease(
                conn, pool=pool, holder="old", until=now + timedelta(seconds=1), now=now
            )
            later = now + timedelta(seconds=2)
            new = await leases.acquire_lease(
                conn, pool=pool, holder="new", until=later + timedelta(seconds=30), now=later
            )
            assert old == 1 and new == 2
            policy = await current_policy(conn)

            async def offer_as(holder: str, epoch: int) -> Offers:
                async with conn.transaction():
                    tx = Tx(conn=conn, now=later, policy=policy, origin=holder)
                    return await make_offers(
                        tx, [(uuid.UUID(work["work_id"]), "F1", {})], fence=Fence(pool, holder, epoch)
                    )

            with pytest.raises(Fenced):
                await offer_as("old", 1)
            made = await offer_as("new", 2)
            assert [w for w, _ in made.made] == [uuid.UUID(work["work_id"])], made.rejected
            assert await conn.fetchval("SELECT count(*) FROM offer") == 1
        finally:
            await conn.close()


class Process:
    def __init__(self, name: str, port: int, env: dict[str, str]) -> None:
        self.name = name
        self.port = port
        self.log = ROOT / ".switchboard" / f"test-routing-{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.routing", "serve"],
                env={**os.environ, **env},
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self) -> None:
        async with httpx.AsyncClient(timeout=2) as client:

            async def up() -> bool:
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                try:
                    return (await client.get(f"{self.url}/health/ready")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_until(up, timeout_s=90, interval_s=0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def two(test_stack: TestStack, service_database: str) -> Iterator[tuple[Process, Process]]:
    def env(name: str, port: int) -> dict[str, str]:
        return {
            "SWITCHBOARD_DATABASE_URL": service_database,
            "SWITCHBOARD_KAFKA_BOOTSTRAP": test_stack.kafka_bootstrap,
            "SWITCHBOARD_PORT": str(port),
            "SWITCHBOARD_TOKEN_SECRET": TOKEN_SECRET,
            "SWITCHBOARD_INSTANCE_ID": name,
            "SWITCHBOARD_LEASE_TTL_S": "2",
            "SWITCHBOARD_LEASE_RENEW_S": "0.5",
            "SWITCHBOARD_LOG_JSON": "false",
            "SWITCHBOARD_OUTBOX_IDLE_WAIT_S": "0.1",
        }

    a_port, b_port = free_port(), free_port()
    a = Process("A", a_port, env("A", a_port))
    b = Process("B", b_port, env("B", b_port))
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture
async def producer(test_stack: TestStack, service_database: str) -> AsyncIterator[Producer]:
    producer = Producer(routing_settings(test_stack, service_database))
    await producer.start()
    yield producer
    await producer.stop()


async def test_two_processes_never_offer_or_assign_twice_while_one_is_frozen_and_deposed(
    two: tuple[Process, Process], producer: Producer, service_database: str
) -> None:
    a, b = two
    await asyncio.gather(a.ready(), b.ready())
    pools = [f"p{i}-{uuid.uuid4().hex[:6]}" for i in range(POOLS)]
    desks: list[Desktop] = []
    async with httpx.AsyncClient(base_url=b.url, timeout=30) as http:
        routing_b = Routing(None, None, b.url, http)  # type: ignore[arg-type]  # a client of process B only
        for pool in pools:
            for n in range(AGENTS_PER_POOL):
                await routing_b.put_agent(f"{pool}-ag{n}", pool=pool)
        for pool in pools:
            for n in range(AGENTS_PER_POOL):
                desks.append(await routing_b.desktop(f"{pool}-ag{n}"))
        accepting = asyncio.create_task(accept_everything(desks))
        try:
            contacts = [contact_received(pools[i % POOLS]) for i in range(CONTACTS)]
            for c in contacts[: CONTACTS // 3]:
                await publish(producer, c, subject=str(c.contact_id))
            holders = await wait_for_leases(service_database, pools)
            # Freeze whichever process holds the most pools, past its lease: the other must take them over.
            victim = a if holders.count("A") >= holders.count("B") else b
            victim.proc.send_signal(signal.SIGSTOP)
            for c in contacts[CONTACTS // 3 :]:
                await publish(producer, c, subject=str(c.contact_id))
                await asyncio.sleep(0.1)
            await wait_for_takeover(service_database, pools, holder=victim.name)
            victim.proc.send_signal(signal.SIGCONT)
            conn = await asyncpg.connect(service_database)
            try:

                async def all_assigned() -> bool:
                    n = await conn.fetchval("SELECT count(*) FROM work_item WHERE state = 'assigned'")
                    return bool(n == CONTACTS)

                await wait_until(all_assigned, timeout_s=90, interval_s=0.5)
                assert (
                    await conn.fetchval(
                        "SELECT count(*) FROM (SELECT work_id FROM assignment GROUP BY work_id "
                        "HAVING count(*) > 1) x"
                    )
                    == 0
                )
                assert (
                    await conn.fetchval(
                        "SELECT count(*) FROM (SELECT work_id FROM offer WHERE status = 'accepted' "
                        "GROUP BY work_id HAVING count(*) > 1) x"
                    )
                    == 0
                )
                over = await conn.fetch(
                    "SELECT slot_agent_id, count(*) FROM work_item WHERE slot_agent_id IS NOT NULL "
                    "GROUP BY slot_agent_id HAVING count(*) > 3"
                )
                assert over == []
                epochs = {r["pool"]: r["epoch"] for r in await conn.fetch("SELECT pool, epoch FROM pool_lease")}
                offered_by = {r["epoch"] for r in await conn.fetch("SELECT DISTINCT epoch FROM offer")}
            finally:
                await conn.close()
            assert any(epochs[p] > 1 for p in pools), "the frozen process's pools were taken at a new epoch"
            assert len(offered_by) >= 2
        finally:
            accepting.cancel()
            for desk in desks:
                await desk.close()


async def wait_for_leases(database_url: str, pools: list[str]) -> list[str]:
    """The holder of each pool, once every pool is held."""
    conn = await asyncpg.connect(database_url)
    holders: list[str] = []
    try:

        async def held() -> bool:
            rows = await conn.fetch("SELECT holder FROM pool_lease WHERE pool = ANY($1::text[])", pools)
            holders[:] = [r["holder"] for r in rows]
            return len(rows) == len(pools)

        await wait_until(held, timeout_s=30, interval_s=0.2)
    finally:
        await conn.close()
    return holders


async def wait_for_takeover(database_url: str, pools: list[str], *, holder: str) -> None:
    """Until `holder` (frozen) holds none of `pools`: the other process took each of them at a new epoch."""
    conn = await asyncpg.connect(database_url)
    try:

        async def taken() -> bool:
            kept = await conn.fetchval(
                "SELECT count(*) FROM pool_lease WHERE pool = ANY($1::text[]) AND holder = $2", pools, holder
            )
            return bool(kept == 0)

        await wait_until(taken, timeout_s=60, interval_s=0.1)
    finally:
        await conn.close()


async def accept_everything(desks: list[Desktop]) -> None:
    accepted: set[str] = set()
    while True:
        for desk in desks:
            for offer in desk.of("offer"):
                if offer["offer_id"] not in accepted:
                    accepted.add(offer["offer_id"])
                    await desk.socket.send(f'{{"type": "accept", "offer_id": "{offer["offer_id"]}"}}')
        await asyncio.sleep(0.05)
