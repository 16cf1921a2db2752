"""Every error code the strict loader and the validator can produce, each with its node and exact JSON Pointer.

One test (or one parametrized family) per code; then the properties that hold across codes: several
mistakes in one graph are all reported at once, a valid graph comes back in topological order, a graph
round-trips through JSON, the resolver refuses a catalog entry whose origin was altered, and
RESERVED_IDS (the names the torch build renames) covers everything a built torch module has.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import keyword
import re
from pathlib import Path
from typing import Any

import pytest

import nodecat.executor.graph.args
import nodecat.executor.graph.catalogs
import nodecat.executor.graph.load
import nodecat.executor.graph.validate
from nodecat.executor.graph.catalogs import installed_version
from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.document import Graph
from nodecat.executor.graph.load import graph_from_document, load_graph, parse_graph
from nodecat.executor.graph.validate import CheckedGraph, check_graph
from nodecat.executor.graph.vocabulary import ERROR_CODES, GRAPH_FORMAT, MAX_NESTING, RESERVED_IDS
from nodecat.introspector.jsonio import parse_strict

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
MLP = ROOT / "examples" / "mlp.json"
TORCH = installed_version("torch")
KERAS = installed_version("keras")
ID_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")  # the graph schema's node id


# -- small graph builders ----------------------------------------------------------------------

def graph(nodes: list[dict[str, Any]], edges: list[dict[str, Any]] | None = None,
          outputs: list[dict[str, Any]] | None = None, catalogs: dict[str, str] | None = None) -> dict[str, Any]:
    return {"format": GRAPH_FORMAT, "catalogs": catalogs or {"torch": TORCH}, "nodes": nodes,
            "edges": edges or [], "outputs": outputs or [{"name": "y", "node": nodes[-1]["id"]}]}


def keras_graph(nodes: list[dict[str, Any]], edges: list[dict[str, Any]] | None = None,
                outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return graph(nodes, edges, outputs, {"keras": KERAS})


def node(node_id: str, op: str, **args: Any) -> dict[str, Any]:
    return {"id": node_id, "op": op, **({"args": args} if args else {})}


def inp(node_id: str = "x", shape: list[int | None] | None = None) -> dict[str, Any]:
    return node(node_id, "input", shape=shape or [None, 4])


def linear(node_id: str, in_features: int = 4, out_features: int = 4) -> dict[str, Any]:
    return node(node_id, "torch.nn.Linear", in_features=in_features, out_features=out_features)


def edge(source: str, target: str, port: str | None = "input", *, arg: str | None = None,
         source_port: str | None = "output") -> dict[str, Any]:
    start: dict[str, str] = {"node": source}
    if source_port is not None:
        start["port"] = source_port
    end: dict[str, str] = {"node": target}
    if arg is not None:
        end["arg"] = arg
    else:
        assert port is not None
        end["port"] = port
    return {"from": start, "to": end}


def mlp_doc() -> dict[str, Any]:
    return json.loads(MLP.read_text(encoding="utf-8"))


def problems_of(document: dict[str, Any]) -> list[GraphProblem]:
    with pytest.raises(GraphError) as caught:
        check_graph(graph_from_document(document))
    return caught.value.problems


def parse_problems(source: str | bytes) -> list[GraphProblem]:
    with pytest.raises(GraphError) as caught:
        check_graph(parse_graph(source))
    return caught.value.problems


def the(problems: list[GraphProblem], code: str, *, alone: bool = True) -> GraphProblem:
    """The one problem with this code (and, when `alone`, no problem with any other code)."""
    found = [p for p in problems if p.code == code]
    assert len(found) == 1, f"expected one {code}, got {[str(p) for p in problems]}"
    if alone:
        assert [p.code for p in problems] == [code], [str(p) for p in problems]
    assert found[0].code in ERROR_CODES
    return found[0]


def located(problem: GraphProblem, node_id: str, pointer: str) -> None:
    assert (problem.node, problem.pointer) == (node_id, pointer), str(problem)


def test_builders_make_a_valid_graph() -> None:
    """The baseline every negative test below breaks in exactly one place."""
    checked = check_graph(graph_from_document(graph([inp(), linear("fc")], [edge("x", "fc")])))
    assert [n.id for n in checked.order] == ["x", "fc"]


# == reading the file ===========================================================================

def test_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(GraphError) as caught:
        load_graph(missing)
    (problem,) = caught.value.problems
    assert problem.code == "file_not_found"
    assert str(missing) in problem.message
    assert (problem.node, problem.pointer) == ("", "")


def test_a_directory_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(GraphError) as caught:
        load_graph(tmp_path)
    assert caught.value.code == "file_not_found"
    assert "directory" in caught.value.problems[0].message


def test_too_large_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(nodecat.executor.graph.load, "MAX_GRAPH_BYTES", 100)
    with pytest.raises(GraphError) as caught:
        load_graph(MLP)  # refused from its size on disk, before it is read
    (problem,) = caught.value.problems
    assert problem.code == "too_large"
    assert (problem.node, problem.pointer) == ("", "")
    assert "100" in problem.message


@pytest.mark.parametrize("as_bytes", [True, False], ids=["bytes", "text"])
def test_too_large_in_memory(monkeypatch: pytest.MonkeyPatch, as_bytes: bool) -> None:
    monkeypatch.setattr(nodecat.executor.graph.load, "MAX_GRAPH_BYTES", 100)
    text = MLP.read_text(encoding="utf-8")
    with pytest.raises(GraphError) as caught:
        parse_graph(text.encode() if as_bytes else text)
    assert [p.code for p in caught.value.problems] == ["too_large"]
    assert caught.value.pointer == ""


def test_at_the_size_limit_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = MLP.read_bytes()
    monkeypatch.setattr(nodecat.executor.graph.load, "MAX_GRAPH_BYTES", len(raw))
    assert check_graph(parse_graph(raw)).graph.name == "mlp"
    assert check_graph(load_graph(MLP)).graph.name == "mlp"


def test_bad_encoding_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + MLP.read_bytes())
    with pytest.raises(GraphError) as caught:
        load_graph(path)
    (problem,) = caught.value.problems
    assert problem.code == "bad_encoding"
    assert "byte-order mark" in problem.message
    assert (problem.node, problem.pointer) == ("", "")


@pytest.mark.parametrize("raw, where", [
    (b'{"format": "nodecat-graph/1", "name": "caf\xe9"}', 42),  # latin-1, not UTF-8
    (b"\xff\xfe{\x00}\x00", 0),  # UTF-16 with its BOM
    (b'{"name": "\xed\xa0\x80"}', 10),  # an encoded surrogate is not UTF-8
], ids=["latin1", "utf16", "surrogate"])
def test_bad_encoding_invalid_utf8(raw: bytes, where: int) -> None:
    (problem,) = parse_problems(raw)
    assert problem.code == "bad_encoding"
    assert f"at byte {where}" in problem.message
    assert (problem.node, problem.pointer) == ("", "")


MLP_TEXT = MLP.read_text(encoding="utf-8")


@pytest.mark.parametrize("text, pointer, fragment", [
    (MLP_TEXT.replace('"name": "mlp"', '"name": "mlp", "name": "again"'), "", "duplicate key 'name'"),
    (MLP_TEXT.replace('"p": 0.1', '"p": 0.1, "p": 0.2'), "/nodes/3/args", "duplicate key 'p'"),
    (MLP_TEXT.replace('{"node": "x", "port": "output"}', '{"node": "x", "port": "output", "node": "fc1"}'),
     "/edges/0/from", "duplicate key 'node'"),
    (MLP_TEXT.replace('"p": 0.1', '"p": NaN'), "", "NaN"),
    (MLP_TEXT.replace('"p": 0.1', '"p": Infinity'), "", "Infinity"),
    (MLP_TEXT.replace('"p": 0.1', '"p": -Infinity'), "", "-Infinity"),
    (MLP_TEXT.replace('"p": 0.1', '"p": 1e400'), "", "too large for a float"),
    (MLP_TEXT + "garbage", "", "Extra data"),
    (MLP_TEXT + "{}", "", "Extra data"),
    (MLP_TEXT[:200], "", "line"),
    ("", "", "line 1 column 1"),
    ("{'format': 'nodecat-graph/1'}", "", "property name enclosed in double quotes"),
    (MLP_TEXT.replace('"p": 0.1}', '"p": 0.1,}'), "", "line 10 column 62"),
], ids=["duplicate-top", "duplicate-nested", "duplicate-in-edge", "nan", "infinity", "minus-infinity",
        "float-overflow", "trailing-garbage", "two-documents", "truncated", "empty", "single-quotes",
        "trailing-comma"])
def test_bad_json(text: str, pointer: str, fragment: str) -> None:
    (problem,) = parse_problems(text)
    assert problem.code == "bad_json"
    assert fragment in problem.message
    assert (problem.node, problem.pointer) == ("", pointer)


def test_bad_json_integer_too_long() -> None:
    (problem,) = parse_problems(MLP_TEXT.replace('"in_features": 64,', '"in_features": ' + "9" * 5000 + ","))
    assert problem.code == "bad_json"
    assert problem.pointer == ""


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_at_the_limit_is_accepted() -> None:
    document = mlp_doc()
    document["editor"] = "@"
    text = json.dumps(document).replace('"@"', _nested(MAX_NESTING - 1))  # the document itself is level 1
    assert check_graph(parse_graph(text)).graph.editor is not None


@pytest.mark.parametrize("depth", [MAX_NESTING, 5_000, 200_000], ids=["one-over", "deep", "very-deep"])
def test_too_deep(depth: int) -> None:
    document = mlp_doc()
    document["editor"] = "@"
    (problem,) = parse_problems(json.dumps(document).replace('"@"', _nested(depth)))
    assert problem.code == "too_deep"
    assert str(MAX_NESTING) in problem.message
    assert problem.node == ""
    assert problem.pointer in ("", "/editor/0/0/0/0/0/0/0")  # the parser's own limit has no location


def test_too_deep_bare_value() -> None:
    (problem,) = parse_problems(_nested(MAX_NESTING + 1))
    assert problem.code == "too_deep"


# -- the graph schema ---------------------------------------------------------------------------

def _schema(document: Any) -> list[GraphProblem]:
    with pytest.raises(GraphError) as caught:
        graph_from_document(document)
    assert {p.code for p in caught.value.problems} == {"schema"}
    return caught.value.problems


def test_schema_bad_node_id() -> None:
    document = mlp_doc()
    document["nodes"][1]["id"] = "1fc"
    (problem,) = _schema(document)
    located(problem, "1fc", "/nodes/1/id")
    assert "does not match" in problem.message


def test_schema_missing_op_is_reported_at_the_node() -> None:
    document = mlp_doc()
    del document["nodes"][2]["op"]
    (problem,) = _schema(document)
    located(problem, "act1", "/nodes/2")
    assert "'op' is a required property" in problem.message


def test_schema_unexpected_key() -> None:
    document = mlp_doc()
    document["edges"][3]["weight"] = 2
    (problem,) = _schema(document)
    located(problem, "", "/edges/3")
    assert "'weight' was unexpected" in problem.message


def test_schema_edge_with_port_and_arg() -> None:
    document = mlp_doc()
    document["edges"][1]["to"]["arg"] = "inplace"
    (problem,) = _schema(document)
    located(problem, "", "/edges/1/to")


@pytest.mark.parametrize("change, pointer", [
    (lambda d: d.update(format="nodecat-graph/2"), "/format"),
    (lambda d: d["catalogs"].update(tensorflow="2.0"), "/catalogs"),
    (lambda d: d["catalogs"].update(torch=2.13), "/catalogs/torch"),
    (lambda d: d.update(nodes=[]), "/nodes"),
    (lambda d: d["outputs"][0].update(port=7), "/outputs/0/port"),
    (lambda d: d["nodes"][4].update(args={"in features": 1}), "/nodes/4/args"),
    (lambda d: d["nodes"][4].update(args=[128, 64]), "/nodes/4/args"),
], ids=["format", "library-name", "version-type", "no-nodes", "port-type", "arg-name", "args-list"])
def test_schema_pointer(change: Any, pointer: str) -> None:
    document = mlp_doc()
    change(document)
    problems = _schema(document)
    assert pointer in [p.pointer for p in problems], [str(p) for p in problems]


def test_schema_reports_every_violation() -> None:
    document = mlp_doc()
    document["nodes"][1]["id"] = "_fc1"
    del document["nodes"][3]["op"]
    document["edges"][0]["to"]["port"] = "in put"
    document["outputs"][0]["name"] = ""
    problems = _schema(document)
    assert sorted(p.pointer for p in problems) == ["/edges/0/to/port", "/nodes/1/id", "/nodes/3",
                                                   "/outputs/0/name"]
    assert {p.node for p in problems} == {"", "_fc1", "drop"}


@pytest.mark.parametrize("document", [[], 5, "graph", None, True, {}], ids=repr)
def test_schema_not_a_graph(document: Any) -> None:
    problems = _schema(document)
    assert all(p.pointer in ("", "/") for p in problems)


def test_schema_problem_at_the_root_points_at_the_root() -> None:
    document = mlp_doc()
    del document["edges"]
    (problem,) = _schema(document)
    assert "'edges' is a required property" in problem.message
    assert problem.pointer == ""


# == catalogs ===================================================================================

def test_version_mismatch() -> None:
    document = mlp_doc()
    document["catalogs"]["torch"] = "2.0.0"
    (problem,) = problems_of(document)
    assert problem.code == "version_mismatch"
    located(problem, "", "/catalogs/torch")
    assert "2.0.0" in problem.message and TORCH in problem.message


def test_version_mismatch_still_checks_the_graph() -> None:
    """The installed catalog is used anyway, so the graph's own mistakes come in the same report."""
    document = mlp_doc()
    document["catalogs"]["torch"] = "2.0.0"
    document["nodes"][1]["args"]["in_features"] = "64"
    problems = problems_of(document)
    assert [(p.code, p.pointer) for p in problems] == [("version_mismatch", "/catalogs/torch"),
                                                       ("bad_arg_value", "/nodes/1/args/in_features")]


