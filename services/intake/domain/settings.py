"""The threading windows (RULES.md numbers an admin edits): how long a follow-up reopens a closed contact, and
how long the same e-mail subject or an open contact on the channel continues one. Stored as versioned documents;
`parse_thread_settings` validates one and `policy` makes it the `ThreadPolicy` the accept path applies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.intake.domain.contact import ThreadPolicy

CHANNELS = ("phone", "email", "chat", "web", "sms", "social", "onsite")
MAX_WINDOW_S = 366 * 24 * 3600
"""A year: longer windows would thread strangers' new problems onto old contacts."""


class InvalidSettings(ValueError):
    """A settings document that cannot be applied; the message names the field."""


@dataclass(frozen=True)
class ThreadSettings:
    reopen_window_s: int
    """A follow-up this soon after resolve/close reopens the contact; later ones start a new contact."""
    email_subject_window_s: int
    """E-mail: the same normalised subject from the same customer within this window continues the contact."""
    customer_windows_s: Mapping[str, int]
    """Per channel: a message from a customer with an open contact on it within this window joins it; a channel
    left out (or 0) never threads this way."""
    version: int = 0

    def policy(self, *, retry_window: timedelta) -> ThreadPolicy:
        return ThreadPolicy(
            subject_window=timedelta(seconds=self.email_subject_window_s),
            customer_windows={k: timedelta(seconds=v) for k, v in self.customer_windows_s.items() if v},
            reopen_window=timedelta(seconds=self.reopen_window_s),
            retry_window=retry_window,
        )

    def document(self) -> dict[str, Any]:
        return {
            "reopen_window_s": self.reopen_window_s,
            "email_subject_window_s": self.email_subject_window_s,
            "customer_windows_s": dict(sorted(self.customer_windows_s.items())),
        }


def _seconds(value: Any, where: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSettings(f"{where}: a whole number of seconds")
    if not low <= value <= MAX_WINDOW_S:
        raise InvalidSettings(f"{where}: between {low} and {MAX_WINDOW_S} seconds")
    return value


def parse_thread_settings(document: Mapping[str, Any], *, version: int) -> ThreadSettings:
    """Raise `InvalidSettings` naming the first field that is wrong."""
    unknown = sorted(set(document) - {"reopen_window_s", "email_subject_window_s", "customer_windows_s"})
    if unknown:
        raise InvalidSettings(f"{unknown[0]}: not a setting")
    for name in ("reopen_window_s", "email_subject_window_s", "customer_windows_s"):
        if name not in document:
            raise InvalidSettings(f"{name}: required")
    windows = document["customer_windows_s"]
    if not isinstance(windows, Mapping):
        raise InvalidSettings("customer_windows_s: an object of channel → seconds")
    for channel in windows:
        if channel not in CHANNELS:
            raise InvalidSettings(f"customer_windows_s.{channel}: not a channel; one of {', '.join(CHANNELS)}")
    return ThreadSettings(
        reopen_window_s=_seconds(document["reopen_window_s"], "reopen_window_s", low=1),
        email_subject_window_s=_seconds(document["email_subject_window_s"], "email_subject_window_s", low=1),
        customer_windows_s={
            str(k): _seconds(v, f"customer_windows_s.{k}", low=0) for k, v in sorted(windows.items())
        },
        version=version,
    )
