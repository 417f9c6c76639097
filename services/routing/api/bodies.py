"""What the work routes take: the lifecycle's and the supervisors' request bodies, each with its example."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from shared.events import Channel
from shared.openapi import example

Note = Annotated[str, Field(max_length=4000)]


class PendingIn(BaseModel):
    model_config = example(
        on="department", department="billing", until="2026-12-07T10:00:00+08:00", reason="refund needs finance"
    )

    on: Literal["customer", "department"]
    department: str | None = Field(default=None, max_length=200)
    until: datetime | None = None
    """Deadline; required when pending on a department (CH-21)."""
    reason: str | None = Field(default=None, max_length=500)


class ReasonIn(BaseModel):
    model_config = example(reason="customer wrote back")

    reason: str | None = Field(default=None, max_length=500)


class SolutionIn(BaseModel):
    model_config = example(note="refunded 30 yuan; customer confirmed")

    note: Note | None = None


class TransferIn(BaseModel):
    model_config = example(to_team="billing", reason="needs a refund")

    to_agent: str | None = None
    to_team: str | None = None
    to_department: str | None = None
    deadline: datetime | None = None
    reason: str | None = Field(default=None, max_length=500)


class ResolveIn(BaseModel):
    model_config = example(
        resolution_code="refunded",
        final_note="30 yuan refunded, customer satisfied",
        fcr=True,
        send_end_notice=True,
    )

    resolution_code: str = Field(min_length=1, max_length=100)
    final_note: Note = Field(min_length=1)
    fcr: bool
    """Resolved at first contact, without a transfer or a reopen."""
    customer_notified: bool = False
    """The customer was told the result another way (on the call, in the chat)."""
    send_end_notice: bool = True
    """Send the end notice (LC-04) through `outbound.messages`."""
    close: bool = False
    """Close at once when the three clears are met."""


class NotifyIn(BaseModel):
    model_config = example(sent_elsewhere=True)

    sent_elsewhere: bool = False


class AssignIn(BaseModel):
    model_config = example(agent_id="A-1", override_capacity=False, reason="knows the customer")

    agent_id: str
    override_capacity: bool = False
    """Exceed the agent's capacity on purpose (audited)."""
    reason: str | None = Field(default=None, max_length=500)


class ForceOfferIn(BaseModel):
    model_config = example(agent_id="A-1")

    agent_id: str
    override_capacity: bool = False


class CreateWorkIn(BaseModel):
    model_config = example(
        contact_id="5d0c7f3a-2b1e-4c8d-9a6f-1e2d3c4b5a69",
        channel="phone",
        grade="key",
        work_class="followup",
        language="zh-Hans",
        required_skills=["billing"],
        subject="回访",
        text="call back about the refund",
    )

    contact_id: uuid.UUID | None = None
    channel: Channel
    grade: Literal["strategic", "key", "basic"] = "basic"
    work_class: Literal["urgent", "complex", "routine", "followup"] = "routine"
    language: str | None = None
    required_skills: list[str] = Field(default_factory=list)
    target_team: str | None = None
    subject: str | None = Field(default=None, max_length=500)
    text: str = Field(default="", max_length=20000)
    pool: str = "default"
    reason: str = Field(default="created by a supervisor", max_length=500)
