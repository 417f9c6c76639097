"""`docs/events.schema.json` is one valid JSON Schema (2020-12) document: every `$ref` in it resolves inside it,
and it accepts each golden message and refuses a broken one — checked with a standard validator (jsonschema)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from shared.events import REGISTRY, SCHEMA_URL

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "docs" / "events.schema.json").read_text(encoding="utf-8"))
    return loaded


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def validator() -> Draft202012Validator:
    schema = document()
    registry: Registry[Any] = Registry().with_resource(SCHEMA_URL, DRAFT202012.create_resource(schema))
    return Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())


def test_the_document_is_a_valid_2020_12_schema_with_its_own_id() -> None:
    schema = document()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_URL


def test_every_ref_resolves_inside_the_one_document() -> None:
    schema = document()
    resolver = Registry().with_resource(SCHEMA_URL, Resource.from_contents(schema)).resolver(base_uri=SCHEMA_URL)
    found = sorted(set(refs(schema)))
    assert len(found) > len(REGISTRY)
    for ref in found:
        assert ref.startswith("#/$defs/"), f"{ref}: a reference outside the document"
        resolved = resolver.lookup(ref).contents
        assert isinstance(resolved, dict) and resolved, ref


def test_every_event_type_has_its_definition_with_type_and_topic() -> None:
    defs = document()["$defs"]
    for type_, model in REGISTRY.items():
        definition = defs[model.__name__]
        assert definition["x-type"] == type_
        assert definition["x-topic"] == model.TOPIC.name


@pytest.mark.parametrize("type_", sorted(REGISTRY))
def test_each_golden_message_is_valid_against_the_document(type_: str) -> None:
    message = json.loads((GOLDEN / f"{type_}.json").read_text(encoding="utf-8"))
    errors = [e.message for e in validator().iter_errors(message)]
    assert errors == []


def test_data_that_does_not_match_its_type_is_refused() -> None:
    message = json.loads((GOLDEN / "switchboard.contact.received.v1.json").read_text(encoding="utf-8"))
    message["data"]["channel"] = "carrier-pigeon"
    del message["data"]["received_at"]
    errors = sorted(e.message for e in validator().iter_errors(message))
    assert any("carrier-pigeon" in e for e in errors) and any("received_at" in e for e in errors), errors


def test_an_unknown_type_passes_as_consumers_skip_it() -> None:
    message = json.loads((GOLDEN / "switchboard.probe.pinged.v1.json").read_text(encoding="utf-8"))
    message["type"] = "switchboard.something.new.v9"
    message["data"] = {"anything": 1}
    assert list(validator().iter_errors(message)) == []