def test_unknown_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodecat.executor.graph.catalogs, "installed_version", lambda library: None)
    problems = problems_of(mlp_doc())
    first = problems[0]
    assert first.code == "unknown_library"
    located(first, "", "/catalogs/torch")
    # without a catalog, every torch node is unknown: reported, not crashed on
    assert {p.code for p in problems[1:]} == {"unknown_op"}


def test_no_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodecat.executor.graph.catalogs, "installed_version", lambda library: "0.0.1")
    document = mlp_doc()
    document["catalogs"]["torch"] = "0.0.1"
    problems = problems_of(document)
    assert problems[0].code == "no_catalog"
    located(problems[0], "", "/catalogs/torch")


def test_undeclared_library() -> None:
    document = graph([inp(), node("dense", "keras.layers.Dense", units=3)], [edge("x", "dense", "inputs")])
    problem = the(problems_of(document), "undeclared_library")
    located(problem, "dense", "/nodes/1/op")
    assert '"keras"' in problem.hint


# == nodes and arguments ========================================================================

def test_duplicate_node() -> None:
    document = graph([inp(), linear("fc"), linear("fc")], [edge("x", "fc")], [{"name": "y", "node": "fc"}])
    problem = the(problems_of(document), "duplicate_node")
    located(problem, "fc", "/nodes/2/id")
    assert "#1" in problem.message


