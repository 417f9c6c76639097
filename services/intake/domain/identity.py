"""Customer identities in one canonical form: E.164 phones (extension kept), lower-cased e-mail addresses,
chat and social ids namespaced by platform; and which customer a set of presented identities points to.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
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
    """E.164 with `;ext=` kept; an unparseable or invalid number is kept as given and flagged, never guessed.

    Read as PBXs and forms write them: a SIP or tel URI (`sip:+8613800138000@pbx`, `tel:+86-10-1234-5678`), an
    extension after 转, 分机, ext, x or # (or after a last dash, `021-64376000-8021`, when what comes before it is
    a whole number), and the first valid one of several numbers in one field. `region` reads numbers written
    without a country code.
    """
    given = " ".join(raw.split())
    if not given:
        raise InvalidIdentity("empty phone number")
    number = first_valid_number(raw, region=region)
    if number is None:
        return Identity("phone", given, valid=False, strong=strong)
    return Identity("phone", _e164(number), valid=True, strong=strong)


def called_region(called: str | None, *, region: str) -> str:
    """The country of the number the customer called or wrote to (a range too new for the metadata still names
    its country by its code); `region` when there is none. A caller id without a country code is local to the
    network that delivered the call: the called number's."""
    if not called or not called.strip():
        return region
    number = first_valid_number(called, region=region)
    if number is not None:
        found = phonenumbers.region_code_for_number(number)
    else:
        try:
            loose = phonenumbers.parse(_unwrapped(called)[0], region)
        except phonenumbers.NumberParseException:
            return region
        if not phonenumbers.is_possible_number(loose):
            return region
        found = phonenumbers.region_code_for_country_code(loose.country_code or 0)
    return found if found and found not in (phonenumbers.UNKNOWN_REGION, "001") else region


_URI = re.compile(r"\b(sips?|tel):([^\s<>@]+)", re.IGNORECASE)
_URI_PARAMS = re.compile(r";(?!ext=|phone-context=)[^;]*", re.IGNORECASE)
_EXTENSION_WORDS = re.compile(
    r"\s*(?:转分机|轉分機|分机号|分機號|转|轉|分机|分機|内线|內線|extension)\s*[:：]?\s*", re.IGNORECASE
)
_DASH_EXTENSION = re.compile(r"^(.*\d)\s*-\s*(\d{1,6})$")
_SEPARATORS = re.compile(r"\s*(?:[/,，;；、|\n]|或|\sor\s)\s*", re.IGNORECASE)


def first_valid_number(raw: str, *, region: str) -> phonenumbers.PhoneNumber | None:
    """The first valid number in a caller id or a phone field, or None: nothing is ever completed or corrected."""
    text, from_uri = _unwrapped(raw)
    if from_uri:
        return _valid(text, region)
    text = _EXTENSION_WORDS.sub(" ext. ", text).strip()
    text = re.sub(r"\s*ext\.\s*$", "", text)
    whole = _valid(text, region)
    if whole is not None:
        return whole
    for piece in _SEPARATORS.split(text):
        number = _valid(piece, region)
        if number is not None:
            return number
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
        return match.number
    return None


def _unwrapped(raw: str) -> tuple[str, bool]:
    """The number of a SIP or tel URI (display name, host and parameters other than the extension dropped) and
    True; anything else as written and False. In NFKC: full-width digits become digits."""
    text = unicodedata.normalize("NFKC", raw).strip()
    uri = _URI.search(text)
    if uri is None:
        return text, False
    user = _URI_PARAMS.sub("", urllib.parse.unquote(uri.group(2)))
    return (f"tel:{user}" if uri.group(1).lower() == "tel" else user), True


def _valid(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    candidates = [text]
    dash = _DASH_EXTENSION.match(text.strip())
    if dash is not None and "ext" not in text.lower():
        candidates.append(f"{dash.group(1)} ext. {dash.group(2)}")
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
    return None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164


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
        identity = Identity("phone", _e164(match.number), valid=True, strong=False)
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
