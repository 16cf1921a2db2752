"""`nodecat catalog export --format comfyui|litegraph`: a catalog as a graph editor's node palette.

Unit tests pin the mapping of argument schemas and ports to widgets and sockets
(introspector/export_palette.py documents the table). The end-to-end tests load the exported
palettes of both committed catalogs, every node, with the editors' own graph libraries in Node.js
(tests/js/load_palette.mjs: @comfyorg/litegraph for ComfyUI's /object_info, litegraph.js for the
LiteGraph palette), the way their front ends register node definitions; they need `node` and
`npm ci --prefix tests/js` (no network at test time).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helpers import make_untyped
from nodecat.introspector.build import catalog_path_for, load_catalog
from nodecat.introspector.export_palette import (FLOAT_LIMIT, INSTANCE_OUTPUT, INT_LIMIT, NONE_CHOICE, VARIADIC_SLOTS,
                                         Socket, Widget, comfyui_node, comfyui_object_info, float_step,
                                         litegraph_node, litegraph_palette, palette_node)
from nodecat.introspector.jsonio import dumps
from nodecat.introspector.model import Arg, Catalog, InputPort, Node, OutputPort

JS_DIR = Path(__file__).resolve().parent / "js"
LOADER = JS_DIR / "load_palette.mjs"
NODE = shutil.which("node")
LIBRARIES = ("torch", "keras")


def make_node(*args: Arg, inputs: tuple[InputPort, ...] = (InputPort("input"),), kind: str = "function",
              instantiate: bool = False, example: dict[str, Any] | None = None) -> Node:
    return Node(id="lib.op", library="lib", name="op", origin_module="lib", origin_qualname="op", kind=kind,
                category="things/small", summary="An op.",
                call={"instantiate": instantiate, "apply": True, "copy": False},
                inputs=inputs, outputs=(OutputPort("output"),), args=args, example=example)


def spec(node: Node, name: str) -> tuple[str, list[Any]]:
    """(section, [type, options]) of one ComfyUI input."""
    inputs = comfyui_node(node)["input"]
    section = next(s for s in inputs if name in inputs[s])
    return section, inputs[section][name]


# --- widgets ---------------------------------------------------------------------------------

def test_integer_is_an_INT_widget_with_explicit_bounds() -> None:
    node = make_node(Arg("dim", default=0, schema={"type": "integer"}),
                     Arg("k", default=3, schema={"type": "integer", "minimum": 1, "exclusiveMaximum": 10}))
    assert spec(node, "dim") == ("required", ["INT", {"default": 0, "min": -INT_LIMIT, "max": INT_LIMIT, "step": 1}])
    assert spec(node, "k")[1][1] == {"default": 3, "min": 1, "max": 9, "step": 1}


def test_number_is_a_FLOAT_widget_whose_step_keeps_the_default() -> None:
    node = make_node(Arg("eps", default=1e-8, schema={"type": "number"}),
                     Arg("beta", default=0.999, schema={"type": "number", "minimum": 0, "maximum": 1}),
                     Arg("momentum", default=0, schema={"type": "number"}),
                     Arg("norm", required=True, schema={"anyOf": [{"type": "integer"}, {"type": "number"}]}))
    assert spec(node, "eps")[1] == ["FLOAT", {"default": 1e-8, "min": -FLOAT_LIMIT, "max": FLOAT_LIMIT,
                                              "step": 1e-8, "round": False}]
    assert spec(node, "beta")[1][1] == {"default": 0.999, "min": 0.0, "max": 1.0, "step": 0.001, "round": False}
    momentum = spec(node, "momentum")[1][1]["default"]
    assert momentum == 0.0 and isinstance(momentum, float)
    assert spec(node, "norm")[1][0] == "FLOAT"  # int | float: JSON numbers include the integers
    assert [float_step(v) for v in (0.5, 100.0, 0.125, None)] == [0.01, 0.01, 0.001, 0.01]


def test_boolean_and_string_widgets() -> None:
    node = make_node(Arg("bias", default=True, schema={"type": "boolean"}),
                     Arg("name", default="dense", schema={"type": "string"}))
    assert spec(node, "bias") == ("required", ["BOOLEAN", {"default": True}])
    assert spec(node, "name") == ("required", ["STRING", {"default": "dense", "multiline": False}])


def test_enum_is_a_combo_and_none_is_a_choice_of_its_own() -> None:
    node = make_node(Arg("mode", default="zeros", schema={"enum": ["zeros", "reflect"]}, doc="Padding mode."),
                     Arg("data_format", default=None,
                         schema={"anyOf": [{"enum": ["channels_last", "channels_first"]}, {"type": "null"}]}),
                     Arg("dtype", required=True,
                         schema={"enum": ["float32", "int64"], "type": "string", "x-nodecat": "dtype"}))
    assert spec(node, "mode") == ("required", [["zeros", "reflect"], {"default": "zeros", "tooltip": "Padding mode."}])
    assert spec(node, "data_format")[1] == [[NONE_CHOICE, "channels_last", "channels_first"], {"default": NONE_CHOICE}]
    assert spec(node, "dtype")[1] == [["float32", "int64"], {"default": "float32"}]  # no default: the first choice


def test_keras_object_kinds_are_offered_by_registered_name() -> None:
    initializer = {"anyOf": [{"enum": ["glorot_uniform", "zeros"]},
                             {"type": "object", "properties": {"class_name": {"enum": ["Zeros"]}}}],
                   "x-nodecat": "initializer"}
    node = make_node(Arg("kernel_initializer", default="glorot_uniform", schema=initializer),
                     Arg("kernel_regularizer", default=None, schema={"anyOf": [initializer, {"type": "null"}]}))
    assert spec(node, "kernel_initializer")[1] == [["glorot_uniform", "zeros"], {"default": "glorot_uniform"}]
    assert spec(node, "kernel_regularizer")[1][0] == [NONE_CHOICE, "glorot_uniform", "zeros"]


def test_a_none_default_scalar_is_an_optional_socket_unconnected_meaning_none() -> None:
    node = make_node(Arg("seed", default=None, schema={"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}),
                     Arg("momentum", default=0.1, schema={"anyOf": [{"type": "number"}, {"type": "null"}]}))
    section, (kind, options) = spec(node, "seed")
    assert (section, kind, options["forceInput"], options["min"]) == ("optional", "INT", True, 0)
    assert "default" not in options
    assert spec(node, "momentum")[1][1]["default"] == 0.1  # a real default: an ordinary widget


def test_tuples_and_mixed_types_are_json_text_with_their_schema() -> None:
    kernel = {"anyOf": [{"type": "integer", "minimum": 1},
                        {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}]}
    node = make_node(Arg("kernel_size", required=True, schema=kernel),
                     Arg("stride", default=[1, 1], schema=kernel),
                     Arg("output_size", default=None, schema={"anyOf": [kernel, {"type": "null"}]}),
                     Arg("padding", default="same", schema={"type": "integer"}),  # a default no INT holds
                     Arg("groups", default=-1, schema={"type": "integer", "minimum": 0}),  # nor out of range
                     example={"args": {"kernel_size": 3}})
    kind, options = spec(node, "kernel_size")[1]
    assert (kind, options["default"], options["json_schema"], options["multiline"]) == ("STRING", "3", kernel, False)
    assert "JSON" in options["tooltip"]
    assert spec(node, "stride")[1][1]["default"] == "[1, 1]"
    assert spec(node, "output_size")[1][1]["default"] == "null"
    assert spec(node, "padding")[1][1]["default"] == '"same"'
    assert spec(node, "groups")[1][1]["default"] == "-1"


def test_an_untyped_argument_is_json_text_that_says_why() -> None:
    node = make_node(Arg("weights", default=None, unsupported="no annotation, no docstring type"))
    section, (kind, options) = spec(node, "weights")
    assert (section, kind, options["default"], options["json_schema"]) == ("required", "STRING", "null", {})
    assert "untyped" in options["tooltip"] and "no annotation, no docstring type" in options["tooltip"]


def test_required_argument_without_default_starts_from_the_probed_example() -> None:
    node = make_node(Arg("in_channels", required=True, schema={"type": "integer"}),
                     Arg("out_channels", required=True, schema={"type": "integer", "minimum": 1}),
                     Arg("p", required=True, schema={"type": "number"}),
                     example={"args": {"in_channels": 4}})
    assert spec(node, "in_channels")[1][1]["default"] == 4
    assert spec(node, "out_channels")[1][1]["default"] == 1  # neutral 0, clamped into range
    assert spec(node, "p")[1][1]["default"] == 0.0


def test_hidden_arguments_are_left_to_the_executor() -> None:
    node = make_node(Arg("device", default=None, hidden=True, schema={"type": "string"}))
    assert "device" not in json.dumps(comfyui_node(node)["input"])


# --- sockets and outputs ---------------------------------------------------------------------

def test_ports_are_typed_sockets_required_or_optional() -> None:
    node = make_node(inputs=(InputPort("input"), InputPort("mask", required=False),
                             InputPort("params", type="parameters")))
    assert spec(node, "input") == ("required", ["TENSOR", {}])
    assert spec(node, "mask") == ("optional", ["TENSOR", {}])
    assert spec(node, "params") == ("required", ["PARAMETERS", {}])
    assert comfyui_node(node)["input_order"] == {"required": ["input", "params"], "optional": ["mask"]}


def test_multi_edge_ports_become_numbered_sockets() -> None:
    node = make_node(inputs=(InputPort("tensors", conns=None), InputPort("pair", conns=2, required=False)))
    order = comfyui_node(node)["input_order"]
    assert order["required"] == ["tensors[0]"]
    assert order["optional"] == [f"tensors[{i}]" for i in range(1, VARIADIC_SLOTS)] + ["pair[0]", "pair[1]"]


def test_edge_fed_arguments_are_sockets_and_a_literal_alternative_keeps_its_widget() -> None:
    node = make_node(Arg("encoder_layer", required=True, accepts_edge=True, schema={"x-nodecat": "module"}),
                     Arg("norm", default=None, accepts_edge=True,
                         schema={"anyOf": [{"x-nodecat": "module"}, {"type": "null"}]}),
                     Arg("lr", default=0.001, accepts_edge=True,
                         schema={"anyOf": [{"type": "number"}, {"x-nodecat": "tensor"}]}))
    assert spec(node, "encoder_layer") == ("required", ["MODULE", {}])
    assert spec(node, "norm") == ("optional", ["MODULE", {}])
    assert spec(node, "lr")[1][0] == "FLOAT"
    section, (kind, options) = spec(node, "lr (edge)")
    assert (section, kind) == ("optional", "TENSOR") and "replaces the value of lr" in options["tooltip"]


def test_layers_hand_over_their_instance_through_a_module_output() -> None:
    layer = comfyui_node(make_node(kind="layer", instantiate=True))
    function = comfyui_node(make_node())
    assert (layer["output"], layer["output_name"]) == (["TENSOR", "MODULE"], ["output", INSTANCE_OUTPUT])
    assert (function["output"], function["output_name"]) == (["TENSOR"], ["output"])
    assert layer["output_is_list"] == [False, False] and len(layer["output_tooltips"]) == 2


def test_an_argument_named_like_a_port_gets_a_distinct_input() -> None:
    node = make_node(Arg("log_input", default=True, schema={"type": "boolean"}), inputs=(InputPort("log_input"),))
    assert comfyui_node(node)["input_order"]["required"] == ["log_input", "log_input (arg)"]


def test_node_definition_fields() -> None:
    definition = comfyui_node(make_node())
    assert {k: definition[k] for k in ("name", "display_name", "description", "python_module", "category",
                                       "output_node")} == {
        "name": "lib.op", "display_name": "op", "description": "An op.", "python_module": "nodecat",
        "category": "nodecat/lib/things/small", "output_node": False}


def test_litegraph_node_type_has_slots_properties_and_bound_widgets() -> None:
    node = make_node(Arg("p", default=0.5, schema={"type": "number", "minimum": 0, "maximum": 1}),
                     Arg("k", default=2, schema={"type": "integer"}),
                     Arg("mode", default="a", schema={"enum": ["a", "b"]}),
                     Arg("seed", default=None, schema={"anyOf": [{"type": "integer"}, {"type": "null"}]}),
                     inputs=(InputPort("input"), InputPort("mask", required=False)))
    entry = litegraph_node(node)
    assert entry["inputs"] == [["input", "TENSOR", {"optional": False}], ["mask", "TENSOR", {"optional": True}],
                               ["seed", "INT", {"optional": True}]]
    assert entry["outputs"] == [["output", "TENSOR"]]
    assert entry["properties"] == {"p": 0.5, "k": 2, "mode": "a"}
    p, k, mode = entry["widgets"]
    assert p == {"type": "number", "name": "p", "value": 0.5,
                 "options": {"property": "p", "min": 0.0, "max": 1.0, "step": 0.1, "precision": 2}}
    assert (k["type"], k["options"]["step"], k["options"]["precision"]) == ("number", 10, 0)
    assert mode["type"] == "combo" and mode["options"]["values"] == ["a", "b"]


# --- whole catalogs --------------------------------------------------------------------------

@pytest.fixture(scope="module", params=LIBRARIES)
def committed(request: pytest.FixtureRequest) -> Catalog:
    return load_catalog(catalog_path_for(request.param), check_schema=False)


def decode(slot: str, node: Node) -> tuple[str, str]:
    """What a palette input stands for, from its name alone: ("port" | "arg", catalog name)."""
    if slot.endswith((" (edge)", " (arg)")):
        return "arg", slot.rsplit(" ", 1)[0]
    numbered = re.fullmatch(r"(\w+)\[\d+\]", slot)
    if numbered:
        return "port", numbered[1]
    return ("port" if any(p.name == slot for p in node.inputs) else "arg"), slot


def test_every_port_and_visible_argument_has_an_input(committed: Catalog) -> None:
    """Nothing is dropped silently: the inputs map back to exactly the catalog's ports and arguments."""
    for node in committed.nodes:
        entry = palette_node(node)
        decoded = [decode(i.name, node) for i in entry.inputs]
        assert {n for k, n in decoded if k == "port"} == {p.name for p in node.inputs}, node.id
        assert {n for k, n in decoded if k == "arg"} == {a.name for a in node.args if not a.hidden}, node.id
        assert [o.name for o in entry.outputs][:len(node.outputs)] == [p.name for p in node.outputs], node.id
        for item in entry.inputs:
            if isinstance(item, Widget) and item.kind == "JSON" and item.value:
                json.loads(item.value)


