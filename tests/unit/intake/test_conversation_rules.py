"""Replies' routes and limits, receipts' state order, template filling and cursors, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.intake.domain.conversation import (
    Attachment,
    Cursor,
    Reachable,
    ReplyRefused,
    check_text,
    may_write,
    next_status,
    render,
    reply_subject,
    route_reply,
)

REPLY = uuid.UUID(int=7)


def test_an_email_reply_answers_the_customers_last_message_and_keeps_the_thread() -> None:
    reachable = Reachable(
        "email", email="a@example.com", subject="Re: 账单", last_email_id="<2@x>", email_thread=("<1@x>", "<2@x>")
    )
    route = route_reply(reachable, channel=None, reply_id=REPLY, domain="mail.example.com")
    assert (route.channel, route.recipient, route.subject) == ("email", "a@example.com", "Re: 账单")
    assert route.headers == {
        "Message-ID": f"<{REPLY}@mail.example.com>", "In-Reply-To": "<2@x>", "References": "<1@x> <2@x>",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("contact_channel", "reachable", "channel", "recipient"),
    [
        ("phone", {"phone": "+8613800138000", "email": "a@x.com"}, "sms", "+8613800138000"),
        ("phone", {"email": "a@x.com"}, "email", "a@x.com"),
        ("web", {"email": "a@x.com", "phone": "+8613800138000"}, "email", "a@x.com"),
        ("chat", {"chat_session": "s-1"}, "chat", "s-1"),
        ("social", {"social": "wechat:wx1"}, "social", "wechat:wx1"),
    ],
)
def test_each_channel_is_answered_where_the_customer_can_be_reached(
    contact_channel: str, reachable: dict[str, str], channel: str, recipient: str
) -> None:
    route = route_reply(
        Reachable(
            contact_channel,
            email=reachable.get("email"),
            phone=reachable.get("phone"),
            chat_session=reachable.get("chat_session"),
            social=reachable.get("social"),
        ),
        channel=None,
        reply_id=REPLY,
        domain="d",
    )
    assert (route.channel, route.recipient) == (channel, recipient)


def test_a_reply_with_nowhere_to_go_names_the_field_and_what_would_work() -> None:
    with pytest.raises(ReplyRefused, match=r"no mobile number.*it can go by email") as caught:
        route_reply(Reachable("phone", email="a@x.com"), channel="sms", reply_id=REPLY, domain="d")
    assert caught.value.field == "channel"
    with pytest.raises(ReplyRefused, match="left no address"):
        route_reply(Reachable("phone"), channel=None, reply_id=REPLY, domain="d")


def test_limits_per_channel_and_in_bytes() -> None:
    check_text("sms", "x" * 1000, ())
    for channel, text, attachments, html, field in [
        ("sms", "x" * 1001, (), None, "text"),
        ("email", "  ", (), None, "text"),
        ("sms", "hi", (Attachment("a.pdf", "application/pdf", 1, "0" * 64, "https://x/a"),), None, "attachments"),
        ("email", "hi", tuple(Attachment(f"{n}", "text/plain", 1, "0" * 64, "https://x") for n in range(11)), None,
         "attachments"),
        ("email", "好" * 90_000, (), "<p>" + "好" * 150_000 + "</p>", "html"),
    ]:  # fmt: skip
        with pytest.raises(ReplyRefused) as caught:
            check_text(channel, text, attachments, html)
        assert caught.value.field == field


def test_subjects_are_re_once() -> None:
    assert reply_subject("订单") == "Re: 订单"
    assert reply_subject("RE: 订单") == "RE: 订单"
    assert reply_subject("回复：订单") == "回复：订单"
    assert reply_subject(None) == "Re: (no subject)"


def test_receipts_move_forward_failures_always_count() -> None:
    assert next_status("requested", "sent") == "sent"
    assert next_status("delivered", "sent") == "delivered"  # a late `sent` changes nothing
    assert next_status("sent", "bounced") == "bounced"
    assert next_status("failed", "delivered") == "delivered"  # the adapter's retry got through


def test_who_may_write() -> None:
    assert may_write(role="agent", subject="A-1", owner_id="A-1")
    assert not may_write(role="agent", subject="A-2", owner_id="A-1")
    assert not may_write(role="agent", subject="A-1", owner_id=None)
    assert may_write(role="supervisor", subject="S", owner_id=None)
    assert not may_write(role="ops", subject="O", owner_id="O")


def test_templates_fill_known_variables_and_leave_the_rest_visible() -> None:
    assert render("{customer_name}您好，{unknown}", {"customer_name": "王"}) == "王您好，{unknown}"


def test_a_cursor_round_trips_and_rejects_anything_else() -> None:
    cursor = Cursor(datetime(2026, 12, 6, 9, 0, tzinfo=UTC), "2:abc")
    assert Cursor.decode(cursor.encode()) == cursor
    for bad in ("", "nonsense", "eyJhdCI6IjIwMjYtMTItMDZUMDk6MDA6MDAiLCJrZXkiOiJ4In0"):  # the last: no zone
        with pytest.raises(ValueError, match="cursor"):
            Cursor.decode(bad)
