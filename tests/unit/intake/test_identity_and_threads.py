"""Identities normalised, customers identified without merging on weak signals, follow-ups threaded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain.contact import (
    Inbound,
    OpenContact,
    ThreadDecision,
    ThreadPolicy,
    fingerprint,
    rounds,
    thread_decision,
)
from services.intake.domain.customer import ImportError_, ImportRow, read_import
from services.intake.domain.identity import Identity, identify, normalise_email, normalise_phone, phones_in_text

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
POLICY = ThreadPolicy(
    subject_window=timedelta(days=7),
    customer_windows={"sms": timedelta(hours=24)},
    reopen_window=timedelta(days=7),
    retry_window=timedelta(minutes=5),
)


@pytest.mark.parametrize(
    ("raw", "value", "valid"),
    [
        ("138 0013 8000", "+8613800138000", True),
        ("+86 138-0013-8000", "+8613800138000", True),
        ("008613800138000", "+8613800138000", True),
        ("(010) 6552 9988", "+861065529988", True),
        ("010-65529988 ext. 123", "+861065529988;ext=123", True),
        ("+1 (650) 253-0000", "+16502530000", True),
        ("+852 2345 6789", "+85223456789", True),
        ("12345", "12345", False),
        ("call me maybe", "call me maybe", False),
    ],
)
def test_phones_become_e164_with_extensions_and_invalid_ones_are_kept_as_given(
    raw: str, value: str, valid: bool
) -> None:
    identity = normalise_phone(raw, region="CN")
    assert (identity.value, identity.valid) == (value, valid)


def test_the_default_region_is_configurable() -> None:
    assert normalise_phone("(650) 253-0000", region="US").value == "+16502530000"
    assert normalise_phone("(650) 253-0000", region="CN").valid is False


def test_addresses_are_lower_cased_and_checked() -> None:
    assert normalise_email(" <Zhang.San@Example.COM> ") == Identity("email", "zhang.san@example.com")
    assert normalise_email("ｚｈａｎｇ@example.com").value == "zhang@example.com"
    assert normalise_email("not an address").valid is False


def test_phones_in_a_signature_are_weak_identities() -> None:
    found = phones_in_text("张三\n手机：13800138000\n座机 010-65529988")
    assert [i.value for i in found] == ["+8613800138000", "+861065529988"]
    assert not any(i.strong for i in found)


A, B = uuid.uuid4(), uuid.uuid4()
EMAIL = Identity("email", "a@example.com")
PHONE_WEAK = Identity("phone", "+8613800138000", strong=False)
NEW_PHONE_WEAK = Identity("phone", "+8613900139000", strong=False)


def test_an_unknown_sender_is_a_new_customer_with_every_identity_shown() -> None:
    who = identify([EMAIL, NEW_PHONE_WEAK], {})
    assert who.customer_id is None
    assert who.link == (EMAIL, NEW_PHONE_WEAK)


def test_a_known_email_signed_with_a_new_phone_links_the_phone_to_that_customer() -> None:
    who = identify([EMAIL, NEW_PHONE_WEAK], {("email", EMAIL.value): A})
    assert who.customer_id == A and who.link == (NEW_PHONE_WEAK,) and who.conflicts == ()


def test_a_known_email_signed_with_another_customers_phone_is_a_conflict_not_a_merge() -> None:
    who = identify([EMAIL, PHONE_WEAK], {("email", EMAIL.value): A, ("phone", PHONE_WEAK.value): B})
    assert who.customer_id == A
    assert who.conflicts == (B,)
    assert who.link == ()


def test_a_weak_identity_alone_never_decides_who_wrote() -> None:
    who = identify([Identity("email", "new@example.com"), PHONE_WEAK], {("phone", PHONE_WEAK.value): B})
    assert who.customer_id is None, "a phone number in the text does not make the sender that customer"
    assert who.conflicts == (B,)


def contact(
    status: str = "received", *, last: timedelta = timedelta(0), ended: timedelta | None = None
) -> OpenContact:
    return OpenContact(
        contact_id=uuid.uuid4(),
        customer_id=A,
        channel="email",
        status=status,
        last_message_at=NOW - last,
        ended_at=NOW - ended if ended is not None else None,
        subject_key="refund",
    )


def decide(
    *,
    by_key: OpenContact | None = None,
    by_subject: OpenContact | None = None,
    by_customer: OpenContact | None = None,
    channel: str = "email",
) -> ThreadDecision:
    return thread_decision(
        by_key=by_key, by_subject=by_subject, by_customer=by_customer, channel=channel, policy=POLICY, now=NOW
    )


def test_a_reply_to_an_open_contact_threads_into_it() -> None:
    open_contact = contact()
    decision = decide(by_key=open_contact)
    assert decision.contact_id == open_contact.contact_id and not decision.reopen


def test_a_reply_to_a_closed_contact_within_the_reopen_window_reopens_it() -> None:
    closed = contact("closed", ended=timedelta(days=2))
    decision = decide(by_key=closed)
    assert decision.contact_id == closed.contact_id and decision.reopen


def test_a_reply_after_the_reopen_window_starts_a_new_contact() -> None:
    assert decide(by_key=contact("resolved", ended=timedelta(days=8))).contact_id is None


def test_same_subject_from_the_same_sender_threads_only_within_the_window() -> None:
    recent, stale = contact(last=timedelta(days=1)), contact(last=timedelta(days=9))
    assert decide(by_subject=recent).contact_id == recent.contact_id
    assert decide(by_subject=stale).contact_id is None


def test_an_open_contact_of_the_customer_on_the_channel_collects_messages_where_configured() -> None:
    recent = contact(last=timedelta(hours=3))
    assert decide(by_customer=recent, channel="sms").contact_id == recent.contact_id
    assert decide(by_customer=recent, channel="web").contact_id is None, "no window configured for web"


def test_fingerprints_are_stable_and_content_sensitive() -> None:
    assert fingerprint("a", 1, None) == fingerprint("a", 1, None)
    assert fingerprint("a", 1) != fingerprint("a", 2)


def test_import_rows_are_read_from_csv_with_per_row_errors() -> None:
    body = (
        "external_ref,name,grade,value_tier,phones,emails\n"
        "C-1,王五,strategic,high,13800138000;010-65529988,wang@example.com\n"
        "C-2,Bad Grade,gold,,,b@example.com\n"
        "C-3,No Phone,key,,12,\n"
        ",Nobody,basic,,,\n"
    ).encode()
    rows = list(read_import(body, content_type="text/csv", region="CN"))
    assert isinstance(rows[0], ImportRow)
    assert rows[0].customer.grade == "strategic"
    assert [i.value for i in rows[0].customer.identities] == [
        "+8613800138000",
        "+861065529988",
        "wang@example.com",
    ]
    errors = [(r.line, r.error) for r in rows if isinstance(r, ImportError_)]
    assert [line for line, _ in errors] == [3, 4, 5]
    assert "grade" in errors[0][1] and "phone" in errors[1][1] and "external_ref" in errors[2][1]


def test_import_rows_are_read_from_json_lines() -> None:
    body = b'{"external_ref": "C-9", "grade": "key", "emails": ["x@example.com"]}\nnot json\n[1]\n'
    rows = list(read_import(body, content_type="application/x-ndjson", region="CN"))
    assert isinstance(rows[0], ImportRow) and rows[0].customer.external_ref == "C-9"
    assert [type(r) for r in rows[1:]] == [ImportError_, ImportError_]


def test_a_withheld_or_malformed_identity_identifies_nobody() -> None:
    anonymous = normalise_phone("anonymous")
    assert anonymous.valid is False
    who = identify([anonymous], {("phone", "anonymous"): A})
    assert who.customer_id is None and who.link == () and who.conflicts == ()


def test_a_person_writing_into_a_machine_only_conversation_starts_a_new_contact() -> None:
    assert decide(by_key=contact("ignored", ended=timedelta(minutes=5))).contact_id is None


def message(key: str, *, who: str = "", thread: str = "", replies_to: str = "") -> Inbound:
    return Inbound(
        channel="email",
        natural_key=key,
        identities=(Identity("email", who or f"{key}@example.com"),),
        text="",
        original="",
        thread_keys=(thread,) if thread else (),
        reply_to_keys=(replies_to,) if replies_to else (),
    )


def test_messages_that_share_nothing_are_one_round_and_followers_wait_for_what_they_follow() -> None:
    items = [
        (message("a", thread="t1"), None),
        (message("b"), None),
        (message("c", replies_to="t1"), None),  # answers a
        (message("d", who="b@example.com"), None),  # the sender of b
        (message("e"), "k"),
        (message("f"), "k"),  # the same idempotency key as e
        (message("g", thread="t1"), None),  # after c, which joined a's thread
        (message("a", thread="t1"), None),  # a again
    ]
    assert rounds(items) == [[0, 1, 4], [2, 3, 5], [6], [7]]
    assert rounds([]) == []
