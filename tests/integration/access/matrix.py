"""Who may call what: one row per route of every app (HTTP method and path template, and each WebSocket), with
the outcome each kind of caller must get. A route without its row, or a row without its route, fails
`test_matrix.py`; the rows are run against the real services there.

Placeholders in paths and bodies (`{contact_id}`) are the ids of the objects the test makes (`world.py`): a
contact that adapter A posted on e-mail for a customer with important personal data, owned by agent A-1 (agent
A-2 owns nothing of it), its work in routing, its SLA clocks, surveys of A-1's, an article A-1 owns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

Actor = Literal["none", "adapter_other", "adapter", "agent_other", "agent", "supervisor", "admin", "ops"]
ACTORS: tuple[Actor, ...] = (
    "none",
    "adapter_other",
    "adapter",
    "agent_other",
    "agent",
    "supervisor",
    "admin",
    "ops",
)
"""`adapter`: adapter A's key (email, sms, web, phone), which posted the contact; `adapter_other`: a chat-only
key; `agent`: A-1, who owns the work; `agent_other`: A-2; `supervisor` S-1, `admin`, `ops`: by token."""
RUN_ORDER: tuple[Actor, ...] = (
    "none",
    "adapter_other",
    "adapter",
    "agent_other",
    "ops",
    "agent",
    "supervisor",
    "admin",
)
"""The order each row is run in: those who must be refused before those who may change the object."""

Outcome = Literal[
    "public", "allowed", "audited", "masked", "401", "403", "hidden", "signin", "elsewhere",
    "ws:open", "ws:4401", "ws:4403",
]  # fmt: skip
"""
- `public`, `allowed`: passes the access check: any answer but 401, 403 or a 5xx (a 404 or 422 of a probe is
  fine); `public` is for routes that take no credential at all.
- `audited`: allowed, the row's object and its important PII are in the answer, and the read is in the
  service's audit.
- `masked`: allowed, the row's object is in the answer, its important PII is not.
- `401`, `403`: exactly that status. `hidden`: 403 or 404 (the object is not theirs, or not there for them),
  or, for a list, an answer without the row's object.
