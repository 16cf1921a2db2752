"""What `nodecat import` is pointed at: TARGET forms, --input-shape parsing, and the errors of each."""
from __future__ import annotations

import sys
import textwrap

import pytest

from nodecat.executor.graph.errors import GraphError
from nodecat.executor.interop.imported import GraphBuilder, node_id_for, output_names
from nodecat.executor.interop.importer import default_weights_path, import_model
from nodecat.executor.interop.target import InputSpec, call_factory, is_keras_file, load_factory, parse_input_spec, parse_input_specs


def _code(call) -> str:
    with pytest.raises(GraphError) as info:
        call()
    return info.value.problems[0].code


def test_input_spec_parses_shape_dtype_and_open_dims() -> None:
    assert parse_input_spec("x=1,3,224,224") == ("x", InputSpec((1, 3, 224, 224)))
    assert parse_input_spec("tokens=2,16:int64") == ("tokens", InputSpec((2, 16), "int64"))
    name, spec = parse_input_spec("x=?,3,32")
    assert spec.shape == (None, 3, 32)
    assert spec.graph_shape() == [None, 3, 32]  # the batch is always open in the graph
    assert spec.example_shape() == (2, 3, 32)  # traced on batch 2, never the special case 1


@pytest.mark.parametrize("text", ["x", "=1,2", "1x=3", "x=1,a", "x=0,3", "x=", "x=1:int7", "x=" + ",".join("1" * 9)])
def test_bad_input_specs_are_refused(text: str) -> None:
    assert _code(lambda: parse_input_spec(text)) == "bad_input_spec"


def test_the_same_input_twice_is_refused() -> None:
    assert _code(lambda: parse_input_specs(["x=1,2", "x=1,3"])) == "bad_input_spec"


def test_targets_name_a_file_or_module_factory(tmp_path) -> None:
    helper = tmp_path / "helper_mod.py"
    helper.write_text("WIDTH = 5\n")
    source = tmp_path / "models.py"
    source.write_text(textwrap.dedent("""
        import helper_mod  # a neighbour, importable as when the file runs as a script

        def make():
            return helper_mod.WIDTH

        def broken():
            raise RuntimeError("no model today")
    """))
    factory, name = load_factory(f"{source}:make")
    assert (call_factory(factory, name), name) == (5, "make")
    assert str(tmp_path) not in sys.path  # the folder is only on the path while the file loads
    factory, name = load_factory("json:dumps")
    assert name == "dumps" and factory([1]) == "[1]"
    assert _code(lambda: call_factory(*load_factory(f"{source}:broken"))) == "import_failed"


@pytest.mark.parametrize("target, code", [
    ("models.py", "bad_target"),  # no factory named
    ("missing.py:make", "bad_target"),
    ("json:no_such_name", "bad_target"),
    ("no_such_package_xyz.mod:make", "bad_target"),
    ("not a module:make", "bad_target"),
])
def test_bad_targets(target: str, code: str) -> None:
    assert _code(lambda: load_factory(target)) == code


def test_a_file_that_fails_to_run_is_import_failed(tmp_path) -> None:
    source = tmp_path / "bad.py"
    source.write_text("raise ValueError('broken on purpose')\n")
    with pytest.raises(GraphError) as info:
        load_factory(f"{source}:make")
    assert info.value.problems[0].code == "import_failed" and "broken on purpose" in info.value.problems[0].message


def test_keras_files_are_told_apart() -> None:
    assert is_keras_file("models/net.keras") and not is_keras_file("models/net.py:make")


def test_a_factory_returning_something_else_is_refused() -> None:
    assert _code(lambda: import_model(42)) == "bad_target"


def test_node_ids_from_model_names() -> None:
    assert node_id_for("layer1.0.conv1") == "layer1_0_conv1"
    assert node_id_for("0") == "n_0"
    assert node_id_for("forward") == "forward"  # the model's name: only the built module renames its attribute
    assert len(node_id_for("a" * 100)) == 64
    builder = GraphBuilder("g", {"torch": "2.13.0"})
    first, second = builder.add_node("a.b", "input", {"shape": [None, 2]}), builder.add_node("a_b", "input", {"shape": [None, 2]})
    assert (first, second) == ("a_b", "a_b_2")
    assert builder.origins == {"a_b": "a.b", "a_b_2": "a_b"}


def test_builder_checks_the_graph_schema() -> None:
    builder = GraphBuilder("g", {"torch": "2.13.0"})
    builder.add_node("x", "input", {"shape": [None, 2]})
    builder.add_output("output", "x")
    assert builder.graph().outputs[0].name == "output"
    builder.add_edge("x", "nowhere", port="bad port")
    assert _code(builder.graph) == "schema"


def test_output_names_and_default_weights_path(tmp_path) -> None:
    assert output_names(1) == ["output"] and output_names(3) == ["output_0", "output_1", "output_2"]
    assert default_weights_path(tmp_path / "net.json") == tmp_path / "net.safetensors"
