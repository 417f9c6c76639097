"""Customer identities in one canonical form: E.164 phones (extension kept), lower-cased e-mail addresses,
chat and social ids namespaced by platform; and which customer a set of presented identities points to.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import phonenumbers

IdentityKind = Literal["phone", "email", "chat", "social"]
IDENTITY_KINDS: tuple[IdentityKind, ...] = ("phone", "email", "chat", "social")


@dataclass(frozen=True)
class Identity:
    kind: IdentityKind
    value: str
    """Canonical: `+8613800138000`, `+861065529988;ext=123`, `zhang@example.com`, `wechat:wxid_1`."""
    valid: bool = True
    """False for a number or address kept exactly as given because it could not be normalised."""
    strong: bool = True
    """Presented by the channel itself (the caller's number, the sender address); False for one merely found
    in the text, such as a phone number in a signature."""


class InvalidIdentity(ValueError):
    pass


def normalise_phone(raw: str, *, region: str = "CN", strong: bool = True) -> Identity:
    """E.164 with `;ext=` kept; an unparseable or invalid number is kept as given and flagged, never guessed."""
    given = " ".join(raw.split())
    if not given:
        raise InvalidIdentity("empty phone number")
    try:
        number = phonenumbers.parse(given, region)
    except phonenumbers.NumberParseException:
        return Identity("phone", given, valid=False, strong=strong)
    if not phonenumbers.is_valid_number(number):
        return Identity("phone", given, valid=False, strong=strong)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if number.extension:
        e164 += f";ext={number.extension}"
    return Identity("phone", e164, valid=True, strong=strong)


_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\".]{2,}$")


def normalise_email(raw: str, *, strong: bool = True) -> Identity:
    """Lower-cased (local part too: no mail system a customer uses distinguishes case) and checked for shape."""
    address = unicodedata.normalize("NFKC", raw).strip().strip("<>").strip().lower()
    if not address:
        raise InvalidIdentity("empty e-mail address")
    return Identity("email", address, valid=bool(_EMAIL.match(address)), strong=strong)


def namespaced(kind: Literal["chat", "social"], platform: str | None, value: str) -> Identity:
    value = value.strip()
    if not value:
        raise InvalidIdentity(f"empty {kind} id")
    prefix = (platform or "default").strip().lower()
    return Identity(kind, f"{prefix}:{value}")


def phones_in_text(text: str, *, region: str = "CN", limit: int = 3) -> list[Identity]:
    """Valid phone numbers written in free text (a signature), as weak identities."""
    found: list[Identity] = []
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if match.number.extension:
            e164 += f";ext={match.number.extension}"
        identity = Identity("phone", e164, valid=True, strong=False)
        if identity not in found:
            found.append(identity)
        if len(found) >= limit:
            break
    return found


# --- who is this? -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identification:
    customer_id: uuid.UUID | None
    """None: create a new `basic` customer."""
    link: tuple[Identity, ...]
    """Identities to attach to that customer (new ones the contact showed)."""
    conflicts: tuple[uuid.UUID, ...]
    """Other existing customers the contact's identities belong to: never merged automatically."""


def identify(presented: Sequence[Identity], known: Mapping[tuple[str, str], uuid.UUID]) -> Identification:
    """Which customer sent this, from the identities a contact shows and those the directory knows.

    Only a valid, strong identity (the caller's number, the sender's address) decides who it is; the first
    known one wins. The contact's unknown identities are linked to that customer (or to the new one). An
    identity that belongs to a *different* existing customer is a conflict, never merged: an admin decides.
    """
    # An identity kept "as given" (a withheld caller id, a malformed address) identifies nobody: matching on
    # it would make every anonymous caller one customer.
    unique = [i for i in dict.fromkeys(presented) if i.valid]
    owner = next((known[(i.kind, i.value)] for i in unique if i.strong and (i.kind, i.value) in known), None)
    conflicts = tuple(
        dict.fromkeys(
            known[(i.kind, i.value)]
            for i in unique
            if (i.kind, i.value) in known and known[(i.kind, i.value)] != owner
        )
    )
    link = tuple(i for i in unique if (i.kind, i.value) not in known)
    return Identification(customer_id=owner, link=link, conflicts=conflicts)
