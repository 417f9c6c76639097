"""Consumed events: which use case handles which event type (new contacts and messages from intake, each gets
its suggestions); every other type on the topic is skipped before the inbox claims it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.knowledge.handlers.suggestions import on_contact_message_added, on_contact_received
from services.knowledge.search import SearchEngine
from shared.events import ContactMessageAddedV1, ContactReceivedV1, Event
from shared.tx import Tx

Dispatch = Callable[[Tx, Any, SearchEngine], Awaitable[None]]
"""A use case for one consumed event type, called with the event of that type and the engine the process serves
from."""


def dispatch_table() -> dict[type[Event], Dispatch]:
    """Which function handles which consumed event type; everything else is skipped."""
    return {
        ContactReceivedV1: on_contact_received,
        ContactMessageAddedV1: on_contact_message_added,
    }
