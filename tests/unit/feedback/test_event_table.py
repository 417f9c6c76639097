"""Feedback's consumed events go through one table: event type → use case, and the consumer accepts exactly its
types (the rest are skipped before the inbox)."""

from __future__ import annotations

import typing

from pydantic import SecretStr

from services.feedback.app import consumers
from services.feedback.config import FeedbackSettings
from services.feedback.handlers.events import dispatch_table
from shared.events import (
    ContactReceivedV1,
    ContactReclassifiedV1,
    CustomerMergedV1,
    CustomerUnmergedV1,
    OutboundDeliveryReportedV1,
    WorkAssignedV1,
    WorkReopenedV1,
    WorkResolvedV1,
)


def test_the_table_holds_the_events_feedback_acts_on() -> None:
    assert set(dispatch_table()) == {
        ContactReceivedV1,
        ContactReclassifiedV1,
        WorkAssignedV1,
        WorkResolvedV1,
        WorkReopenedV1,
        CustomerMergedV1,
        CustomerUnmergedV1,
        OutboundDeliveryReportedV1,
    }


def test_each_use_case_takes_the_transaction_and_the_event_of_its_type() -> None:
    for event_type, use_case in dispatch_table().items():
        hints = typing.get_type_hints(use_case)
        parameters = list(hints)
        assert parameters[:2] == ["tx", "event"], use_case.__name__
        assert hints["event"] is event_type, use_case.__name__


def test_the_consumer_accepts_the_tables_types() -> None:
    class Wired:
        settings = FeedbackSettings(token_secret=SecretStr("an-event-table-test-secret-" + "0123456789" * 3))
        clock = None

    [spec] = consumers(Wired())  # type: ignore[arg-type]
    assert spec.accepts == frozenset(dispatch_table())
