"""What the demo knows about the running contact centre, built only from the events on the topics.

`Tally.apply(envelope, event)` folds one event in; `snapshot()` gives the figures the live view and the final
report show. Pure: no I/O, so it is tested with hand-made events.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from shared import events as ev

OPEN_STATES = ("received", "queued", "offered", "assigned", "pending")


@dataclass
class ContactFacts:
    channel: str
    grade: str
    category: str
    priority_class: str
    received_at: datetime
    state: str = "received"
    assigned_at: datetime | None = None
    resolved_at: datetime | None = None
    agent_id: str | None = None
    first_reply_at: datetime | None = None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, round(q * 100) - 1))]


@dataclass
class Snapshot:
    contacts: int
    messages_threaded: int
    by_channel: dict[str, int]
    by_state: dict[str, int]
    by_category: dict[str, int]
    queue_depth: int
    presence: dict[str, int]
    sla: dict[str, int]
    escalations_by_level: dict[int, int]
    attainment: dict[tuple[str, str], tuple[int, int]]
    """(clock, grade) → (met, missed)."""
    csat: dict[int, int]
    nps: list[int]
    fcr: tuple[int, int]
    """(first-contact resolutions, resolutions)."""
    wait_s: list[float]
    handle_s: list[float]
    reply_s: list[float]
    """Received → the agent's first reply, of contacts that got one."""
    abandoned: int
    replies: int
    failed_deliveries: int
    suggestions: int
    surveys_sent: int
    followups: int
    surveys_waiting: int
    """Resolutions whose survey is neither sent nor skipped nor cancelled yet (the run drains them)."""
    resolved_per_minute: dict[int, int]

    @property
    def csat_answers(self) -> int:
        return sum(self.csat.values())

    @property
    def satisfaction_pct(self) -> float:
        answers = self.csat_answers
        return 100.0 * (self.csat.get(4, 0) + self.csat.get(5, 0)) / answers if answers else 0.0

    @property
    def nps_score(self) -> float:
        if not self.nps:
            return 0.0
        promoters = sum(1 for s in self.nps if s >= 9)
        detractors = sum(1 for s in self.nps if s <= 6)
        return 100.0 * (promoters - detractors) / len(self.nps)

    @property
    def fcr_pct(self) -> float:
        first, total = self.fcr
        return 100.0 * first / total if total else 0.0


