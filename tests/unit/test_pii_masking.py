"""Phones and e-mail addresses never reach logs or spans unmasked."""

from __future__ import annotations

import pytest

from shared.redact import mask_pii


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("call me on +86 138 0013 8000 please", "138 0013 8000"),
        ("客户电话13800138000，请回电", "13800138000"),
        ("write to zhang.wei@example.com.cn today", "zhang.wei@"),
        ("landline 010-6552-9988", "6552-9988"),
    ],
)
def test_mask_hides_the_identifying_part(text: str, hidden: str) -> None:
    masked = mask_pii(text)
    assert hidden not in masked
    assert masked != text


def test_ordinary_numbers_and_words_survive() -> None:
    assert mask_pii("order 12345 arrived on 2026-11-23") == "order 12345 arrived on 2026-11-23"
