"""The wire contract: topics, the CloudEvents 1.0 envelope and every versioned event type.

An incompatible change is a new class and type (`...V2`), never an edit of a landed one. Consumers ignore
unknown fields and skip unknown types. Golden files in `tests/unit/golden/` pin one example per type.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import models_json_schema

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
DOCS_URL = "https://switchboard.dev/docs/"
"""Where the repository's `docs/` folder is published. Every link a message carries — an event's `dataschema`, a
problem's `type` — is this plus a file under `docs/` (and an anchor in it), so it resolves to a document in the
repository (`tests/unit/test_contract_links.py` checks each one)."""
SCHEMA_DOCUMENT = "events.schema.json"
SCHEMA_URL = DOCS_URL + SCHEMA_DOCUMENT

Channel = Literal["phone", "email", "chat", "web", "sms", "social", "onsite"]
Grade = Literal["strategic", "key", "basic"]
PriorityClass = Literal["urgent", "complex", "routine"]
Category = Literal[
    "enquiry",
    "complaint",
    "suggestion",
    "system_fault",
    "data_anomaly",
    "service_interruption",
    "security_event",
    "data_leak",
]
Presence = Literal["offline", "available", "away", "wrap_up", "busy"]

CHANNELS: tuple[str, ...] = ("phone", "email", "chat", "web", "sms", "social", "onsite")
SERVICES: tuple[str, ...] = ("intake", "routing", "sla", "feedback", "knowledge")


# --- topics -------------------------------------------------------------------------------------------------

DAY_MS = 24 * 60 * 60 * 1000
MAX_EVENT_BYTES = 1024 * 1024
"""Default largest message (envelope, key and headers) a topic takes and a producer sends; both are set from the
one setting `SWITCHBOARD_MAX_EVENT_BYTES`. Writers bound what they put in an event to stay well inside it."""


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    retention_ms: int
    writer: str
    """The one service (or `ops` tooling) that writes it."""


INTAKE_CONTACTS = Topic("intake.contacts", 6, 7 * DAY_MS, "intake")
ROUTING_WORK = Topic("routing.work", 6, 7 * DAY_MS, "routing")
ROUTING_AGENTS = Topic("routing.agents", 3, 1 * DAY_MS, "routing")
SLA_EVENTS = Topic("sla.events", 6, 7 * DAY_MS, "sla")
FEEDBACK_EVENTS = Topic("feedback.events", 3, 7 * DAY_MS, "feedback")
KNOWLEDGE_EVENTS = Topic("knowledge.events", 3, 7 * DAY_MS, "knowledge")
OUTBOUND_MESSAGES = Topic("outbound.messages", 6, 7 * DAY_MS, "any service that needs a message delivered")
OPS_PROBE = Topic("ops.probe", 3, 1 * DAY_MS, "ops")


def dlq_topic(group: str) -> Topic:
    """Dead letters are per consuming service (`<service>.dlq`), so each topic keeps one writer."""
    return Topic(f"{group}.dlq", 1, 30 * DAY_MS, group)


TOPICS: tuple[Topic, ...] = (
    INTAKE_CONTACTS,
    ROUTING_WORK,
    ROUTING_AGENTS,
    SLA_EVENTS,
    FEEDBACK_EVENTS,
    KNOWLEDGE_EVENTS,
    OUTBOUND_MESSAGES,
    OPS_PROBE,
    *(dlq_topic(group) for group in (*SERVICES, "ops")),
)
"""Every topic of the system; `switchboard up` and the test stack create exactly these."""


# --- the envelope -------------------------------------------------------------------------------------------


class Envelope(BaseModel):
    """A CloudEvents 1.0 structured-mode message."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: uuid.UUID
    source: str
    type: str
    specversion: Literal["1.0"] = "1.0"
    time: datetime
    subject: str
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    data: dict[str, Any]