def test_widget_defaults_are_valid_for_their_widgets(committed: Catalog) -> None:
    for definition in comfyui_object_info(committed).values():
        for inputs in definition["input"].values():
            for name, (kind, options) in inputs.items():
                where = f"{definition['name']}.{name}"
                if isinstance(kind, list):
                    assert options["default"] in kind, where
                elif kind in ("INT", "FLOAT") and "default" in options:
                    assert options["min"] <= options["default"] <= options["max"], where
                    assert isinstance(options["default"], int if kind == "INT" else float), where
                elif kind == "BOOLEAN" and "default" in options:
                    assert isinstance(options["default"], bool), where
                elif kind == "STRING" and not options.get("forceInput"):
                    assert isinstance(options["default"], str), where


@pytest.mark.parametrize("fmt", ["comfyui", "litegraph"])
@pytest.mark.parametrize("library", LIBRARIES)
def test_export_is_deterministic_and_matches_the_pure_function(invoke, tmp_path: Path, library: str,
                                                               fmt: str) -> None:
    written = tmp_path / "palette.json"
    result = invoke("catalog", "export", library, "--format", fmt, "-o", str(written))
    assert result.exit_code == 0, result.output
    printed = invoke("catalog", "export", library, "--format", fmt)
    assert printed.exit_code == 0 and printed.stdout_bytes == written.read_bytes()  # same bytes twice
    catalog = load_catalog(catalog_path_for(library), check_schema=False)
    export = comfyui_object_info if fmt == "comfyui" else litegraph_palette
    assert written.read_text(encoding="utf-8") == dumps(export(catalog))


