"""The threading windows as data: what a stored document may hold, and the policy it makes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.intake.domain.settings import InvalidSettings, parse_thread_settings

DEFAULTS: dict[str, Any] = {
    "reopen_window_s": 604800,
    "email_subject_window_s": 604800,
    "customer_windows_s": {"chat": 1800, "sms": 86400, "social": 86400},
}


def test_the_seeded_windows_make_the_policy_rules_md_describes() -> None:
    policy = parse_thread_settings(DEFAULTS, version=1).policy(retry_window=timedelta(minutes=5))
    assert policy.reopen_window == policy.subject_window == timedelta(days=7)
    assert policy.customer_windows == {
        "chat": timedelta(minutes=30),
        "sms": timedelta(hours=24),
        "social": timedelta(hours=24),
    }
    assert policy.retry_window == timedelta(minutes=5)


def test_a_channel_set_to_zero_never_threads_by_customer() -> None:
    settings = parse_thread_settings({**DEFAULTS, "customer_windows_s": {"chat": 0, "sms": 60}}, version=2)
    assert settings.policy(retry_window=timedelta(minutes=5)).customer_windows == {"sms": timedelta(minutes=1)}
    assert settings.document()["customer_windows_s"] == {"chat": 0, "sms": 60}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reopen_window_s": 0}, "reopen_window_s"),
        ({"reopen_window_s": True}, "reopen_window_s"),
        ({"email_subject_window_s": 400 * 86400}, "email_subject_window_s"),
        ({"customer_windows_s": {"fax": 60}}, "customer_windows_s.fax"),
        ({"customer_windows_s": {"sms": -1}}, "customer_windows_s.sms"),
        ({"customer_windows_s": [60]}, "customer_windows_s"),
        ({"natural_key_window_s": 60}, "natural_key_window_s"),
    ],
)
def test_a_bad_document_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSettings, match=f"^{field}:"):
        parse_thread_settings({**DEFAULTS, **change}, version=0)


def test_a_document_missing_a_window_is_refused() -> None:
    partial = {k: v for k, v in DEFAULTS.items() if k != "reopen_window_s"}
    with pytest.raises(InvalidSettings, match=r"^reopen_window_s: required"):
        parse_thread_settings(partial, version=0)