class Event(BaseModel):
    """Base of every event payload; subclasses are registered with `@event_type`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str]
    TOPIC: ClassVar[Topic]


E = TypeVar("E", bound=type[Event])
REGISTRY: dict[str, type[Event]] = {}


def event_type(type_: str, topic: Topic) -> Callable[[E], E]:
    def register(cls: E) -> E:
        if type_ in REGISTRY:
            raise ValueError(f"event type {type_} registered twice")
        cls.TYPE = type_
        cls.TOPIC = topic
        REGISTRY[type_] = cls
        return cls

    return register


@dataclass(frozen=True)
class OutgoingMessage:
    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    event_id: uuid.UUID
    subject: str = ""


@dataclass(frozen=True)
class Decoded:
    envelope: Envelope
    event: Event | None
    """None when the type is unknown to this build (skip it, do not fail)."""


class UndecodableMessage(ValueError):
    """Not a CloudEvents envelope, or a known type whose data does not validate: a poison message."""


def encode(
    event: Event,
    *,
    source: str,
    subject: str,
    time: datetime,
    key: str | None = None,
    event_id: uuid.UUID | None = None,
) -> OutgoingMessage:
    """The key defaults to the subject (the contact id), which keeps one contact's events in order."""
    envelope = Envelope(
        id=event_id or uuid.uuid4(),
        source=source,
        type=event.TYPE,
        time=time,
        subject=subject,
        dataschema=dataschema_of(type(event)),
        data=event.model_dump(mode="json"),
    )
    value = envelope.model_dump_json().encode()
    headers = (("ce_type", event.TYPE.encode()), ("content-type", CONTENT_TYPE.encode()))
    return OutgoingMessage(
        topic=event.TOPIC.name,
        key=(key if key is not None else subject).encode(),
        value=value,
        headers=headers,
        event_id=envelope.id,
        subject=subject,
    )


def decode(value: bytes | None) -> Decoded:
    if value is None:
        raise UndecodableMessage("empty message (tombstone)")
    try:
        envelope = Envelope.model_validate_json(value)
    except ValidationError as exc:
        raise UndecodableMessage(f"not a CloudEvents envelope: {_first_error(exc)}") from exc
    model = REGISTRY.get(envelope.type)
    if model is None:
        return Decoded(envelope, None)
    try:
        return Decoded(envelope, model.model_validate(envelope.data))
    except ValidationError as exc:
        raise UndecodableMessage(f"{envelope.type}: {_first_error(exc)}") from exc


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "body"
    return f"{where}: {err.get('msg', 'invalid')}"


def dataschema_of(model: type[Event]) -> str:
    """The CloudEvents `dataschema` of an event type: its definition in `docs/events.schema.json`."""
    return f"{SCHEMA_URL}#/$defs/{model.__name__}"


def json_schemas() -> dict[str, Any]:
    """One JSON Schema (2020-12) document for adapter authors (`docs/events.schema.json`): it validates a whole
    message — the CloudEvents envelope, and `data` by the schema of its `type` (unknown types pass, as consumers
    skip them). Every event's data schema and every model they share are in its `$defs`, so each `$ref` resolves
    inside the one document; each event's definition names its `type` and topic (`x-type`, `x-topic`)."""
    models = sorted(REGISTRY.items())
    _, top = models_json_schema(
        [(model, "validation") for _, model in models] + [(Envelope, "validation")],
        ref_template="#/$defs/{model}",
    )
    defs: dict[str, Any] = top["$defs"]
    for type_, model in models:
        defs[model.__name__] = {**defs[model.__name__], "x-type": type_, "x-topic": model.TOPIC.name}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_URL,
        "$comment": "Generated by `switchboard events schema`; edit shared/events.py instead.",
        "title": "Switchboard event",
        "description": "A CloudEvents 1.0 structured-mode message as it travels on Kafka; `data` follows the "
        "definition of its `type` (`$defs/<class>`, the event's `dataschema`).",
        "$ref": "#/$defs/Envelope",
        "allOf": [
            {
                "if": {"properties": {"type": {"const": type_}}, "required": ["type"]},
                "then": {"properties": {"data": {"$ref": f"#/$defs/{model.__name__}"}}},
            }
            for type_, model in models
        ],
        "$defs": dict(sorted(defs.items())),
    }


