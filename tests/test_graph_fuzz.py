"""Thousands of malformed graphs: the loader and the validator answer each with a GraphError, never a crash.

Three sources of input: (a) arbitrary bytes and text, and the example graph's text with a slice replaced;
(b) arbitrary JSON values, alone, as the parts of a graph, or as nodes and edges made of catalog names;
(c) mutations of valid graphs (examples/mlp.json first, the other examples, and two graphs here that use
argument edges and two-edge ports): keys deleted or replaced, types changed, random and hostile op names,
random argument values, random edges and ports, duplicate ids, huge numbers, deep nesting.

The property: every input either loads and validates (and then round-trips through JSON and comes back in
topological order), or raises GraphError whose every problem has a code from ERROR_CODES and a JSON
Pointer that is "" or starts with "/" and resolves in the document (for a pointer to a missing item, such
as a required key reported at its object, the parent resolves). Any other exception fails the test. Each
document is checked both in memory (graph_from_document) and as JSON text (parse_graph); within the nesting
limit both give the same problems.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodecat.executor.graph.catalogs import installed_version
from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.document import Graph
from nodecat.executor.graph.load import graph_from_document, parse_graph
from nodecat.executor.graph.validate import CheckedGraph, check_graph
from nodecat.executor.graph.vocabulary import ERROR_CODES, MAX_NESTING, RESERVED_IDS
from nodecat.introspector.jsonio import parse_strict

ROOT = Path(__file__).resolve().parents[1]
MLP_TEXT = (ROOT / "examples" / "mlp.json").read_text(encoding="utf-8")
MLP = json.loads(MLP_TEXT)
TORCH = installed_version("torch")
KERAS = installed_version("keras")


def _catalog(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "catalogs" / name).read_text(encoding="utf-8"))


_CATALOGS = [_catalog(f"torch-{TORCH}.json"), _catalog(f"keras-{KERAS}.json")]
CATALOG_OPS = sorted(n["id"] for c in _CATALOGS for n in c["nodes"])
EXCLUDED_OPS = sorted(e["id"] for c in _CATALOGS for e in c["excluded"])
ARG_NAMES = sorted({a["name"] for c in _CATALOGS for n in c["nodes"] for a in n["args"]})
PORT_NAMES = sorted({p["name"] for c in _CATALOGS for n in c["nodes"] for p in (*n["inputs"], *n["outputs"])})
HOSTILE_OPS = ["os.system", "builtins.eval", "builtins.exec", "builtins.__import__", "torch.os.system",
               "subprocess.run", "keras.layers.Lambda", "torch.nn.modules.module.Module.__init__", "torch.load",
               "torch.hub.load", "importlib.import_module", "smtplib.SMTP", "pickle.loads", "torch.nn.Module",
               "torch.nn.Linear.__init__", "torch.nn.Linear.__class__", "torch.__builtins__", "keras.src.utils",
               "torch._C._nn", "input.__class__", "constant.mro", "__import__", "eval", "torch", "keras"]
_FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                       HealthCheck.filter_too_much], database=None)




def fuzz(examples: int) -> settings:
    return settings(_FUZZ, max_examples=examples)


LOADER_CODES = {"file_not_found", "too_large", "bad_encoding", "bad_json", "too_deep"}


# -- the property ------------------------------------------------------------------------------

def _resolves(document: Any, pointer: str) -> bool:
    """RFC 6901: does the pointer name a value in the document?"""
    if pointer == "":
        return True
    if not pointer.startswith("/"):
        return False
    value = document
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict):
            if token not in value:
                return False
            value = value[token]
        elif isinstance(value, list):
            if not re.fullmatch(r"0|[1-9][0-9]*", token) or int(token) >= len(value):
                return False
            value = value[int(token)]
        else:
            return False
    return True


def _parent(pointer: str) -> str:
    return pointer.rsplit("/", 1)[0]


def assert_well_formed(error: GraphError, document: Any = None, has_document: bool = False) -> None:
    assert error.problems, "a GraphError without problems"
    for problem in error.problems:
        assert isinstance(problem, GraphProblem)
        assert problem.code in ERROR_CODES, problem
        for field in (problem.message, problem.node, problem.pointer, problem.hint):
            assert isinstance(field, str), problem
        assert problem.message, problem
        assert problem.pointer == "" or problem.pointer.startswith("/"), problem
        json.dumps(problem.to_json())
        str(problem)
        if has_document and isinstance(document, dict):
            assert _resolves(document, problem.pointer) or _resolves(document, _parent(problem.pointer)), (
                f"{problem.pointer!r} ({problem.code}) does not resolve")
    str(error)


def assert_valid_result(checked: CheckedGraph) -> None:
    assert isinstance(checked, CheckedGraph)
    position = {n.id: i for i, n in enumerate(checked.order)}
    assert set(position) == {n.id for n in checked.graph.nodes}
    for n in checked.order:
        for sources in (*n.inputs.values(), tuple(n.arg_edges.values())):
            assert all(position[s.node] < position[n.id] for s in sources)
    g = checked.graph
    assert Graph.from_json(parse_strict(json.dumps(g.to_json()))) == g


def outcome_of_text(source: str | bytes) -> list[tuple[str, str, str]] | None:
    """Load and validate text or bytes; the problems (code, node, pointer), or None when valid."""
    try:
        checked = check_graph(parse_graph(source))
    except GraphError as error:
        document, has_document = None, False
        if not {p.code for p in error.problems} <= LOADER_CODES or any(p.pointer for p in error.problems):
            text = source.decode("utf-8") if isinstance(source, bytes) else source
            document, has_document = json.loads(text), True  # it parsed, so plain json parses it too
        assert_well_formed(error, document, has_document)
        return [(p.code, p.node, p.pointer) for p in error.problems]
    assert_valid_result(checked)
    return None


def outcome_of_document(document: Any) -> list[tuple[str, str, str]] | None:
    """Validate an in-memory document; the problems (code, node, pointer), or None when valid."""
    try:
        checked = check_graph(graph_from_document(document))
    except GraphError as error:
        assert_well_formed(error, document, True)
        return [(p.code, p.node, p.pointer) for p in error.problems]
    assert_valid_result(checked)
    return None


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def check_document(document: Any) -> list[tuple[str, str, str]] | None:
    """Both ways in: the document itself, and its JSON text. Within the nesting limit they agree."""
    in_memory = outcome_of_document(document)
    from_text = outcome_of_text(json.dumps(document))
    if _depth(document) <= MAX_NESTING:
        assert in_memory == from_text
    return from_text


# == (a) bytes and text ========================================================================

@fuzz(500)
@given(st.binary(max_size=400))
def test_arbitrary_bytes(raw: bytes) -> None:
    outcome_of_text(raw)


@fuzz(500)
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    outcome_of_text(text)
    outcome_of_text(text.encode("utf-8", "surrogatepass"))


JSONISH = st.text(alphabet='{}[]":,0123456789.eE+-truefalsnNaIiy \n\\"u', max_size=20)


@fuzz(600)
@given(st.data())
def test_example_text_with_a_slice_replaced(data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(MLP_TEXT)))
    end = data.draw(st.integers(start, min(len(MLP_TEXT), start + 30)))
    filler = data.draw(st.one_of(JSONISH, st.text(max_size=10), st.sampled_from(
        ['"x"', "null", "[]", "{}", '"os.system"', "1e999", "-0", "NaN", '"\\ud800"', '"a", "a": 1', "[" * 70])))
    text = MLP_TEXT[:start] + filler + MLP_TEXT[end:]
    outcome_of_text(text)
    outcome_of_text(text.encode("utf-8", "surrogatepass"))


# == (b) arbitrary JSON values =================================================================

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10 ** 30), 10 ** 30),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                    max_leaves=25)


@fuzz(300)
@given(JSON)
def test_arbitrary_json_value(document: Any) -> None:
    check_document(document)


GRAPH_KEYS = ["format", "catalogs", "nodes", "edges", "outputs", "name", "description", "editor"]


@fuzz(300)
@given(st.dictionaries(st.sampled_from(GRAPH_KEYS), JSON, max_size=8), st.sets(st.sampled_from(GRAPH_KEYS)))
def test_arbitrary_json_in_a_graph(parts: dict[str, Any], keep: set[str]) -> None:
    """Some top-level keys from the example, the others arbitrary JSON."""
    document = {key: copy.deepcopy(MLP[key]) for key in keep if key in MLP}
    document.update(parts)
    check_document(document)


IDS = st.sampled_from(["x", "fc1", "act1", "drop", "fc2", "act2", "head", "y", "forward", "eval", "a", "A_1"])
NODES = st.fixed_dictionaries({"id": st.one_of(IDS, JSON), "op": st.one_of(st.sampled_from(CATALOG_OPS + HOSTILE_OPS),
                                                                       JSON)},
                              optional={"args": st.one_of(st.dictionaries(st.sampled_from(ARG_NAMES), JSON, max_size=3),
                                                          JSON)})
ENDS = st.fixed_dictionaries({"node": IDS}, optional={"port": st.sampled_from(PORT_NAMES),
                                                      "arg": st.sampled_from(ARG_NAMES)})


@fuzz(300)
@given(st.lists(NODES, min_size=1, max_size=5), st.lists(st.fixed_dictionaries({"from": ENDS, "to": ENDS}),
                                                         max_size=5),
       st.lists(st.fixed_dictionaries({"name": IDS, "node": IDS}, optional={"port": st.sampled_from(PORT_NAMES)}),
                min_size=1, max_size=3))
def test_random_graphs_of_catalog_parts(nodes: list[Any], edges: list[Any], outputs: list[Any]) -> None:
    document = {"format": "nodecat-graph/1", "catalogs": {"torch": TORCH, "keras": KERAS}, "nodes": nodes,
                "edges": edges, "outputs": outputs}
    check_document(document)


# == (c) mutations of valid graphs ==============================================================

def _base(document: dict[str, Any]) -> dict[str, Any]:
    return {"format": "nodecat-graph/1", **document}


# Besides the examples: a torch graph with layers handed to arguments, a constant and a tuple output,
# and a Keras graph with two-edge ports, so that mutations reach every kind of check.
ENCODER = _base({
    "name": "encoder", "catalogs": {"torch": TORCH},
    "nodes": [{"id": "x", "op": "input", "args": {"shape": [None, 5, 4]}},
              {"id": "lay", "op": "torch.nn.TransformerEncoderLayer", "args": {"d_model": 4, "nhead": 2,
                                                                              "batch_first": True}},
              {"id": "ln", "op": "torch.nn.LayerNorm", "args": {"normalized_shape": 4}},
              {"id": "enc", "op": "torch.nn.TransformerEncoder", "args": {"num_layers": 1}},
              {"id": "k", "op": "constant", "args": {"value": [[1, 2, 3, 4]]}},
              {"id": "sum", "op": "torch.add", "args": {"alpha": 0.5}},
              {"id": "parts", "op": "torch.chunk", "args": {"chunks": 2, "dim": -1}}],
    "edges": [{"from": {"node": "lay"}, "to": {"node": "enc", "arg": "encoder_layer"}},
              {"from": {"node": "ln"}, "to": {"node": "enc", "arg": "norm"}},
              {"from": {"node": "x", "port": "output"}, "to": {"node": "enc", "port": "src"}},
              {"from": {"node": "enc", "port": "output"}, "to": {"node": "sum", "port": "input"}},
              {"from": {"node": "k", "port": "output"}, "to": {"node": "sum", "port": "other"}},
              {"from": {"node": "sum", "port": "output"}, "to": {"node": "parts", "port": "input"}}],
    "outputs": [{"name": "y", "node": "sum"}, {"name": "halves", "node": "parts"}]})
DIFFERENCE = _base({
    "name": "difference", "catalogs": {"keras": KERAS},
    "nodes": [{"id": "a", "op": "input", "args": {"shape": [None, 8]}},
              {"id": "b", "op": "input", "args": {"shape": [None, 8]}},
              {"id": "da", "op": "keras.layers.Dense", "args": {"units": 4, "activation": "relu"}},
              {"id": "db", "op": "keras.layers.Dense", "args": {"units": 4}},
              {"id": "diff", "op": "keras.layers.Subtract"},
              {"id": "dot", "op": "keras.layers.Dot", "args": {"axes": 1, "normalize": True}}],
    "edges": [{"from": {"node": "a", "port": "output"}, "to": {"node": "da", "port": "inputs"}},
              {"from": {"node": "b", "port": "output"}, "to": {"node": "db", "port": "inputs"}},
              {"from": {"node": "da", "port": "output"}, "to": {"node": "diff", "port": "inputs"}},
              {"from": {"node": "db", "port": "output"}, "to": {"node": "diff", "port": "inputs"}},
              {"from": {"node": "diff", "port": "output"}, "to": {"node": "dot", "port": "inputs"}},
              {"from": {"node": "da", "port": "output"}, "to": {"node": "dot", "port": "inputs"}}],
    "outputs": [{"name": "score", "node": "dot"}]})
BASES = [MLP, ENCODER, DIFFERENCE] + [json.loads(p.read_text(encoding="utf-8"))
                                      for p in sorted((ROOT / "examples").glob("*.json")) if p.name != "mlp.json"]
ARGS_OF = {n["id"]: [a["name"] for a in n["args"]] for c in _CATALOGS for n in c["nodes"]}
ARGS_OF.update(input=["shape", "dtype"], constant=["value", "dtype"])
PORTS_OF = {n["id"]: ([p["name"] for p in n["inputs"]], [p["name"] for p in n["outputs"]])
            for c in _CATALOGS for n in c["nodes"]}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


HUGE = st.sampled_from([10 ** 300, -(10 ** 300), 2 ** 63, -(2 ** 63) - 1, 2 ** 31, 2 ** 64 + 1, 1.7976931348623157e308,
                        -1.7976931348623157e308, 5e-324, -0.0, 0, -1, 1e-300, 10 ** 4299])
OPS = st.one_of(st.sampled_from(CATALOG_OPS), st.sampled_from(EXCLUDED_OPS), st.sampled_from(HOSTILE_OPS),
                st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,8}(\.[A-Za-z_][A-Za-z0-9_]{0,8}){0,4}\Z"),
                st.text(max_size=20))
VALUES = st.one_of(JSON, HUGE, st.sampled_from(["os.system", "__import__('os')", "smtplib", "float32", "cpu", "cuda:0",
                                                "meta", "zeros", "same", "relu", "", "\x00", "\ud800", None, True, 0,
                                                1, -1, 0.5, [1, 2], [[1.0]], {"class_name": "L2"}]))
STRUCTURAL = ["delete", "replace", "retype", "huge", "deep"]
SEMANTIC = ["op", "op", "arg", "arg", "arg_value", "edge", "edge", "drop_edge", "rewire", "duplicate", "output",
            "catalogs", "swap", "id"]


def _nested(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


def _structural(document: dict[str, Any], kind: str, data: st.DataObject) -> None:
    """Anywhere in the document: delete, replace or retype a value, make it huge or deeply nested."""
    paths = _paths(document)[1:]
    if not paths:
        return
    path = data.draw(st.sampled_from(paths))
    parent, key = _at(document, path[:-1]), path[-1]
    if kind == "delete":
        del parent[key]
    elif kind == "replace":
        parent[key] = data.draw(VALUES)
    elif kind == "retype":
        old = parent[key]
        parent[key] = data.draw(st.sampled_from([None, True, 0, 1.5, "", "0", [], {}, [old], {"value": old}, str(old)]))
    elif kind == "huge":
        parent[key] = data.draw(HUGE)
    else:
        parent[key] = _nested(parent[key], data.draw(st.integers(1, MAX_NESTING + 16)))


def _semantic(document: dict[str, Any], kind: str, data: st.DataObject) -> None:
    """Schema-valid changes the validator has to judge: ops, arguments, edges, ids, outputs, catalogs."""
    nodes = document.get("nodes") if isinstance(document.get("nodes"), list) else []
    node_dicts = [n for n in nodes if isinstance(n, dict)]
    ids = [n["id"] for n in node_dicts if isinstance(n.get("id"), str)] or ["x"]
    edges = document.get("edges") if isinstance(document.get("edges"), list) else None
    some_id = st.one_of(st.sampled_from(ids), IDS)
    if kind == "op" and node_dicts:
        data.draw(st.sampled_from(node_dicts))["op"] = data.draw(OPS)
    elif kind == "id" and node_dicts:
        data.draw(st.sampled_from(node_dicts))["id"] = data.draw(st.one_of(
            st.sampled_from(sorted(RESERVED_IDS)), st.sampled_from(ids),
            st.from_regex(r"\A[A-Za-z][A-Za-z0-9_]{0,70}\Z"), st.text(max_size=10)))
    elif kind in ("arg", "arg_value") and node_dicts:
        target = data.draw(st.sampled_from(node_dicts))
        args = target.setdefault("args", {})
        if not isinstance(args, dict):
            return
        if kind == "arg_value" and args:
            name = data.draw(st.sampled_from(sorted(args)))
        else:
            known = ARGS_OF.get(target.get("op"), []) if isinstance(target.get("op"), str) else []
            name = data.draw(st.one_of(st.sampled_from(known), st.sampled_from(ARG_NAMES)) if known else
                             st.sampled_from(ARG_NAMES))
        args[name] = data.draw(st.one_of(VALUES, st.builds(_nested, VALUES, st.integers(1, 8))))
    elif kind in ("edge", "rewire") and edges is not None:
        start: dict[str, Any] = {"node": data.draw(some_id)}
        end: dict[str, Any] = {"node": data.draw(some_id)}
        ops = {n["id"]: n["op"] for n in node_dicts if isinstance(n.get("id"), str) and isinstance(n.get("op"), str)}
        outs = PORTS_OF.get(ops.get(start["node"]), ([], ["output"]))[1] or ["output"]
        ins = PORTS_OF.get(ops.get(end["node"]), (["input"], []))[0] or ["input"]
        if data.draw(st.integers(0, 3)):
            start["port"] = data.draw(st.one_of(st.sampled_from(outs), st.sampled_from(PORT_NAMES)))
        if data.draw(st.integers(0, 2)):
            end["port"] = data.draw(st.one_of(st.sampled_from(ins), st.sampled_from(PORT_NAMES)))
        else:
            known = ARGS_OF.get(ops.get(end["node"]), []) or ARG_NAMES
            end["arg"] = data.draw(st.one_of(st.sampled_from(known), st.sampled_from(ARG_NAMES)))
        new = {"from": start, "to": end}
        if kind == "rewire" and edges:
            edges[data.draw(st.integers(0, len(edges) - 1))] = new
        else:
            edges.insert(data.draw(st.integers(0, len(edges))), new)
    elif kind == "drop_edge" and edges:
        del edges[data.draw(st.integers(0, len(edges) - 1))]
    elif kind == "duplicate" and nodes:
        nodes.insert(data.draw(st.integers(0, len(nodes))), copy.deepcopy(data.draw(st.sampled_from(nodes))))
    elif kind == "output" and isinstance(document.get("outputs"), list):
        output = {"name": data.draw(st.sampled_from(["logits", "y", "z", "score"])), "node": data.draw(some_id)}
        if data.draw(st.booleans()):
            output["port"] = data.draw(st.sampled_from(PORT_NAMES))
        document["outputs"].append(output)
    elif kind == "catalogs":
        document["catalogs"] = data.draw(st.sampled_from([{"torch": TORCH, "keras": KERAS}, {"keras": KERAS},
                                                          {"torch": TORCH}, {"torch": "2.0.0"}, {},
                                                          {"torch": TORCH, "jax": "0.4"}, {"torch": ""}]))
    elif kind == "swap" and len(nodes) > 1:
        i, j = data.draw(st.integers(0, len(nodes) - 1)), data.draw(st.integers(0, len(nodes) - 1))
        nodes[i], nodes[j] = nodes[j], nodes[i]


def _mutate(document: dict[str, Any], data: st.DataObject, structural: bool) -> None:
    kind = data.draw(st.sampled_from(STRUCTURAL if structural else SEMANTIC))
    (_structural if structural else _semantic)(document, kind, data)


@fuzz(1000)
@given(st.data())
def test_mutated_example(data: st.DataObject) -> None:
    document = copy.deepcopy(data.draw(st.sampled_from(BASES)))
    for _ in range(data.draw(st.integers(1, 4))):
        _mutate(document, data, structural=data.draw(st.integers(0, 3)) == 0)
    check_document(document)


@fuzz(300)
@given(st.data())
def test_mutated_example_many_changes(data: st.DataObject) -> None:
    """More changes at once (the schema kept valid): problems from every check pile up in one report."""
    document = copy.deepcopy(data.draw(st.sampled_from(BASES)))
    for _ in range(data.draw(st.integers(5, 15))):
        _mutate(document, data, structural=False)
    check_document(document)


@fuzz(150)
@given(st.data())
def test_a_single_hostile_op_is_refused(data: st.DataObject) -> None:
    """Whatever node takes a hostile op, the graph is refused with that node's unknown_op or excluded_op."""
    document = copy.deepcopy(data.draw(st.sampled_from(BASES)))
    index = data.draw(st.integers(0, len(document["nodes"]) - 1))
    document["nodes"][index]["op"] = data.draw(st.sampled_from(HOSTILE_OPS))
    document["catalogs"] = {"torch": TORCH, "keras": KERAS}
    problems = check_document(document)
    assert problems is not None
    at_op = [(code, node_id) for code, node_id, pointer in problems if pointer == f"/nodes/{index}/op"]
    assert at_op in ([("unknown_op", document["nodes"][index]["id"])],
                     [("excluded_op", document["nodes"][index]["id"])]), problems