def test_export_help_names_the_palette_formats(invoke) -> None:
    text = invoke("catalog", "export", "--help").output
    assert "seed|comfyui|litegraph" in text and "/object_info" in text and "LiteGraph" in text


def test_untyped_argument_in_the_exported_palette(invoke, committed_doc: dict[str, Any], use_catalog) -> None:
    use_catalog(make_untyped(committed_doc, "torch.nn.Linear", "in_features", "test: untyped on purpose"))
    palette = json.loads(invoke("catalog", "export", "torch", "--format", "comfyui").stdout)
    kind, options = palette["torch.nn.Linear"]["input"]["required"]["in_features"]
    assert (kind, options["json_schema"], options["default"]) == ("STRING", {}, "4")  # the probed example
    assert "test: untyped on purpose" in options["tooltip"]


# --- loaded by the editors' own libraries, in Node.js ----------------------------------------

def _skip_reason() -> str | None:
    if NODE is None:
        return "node (Node.js) is not installed"
    if not (JS_DIR / "node_modules").is_dir():
        return "tests/js/node_modules is missing: run `npm ci --prefix tests/js`"
    return None


needs_node = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")

PLANS: dict[str, dict[str, Any]] = {
    "torch": {
        "nodes": {"x": "harness/Input", "conv": "torch.nn.Conv2d", "relu": "torch.nn.ReLU",
                  "flat": "torch.nn.Flatten", "lin": "torch.nn.Linear", "cat": "torch.cat",
                  "layer": "torch.nn.TransformerEncoderLayer", "enc": "torch.nn.TransformerEncoder",
                  "sgd": "torch.optim.SGD", "step": "torch.optim.lr_scheduler.StepLR"},
        "widgets": {"conv": {"out_channels": 8, "kernel_size": "3", "padding_mode": "reflect", "bias": False}},
        "links": [
            (["x", "output"], ["conv", "input"], "TENSOR"),
            (["conv", "output"], ["relu", "input"], "TENSOR"),
            (["relu", "output"], ["flat", "input"], "TENSOR"),
            (["flat", "output"], ["lin", "input"], "TENSOR"),
            (["relu", "output"], ["cat", "tensors[0]"], "TENSOR"),
            (["flat", "output"], ["cat", "tensors[1]"], "TENSOR"),
            (["conv", "output"], ["enc", "encoder_layer"], None),  # a tensor is not a layer
            (["layer", INSTANCE_OUTPUT], ["enc", "encoder_layer"], "MODULE"),
            (["x", "output"], ["enc", "src"], "TENSOR"),
            (["relu", "output"], ["sgd", "params"], None),
            (["conv", "output"], ["step", "optimizer"], None),
            (["sgd", "optimizer"], ["step", "optimizer"], "OPTIMIZER"),
        ],
    },
    "keras": {
        "nodes": {"x": "harness/Input", "dense": "keras.layers.Dense", "act": "keras.layers.Activation",
                  "cat": "keras.layers.Concatenate", "lstm": "keras.layers.LSTM",
                  "bi": "keras.layers.Bidirectional", "decay": "keras.optimizers.schedules.ExponentialDecay",
                  "adam": "keras.optimizers.Adam"},
        "widgets": {"dense": {"units": 16, "activation": "relu"}, "adam": {"learning_rate": 0.01}},
        "links": [
            (["x", "output"], ["dense", "inputs"], "TENSOR"),
            (["dense", "output"], ["act", "inputs"], "TENSOR"),
            (["dense", "output"], ["cat", "inputs[0]"], "TENSOR"),
            (["act", "output"], ["cat", "inputs[1]"], "TENSOR"),
            (["dense", "output"], ["bi", "layer"], None),
            (["lstm", INSTANCE_OUTPUT], ["bi", "layer"], "MODULE"),
            (["x", "output"], ["bi", "sequences"], "TENSOR"),
            (["dense", "output"], ["adam", "learning_rate (edge)"], None),
            (["decay", "schedule"], ["adam", "learning_rate (edge)"], "SCHEDULE"),
        ],
    },
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[dict[str, Any], Catalog]]:
    """Every (library, format): the loader's summary, and the catalog it came from."""
    out: dict[tuple[str, str], tuple[dict[str, Any], Catalog]] = {}
    folder = tmp_path_factory.mktemp("palettes")
    for library in LIBRARIES:
        catalog = load_catalog(catalog_path_for(library), check_schema=False)
        plan = dict(PLANS[library], links=[{"from": f, "to": t} for f, t, _ in PLANS[library]["links"]])
        plan_path = folder / f"{library}-plan.json"
        plan_path.write_text(json.dumps(plan), encoding="utf-8")
        for fmt, export in (("comfyui", comfyui_object_info), ("litegraph", litegraph_palette)):
            palette_path = folder / f"{library}-{fmt}.json"
            palette_path.write_text(dumps(export(catalog)), encoding="utf-8")
            done = subprocess.run([str(NODE), str(LOADER), str(palette_path), str(plan_path)], capture_output=True,
                                  text=True, timeout=120, check=False)
            assert done.returncode == 0, done.stderr
            out[(library, fmt)] = json.loads(done.stdout), catalog
    return out


