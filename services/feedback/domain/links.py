"""Signed, expiring survey links: `<payload>.<signature>`, both base64url, short enough for an SMS.

The payload is the invitation id (16 bytes) and the expiry (unix seconds, 5 bytes); the signature is the first
16 bytes of HMAC-SHA256 over the payload. A link proves which invitation it is for and until when; whether that
invitation is still open is the database's answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from datetime import UTC, datetime

_SIG_BYTES = 16


class LinkError(ValueError):
    pass


class ForgedLink(LinkError):
    """Not a link we signed: garbled, truncated, or signed with another key."""


class ExpiredLink(LinkError):
    def __init__(self, invitation_id: uuid.UUID, expired_at: datetime) -> None:
        super().__init__(f"link expired at {expired_at.isoformat()}")
        self.invitation_id = invitation_id
        self.expired_at = expired_at


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_link(invitation_id: uuid.UUID, expires_at: datetime, secret: bytes) -> str:
    payload = invitation_id.bytes + int(expires_at.timestamp()).to_bytes(5, "big")
    signature = hmac.new(secret, payload, hashlib.sha256).digest()[:_SIG_BYTES]
    return f"{_b64(payload)}.{_b64(signature)}"


def read_link(token: str, secret: bytes, *, now: datetime) -> uuid.UUID:
    """The invitation a link is for; `ForgedLink` unless we signed it, `ExpiredLink` once it has expired."""
    payload_text, dot, signature_text = token.partition(".")
    if not dot or len(token) > 200:
        raise ForgedLink("not a survey link")
    try:
        payload, signature = _unb64(payload_text), _unb64(signature_text)
    except (binascii.Error, ValueError) as exc:
        raise ForgedLink("not a survey link") from exc
    if _b64(payload) != payload_text or _b64(signature) != signature_text:
        # base64 ignores the spare bits of the last character: only the one canonical spelling is ours.
        raise ForgedLink("not a survey link")
    expected = hmac.new(secret, payload, hashlib.sha256).digest()[:_SIG_BYTES]
    if len(payload) != 21 or not hmac.compare_digest(signature, expected):
        raise ForgedLink("the link's signature does not match")
    invitation_id = uuid.UUID(bytes=payload[:16])
    expires_at = datetime.fromtimestamp(int.from_bytes(payload[16:], "big"), UTC)
    if now >= expires_at:
        raise ExpiredLink(invitation_id, expires_at)
    return invitation_id
