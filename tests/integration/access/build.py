"""The six apps on the real test stack, each on a database of its own, and the objects the matrix calls them
about: one customer with important personal data, the contact adapter A posted for them, owned by agent A-1
in every service that knows of it (intake's owner, routing's work, SLA's clocks, feedback's surveys, an article
of A-1's), and a gateway user for each person, signed in."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from services.feedback.app import create_app as create_feedback
from services.feedback.config import FeedbackSettings
from services.feedback.handlers import Links, on_contact_received, on_work_resolved, submit_answers
from services.feedback.scheduler import fire_due
from services.feedback.state import Feedback
from services.intake.app import create_app as create_intake
from services.intake.handlers.common import Tx as IntakeTx
from services.intake.handlers.events import dispatch as intake_dispatch
from services.intake.handlers.events import dispatch_table as intake_events
from services.knowledge.app import create_app as create_knowledge
from services.knowledge.config import KnowledgeSettings
from services.sla.app import create_app as create_sla
from services.sla.config import SlaSettings
from services.sla.handlers import handler as sla_handler
from services.sla.repository.admin import AdminCache
from services.web import repository as web_repo
from services.web.app import MIGRATIONS as WEB_MIGRATIONS
from services.web.app import create_app as create_web
from services.web.config import WebSettings
from services.web.domain import hash_password
from shared.app import running
from shared.auth import NewApiKey, generate_api_key, insert_api_key
from shared.clock import ManualClock, utcnow
from shared.db import Conn, connect, migrate
from shared.events import ContactReceivedV1, CustomerRef, Event, WorkAssignedV1, decode, encode
from shared.kafka import Delivery, Record
from shared.service import service_state
from shared.tx import Tx
from tests.conftest import fresh_database
from tests.integration.access.world import (
    ADAPTER_CHANNELS,
    EMAIL,
    NAME,
    OTHER_CHANNELS,
    PASSWORD,
    PHONE,
    SUBJECTS,
    World,
)
from tests.integration.intake.conftest import intake_settings
from tests.integration.routing.harness import routing_settings, running_routing
from tests.integration.sla.conftest import sla_settings
from tests.integration.web.conftest import serving
from tests.support import TOKEN_SECRET, TestStack, service_settings, wait_until
from tests.unit.feedback.builders import T0, make_contact_received, make_work_resolved


def delivery_of(event: Event, *, source: str, subject: str) -> Delivery:
    """An event as a consumer loop hands it to a handler."""
    message = encode(event, source=source, subject=subject, time=utcnow())
    record = Record(message.topic, 0, 0, message.key, message.value, message.headers, 0)
    return Delivery(record, decode(message.value))


async def add_keys(app: FastAPI, keys: Mapping[str, tuple[NewApiKey, tuple[str, ...]]]) -> None:
    async with app.state.pool.acquire() as conn:
        for name, (key, channels) in keys.items():
            await insert_api_key(conn, key=key, name=name, channels=channels, now=utcnow())


async def _producer_ready(app: FastAPI) -> None:
    await wait_until(lambda: app.state.runtime.producer_ready.is_set(), timeout_s=60)


@contextlib.asynccontextmanager
async def started_world(stack: TestStack) -> AsyncIterator[World]:
    """Every app started once, the objects made, the people signed in at the gateway."""
    adapter_key, other_key = generate_api_key(), generate_api_key()
    keys = {"mail-gateway": (adapter_key, ADAPTER_CHANNELS), "chat-widget": (other_key, OTHER_CHANNELS)}

    async with contextlib.AsyncExitStack() as exits:
        for service in ("intake", "routing", "sla", "feedback", "knowledge", "web"):
            await fresh_database(stack, f"t_access_{service}")
        intake = await exits.enter_async_context(running(create_intake(intake_settings(stack, "t_access_intake"))))
        sla_config = await sla_settings(stack, stack.database_url("t_access_sla"))
        sla = await exits.enter_async_context(running(create_sla(sla_config)))
        # Surveys on a clock of the test's: its handlers and scheduler step are called here, nothing consumed.
        feedback_config = FeedbackSettings.model_validate(
            {
                **service_settings(stack, "t_access_feedback", service="feedback").model_dump(),
                "public_base_url": "http://feedback.test",
                "scheduler_interval_s": 3600.0,
                "consume_events": False,
            }
        )
        feedback = await exits.enter_async_context(
            running(create_feedback(feedback_config, clock=ManualClock(T0)))
        )
        knowledge_config = KnowledgeSettings.model_validate(
            service_settings(stack, "t_access_knowledge", service="knowledge").model_dump()
        )
        knowledge = await exits.enter_async_context(running(create_knowledge(knowledge_config)))
        routing = await exits.enter_async_context(
            running_routing(routing_settings(stack, stack.database_url("t_access_routing")))
        )
        # The gateway's rows forward to routing (the desktop socket, and a probe of each method).
        upstreams = {f"{s}_url": routing.base_url for s in ("intake", "routing", "sla", "feedback", "knowledge")}
        web_db = stack.database_url("t_access_web")
        web_config = WebSettings.model_validate(
            {"database_url": web_db, "token_secret": SecretStr(TOKEN_SECRET), "log_json": False, **upstreams}
        )
        web_url = await exits.enter_async_context(serving(create_web(web_config)))
        apps = {"intake": intake, "sla": sla, "feedback": feedback, "knowledge": knowledge, "routing": routing.app}
        for app in apps.values():
            await _producer_ready(app)
            await add_keys(app, keys)
        world = World(
            apps=apps,
            routing=routing,
            web_url=web_url,
            keys={"adapter": adapter_key.key, "adapter_other": other_key.key},
            ids={},
        )
        for name in ("intake", "sla", "feedback", "knowledge"):
            world.clients[name] = await exits.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[name]), base_url=f"http://{name}")
            )
        world.clients["routing"] = routing.http
        world.clients["web"] = await exits.enter_async_context(httpx.AsyncClient(base_url=web_url, timeout=30))
        await _make_intake_objects(world)
        await _make_routing_objects(world)
        await _make_sla_objects(world, sla_config)
        await _make_feedback_objects(world)
        await _make_knowledge_objects(world)
        await _make_people(world, web_db)
        yield world


async def _make_intake_objects(world: World) -> None:
    """A high-risk customer with important personal data; adapter A's e-mail from them, owned by A-1; a second
    contact for the adapter to withdraw; a reply to take receipts for; a canned response (and one to delete)."""
    intake = world.client("intake")
    admin = world.bearer("admin")
    customer = await intake.post(
        "/v1/customers",
        json={"name": NAME, "phones": [PHONE], "emails": [EMAIL], "pii_level": "important", "risk_level": "high"},
        headers=admin,
    )
    assert customer.status_code == 201, customer.text
    contact_ids = []
    for n in range(2):
        posted = await intake.post(
            "/v1/channels/email",
            json={"from": {"address": EMAIL, "name": NAME}, "subject": f"验证码问题 {n}",
                  "text": f"我的手机 {PHONE} 收不到验证码"},
            headers=world.bearer("adapter"),
        )  # fmt: skip
        assert posted.status_code == 202, posted.text
        contact_ids.append(posted.json()["contact_id"])
    assert len(set(contact_ids)) == 2, "the second e-mail must be a contact of its own"
    contact_id = contact_ids[0]
    assigned = WorkAssignedV1(
        work_id=uuid.uuid4(), contact_id=uuid.UUID(contact_id), agent_id="A-1", first_owner_id="A-1",
        accepted_at=utcnow(), team="matrix", via="offer",
    )  # fmt: skip
    async with world.apps["intake"].state.pool.acquire() as conn, conn.transaction():
        timeline = intake_events()["intake.timeline"]
        delivery = delivery_of(assigned, source="switchboard/routing", subject=contact_id)
        await intake_dispatch(IntakeTx(conn=conn, now=utcnow()), timeline, delivery)
    reply = await intake.post(
        f"/v1/contacts/{contact_id}/replies", json={"text": "我们在查"}, headers=world.bearer("supervisor")
    )
    assert reply.status_code == 201, reply.text
    canned = [
        await intake.post(
            "/v1/canned-responses",
            json={"title": f"问候 {n}", "texts": {"zh-Hans": "{customer_name}您好"}},
            headers=world.bearer("supervisor"),
        )
        for n in range(2)
    ]
    assert all(c.status_code == 201 for c in canned), [c.text for c in canned]
    world.ids.update(
        contact_id=contact_id,
        spare_contact_id=contact_ids[1],
        customer_id=customer.json()["customer_id"],
        customer_phone=PHONE,
        reply_id=reply.json()["reply_id"],
        canned_response_id=canned[0].json()["canned_response_id"],
        spare_id=canned[1].json()["canned_response_id"],
    )


async def _make_routing_objects(world: World) -> None:
    """A-1 and A-2 on the front line, S-1 a supervisor with a desk; the contact's work, assigned to A-1."""
    admin = world.bearer("admin")
    for agent_id, tier in (("A-1", "front_line"), ("A-2", "front_line"), ("S-1", "supervisor")):
        body = {"display_name": agent_id, "pool": "matrix", "tier": tier, "languages": ["zh"]}
        put = await world.routing.http.put(f"/v1/agents/{agent_id}", json=body, headers=admin)
        assert put.status_code in (200, 201), put.text
    created = await world.routing.http.post(
        "/v1/work",
        json={"contact_id": world.ids["contact_id"], "channel": "email", "pool": "matrix", "language": "zh"},
        headers=world.bearer("supervisor"),
    )
    assert created.status_code == 201, created.text
    work_id = str(created.json()["work"]["work_id"])
    assigned = await world.routing.http.post(
        f"/v1/work/{work_id}/assign", json={"agent_id": "A-1", "override_capacity": True},
        headers=world.bearer("supervisor"),
    )  # fmt: skip
    assert assigned.status_code == 200, assigned.text
    world.ids.update(work_id=work_id, agent_id="A-1", on_call_id="matrix")