CASES = [(lib, fmt) for lib in LIBRARIES for fmt in ("comfyui", "litegraph")]


def run_loader(palette: dict[str, Any], folder: Path) -> dict[str, Any]:
    path = folder / "palette.json"
    path.write_text(json.dumps(palette), encoding="utf-8")
    done = subprocess.run([str(NODE), str(LOADER), str(path)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@needs_node
def test_the_loader_refuses_what_the_front_end_would(tmp_path: Path) -> None:
    """A positive control: broken definitions are reported and not registered."""
    good = comfyui_node(make_node(Arg("k", default=2, schema={"type": "integer"})))
    bad_int = json.loads(json.dumps(good))
    bad_int["input"]["required"]["k"][1]["default"] = "2"
    bad_combo = comfyui_node(make_node(Arg("mode", default="a", schema={"enum": ["a", "b"]})))
    bad_combo["input"]["required"]["mode"][1]["default"] = "c"
    summary = run_loader({"lib.good": {**good, "name": "lib.good"}, "lib.bad_int": {**bad_int, "name": "lib.bad_int"},
                          "lib.bad_combo": {**bad_combo, "name": "lib.bad_combo"}}, tmp_path)
    assert (summary["definitions"], summary["registered"], summary["instantiated"]) == (3, 1, 1)
    assert {p.split(":")[0] for p in summary["problems"]} == {"lib.bad_int", "lib.bad_combo"}
    assert any("lib.bad_int" in p and "k" in p for p in summary["problems"])
    assert any("lib.bad_combo" in p and "mode" in p for p in summary["problems"])


@needs_node
@pytest.mark.parametrize(("library", "fmt"), CASES)
def test_every_node_registers_instantiates_and_round_trips(loaded, library: str, fmt: str) -> None:
    summary, catalog = loaded[(library, fmt)]
    assert summary["editor_library"] == ("@comfyorg/litegraph" if fmt == "comfyui" else "litegraph.js")
    assert summary["problems"] == [] and summary["problem_count"] == 0
    count = len(catalog.nodes)
    assert (summary["definitions"], summary["registered"], summary["instantiated"]) == (count, count, count)
    assert summary["nodes_in_graph"] == summary["nodes_after_configure"] == count
    assert summary["roundtrip_identical"]
    entries = [palette_node(n) for n in catalog.nodes]
    assert summary["widgets"] == sum(isinstance(i, Widget) for e in entries for i in e.inputs)
    assert summary["inputs"] == sum(isinstance(i, Socket) for e in entries for i in e.inputs)
    assert summary["outputs"] == sum(len(e.outputs) for e in entries)
    assert set(summary["widget_kinds"]) == {"number", "combo", "toggle", "text"}
    assert summary["categories"] == len({n.category for n in catalog.nodes})


@needs_node
@pytest.mark.parametrize(("library", "fmt"), CASES)
def test_links_connect_by_matching_type_and_survive_serialization(loaded, library: str, fmt: str) -> None:
    plan = loaded[(library, fmt)][0]["plan"]
    expected = PLANS[library]["links"]
    assert [(link["from"], link["to"], link["type"]) for link in plan["links"]] == \
        [(f, t, kind) for f, t, kind in expected]
    assert all(link["connected"] == (kind is not None) for link, (_, _, kind) in zip(plan["links"], expected))
    made = sum(kind is not None for _, _, kind in expected)
    assert plan["links_in_graph"] == plan["links_after_configure"] == made
    assert plan["nodes_after_configure"] == len(PLANS[library]["nodes"])
    assert plan["roundtrip_identical"]
    for alias, values in PLANS[library]["widgets"].items():
        assert {k: plan["widget_values"][alias][k] for k in values} == values
