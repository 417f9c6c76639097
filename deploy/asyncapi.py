"""The AsyncAPI 3.0 document of Switchboard's messages (`docs/asyncapi.yaml`), generated from the contracts in
code: every topic and event type of `shared/events.py`, and the desktop WebSocket of
`services/routing/desktop_protocol.py`. `switchboard events asyncapi --write docs/asyncapi.yaml` writes it; a
test fails when the checked-in file differs or does not validate against the AsyncAPI 3.0 JSON Schema.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.routing import desktop_protocol as desktop
from shared.events import (
    CONTENT_TYPE,
    DOCS_URL,
    MAX_EVENT_BYTES,
    REGISTRY,
    ROUTING_AGENTS,
    ROUTING_WORK,
    TOPICS,
    Envelope,
    Event,
    Topic,
    dataschema_of,
)

KAFKA_BINDING = "0.5.0"
WS_BINDING = "0.1.0"
DESKTOP_PREFIX = "Desktop"
"""Desktop schemas are named `Desktop<Model>` among the components, apart from the events' own."""

TRACE_HEADERS: dict[str, Any] = {
    "traceparent": {
        "type": "string",
        "description": "W3C trace context of the writer: a consumer's work continues the contact's trace.",
    },
    "tracestate": {"type": "string", "description": "W3C trace state, when the writer has one."},
}
DLQ_HEADERS: dict[str, Any] = {
    "dlq.error": {"type": "string", "description": "Why the consumer gave up (exception type and message)."},
    "dlq.origin.topic": {"type": "string"},
    "dlq.origin.partition": {"type": "string", "description": "A decimal number."},
    "dlq.origin.offset": {"type": "string", "description": "A decimal number."},
    "dlq.consumer.group": {"type": "string"},
    "dlq.attempts": {"type": "string", "description": "How many times the consumer tried (a decimal number)."},
}


def _summary(model: type[BaseModel]) -> str | None:
    """The first paragraph of the model's own docstring (none is inherited)."""
    doc = model.__dict__.get("__doc__")
    return " ".join(doc.strip().split("\n\n")[0].split()) if doc else None


def _message_name(type_: str) -> str:
    return type_.removeprefix("switchboard.")


def _key(topic: Topic) -> str:
    if topic is ROUTING_WORK:
        return "The routing pool of the work (one pool's events stay in order)."
    if topic is ROUTING_AGENTS:
        return "The agent id."
    return "The contact id (the event's `subject`), which keeps one contact's events in order."


def _event_message(type_: str, model: type[Event]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": type_,
        "title": model.__name__,
        "contentType": CONTENT_TYPE,
        "headers": {
            "type": "object",
            "properties": {
                "ce_type": {"type": "string", "const": type_, "description": "The event type, to filter by."},
                "content-type": {"type": "string", "const": CONTENT_TYPE},
                **TRACE_HEADERS,
            },
            "required": ["ce_type"],
        },
        "payload": {
            "allOf": [
                {"$ref": "#/components/schemas/Envelope"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": type_},
                        "dataschema": {"const": dataschema_of(model)},
                        "data": {"$ref": f"#/components/schemas/{model.__name__}"},
                    },
                },
            ]
        },
        "bindings": {
            "kafka": {"key": {"type": "string", "description": _key(model.TOPIC)}, "bindingVersion": KAFKA_BINDING}
        },
        "externalDocs": {"description": "JSON Schema of its data", "url": dataschema_of(model)},
    }
    summary = _summary(model)
    if summary:
        message["summary"] = summary
    return message


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "dead-letter",
        "title": "Dead letter",
        "summary": "A message the consuming service could not handle after its retries, as it was (key, value, "
        "headers), with why and where from in `dlq.*` headers. `switchboard dlq replay` sends it back.",
        "contentType": CONTENT_TYPE,
        "headers": {
            "type": "object",
            "properties": {**DLQ_HEADERS, "ce_type": {"type": "string"}, **TRACE_HEADERS},
            "required": ["dlq.error", "dlq.origin.topic", "dlq.origin.partition", "dlq.origin.offset"],
        },
        "payload": {
            "description": "The original value: usually a CloudEvents envelope, but whatever could not be read.",
        },
    }


