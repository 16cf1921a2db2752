"""What a newcomer meets first: problems that print their code, messages that say what a valid
value is, `check --json` that keeps the shapes it could infer, and exported code that reads well
for a graph without a name."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import TORCH_VERSION

from nodecat.executor import api
from nodecat.executor.cli.main import main
from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.load import graph_from_document

ROOT = Path(__file__).resolve().parents[1]
MLP = json.loads((ROOT / "examples" / "mlp.json").read_text(encoding="utf-8"))
KERAS_MERGE = json.loads((ROOT / "examples" / "keras_merge.json").read_text(encoding="utf-8"))


def _write(tmp_path: Path, document: dict[str, Any], name: str = "graph.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def _problems(document: dict[str, Any]) -> list[GraphProblem]:
    with pytest.raises(GraphError) as caught:
        api.validate(graph_from_document(document))
    return caught.value.problems


# -- B: a problem's text starts with its code ------------------------------------------------------
def test_problem_text_carries_its_code() -> None:
    located = GraphProblem("bad_arg_value", "argument 'p': 2 is greater than the maximum of 1", "drop",
                           "/nodes/3/args/p", "expected a number from 0 to 1")
    assert str(located) == ("[bad_arg_value] node 'drop' at /nodes/3/args/p: argument 'p': 2 is greater than the "
                            "maximum of 1 (hint: expected a number from 0 to 1)")
    assert str(GraphProblem("file_not_found", "weights file w does not exist")) == (
        "[file_not_found] weights file w does not exist")
    assert str(GraphError([located])).startswith("[bad_arg_value] node 'drop'")


def test_cli_prints_each_code_once(tmp_path: Path) -> None:
    bad = copy.deepcopy(MLP)
    bad["nodes"][1]["args"]["in_features"] = 0.5
    result = CliRunner().invoke(main, ["check", _write(tmp_path, bad)])
    assert result.exit_code == 1
    line = next(line for line in result.stderr.splitlines() if line.startswith("error "))
    assert line.startswith("error [bad_arg_value] node 'fc1' at /nodes/1/args/in_features: ")
    assert line.count("bad_arg_value") == 1


# -- C: the docstring of an unnamed graph's exported code ------------------------------------------
def test_exported_python_of_an_unnamed_graph_says_so(tmp_path: Path) -> None:
    from nodecat.executor.interop.export import python_source
    unnamed = copy.deepcopy(MLP)
    del unnamed["name"], unnamed["description"]
    checked = api.validate(graph_from_document(unnamed))
    text = python_source(checked)
    assert "''" not in text
    assert '    """An unnamed nodecat graph."""\n' in text
    named_by_file = python_source(checked, tmp_path / "digits_mlp.json")
    assert '    """The unnamed graph of digits_mlp.json."""\n' in named_by_file
    keras = copy.deepcopy(KERAS_MERGE)
    del keras["name"], keras["description"]
    assert '    """An unnamed nodecat graph."""\n' in python_source(api.validate(graph_from_document(keras)))


# -- D: check --json keeps the shapes inferred before a failure ------------------------------------
def test_check_json_keeps_shapes_inferred_before_a_shape_error(tmp_path: Path) -> None:
    bad = copy.deepcopy(MLP)
    bad["nodes"][6]["args"]["in_features"] = 65  # head
    result = CliRunner().invoke(main, ["check", _write(tmp_path, bad), "--json", "--batch", "4"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert [e["code"] for e in report["errors"]] == ["shape_mismatch"] and report["errors"][0]["node"] == "head"
    assert sorted(report["shapes"]) == sorted(["x", "fc1", "act1", "drop", "fc2", "act2"])
    assert report["shapes"]["act2"]["output"] == {"shape": [4, 64], "dtype": "float32"}
    assert report["backend"] == "torch"


def test_check_json_keeps_keras_shapes_inferred_before_a_shape_error(tmp_path: Path) -> None:
    bad = copy.deepcopy(KERAS_MERGE)
    bad["nodes"][4]["args"]["axis"] = 0  # merge: (1, 32) and (1, 16) along the batch
    report = json.loads(CliRunner().invoke(main, ["check", _write(tmp_path, bad), "--json"]).output)
    assert report["ok"] is False and report["errors"][0]["node"] == "merge"
    assert sorted(report["shapes"]) == ["deep1", "deep2", "features", "wide"]
    assert report["shapes"]["wide"]["output"]["shape"] == [1, 32]


def test_check_json_of_an_invalid_graph_has_no_shapes(tmp_path: Path) -> None:
    bad = copy.deepcopy(MLP)
    bad["nodes"][2]["op"] = "torch.nn.Relu"
    report = json.loads(CliRunner().invoke(main, ["check", _write(tmp_path, bad), "--json"]).output)
    assert report["ok"] is False and report["shapes"] == {}


def test_check_json_over_budget_keeps_every_shape() -> None:
    report = json.loads(CliRunner().invoke(main, ["check", "examples/mlp.json", "--budget", "1KiB", "--json"]).output)
    assert report["errors"][0]["code"] == "budget_exceeded"
    assert len(report["shapes"]) == len(MLP["nodes"])


def test_shapes_until_failure_returns_the_partial_report() -> None:
    from nodecat.executor.build.shapes import infer_shapes_until_failure
    bad = copy.deepcopy(MLP)
    bad["nodes"][4]["args"]["in_features"] = 3  # fc2
    report, error = infer_shapes_until_failure(api.validate(graph_from_document(bad)), batch=2)
    assert error is not None and error.node == "fc2"
    assert [n.id for n in report.nodes] == ["x", "fc1", "act1", "drop"]
    complete, none = infer_shapes_until_failure(api.validate(graph_from_document(MLP)))
    assert none is None and len(complete.nodes) == len(MLP["nodes"])


# -- E: a bad union or enum value says what is expected --------------------------------------------
def _conv(**args: Any) -> dict[str, Any]:
    return {"format": "nodecat-graph/1", "catalogs": {"torch": TORCH_VERSION},
            "nodes": [{"id": "x", "op": "input", "args": {"shape": [None, 1, 8, 8]}},
                      {"id": "conv", "op": "torch.nn.Conv2d",
                       "args": {"in_channels": 1, "out_channels": 2, "kernel_size": 3, **args}}],
            "edges": [{"from": {"node": "x", "port": "output"}, "to": {"node": "conv", "port": "input"}}],
            "outputs": [{"name": "y", "node": "conv"}]}


@pytest.mark.parametrize("args, wanted", [
    ({"kernel_size": [3, 3, 3]}, "[3, 3, 3] is not an integer"),
    ({"kernel_size": [3, 3, 3]}, "or a list of 2 integers"),
    ({"padding": "middle"}, "'middle' is not 'valid', 'same', an integer >= 0, or a list of 2 integers >= 0"),
    ({"padding_mode": "wrap"}, "'zeros', 'reflect', 'replicate', 'circular'"),
])
def test_bad_union_and_enum_values_say_what_is_expected(args: dict[str, Any], wanted: str) -> None:
    [problem] = _problems(_conv(**args))
    assert problem.code == "bad_arg_value"
    assert "not valid under any of the given schemas" not in problem.message
    assert wanted in problem.message


def test_bad_item_of_a_union_hints_at_the_whole_schema() -> None:
    [problem] = _problems(_conv(stride=[1, "a"]))
    assert "'stride'[1]" in problem.message
    assert problem.hint.startswith("expected an integer") and "a list of 2 integers" in problem.hint


@pytest.mark.parametrize("schema, text", [
    ({"type": "number", "minimum": 0, "maximum": 1}, "a number from 0 to 1"),
    ({"type": "number", "exclusiveMinimum": 0}, "a number > 0"),
    ({"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "maxItems": 3},
     "a list of 1 to 3 integers >= 1"),
    ({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "minItems": 2, "maxItems": 2},
     "a list of 2 items: an integer, a string"),
    ({"anyOf": [{"type": "boolean"}, {"type": "null"}]}, "true or false or null"),
    ({"enum": list(range(20))}, "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, or 8 more values"),
    ({"type": ["integer", "null"]}, "an integer or null"),
])
def test_schema_descriptions(schema: dict[str, Any], text: str) -> None:
    from nodecat.executor.graph.args import _either, _alternatives
    assert _either(_alternatives(schema)) == text
