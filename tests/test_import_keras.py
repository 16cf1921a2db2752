"""Keras models imported into graphs compute what the models compute, and `.keras` files that name
code are refused before Keras reads them.

Each model of examples/models/keras_zoo.py is imported once per module (the applications models are
the slow part), its weights saved as safetensors, and the graph run by the executor against the
model itself at a batch of 3. Hostile `.keras` files are rewritten copies of a real one: a config
naming `os.system`, a module that writes a marker when imported, and a Lambda whose code writes a
marker; each is refused, and positive controls show the markers would appear.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
from safetensors.numpy import save_file

from nodecat.executor import api
from nodecat.executor.graph.errors import GraphError
from nodecat.executor.interop.imported import ImportResult
from nodecat.executor.interop.keras_import import import_keras, import_keras_file
from nodecat.executor.interop.target import load_factory
from nodecat.executor.graph.load import parse_graph
from nodecat.executor.build.weights import keras_weight_name

ZOO = Path(__file__).resolve().parents[1] / "examples" / "models" / "keras_zoo.py"
MODELS = ["mobilenet_small", "resnet50_small", "two_tower", "bilstm_tagger", "sequential_mlp"]
BATCH = 3
TOLERANCE = 1e-5


def make_model(name: str) -> keras.Model:
    factory, _ = load_factory(f"{ZOO}:{name}")
    return factory()


def example_inputs(model: keras.Model) -> list[np.ndarray]:
    """A batch of 3 per model input; token inputs end in padding (0), so masks matter."""
    rng = np.random.default_rng(7)
    arrays = []
    for tensor in model.inputs:
        shape = (BATCH, *tensor.shape[1:])
        if "int" in str(tensor.dtype):
            tokens = rng.integers(1, 50, shape).astype("int32")
            tokens[:, -4:] = 0
            arrays.append(tokens)
        else:
            arrays.append(rng.normal(size=shape).astype("float32"))
    return arrays


def graph_inputs(result: ImportResult, model: keras.Model, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays by the graph's input ids (the input layers' names, made valid ids)."""
    by_origin = {origin: node_id for node_id, origin in result.origins.items()}
    layers = [tensor._keras_history.operation.name for tensor in model.inputs]  # the InputLayer of each
    return {by_origin[layer]: array for layer, array in zip(layers, arrays)}


def max_differences(result: ImportResult, model: keras.Model, weights: Path) -> list[float]:
    arrays = example_inputs(model)
    got = api.run(result.graph, graph_inputs(result, model, arrays), weights=weights, device="cpu")
    expected = keras.tree.flatten(model(arrays if len(arrays) > 1 else arrays[0], training=False))
    assert list(got) == [o.name for o in result.graph.outputs]
    return [float(np.max(np.abs(api.to_numpy(e) - g))) for e, g in zip(expected, got.values())]


