"""Bulk import formats: JSON lines and Markdown documents with YAML front matter, parsed item by item.

A bad item becomes an `ItemError` with where it was and why; the good ones are imported. In Markdown input each
document opens with a front-matter block (`---` lines around YAML that has a `title`), the body follows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from services.knowledge.domain.article import Content, InvalidArticle, Language, Visibility

LANGUAGE_ALIASES: dict[str, Language] = {
    "zh": "zh-Hans",
    "zh-hans": "zh-Hans",
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "zh-hant": "zh-Hant",
    "zh-tw": "zh-Hant",
    "zh-hk": "zh-Hant",
    "zh-mo": "zh-Hant",
    "en": "en",
    "en-us": "en",
    "en-gb": "en",
}


@dataclass(frozen=True)
class ImportItem:
    position: str
    """`line 12` or `document 3 (line 40)`: where the caller finds it."""
    content: Content
    external_id: str | None
    owner: str | None
    publish: bool


@dataclass(frozen=True)
class ItemError:
    position: str
    external_id: str | None
    error: str


def normalise_language(value: object) -> Language:
    if not isinstance(value, str):
        raise InvalidArticle("language: required (zh-Hans, zh-Hant or en)")
    language = LANGUAGE_ALIASES.get(value.strip().replace("_", "-").lower())
    if language is None:
        raise InvalidArticle(f"language: {value!r} is not zh-Hans, zh-Hant or en")
    return language


def _strings(record: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = record.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return tuple(str(v) for v in value)
    raise InvalidArticle(f"{name}: a list of strings")


def _text(record: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    value = record.get(name)
    if value is None:
        if required:
            raise InvalidArticle(f"{name}: required")
        return ""
    if not isinstance(value, str | int | float):
        raise InvalidArticle(f"{name}: must be text")
    return str(value)


def item_from_record(record: object, position: str, body: str | None = None) -> ImportItem:
    if not isinstance(record, dict):
        raise InvalidArticle("each item is a JSON object")
    visibility = record.get("visibility", "internal")
    if visibility not in ("internal", "public"):
        raise InvalidArticle("visibility: internal or public")
    status = record.get("status", "draft")
    if status not in ("draft", "published"):
        raise InvalidArticle("status: draft or published")
    vis: Visibility = "public" if visibility == "public" else "internal"
    content = Content(
        title=_text(record, "title", required=True),
        body=body if body is not None else _text(record, "body", required=True),
        language=normalise_language(record.get("language", record.get("lang"))),
        summary=_text(record, "summary"),
        category=_text(record, "category"),
        tags=_strings(record, "tags"),
        channels=_strings(record, "channels"),
        products=_strings(record, "products"),
        visibility=vis,
    )
    external = record.get("external_id", record.get("id"))
    owner = record.get("owner")
    return ImportItem(
        position=position,
        content=content,
        external_id=str(external) if external is not None else None,
        owner=str(owner) if owner is not None else None,
        publish=status == "published",
    )


def parse_json_lines(text: str) -> tuple[list[ImportItem], list[ItemError]]:
    items: list[ImportItem] = []
    errors: list[ItemError] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        position = f"line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(ItemError(position, None, f"not JSON: {exc.msg} at column {exc.colno}"))
            continue
        try:
            items.append(item_from_record(record, position))
        except InvalidArticle as exc:
            external = record.get("external_id", record.get("id")) if isinstance(record, dict) else None
            errors.append(ItemError(position, str(external) if external is not None else None, str(exc)))
    return items, errors


def _front_matter_at(lines: list[str], start: int) -> tuple[dict[str, Any], int] | None:
    """The front matter opening at `start` (a `---` line) and the index after its closing line, if any."""
    if lines[start].strip() != "---":
        return None
    for end in range(start + 1, min(len(lines), start + 200)):
        if lines[end].strip() == "---":
            try:
                data = yaml.safe_load("\n".join(lines[start + 1 : end]))
            except yaml.YAMLError:
                return None
            if isinstance(data, dict) and "title" in data:
                return data, end + 1
            return None
    return None


def parse_markdown(text: str) -> tuple[list[ImportItem], list[ItemError]]:
    lines = text.splitlines()
    starts: list[tuple[int, dict[str, Any], int]] = []
    i = 0
    while i < len(lines):
        found = _front_matter_at(lines, i)
        if found is not None:
            starts.append((i, found[0], found[1]))
            i = found[1]
        else:
            i += 1
    items: list[ImportItem] = []
    errors: list[ItemError] = []
    if not starts:
        return [], [ItemError("document 1 (line 1)", None, "no front matter: start with --- title: … ---")]
    if any(line.strip() for line in lines[: starts[0][0]]):
        errors.append(ItemError("line 1", None, "text before the first front matter is not part of any article"))
    for n, (open_line, data, body_start) in enumerate(starts, start=1):
        body_end = starts[n][0] if n < len(starts) else len(lines)
        body = "\n".join(lines[body_start:body_end]).strip()
        position = f"document {n} (line {open_line + 1})"
        try:
            items.append(item_from_record(data, position, body=body))
        except InvalidArticle as exc:
            external = data.get("external_id", data.get("id"))
            errors.append(ItemError(position, str(external) if external is not None else None, str(exc)))
    return items, errors