async def _make_sla_objects(world: World, settings: SlaSettings) -> None:
    """The contact's clocks, its work accepted by A-1: what SLA's consumer would make of intake's and routing's
    events, handled the way the consumer loop hands them over."""
    contact_id = uuid.UUID(world.ids["contact_id"])
    app = world.apps["sla"]
    handle = sla_handler(
        app.state.runtime.clock, admin=AdminCache(), live_channels=frozenset(settings.sla_live_channels)
    )
    received = ContactReceivedV1(
        contact_id=contact_id,
        message_id=uuid.uuid4(),
        channel="email",
        customer=CustomerRef(customer_id=uuid.UUID(world.ids["customer_id"]), grade="basic"),
        text="我的手机收不到验证码",
        category="enquiry",
        priority_class="routine",
        received_at=utcnow(),
    )
    assigned = WorkAssignedV1(
        work_id=uuid.UUID(world.ids["work_id"]), contact_id=contact_id, agent_id="A-1", first_owner_id="A-1",
        accepted_at=utcnow(),
    )  # fmt: skip
    async with app.state.pool.acquire() as conn:
        for event, source in ((received, "switchboard/intake"), (assigned, "switchboard/routing")):
            async with conn.transaction():
                await handle(conn, delivery_of(event, source=source, subject=str(contact_id)))
    world.ids.update(policy_id=str(uuid.uuid4()), calendar_id="24x7", day="2099-01-02")