def save_model(model: keras.Model, path: Path) -> None:
    """model.save, without the numpy 2 DeprecationWarning Keras' torch backend raises while saving."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        model.save(path)


class Imported:
    def __init__(self, model: keras.Model, result: ImportResult, seconds: float):
        self.model, self.result, self.seconds = model, result, seconds


@pytest.fixture(scope="module")
def imported() -> dict[str, Imported]:
    found = {}
    for name in MODELS:
        model = make_model(name)
        start = time.perf_counter()
        result = import_keras(model)
        found[name] = Imported(model, result, time.perf_counter() - start)
    return found


@pytest.fixture(scope="module")
def saved_two_tower(tmp_path_factory: pytest.TempPathFactory) -> tuple[keras.Model, Path]:
    model = make_model("two_tower")
    path = tmp_path_factory.mktemp("keras") / "two_tower.keras"
    save_model(model, path)
    return model, path


# -- models compute the same ----------------------------------------------------------------------
@pytest.mark.parametrize("name", MODELS)
def test_imported_graph_computes_what_the_model_computes(name: str, imported: dict[str, Imported],
                                                         tmp_path: Path) -> None:
    entry = imported[name]
    weights = tmp_path / "weights.safetensors"
    save_file(entry.result.weights, str(weights))
    differences = max_differences(entry.result, entry.model, weights)
    print(f"{name}: import {entry.seconds:.2f} s, max differences {differences}")
    assert len(differences) == len(entry.model.outputs)
    assert max(differences) <= TOLERANCE


@pytest.mark.parametrize("name", MODELS)
def test_imported_graph_round_trips_through_json_text(name: str, imported: dict[str, Imported]) -> None:
    graph = imported[name].result.graph
    text = json.dumps(graph.to_json(), indent=1)
    again = parse_graph(text)
    assert again == graph
    assert json.dumps(again.to_json(), indent=1) == text


@pytest.mark.parametrize("name", MODELS)
def test_weights_are_named_as_the_executor_builds_them(name: str, imported: dict[str, Imported]) -> None:
    result = imported[name].result
    built = api.build(result.graph, device="cpu", budget=None)
    assert {keras_weight_name(v): tuple(v.shape) for v in built.weights} == \
           {k: tuple(v.shape) for k, v in result.weights.items()}
    assert sum(a.size for a in result.weights.values()) == imported[name].model.count_params()


def test_two_tower_maps_ops_constants_and_several_inputs_and_outputs(imported: dict[str, Imported]) -> None:
    result = imported["two_tower"].result
    # Keras numbers op names per process (multiply, multiply_1, ...): find the nodes by op
    by_op = {n.op: n.id for n in result.graph.nodes}
    multiply = by_op["keras.ops.multiply"]
    assert "keras.ops.transpose" in by_op
    constants = [n.id for n in result.graph.nodes if n.op == "constant"]
    assert len(constants) == 1 and (constants[0], multiply) in {(e.source, e.target) for e in result.graph.edges}
    assert [n.id for n in result.graph.nodes if n.op == "input"] == ["image", "features"]
    assert [(o.name, o.node) for o in result.graph.outputs] == [("output_0", "classes"), ("output_1", "value")]
    merged = [e.source for e in result.graph.edges if e.target == "merge"]
    assert merged == ["gap", multiply]  # edge order is the Concatenate's input order
    assert result.graph.catalogs == {"keras": keras.__version__}
    value = next(n for n in result.graph.nodes if n.id == "value")
    assert value.args["kernel_initializer"] == "random_normal"  # the seed is dropped, and said so
    assert [(n.node, "seed 3" in n.message) for n in result.notes] == [("value", True)]


def test_bilstm_hands_its_layers_to_the_wrappers(imported: dict[str, Imported]) -> None:
    graph = imported["bilstm_tagger"].result.graph
    handed = {(e.source, e.target, e.target_arg) for e in graph.edges if e.source_port is None}
    assert handed == {("lstm", "bilstm", "layer"), ("tag", "per_token", "layer")}
    assert not [n for n in graph.nodes if n.op == "keras.ops.not_equal"]  # Keras re-derives the mask


def test_tensor_call_arguments_and_named_outputs(tmp_path: Path) -> None:
    x = keras.Input(shape=(6,), name="x")
    clipped = keras.ops.where(keras.ops.greater(x, 0.5), x, 0.0)  # condition: a call argument fed by an edge
    model = keras.Model(x, {"scores": keras.layers.Dense(3, name="scores")(clipped), "raw": clipped})
    result = import_keras(model)
    assert {(e.source, e.target_arg) for e in result.graph.edges if e.target_arg} == {("greater", "condition")}
    assert [n.message for n in result.notes] == ["graph output output_0 is the model's output 'raw'",
                                                 "graph output output_1 is the model's output 'scores'"]
    weights = tmp_path / "weights.safetensors"
    save_file(result.weights, str(weights))
    assert max(max_differences(result, model, weights)) <= TOLERANCE


# -- .keras files ------------------------------------------------------------------------------------
def test_keras_file_imports_and_computes_the_same(saved_two_tower: tuple[keras.Model, Path], tmp_path: Path) -> None:
    model, path = saved_two_tower
    result = import_keras_file(path)
    assert result.graph.name == "two_tower"
    weights = tmp_path / "weights.safetensors"
    save_file(result.weights, str(weights))
    assert max(max_differences(result, model, weights)) <= TOLERANCE


def rewrite_config(source: Path, target: Path, change: Any) -> Path:
    """A copy of a .keras archive whose config.json `change` edits (the weights stay)."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def refused_calls(path: Path) -> set[tuple[str, str]]:
    with pytest.raises(GraphError) as caught:
        import_keras_file(path)
    assert {p.code for p in caught.value.problems} == {"unmappable_call"}
    return {(p.node, p.message.split(":", 1)[0]) for p in caught.value.problems}


