"""Raw RFC 5322 / MIME mail as a mail gateway delivers it → one parsed email, decoded robustly.

The stdlib parser (compat32 policy, which keeps raw 8-bit header bytes as surrogate escapes) splits the
structure; every header and body is decoded here, by `charsets`, so mislabelled and unlabelled text reads right.
Attachments become metadata (name, type, size, sha256); their content is not kept.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.utils
import hashlib
import quopri
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.policy import Compat32

from services.intake.domain.charsets import (
    UnknownCharset,
    codec_for,
    decode_header_value,
    read_declared,
)
from services.intake.domain.text import html_to_text


class MalformedEmail(ValueError):
    """Not a mail message at all (no header section), or a part too broken to read."""


@dataclass(frozen=True)
class Attachment:
    name: str | None
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Address:
    address: str
    """As written; normalisation (lower case, validation) is the identity module's job."""
    name: str


@dataclass(frozen=True)
class ParsedEmail:
    subject: str | None
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: Address | None
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    sent_at: datetime | None
    text: str
    """The readable body: the text part (or the HTML part as text), forwarded messages included."""
    from_html: bool
    attachments: tuple[Attachment, ...]
    charsets: tuple[str, ...]
    defects: tuple[str, ...] = field(default=())
    auto_submitted: bool = False
    """An auto-reply, bounce or read receipt (RFC 3834 / multipart/report): no customer wrote it."""