async def _make_feedback_objects(world: World) -> None:
    """Three of A-1's phone contacts surveyed by SMS: one answered with a low score and the customer's number in
    the comment, one waiting for its answer (the adapters answer it), one whose survey page the page rows open."""
    app = world.apps["feedback"]
    clock: ManualClock = app.state.runtime.clock
    links: Links = service_state(app, Feedback).links
    contacts = [make_contact_received() for _ in range(3)]
    async with app.state.pool.acquire() as conn:
        for contact in contacts:
            async with conn.transaction():
                await on_contact_received(Tx(conn=conn, now=clock.now()), contact)
                resolved = make_work_resolved(contact, agent_id="A-1", team="matrix", resolved_at=clock.now())
                await on_work_resolved(Tx(conn=conn, now=clock.now()), resolved)
    sent = await fire_due(app.state.pool, now=clock.now() + timedelta(hours=1), links=links)
    assert sent["sent"] == len(contacts), sent
    rows = {
        r["contact_id"]: r
        for r in await app.state.pool.fetch(
            "SELECT contact_id, invitation_id, message_id, expires_at FROM invitation WHERE contact_id = ANY($1)",
            [c.contact_id for c in contacts],
        )
    }
    answered, waiting, page = (rows[c.contact_id] for c in contacts)
    async with app.state.pool.acquire() as conn, conn.transaction():
        await submit_answers(
            Tx(conn=conn, now=clock.now() + timedelta(hours=2)),
            invitation_id=answered["invitation_id"],
            raw={"csat": "1", "solved": "0", "comment": f"还是没解决，请打 {PHONE} 找我"},
            source="page",
        )
    world.ids.update(
        answered_contact_id=str(contacts[0].contact_id),
        survey_contact_id=str(contacts[1].contact_id),
        invitation_id=str(waiting["invitation_id"]),
        survey_message_id=str(waiting["message_id"]),
        survey_token=urlsplit(links.url(page["invitation_id"], page["expires_at"])).path.rsplit("/", 1)[1],
    )


async def _make_knowledge_objects(world: World) -> None:
    knowledge = world.client("knowledge")
    world.ids["article_id"] = await world.fresh_article()
    searched = await knowledge.get("/v1/search", params={"q": "密码"}, headers=world.bearer("agent"))
    assert searched.status_code == 200, searched.text
    world.ids.update(search_id=str(searched.json()["search_id"]), synonym_id=str(uuid.uuid4()), term="matrix-none")


async def _make_people(world: World, database_url: str) -> None:
    """A gateway user for each person, signed in."""
    conn: Conn = await connect(database_url)
    try:
        await migrate(conn, [("web", WEB_MIGRATIONS)])
        for actor, (role, subject) in SUBJECTS.items():
            await web_repo.upsert_user(
                conn, user_id=actor, display_name=actor, role=role, subject=subject,
                password_hash=hash_password(PASSWORD), now=utcnow(),
            )  # fmt: skip
    finally:
        await conn.close()
    for actor in SUBJECTS:
        world.sessions[actor] = await world.sign_in(actor)
