"""Articles, their versions and the review workflow: pure rules, no I/O.

Roles: an author is anyone with an `agent`, `supervisor` or `admin` token (they draft, edit and submit for
review; an agent edits and submits the articles they wrote or own, as with work); a reviewer is a `supervisor`
or `admin` (they publish, send back, archive, restore and reassign). Editing a published article creates a new
draft version; the published version stays live in search until the new one is published.
"""

from __future__ import annotations

import difflib
import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

Status = Literal["draft", "review", "published", "archived"]
Language = Literal["zh-Hans", "zh-Hant", "en"]
Visibility = Literal["internal", "public"]
Action = Literal["submit", "publish", "reject", "archive", "restore"]

STATUSES: tuple[Status, ...] = ("draft", "review", "published", "archived")
LANGUAGES: tuple[Language, ...] = ("zh-Hans", "zh-Hant", "en")
AUTHOR_ROLES = frozenset({"agent", "supervisor", "admin"})
REVIEWER_ROLES = frozenset({"supervisor", "admin"})
STAFF_ROLES = frozenset({"agent", "supervisor", "admin", "ops"})

# action → (statuses it may start from, status it leads to, roles allowed)
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status, frozenset[str]]] = {
    "submit": (frozenset({"draft"}), "review", AUTHOR_ROLES),
    "publish": (frozenset({"review"}), "published", REVIEWER_ROLES),
    "reject": (frozenset({"review"}), "draft", REVIEWER_ROLES),
    "archive": (frozenset({"draft", "review", "published"}), "archived", REVIEWER_ROLES),
    "restore": (frozenset({"archived"}), "draft", REVIEWER_ROLES),
}


class KnowledgeError(Exception):
    """Base of the knowledge service's domain errors."""


class InvalidArticle(KnowledgeError):
    pass


class NotAllowed(KnowledgeError):
    """The caller's role may not do this."""


class InvalidTransition(KnowledgeError):
    """The article's status does not allow this step."""


class StaleVersion(KnowledgeError):
    """The caller edited an older version than the current one."""


class ArticleNotFound(KnowledgeError):
    pass


class DuplicateExternalId(KnowledgeError):
    """Another article already carries this `external_id`."""


class SearchNotFound(KnowledgeError):
    """No logged search has this id (yet: another worker may still hold it in its buffer)."""


class NotAResult(KnowledgeError):
    """A click names an article the search did not return."""


@dataclass(frozen=True)
class Content:
    """Everything an edit may change; one version of an article."""

    title: str
    body: str
    language: Language
    summary: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    visibility: Visibility = "internal"


@dataclass(frozen=True)
class Version:
    article_id: uuid.UUID
    version: int
    content: Content
    edited_by: str
    edited_at: datetime
    note: str = ""


@dataclass(frozen=True)
class Article:
    article_id: uuid.UUID
    status: Status
    current_version: int
    published_version: int | None
    owner: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    review_by: datetime | None = None
    published_at: datetime | None = None
    archived_at: datetime | None = None
    external_id: str | None = None

    @property
    def live(self) -> bool:
        """In search: some version is published and the article is not archived."""
        return self.published_version is not None and self.status != "archived"

    def overdue(self, now: datetime) -> bool:
        return self.live and self.review_by is not None and self.review_by <= now


@dataclass(frozen=True)
class Overdue:
    """A published article past its review-by date, as its owner is told of it."""

    article_id: uuid.UUID
    version: int
    title: str
    language: str
    owner: str
    review_by: datetime


def clean_content(content: Content, *, channels_known: tuple[str, ...]) -> Content:
    """Trim and de-duplicate lists; refuse what an article may not be."""
    title = " ".join(content.title.split())
    if not title:
        raise InvalidArticle("title: must not be empty")
    if len(title) > 300:
        raise InvalidArticle("title: at most 300 characters")
    if not content.body.strip():
        raise InvalidArticle("body: must not be empty")
    if content.language not in LANGUAGES:
        raise InvalidArticle(f"language: one of {', '.join(LANGUAGES)}")
    if content.visibility not in ("internal", "public"):
        raise InvalidArticle("visibility: internal or public")
    unknown = sorted(set(content.channels) - set(channels_known))
    if unknown:
        raise InvalidArticle(f"channels: unknown {unknown}; known are {', '.join(channels_known)}")
    return replace(
        content,
        title=title,
        summary=content.summary.strip(),
        category=content.category.strip(),
        tags=_unique(content.tags),
        channels=_unique(content.channels),
        products=_unique(content.products),
    )


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        value = " ".join(value.split())
        if value and value.casefold() not in {s.casefold() for s in seen}:
            seen[value] = None
    return tuple(seen)


def new_article(
    *,
    article_id: uuid.UUID,
    author: str,
    role: str,
    owner: str | None,
    now: datetime,
    external_id: str | None = None,
) -> Article:
    if role not in AUTHOR_ROLES:
        raise NotAllowed(f"role {role!r} may not write articles; authors are {sorted(AUTHOR_ROLES)}")
    return Article(
        article_id=article_id,
        status="draft",
        current_version=1,
        published_version=None,
        owner=owner or author,
        created_by=author,
        created_at=now,
        updated_at=now,
        external_id=external_id,
    )