@pytest.mark.parametrize("node_id", ["forward", "state_dict", "training", "lambda", "None", "to", "graph", "code"])
def test_keyword_and_module_attribute_ids_are_valid(node_id: str) -> None:
    """Ids are the user's names; only the built module's attributes are renamed (tests/test_node_ids.py)."""
    document = graph([inp(), linear(node_id)], [edge("x", node_id)])
    assert check_graph(graph_from_document(document)).node(node_id).id == node_id


def test_unknown_op_with_hint() -> None:
    document = graph([inp(), node("fc", "torch.nn.Linaer", in_features=4, out_features=2)], [edge("x", "fc")])
    problem = the(problems_of(document), "unknown_op")
    located(problem, "fc", "/nodes/1/op")
    assert problem.hint.startswith("did you mean")
    assert "torch.nn.Linear" in problem.hint


def test_unknown_op_without_close_match() -> None:
    document = graph([inp(), node("q", "qqqqqqqqqqqqqqqqqqqqqqqq")], [edge("x", "q")])
    problem = the(problems_of(document), "unknown_op")
    located(problem, "q", "/nodes/1/op")
    assert "nodecat catalog list" in problem.hint


def test_alias_is_not_unknown() -> None:
    document = graph([inp(), node("cat", "torch.concat", dim=1)], [edge("x", "cat", "tensors")])
    assert check_graph(graph_from_document(document)).node("cat").descriptor.id == "torch.cat"


