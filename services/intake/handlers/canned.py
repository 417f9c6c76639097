"""Canned responses: reply templates supervisors and admins keep (every change audited) and agents fill in for a
contact (audited like a read when the customer's personal data is important, since the name goes into the text)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from services.intake.domain.conversation import render
from services.intake.handlers.common import Tx
from services.intake.repository import canned as repo
from services.intake.repository import conversation as conversation_repo
from shared.audit import record
from shared.tx import Actor

LANGUAGES = ("zh-Hans", "zh-Hant", "en")
CENTRE_ZONE = ZoneInfo("Asia/Shanghai")


class CannedMissing(LookupError):
    """No such (active) canned response, or for rendering: no such contact either."""


class VersionMismatch(Exception):
    def __init__(self, version: int) -> None:
        super().__init__(f"it is at version {version} now; read it again")
        self.version = version


class NotYourContact(PermissionError):
    """Agents fill in templates for their own contacts only."""


@dataclass(frozen=True)
class Template:
    title: str
    texts: Mapping[str, str]
    tags: Sequence[str]
    terms: Sequence[str]


async def create(tx: Tx, template: Template, *, actor: Actor) -> dict[str, Any]:
    row = await repo.insert(
        tx.conn, canned_response_id=uuid.uuid4(), title=template.title, texts=dict(template.texts),
        tags=list(template.tags), terms=list(template.terms), by=actor.subject, now=tx.now,
    )  # fmt: skip
    await _audit(tx, actor, "canned_response.create", row)
    return row


async def update(
    tx: Tx, canned_response_id: uuid.UUID, template: Template, *, expected_version: int | None, actor: Actor
) -> dict[str, Any]:
    """`CannedMissing`, or `VersionMismatch` when `expected_version` is not the stored one."""
    row = await repo.update(
        tx.conn, canned_response_id=canned_response_id, title=template.title, texts=dict(template.texts),
        tags=list(template.tags), terms=list(template.terms), expected_version=expected_version,
        by=actor.subject, now=tx.now,
    )  # fmt: skip
    if row is None:
        exists = await repo.get(tx.conn, canned_response_id)
        if exists is None:
            raise CannedMissing(f"no canned response {canned_response_id}")
        raise VersionMismatch(exists["version"])
    await _audit(tx, actor, "canned_response.update", row)
    return row


async def retire(tx: Tx, canned_response_id: uuid.UUID, *, actor: Actor) -> None:
    before = await repo.get(tx.conn, canned_response_id)
    if before is None or not await repo.retire(
        tx.conn, canned_response_id=canned_response_id, by=actor.subject, now=tx.now
    ):
        raise CannedMissing(f"no canned response {canned_response_id}")
    await _audit(tx, actor, "canned_response.retire", before)


@dataclass(frozen=True)
class Rendered:
    language: str
    text: str


async def fill_in(
    tx: Tx, canned_response_id: uuid.UUID, contact_id: uuid.UUID, *, language: str | None, actor: Actor
) -> Rendered:
    """The template in the contact's language (or `language`), its variables filled in for the contact."""
    canned = await repo.get(tx.conn, canned_response_id)
    context = await repo.contact_context(tx.conn, contact_id)
    head = await conversation_repo.get_head(tx.conn, contact_id)
    if canned is None or context is None or head is None:
        raise CannedMissing("no such canned response or contact")
    if actor.role == "agent" and not await conversation_repo.agent_may_read(tx.conn, head, actor.subject):
        raise NotYourContact("agents fill in templates for their own contacts")
    if context["pii_level"] == "important":  # the customer's name goes into the text: audited like a read
        await record(
            tx.conn,
            actor=actor.label,
            action="contact.render",
            target=f"contact:{contact_id}",
            detail={"canned_response_id": str(canned_response_id)},
            at=tx.now,
        )
    texts: dict[str, str] = canned["texts"]
    wanted = language or _language_of(context["language"])
    chosen = wanted if wanted in texts else next(lang for lang in (*LANGUAGES, *texts) if lang in texts)
    values = {
        "customer_name": context["display_name"] or ("您" if chosen.startswith("zh") else "Customer"),
        "contact_ref": str(contact_id)[:8].upper(),
        "agent_name": actor.subject,
        "date": tx.now.astimezone(CENTRE_ZONE).date().isoformat(),
        "subject": context["subject"] or "",
    }
    return Rendered(chosen, render(texts[chosen], values))


def _language_of(tag: str | None) -> str:
    if tag and tag.startswith("zh"):
        return "zh-Hant" if "Hant" in tag else "zh-Hans"
    return "en" if tag and tag.startswith("en") else "zh-Hans"


async def _audit(tx: Tx, actor: Actor, action: str, row: Mapping[str, Any]) -> None:
    await record(
        tx.conn,
        actor=actor.label,
        action=action,
        target=f"canned_response:{row['canned_response_id']}",
        detail={"title": row["title"], "version": row["version"]},
        at=tx.now,
    )
