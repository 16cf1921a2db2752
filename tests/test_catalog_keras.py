"""The Keras catalog shows what issue 3 asks: coverage, docstring typing, safety, ports, golden file.

Most tests read one fresh build (session fixture `keras_catalog`); the golden-file test compares it
with the committed catalogs/keras-<version>.json.
"""
from __future__ import annotations

import inspect
from typing import Any

import jsonschema
import keras
import pytest

from nodecat.introspector.build import installed_version
from nodecat.introspector.model import Arg, Catalog, Node
from nodecat.introspector.paths import committed_catalog

KERAS_3_15_LAYER_CLASSES = 163


def public_layer_classes() -> list[str]:
    """Every public keras.layers name that is a Layer subclass, as keras.layers.<Name>."""
    return sorted(f"keras.layers.{name}" for name in dir(keras.layers)
                  if not name.startswith("_") and inspect.isclass(getattr(keras.layers, name))
                  and issubclass(getattr(keras.layers, name), keras.layers.Layer))


def layer_nodes(catalog: Catalog) -> list[Node]:
    return [n for n in catalog.nodes if n.id.startswith("keras.layers.") and n.kind == "layer"]


def layer_args(catalog: Catalog) -> list[tuple[Node, Arg]]:
    """Constructor and call arguments of keras.layers nodes, without the hidden `training` flag."""
    return [(n, a) for n in layer_nodes(catalog) for a in n.args if not a.hidden]


def _schema_kinds(schema: dict[str, Any] | None) -> set[str]:
    if not schema:
        return set()
    kinds = {schema["x-nodecat"]} if "x-nodecat" in schema else set()
    for member in schema.get("anyOf", ()):
        kinds |= _schema_kinds(member)
    return kinds


# --- coverage -------------------------------------------------------------------------------

def test_keras_layers_exports_the_expected_classes() -> None:
    classes = public_layer_classes()
    if keras.__version__ == "3.15.1":
        assert len(classes) == KERAS_3_15_LAYER_CLASSES
    assert "keras.layers.Conv2D" in classes and "keras.layers.Convolution2D" in classes


def test_every_layer_class_is_a_node_an_alias_or_excluded_with_a_reason(keras_catalog: Catalog) -> None:
    excluded = {e.id: e for e in keras_catalog.excluded}
    unaccounted = [name for name in public_layer_classes()
                   if keras_catalog.find(name) is None and name not in excluded]
    assert unaccounted == []
    for name in public_layer_classes():
        if name in excluded:
            assert excluded[name].code and len(excluded[name].reason) > 10


def test_at_least_90_percent_of_layer_classes_are_usable_or_aliases(keras_catalog: Catalog) -> None:
    classes = public_layer_classes()
    usable = [name for name in classes if keras_catalog.find(name) is not None]
    aliases = [name for name in usable if keras_catalog.find(name).id != name]
    print(f"\nkeras.layers classes: {len(classes)}; usable: {len(usable)} ({len(aliases)} of them aliases); "
          f"left out: {sorted(set(classes) - set(usable))}")
    assert len(usable) >= 0.9 * len(classes)
    assert len(aliases) >= 15


def test_aliases_point_at_the_class_name_not_the_short_form(keras_catalog: Catalog) -> None:
    conv = keras_catalog.find("keras.layers.Convolution2D")
    pool = keras_catalog.find("keras.layers.MaxPool2D")
    assert conv is not None and conv.id == "keras.layers.Conv2D"
    assert pool is not None and pool.id == "keras.layers.MaxPooling2D"  # the class's own name wins
    assert "keras.layers.MaxPool2D" in pool.aliases


def test_at_least_300_keras_ops(keras_catalog: Catalog) -> None:
    ops = [n for n in keras_catalog.nodes if n.id.startswith("keras.ops.")]
    print(f"\nkeras.ops nodes: {len(ops)}")
    assert len(ops) >= 300
    assert {"keras.ops.conv", "keras.ops.matmul", "keras.ops.softmax", "keras.ops.image.resize"} <= {
        n.id for n in ops}