- `signin`, `elsewhere` (the gateway's pages): a redirect to the sign-in page; to the role's own home page.
- `ws:open`, `ws:4401`, `ws:4403` (sockets): the socket opens and says hello; it is closed with that code.
"""

ROLE_ACTORS: dict[str, tuple[Actor, ...]] = {
    "adapter": ("adapter_other", "adapter"),
    "agent": ("agent_other", "agent"),
    "supervisor": ("supervisor",),
    "admin": ("admin",),
    "ops": ("ops",),
}


def roles(*allowed: str, **cells: Outcome) -> dict[Actor, Outcome]:
    """`allowed` roles pass, every other role gets 403, no credential 401; `cells` name the outcome of single
    actors (`agent_other="403"`)."""
    unknown = set(allowed) - set(ROLE_ACTORS)
    assert not unknown, f"unknown roles {unknown}"
    expect: dict[Actor, Outcome] = {actor: "403" for actor in ACTORS}
    expect["none"] = "401"
    for role in allowed:
        for actor in ROLE_ACTORS[role]:
            expect[actor] = "allowed"
    for name, outcome in cells.items():
        assert name in ACTORS, f"unknown actor {name}"
        expect[name] = outcome
    return expect


def sockets(**cells: Outcome) -> dict[Actor, Outcome]:
    """A desktop socket: agents and supervisors open their own; anyone without a token is told to sign in."""
    return {actor: cells.get(actor, "ws:open" if actor in ("agent_other", "agent", "supervisor") else "ws:4401")
            for actor in ACTORS}  # fmt: skip


PUBLIC: dict[Actor, Outcome] = {actor: "public" for actor in ACTORS}

Fresh = Literal["work", "resolved_work", "offer", "article", "session"]


@dataclass(frozen=True)
class Row:
    service: str
    method: str
    """An HTTP method, or `WS` for a WebSocket route."""
    path: str
    """The route's path template, exactly as the app declares it."""
    expect: Mapping[Actor, Outcome]
    json: Any = None
    """The body sent as JSON (placeholders filled in): one that passes validation where the object check comes
    after it, `{}` where the role check alone decides."""
    params: Mapping[str, str] = field(default_factory=dict)
    """Values for the path's placeholders other than the ids of the test's objects."""
    query: Mapping[str, str] = field(default_factory=dict)
    about: str | None = None
    """The object an answer with personal data is about (`{customer_id}`): `audited` and `masked` answers name
    it, a `hidden` list leaves it out."""
    fresh: Fresh | None = None
    """A new object of this kind for the row, which changes it: `work` owned by A-1, `resolved_work` A-1
    resolved, an `offer` made to A-1, an `article` A-1 owns, a `session` of each person (signing out ends it)."""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.service, self.method, self.path)

    @property
    def name(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def _public(service: str) -> list[Row]:
    """What every service serves without a credential: health for the load balancer, Prometheus text for the
    scraper on the internal network (no personal data: `shared/metrics.py`), and the API description."""
    paths = (
        "/health/live",
        "/health/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
    )
    return [Row(service, "GET", path, PUBLIC) for path in paths]


PEOPLE = ("agent", "supervisor", "admin")
MANAGERS = ("supervisor", "admin", "ops")
STAFF = ("agent", "supervisor", "admin", "ops")
ADMIN = roles("admin")
REVIEWERS = roles("supervisor", "admin")
OWNER_ONLY = roles(*PEOPLE, agent_other="403")
"""The agent who owns the object (the work, the contact, the article), supervisors and admins."""
READ_PII: dict[Actor, Outcome] = {**OWNER_ONLY, "agent": "audited", "supervisor": "audited", "admin": "audited"}
"""A contact or customer with important personal data: its owner, supervisors and admins, every read audited."""
DIRECTORY = roles("supervisor", "admin", supervisor="audited", admin="audited")
ADAPTER = roles("adapter", adapter_other="403")
"""Adapter A; the chat-only key is not scoped to the route's channel."""
ADAPTER_OF_CONTACT = roles("adapter", adapter_other="hidden")
READ_CONTACT: dict[Actor, Outcome] = {**READ_PII, "adapter_other": "hidden", "adapter": "audited"}
LIST_CONTACTS: dict[Actor, Outcome] = {**READ_PII, "agent_other": "hidden"}
LOOKUP: dict[Actor, Outcome] = {
    **READ_PII, "adapter_other": "masked", "adapter": "masked", "agent_other": "masked",
}  # fmt: skip
RECLASSIFY = {"category": "complaint", "priority_class": "routine", "reason": "access matrix"}

WEBHOOK_OPERATORS = roles("admin", "ops")
WEBHOOK_WATCHERS = roles("admin", "ops", "adapter")
"""Deliveries: every one for admins and ops, those of its channels for an adapter key (tested in intake's own)."""
NO_ENDPOINT = {"endpoint_id": "00000000-0000-4000-8000-000000000001"}
NO_DELIVERY = {"delivery_id": "00000000-0000-4000-8000-000000000002"}

intake = partial(Row, "intake")
INTAKE = [
    *_public("intake"),
    intake("POST", "/v1/channels/email", ADAPTER, {}),
    intake("POST", "/v1/channels/web", ADAPTER, {}),
    intake("POST", "/v1/channels/batch", roles("adapter"), {}),
    intake("POST", "/v1/channels/{channel}", ADAPTER, {}, {"channel": "sms"}),
    intake("GET", "/v1/contacts", LIST_CONTACTS, about="{contact_id}"),
    intake("GET", "/v1/contacts/{contact_id}", READ_CONTACT, about="{contact_id}"),
    intake("POST", "/v1/contacts/{contact_id}/classification", OWNER_ONLY, RECLASSIFY),
    intake("POST", "/v1/contacts/{contact_id}/replies", OWNER_ONLY, {"text": "access matrix reply"}),
    intake("POST", "/v1/contacts/{contact_id}/notes", OWNER_ONLY, {"text": "access matrix note"}),
    intake("GET", "/v1/contacts/{contact_id}/timeline", READ_PII, about="{contact_id}"),
    intake(
        "POST",
        "/v1/contacts/{contact_id}/abandoned",
        ADAPTER_OF_CONTACT,
        {"reason": "withdrawn"},
        {"contact_id": "{spare_contact_id}"},
    ),
    intake("POST", "/v1/contacts/{contact_id}/callback-attempts", ADAPTER_OF_CONTACT, {"outcome": "no_answer"}),
    intake("POST", "/v1/outbound/receipts", ADAPTER, {"message_id": "{reply_id}", "status": "delivered"}),
    intake("GET", "/v1/canned-responses", roles(*PEOPLE)),
    intake("POST", "/v1/canned-responses", REVIEWERS, {}),
    intake("PUT", "/v1/canned-responses/{canned_response_id}", REVIEWERS, {}),
    intake(
        "GET", "/v1/canned-responses/{canned_response_id}/render", READ_PII, query={"contact_id": "{contact_id}"}
    ),
    intake(
        "DELETE",
        "/v1/canned-responses/{canned_response_id}",
        REVIEWERS,
        params={"canned_response_id": "{spare_id}"},
    ),
    intake("GET", "/v1/customers/tracked", DIRECTORY, about="{customer_id}"),
    intake("POST", "/v1/customers", REVIEWERS, {}),
    intake("GET", "/v1/customers", DIRECTORY, about="{customer_id}"),
    intake("GET", "/v1/customers/lookup", LOOKUP, query={"phone": "{customer_phone}"}, about="{customer_id}"),
    intake("GET", "/v1/customers/{customer_id}", READ_PII, about="{customer_id}"),
    intake("PATCH", "/v1/customers/{customer_id}", REVIEWERS, {}),
    intake("POST", "/v1/customers/import", ADMIN),
    intake("POST", "/v1/customers/{customer_id}/merge", ADMIN, {}),
    intake("POST", "/v1/customers/{customer_id}/unmerge", ADMIN, {}),
    intake("GET", "/v1/customers/{customer_id}/contacts", READ_PII, about="{contact_id}"),
    intake("GET", "/v1/classification/rules", REVIEWERS),
    intake("PUT", "/v1/classification/rules", ADMIN, {}),
    intake("POST", "/v1/classification/explain", roles(*PEOPLE), {}),
    intake("GET", "/v1/intake/settings", roles(*MANAGERS)),
    intake("PUT", "/v1/intake/settings", ADMIN, {}),
    # Webhook endpoints and deliveries: admins keep endpoints (their secrets), admins and ops watch and replay.
    # No such endpoint or delivery: the role check alone decides (a 404 or 422 passes it).
    intake("POST", "/v1/webhooks/endpoints", ADMIN, {}),
    intake("GET", "/v1/webhooks/endpoints", WEBHOOK_OPERATORS),
    intake("POST", "/v1/webhooks/endpoints/{endpoint_id}/rotate-secret", ADMIN, params=NO_ENDPOINT),
    intake("PATCH", "/v1/webhooks/endpoints/{endpoint_id}", ADMIN, {"enabled": True}, NO_ENDPOINT),
    intake("GET", "/v1/webhooks/deliveries", WEBHOOK_WATCHERS),
    intake("GET", "/v1/webhooks/deliveries/{delivery_id}", WEBHOOK_WATCHERS, params=NO_DELIVERY),
    intake("POST", "/v1/webhooks/deliveries/{delivery_id}/replay", WEBHOOK_WATCHERS, params=NO_DELIVERY),
    intake("POST", "/v1/webhooks/deliveries/replay", WEBHOOK_WATCHERS, {}),
]

STAFF_ONLY = roles(*MANAGERS)
"""Supervisors, admins and ops: the floor's figures and settings, never an agent."""
RESOLVE = {
    "resolution_code": "answered", "final_note": "access matrix", "fcr": True, "customer_notified": True,
    "send_end_notice": False,
}  # fmt: skip
TO_A1 = {"agent_id": "A-1"}

routing = partial(Row, "routing")
ROUTING = [
    *_public("routing"),
    routing("PUT", "/v1/agents/{agent_id}", ADMIN, {}, {"agent_id": "A-new"}),
    routing("GET", "/v1/agents", STAFF_ONLY),
    routing("GET", "/v1/agents/{agent_id}", roles(*STAFF, agent_other="403")),
    routing("PUT", "/v1/agents/{agent_id}/presence", OWNER_ONLY, {"presence": "offline"}),
    routing("GET", "/v1/routing/policy", STAFF_ONLY),
    routing("PUT", "/v1/routing/policy", ADMIN, {}),
    routing("GET", "/v1/tiers", STAFF_ONLY),
    routing("PUT", "/v1/tiers/{tier}", ADMIN, {}, {"tier": "front_line"}),
    routing("GET", "/v1/audit", STAFF_ONLY),
    routing("POST", "/v1/offers/{offer_id}/accept", OWNER_ONLY, fresh="offer"),
    routing("POST", "/v1/offers/{offer_id}/decline", OWNER_ONLY, {}, fresh="offer"),
    routing("GET", "/v1/work/{work_id}", roles(*STAFF, agent_other="403")),
    routing("GET", "/v1/me/work", roles(*PEOPLE)),
    routing("GET", "/v1/desktop/feed", roles(*PEOPLE)),
    routing("POST", "/v1/work/{work_id}/start", OWNER_ONLY, fresh="work"),
    routing("POST", "/v1/work/{work_id}/pending", OWNER_ONLY, {"on": "customer"}, fresh="work"),
    routing("POST", "/v1/work/{work_id}/resume", OWNER_ONLY, {}, fresh="work"),
    routing("POST", "/v1/work/{work_id}/solution", OWNER_ONLY, {}, fresh="work"),
    routing("POST", "/v1/work/{work_id}/transfer", OWNER_ONLY, {"to_team": "matrix"}, fresh="work"),
    routing("POST", "/v1/work/{work_id}/wrap-up", OWNER_ONLY, fresh="work"),
    routing("POST", "/v1/work/{work_id}/resolve", OWNER_ONLY, RESOLVE, fresh="work"),
    # Notify, close and reopen check the work's state first: the work is resolved, so the owner check decides.
    routing("POST", "/v1/work/{work_id}/notify", OWNER_ONLY, {"sent_elsewhere": True}, fresh="resolved_work"),
    routing("POST", "/v1/work/{work_id}/close", OWNER_ONLY, {}, fresh="resolved_work"),
    routing("POST", "/v1/work/{work_id}/reopen", OWNER_ONLY, {}, fresh="resolved_work"),
    routing("POST", "/v1/work/{work_id}/assign", REVIEWERS, TO_A1, fresh="work"),
    routing("POST", "/v1/work/{work_id}/offer", REVIEWERS, TO_A1, fresh="work"),
    routing("POST", "/v1/work/{work_id}/requeue", REVIEWERS, {}, fresh="work"),
    routing("POST", "/v1/work", REVIEWERS, {}),
    routing("GET", "/v1/work/{work_id}/explain", STAFF_ONLY),
    routing("POST", "/v1/routing/dry-run", STAFF_ONLY, {}),
    routing("GET", "/v1/supervisor/queue", STAFF_ONLY),
    routing("GET", "/v1/routing/status", STAFF_ONLY),
    routing("GET", "/v1/figures/queue", STAFF_ONLY),
    routing("GET", "/v1/on-call", STAFF_ONLY),
    routing("PUT", "/v1/on-call/{on_call_id}", ADMIN, {}),
    routing("DELETE", "/v1/on-call/{on_call_id}", ADMIN),
    # An emergency's page is the emergency team's (any agent may look); the team's tier or a supervisor
    # acknowledges it, and are front line. No contact of the test is an emergency: a probe.
    routing("GET", "/v1/emergencies/{contact_id}", roles(*PEOPLE)),
    routing("POST", "/v1/emergencies/{contact_id}/acknowledge", REVIEWERS),
    routing("WS", "/v1/desktop/ws", sockets(admin="ws:4403", ops="ws:4403")),
]

sla = partial(Row, "sla")
SLA = [
    *_public("sla"),
    sla("GET", "/v1/sla/policies", STAFF_ONLY),
    sla("GET", "/v1/sla/policies/resolve", STAFF_ONLY),
    sla("GET", "/v1/sla/policies/{policy_id}", STAFF_ONLY),
    sla("GET", "/v1/sla/policies/{policy_id}/versions", STAFF_ONLY),
    sla("POST", "/v1/sla/policies", ADMIN, {}),
    sla("PUT", "/v1/sla/policies/{policy_id}", ADMIN, {}),
    sla("DELETE", "/v1/sla/policies/{policy_id}", ADMIN),
    sla("GET", "/v1/sla/calendars", STAFF_ONLY),
    sla("GET", "/v1/sla/calendars/sources", STAFF_ONLY),
    sla("GET", "/v1/sla/calendars/{calendar_id}/days", STAFF_ONLY),
    sla("GET", "/v1/sla/calendars/{calendar_id}", STAFF_ONLY),
    sla("PUT", "/v1/sla/calendars/{calendar_id}", ADMIN, {}),
    sla("PUT", "/v1/sla/calendars/{calendar_id}/days/{day}", ADMIN, {}),
    sla("DELETE", "/v1/sla/calendars/{calendar_id}/days/{day}", ADMIN),
    sla("DELETE", "/v1/sla/calendars/{calendar_id}", ADMIN, params={"calendar_id": "matrix-none"}),
    sla("GET", "/v1/sla/calendars/{calendar_id}/add", STAFF_ONLY),
    sla("GET", "/v1/sla/calendars/{calendar_id}/between", STAFF_ONLY),
    sla("GET", "/v1/sla/contacts/{contact_id}", roles(*STAFF, agent_other="hidden")),
    sla("POST", "/v1/sla/contacts/{contact_id}/milestones", REVIEWERS, {"milestone": "regulator_reported"}),
    sla("GET", "/v1/sla/attainment", STAFF_ONLY),
    sla("GET", "/v1/sla/at-risk", STAFF_ONLY),
    sla("GET", "/v1/sla/audit", roles("admin", "ops")),
]

ANSWER = {"invitation_id": "{invitation_id}", "answers": {"csat": 5}}
FIGURES: dict[Actor, Outcome] = {
    **roles(*STAFF), "agent_other": "hidden", "agent": "masked", "supervisor": "audited", "admin": "masked",
    "ops": "masked",
}  # fmt: skip
"""Survey comments in full to supervisors only (audited); an agent sees their own figures."""

feedback = partial(Row, "feedback")
FEEDBACK = [
    *_public("feedback"),
    feedback("GET", "/v1/surveys/policies", STAFF_ONLY),
    feedback("GET", "/v1/surveys/policies/{channel}", STAFF_ONLY, params={"channel": "phone"}),
    feedback("PUT", "/v1/surveys/policies/{channel}", ADMIN, {}, {"channel": "phone"}),
    feedback("GET", "/v1/surveys/audit", ADMIN),
    feedback("GET", "/v1/feedback/settings", STAFF_ONLY),
    feedback("PUT", "/v1/feedback/settings", ADMIN, {}),
    feedback("GET", "/v1/surveys/invitations", STAFF_ONLY, query={"contact_id": "{survey_contact_id}"}),
    feedback("POST", "/v1/surveys/responses", ADAPTER, ANSWER),
    feedback(
        "POST", "/v1/outbound/receipts", ADAPTER, {"message_id": "{survey_message_id}", "status": "delivered"}
    ),
    feedback("GET", "/v1/feedback/figures", FIGURES, about="{answered_contact_id}"),
    # The survey page's link is the customer's credential (a signed token), no account.
    feedback("GET", "/s/{token}", PUBLIC, params={"token": "{survey_token}"}),
    feedback("POST", "/s/{token}", PUBLIC, params={"token": "{survey_token}"}),
]

AUTHORS = roles(*PEOPLE)
KNOWLEDGE_STAFF = roles(*STAFF)

knowledge = partial(Row, "knowledge")
KNOWLEDGE = [
    *_public("knowledge"),
    knowledge("POST", "/v1/articles/import", AUTHORS),
    knowledge("GET", "/v1/search", roles("adapter", *STAFF), query={"q": "密码"}),
    knowledge("POST", "/v1/search/{search_id}/click", roles("adapter", *STAFF), {}),
    knowledge("POST", "/v1/search/{search_id}/vote", roles("adapter", *STAFF), {}),
    knowledge("GET", "/v1/knowledge/gaps", KNOWLEDGE_STAFF),
    knowledge("GET", "/v1/knowledge/synonyms", KNOWLEDGE_STAFF),
    knowledge("POST", "/v1/knowledge/synonyms", ADMIN, {}),
    knowledge("DELETE", "/v1/knowledge/synonyms/{synonym_id}", ADMIN),
    knowledge("GET", "/v1/knowledge/terms", KNOWLEDGE_STAFF),
    knowledge("POST", "/v1/knowledge/terms", ADMIN, {}),
    knowledge("DELETE", "/v1/knowledge/terms/{term}", ADMIN),
    knowledge("GET", "/v1/knowledge/settings", KNOWLEDGE_STAFF),
    knowledge("PUT", "/v1/knowledge/settings/{name}", ADMIN, {}, {"name": "review_days"}),
    knowledge("POST", "/v1/search/rebuild", ADMIN),
    knowledge("POST", "/v1/articles", AUTHORS, {}),
    knowledge("GET", "/v1/articles", KNOWLEDGE_STAFF),
    knowledge("GET", "/v1/articles/overdue", KNOWLEDGE_STAFF),
    knowledge("GET", "/v1/articles/{article_id}", KNOWLEDGE_STAFF),
    # Editing and submitting are the author's or owner's (or a reviewer's), as the work's lifecycle is.
    knowledge("PATCH", "/v1/articles/{article_id}", OWNER_ONLY, {"title": "改过的标题"}, fresh="article"),
    knowledge("POST", "/v1/articles/{article_id}/submit", OWNER_ONLY, fresh="article"),
    knowledge("POST", "/v1/articles/{article_id}/publish", REVIEWERS, fresh="article"),
    knowledge("POST", "/v1/articles/{article_id}/reject", REVIEWERS, fresh="article"),
    knowledge("POST", "/v1/articles/{article_id}/archive", REVIEWERS, fresh="article"),
    knowledge("POST", "/v1/articles/{article_id}/restore", REVIEWERS, fresh="article"),
    knowledge("PUT", "/v1/articles/{article_id}/owner", REVIEWERS, {"owner": "A-1"}, fresh="article"),
    knowledge("PUT", "/v1/articles/{article_id}/review", REVIEWERS, {"review_by": "2099-01-01T00:00:00Z"}),
    knowledge("GET", "/v1/articles/{article_id}/versions", KNOWLEDGE_STAFF),
    knowledge("GET", "/v1/articles/{article_id}/versions/{version}", KNOWLEDGE_STAFF, params={"version": "1"}),
    knowledge("GET", "/v1/articles/{article_id}/diff", KNOWLEDGE_STAFF),
]

# The gateway knows people by their session cookie; an adapter's key means nothing to it. Pages redirect.
SIGNED_IN = roles(*STAFF, adapter_other="401", adapter="401")
NO_PAGE: dict[Actor, Outcome] = {"none": "signin", "adapter_other": "signin", "adapter": "signin"}
WORKSPACE: dict[Actor, Outcome] = {**roles(*STAFF), **NO_PAGE, "admin": "elsewhere", "ops": "elsewhere"}
WALLBOARD: dict[Actor, Outcome] = {**roles(*STAFF), **NO_PAGE, "agent_other": "elsewhere", "agent": "elsewhere"}
PROBE = {"service": "routing", "path": "v1/access-matrix-probe"}
"""Forwarded to routing, which has no such route: whoever the gateway lets through gets routing's 404."""

web = partial(Row, "web")
WEB = [
    web("GET", "/health/live", PUBLIC),
    web("GET", "/health/ready", PUBLIC),
    web("GET", "/auth/options", PUBLIC),
    web("POST", "/auth/signin", PUBLIC, {}),
    web("POST", "/auth/signout", SIGNED_IN, fresh="session"),
    web("GET", "/auth/me", SIGNED_IN),
    web("GET", "/auth/oidc/start", PUBLIC),
    web("GET", "/auth/oidc/callback", PUBLIC),
    web("GET", "/", PUBLIC),
    web("GET", "/signin", PUBLIC),
    web("GET", "/workspace", WORKSPACE),
    web("GET", "/wallboard", WALLBOARD),
    web("GET", "/static/{path:path}", PUBLIC, params={"path": "icon.svg"}),
    *[
        web(method, "/api/{service}/{path:path}", SIGNED_IN, params=PROBE)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    ],
    # Admins and ops have no desk: the page is told to sign in as someone who has one (the gateway's own rule).
    web("WS", "/api/routing/v1/desktop/ws", sockets()),
]

ROWS: tuple[Row, ...] = (*INTAKE, *ROUTING, *SLA, *FEEDBACK, *KNOWLEDGE, *WEB)
SERVICES = ("intake", "routing", "sla", "feedback", "knowledge", "web")
