"""HTTP: bulk import of articles (JSON lines or Markdown with front matter), item by item, in one transaction.

An item whose `external_id` (or `id`) is known updates that article with a new version when its content
changed. `status: published` publishes at once and needs a reviewer (supervisor or admin); bad items come back
as per-item errors and the good ones are imported.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.knowledge.api.common import Authors, KnowledgeState, actor_of, engine_of, transaction
from services.knowledge.api.models import IMPORT_BODY, ImportReport
from services.knowledge.domain.importing import parse_json_lines, parse_markdown
from services.knowledge.handlers.imports import import_items, screen
from shared.errors import Problem

router = APIRouter(tags=["articles"])

JSON_LINES = ("application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines")
MARKDOWN = ("text/markdown", "text/x-markdown")


@router.post(
    "/v1/articles/import", response_model=None, responses={200: {"model": ImportReport}}, openapi_extra=IMPORT_BODY
)
async def import_articles(principal: Authors, request: Request, state: KnowledgeState) -> dict[str, Any]:
    engine = engine_of(state)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Problem(400, "Bad request", f"the body is not UTF-8 (byte {exc.start})") from exc
    if media in JSON_LINES:
        items, errors = parse_json_lines(text)
    elif media in MARKDOWN:
        items, errors = parse_markdown(text)
    else:
        raise Problem(
            415,
            "Unsupported media type",
            f"send JSON lines ({JSON_LINES[0]}) or Markdown with front matter ({MARKDOWN[0]}); "
            f"got {media or 'none'}",
        )
    received = len(items) + len(errors)
    limit = state.settings.max_import_items
    if received > limit:
        raise Problem(413, "Payload too large", f"{received} items; at most {limit} per call")
    accepted, refused = screen(items, role=principal.role)
    errors.extend(refused)
    async with transaction(state) as tx:
        done = await import_items(tx, accepted, engine=engine, actor=actor_of(principal))
    if done.live:
        async with state.pool.acquire() as conn:
            await engine.refresh(conn)
    errors.extend(done.errors)
    if errors and not done.versions and not done.unchanged:
        raise Problem(
            422,
            "Nothing imported",
            f"all {len(errors)} items were refused; see errors",
            kind="import",
            errors=[e.__dict__ for e in errors],
        )
    return {
        "received": received,
        "created": len(done.created),
        "updated": len(done.updated),
        "unchanged": done.unchanged,
        "published": len(done.live),
        "errors": [e.__dict__ for e in sorted(errors, key=lambda e: _order(e.position))],
        "articles": done.outcomes,
    }


def _order(position: str) -> int:
    digits = "".join(c if c.isdigit() else " " for c in position).split()
    return int(digits[0]) if digits else 0
