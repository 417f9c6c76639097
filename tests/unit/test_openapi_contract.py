"""Every service's OpenAPI document is one an integrator can build on: valid OpenAPI 3.1 (checked with
openapi-spec-validator), each operation with a typed success answer, a schema for any body it reads, an example of
what it takes and gives (each example valid against its own schema), problem+json as the shape of every error it
documents, and the credential it needs (an adapter key or a bearer token) as its security requirement, so Swagger
UI's Authorize works. Schemathesis (`tests/integration/test_fuzz_openapi.py`) checks the answers keep to it."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import RouteContext, iter_route_contexts
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from pydantic import SecretStr
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from shared.errors import PROBLEM_JSON, problem_codes
from shared.events import SERVICES

PUBLIC = {"/health/live", "/health/ready"}
"""Operations anyone may call; every other one names its credential."""
RAW = {"message/rfc822", "text/plain", "application/octet-stream"}
"""Bodies that are bytes, not JSON: their schema is a binary string."""
METHODS = ("get", "put", "post", "delete", "patch")


@functools.cache
def app_of(service: str) -> Any:
    config = importlib.import_module(f"services.{service}.config")
    cls = next(v for k, v in vars(config).items() if k.endswith("Settings") and k != "ServiceSettings")
    settings = cls(token_secret=SecretStr("an-openapi-test-secret-" + "0123456789" * 3))
    return importlib.import_module(f"services.{service}.app").create_app(settings)


def document(service: str) -> dict[str, Any]:
    openapi: dict[str, Any] = app_of(service).openapi()
    return openapi


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, items in doc["paths"].items():
        for method, operation in items.items():
            if method in METHODS:
                yield path, method, operation


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def typed(doc: dict[str, Any], schema: dict[str, Any] | None) -> bool:
    """A schema that says what is in it: not `{}`, not an object of anything, not a list of those."""
    if not schema:
        return False
    schema = resolve(doc, schema)
    if "anyOf" in schema or "oneOf" in schema:
        variants: list[dict[str, Any]] = schema.get("anyOf") or schema.get("oneOf") or []
        return all(typed(doc, s) for s in variants if s.get("type") != "null")
    if schema.get("type") == "array":
        return typed(doc, schema.get("items"))
    if schema.get("type") == "object":
        extra = schema.get("additionalProperties")
        return bool(schema.get("properties")) or (isinstance(extra, dict) and typed(doc, extra))
    return "type" in schema


def examples_of(doc: dict[str, Any], media: dict[str, Any]) -> list[Any]:
    """The examples of a media type: its own, else its schema's (for a list, its items')."""
    found = list(media.get("examples", {}).values())
    if found:
        return [e["value"] for e in found]
    if "example" in media:
        return [media["example"]]
    return schema_examples(doc, media.get("schema", {}))


def schema_examples(doc: dict[str, Any], schema: dict[str, Any]) -> list[Any]:
    """A schema's examples; for a list its items', for an optional body (`anyOf` with null) its variants'."""
    schema = resolve(doc, schema)
    if schema.get("examples"):
        return list(schema["examples"])
    if schema.get("type") == "array" and schema.get("items"):
        return [[e] for e in schema_examples(doc, schema["items"])]
    return [e for variant in schema.get("anyOf", []) for e in schema_examples(doc, variant)]


def reads_body(route: RouteContext) -> bool:
    """The route reads the body itself rather than through a parameter."""
    source = inspect.getsource(route.endpoint) if route.endpoint else ""
    return any(f"request.{how}(" in source for how in ("body", "json", "form", "stream"))


def _operation_problems(doc: dict[str, Any], path: str, method: str, operation: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    responses = operation["responses"]
    successes = {code: r for code, r in responses.items() if code.startswith("2")}
    if not successes:
        problems.append("no success answer")
    for code, response in successes.items():
        contents = response.get("content", {})
        if code != "204" and not contents:
            problems.append(f"{code} without a body schema")
        for kind, media in contents.items():
            if not typed(doc, media.get("schema")):
                problems.append(f"{code} {kind} untyped")
            if "json" in kind and not examples_of(doc, media):
                problems.append(f"{code} {kind} without an example")
    body = operation.get("requestBody", {}).get("content", {})
    for kind, media in body.items():
        if not typed(doc, media.get("schema")):
            problems.append(f"request {kind} untyped")
        if kind not in RAW and not examples_of(doc, media):
            problems.append(f"request {kind} without an example")
    for code, response in responses.items():
        if int(code) >= 400 and set(response.get("content", {})) != {PROBLEM_JSON}:
            problems.append(f"{code} is not problem+json")
    missing = {str(code) for code in problem_codes(path, method, operation)} - set(responses)
    if missing:
        problems.append(f"problems {sorted(missing)} undocumented")
    if path in PUBLIC:
        if operation.get("security"):
            problems.append("a public operation asks for credentials")
    elif not operation.get("security"):
        problems.append("no security requirement")
    for requirement in operation.get("security", []):
        for scheme in requirement:
            if scheme not in doc["components"].get("securitySchemes", {}):
                problems.append(f"security scheme {scheme} undeclared")
    return problems


@pytest.mark.parametrize("service", SERVICES)
def test_the_document_is_valid_openapi(service: str) -> None:
    validate(document(service))


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_is_typed_exemplified_and_secured(service: str) -> None:
    doc = document(service)
    found = {
        f"{method.upper()} {path}": problems
        for path, method, operation in operations(doc)
        if (problems := _operation_problems(doc, path, method, operation))
    }
    assert not found, "\n".join(f"{op}: {'; '.join(p)}" for op, p in sorted(found.items()))


@pytest.mark.parametrize("service", SERVICES)
def test_a_route_that_reads_its_body_itself_declares_it(service: str) -> None:
    doc = document(service)
    undeclared = [
        f"{method} {route.path}"
        for route in iter_route_contexts(app_of(service).routes)
        if getattr(route, "include_in_schema", False) and reads_body(route)
        for method in route.methods or ()
        if "requestBody" not in doc["paths"][route.path][method.lower()]
    ]
    assert not undeclared


@pytest.mark.parametrize("service", SERVICES)
def test_every_example_keeps_to_its_schema(service: str) -> None:
    doc = document(service)
    registry = Registry().with_resource("urn:openapi", DRAFT202012.create_resource(doc))
    checked = 0
    for path, method, operation in operations(doc):
        bodies = [("request", operation.get("requestBody", {}))]
        bodies += [(code, r) for code, r in operation["responses"].items()]
        for where, holder in bodies:
            for kind, media in holder.get("content", {}).items():
                for example in examples_of(doc, media):
                    validator = Draft202012Validator(_anchored(media["schema"]), registry=registry)
                    errors = [e.message for e in validator.iter_errors(example)]
                    assert not errors, f"{method.upper()} {path} {where} {kind}: {errors[:3]}"
                    checked += 1
    assert checked


def _anchored(schema: Any) -> Any:
    """`schema` with its references into the document made absolute, to check it on its own."""
    if isinstance(schema, dict):
        return {k: "urn:openapi" + v if k == "$ref" else _anchored(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_anchored(v) for v in schema]
    return schema