def test_every_namespace_the_issue_names_is_crawled(keras_catalog: Catalog) -> None:
    kinds = {}
    for node in keras_catalog.nodes:
        kinds.setdefault(node.id.rsplit(".", 1)[0], set()).add(node.kind)
    assert {"layer"} <= kinds["keras.layers"]
    assert "function" in kinds["keras.activations"]
    assert {"loss", "function"} <= kinds["keras.losses"]
    assert {"metric"} <= kinds["keras.metrics"]
    assert kinds["keras.optimizers"] == {"optimizer"}
    assert kinds["keras.optimizers.schedules"] == {"scheduler"}


def test_no_internal_keras_src_path_is_an_id_or_alias(keras_catalog: Catalog) -> None:
    names = [name for node in keras_catalog.nodes for name in (node.id, *node.aliases)]
    names += [e.id for e in keras_catalog.excluded]
    assert [n for n in names if n.startswith("keras.src")] == []
    assert all(n.startswith("keras.") for n in names)


# --- safety ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"])
def test_layers_that_run_code_or_load_files_are_excluded_as_unsafe(keras_catalog: Catalog, name: str) -> None:
    excluded = {e.id: e for e in keras_catalog.excluded}
    assert keras_catalog.find(f"keras.layers.{name}") is None
    assert excluded[f"keras.layers.{name}"].code == "unsafe"


def test_control_flow_ops_that_take_functions_are_excluded(keras_catalog: Catalog) -> None:
    excluded = {e.id: e for e in keras_catalog.excluded}
    for name in ("cond", "while_loop", "scan", "vectorized_map"):
        assert excluded[f"keras.ops.{name}"].code == "unsafe"


def test_no_catalog_schema_accepts_a_callable_or_a_file_path(keras_catalog: Catalog) -> None:
    """An argument that only takes a Python callable or a path is unsupported, never typed as a string."""
    for node in keras_catalog.nodes:
        for arg in node.args:
            if arg.typed and arg.phrase:
                phrase = arg.phrase.lower()
                assert "callable" not in phrase or "x-nodecat" in str(arg.schema) or "enum" in str(arg.schema), \
                    (node.id, arg.name, arg.phrase)
                assert "path" not in phrase.split(",")[0] or arg.source == "override", (node.id, arg.name)


# --- typing ---------------------------------------------------------------------------------

def test_at_least_80_percent_of_layer_arguments_are_typed_from_docstrings(keras_catalog: Catalog) -> None:
    args = layer_args(keras_catalog)
    from_docstrings = [a for _, a in args if a.source == "docstring"
                       or (a.source == "override" and a.auto_source == "docstring")]
    automatic = [a for _, a in args if a.typed_automatically]
    typed = [a for _, a in args if a.typed]
    print(f"\nkeras.layers arguments: {len(args)}; from docstrings: {len(from_docstrings)} "
          f"({len(from_docstrings) / len(args):.1%}); automatic (any source): {len(automatic) / len(args):.1%}; "
          f"after overrides: {len(typed) / len(args):.1%}")
    assert len(from_docstrings) >= 0.80 * len(args)


def test_at_least_98_percent_of_layer_arguments_are_typed_after_overrides(keras_catalog: Catalog) -> None:
    args = layer_args(keras_catalog)
    untyped = [f"{n.id}.{a.name}: {a.unsupported}" for n, a in args if not a.typed]
    assert len(untyped) <= 0.02 * len(args), untyped


def test_docstring_types_keep_the_phrase_they_came_from(keras_catalog: Catalog) -> None:
    conv = keras_catalog.find("keras.layers.Conv2D")
    kernel_size = conv.arg("kernel_size")
    assert kernel_size.source == "docstring"
    assert kernel_size.phrase.startswith("int or tuple/list of 2 integer")
    assert {"type": "integer", "minimum": 1} in kernel_size.schema["anyOf"]
    pair = next(s for s in kernel_size.schema["anyOf"] if s.get("type") == "array")
    assert pair["minItems"] == pair["maxItems"] == 2
    assert kernel_size.provenance == {"minimum": "convention"}  # a size: from its name, not the prose
    padding = conv.arg("padding")
    assert padding.source == "docstring" and set(padding.schema["enum"]) == {"valid", "same"}


def test_ranges_come_from_prose(keras_catalog: Catalog) -> None:
    rate = keras_catalog.find("keras.layers.Dropout").arg("rate")
    assert rate.source == "docstring"
    jsonschema.validate(0.5, rate.schema)
    for bad in (-0.1, 1.5):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, rate.schema)


