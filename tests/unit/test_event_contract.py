"""The wire contract: one golden file per event type pins its JSON; decoding it gives the same event back.

A wire change fails here, not in production. After a deliberate, compatible change (a new optional field, a
new type), regenerate with `UPDATE_GOLDEN=1 ./switchboard test -- tests/unit/test_event_contract.py`.
"""

from __future__ import annotations

import json
import os
import types
import typing
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
from pydantic import BaseModel

from shared.events import REGISTRY, TOPICS, Event, UndecodableMessage, decode, encode, json_schemas_text

GOLDEN = Path(__file__).parent / "golden"
WHEN = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
NS = uuid.UUID("6f1c1b8e-2a8e-4a52-9b9b-7f0d3a1e5c42")


def example_value(annotation: Any, name: str) -> Any:
    """A deterministic example for a field, from its type alone."""
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return example_value(options[0], name)
    if origin is Literal:
        return get_args(annotation)[0]
    if origin is list:
        return [example_value(get_args(annotation)[0], name)]
    if origin is dict:
        _, value_type = get_args(annotation)
        return {"key": example_value(value_type, name)}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return example(annotation)
    simple: dict[Any, Any] = {
        uuid.UUID: uuid.uuid5(NS, name),
        datetime: WHEN,
        date: WHEN.date(),
        str: f"{name}-example",
        int: 3,
        float: 0.75,
        bool: True,
    }
    return simple[annotation]


def example(model: type[BaseModel]) -> Any:
    hints = typing.get_type_hints(model)
    return model.model_validate({name: example_value(hints[name], name) for name in model.model_fields})


def encoded(model: type[Event]) -> dict[str, Any]:
    event = example(model)
    message = encode(
        event, source="switchboard/example", subject="subject-1", time=WHEN, event_id=uuid.uuid5(NS, model.TYPE)
    )
    parsed: dict[str, Any] = json.loads(message.value)
    return parsed


@pytest.mark.parametrize("type_", sorted(REGISTRY))
def test_every_event_type_matches_its_golden_file(type_: str) -> None:
    model = REGISTRY[type_]
    path = GOLDEN / f"{type_}.json"
    actual = encoded(model)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    assert path.exists(), f"no golden file for {type_}; run with UPDATE_GOLDEN=1 after reviewing the change"
    golden = json.loads(path.read_text())
    assert actual == golden, f"the wire form of {type_} changed; a breaking change needs a new versioned type"
    decoded = decode(path.read_bytes())
    assert decoded.event == example(model)
    assert decoded.envelope.type == type_


def test_no_golden_file_outlives_its_event_type() -> None:
    stale = sorted(p.stem for p in GOLDEN.glob("*.json") if p.stem not in REGISTRY)
    assert stale == []


def test_event_types_are_versioned_and_live_on_a_declared_topic() -> None:
    declared = {t.name for t in TOPICS}
    for type_, model in REGISTRY.items():
        assert type_.startswith("switchboard.") and type_.rsplit(".", 1)[1].startswith("v"), type_
        assert model.TOPIC.name in declared, type_


def test_consumers_skip_unknown_types_and_ignore_unknown_fields() -> None:
    body = encoded(REGISTRY["switchboard.probe.pinged.v1"])
    body["data"]["added_in_a_later_version"] = 1
    assert decode(json.dumps(body).encode()).event is not None
    body["type"] = "switchboard.something.new.v9"
    assert decode(json.dumps(body).encode()).event is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "not a CloudEvents envelope"),
        (b'{"id": "x"}', "not a CloudEvents envelope"),
        (None, "tombstone"),
    ],
)
def test_poison_messages_are_reported_as_undecodable(value: bytes | None, reason: str) -> None:
    with pytest.raises(UndecodableMessage, match=reason):
        decode(value)


def test_a_known_type_with_invalid_data_is_undecodable() -> None:
    body = encoded(REGISTRY["switchboard.contact.received.v1"])
    body["data"]["channel"] = "carrier-pigeon"
    with pytest.raises(UndecodableMessage, match="channel"):
        decode(json.dumps(body).encode())


def test_published_json_schema_is_current() -> None:
    path = Path(__file__).resolve().parents[2] / "docs" / "events.schema.json"
    assert path.read_text(encoding="utf-8") == json_schemas_text(), (
        "docs/events.schema.json is stale: run `switchboard events schema --write docs/events.schema.json`"
    )
