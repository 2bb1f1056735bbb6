"""Input schemas become plain object schemas the Realtime API accepts."""

from __future__ import annotations

import pytest

from mcp_voice.tools.schema import SchemaError, to_realtime_schema


def test_pydantic_style_schema_is_inlined_and_cleaned() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "title": "addressArguments",
        "$defs": {
            "Address": {
                "type": "object",
                "title": "Address",
                "properties": {"street": {"type": "string", "description": "Street and number"}},
                "required": ["street"],
            },
            "Kind": {"enum": ["home", "work"], "type": "string"},
        },
        "properties": {
            "to": {"$ref": "#/$defs/Address", "description": "Where to send it"},
            "kind": {"$ref": "#/$defs/Kind"},
            "cc": {"type": "array", "items": {"$ref": "#/$defs/Address"}},
            "title": {"type": "string"},
        },
        "required": ["to"],
    }
    out = to_realtime_schema(schema)
    assert out == {
        "type": "object",
        "properties": {
            "to": {
                "type": "object",
                "properties": {"street": {"type": "string", "description": "Street and number"}},
                "required": ["street"],
                "description": "Where to send it",
            },
            "kind": {"enum": ["home", "work"], "type": "string"},
            "cc": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"street": {"type": "string", "description": "Street and number"}},
                    "required": ["street"],
                },
            },
            # A property called "title" is an argument, not a schema keyword: kept.
            "title": {"type": "string"},
        },
        "required": ["to"],
    }


def test_missing_or_empty_schema_gives_an_empty_object() -> None:
    assert to_realtime_schema(None) == {"type": "object", "properties": {}}
    assert to_realtime_schema({}) == {"type": "object", "properties": {}}
    assert to_realtime_schema({"type": "object"}) == {"type": "object", "properties": {}}


def test_recursive_reference_terminates() -> None:
    schema = {
        "type": "object",
        "properties": {"tree": {"$ref": "#/$defs/Node"}},
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            }
        },
    }
    out = to_realtime_schema(schema)
    assert out["properties"]["tree"]["type"] == "object"
    assert "$ref" not in repr(out)


def test_remote_reference_becomes_an_open_object() -> None:
    out = to_realtime_schema(
        {"type": "object", "properties": {"x": {"$ref": "https://example.com/x.json", "description": "d"}}}
    )
    assert out["properties"]["x"] == {"description": "d", "type": "object"}


def test_definitions_and_anyof_are_handled() -> None:
    schema = {
        "type": "object",
        "definitions": {"N": {"type": "integer", "minimum": 0}},
        "properties": {"n": {"anyOf": [{"$ref": "#/definitions/N"}, {"type": "null"}], "default": None}},
    }
    assert to_realtime_schema(schema)["properties"]["n"] == {
        "anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}],
        "default": None,
    }


def test_non_object_schema_is_wrapped() -> None:
    out = to_realtime_schema({"type": "string", "description": "a name"})
    assert out == {"type": "object", "properties": {}, "description": "a name"}


def test_input_is_not_modified() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}},
        "$defs": {"A": {"type": "string"}},
    }
    to_realtime_schema(schema)
    assert schema["properties"]["a"] == {"$ref": "#/$defs/A"}


def test_a_schema_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(SchemaError, match="must be a JSON object"):
        to_realtime_schema(["not", "a", "schema"])  # type: ignore[arg-type]
