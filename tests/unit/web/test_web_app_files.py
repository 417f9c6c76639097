"""The web app's own files: every text the pages ask for exists in all three languages with the same
placeholders, and the pages load nothing from anywhere else and run no inline script or style (the CSP forbids
both; this catches it before a browser does)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[3] / "services" / "web" / "static"
LANGUAGES = ("en", "zh-Hans", "zh-Hant")


def catalog(language: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads((STATIC / "i18n" / f"{language}.json").read_text(encoding="utf-8"))
    return loaded


def scripts() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((STATIC / "js").glob("*.js"))}


def test_the_three_languages_have_the_same_texts_with_the_same_placeholders() -> None:
    english = catalog("en")
    for language in LANGUAGES[1:]:
        other = catalog(language)
        assert set(other) == set(english), language
        for key, text in english.items():
            assert set(re.findall(r"\{\w+\}", other[key])) == set(re.findall(r"\{\w+\}", text)), (language, key)
            assert other[key].strip(), (language, key)


def test_every_text_a_script_or_page_asks_for_is_in_the_catalogs() -> None:
    english = catalog("en")
    asked: set[str] = set()
    for source in scripts().values():
        asked |= set(re.findall(r"\bt\(\"([a-z_]+\.[a-z_.]+)\"", source))
        asked |= set(re.findall(r"\b(?:tile|field)\([^)]*?\"([a-z_]+\.[a-z_]+)\"", source))
        asked |= set(re.findall(r"\balert\(\"([a-z_]+\.[a-z_.]+)\"", source))
    for page in STATIC.glob("*.html"):
        asked |= set(re.findall(r'data-i18n(?:-[a-z]+)?="([a-z_.]+)"', page.read_text(encoding="utf-8")))
    assert asked, "the scan found nothing: the pattern is out of date"
    assert sorted(asked - set(english)) == []


@pytest.mark.parametrize("page", ["signin.html", "workspace.html", "wallboard.html"])
def test_pages_load_only_our_own_files_and_have_no_inline_script_or_style(page: str) -> None:
    html = (STATIC / page).read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert "style=" not in html and "<style" not in html, "inline style"
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith(("/static/", "#", "/auth/")), url
        if url.startswith("/static/"):
            assert (STATIC / url.removeprefix("/static/")).is_file(), url


def test_scripts_import_only_each_other_and_never_write_html() -> None:
    for name, source in scripts().items():
        for target in re.findall(r'from "([^"]+)"', source):
            assert target.startswith("./") and (STATIC / "js" / target[2:]).is_file(), (name, target)
        assert "innerHTML" not in source and "outerHTML" not in source and "insertAdjacentHTML" not in source, name
        assert "eval(" not in source and "new Function" not in source, name
        outside = source.replace('"http://www.w3.org/2000/svg"', "")  # a namespace name, never fetched
        assert "http://" not in outside and "https://" not in outside, name