# == targeted: what the fuzz found or must keep finding ==========================================

@pytest.mark.parametrize("levels", [MAX_NESTING - 4, MAX_NESTING + 1, 10_000])
def test_deep_argument_value_from_text(levels: int) -> None:
    document = copy.deepcopy(MLP)
    document["nodes"][1]["args"]["in_features"] = "@"
    text = json.dumps(document).replace('"@"', "[" * levels + "1" + "]" * levels)
    problems = outcome_of_text(text)
    assert problems is not None
    assert problems[0][0] == ("bad_arg_value" if levels < MAX_NESTING - 3 else "too_deep")


@pytest.mark.parametrize("levels", [MAX_NESTING - 5, MAX_NESTING + 16])
def test_deep_constant_is_checked(levels: int) -> None:
    document = copy.deepcopy(MLP)
    document["nodes"].append({"id": "k", "op": "constant", "args": {"value": _nested(1, levels)}})
    within = levels + 4 <= MAX_NESTING  # the document, nodes, node, args: 4 levels above the value
    for outcome in (outcome_of_document(document), outcome_of_text(json.dumps(document))):
        if within:
            assert outcome is None  # a constant of one element, however nested
        else:  # the same limit whether the document was parsed or built in memory
            assert outcome is not None and [code for code, _node, _pointer in outcome] == ["too_deep"]


