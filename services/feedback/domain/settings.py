"""Feedback's RULES.md numbers kept outside the survey policies: how long survey comments are kept (Security:
survey comments 1 year). Stored as versioned documents; `parse_settings` validates one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_RETENTION_DAYS = 3650
"""Ten years: longer than any retention the seeds or RULES.md name (audit, the longest, is 6 years)."""


class InvalidSettings(ValueError):
    """A settings document that cannot be applied; the message names the field."""


@dataclass(frozen=True)
class Settings:
    comment_retention_days: int
    """Survey comments are erased this many days after the answer; the scores stay."""
    version: int = 0

    def document(self) -> dict[str, Any]:
        return {"comment_retention_days": self.comment_retention_days}


def parse_settings(document: Mapping[str, Any], *, version: int) -> Settings:
    """Raise `InvalidSettings` naming the first field that is wrong."""
    unknown = sorted(set(document) - {"comment_retention_days"})
    if unknown:
        raise InvalidSettings(f"{unknown[0]}: not a setting")
    days = document.get("comment_retention_days")
    if isinstance(days, bool) or not isinstance(days, int):
        raise InvalidSettings("comment_retention_days: a whole number of days")
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise InvalidSettings(f"comment_retention_days: between 1 and {MAX_RETENTION_DAYS}")
    return Settings(comment_retention_days=days, version=version)
