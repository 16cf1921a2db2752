"""The JSON Schemas under catalogs/schema/: valid 2020-12 schemas, agreeing with the vocabulary,
and the committed catalog and overrides files valid against them.

Validators are built here from the schema files alone (helpers.schema_validator), so these tests
do not trust nodecat.introspector.schemas to check itself.
"""
from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from helpers import schema_validator
from nodecat.introspector import vocabulary
from nodecat.introspector.paths import OVERRIDES_DIR, SCHEMA_DIR

NAMES = ["node", "catalog", "overrides", "graph"]
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_a_valid_2020_12_schema(name: str) -> None:
    schema = load_schema(name)
    assert schema["$schema"] == DRAFT_2020_12
    assert schema["$id"] == f"https://nodecat.dev/schema/{name}.schema.json"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_directory_holds_exactly_the_known_schemas() -> None:
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(f"{n}.schema.json" for n in NAMES)


def test_committed_catalog_validates(committed_doc: dict[str, Any]) -> None:
    errors = [f"{e.json_path}: {e.message}" for e in schema_validator("catalog").iter_errors(committed_doc)]
    assert errors == []


def test_every_node_validates_on_its_own(committed_doc: dict[str, Any]) -> None:
    validator = schema_validator("node")
    bad = [n["id"] for n in committed_doc["nodes"] if not validator.is_valid(n)]
    assert bad == []


def test_every_argument_schema_is_itself_a_valid_schema(committed_doc: dict[str, Any]) -> None:
    bad = []
    for node in committed_doc["nodes"]:
        for arg in node["args"]:
            if "schema" in arg:
                try:
                    jsonschema.Draft202012Validator.check_schema(arg["schema"])
                except jsonschema.SchemaError as exc:
                    bad.append(f"{node['id']}.{arg['name']}: {exc.message}")
    assert bad == []


def test_example_values_fit_their_argument_schemas(committed_doc: dict[str, Any]) -> None:
    bad = []
    for node in committed_doc["nodes"]:
        schemas = {a["name"]: a.get("schema") for a in node["args"]}
        for name, value in (node.get("example") or {}).get("args", {}).items():
            if schemas.get(name) is not None and not jsonschema.Draft202012Validator(schemas[name]).is_valid(value):
                bad.append(f"{node['id']}.{name}={value!r}")
    assert bad == []


def test_project_overrides_file_validates() -> None:
    path = OVERRIDES_DIR / "torch.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    errors = [f"{e.json_path}: {e.message}" for e in schema_validator("overrides").iter_errors(document)]
    assert errors == []
    assert all(len(entry["why"]) >= 8 for entry in document["overrides"])


def test_a_written_overrides_file_validates_and_a_broken_one_does_not() -> None:
    good = {"format": "nodecat-overrides/1", "library": "torch", "overrides": [
        {"target": "torch.nn.Dropout", "arg": "p", "set": {"schema": {"type": "number", "minimum": 0, "maximum": 1}},
         "why": "a probability", "versions": ">=2.4"},
        {"target": "torch.nn.ReLU", "set": {"call": {"instantiate": True, "apply": True, "copy": False}},
         "why": "never mutates in graphs"},
    ]}
    validator = schema_validator("overrides")
    assert list(validator.iter_errors(good)) == []
    broken = json.loads(json.dumps(good))
    broken["overrides"][1]["set"]["schema"] = {"type": "number"}  # node entries cannot set an arg's schema
    del broken["overrides"][0]["why"]
    assert len(list(validator.iter_errors(broken))) == 2


def test_schemas_spell_the_vocabulary_the_code_uses() -> None:
    node = load_schema("node")
    assert tuple(node["properties"]["kind"]["enum"]) == vocabulary.KINDS
    assert tuple(node["properties"]["review"]["enum"]) == vocabulary.REVIEW_STATES
    assert tuple(node["$defs"]["port_type"]["enum"]) == vocabulary.PORT_TYPES
    assert tuple(node["$defs"]["arg"]["properties"]["source"]["enum"]) == vocabulary.SOURCES
    assert load_schema("catalog")["properties"]["format"]["const"] == vocabulary.CATALOG_FORMAT
    assert load_schema("overrides")["properties"]["format"]["const"] == vocabulary.OVERRIDES_FORMAT


def test_value_kinds_used_in_the_catalog_are_in_the_vocabulary(committed_doc: dict[str, Any]) -> None:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "x-nodecat" in value:
                found.add(value["x-nodecat"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for node in committed_doc["nodes"]:
        for arg in node["args"]:
            walk(arg.get("schema"))
    assert found and found <= set(vocabulary.VALUE_KINDS)
