"""MCP `inputSchema` -> a JSON schema the Realtime API accepts for a function's parameters.

Realtime wants a plain object schema: `{"type": "object", "properties": {...}}` at the top, no
`$schema`, and no references it cannot follow. MCP servers (pydantic especially) emit `$defs` and
`$ref`, so local references are inlined. Descriptions, enums and `required` are kept because the
model needs them to fill arguments in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# `title` is pydantic noise ("Text", "echoArguments") that costs tokens in every session.
_DROPPED_KEYS = frozenset({"$schema", "$id", "$defs", "definitions", "$comment", "title"})
# Keywords whose value maps names to sub-schemas (not a schema itself).
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})
# Keywords whose value is one sub-schema.
_SCHEMA_VALUES = frozenset(
    {"items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else"}
)
# Keywords whose value is a list of sub-schemas.
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_MAX_REF_DEPTH = 8
"""How deep a recursive `$ref` chain is inlined before it is cut to an open object."""


class SchemaError(ValueError):
    """The input schema cannot be used (not a JSON object)."""


def to_realtime_schema(input_schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """Convert one tool's input schema; the result always has `type: object` and `properties`."""
    if input_schema is None:
        return {"type": "object", "properties": {}}
    if not isinstance(input_schema, Mapping):
        raise SchemaError(f"input schema must be a JSON object, got {type(input_schema).__name__}")
    root = dict(input_schema)
    definitions = {**root.get("definitions", {}), **root.get("$defs", {})}
    converted = _convert(root, root, definitions, depth=0)
    if converted.get("type") != "object":
        # A non-object schema cannot describe named arguments; keep what it said as a hint.
        described = {k: v for k, v in converted.items() if k == "description"}
        converted = {"type": "object", "properties": {}, **described}
    if not isinstance(converted.get("properties"), Mapping):
        converted["properties"] = {}
    return converted


def _resolve(ref: str, root: Mapping[str, Any], definitions: Mapping[str, Any]) -> Any | None:
    """A local `$ref` target (`#`, `#/$defs/X`, `#/definitions/X`, any `#/a/b` pointer), or None."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return None
    node: Any = root
    parts = [p.replace("~1", "/").replace("~0", "~") for p in ref[2:].split("/")]
    if len(parts) == 2 and parts[0] in ("$defs", "definitions"):
        return definitions.get(parts[1])
    for part in parts:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _convert(node: Any, root: Mapping[str, Any], definitions: Mapping[str, Any], depth: int) -> Any:
    if not isinstance(node, Mapping):
        return node
    node = dict(node)
    ref = node.pop("$ref", None)
    if isinstance(ref, str):
        target = _resolve(ref, root, definitions) if depth < _MAX_REF_DEPTH else None
        if isinstance(target, Mapping):
            # Siblings of $ref (a description, a default) refine the target, so they win.
            merged = {**_convert(target, root, definitions, depth + 1), **node}
            node = merged
        elif not node.get("type"):
            node["type"] = "object"  # unresolvable or too deep: accept any object
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, Mapping):
            out[key] = {name: _convert(sub, root, definitions, depth) for name, sub in value.items()}
        elif key in _SCHEMA_VALUES and isinstance(value, Mapping):
            out[key] = _convert(value, root, definitions, depth)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_convert(sub, root, definitions, depth) for sub in value]
        else:
            out[key] = value
    return out