@dataclass
class Tally:
    started_at: datetime | None = None
    contacts: dict[str, ContactFacts] = field(default_factory=dict)
    messages_threaded: int = 0
    presence: dict[str, str] = field(default_factory=dict)
    sla: Counter[str] = field(default_factory=Counter)
    escalations: Counter[int] = field(default_factory=Counter)
    attainment: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    csat: Counter[int] = field(default_factory=Counter)
    nps: list[int] = field(default_factory=list)
    fcr_first: int = 0
    resolutions: int = 0
    suggestions: int = 0
    surveys_sent: int = 0
    followups: int = 0
    surveys: dict[str, str] = field(default_factory=dict)
    """Each invitation feedback has planned for a resolution: scheduled, sent, skipped or cancelled."""
    resolved_minutes: Counter[int] = field(default_factory=Counter)
    abandoned: int = 0
    replies: int = 0
    failed_deliveries: int = 0

    def apply(self, envelope: ev.Envelope, event: ev.Event) -> None:
        """Fold in one event. Events about contacts this run did not receive (earlier work still moving in the
        centre) are left out, so every figure is about this run's contacts."""
        contact_id = getattr(event, "contact_id", None)
        if (
            contact_id is not None
            and not isinstance(event, ev.ContactReceivedV1)
            and str(contact_id) not in self.contacts
        ):
            return
        if self.started_at is None:
            self.started_at = envelope.time
        match event:
            case ev.ContactReceivedV1():
                self.contacts[str(event.contact_id)] = ContactFacts(
                    channel=event.channel,
                    grade=event.customer.grade,
                    category=event.category,
                    priority_class=event.priority_class,
                    received_at=event.received_at,
                )
            case ev.ContactMessageAddedV1() if not event.from_customer:
                self.replies += 1
                facts = self.contacts.get(str(event.contact_id))
                if facts is not None and facts.first_reply_at is None:
                    facts.first_reply_at = event.received_at
            case ev.ContactMessageAddedV1():
                self.messages_threaded += 1
            case ev.WorkAbandonedV1():
                self.abandoned += 1
                self._move(event.contact_id, "abandoned")
            case ev.OutboundDeliveryReportedV1() if event.status in ("failed", "bounced"):
                self.failed_deliveries += 1
            case ev.WorkQueuedV1():
                self._move(event.contact_id, "queued")
            case ev.WorkOfferedV1():
                self._move(event.contact_id, "offered")
            case ev.WorkAssignedV1():
                facts = self._move(event.contact_id, "assigned")
                if facts is not None and facts.assigned_at is None:
                    facts.assigned_at = event.accepted_at
                    facts.agent_id = event.agent_id
            case ev.WorkPendingV1():
                self._move(event.contact_id, "pending")
            case ev.WorkResumedV1():
                self._move(event.contact_id, "assigned")
            case ev.WorkResolvedV1():
                facts = self._move(event.contact_id, "resolved")
                self.resolutions += 1
                self.fcr_first += int(event.fcr)
                if facts is not None:
                    facts.resolved_at = event.resolved_at
                if self.started_at is not None:
                    self.resolved_minutes[int((event.resolved_at - self.started_at).total_seconds() // 60)] += 1
            case ev.WorkReopenedV1():
                self._move(event.contact_id, "queued")
            case ev.WorkClosedV1():
                facts = self.contacts.get(str(event.contact_id))
                if facts is None or facts.state != "abandoned":
                    self._move(event.contact_id, "closed")
            case ev.AgentPresenceChangedV1():
                self.presence[event.agent_id] = event.presence
            case ev.SlaWarningV1():
                self.sla["warnings"] += 1
            case ev.SlaBreachedV1():
                self.sla["breaches"] += 1
            case ev.SlaEscalatedV1():
                self.sla["escalations"] += 1
                self.escalations[event.level] += 1
            case ev.SlaMetV1() | ev.SlaMissedV1():
                facts = self.contacts.get(str(event.contact_id))
                grade = facts.grade if facts is not None else "unknown"
                self.attainment[(event.clock, grade)][0 if isinstance(event, ev.SlaMetV1) else 1] += 1
            case ev.SurveyScheduledV1():
                self.surveys.setdefault(str(event.invitation_id), "scheduled")
            case ev.SurveySkippedV1():
                self.surveys[str(event.invitation_id)] = "skipped"
            case ev.SurveyCancelledV1():
                self.surveys[str(event.invitation_id)] = "cancelled"
            case ev.SurveySentV1():
                self.surveys_sent += 1
                self.surveys[str(event.invitation_id)] = "sent"
            case ev.SurveyAnsweredV1():
                csat = event.scores.get("csat")
                if isinstance(csat, int) and not isinstance(csat, bool):
                    self.csat[csat] += 1
                nps = event.scores.get("nps")
                if isinstance(nps, int) and not isinstance(nps, bool):
                    self.nps.append(nps)
            case ev.FeedbackFollowupRequiredV1():
                self.followups += 1
            case ev.KnowledgeSuggestedV1():
                self.suggestions += 1
            case _:
                pass

    def _move(self, contact_id: object, state: str) -> ContactFacts | None:
        facts = self.contacts.get(str(contact_id))
        if facts is not None:
            facts.state = state
        return facts

    def snapshot(self) -> Snapshot:
        facts = list(self.contacts.values())
        wait = [(f.assigned_at - f.received_at).total_seconds() for f in facts if f.assigned_at is not None]
        handle = [
            (f.resolved_at - f.assigned_at).total_seconds()
            for f in facts
            if f.resolved_at is not None and f.assigned_at is not None
        ]
        reply = [(f.first_reply_at - f.received_at).total_seconds() for f in facts if f.first_reply_at is not None]
        return Snapshot(
            contacts=len(facts),
            messages_threaded=self.messages_threaded,
            by_channel=dict(Counter(f.channel for f in facts)),
            by_state=dict(Counter(f.state for f in facts)),
            by_category=dict(Counter(f.category for f in facts)),
            queue_depth=sum(1 for f in facts if f.state in ("received", "queued", "offered")),
            presence=dict(Counter(self.presence.values())),
            sla=dict(self.sla),
            escalations_by_level=dict(sorted(self.escalations.items())),
            attainment={k: (v[0], v[1]) for k, v in sorted(self.attainment.items())},
            csat=dict(sorted(self.csat.items())),
            nps=list(self.nps),
            fcr=(self.fcr_first, self.resolutions),
            wait_s=wait,
            handle_s=handle,
            reply_s=reply,
            abandoned=self.abandoned,
            replies=self.replies,
            failed_deliveries=self.failed_deliveries,
            suggestions=self.suggestions,
            surveys_sent=self.surveys_sent,
            followups=self.followups,
            surveys_waiting=max(self.resolutions - len(self.surveys), 0)
            + sum(1 for state in self.surveys.values() if state == "scheduled"),
            resolved_per_minute=dict(sorted(self.resolved_minutes.items())),
        )
