"""Bad input gets one clear error (CatalogError) that names the file, the entry and the field.

Malformed overrides files, catalog files edited by hand into an invalid shape, and the CLI
reading them: exit code 2, a readable message, no traceback. A small hypothesis fuzz checks
that no malformed document escapes as another exception.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import node_index
from nodecat.introspector.build import load_catalog
from nodecat.introspector.errors import CatalogError, Problem
from nodecat.introspector.model import Catalog
from nodecat.introspector.overrides import OverridesFile, load_overrides

GOOD_ENTRY = {"target": "torch.nn.Dropout", "arg": "p", "set": {"schema": {"type": "number"}},
              "why": "dropout probability is a number"}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def overrides_text(*entries: dict[str, Any]) -> str:
    return json.dumps({"format": "nodecat-overrides/1", "library": "torch", "overrides": list(entries)}, indent=1)


def problems_of(path: Path, library: str = "torch") -> list[Problem]:
    with pytest.raises(CatalogError) as caught:
        load_overrides(path, library)
    assert caught.value.problems, "a CatalogError must carry at least one problem"
    for problem in caught.value.problems:
        assert problem.file == str(path)
        assert str(path) in str(caught.value)
    return caught.value.problems


# --- malformed overrides files: syntax --------------------------------------------------------

def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "torch.json", '{"format": "nodecat-overrides/1",\n "library": "torch",\n "overrides": [,]}')
    (problem,) = problems_of(path)
    assert problem.code == "bad_json"
    assert "line 3" in problem.message


def test_duplicate_keys_are_an_error(tmp_path: Path) -> None:
    text = overrides_text(GOOD_ENTRY).replace('"why": ', '"why": "first reason, long enough", "why": ', 1)
    (problem,) = problems_of(write(tmp_path / "torch.json", text))
    assert problem.code == "bad_json"
    assert "duplicate key 'why'" in problem.message


def test_duplicate_key_error_says_where(tmp_path: Path) -> None:
    """BUG (introspector/jsonio.py load_strict): the duplicate-key error says which key but not
    where (no line, no entry, no pointer); in a file of a hundred entries the user cannot find it.
    """
    text = overrides_text(GOOD_ENTRY, GOOD_ENTRY).replace(
        '"why": ', '"why": "first reason, long enough", "why": ', 2).replace(
        '"why": "first reason, long enough", "why": ', '"why": ', 1)  # only entry #1 has the duplicate
    (problem,) = problems_of(write(tmp_path / "torch.json", text))
    assert problem.pointer == "/overrides/1" or "line" in problem.message, str(problem)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_errors(tmp_path: Path, constant: str) -> None:
    entry = {**GOOD_ENTRY, "set": {"schema": {"type": "number"}, "default": "PLACEHOLDER"}}
    text = overrides_text(entry).replace('"PLACEHOLDER"', constant)
    (problem,) = problems_of(write(tmp_path / "torch.json", text))
    assert problem.code == "bad_json"
    assert constant.lstrip("-") in problem.message


def test_overflowing_numbers_are_errors_not_infinity(tmp_path: Path) -> None:
    """BUG (introspector/jsonio.py load_strict): `1e400` parses to float('inf'), so an overrides
    default of 1e400 is accepted, and writing the catalog later fails (json.dumps allow_nan=False).
    Strict JSON in should refuse it, as it refuses Infinity.
    """
    entry = {**GOOD_ENTRY, "set": {"schema": {"type": "number"}, "default": "PLACEHOLDER"}}
    path = write(tmp_path / "torch.json", overrides_text(entry).replace('"PLACEHOLDER"', "1e400"))
    problems_of(path)


# --- malformed overrides files: content -------------------------------------------------------

BAD_ENTRIES = [
    # (what is wrong, the entry, code, entry label, pointer, words the message must contain)
    ("missing why", {k: v for k, v in GOOD_ENTRY.items() if k != "why"},
     "schema", "#0 (torch.nn.Dropout", "/overrides/0", "'why' is a required property"),
    ("why too short", {**GOOD_ENTRY, "why": "ok"},
     "schema", "#0 (torch.nn.Dropout", "/overrides/0/why", "is too short"),
    ("unknown arg field", {**GOOD_ENTRY, "set": {"schema": {"type": "number"}, "colour": "red"}},
     "schema", "#0 (torch.nn.Dropout", "/overrides/0/set", "'colour'"),
    ("unknown node field", {"target": "torch.nn.ReLU", "set": {"colour": "red"}, "why": "a reason long enough"},
     "schema", "#0 (torch.nn.ReLU", "/overrides/0/set", "'colour'"),
    ("invalid JSON Schema", {**GOOD_ENTRY, "set": {"schema": {"type": "integr"}}},
     "bad_override", "#0 (torch.nn.Dropout.p)", "/overrides/0/set/schema", "not a valid JSON Schema"),
    ("default outside schema", {**GOOD_ENTRY, "set": {"schema": {"type": "number", "maximum": 1}, "default": 2}},
     "bad_override", "#0 (torch.nn.Dropout.p)", "/overrides/0/set/default", "greater than the maximum"),
    ("example outside schema", {**GOOD_ENTRY, "set": {"schema": {"type": "integer"}, "example": "two"}},
     "bad_override", "#0 (torch.nn.Dropout.p)", "/overrides/0/set/example", "not of type 'integer'"),
    ("invalid version specifier", {**GOOD_ENTRY, "versions": ">>2.0"},
     "bad_override", "#0 (torch.nn.Dropout.p)", "/overrides/0/versions", "PEP 440"),
    ("bad call option", {"target": "torch.nn.ReLU", "set": {"call": {"instantiate": True, "apply": True,
                                                                    "copy": "yes"}},
                         "why": "a reason long enough"},
     "schema", "#0 (torch.nn.ReLU", "/overrides/0/set/call/copy", "'yes'"),
]


@pytest.mark.parametrize("what, entry, code, label, pointer, words", BAD_ENTRIES, ids=[b[0] for b in BAD_ENTRIES])
def test_bad_entry_names_file_entry_and_field(tmp_path: Path, what: str, entry: dict[str, Any], code: str,
                                              label: str, pointer: str, words: str) -> None:
    (problem,) = problems_of(write(tmp_path / "torch.json", overrides_text(entry)))
    assert problem.code == code
    assert problem.entry.startswith(label)
    assert problem.pointer == pointer
    assert words in problem.message
    assert f"entry {problem.entry}" in str(problem) and f"field {pointer}" in str(problem)


def test_every_bad_entry_is_reported_not_just_the_first(tmp_path: Path) -> None:
    entries = [GOOD_ENTRY, {**GOOD_ENTRY, "versions": ">>2.0"},
               {**GOOD_ENTRY, "arg": "inplace", "set": {"schema": {"type": "integr"}}}]
    problems = problems_of(write(tmp_path / "torch.json", overrides_text(*entries)))
    assert sorted(p.pointer for p in problems) == ["/overrides/1/versions", "/overrides/2/set/schema"]


def test_two_entries_setting_the_same_field_conflict(tmp_path: Path) -> None:
    path = write(tmp_path / "torch.json", overrides_text(GOOD_ENTRY, GOOD_ENTRY))
    (problem,) = problems_of(path)
    assert (problem.code, problem.pointer) == ("duplicate_override", "/overrides/1/set/schema")
    assert "#0" in problem.message


def test_overrides_file_for_another_library(tmp_path: Path) -> None:
    path = write(tmp_path / "torch.json", overrides_text(GOOD_ENTRY).replace('"library": "torch"',
                                                                             '"library": "keras"'))
    (problem,) = problems_of(path)
    assert problem.pointer == "/library"


def test_unresolvable_ref_in_an_override_schema_is_a_catalog_error(tmp_path: Path) -> None:
    """BUG (introspector/overrides.py _content_problems -> schemas.check_value): a schema with a
    `$ref` that cannot be resolved passes check_schema, then validating the default against it
    raises jsonschema's internal _WrappedReferencingError instead of a CatalogError, so
    `nodecat catalog validate` dies with a traceback.
    """
    entry = {**GOOD_ENTRY, "set": {"schema": {"$ref": "#/$defs/nowhere"}, "default": 0.5}}
    (problem,) = problems_of(write(tmp_path / "torch.json", overrides_text(entry)))
    assert problem.pointer.startswith("/overrides/0/set")


# --- catalog files edited by hand -----------------------------------------------------------

def catalog_problems(path: Path) -> list[Problem]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    for problem in caught.value.problems:
        assert problem.file == str(path)
    return caught.value.problems


def test_catalog_node_without_kind(tmp_path: Path, committed_doc: dict[str, Any]) -> None:
    index = node_index(committed_doc, "torch.nn.Conv2d")
    del committed_doc["nodes"][index]["kind"]
    (problem,) = catalog_problems(write(tmp_path / "edited.json", json.dumps(committed_doc)))
    assert (problem.entry, problem.pointer) == ("torch.nn.Conv2d", f"/nodes/{index}")
    assert "'kind' is a required property" in problem.message


def test_catalog_copy_option_that_is_not_a_boolean(tmp_path: Path, committed_doc: dict[str, Any]) -> None:
    index = node_index(committed_doc, "torch.nn.ReLU")
    committed_doc["nodes"][index]["call"]["copy"] = "yes"
    (problem,) = catalog_problems(write(tmp_path / "edited.json", json.dumps(committed_doc)))
    assert (problem.entry, problem.pointer) == ("torch.nn.ReLU", f"/nodes/{index}/call/copy")
    assert "'yes'" in problem.message


def test_catalog_reports_every_broken_node(tmp_path: Path, committed_doc: dict[str, Any]) -> None:
    conv, linear = node_index(committed_doc, "torch.nn.Conv2d"), node_index(committed_doc, "torch.nn.Linear")
    committed_doc["nodes"][conv]["kind"] = "layr"
    committed_doc["nodes"][linear]["args"][0]["schema"] = 5
    problems = catalog_problems(write(tmp_path / "edited.json", json.dumps(committed_doc)))
    assert sorted((p.entry, p.pointer) for p in problems) == sorted([
        ("torch.nn.Conv2d", f"/nodes/{conv}/kind"), ("torch.nn.Linear", f"/nodes/{linear}/args/0/schema")])


def test_catalog_with_a_duplicated_node_id_is_refused(tmp_path: Path, committed_doc: dict[str, Any]) -> None:
    """BUG (introspector/build.py load_catalog): a hand edit that leaves two nodes with one id
    makes lookups ambiguous (Catalog.find returns the first); the JSON Schema cannot say "ids are
    unique", so load_catalog must check it itself, and it does not.
    """
    index = node_index(committed_doc, "torch.nn.Conv2d")
    committed_doc["nodes"].append(copy.deepcopy(committed_doc["nodes"][index]))
    problems = catalog_problems(write(tmp_path / "edited.json", json.dumps(committed_doc)))
    assert any(p.entry == "torch.nn.Conv2d" for p in problems)


def test_missing_catalog_file(tmp_path: Path) -> None:
    (problem,) = catalog_problems(tmp_path / "nowhere.json")
    assert problem.code == "file_not_found"


# --- the CLI on bad input -------------------------------------------------------------------

def test_diff_with_a_broken_catalog_exits_2_without_traceback(tmp_path: Path, committed_path: Path,
                                                             committed_doc: dict[str, Any], invoke) -> None:
    index = node_index(committed_doc, "torch.nn.Conv2d")
    del committed_doc["nodes"][index]["kind"]
    broken = write(tmp_path / "broken.json", json.dumps(committed_doc))
    result = invoke("catalog", "diff", str(committed_path), str(broken))
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ")
    for needle in (str(broken), "entry torch.nn.Conv2d", f"field /nodes/{index}", "'kind' is a required property"):
        assert needle in result.stderr


def test_diff_with_invalid_json_exits_2(tmp_path: Path, committed_path: Path, invoke) -> None:
    broken = write(tmp_path / "broken.json", '{"nodes": [}')
    result = invoke("catalog", "diff", "--json", str(broken), str(committed_path))
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["errors"][0]["code"] == "bad_json" and report["errors"][0]["file"] == str(broken)


# --- fuzz: malformed documents never escape as another exception ----------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
ENTRY_KEYS = st.sampled_from(["target", "arg", "set", "why", "versions", "extra"])
FIELDS = st.sampled_from(["schema", "default", "example", "required", "kind", "call", "inputs", "excluded", "stage"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entry=st.dictionaries(ENTRY_KEYS, JSON | st.dictionaries(FIELDS, JSON, max_size=3), max_size=6))
def test_fuzzed_overrides_entries_load_or_raise_catalog_error(tmp_path: Path, entry: dict[str, Any]) -> None:
    path = write(tmp_path / "torch.json", overrides_text(entry))
    try:
        assert isinstance(load_overrides(path, "torch"), OverridesFile)
    except CatalogError as exc:
        assert exc.problems


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_catalog_edits_load_or_raise_catalog_error(tmp_path: Path, committed_doc: dict[str, Any],
                                                          data: st.DataObject) -> None:
    small = {**committed_doc, "nodes": [committed_doc["nodes"][node_index(committed_doc, "torch.nn.Conv2d")]],
             "excluded": committed_doc["excluded"][:1]}
    document = copy.deepcopy(small)
    target: Any = document
    keys: list[Any] = []
    while isinstance(target, (dict, list)) and target and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(target) if isinstance(target, dict) else range(len(target))))
        keys.append(key)
        target = target[key]
    parent = document
    for key in keys[:-1]:
        parent = parent[key]
    if keys:
        parent[keys[-1]] = data.draw(JSON)
    path = write(tmp_path / "edited.json", json.dumps(document))
    try:
        assert isinstance(load_catalog(path), Catalog)
    except CatalogError as exc:
        assert exc.problems
