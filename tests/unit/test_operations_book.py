"""docs/operations.md: every setting documented where it is declared, the generated reference current, the alerts
the rules fire explained, and the deploy guide's settings real ones."""

from __future__ import annotations

import re

import pytest

from deploy import reference
from deploy.reference import OPERATIONS, SECTIONS, Undocumented, current, description, env_name
from shared.config import ServiceSettings

ALERTS = (
    "SwitchboardConsumerLag",
    "SwitchboardDeadLettersGrowing",
    "SwitchboardOutboxBacklog",
    "SwitchboardSlaBreachRate",
    "SwitchboardBackgroundTaskDown",
    "SwitchboardServiceDown",
)


def test_every_setting_of_every_settings_class_has_a_meaning() -> None:
    assert reference.undocumented() == []


def test_a_setting_without_a_docstring_is_caught() -> None:
    class Careless(ServiceSettings):
        documented: int = 1
        """Says what it is."""
        forgotten: int = 2

    assert description(Careless, "documented") == "Says what it is."
    assert description(Careless, "port") == "HTTP port."  # inherited meaning
    with pytest.raises(Undocumented, match=r"Careless\.forgotten"):
        description(Careless, "forgotten")


def test_the_reference_in_operations_md_is_current() -> None:
    assert current(OPERATIONS.read_text(encoding="utf-8")) == reference.reference(), (
        "docs/operations.md's configuration reference is stale: run `./switchboard docs settings --write`"
    )


def test_every_settings_class_field_appears_in_the_reference() -> None:
    text = reference.reference()
    for section in SECTIONS:
        for name in section.settings.model_fields:
            assert f"`{env_name(name)}`" in text, f"{section.settings.__name__}.{name}"


def test_every_alert_has_a_section_saying_what_it_means_and_what_to_do() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    for alert in ALERTS:
        section = text.split(f"### {alert}\n", 1)[1].split("\n### ", 1)[0]
        assert "**Means:**" in section and "**Do:**" in section, alert


def test_the_settings_named_in_the_operations_and_deploy_docs_exist() -> None:
    known = {env_name(n) for s in SECTIONS for n in s.settings.model_fields} | {"SWITCHBOARD_VENV"}
    for doc in (OPERATIONS, OPERATIONS.parent / "deploy.md"):
        named = set(re.findall(r"SWITCHBOARD_[A-Z_]+[A-Z]", doc.read_text(encoding="utf-8")))
        unknown = sorted(named - known)
        assert not unknown, f"{doc.name} names settings that do not exist: {unknown}"
