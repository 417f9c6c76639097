"""Knowledge's news for desktops: suggested articles for a contact's work, and an article overdue for review
told to its owner. Each runs in the inbox transaction that claimed the event."""

from __future__ import annotations

from services.routing.domain.lifecycle import OWNED
from services.routing.handlers.common import Tx
from services.routing.handlers.views import jsonable
from services.routing.handlers.work_steps import tell_people
from services.routing.repository import agents as agent_repo
from services.routing.repository import contacts as contact_repo
from services.routing.repository import feed
from services.routing.repository import work as work_repo
from shared.events import KnowledgeArticleOverdueV1, KnowledgeSuggestedV1


async def on_suggested(tx: Tx, event: KnowledgeSuggestedV1) -> None:
    articles = [a.model_dump(mode="json") for a in event.articles]
    await contact_repo.save_suggestion(tx.conn, contact_id=event.contact_id, articles=articles, at=tx.now)
    work = await work_repo.lock_work_for_contact(tx.conn, event.contact_id)
    if work is not None and work.state in OWNED:
        await tell_people(
            tx, work, "suggestion", {"work_id": work.work_id, "contact_id": work.contact_id, "articles": articles}
        )


async def on_article_overdue(tx: Tx, event: KnowledgeArticleOverdueV1) -> None:
    """The owner of an article past its review-by date is told on their desktop (a desktop that reconnects with
    its last id gets what it missed, within the desktop retention); an owner who is no agent of routing's has no
    desktop to tell. Knowledge's overdue list stays the full record."""
    if await agent_repo.get_agent(tx.conn, event.owner) is None:
        return
    body = jsonable({"kind": "article_overdue", **event.model_dump(mode="json")})
    await feed.to_desktop(tx.conn, agent_id=event.owner, kind="notice", body=body, now=tx.now)
