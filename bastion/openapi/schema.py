"""JSON Schema for annotations, gathered into ``components.schemas`` without duplicates."""

from __future__ import annotations

from typing import Any

import msgspec

from bastion.params import _types as t

REF = "#/components/schemas/{name}"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "default": "about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "examples": ["body.tags[1].name"]},
                    "reason": {"type": "string", "examples": ["must be at least 1"]},
                    "constraint": {"type": "string", "examples": ["minimum"]},
                    "expected": {},
                    "got": {"type": "string"},
                    "pointer": {"type": "string", "examples": ["/tags/1/name"]},
                },
                "required": ["field", "reason"],
            },
        },
    },
    "required": ["type", "title", "status"],
}


class Schemas:
    """Hands out schema slots now and fills them in ``resolve``, when all types are known."""

    def __init__(self) -> None:
        self._pending: list[tuple[Any, dict[str, Any]]] = []
        self.components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}

    def of(self, tp: Any) -> dict[str, Any]:
        slot: dict[str, Any] = {}
        base = t.strip_optional(t.strip_annotated(tp)[0])[0]
        if t.is_upload(base):
            slot.update({"type": "string", "format": "binary"})
        elif t.is_pydantic_model(base):
            schema = base.model_json_schema(ref_template=REF.replace("{name}", "{model}"))
            self.components.update(schema.pop("$defs", {}))
            self.components[base.__name__] = schema
            slot["$ref"] = REF.format(name=base.__name__)
        else:
            self._pending.append((tp, slot))
        return slot

    def resolve(self) -> dict[str, Any]:
        """Fill every slot; types msgspec cannot describe become an empty (any) schema."""
        types = [tp for tp, _ in self._pending]
        schemas: Any
        try:
            schemas, components = msgspec.json.schema_components(types, ref_template=REF)
        except (TypeError, ValueError):
            schemas, components = self._one_by_one(types)
        for (_, slot), schema in zip(self._pending, schemas, strict=True):
            slot.update(schema)
        self.components.update(components)
        self._pending.clear()
        return self.components

    @staticmethod
    def _one_by_one(types: list[Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        schemas: list[dict[str, Any]] = []
        components: dict[str, Any] = {}
        for tp in types:
            try:
                (schema,), found = msgspec.json.schema_components([tp], ref_template=REF)
            except (TypeError, ValueError):
                schema, found = {}, {}
            schemas.append(schema)
            components.update(found)
        return schemas, components