class _RawHeaders(Compat32):
    """compat32 handing header values over untouched (raw 8-bit bytes as surrogate escapes) for us to decode."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_POLICY = _RawHeaders()
_HEADER_LINE = re.compile(rb"^[A-Za-z0-9][A-Za-z0-9_-]*[ \t]*:")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_ADDRESS_WITH_COMMENT = re.compile(r"^\s*([^\s@()<>,;\"]+@[^\s@()<>,;\"]+)\s*\((.+)\)\s*$", re.DOTALL)


MAX_PART_DEPTH = 40
"""Deepest nesting of MIME parts (multiparts and forwarded messages) read; real mail stays under ten."""


def parse_email(raw: bytes, *, max_attachment_bytes: int | None = None) -> ParsedEmail:
    """Parse one message; raises `MalformedEmail` (with the reason) for input that is not mail, or is nested
    deeper than `MAX_PART_DEPTH` parts."""
    try:
        return _parse_email(raw, max_attachment_bytes=max_attachment_bytes)
    except RecursionError as exc:  # the stdlib parser and walk() recurse per level, below our own bound
        raise MalformedEmail(f"MIME parts are nested more than {MAX_PART_DEPTH} deep") from exc


def _parse_email(raw: bytes, *, max_attachment_bytes: int | None) -> ParsedEmail:
    if not raw.strip():
        raise MalformedEmail("the message is empty")
    first = raw.lstrip(b"\r\n").split(b"\n", 1)[0]
    if not _HEADER_LINE.match(first) and not first.startswith(b"From "):
        raise MalformedEmail("the message does not start with a header field (`Name: value`)")
    message = email.message_from_bytes(raw, policy=_POLICY)
    charsets = tuple(dict.fromkeys(c for c in message.get_charsets() if c))
    hints = tuple(charsets)
    walker = _Walker(hints=hints, max_attachment_bytes=max_attachment_bytes)
    walker.visit(message)
    texts = walker.texts if any(t.strip() for t in walker.texts) else walker.attached_texts
    text = "\n\n".join(part for part in texts if part.strip())
    defects = [type(d).__name__ for part in message.walk() for d in getattr(part, "defects", [])]
    # Raw 8-bit and wrongly labelled headers are read like the body: the charsets that actually read its text
    # first (a Big5 body labelled GB2312, or not labelled at all), then the labels.
    header_hints = tuple(dict.fromkeys((*walker.read, *hints)))
    subject = _header(message, "subject", header_hints)
    return ParsedEmail(
        subject=subject,
        sender=_first_address(message, "from", header_hints),
        to=_addresses(message, "to", header_hints),
        cc=_addresses(message, "cc", header_hints),
        reply_to=_first_address(message, "reply-to", header_hints),
        message_id=_first_id(message.get("message-id")),
        in_reply_to=_ids(message.get("in-reply-to")),
        references=_ids(message.get("references")),
        sent_at=_date(message.get("date")),
        text=text.strip(),
        from_html=walker.from_html,
        attachments=tuple(walker.attachments),
        charsets=charsets,
        defects=tuple(defects),
        auto_submitted=_is_automatic(message, subject),
    )


def _header(message: Message, name: str, hints: tuple[str, ...]) -> str | None:
    value = message.get(name)
    if value is None:
        return None
    decoded = decode_header_value(str(value), hints=hints)
    return decoded or None


def _addresses(message: Message, name: str, hints: tuple[str, ...]) -> tuple[Address, ...]:
    values = message.get_all(name) or []
    found: list[Address] = []
    for value in values:
        # Decode display names first: raw 8-bit and encoded words may hide commas that getaddresses splits on.
        for display, address in email.utils.getaddresses([str(value)]):
            address = decode_header_value(address, hints=hints).strip().strip("<>")
            if not address and not display:
                continue
            found.append(Address(address=address, name=decode_header_value(display, hints=hints).strip("\"' ")))
    return tuple(a for a in found if a.address)


def _first_address(message: Message, name: str, hints: tuple[str, ...]) -> Address | None:
    value = message.get(name)
    if value is None:
        return None
    raw = str(value)
    # A quoted or encoded display name may contain commas; take the last <addr> as the address if present.
    bracket = re.findall(r"<([^<>]*)>", raw)
    if bracket:
        address = bracket[-1].strip()
        display = raw[: raw.rfind("<")].strip()
        name_text = decode_header_value(display, hints=hints).strip().strip('"').strip()
        return Address(address=decode_header_value(address, hints=hints), name=name_text)
    # `addr (Name)`: the comment read raw, since Big5 bytes such as 許 (B3 5C) hold backslashes a parser unescapes.
    comment = _ADDRESS_WITH_COMMENT.match(raw)
    if comment:
        name_text = decode_header_value(comment.group(2), hints=hints).strip().strip('"').strip()
        return Address(address=comment.group(1), name=name_text)
    addresses = _addresses(message, name, hints)
    return addresses[0] if addresses else None


def _first_id(value: object) -> str | None:
    ids = _ids(value)
    return ids[0] if ids else None


def _ids(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    text = str(value)
    found = _MESSAGE_ID.findall(text)
    if not found and text.strip() and " " not in text.strip():
        found = [f"<{text.strip().strip('<>')}>"]
    return tuple(dict.fromkeys(found))


def _date(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else None


_AUTOMATIC_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[ -]?reply|auto:|out of (the )?office|delivery status notification"
    r"|undeliverable|undelivered mail|mail delivery (failed|failure)|returned mail|delivery failure"
    r"|automatyczna odpowied|réponse automatique|automatische antwort|respuesta automática"
    r"|自动回复|自動回覆|自动答复|自動回復|休假|退信|系统退信|邮件退回)",
    re.IGNORECASE,
)


def _is_automatic(message: Message, subject: str | None) -> bool:
    """An auto-reply, out-of-office, bounce or read receipt (RFC 3834 headers, reports, null sender, the
    subjects mail systems use in English, Chinese and other languages): no customer wrote it."""
    auto = str(message.get("auto-submitted", "no")).strip().lower()
    if auto not in ("", "no") or message.get_content_type() == "multipart/report":
        return True
    if message.get("x-autoreply") or message.get("x-autorespond") or message.get("x-autoresponse"):
        return True
    if str(message.get("precedence", "")).strip().lower() in ("auto_reply", "junk"):
        return True
    if str(message.get("return-path", "")).strip() == "<>":
        return True
    return bool(subject and _AUTOMATIC_SUBJECT.match(subject))


class _Walker:
    def __init__(self, *, hints: tuple[str, ...], max_attachment_bytes: int | None, depth: int = 0) -> None:
        self.depth = depth
        self.hints = hints
        self.max_attachment_bytes = max_attachment_bytes
        self.texts: list[str] = []
        self.attachments: list[Attachment] = []
        self.attached_texts: list[str] = []
        self.from_html = False
        self.read: list[str] = []
        """The codecs that read the text parts beyond ASCII, in order."""

    def visit(self, part: Message) -> None:
        self.depth += 1
        try:
            self._visit(part)
        finally:
            self.depth -= 1

    def _visit(self, part: Message) -> None:
        if self.depth > MAX_PART_DEPTH:
            raise MalformedEmail(f"MIME parts are nested more than {MAX_PART_DEPTH} deep")
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            self._forwarded(part)
            return
        if part.is_multipart():
            children = [p for p in part.get_payload() if isinstance(p, Message)]
            if ctype == "multipart/alternative":
                self._alternative(children)
            else:
                for child in children:
                    self.visit(child)
            return
        if self._is_attachment(part):
            self._attach(part)
            if ctype in ("text/plain", "text/html"):
                # A text file attached: listed as an attachment; its words count only if the mail has no others.
                self.attached_texts.append(self._text(part, html=ctype == "text/html"))
            return
        if ctype.startswith("multipart/"):
            # A multipart whose boundary never appears: read what is there as text.
            self.texts.append(self._text(part, html=False, fallback_type=True))
            return
        if ctype == "text/html":
            self.texts.append(self._text(part, html=True))
            self.from_html = self.from_html or not self.texts[:-1]
        elif ctype.startswith("text/") and ctype not in ("text/rfc822-headers", "text/calendar", "text/x-vcard"):
            self.texts.append(self._text(part, html=False))

    def _alternative(self, children: list[Message]) -> None:
        plain = [c for c in children if c.get_content_type() == "text/plain" and not self._is_attachment(c)]
        for child in plain:
            text = self._text(child, html=False)
            if text.strip():
                self.texts.append(text)
                self._attachments_of(children, exclude=child)
                return
        for child in reversed(children):  # richest last, by RFC 2046
            if child.get_content_type() == "text/html" or child.is_multipart():
                before = len(self.texts)
                self.visit(child)
                if any(t.strip() for t in self.texts[before:]):
                    self.from_html = True
                    return
        for child in children:
            self.visit(child)

    def _attachments_of(self, children: list[Message], *, exclude: Message) -> None:
        for child in children:
            if child is exclude or child.get_content_type().startswith("text/"):
                continue
            for sub in child.walk():
                if not sub.is_multipart() and self._is_attachment(sub):
                    self._attach(sub)

    def _forwarded(self, part: Message) -> None:
        inner = part.get_payload()
        if not isinstance(inner, list) or not inner or not isinstance(inner[0], Message):
            return
        message = inner[0]
        walker = _Walker(hints=self.hints, max_attachment_bytes=self.max_attachment_bytes, depth=self.depth)
        walker.visit(message)
        self.read.extend(walker.read)
        header = [
            "---------- Forwarded message ----------",
            f"From: {_header(message, 'from', self.hints) or ''}",
            f"Subject: {_header(message, 'subject', self.hints) or ''}",
        ]
        body = "\n\n".join(t for t in walker.texts if t.strip())
        self.texts.append("\n".join(header) + "\n\n" + body)
        self.attachments.extend(walker.attachments)

    def _is_attachment(self, part: Message) -> bool:
        disposition = str(part.get("content-disposition", "")).split(";", 1)[0].strip().lower()
        if disposition == "attachment":
            return True
        ctype = part.get_content_type()
        if part.get_filename() and disposition != "inline":
            return True
        return not (ctype.startswith(("text/", "multipart/", "message/")))

    def _attach(self, part: Message) -> None:
        data = _payload_bytes(part)
        if self.max_attachment_bytes is not None and len(data) > self.max_attachment_bytes:
            raise AttachmentTooLarge(
                f"attachment {self._filename(part)!r} is {len(data)} bytes; "
                f"the limit is {self.max_attachment_bytes}"
            )
        self.attachments.append(
            Attachment(
                name=self._filename(part),
                content_type=part.get_content_type(),
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )

    def _filename(self, part: Message) -> str | None:
        name = part.get_filename()
        if name is None:
            return None
        return decode_header_value(str(name), hints=self.hints) or None

    def _text(self, part: Message, *, html: bool, fallback_type: bool = False) -> str:
        data = _payload_bytes(part)
        label = part.get_content_charset()
        try:
            text, codec = read_declared(data, label, hints=self.hints)
        except UnknownCharset as exc:
            raise MalformedEmail(str(exc)) from exc
        if codec is not None and codec not in self.read:
            self.read.append(codec)
        if fallback_type:
            text = _salvage_multipart(text)
            html = html or "<html" in text.lower()
        if html or (not fallback_type and _looks_like_html(text) and part.get_content_type() != "text/plain"):
            return html_to_text(text)
        return text.replace("\r\n", "\n")


class AttachmentTooLarge(ValueError):
    pass


_PART_HEADER = re.compile(r"^(--\S*|Content-[\w-]+:.*|MIME-Version:.*)$", re.IGNORECASE)


def _salvage_multipart(text: str) -> str:
    """The body of a multipart whose boundary never matched: boundary lines and part headers dropped."""
    return "\n".join(line for line in text.replace("\r\n", "\n").split("\n") if not _PART_HEADER.match(line))


def _looks_like_html(text: str) -> bool:
    head = text[:500].lower()
    return "<html" in head or "<body" in head


def _payload_bytes(part: Message) -> bytes:
    """The decoded body of a leaf part; broken transfer encodings are read leniently, never fatally."""
    if part.is_multipart():
        return b""
    cte = str(part.get("content-transfer-encoding", "")).strip().lower().replace(" ", "-").strip('"')
    if cte not in ("base64", "quoted-printable"):
        # compat32 hands 7bit/8bit/binary (and unknown encodings) back as the raw bytes.
        data = part.get_payload(decode=True)
        return data if isinstance(data, bytes) else b""
    try:
        encoded = part.get_payload(decode=False)
    except (UnicodeError, LookupError):
        # Raw 8-bit bytes in the body and a charset label that cannot re-encode them: the stdlib decodes the
        # body with the label before handing it back. The stored payload is what arrived.
        encoded = vars(part).get("_payload", "")
    raw = str(encoded).encode("ascii", errors="replace")
    if cte == "base64":
        compact = re.sub(rb"[^A-Za-z0-9+/=]", b"", raw)
        if len(compact.rstrip(b"=")) % 4 == 1:
            return raw  # not base64 at all, whatever the header says
        try:
            return base64.b64decode(compact + b"=" * (-len(compact) % 4))
        except (binascii.Error, ValueError):
            return raw
    if cte == "quoted-printable":
        return quopri.decodestring(raw)
    return raw


def charset_known(label: str) -> bool:
    return codec_for(label) is not None
