"""Webhook signing secrets sealed at rest, on the real service and database, to a real receiver: a copy of the
database shows no secret; deliveries are still signed with the secret the admin was given; secrets stored in the
clear before a key was set, or under a key being retired, are sealed again under the first key when the service
starts."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from services.intake.domain.sealing import PREFIX, key_id
from services.intake.domain.webhooks import verify
from tests.integration.intake.conftest import Intake, started
from tests.integration.intake.receiver import Receiver, receiving
from tests.integration.intake.test_webhooks import chat_reply, register, wait_for_state
from tests.support import TestStack, wait_until

pytestmark = pytest.mark.integration

K1, K2 = os.urandom(32), os.urandom(32)


def keys(*raw: bytes) -> list[str]:
    return [base64.b64encode(k).decode() for k in raw]


async def stored(intake: Intake, endpoint_id: str) -> str:
    async with intake.state.pool.acquire() as conn:
        value: str = await conn.fetchval(
            "SELECT secret FROM webhook_endpoint WHERE endpoint_id = $1::uuid", endpoint_id
        )
        return value


async def delivered_signed(intake: Intake, receiver: Receiver, secret: str) -> None:
    reply_id = await chat_reply(intake)
    await wait_for_state(intake, reply_id, "succeeded", attempts=1)
    [request] = [r for r in receiver.received if r.headers["webhook-id"] == reply_id]
    assert verify(
        secret, reply_id, int(request.headers["webhook-timestamp"]), request.body,
        request.headers["webhook-signature"],
    ), "signed with the secret the admin was given"  # fmt: skip


async def test_a_secret_is_stored_sealed_and_deliveries_are_signed_with_it(
    test_stack: TestStack, service_database: str
) -> None:
    with receiving() as receiver:
        async with started(test_stack, service_database, webhook_secret_keys=keys(K1)) as intake:
            endpoint: dict[str, Any] = await register(intake, receiver)
            at_rest = await stored(intake, endpoint["endpoint_id"])
            assert at_rest.startswith(f"{PREFIX}{key_id(K1)}:")
            assert endpoint["secret"] not in at_rest and endpoint["secret"][6:] not in at_rest
            await delivered_signed(intake, receiver, endpoint["secret"])


async def test_secrets_in_the_clear_or_under_a_retired_key_are_sealed_again_at_start(
    test_stack: TestStack, service_database: str
) -> None:
    with receiving() as receiver:
        async with started(test_stack, service_database) as before_any_key:
            endpoint = await register(before_any_key, receiver)
            assert await stored(before_any_key, endpoint["endpoint_id"]) == endpoint["secret"], "no key: as it is"
        endpoint_id, secret = endpoint["endpoint_id"], endpoint["secret"]
        for configured, sealer in ((keys(K1), K1), (keys(K2, K1), K2), (keys(K2), K2)):
            async with started(test_stack, service_database, webhook_secret_keys=configured) as intake:

                async def sealed_by_first(intake: Intake = intake, first: bytes = sealer) -> bool:
                    return (await stored(intake, endpoint_id)).startswith(f"{PREFIX}{key_id(first)}:")

                await wait_until(sealed_by_first, timeout_s=30)
                await delivered_signed(intake, receiver, secret)
