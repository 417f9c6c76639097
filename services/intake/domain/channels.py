"""Each channel's payload → `Inbound`: identities normalised, text cleaned, language detected, keys derived."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.intake.domain.contact import Inbound, KeyScope, fingerprint
from services.intake.domain.identity import (
    Identity,
    InvalidIdentity,
    called_region,
    namespaced,
    normalise_email,
    normalise_phone,
    phones_in_text,
)
from services.intake.domain.language import detect_language
from services.intake.domain.mime import Address, Attachment, ParsedEmail
from services.intake.domain.text import html_to_text, split_reply


class MissingField(ValueError):
    """A payload lacks what its channel needs (the message names the field)."""


def email_inbound(parsed: ParsedEmail, *, region: str) -> Inbound:
    split = split_reply(parsed.text)
    identities: list[Identity] = []
    if parsed.sender is not None and parsed.sender.address:
        identities.append(normalise_email(parsed.sender.address))
    if parsed.reply_to is not None and parsed.sender is not None and parsed.reply_to.address:
        reply = normalise_email(parsed.reply_to.address, strong=False)
        if reply.value != identities[0].value:
            identities.append(reply)
    identities.extend(phones_in_text(split.signature, region=region))
    clean = split.new or (parsed.text if not split.quoted else "")
    own_key, scope = _natural_key(
        parsed.message_id, "fp:", identities, parsed.sent_at, parsed.subject, parsed.text
    )
    return Inbound(
        channel="email",
        natural_key=own_key,
        key_scope=scope,
        identities=tuple(identities),
        text=clean.strip(),
        original=parsed.text,
        subject=parsed.subject,
        sender_name=parsed.sender.name if parsed.sender and parsed.sender.name else None,
        language=detect_language(f"{parsed.subject or ''}\n{clean}"),
        attachments=parsed.attachments,
        thread_keys=(f"email:{parsed.message_id}",) if parsed.message_id else (),
        reply_to_keys=tuple(f"email:{ref}" for ref in dict.fromkeys((*parsed.in_reply_to, *parsed.references))),
        sent_at=parsed.sent_at,
        metadata={
            "to": [a.address for a in parsed.to],
            "charsets": list(parsed.charsets),
            "from_html": parsed.from_html,
            **({"defects": list(parsed.defects)} if parsed.defects else {}),
        },
        automatic=parsed.auto_submitted,
    )


def parsed_email_inbound(
    *,
    message_id: str | None,
    from_address: str | None,
    from_name: str | None,
    subject: str | None,
    text: str | None,
    html: str | None,
    in_reply_to: Sequence[str],
    references: Sequence[str],
    sent_at: datetime | None,
    attachments: Sequence[Attachment],
    to: Sequence[str],
    region: str,
) -> Inbound:
    """An email a gateway already parsed (JSON): the same normalisation as raw MIME."""
    body = text if text and text.strip() else html_to_text(html or "")
    if not body.strip() and not subject and not attachments:
        raise MissingField("text: an email needs a text or html body, a subject or an attachment")
    parsed = ParsedEmail(
        subject=subject,
        sender=Address(from_address, from_name or "") if from_address else None,
        to=(),
        cc=(),
        reply_to=None,
        message_id=_bracket(message_id),
        in_reply_to=tuple(_bracket(i) or i for i in in_reply_to),
        references=tuple(_bracket(r) or r for r in references),
        sent_at=sent_at,
        text=body.strip(),
        from_html=not (text and text.strip()),
        attachments=tuple(attachments),
        charsets=(),
    )
    inbound = email_inbound(parsed, region=region)
    return replace(inbound, sender_name=from_name, metadata={**inbound.metadata, "to": list(to)})


def _bracket(message_id: str | None) -> str | None:
    if not message_id or not message_id.strip():
        return None
    value = message_id.strip()
    return value if value.startswith("<") else f"<{value.strip('<>')}>"


def phone_inbound(
    *,
    call_id: str,
    event: str | None,
    ani: str | None,
    dnis: str | None,
    direction: str,
    ivr_path: Sequence[str],
    ivr_selections: Sequence[str],
    language: str | None,
    started_at: datetime | None,
    answered_at: datetime | None,
    ended_at: datetime | None,
    recording: str | None,
    transcript: str | None,
    caller_name: str | None,
    region: str,
) -> Inbound:
    if not call_id.strip():
        raise MissingField("call_id: must not be empty")
    identities: list[Identity] = []
    if ani and ani.strip():
        identities.append(normalise_phone(ani, region=called_region(dnis, region=region)))
    text = (transcript or "").strip()
    if not text:
        summary = f"{direction} call"
        if ivr_path:
            summary += " · IVR " + " › ".join(ivr_path)
        text = summary
    key = (
        event.strip()
        if event and event.strip()
        else fingerprint(ani, answered_at, ended_at, recording, transcript, tuple(ivr_selections))
    )
    return Inbound(
        channel="phone",
        natural_key=f"call:{call_id.strip()}:{key}",
        identities=tuple(identities),
        text=text,
        original=transcript or "",
        sender_name=caller_name,
        language=language or (detect_language(text) if transcript else None),
        thread_keys=(f"call:{call_id.strip()}",),
        sent_at=started_at,
        ivr_selections=tuple(ivr_selections),
        metadata=_compact(
            {
                "call_id": call_id.strip(),
                "dnis": dnis,
                "direction": direction,
                "ivr_path": list(ivr_path),
                "ivr_selections": list(ivr_selections),
                "started_at": started_at.isoformat() if started_at else None,
                "answered_at": answered_at.isoformat() if answered_at else None,
                "ended_at": ended_at.isoformat() if ended_at else None,
                "recording": recording,
                "ani_valid": identities[0].valid if identities else None,
            }
        ),
    )


def chat_inbound(
    *,
    session_id: str,
    message_id: str,
    visitor_id: str | None,
    visitor_name: str | None,
    visitor_email: str | None,
    visitor_phone: str | None,
    platform: str | None,
    text: str,
    sent_at: datetime | None,
    region: str,
) -> Inbound:
    if not session_id.strip():
        raise MissingField("session_id: must not be empty")
    if not message_id.strip():
        raise MissingField("message_id: must not be empty")
    if not text.strip():
        raise MissingField("text: a chat message needs text")
    identities: list[Identity] = []
    if visitor_id and visitor_id.strip():
        identities.append(namespaced("chat", platform or "web", visitor_id))
    identities.extend(_contact_identities(visitor_email, visitor_phone, region))
    clean = text.strip()
    return Inbound(
        channel="chat",
        natural_key=f"chat:{session_id.strip()}:{message_id.strip()}",
        identities=tuple(identities),
        text=clean,
        original=text,
        sender_name=visitor_name,
        language=detect_language(clean),
        thread_keys=(f"chat:{session_id.strip()}",),
        sent_at=sent_at,
        metadata=_compact({"session_id": session_id.strip(), "platform": platform}),
    )


def web_inbound(
    *,
    form_id: str | None,
    submission_id: str | None,
    name: str | None,
    email: str | None,
    phone: str | None,
    subject: str | None,
    message: str | None,
    fields: Mapping[str, str],
    sent_at: datetime | None,
    region: str,
) -> Inbound:
    if not (message and message.strip()) and not (subject and subject.strip()):
        raise MissingField("message: a form post needs a message or a subject")
    identities = _contact_identities(email, phone, region)
    body = (message or "").strip()
    split = split_reply(body)
    text = split.new or body
    prefix = f"web:{form_id or 'form'}:"
    key, scope = _natural_key(
        prefix + submission_id.strip() if submission_id and submission_id.strip() else None,
        prefix,
        identities,
        sent_at,
        form_id,
        subject,
        message,
        sorted(fields.items()),
    )
    return Inbound(
        channel="web",
        natural_key=key,
        key_scope=scope,
        identities=tuple(identities),
        text=text,
        original=message or "",
        subject=subject,
        sender_name=name,
        language=detect_language(f"{subject or ''}\n{text}"),
        sent_at=sent_at,
        metadata=_compact({"form_id": form_id, "fields": dict(fields) or None}),
    )


def generic_inbound(
    *,
    channel: str,
    message_id: str | None,
    sender_phone: str | None,
    sender_email: str | None,
    sender_id: str | None,
    platform: str | None,
    sender_name: str | None,
    conversation_id: str | None,
    text: str,
    sent_at: datetime | None,
    metadata: Mapping[str, Any],
    region: str,
    called: str | None = None,
) -> Inbound:
    """sms, social and onsite: a sender identity, a text, a time and whatever else the adapter has. `called`: the
    number the customer wrote to, whose country a sender number without a country code is local to."""
    if not text.strip():
        raise MissingField("text: must not be empty")
    identities = _contact_identities(sender_email, sender_phone, called_region(called, region=region))
    if sender_id and sender_id.strip():
        identities.insert(
            0, namespaced("social" if channel == "social" else "chat", platform or channel, sender_id)
        )
    if not identities and channel != "onsite":
        raise MissingField("sender: give at least one of sender.phone, sender.email or sender.id")
    key, scope = _natural_key(
        f"{channel}:{message_id.strip()}" if message_id and message_id.strip() else None,
        f"{channel}:",
        identities,
        sent_at,
        text,
    )
    thread = (
        (f"{channel}:conversation:{conversation_id.strip()}",)
        if conversation_id and conversation_id.strip()
        else ()
    )
    split = split_reply(text)
    clean = split.new or text.strip()
    return Inbound(
        channel=channel,
        natural_key=key,
        key_scope=scope,
        identities=tuple(identities),
        text=clean,
        original=text,
        sender_name=sender_name,
        language=detect_language(clean),
        thread_keys=thread,
        sent_at=sent_at,
        metadata=_compact({"platform": platform, "to": called, **dict(metadata)}),
    )


def _natural_key(
    given: str | None, prefix: str, identities: Sequence[Identity], sent_at: datetime | None, *content: object
) -> tuple[str, KeyScope]:
    """The key the adapter `given` names the message for ever. Without one: the sender's valid identities, the
    content and the send time name it for ever; without a send time they name only its retries; without a
    sender nothing does, since two people may write the same words."""
    if given:
        return given, "message"
    senders = [i.value for i in identities if i.valid and i.strong]
    if not senders:
        return prefix.rstrip(":"), "post"
    return prefix + fingerprint(senders, *content, sent_at), "message" if sent_at is not None else "retry"


def _contact_identities(email: str | None, phone: str | None, region: str) -> list[Identity]:
    identities: list[Identity] = []
    try:
        if email and email.strip():
            identities.append(normalise_email(email))
        if phone and phone.strip():
            identities.append(normalise_phone(phone, region=region))
    except InvalidIdentity as exc:
        raise MissingField(str(exc)) from exc
    return identities


def _compact(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, [], {}, "")}
