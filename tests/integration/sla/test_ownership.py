"""Two SLA instances in one consumer group: each fires the timers of the contacts whose partition it consumes,
and together they fire every due moment once."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest

from services.sla.app import create_app
from services.sla.repository.timers import Ownership, key_hash
from shared.app import Runtime, running
from shared.clock import utcnow
from tests.integration.sla.conftest import Sla, contact_received, sla_settings
from tests.support import TestStack, new_topic, wait_until

pytestmark = pytest.mark.integration


async def test_each_instance_fires_the_contacts_of_its_own_partitions_and_together_they_fire_each_once(
    test_stack: TestStack, service_database: str
) -> None:
    contacts_topic = await new_topic(test_stack.kafka_bootstrap, partitions=2, prefix="sla-test.contacts")
    settings = await sla_settings(test_stack, service_database, sla_contacts_topic=contacts_topic)
    async with contextlib.AsyncExitStack() as stack:
        apps = [await stack.enter_async_context(running(create_app(settings))) for _ in range(2)]
        runtimes: list[Runtime] = [app.state.runtime for app in apps]
        slas = [
            await stack.enter_async_context(Sla.connect(app, settings, test_stack.kafka_bootstrap)) for app in apps
        ]

        def split() -> bool:
            held = [r.consumers[0].partitions(contacts_topic) for r in runtimes]
            return all(h is not None and len(h[0]) == 1 for h in held)

        await wait_until(split, timeout_s=60)
        owners: list[Ownership] = [s.scheduler.ownership() for s in slas]
        assert {p for o in owners for p in o.owned or ()} == {0, 1}

        t = utcnow()
        contacts = [contact_received(channel="sms", received_at=t) for _ in range(12)]
        for received in contacts:
            await slas[0].publish(received)
        for received in contacts:
            await slas[0].wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) == 2)

        first_fired = await slas[0].fire(t + timedelta(minutes=25))
        second_fired = await slas[1].fire(t + timedelta(minutes=25))
        mine = sum(owners[0].owns(key_hash(c.contact_id)) for c in contacts)
        assert (first_fired, second_fired) == (mine, len(contacts) - mine), "one warning per contact, by owner"
        assert 0 < mine < len(contacts)
        assert await slas[0].fire(t + timedelta(minutes=25)) == 0
        assert await slas[1].fire(t + timedelta(minutes=25)) == 0