def test_deep_in_memory_document_is_a_graph_error() -> None:
    document = copy.deepcopy(MLP)
    document["nodes"][1]["args"]["in_features"] = _nested(1, 5_000)
    with pytest.raises(GraphError):
        check_graph(graph_from_document(document))


def test_integral_float_for_an_integer_argument_is_refused() -> None:
    problems = outcome_of_text(MLP_TEXT.replace('"in_features": 64,', '"in_features": 64.0,', 1))
    assert problems == [("bad_arg_value", "fc1", "/nodes/1/args/in_features")]


def test_fuzz_sources_are_meaningful() -> None:
    """The strategies reach the validator, not only the schema: a few hand-made mutations must."""
    document = copy.deepcopy(MLP)
    document["nodes"][2]["op"] = "os.system"
    assert check_document(document) == [("unknown_op", "act1", "/nodes/2/op")]
    assert check_document(copy.deepcopy(MLP)) is None
    assert check_document(copy.deepcopy(ENCODER)) is None and check_document(copy.deepcopy(DIFFERENCE)) is None
    assert len(CATALOG_OPS) > 500 and "keras.layers.Lambda" in EXCLUDED_OPS


# == the fast structure check agrees with jsonschema =============================================

def _agrees(document: Any) -> None:
    from nodecat.executor.graph.structure import satisfies_graph_schema
    from nodecat.introspector.schemas import schema_problems
    if _depth(document) > MAX_NESTING:
        return  # refused before either check runs
    assert satisfies_graph_schema(document) == (schema_problems("graph", document) == []), document


