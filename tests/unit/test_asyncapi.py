"""`docs/asyncapi.yaml` is current (generated from `shared/events.py` and the desktop protocol), a valid AsyncAPI
3.0 document by the official JSON Schema, every `$ref` in it resolves, and what it says a message looks like is
what the golden messages are."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

from deploy.asyncapi import asyncapi_text
from deploy.cli import _version
from services.routing import desktop_protocol
from shared.events import REGISTRY, TOPICS

ROOT = Path(__file__).resolve().parents[2]
PATH = ROOT / "docs" / "asyncapi.yaml"
GOLDEN = Path(__file__).parent / "golden"
ASYNCAPI_SCHEMA = Path(__file__).parent / "vendor" / "asyncapi-3.0.0.schema.json"
DOC_URI = "urn:switchboard:asyncapi"


@functools.cache
def _loaded() -> str:
    return json.dumps(
        yaml.load(PATH.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 — safe loaders only
    )


def document() -> dict[str, Any]:
    """A fresh copy each time (tests change it); parsed once."""
    loaded: dict[str, Any] = json.loads(_loaded())
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


def test_the_checked_in_document_is_current() -> None:
    assert PATH.read_text(encoding="utf-8") == asyncapi_text(_version()), (
        "docs/asyncapi.yaml is stale: run `switchboard events asyncapi --write docs/asyncapi.yaml`"
    )


def test_it_is_a_valid_asyncapi_3_document() -> None:
    schema = json.loads(ASYNCAPI_SCHEMA.read_text(encoding="utf-8"))
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in Draft7Validator(schema).iter_errors(document())
    ]
    assert errors == []


def test_an_invalid_document_is_refused_by_the_same_check() -> None:
    schema = json.loads(ASYNCAPI_SCHEMA.read_text(encoding="utf-8"))
    broken = document()
    broken["operations"]["desktop.feed"]["action"] = "publish"  # AsyncAPI 2's word
    assert not Draft7Validator(schema).is_valid(broken)


def test_every_ref_resolves_inside_the_document() -> None:
    doc = document()
    resolver = Registry().with_resource(DOC_URI, DRAFT7.create_resource(doc)).resolver(base_uri=DOC_URI)
    for ref in sorted(set(refs(doc))):
        assert ref.startswith("#/"), ref
        assert resolver.lookup(ref).contents is not None, ref


def test_every_topic_event_type_and_desktop_message_is_in_it() -> None:
    doc = document()
    assert {t.name for t in TOPICS} <= set(doc["channels"])
    for type_, model in REGISTRY.items():
        channel = doc["channels"][model.TOPIC.name]
        assert channel["messages"][type_.removeprefix("switchboard.")]["$ref"] == f"#/components/messages/{type_}"
    desktop = doc["channels"]["desktop"]["messages"]
    for shape in (*desktop_protocol.TO_DESKTOP, *desktop_protocol.FROM_DESKTOP):
        assert f"desktop-{shape.__name__}" in desktop


@pytest.mark.parametrize("type_", sorted(REGISTRY))
def test_each_golden_message_matches_its_payload_and_headers_in_the_document(type_: str) -> None:
    doc = document()
    registry: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT7.create_resource(doc))

    def validator(pointer: str) -> Draft7Validator:
        return Draft7Validator({"$ref": f"{DOC_URI}#{pointer}"}, registry=registry)

    message = json.loads((GOLDEN / f"{type_}.json").read_text(encoding="utf-8"))
    assert [e.message for e in validator(f"/components/messages/{type_}/payload").iter_errors(message)] == []
    headers = {
        "ce_type": type_,
        "content-type": "application/cloudevents+json",
        "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01",
    }
    assert [e.message for e in validator(f"/components/messages/{type_}/headers").iter_errors(headers)] == []
    message["data"] = {}
    assert not validator(f"/components/messages/{type_}/payload").is_valid(message), "empty data passed"