def _exclusion(catalog: str, op: str) -> dict[str, str]:
    document = json.loads((ROOT / "catalogs" / catalog).read_text(encoding="utf-8"))
    return next(e for e in document["excluded"] if e["id"] == op)


@pytest.mark.parametrize("op, catalog", [("keras.layers.Lambda", "keras"), ("torch.nn.Module", "torch"),
                                         ("torch.nn.Sequential", "torch")])
def test_excluded_op(op: str, catalog: str) -> None:
    version = KERAS if catalog == "keras" else TORCH
    exclusion = _exclusion(f"{catalog}-{version}.json", op)
    document = graph([inp(), node("bad", op)], [edge("x", "bad", "inputs")], catalogs={catalog: version})
    problem = the(problems_of(document), "excluded_op")
    located(problem, "bad", "/nodes/1/op")
    assert exclusion["code"] in problem.message and exclusion["reason"] in problem.message


@pytest.mark.parametrize("op, catalogs", [("torch.optim.SGD", None), ("torch.optim.lr_scheduler.StepLR", None),
                                          ("keras.metrics.AUC", {"keras": KERAS})])
def test_unsupported_kind(op: str, catalogs: dict[str, str] | None) -> None:
    document = graph([inp(), node("opt", op)], outputs=[{"name": "y", "node": "x"}], catalogs=catalogs)
    problem = the(problems_of(document), "unsupported_kind")
    located(problem, "opt", "/nodes/1/op")


def test_unknown_arg_with_hint() -> None:
    document = graph([inp(), node("fc", "torch.nn.Linear", in_features=4, out_features=2, bais=False)],
                     [edge("x", "fc")])
    problem = the(problems_of(document), "unknown_arg")
    located(problem, "fc", "/nodes/1/args/bais")
    assert "bias" in problem.hint


def test_missing_required_arg() -> None:
    document = graph([inp(), node("fc", "torch.nn.Linear", out_features=2)], [edge("x", "fc")])
    problem = the(problems_of(document), "missing_required_arg")
    located(problem, "fc", "/nodes/1/args")
    assert "'in_features'" in problem.message


def test_missing_required_args_each_reported() -> None:
    document = graph([inp(), node("fc", "torch.nn.Linear")], [edge("x", "fc")])
    problems = problems_of(document)
    assert [p.code for p in problems] == ["missing_required_arg"] * 2
    assert ["'in_features'" in problems[0].message, "'out_features'" in problems[1].message] == [True, True]