@fuzz(1200)
@given(st.data())
def test_fast_structure_check_agrees_with_jsonschema_on_mutations(data: st.DataObject) -> None:
    document = copy.deepcopy(data.draw(st.sampled_from(BASES)))
    for _ in range(data.draw(st.integers(0, 3))):
        _mutate(document, data, structural=data.draw(st.integers(0, 2)) > 0)
    _agrees(document)


@fuzz(400)
@given(st.dictionaries(st.sampled_from(GRAPH_KEYS), JSON, max_size=8), st.sets(st.sampled_from(GRAPH_KEYS)))
def test_fast_structure_check_agrees_with_jsonschema_on_arbitrary_parts(parts: dict[str, Any], keep: set[str]) -> None:
    document = {k: v for k, v in copy.deepcopy(MLP).items() if k in keep}
    document.update(parts)
    _agrees(document)


@pytest.mark.parametrize("value", ["fc1\n", "fc1 ", "\nfc1", "f" * 65, "1fc", "fc-1", "fc\u00e91", ""])
def test_fast_structure_check_agrees_on_identifier_edge_cases(value: str) -> None:
    for place in (("nodes", 0, "id"), ("outputs", 0, "name"), ("edges", 0, "to", "port")):
        document = copy.deepcopy(MLP)
        target = document
        for key in place[:-1]:
            target = target[key]
        target[place[-1]] = value
        _agrees(document)
