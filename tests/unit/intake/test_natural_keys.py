"""How long a natural key names a message: for ever with an adapter's id or a send time, within the retry window
with only a sender and words, never with words alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.intake.domain.channels import generic_inbound, parsed_email_inbound, web_inbound
from services.intake.domain.contact import Inbound, keyed

NOW = datetime(2026, 11, 23, 9, 0, 7, 250_000, tzinfo=UTC)
WINDOW = timedelta(minutes=5)


def sms(**overrides: Any) -> Inbound:
    values: dict[str, Any] = {
        "channel": "sms",
        "message_id": None,
        "sender_phone": "13900139000",
        "sender_email": None,
        "sender_id": None,
        "platform": None,
        "sender_name": None,
        "conversation_id": None,
        "text": "还是不行",
        "sent_at": None,
        "metadata": {},
        "region": "CN",
    }
    values.update(overrides)
    return generic_inbound(**values)


def form(**overrides: Any) -> Inbound:
    values: dict[str, Any] = {
        "form_id": "contact-us",
        "submission_id": None,
        "name": None,
        "email": None,
        "phone": None,
        "subject": None,
        "message": "页面一直转圈",
        "fields": {},
        "sent_at": None,
        "region": "CN",
    }
    values.update(overrides)
    return web_inbound(**values)


def email(**overrides: Any) -> Inbound:
    values: dict[str, Any] = {
        "message_id": None,
        "from_address": "li@example.com",
        "from_name": None,
        "subject": "Login",
        "text": "I cannot log in",
        "html": None,
        "in_reply_to": (),
        "references": (),
        "sent_at": None,
        "attachments": (),
        "to": (),
        "region": "CN",
    }
    values.update(overrides)
    return parsed_email_inbound(**values)


@pytest.mark.parametrize(
    ("inbound", "scope"),
    [
        (sms(message_id="gw-1"), "message"),
        (sms(sent_at=NOW), "message"),
        (sms(), "retry"),
        (sms(channel="onsite", sender_phone=None), "post"),
        (sms(sender_phone="anonymous"), "post"),
        (form(submission_id="s-1"), "message"),
        (form(email="li@example.com"), "retry"),
        (form(email="li@example.com", sent_at=NOW), "message"),
        (form(), "post"),
        (email(message_id="abc@mail"), "message"),
        (email(), "retry"),
        (email(sent_at=NOW), "message"),
    ],
    ids=[
        "adapter id",
        "send time",
        "sender and words",
        "walk-in without identity",
        "withheld number",
        "submission id",
        "form with an address",
        "form with an address and a time",
        "anonymous form",
        "message-id",
        "email without id or date",
        "email with a date",
    ],
)
def test_the_key_lasts_as_long_as_what_names_the_message(inbound: Inbound, scope: str) -> None:
    assert inbound.key_scope == scope


def test_the_key_of_sender_and_words_depends_on_the_sender() -> None:
    assert sms().natural_key != sms(sender_phone="13700137000").natural_key
    assert email().natural_key != email(from_address="wang@example.com").natural_key


def is_retry(first_at: datetime, second_at: datetime) -> bool:
    """What the lookup does: the second post finds the first under one of its keys, received since its window."""
    first, second = keyed(sms(), now=first_at, window=WINDOW), keyed(sms(), now=second_at, window=WINDOW)
    assert second.seen_since is not None
    return first.natural_key in (second.natural_key, *second.earlier_keys) and first_at >= second.seen_since


def test_a_post_is_a_retry_exactly_within_the_window_wherever_the_period_boundaries_fall() -> None:
    for phase in range(0, 300, 7):
        first_at = NOW + timedelta(seconds=phase)
        for gap in range(0, 2 * 300 + 1, 3):
            second_at = first_at + timedelta(seconds=gap)
            assert is_retry(first_at, second_at) == (gap <= 300), (phase, gap)
    assert not is_retry(NOW, NOW + timedelta(days=3))


def test_a_post_without_any_identity_never_shares_its_key() -> None:
    walk_in = sms(channel="onsite", sender_phone=None)
    first, second = keyed(walk_in, now=NOW, window=WINDOW), keyed(walk_in, now=NOW, window=WINDOW)
    assert first.natural_key != second.natural_key
    assert first.earlier_keys == () and first.seen_since is None


def test_a_key_the_adapter_gave_is_kept_as_it_is() -> None:
    inbound = sms(message_id="gw-1")
    assert keyed(inbound, now=NOW, window=WINDOW) == inbound
    assert inbound.natural_key == "sms:gw-1"