def _topic_channel(topic: Topic, messages: dict[str, str]) -> dict[str, Any]:
    dead_letters = topic.name.endswith(".dlq")
    return {
        "address": topic.name,
        "title": topic.name,
        "description": (
            f"Written by {topic.writer} only"
            + ("; the dead letters of that consumer group." if dead_letters else ".")
            + f" {topic.partitions} partition(s), kept {topic.retention_ms // 86_400_000} day(s)."
        ),
        "servers": [{"$ref": "#/servers/local"}, {"$ref": "#/servers/compose"}],
        "messages": {name: {"$ref": f"#/components/messages/{ref}"} for name, ref in messages.items()},
        "bindings": {
            "kafka": {
                "topic": topic.name,
                "partitions": topic.partitions,
                "topicConfiguration": {
                    "cleanup.policy": ["delete"],
                    "retention.ms": topic.retention_ms,
                    "max.message.bytes": MAX_EVENT_BYTES,
                },
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _desktop_message(model: type[BaseModel], *, direction: str) -> dict[str, Any]:
    type_ = model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
    message: dict[str, Any] = {
        "name": type_,
        "title": f"{model.__name__} ({direction})",
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{DESKTOP_PREFIX}{model.__name__}"},
    }
    summary = _summary(model)
    if summary:
        message["summary"] = summary
    return message


def _desktop_key(model: type[BaseModel]) -> str:
    return f"desktop-{model.__name__}"


def _schemas() -> dict[str, Any]:
    """Every event's data and the envelope, and every desktop message, as AsyncAPI (JSON Schema) objects."""
    _, events = models_json_schema(
        [(model, "validation") for _, model in sorted(REGISTRY.items())] + [(Envelope, "validation")],
        ref_template="#/components/schemas/{model}",
    )
    _, desk = models_json_schema(
        [(model, "validation") for model in (*desktop.TO_DESKTOP, *desktop.FROM_DESKTOP)],
        ref_template=f"#/components/schemas/{DESKTOP_PREFIX}{{model}}",
    )
    schemas: dict[str, Any] = dict(events["$defs"])
    schemas.update({DESKTOP_PREFIX + name: schema for name, schema in desk["$defs"].items()})
    return dict(sorted(schemas.items()))


def asyncapi_document(version: str) -> dict[str, Any]:
    by_topic: dict[str, dict[str, str]] = {topic.name: {} for topic in TOPICS}
    messages: dict[str, Any] = {}
    for type_, model in sorted(REGISTRY.items()):
        by_topic[model.TOPIC.name][_message_name(type_)] = type_
        messages[type_] = _event_message(type_, model)
    messages["dead-letter"] = _dead_letter_message()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in TOPICS:
        if topic.name.endswith(".dlq"):
            by_topic[topic.name] = {"dead-letter": "dead-letter"}
        channels[topic.name] = _topic_channel(topic, by_topic[topic.name])
        operations[f"write.{topic.name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{_pointer(topic.name)}"},
            "title": f"{topic.writer} writes {topic.name}",
            "summary": "Consume with your own consumer group; commit offsets after handling, skip unknown types "
            "and ignore unknown fields (a compatible change adds them).",
            "messages": [
                {"$ref": f"#/channels/{_pointer(topic.name)}/messages/{_pointer(name)}"}
                for name in by_topic[topic.name]
            ],
        }

    to_desktop = {_desktop_key(m): m for m in desktop.TO_DESKTOP}
    from_desktop = {_desktop_key(m): m for m in desktop.FROM_DESKTOP}
    for key, shape in to_desktop.items():
        messages[key] = _desktop_message(shape, direction="routing to desktop")
    for key, shape in from_desktop.items():
        messages[key] = _desktop_message(shape, direction="desktop to routing")
    channels["desktop"] = {
        "address": "/v1/desktop/ws",
        "title": "The agent desktop",
        "description": "One WebSocket per agent (a newer one for the same agent closes the older with 4000). "
        "Without `?after=` the desktop first gets `hello`, a snapshot; then every feed message in id order. "
        "Reconnect with `?after=<highest id seen>` to get exactly what was missed. Close codes: 4000 replaced, "
        "4401 the token expired or was revoked, 4404 no such agent, 1013 the database is unavailable (connect "
        "again shortly). Every message is one JSON object with a `type`.",
        "servers": [{"$ref": "#/servers/routing"}, {"$ref": "#/servers/web"}],
        "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in (*to_desktop, *from_desktop)},
        "bindings": {
            "ws": {
                "method": "GET",
                "query": {
                    "type": "object",
                    "properties": {
                        "after": {
                            "type": "integer",
                            "description": "Resume: the highest feed id this desktop has seen.",
                        },
                        "access_token": {
                            "type": "string",
                            "description": "The bearer token, for clients that cannot set headers.",
                        },
                    },
                },
                "bindingVersion": WS_BINDING,
            }
        },
    }
    feed = ["desktop-Hello", *(_desktop_key(m) for m in desktop.FEED)]
    operations["desktop.feed"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/desktop"},
        "title": "Routing sends the desktop its feed",
        "summary": "`hello` on connect, then offers, assignments, updates, messages, suggestions, SLA notices, "
        "escalations, alerts and notices, each with its feed `id`.",
        "messages": [{"$ref": f"#/channels/desktop/messages/{key}"} for key in feed],
    }
    operations["desktop.commands"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/desktop"},
        "title": "The desktop sends commands",
        "summary": "Accept or decline an offer, set presence, acknowledge an emergency alert, ping. Everything "
        "else goes over routing's REST API. Each command gets one reply with the same `ref`.",
        "messages": [{"$ref": f"#/channels/desktop/messages/{key}"} for key in from_desktop],
        "reply": {
            "channel": {"$ref": "#/channels/desktop"},
            "messages": [{"$ref": f"#/channels/desktop/messages/{_desktop_key(m)}"} for m in desktop.REPLIES],
        },
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Switchboard messages",
            "version": version,
            "description": "Every Kafka topic and event type of Switchboard (the contract is "
            "`shared/events.py`), and the agent desktop WebSocket of routing. Events are CloudEvents 1.0 in "
            "structured mode: the value is the JSON envelope, `data` the event. One writer per topic; an "
            "incompatible change is a new versioned type, never an edit. Generated by `switchboard events "
            "asyncapi`; edit the code instead.",
            "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
            "externalDocs": {"description": "JSON Schema of every event", "url": DOCS_URL + "events.schema.json"},
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:9192",
                "protocol": "kafka",
                "description": "The broker `switchboard up` runs (SWITCHBOARD_KAFKA_PORT).",
            },
            "compose": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "The broker of docker-compose.yml, inside its network.",
            },
            "routing": {
                "host": "127.0.0.1:8102",
                "protocol": "ws",
                "description": "Routing itself: agents' and supervisors' bearer tokens.",
                "security": [{"$ref": "#/components/securitySchemes/bearer"}],
            },
            "web": {
                "host": "127.0.0.1:8100",
                "pathname": "/api/routing",
                "protocol": "ws",
                "description": "Through the web gateway: the session's cookie; the gateway adds the token.",
                "security": [{"$ref": "#/components/securitySchemes/session"}],
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": _schemas(),
            "messages": messages,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "`Authorization: Bearer <token>` (or `?access_token=`): `switchboard token "
                    "--role agent --sub A-1`, or a token of the configured OpenID Connect provider.",
                },
                "session": {
                    "type": "httpApiKey",
                    "name": "sb_session",
                    "in": "cookie",
                    "description": "The web gateway's session cookie (`__Host-sb_session` over HTTPS).",
                },
            },
        },
    }


def _pointer(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def asyncapi_text(version: str) -> str:
    header = "# Generated by `switchboard events asyncapi --write docs/asyncapi.yaml`; edit the code instead.\n"
    body = yaml.safe_dump(
        asyncapi_document(version), sort_keys=False, allow_unicode=True, width=115, default_flow_style=False
    )
    return header + body
