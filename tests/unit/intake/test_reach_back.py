"""Intake tells later services how to reach the customer (survey invitations, end notices)."""

from __future__ import annotations

from services.intake.domain.contact import Inbound, reach_back
from services.intake.domain.identity import Identity


def inbound(*identities: Identity, thread_keys: tuple[str, ...] = ()) -> Inbound:
    return Inbound(
        channel="chat", natural_key="k", identities=identities, text="hi", original="hi", thread_keys=thread_keys
    )


def test_the_channel_s_own_identities_and_chat_session_are_how_to_reach_back() -> None:
    reach = reach_back(
        inbound(
            Identity("phone", "+8613800138000"),
            Identity("email", "zhang@example.com"),
            thread_keys=("chat:s-42",),
        )
    )
    assert (reach.phone, reach.email, reach.chat_session) == ("+8613800138000", "zhang@example.com", "s-42")


def test_a_number_found_in_a_signature_or_kept_unparsed_is_never_used_to_reach_back() -> None:
    reach = reach_back(
        inbound(Identity("phone", "+8613800138000", strong=False), Identity("phone", "call me maybe", valid=False))
    )
    assert reach.phone is None
