"""Webhook signing to the Standard Webhooks scheme, the retry schedule and what a receiver's answer means."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain.webhooks import (
    JITTER,
    RETRY_SCHEDULE_S,
    Outcome,
    key_of,
    outcome,
    retry_delay_s,
    secret_from,
    sign,
    signature_header,
    signing_secrets,
    snippet,
    verify,
)

# The test vector the Standard Webhooks reference libraries all check.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_reproduces_the_standard_webhooks_test_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_a_secret_without_its_prefix_signs_the_same() -> None:
    assert sign(SPEC_SECRET.removeprefix("whsec_"), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_any_change_to_id_time_or_body_breaks_the_signature() -> None:
    assert not verify(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP + 1, SPEC_BODY, SPEC_SIGNATURE)
    assert not verify(SPEC_SECRET, SPEC_ID + "x", SPEC_TIMESTAMP, SPEC_BODY, SPEC_SIGNATURE)
    assert not verify(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY + b" ", SPEC_SIGNATURE)
    assert verify(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, SPEC_SIGNATURE)


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    new = secret_from(bytes(range(32)))
    header = signature_header([new, SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert header.split(" ")[1] == SPEC_SIGNATURE
    assert verify(new, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, header)
    assert verify(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, header)


def test_the_old_secret_signs_only_until_its_overlap_ends() -> None:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    assert signing_secrets("new", "old", now + timedelta(seconds=1), now) == ("new", "old")
    assert signing_secrets("new", "old", now, now) == ("new",)
    assert signing_secrets("new", None, None, now) == ("new",)


def test_generated_secrets_carry_the_prefix_and_their_key_bytes() -> None:
    raw = bytes(range(32))
    secret = secret_from(raw)
    assert secret.startswith("whsec_") and key_of(secret) == raw
    assert base64.b64decode(secret[6:]) == raw
    with pytest.raises(ValueError, match="24 random bytes"):
        secret_from(b"short")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, Outcome.SUCCEEDED),
        (204, Outcome.SUCCEEDED),
        (None, Outcome.RETRY),
        (408, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (400, Outcome.FAILED),
        (401, Outcome.FAILED),
        (404, Outcome.FAILED),
        (301, Outcome.FAILED),
        (410, Outcome.GONE),
    ],
)
def test_what_each_answer_means(status: int | None, expected: Outcome) -> None:
    assert outcome(status) is expected


def test_the_schedule_follows_the_standard_and_ends_after_eight_attempts() -> None:
    assert RETRY_SCHEDULE_S == (5, 300, 1800, 7200, 18000, 36000, 36000)
    total_h = sum(RETRY_SCHEDULE_S) / 3600
    assert 27 < total_h < 28
    assert [retry_delay_s(n, 0.5) for n in range(1, 8)] == [float(s) for s in RETRY_SCHEDULE_S]
    assert retry_delay_s(8, 0.5) is None
    with pytest.raises(ValueError, match="counts from 1"):
        retry_delay_s(0, 0.5)


@pytest.mark.parametrize("failed", range(1, 8))
def test_each_wait_is_spread_within_ten_percent(failed: int) -> None:
    base = RETRY_SCHEDULE_S[failed - 1]
    low, high = retry_delay_s(failed, 0.0), retry_delay_s(failed, 0.999999)
    assert low == pytest.approx(base * (1 - JITTER))
    assert high == pytest.approx(base * (1 + JITTER), rel=1e-5)


def test_a_receivers_answer_is_kept_short_and_without_addresses_or_numbers() -> None:
    kept = snippet('{"error": "no user li.lei@example.com at +8613800138000"}' + "x" * 500)
    assert "li.lei" not in kept and "13800138000" not in kept
    assert kept.startswith('{"error": "no user ***@*** at +#"}')
    assert len(kept) <= 200