@pytest.mark.parametrize("op, args, name, fragment", [
    ("torch.nn.Linear", {"in_features": "4", "out_features": 2}, "in_features", "is not of type 'integer'"),
    ("torch.nn.Linear", {"in_features": True, "out_features": 2}, "in_features", "is not of type 'integer'"),
    ("torch.nn.Linear", {"in_features": 4, "out_features": [2]}, "out_features", "is not of type 'integer'"),
    ("torch.nn.Dropout", {"p": 1.5}, "p", "greater than the maximum of 1"),
    ("torch.nn.Dropout", {"p": -0.1}, "p", "less than the minimum of 0"),
    ("torch.nn.Dropout", {"p": None}, "p", "is not of type 'number'"),
    ("torch.nn.Conv2d", {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding_mode": "mirror"},
     "padding_mode", "is not one of"),
    ("torch.nn.Conv2d", {"in_channels": 1, "out_channels": 1, "kernel_size": [3, 3, 3]}, "kernel_size", ""),
    ("input", {"shape": [None, -1]}, "shape", ""),
    ("input", {"shape": [None, 4], "dtype": "complex64"}, "dtype", "is not one of"),
    ("constant", {"value": [[1, 2], [3]]}, "value", "rectangular"),
    ("constant", {"value": [1, "2"]}, "value", ""),
    ("constant", {"value": {"a": 1}}, "value", ""),
], ids=["string-for-int", "bool-for-int", "list-for-int", "above-maximum", "below-minimum", "null", "enum",
        "tuple-length", "negative-dim", "dtype-enum", "ragged-constant", "string-in-constant", "dict-constant"])
def test_bad_arg_value(op: str, args: dict[str, Any], name: str, fragment: str) -> None:
    if op in ("input", "constant"):
        document = graph([inp("x0"), node("n", op, **args)], outputs=[{"name": "y", "node": "n"}])
    else:
        document = graph([inp("x0"), node("n", op, **args)], [edge("x0", "n")])
    problem = the(problems_of(document), "bad_arg_value")
    located(problem, "n", f"/nodes/1/args/{name}")
    assert fragment in problem.message
    assert name in problem.message


def test_bad_arg_value_enum_hint_lists_choices() -> None:
    document = graph([inp(), node("c", "torch.nn.Conv2d", in_channels=1, out_channels=1, kernel_size=3,
                                  padding_mode="mirror")], [edge("x", "c")])
    problem = the(problems_of(document), "bad_arg_value")
    assert "'zeros'" in problem.hint and "'reflect'" in problem.hint


def test_hidden_arg() -> None:
    document = graph([inp(), node("fc", "torch.nn.Linear", in_features=4, out_features=2, device="cpu")],
                     [edge("x", "fc")])
    problem = the(problems_of(document), "hidden_arg")
    located(problem, "fc", "/nodes/1/args/device")


def _untyped_arg() -> tuple[str, str, dict[str, Any]]:
    """A Keras layer with one single-edge input port and an argument the catalog could not type."""
    catalog = json.loads((ROOT / "catalogs" / f"keras-{KERAS}.json").read_text(encoding="utf-8"))
    for entry in catalog["nodes"]:
        if entry["kind"] != "layer" or [p["name"] for p in entry["inputs"] if p["required"]] != ["inputs"]:
            continue
        for arg in entry["args"]:
            if "schema" not in arg and not arg.get("hidden") and not arg.get("required"):
                required = {a["name"]: a.get("example") for a in entry["args"] if a.get("required")}
                if all(v is not None for v in required.values()):
                    return entry["id"], arg["name"], required
    pytest.skip("the Keras catalog has no untyped argument")


def test_untyped_arg() -> None:
    op, name, required = _untyped_arg()
    document = keras_graph([inp(), node("layer", op, **required, **{name: None})], [edge("x", "layer", "inputs")])
    problem = the(problems_of(document), "untyped_arg")
    located(problem, "layer", f"/nodes/1/args/{name}")


def encoder(node_id: str = "enc", **args: Any) -> dict[str, Any]:
    return node(node_id, "torch.nn.TransformerEncoder", num_layers=2, **args)


def encoder_layer(node_id: str = "lay") -> dict[str, Any]:
    return node(node_id, "torch.nn.TransformerEncoderLayer", d_model=4, nhead=2)


def test_arg_needs_edge() -> None:
    document = graph([inp(), encoder(encoder_layer="torch.nn.TransformerEncoderLayer")], [edge("x", "enc", "src")])
    problem = the(problems_of(document), "arg_needs_edge")
    located(problem, "enc", "/nodes/1/args/encoder_layer")


def test_arg_set_twice() -> None:
    document = graph([inp(), encoder(norm=None), encoder_layer(), node("ln", "torch.nn.LayerNorm", normalized_shape=4)],
                     [edge("x", "enc", "src"), edge("lay", "enc", arg="encoder_layer", source_port=None),
                      edge("ln", "enc", arg="norm", source_port=None)],
                     [{"name": "y", "node": "enc"}])
    problem = the(problems_of(document), "arg_set_twice", alone=False)
    located(problem, "enc", "/edges/2/to/arg")


def test_too_many_elements(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodecat.executor.graph.args, "MAX_CONSTANT_ELEMENTS", 5)
    document = graph([inp(), node("k", "constant", value=[[1, 2], [3, 4], [5, 6]])],
                     outputs=[{"name": "y", "node": "k"}])
    problem = the(problems_of(document), "too_many_elements")
    located(problem, "k", "/nodes/1/args/value")
    assert "6 elements" in problem.message


def test_constant_at_the_element_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodecat.executor.graph.args, "MAX_CONSTANT_ELEMENTS", 6)
    document = graph([inp(), node("k", "constant", value=[[1, 2], [3, 4], [5, 6]])],
                     outputs=[{"name": "y", "node": "k"}])
    assert check_graph(graph_from_document(document)).node("k").args["value"][2] == [5, 6]


# == edges and outputs ==========================================================================

@pytest.mark.parametrize("edges, outputs, pointer, missing", [
    ([edge("x", "fc"), edge("nope", "fc", "input")], [{"name": "y", "node": "fc"}], "/edges/1/from/node", "nope"),
    ([edge("x", "fc"), edge("x", "zzz")], [{"name": "y", "node": "fc"}], "/edges/1/to/node", "zzz"),
    ([edge("x", "fc")], [{"name": "y", "node": "fc"}, {"name": "z", "node": "fcc"}], "/outputs/1/node", "fcc"),
], ids=["from", "to", "output"])
def test_dangling_edge(edges: list[dict[str, Any]], outputs: list[dict[str, Any]], pointer: str, missing: str) -> None:
    problem = the(problems_of(graph([inp(), linear("fc")], edges, outputs)), "dangling_edge")
    located(problem, missing, pointer)


def test_dangling_output_has_a_hint() -> None:
    document = graph([inp(), linear("fc")], [edge("x", "fc")], [{"name": "y", "node": "fc2"}])
    assert the(problems_of(document), "dangling_edge").hint == "did you mean fc?"


