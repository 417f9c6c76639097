"""The survey page's texts are gettext catalogs a translator edits: the template lists every text the page shows,
every page language translates all of them, and the page shows what the service compiles from them."""

from __future__ import annotations

import configparser
import fnmatch
import tomllib
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from services.feedback.domain.policy import LANGUAGES
from services.feedback.page import _PAGES, LOCALE, SOURCE_LANGUAGE, message_page, translations
from tests.support import ROOT

TRANSLATED = [lang for lang in LANGUAGES if lang != SOURCE_LANGUAGE]


def catalog(path: Path) -> Catalog:
    with path.open("rb") as source:
        return read_po(source)


def po(lang: str) -> Path:
    return LOCALE / lang.replace("-", "_") / "LC_MESSAGES" / "survey.po"


def ids(of: Catalog) -> set[str]:
    return {str(message.id) for message in of if message.id}


def test_the_template_lists_every_text_the_page_shows() -> None:
    config = configparser.ConfigParser()
    config.read(LOCALE / "babel.cfg")
    sections = [section.partition(":") for section in config.sections()]
    method_map = [(pattern.strip(), method.strip()) for method, _, pattern in sections]
    feedback = ROOT / "services" / "feedback"
    shown = {
        str(message)
        for _, _, message, _, _ in extract_from_dir(
            ROOT,
            method_map,
            directory_filter=lambda d: Path(d) == ROOT / "services" or Path(d).is_relative_to(feedback),
        )
    }
    assert "How did we do?" in shown and "Thank you!" in shown
    assert ids(catalog(LOCALE / "survey.pot")) == shown, "run pybabel extract (locale/README.md)"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_text_is_translated_with_its_placeholders(lang: str) -> None:
    translation = catalog(po(lang))
    assert ids(translation) == ids(catalog(LOCALE / "survey.pot")), "run pybabel update (locale/README.md)"
    for message in translation:
        if message.id:
            assert message.string and not message.fuzzy, f"{lang}: {message.id!r} is not translated"
    assert [(message.id, errors) for message, errors in translation.check()] == []


@pytest.mark.parametrize("lang", TRANSLATED)
@pytest.mark.parametrize("kind", sorted(_PAGES))
def test_a_page_shows_the_catalogs_words_not_the_english(lang: str, kind: str) -> None:
    heading, text, status = _PAGES[kind]
    page = message_page(kind, lang)
    html = bytes(page.body).decode()
    gettext = translations(lang).gettext
    assert page.status_code == status
    assert gettext(heading) != heading and gettext(heading) in html and gettext(text) in html
    assert heading not in html and text not in html
    assert f'<html lang="{lang}">' in html


def test_the_catalogs_are_packaged_with_the_service() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["*"]
    for path in [LOCALE / "survey.pot", *(po(lang) for lang in TRANSLATED)]:
        assert any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns), path.name
