"""Feedback's settings as data: what a stored document may hold."""

from __future__ import annotations

from typing import Any

import pytest

from services.feedback.domain.settings import InvalidSettings, parse_settings


def test_the_seeded_retention_is_a_year() -> None:
    assert parse_settings({"comment_retention_days": 365}, version=1).comment_retention_days == 365


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"comment_retention_days": 0}, "comment_retention_days"),
        ({"comment_retention_days": 4000}, "comment_retention_days"),
        ({"comment_retention_days": True}, "comment_retention_days"),
        ({}, "comment_retention_days"),
        ({"comment_retention_days": 30, "audit_days": 9}, "audit_days"),
    ],
)
def test_a_bad_document_is_refused_naming_the_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSettings, match=f"^{field}:"):
        parse_settings(document, version=0)