@pytest.mark.parametrize("edges, outputs, node_id, pointer", [
    ([edge("x", "fc", source_port="out")], [{"name": "y", "node": "fc"}], "x", "/edges/0/from/port"),
    ([edge("x", "fc", "inp")], [{"name": "y", "node": "fc"}], "fc", "/edges/0/to/port"),
    ([edge("x", "fc")], [{"name": "y", "node": "fc", "port": "logits"}], "fc", "/outputs/0/port"),
], ids=["from-port", "to-port", "output-port"])
def test_unknown_port(edges: list[dict[str, Any]], outputs: list[dict[str, Any]], node_id: str, pointer: str) -> None:
    problems = problems_of(graph([inp(), linear("fc")], edges, outputs))
    problem = the(problems, "unknown_port", alone=False)
    located(problem, node_id, pointer)
    assert {p.code for p in problems} <= {"unknown_port", "missing_input"}  # the bad edge connects nothing


def test_port_taken() -> None:
    document = graph([inp(), inp("x2"), linear("fc")], [edge("x", "fc"), edge("x2", "fc")])
    problem = the(problems_of(document), "port_taken")
    located(problem, "fc", "/edges/1/to")
    assert "#0, #1" in problem.message


def test_port_taken_by_two_edges_into_one_argument() -> None:
    document = graph([inp(), encoder(), encoder_layer("lay"), encoder_layer("lay2")],
                     [edge("x", "enc", "src"), edge("lay", "enc", arg="encoder_layer", source_port=None),
                      edge("lay2", "enc", arg="encoder_layer", source_port=None)],
                     [{"name": "y", "node": "enc"}])
    problem = the(problems_of(document), "port_taken", alone=False)
    located(problem, "enc", "/edges/2/to/arg")


def _two_input_layer(conns: int) -> tuple[str, dict[str, Any]]:
    catalog = json.loads((ROOT / "catalogs" / f"keras-{KERAS}.json").read_text(encoding="utf-8"))
    for entry in catalog["nodes"]:
        ports = entry["inputs"]
        if entry["kind"] == "layer" and len(ports) == 1 and ports[0]["conns"] == conns:
            required = {a["name"]: a.get("example", 1) for a in entry["args"] if a.get("required")}
            return entry["id"], required
    pytest.skip(f"no Keras layer with one port taking exactly {conns} edges")


@pytest.mark.parametrize("count", [1, 3])
def test_connections_per_port(count: int) -> None:
    op, required = _two_input_layer(2)
    assert op in ("keras.layers.Subtract", "keras.layers.Dot")
    document = keras_graph([inp(), node("merge", op, **{k: 1 for k in required})],
                           [edge("x", "merge", "inputs") for _ in range(count)])
    if count == 1:
        problem = the(problems_of(document), "too_few_connections")
        located(problem, "merge", "/nodes/1")
    else:
        problem = the(problems_of(document), "too_many_connections")
        located(problem, "merge", "/edges/2/to")  # the first edge over the limit
    assert "takes 2 edges" in problem.message


@pytest.mark.parametrize("op", ["keras.layers.Subtract", "keras.layers.Dot"])
def test_exactly_two_connections_is_valid(op: str) -> None:
    args = {"axes": 1} if op == "keras.layers.Dot" else {}
    document = keras_graph([inp(), inp("x2"), node("merge", op, **args)],
                           [edge("x", "merge", "inputs"), edge("x2", "merge", "inputs")])
    checked = check_graph(graph_from_document(document))
    assert [s.node for s in checked.node("merge").inputs["inputs"]] == ["x", "x2"]


def test_missing_input() -> None:
    document = graph([inp(), linear("fc"), node("add", "torch.add")], [edge("x", "fc"), edge("fc", "add")])
    problem = the(problems_of(document), "missing_input")
    located(problem, "add", "/nodes/2")
    assert "'other'" in problem.message


def test_port_type_mismatch() -> None:
    document = graph([inp(), node("parts", "torch.chunk", chunks=2), node("act", "torch.nn.ReLU")],
                     [edge("x", "parts"), edge("parts", "act")])
    problem = the(problems_of(document), "port_type_mismatch", alone=False)
    located(problem, "act", "/edges/1")


def test_arg_not_edge() -> None:
    document = graph([inp(), linear("fc")], [edge("x", "fc"), edge("x", "fc", arg="in_features")])
    problem = the(problems_of(document), "arg_not_edge")
    located(problem, "fc", "/edges/1/to/arg")


def test_not_a_module() -> None:
    document = graph([inp(), encoder(), node("relu", "torch.nn.functional.relu")],
                     [edge("x", "enc", "src"), edge("x", "relu"),
                      edge("relu", "enc", arg="encoder_layer", source_port=None)],
                     [{"name": "y", "node": "enc"}])
    problem = the(problems_of(document), "not_a_module", alone=False)
    located(problem, "relu", "/edges/2/from")


@pytest.mark.parametrize("also", ["input-edge", "output-edge", "graph-output"])
def test_module_node_applied(also: str) -> None:
    edges = [edge("x", "enc", "src"), edge("lay", "enc", arg="encoder_layer", source_port=None)]
    outputs = [{"name": "y", "node": "enc"}]
    if also == "input-edge":
        edges.append(edge("x", "lay", "src"))
    elif also == "output-edge":
        edges.append(edge("lay", "relu"))
        outputs.append({"name": "z", "node": "relu"})
    else:
        outputs.append({"name": "z", "node": "lay"})
    nodes = [inp(), encoder(), encoder_layer()] + ([node("relu", "torch.nn.ReLU")] if also == "output-edge" else [])
    problem = the(problems_of(graph(nodes, edges, outputs)), "module_node_applied")
    located(problem, "lay", "/nodes/2")