def json_schemas_text() -> str:
    return json.dumps(json_schemas(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


# --- intake.contacts ----------------------------------------------------------------------------------------


class CustomerRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    customer_id: uuid.UUID
    grade: Grade
    attributes: dict[str, str] = Field(default_factory=dict)
    """Value tier, risk, lifecycle stage, PII level — the rules' inputs, never PII itself."""


class ReplyTo(BaseModel):
    """Where and when the customer can be reached after the contact (PII: never logged unmasked)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    phone: str | None = None
    """E.164, e.g. `+8613800138000`."""
    email: str | None = None
    chat_session: str | None = None
    """The chat adapter's session id, for inline messages."""
    time_zone: str | None = None
    """IANA name (`Asia/Shanghai`), for quiet hours; unknown means the policy's default."""


@event_type("switchboard.contact.received.v1", INTAKE_CONTACTS)
class ContactReceivedV1(Event):
    contact_id: uuid.UUID
    message_id: uuid.UUID
    channel: Channel
    customer: CustomerRef
    subject: str | None = None
    text: str
    language: str | None = None
    category: Category
    priority_class: PriorityClass
    emergency: bool = False
    required_skills: list[str] = Field(default_factory=list)
    received_at: datetime
    thread_keys: list[str] = Field(default_factory=list)
    reply_to: ReplyTo | None = None
    """How to reach the customer afterwards (survey invitations, end notices); optional."""
    emergency_reasons: list[str] = Field(default_factory=list)
    """Why `emergency` is set: safety, privacy, major_complaint, security, major_failure (CH-16)."""
    subcategory: str | None = None
    """Level 2 (or `level2/level3`) under `category`, from the rule set's taxonomy."""
    incident_level: Literal["general", "major", "serious", "critical"] | None = None
    """Security incidents (security_event, data_leak): 一般 / 较大 / 重大 / 特别重大 (F17)."""
    text_truncated: bool = False
    """`text` (or `subject`) is the start of a longer one, cut to what an event carries; intake keeps the whole
    message (`GET /v1/contacts/{contact_id}`)."""


@event_type("switchboard.contact.message_added.v1", INTAKE_CONTACTS)
class ContactMessageAddedV1(Event):
    contact_id: uuid.UUID
    message_id: uuid.UUID
    """For an agent's reply: the reply id (also the id of its `outbound.message.requested`)."""
    channel: Channel
    from_customer: bool = True
    text: str
    language: str | None = None
    received_at: datetime
    reopened: bool = False
    author: str | None = None
    """The agent or supervisor who wrote a reply (None for the customer's messages)."""
    solution: bool = False
    """The reply is the solution or plan sent to the customer (stops the formal-response clock)."""
    text_truncated: bool = False
    """`text` is the start of a longer one, cut to what an event carries; intake keeps the whole message."""


@event_type("switchboard.contact.reclassified.v1", INTAKE_CONTACTS)
class ContactReclassifiedV1(Event):
    contact_id: uuid.UUID
    category: Category
    priority_class: PriorityClass
    emergency: bool = False
    by: str
    """`rule:<id>` or `agent:<id>`."""
    emergency_reasons: list[str] = Field(default_factory=list)
    required_skills: list[str] = Field(default_factory=list)
    subcategory: str | None = None
    incident_level: Literal["general", "major", "serious", "critical"] | None = None


@event_type("switchboard.contact.abandoned.v1", INTAKE_CONTACTS)
class ContactAbandonedV1(Event):
    """The customer left before anyone answered (a call hung up, a chat visitor gone, a web or e-mail contact
    withdrawn by its adapter) — unless they asked for a callback, which keeps their place or books a time."""

    contact_id: uuid.UUID
    reason: Literal["hung_up", "visitor_left", "withdrawn"]
    at: datetime
    callback: Literal["none", "keep_place", "scheduled"] = "none"
    callback_at: datetime | None = None
    """With `scheduled`: when the customer wants to be called."""
    callback_phone: str | None = None
    """The number to call back (E.164; PII, never logged); the caller's own number when left out."""


@event_type("switchboard.contact.callback_attempted.v1", INTAKE_CONTACTS)
class ContactCallbackAttemptedV1(Event):
    """The phone adapter's report of one callback attempt."""

    contact_id: uuid.UUID
    outcome: Literal["answered", "no_answer", "busy", "failed"]
    at: datetime


@event_type("switchboard.outbound.delivery_reported.v1", INTAKE_CONTACTS)
class OutboundDeliveryReportedV1(Event):
    """A channel adapter's receipt for an `outbound.message.requested` changed the message's delivery state
    (receipts for every service's messages come to intake: `POST /v1/outbound/receipts`)."""

    message_id: uuid.UUID
    contact_id: uuid.UUID | None = None
    origin: str
    """The service that asked for the message: intake (replies), routing (end notices), feedback (surveys)."""
    kind: str
    """`reply`, `end_notice`, `survey`, … (`outbound.message.requested`'s kind or template)."""
    channel: Channel
    status: Literal["accepted", "sent", "delivered", "read", "failed", "bounced"]
    reason: str | None = None
    at: datetime


@event_type("switchboard.customer.merged.v1", INTAKE_CONTACTS)
class CustomerMergedV1(Event):
    surviving_customer_id: uuid.UUID
    merged_customer_id: uuid.UUID
    by: str
    reason: str


@event_type("switchboard.customer.unmerged.v1", INTAKE_CONTACTS)
class CustomerUnmergedV1(Event):
    surviving_customer_id: uuid.UUID
    merged_customer_id: uuid.UUID
    by: str
    reason: str


# --- routing.work -------------------------------------------------------------------------------------------


@event_type("switchboard.work.queued.v1", ROUTING_WORK)
class WorkQueuedV1(Event):
    work_id: uuid.UUID
    contact_id: uuid.UUID
    pool: str
    priority: int
    reasons: list[str] = Field(default_factory=list)
    queue: str | None = None
    """`supervisor` when the work waits for a person (offers failed); else matched automatically."""


@event_type("switchboard.work.offered.v1", ROUTING_WORK)
class WorkOfferedV1(Event):
    work_id: uuid.UUID
    contact_id: uuid.UUID
    agent_id: str
    offer_id: uuid.UUID
    expires_at: datetime
    reasons: list[str] = Field(default_factory=list)
    """The rule that chose this agent (see `GET /v1/work/{id}/explain` on routing)."""


@event_type("switchboard.work.offer_declined.v1", ROUTING_WORK)
class WorkOfferDeclinedV1(Event):
    work_id: uuid.UUID
    contact_id: uuid.UUID
    agent_id: str
    offer_id: uuid.UUID
    reason: str | None = None


@event_type("switchboard.work.offer_expired.v1", ROUTING_WORK)
class WorkOfferExpiredV1(Event):
    work_id: uuid.UUID
    contact_id: uuid.UUID
    agent_id: str
    offer_id: uuid.UUID
    reason: str | None = None


@event_type("switchboard.work.assigned.v1", ROUTING_WORK)
class WorkAssignedV1(Event):
    work_id: uuid.UUID
    contact_id: uuid.UUID
    agent_id: str
    first_owner_id: str
    accepted_at: datetime
    team: str | None = None
    """The agent's team, for per-team figures."""
    via: str | None = None
    """`offer` (accepted), `supervisor` (assigned by a supervisor) or `resume` (returned to its owner)."""


@event_type("switchboard.work.transferred.v1", ROUTING_WORK)
class WorkTransferredV1(Event):
    work_id: uuid.UUID
    contact_id: uuid.UUID
    from_agent_id: str | None = None
    to_agent_id: str | None = None
    to_queue: str | None = None
    to_department: str | None = None
    deadline: datetime | None = None
    first_owner_id: str | None = None
    reason: str | None = None


@event_type("switchboard.work.pending.v1", ROUTING_WORK)
class WorkPendingV1(Event):
    work_id: uuid.UUID
    contact_id: uuid.UUID
    pending_on: Literal["customer", "department"]
    department: str | None = None
    until: datetime | None = None
    at: datetime
    reason: str | None = None


@event_type("switchboard.work.resumed.v1", ROUTING_WORK)
class WorkResumedV1(Event):
    work_id: uuid.UUID
    contact_id: uuid.UUID
    at: datetime
    reason: str | None = None


@event_type("switchboard.work.solution_recorded.v1", ROUTING_WORK)
class WorkSolutionRecordedV1(Event):
    work_id: uuid.UUID
    contact_id: uuid.UUID
    agent_id: str
    at: datetime


@event_type("switchboard.work.resolved.v1", ROUTING_WORK)
class WorkResolvedV1(Event):
    work_id: uuid.UUID
    contact_id: uuid.UUID
    agent_id: str
    resolution_code: str
    fcr: bool
    customer_notified: bool
    resolved_at: datetime
    team: str | None = None
    """The resolving agent's team, for per-team figures."""
    first_owner_id: str | None = None


@event_type("switchboard.work.reopened.v1", ROUTING_WORK)
class WorkReopenedV1(Event):
    work_id: uuid.UUID
    contact_id: uuid.UUID
    reason: str
    at: datetime


@event_type("switchboard.work.abandoned.v1", ROUTING_WORK)
class WorkAbandonedV1(Event):
    """Waiting work closed because the customer left (or a callback found nobody after its attempts): live
    offers withdrawn, nothing offered after it; SLA cancels its clocks with reason `abandoned`."""

    work_id: uuid.UUID
    contact_id: uuid.UUID
    pool: str
    channel: Channel
    reason: str
    """hung_up, visitor_left, withdrawn, or unreachable (callback attempts exhausted)."""
    waited_s: float
    at: datetime


@event_type("switchboard.work.callback_scheduled.v1", ROUTING_WORK)
class WorkCallbackScheduledV1(Event):
    """The work waits for a callback time (booked by the customer, or the next try after an unanswered one)."""

    work_id: uuid.UUID
    contact_id: uuid.UUID
    due_at: datetime
    attempts: int = 0
    at: datetime


@event_type("switchboard.work.closed.v1", ROUTING_WORK)
class WorkClosedV1(Event):
    work_id: uuid.UUID
    contact_id: uuid.UUID
    reason: str
    at: datetime


# --- routing.agents -----------------------------------------------------------------------------------------


@event_type("switchboard.agent.presence_changed.v1", ROUTING_AGENTS)
class AgentPresenceChangedV1(Event):
    agent_id: str
    presence: Presence
    load: dict[str, int] = Field(default_factory=dict)
    at: datetime


# --- sla.events ---------------------------------------------------------------------------------------------


class _ClockChange(Event):
    contact_id: uuid.UUID
    clock: str
    policy_version: int
    due_at: datetime | None = None
    elapsed_s: float
    paused_s: float
    at: datetime


@event_type("switchboard.sla.clock_started.v1", SLA_EVENTS)
class SlaClockStartedV1(_ClockChange):
    pass


@event_type("switchboard.sla.clock_paused.v1", SLA_EVENTS)
class SlaClockPausedV1(_ClockChange):
    pass


@event_type("switchboard.sla.clock_resumed.v1", SLA_EVENTS)
class SlaClockResumedV1(_ClockChange):
    pass


@event_type("switchboard.sla.clock_retargeted.v1", SLA_EVENTS)
class SlaClockRetargetedV1(_ClockChange):
    pass


@event_type("switchboard.sla.clock_cancelled.v1", SLA_EVENTS)
class SlaClockCancelledV1(_ClockChange):
    """A re-target left no policy row defining this clock for the contact (e.g. no longer a complaint)."""


@event_type("switchboard.sla.warning.v1", SLA_EVENTS)
class SlaWarningV1(Event):
    contact_id: uuid.UUID
    clock: str
    due_at: datetime
    at: datetime


@event_type("switchboard.sla.breached.v1", SLA_EVENTS)
class SlaBreachedV1(Event):
    contact_id: uuid.UUID
    clock: str
    due_at: datetime
    at: datetime


@event_type("switchboard.sla.escalated.v1", SLA_EVENTS)
class SlaEscalatedV1(Event):
    contact_id: uuid.UUID
    clock: str
    level: int
    target_role: str
    at: datetime
    due_at: datetime | None = None
    """The clock's breach instant when the level fell due (level 0 can come before it)."""


@event_type("switchboard.sla.met.v1", SLA_EVENTS)
class SlaMetV1(Event):
    contact_id: uuid.UUID
    clock: str
    elapsed_s: float
    target_s: float | None = None
    at: datetime | None = None


@event_type("switchboard.sla.missed.v1", SLA_EVENTS)
class SlaMissedV1(Event):
    contact_id: uuid.UUID
    clock: str
    elapsed_s: float
    target_s: float | None = None
    at: datetime | None = None


@event_type("switchboard.sla.calendar_data_ending.v1", SLA_EVENTS)
class SlaCalendarDataEndingV1(Event):
    """A calendar that policies use runs out of holiday data within the warning window (or has): deadlines after
    `data_until` count only the holidays the law fixes until an admin enters the year or the holiday package is
    upgraded. Announced at most once a day per calendar; subject and key are `calendar:<id>`."""

    calendar_id: str
    data_until: date
    days_left: int
    """Negative once the data has ended."""
    provisional_clocks: int = 0
    """Running clocks whose deadline already lies after `data_until`."""
    at: datetime


# --- feedback.events ----------------------------------------------------------------------------------------


class _SurveyChange(Event):
    invitation_id: uuid.UUID
    contact_id: uuid.UUID
    channel: Channel
    scores: dict[str, int | bool | None] = Field(default_factory=dict)


@event_type("switchboard.survey.scheduled.v1", FEEDBACK_EVENTS)
class SurveyScheduledV1(_SurveyChange):
    due_at: datetime | None = None


@event_type("switchboard.survey.sent.v1", FEEDBACK_EVENTS)
class SurveySentV1(_SurveyChange):
    message_id: uuid.UUID | None = None
    """The `outbound.message.requested` that carries the invitation."""
    expires_at: datetime | None = None


@event_type("switchboard.survey.answered.v1", FEEDBACK_EVENTS)
class SurveyAnsweredV1(_SurveyChange):
    pass


@event_type("switchboard.survey.expired.v1", FEEDBACK_EVENTS)
class SurveyExpiredV1(_SurveyChange):
    pass


@event_type("switchboard.survey.skipped.v1", FEEDBACK_EVENTS)
class SurveySkippedV1(_SurveyChange):
    """A resolution that gets no survey: policy off, sampled out, surveyed recently, no address to reach."""

    reason: str


@event_type("switchboard.survey.cancelled.v1", FEEDBACK_EVENTS)
class SurveyCancelledV1(_SurveyChange):
    """A scheduled invitation withdrawn before it was sent (the contact was reopened)."""

    reason: str


@event_type("switchboard.feedback.followup_required.v1", FEEDBACK_EVENTS)
class FeedbackFollowupRequiredV1(Event):
    contact_id: uuid.UUID
    customer_id: uuid.UUID
    reason: Literal["csat", "nps", "not_solved"]
    scores: dict[str, int | bool | None] = Field(default_factory=dict)
    comment: str | None = None
    """Masked: no phone numbers, addresses or names."""
    reasons: list[Literal["csat", "nps", "not_solved"]] = Field(default_factory=list)
    """Every rule the answer tripped; `reason` is the first of them."""
    invitation_id: uuid.UUID | None = None
    agent_id: str | None = None
    """The agent who resolved the contact."""
    team: str | None = None
    answered_at: datetime | None = None
    """When the customer answered: the 24 h follow-up clock starts here."""


@event_type("switchboard.feedback.not_solved.v1", FEEDBACK_EVENTS)
class FeedbackNotSolvedV1(Event):
    contact_id: uuid.UUID
    invitation_id: uuid.UUID | None = None


# --- knowledge.events ---------------------------------------------------------------------------------------


class SuggestedArticle(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    article_id: uuid.UUID
    title: str
    score: float
    summary: str | None = None
    language: str | None = None
    """zh-Hans, zh-Hant or en."""


@event_type("switchboard.knowledge.suggested.v1", KNOWLEDGE_EVENTS)
class KnowledgeSuggestedV1(Event):
    contact_id: uuid.UUID
    articles: list[SuggestedArticle]
    message_id: uuid.UUID | None = None
    """The contact message the suggestion answers (a follow-up message gets its own)."""
    search_id: uuid.UUID | None = None
    """Report clicks and votes against it: `POST /v1/search/{search_id}/click|vote` on knowledge."""


@event_type("switchboard.article.published.v1", KNOWLEDGE_EVENTS)
class ArticlePublishedV1(Event):
    article_id: uuid.UUID
    version: int


@event_type("switchboard.article.archived.v1", KNOWLEDGE_EVENTS)
class ArticleArchivedV1(Event):
    article_id: uuid.UUID
    version: int


@event_type("switchboard.knowledge.article_overdue.v1", KNOWLEDGE_EVENTS)
class KnowledgeArticleOverdueV1(Event):
    """A published article passed its review-by date (RULES.md: every article alerts its owner when overdue).
    Announced once per review-by date; marking it reviewed sets a new date, which is announced again when it
    passes. Subject and key are `article:<id>`; routing shows it on the owner's desktop."""

    article_id: uuid.UUID
    version: int
    """The published version that is due for review."""
    title: str
    language: str
    owner: str
    """The article's owner: an agent id (routing's desktops are keyed by it)."""
    review_by: datetime
    at: datetime


# --- outbound.messages --------------------------------------------------------------------------------------


class OutboundAttachment(BaseModel):
    """An attachment by reference: the adapter fetches `url` (Switchboard keeps no content), checks `sha256`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    content_type: str
    size: int
    sha256: str
    url: str


@event_type("switchboard.outbound.message.requested.v1", OUTBOUND_MESSAGES)
class OutboundMessageRequestedV1(Event):
    """The contract for channel adapters (docs/adapters.md): deliver `template` with `variables` to `recipient`
    on `channel`; a `reply` carries its text itself (`text`, `html`, `subject`, `headers`, `attachments`)."""

    message_id: uuid.UUID
    """Idempotency key: an adapter delivers each message id at most once."""
    contact_id: uuid.UUID | None = None
    channel: Channel
    recipient: str
    template: str
    variables: dict[str, str] = Field(default_factory=dict)
    language: str = "zh-Hans"
    kind: str | None = None
    """What the message is: `reply` (an agent's answer), `end_notice`, `survey`, `callback_notice`…"""
    origin: str | None = None
    """The service that asked for it (receipts go to intake whatever the origin)."""
    text: str | None = None
    html: str | None = None
    """E-mail only: the HTML alternative of `text`."""
    subject: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    """E-mail threading: `Message-ID` (ours), `In-Reply-To`, `References` — send them as given."""
    attachments: list[OutboundAttachment] = Field(default_factory=list)


# --- ops.probe ----------------------------------------------------------------------------------------------


@event_type("switchboard.probe.pinged.v1", OPS_PROBE)
class ProbePingedV1(Event):
    """A synthetic event for smoke checks, reliability tests and benchmarks of the delivery path."""

    probe_id: uuid.UUID
    sequence: int = 0
    note: str = ""