def test_config_naming_os_system_is_refused_and_nothing_runs(saved_two_tower: tuple[keras.Model, Path],
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "system-was-called"
    monkeypatch.setattr(os, "system", lambda command: marker.write_text(command) or 0)
    evil = {"module": "os", "class_name": "system", "config": {"command": "echo pwned"}, "registered_name": None}

    def change(config: dict[str, Any]) -> None:
        dense = next(layer for layer in config["config"]["layers"] if layer["name"] == "hidden")
        dense["config"]["kernel_initializer"] = evil
    path = rewrite_config(saved_two_tower[1], tmp_path / "evil.keras", change)
    assert refused_calls(path) == {("hidden", "os.system")}
    assert not marker.exists()
    os.system("positive control")  # the patched function does write the marker
    assert marker.exists()


def test_config_naming_an_outside_module_is_refused_before_it_is_imported(
        saved_two_tower: tuple[keras.Model, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "module-was-imported"
    (tmp_path / "nodecat_probe_payload.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Boom: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "nodecat_probe_payload", raising=False)

    def change(config: dict[str, Any]) -> None:
        config["config"]["layers"].append({"module": "nodecat_probe_payload", "class_name": "Boom", "config": {},
                                           "registered_name": None, "name": "boom", "inbound_nodes": []})
    path = rewrite_config(saved_two_tower[1], tmp_path / "evil.keras", change)
    assert refused_calls(path) == {("boom", "nodecat_probe_payload.Boom")}
    assert "nodecat_probe_payload" not in sys.modules and not marker.exists()
    importlib.import_module("nodecat_probe_payload")  # positive control: importing it leaves the marker
    assert marker.exists()


def test_lambda_with_code_is_refused_and_its_code_never_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "lambda-ran"
    # the marker's path is a constant of the lambda's own bytecode, which Keras saves with the model
    (tmp_path / "nodecat_lambda_payload.py").write_text(f"touch = lambda t: (open({str(marker)!r}, 'a').close(), t)[1]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    payload = importlib.import_module("nodecat_lambda_payload")
    monkeypatch.delitem(sys.modules, "nodecat_lambda_payload")
    x = keras.Input(shape=(4,), name="x")
    y = keras.layers.Lambda(payload.touch, name="payload")(x)
    path = tmp_path / "lambda.keras"
    save_model(keras.Model(x, keras.layers.Dense(2, name="head")(y)), path)
    marker.unlink()  # building the model ran the lambda once
    assert refused_calls(path) == {("payload", "keras.layers.Lambda"), ("payload", "__lambda__")}
    assert not marker.exists()
    keras.saving.load_model(path, safe_mode=False)  # positive control: Keras' unsafe load runs the file's code
    assert marker.exists()


@pytest.mark.parametrize("content, why", [(None, "does not exist"), (b"not a zip", "not a readable zip"),
                                          ("no-config", "has no config.json"), ("duplicate", "not strict JSON")])
def test_unreadable_keras_files_are_bad_targets(content: Any, why: str, tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        with zipfile.ZipFile(path, "w") as archive:
            if content == "duplicate":
                archive.writestr("config.json", '{"config": {}, "config": {"layers": []}}')
            else:
                archive.writestr("metadata.json", "{}")
    with pytest.raises(GraphError) as caught:
        import_keras_file(path)
    assert caught.value.code == "bad_target" and why in str(caught.value)


# -- what cannot be imported -----------------------------------------------------------------------
def test_unmappable_model_reports_every_call() -> None:
    model = make_model("unmappable_model")
    with pytest.raises(GraphError) as caught:
        import_keras(model)
    problems = {p.node: p for p in caught.value.problems}
    assert {p.code for p in problems.values()} == {"unmappable_call"}
    assert set(problems) == {"plus_one", "scale", "shared"}
    assert problems["plus_one"].message.startswith("keras.layers.Lambda: excluded from the catalog (unsafe)")
    assert problems["scale"].message.endswith("only catalog layers can be graph nodes")
    assert ".Scale: layer class" in problems["scale"].message
    assert "called 2 times" in problems["shared"].message


def test_unmappable_model_file_is_refused_before_loading(tmp_path: Path) -> None:
    path = tmp_path / "unmappable.keras"
    save_model(make_model("unmappable_model"), path)
    calls = refused_calls(path)
    assert ("plus_one", "keras.layers.Lambda") in calls and ("plus_one", "__lambda__") in calls
    assert any(node == "scale" and call.endswith(".Scale") for node, call in calls)


def test_subclassed_and_unbuilt_models_are_refused() -> None:
    class Doubler(keras.Model):
        def call(self, inputs: Any) -> Any:
            return inputs * 2

    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    for model, words in ((Doubler(), "subclassed model"), (unbuilt, "without a known input shape")):
        with pytest.raises(GraphError) as caught:
            import_keras(model)
        assert caught.value.code == "unmappable_call" and words in str(caught.value)
        assert "only functional and Sequential models" in str(caught.value)


def test_a_second_output_of_a_layer_is_reported() -> None:
    sequence = keras.Input(shape=(5, 3), name="sequence")
    _, state, _ = keras.layers.LSTM(4, return_state=True, name="lstm")(sequence)
    with pytest.raises(GraphError) as caught:
        import_keras(keras.Model(sequence, state))
    assert caught.value.node == "lstm" and "returns 3 tensors" in str(caught.value)