def test_handed_over_layer_needs_no_inputs() -> None:
    document = graph([inp(), encoder(), encoder_layer()],
                     [edge("x", "enc", "src"), edge("lay", "enc", arg="encoder_layer", source_port=None)],
                     [{"name": "y", "node": "enc"}])
    checked = check_graph(graph_from_document(document))
    assert checked.node("lay").applied is False
    assert checked.node("enc").arg_edges["encoder_layer"].node == "lay"


def test_cycle_names_its_nodes_in_order() -> None:
    document = graph([inp(), node("a", "torch.add"), node("b", "torch.nn.ReLU"), node("c", "torch.nn.Tanh"),
                      node("d", "torch.nn.ReLU")],
                     [edge("x", "a"), edge("c", "a", "other"), edge("a", "b"), edge("b", "c"), edge("c", "d")],
                     [{"name": "y", "node": "d"}])
    problem = the(problems_of(document), "cycle")
    named = problem.message.split(": ", 1)[1].split(" -> ")
    assert named[0] == named[-1], problem.message
    loop = named[:-1]
    assert sorted(loop) == ["a", "b", "c"]
    start = loop.index("a")
    assert loop[start:] + loop[:start] == ["a", "b", "c"], "the cycle is named along the data flow"
    index = {"a": 1, "b": 2, "c": 3}[named[0]]
    located(problem, named[0], f"/nodes/{index}")


def test_self_loop_is_a_cycle() -> None:
    document = graph([inp(), node("a", "torch.add")], [edge("x", "a"), edge("a", "a", "other")])
    problem = the(problems_of(document), "cycle")
    assert problem.message.endswith("a -> a")
    located(problem, "a", "/nodes/1")


def test_cycle_through_an_argument_edge() -> None:
    document = graph([inp(), encoder(), encoder_layer()],
                     [edge("x", "enc", "src"), edge("lay", "enc", arg="encoder_layer", source_port=None),
                      edge("enc", "lay", "src")],
                     [{"name": "y", "node": "enc"}])
    codes = {p.code for p in problems_of(document)}
    assert "cycle" in codes


def test_duplicate_output() -> None:
    document = graph([inp(), linear("fc")], [edge("x", "fc")],
                     [{"name": "y", "node": "fc"}, {"name": "y", "node": "x"}])
    problem = the(problems_of(document), "duplicate_output")
    located(problem, "x", "/outputs/1/name")


# == across codes ===============================================================================

def test_every_mistake_is_reported_at_once() -> None:
    document = graph(
        [inp(), linear("fc"), linear("fc"), node("typo", "torch.nn.Linaer"), node("drop", "torch.nn.Dropout", p=2),
         node("bad", "os.system"), linear("forward"), node("relu", "torch.nn.ReLU")],
        [edge("x", "fc"), edge("ghost", "fc"), edge("fc", "drop", "inp"), edge("x", "forward"),
         edge("x", "forward"), edge("relu", "relu")],
        [{"name": "y", "node": "fc"}, {"name": "y", "node": "drop"}])
    problems = problems_of(document)
    assert [(p.code, p.node, p.pointer) for p in problems] == [
        ("duplicate_node", "fc", "/nodes/2/id"),
        ("unknown_op", "typo", "/nodes/3/op"),
        ("bad_arg_value", "drop", "/nodes/4/args/p"),
        ("unknown_op", "bad", "/nodes/5/op"),
        ("dangling_edge", "ghost", "/edges/1/from/node"),
        ("unknown_port", "drop", "/edges/2/to/port"),
        ("missing_input", "drop", "/nodes/4"),
        ("port_taken", "forward", "/edges/4/to"),
        ("duplicate_output", "drop", "/outputs/1/name"),
        ("cycle", "relu", "/nodes/7"),
    ]
    with pytest.raises(GraphError) as caught:
        check_graph(graph_from_document(document))
    assert caught.value.code == "duplicate_node" and caught.value.pointer == "/nodes/2/id"
    assert str(caught.value).count("\n") == len(problems) - 1


def test_problems_serialize() -> None:
    for problem in problems_of(graph([inp(), node("bad", "os.system")], outputs=[{"name": "y", "node": "x"}])):
        assert json.loads(json.dumps(problem.to_json()))["code"] == problem.code


def _assert_topological(checked: CheckedGraph) -> None:
    position = {n.id: i for i, n in enumerate(checked.order)}
    assert set(position) == {n.id for n in checked.graph.nodes}
    for e in checked.graph.edges:
        assert position[e.source] < position[e.target], (e, list(position))
    for n in checked.order:
        for sources in n.inputs.values():
            assert all(position[s.node] < position[n.id] for s in sources)
        assert all(position[s.node] < position[n.id] for s in n.arg_edges.values())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid_and_ordered(path: Path) -> None:
    checked = check_graph(load_graph(path))
    assert isinstance(checked, CheckedGraph)
    _assert_topological(checked)


