"""Survey links are signed and expire: forged, truncated or expired links are told apart from good ones."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.feedback.domain.links import ExpiredLink, ForgedLink, read_link, sign_link
from tests.unit.feedback.builders import T0

SECRET = b"k" * 32


def test_a_link_reads_back_to_its_invitation_until_it_expires() -> None:
    invitation_id = uuid.uuid4()
    token = sign_link(invitation_id, T0 + timedelta(hours=72), SECRET)
    assert read_link(token, SECRET, now=T0) == invitation_id
    assert read_link(token, SECRET, now=T0 + timedelta(hours=71, minutes=59)) == invitation_id
    with pytest.raises(ExpiredLink) as expired:
        read_link(token, SECRET, now=T0 + timedelta(hours=72))
    assert expired.value.invitation_id == invitation_id


def test_a_link_is_short_enough_for_an_sms_and_safe_in_a_url() -> None:
    token = sign_link(uuid.uuid4(), T0, SECRET)
    assert len(token) <= 52
    assert all(c.isalnum() or c in "-_." for c in token)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # last character changed (even its spare bits)
        lambda t: t[:-3] + ("A" if t[-3] != "A" else "B") + t[-2:],  # signature changed
        lambda t: ("A" if t[0] != "A" else "B") + t[1:],  # payload changed (another invitation)
        lambda t: t[: len(t) // 2],  # truncated in an SMS
        lambda t: t.replace(".", ""),  # no separator
        lambda t: "not-a-link",
        lambda t: "%%%.###",
        lambda t: "",
        lambda t: "x" * 500 + "." + "y",
    ],
)
def test_forged_or_damaged_links_are_refused(tamper: object) -> None:
    token = sign_link(uuid.uuid4(), T0 + timedelta(hours=1), SECRET)
    with pytest.raises(ForgedLink):
        read_link(tamper(token), SECRET, now=T0)  # type: ignore[operator]


def test_a_link_signed_with_another_key_is_forged_even_when_expired() -> None:
    token = sign_link(uuid.uuid4(), T0 - timedelta(days=1), b"another key entirely")
    with pytest.raises(ForgedLink):
        read_link(token, SECRET, now=T0)