def test_initializers_regularizers_constraints_and_activations_are_named_choices(keras_catalog: Catalog) -> None:
    dense = keras_catalog.find("keras.layers.Dense")
    expectations = {"kernel_initializer": ("initializer", "glorot_uniform"), "bias_regularizer": ("regularizer", "l2"),
                    "kernel_constraint": ("constraint", "max_norm"), "activation": ("activation", "relu")}
    for name, (kind, choice) in expectations.items():
        arg = dense.arg(name)
        assert kind in _schema_kinds(arg.schema), (name, arg.schema)
        jsonschema.validate(choice, arg.schema)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate("os.system", arg.schema)
    # a parameterised choice is a Keras config object naming a registered class
    jsonschema.validate({"class_name": "L2", "config": {"l2": 1e-4}}, dense.arg("kernel_regularizer").schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"class_name": "Lambda", "config": {}}, dense.arg("kernel_regularizer").schema)
    # None stays allowed where it is the default
    jsonschema.validate(None, dense.arg("activation").schema)


def test_every_schema_in_the_catalog_is_valid_json_schema(keras_catalog: Catalog) -> None:
    for node in keras_catalog.nodes:
        for arg in node.args:
            if arg.schema is not None:
                jsonschema.Draft202012Validator.check_schema(arg.schema)


# --- ports and call options -----------------------------------------------------------------

def test_merge_layers_take_any_number_of_inputs(keras_catalog: Catalog) -> None:
    for name in ("Add", "Concatenate", "Multiply", "Average", "Maximum", "Minimum"):
        (port,) = keras_catalog.find(f"keras.layers.{name}").inputs
        assert port.conns is None and port.type == "tensor", name
    (port,) = keras_catalog.find("keras.layers.Subtract").inputs
    assert port.conns == 2


def test_wrappers_take_their_layer_from_an_edge(keras_catalog: Catalog) -> None:
    for name in ("Bidirectional", "TimeDistributed"):
        arg = keras_catalog.find(f"keras.layers.{name}").arg("layer")
        assert arg.required and arg.accepts_edge and "module" in _schema_kinds(arg.schema), (name, arg)


def test_ports_come_from_call(keras_catalog: Catalog) -> None:
    mha = keras_catalog.find("keras.layers.MultiHeadAttention")
    ports = {p.name: p for p in mha.inputs}
    assert ports["query"].required and ports["value"].required and not ports["key"].required
    assert mha.arg("training").hidden and mha.arg("training").stage == "apply"
    dense = keras_catalog.find("keras.layers.Dense")
    assert [p.name for p in dense.inputs] == ["inputs"]
    assert dense.call == {"instantiate": True, "apply": True, "copy": False}


def test_optimizers_take_a_schedule_for_their_learning_rate(keras_catalog: Catalog) -> None:
    adam = keras_catalog.find("keras.optimizers.Adam")
    assert adam.inputs == () and [o.type for o in adam.outputs] == ["optimizer"]
    lr = adam.arg("learning_rate")
    assert lr.accepts_edge and "schedule" in _schema_kinds(lr.schema)
    jsonschema.validate(0.001, lr.schema)
    schedule = keras_catalog.find("keras.optimizers.schedules.ExponentialDecay")
    assert [o.type for o in schedule.outputs] == ["schedule"] and schedule.call["apply"] is False


def test_losses_and_metrics_take_targets_and_predictions(keras_catalog: Catalog) -> None:
    for node_id in ("keras.losses.CategoricalCrossentropy", "keras.metrics.AUC", "keras.losses.mean_squared_error"):
        node = keras_catalog.find(node_id)
        required = [p.name for p in node.inputs if p.required]
        assert required == ["y_true", "y_pred"], node_id


# --- the file -------------------------------------------------------------------------------

def test_committed_catalog_is_byte_identical_to_a_fresh_build(keras_text: str) -> None:
    path = committed_catalog("keras", installed_version("keras"))
    assert path.exists(), f"{path} is missing: run `nodecat catalog build keras`"
    assert path.read_text(encoding="utf-8") == keras_text


def test_catalog_records_the_version_and_backend_independence(keras_catalog: Catalog) -> None:
    assert keras_catalog.version == keras.__version__
    assert any("backend" in note for note in keras_catalog.notes)
