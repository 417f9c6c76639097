"""What the services' OpenAPI documents say beyond what FastAPI derives: examples on models, and request bodies of
routes that read the body themselves (raw MIME, forms, CSV), with the content types they take."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


def example(**values: Any) -> ConfigDict:
    """A model's `model_config` with one OpenAPI example: the model's fields as keyword arguments."""
    return ConfigDict(json_schema_extra={"examples": [values]})


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON Schema with its `$defs` written in place, so it stands inside an OpenAPI document on its
    own (FastAPI only adds the models of parameters and return types to `components`)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(
                    {**defs[ref.removeprefix("#/$defs/")], **{k: v for k, v in node.items() if k != "$ref"}}
                )
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    result: dict[str, Any] = inline(schema)
    return result


def request_body(content: dict[str, dict[str, Any]], *, required: bool = True) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its body itself: media type → media type object (`schema`,
    `examples`)."""
    return {"requestBody": {"required": required, "content": content}}