def test_order_is_topological_whatever_the_file_order() -> None:
    document = graph([node("out", "torch.add"), linear("right"), node("act", "torch.nn.ReLU"), linear("left"), inp()],
                     [edge("left", "out"), edge("act", "out", "other"), edge("right", "act"), edge("x", "left"),
                      edge("x", "right")],
                     [{"name": "y", "node": "out"}])
    checked = check_graph(graph_from_document(document))
    _assert_topological(checked)
    assert checked.order[0].id == "x" and checked.order[-1].id == "out"
    assert checked.backend == "torch"
    assert checked.consumers[("x", "output")] == 2
    assert [s.node for s in checked.node("out").inputs["input"]] == ["left"]


def test_keras_graph_backend() -> None:
    checked = check_graph(load_graph(ROOT / "examples" / "keras_merge.json"))
    assert checked.backend == "keras"
    assert [s.node for s in checked.node("merge").inputs["inputs"]] == ["wide", "deep2"]


def _round_trip(g: Graph) -> Graph:
    return Graph.from_json(parse_strict(json.dumps(g.to_json())))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_round_trip(path: Path) -> None:
    g = load_graph(path)
    assert _round_trip(g) == g
    assert parse_graph(json.dumps(g.to_json())) == g


def test_round_trip_keeps_argument_edges_editor_and_defaults() -> None:
    document = graph([inp(), encoder(), encoder_layer()],
                     [edge("x", "enc", "src", source_port=None),
                      edge("lay", "enc", arg="encoder_layer", source_port=None)],
                     [{"name": "y", "node": "enc"}])
    document["editor"] = {"positions": {"x": [0, 0]}, "colour": None}
    document["name"] = "enc"
    document["description"] = "an encoder ✓"
    g = graph_from_document(document)
    again = _round_trip(g)
    assert again == g
    assert again.editor == document["editor"]
    assert again.edges[0].source_port is None and again.edges[1].target_arg == "encoder_layer"
    assert again.outputs[0].port == "output"  # the schema default, written out explicitly
    check_graph(again)


# == resolving ==================================================================================

def _descriptor(op: str = "torch.nn.Linear") -> Any:
    document = graph([inp(), linear("fc")], [edge("x", "fc")])
    if op != "torch.nn.Linear":
        document = graph([inp(), node("fc", op)], [edge("x", "fc")])
    return check_graph(graph_from_document(document)).node("fc").descriptor


def test_resolve_unaltered_descriptor() -> None:
    import torch
    from nodecat.executor.build.resolve import resolve
    assert resolve(_descriptor()) is torch.nn.Linear
    assert resolve(_descriptor("torch.nn.ReLU")) is torch.nn.ReLU


@pytest.mark.parametrize("change", [
    {"origin_module": "torch.nn.modules.activation"},
    {"origin_qualname": "Bilinear"},
    {"origin_module": "os", "origin_qualname": "system"},
    {"id": "torch.nn.Bilinear"},
    {"id": "torch.nn.NoSuchLayer"},
    {"id": "torch.nn.modules.no_such_module.Linear"},
    {"id": "os.system", "origin_module": "posix", "origin_qualname": "system"},
    {"id": "smtplib.SMTP", "origin_module": "smtplib", "origin_qualname": "SMTP"},
], ids=["module", "qualname", "both", "id-elsewhere", "id-missing", "module-missing", "os-system", "smtplib"])
def test_identity_mismatch(change: dict[str, str]) -> None:
    import sys

    from nodecat.executor.build.resolve import resolve
    had_smtplib = "smtplib" in sys.modules
    descriptor = dataclasses.replace(_descriptor(), **change)
    with pytest.raises(GraphError) as caught:
        resolve(descriptor, "fc", "/nodes/1")
    (problem,) = caught.value.problems
    assert problem.code == "identity_mismatch"
    located(problem, "fc", "/nodes/1")
    assert descriptor.id in problem.message
    assert ("smtplib" in sys.modules) == had_smtplib, "resolve imported a module outside torch and keras"


# == reserved ids ===============================================================================

def _public(names: Any) -> set[str]:
    return {n for n in names if ID_PATTERN.match(n)}


def test_reserved_ids_cover_keywords() -> None:
    assert set(keyword.kwlist) <= RESERVED_IDS
    assert {k for k in keyword.softkwlist if ID_PATTERN.match(k)} - RESERVED_IDS <= {"match", "case"}


def test_reserved_ids_cover_module_and_graph_module_attributes() -> None:
    import torch.fx
    import torch.nn
    names = _public(dir(torch.nn.Module)) | _public(dir(torch.fx.GraphModule)) | _public(vars(torch.nn.Module()))
    assert sorted(names - RESERVED_IDS) == []


def test_reserved_ids_are_valid_ids() -> None:
    """Each reserved id is one a graph could otherwise use; a stale entry would hide nothing."""
    assert all(ID_PATTERN.match(name) for name in RESERVED_IDS)


def test_reserved_ids_cover_graph_module_instance_attributes() -> None:
    import torch.fx
    import torch.nn
    built = torch.fx.GraphModule(torch.nn.Module(), torch.fx.Graph())
    assert sorted(_public(vars(built)) - RESERVED_IDS) == []


def test_document_is_not_mutated_by_loading() -> None:
    document = mlp_doc()
    before = copy.deepcopy(document)
    check_graph(graph_from_document(document))
    assert document == before