def belongs_to(article: Article, actor: str) -> bool:
    """Whether `actor` (`role:subject`) wrote the article or owns it (an owner is named like the author, or by
    agent id)."""
    return article.created_by == actor or article.owner in (actor, actor.partition(":")[2])


def _check_owner(article: Article, role: str, actor: str, what: str) -> None:
    if role not in REVIEWER_ROLES and not belongs_to(article, actor):
        raise NotAllowed(f"agents {what} the articles they wrote or own; this one is {article.owner}'s")


def edit(article: Article, *, role: str, actor: str, base_version: int | None, now: datetime) -> Article:
    """A new version on top of the current one; a published or in-review article goes back to draft."""
    if role not in AUTHOR_ROLES:
        raise NotAllowed(f"role {role!r} may not edit articles; authors are {sorted(AUTHOR_ROLES)}")
    _check_owner(article, role, actor, "edit")
    if article.status == "archived":
        raise InvalidTransition("an archived article is read-only; restore it first")
    if base_version is not None and base_version != article.current_version:
        raise StaleVersion(
            f"you edited version {base_version} but the article is at version {article.current_version}"
        )
    return replace(article, status="draft", current_version=article.current_version + 1, updated_at=now)


def transition(
    article: Article, action: Action, *, role: str, actor: str, now: datetime, review_days: int
) -> Article:
    starts, target, roles = TRANSITIONS[action]
    if role not in roles:
        raise NotAllowed(f"role {role!r} may not {action} articles; that needs one of {sorted(roles)}")
    _check_owner(article, role, actor, action)
    if article.status not in starts:
        raise InvalidTransition(
            f"cannot {action} an article in {article.status}; {action} needs {' or '.join(sorted(starts))}"
        )
    changed = replace(article, status=target, updated_at=now)
    if action == "publish":
        return replace(
            changed,
            published_version=article.current_version,
            published_at=now,
            review_by=now + timedelta(days=review_days),
            archived_at=None,
        )
    if action == "archive":
        # Off search and off the review list; the version history keeps what was published.
        return replace(changed, archived_at=now, published_version=None, review_by=None)
    if action == "restore":
        return replace(changed, archived_at=None)
    return changed


def change_owner(article: Article, *, role: str, owner: str, now: datetime) -> Article:
    if role not in REVIEWER_ROLES:
        raise NotAllowed("only supervisors and admins reassign articles")
    if not owner.strip():
        raise InvalidArticle("owner: must not be empty")
    return replace(article, owner=owner.strip(), updated_at=now)


def set_review_by(article: Article, *, role: str, review_by: datetime, now: datetime) -> Article:
    """A reviewer confirms the content is still right and sets the next review date."""
    if role not in REVIEWER_ROLES:
        raise NotAllowed("only supervisors and admins set review dates")
    if review_by <= now:
        raise InvalidArticle("review_by: must be in the future")
    return replace(article, review_by=review_by, updated_at=now)


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str | list[str]
    after: str | list[str]
    diff: str
    """A unified diff for text fields, empty for lists."""


def diff_versions(old: Version, new: Version) -> list[FieldChange]:
    changes: list[FieldChange] = []
    for name in ("title", "summary", "body", "category", "language", "visibility"):
        before, after = getattr(old.content, name), getattr(new.content, name)
        if before != after:
            lines = difflib.unified_diff(
                before.splitlines(),
                after.splitlines(),
                fromfile=f"v{old.version}",
                tofile=f"v{new.version}",
                lineterm="",
            )
            changes.append(FieldChange(name, before, after, "\n".join(lines)))
    for name in ("tags", "channels", "products"):
        before_list, after_list = list(getattr(old.content, name)), list(getattr(new.content, name))
        if before_list != after_list:
            changes.append(FieldChange(name, before_list, after_list, ""))
    return changes


_FENCE = re.compile(r"^(```|~~~).*$", re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*", re.MULTILINE)
_QUOTE_LIST = re.compile(r"^\s*(?:>+|[-*+]|\d+[.)])\s+", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|~~|`)(?=\S)(.+?)(?<=\S)\1")
_HTML = re.compile(r"<[^>\n]+>")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}.*$", re.MULTILINE)


def markdown_to_text(markdown: str) -> str:
    """The readable text of Markdown, for snippets: markup gone, words and line breaks kept."""
    text = _FENCE.sub("", markdown)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _TABLE_RULE.sub("", text)
    text = _HEADING.sub("", text)
    text = _QUOTE_LIST.sub("", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _HTML.sub("", text)
    text = text.replace("|", " ")
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def language_family(language: str | None) -> frozenset[Language] | None:
    """Which article languages serve a contact or a query in `language` (None: any)."""
    if not language:
        return None
    code = language.strip().replace("_", "-").lower()
    if code.startswith("zh") or code in ("cmn", "yue"):
        return frozenset({"zh-Hans", "zh-Hant"})
    if code.startswith("en"):
        return frozenset({"en"})
    return None
