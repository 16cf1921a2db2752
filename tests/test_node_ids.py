"""Node ids are the user's names: `meta`, `input`, `type`, `train`, `to`, `class` are ids like any other.

Only the generated code mangles them: the built torch module's attributes and forward parameters,
and the exported Python's attributes and variables. Everything the user sees keeps the id: graph
inputs and outputs, errors, weights (`<id>.<param>`), the state dict, imported graphs' inputs.
"""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # as nodecat does; before anything imports keras

import numpy as np  # noqa: E402
import torch  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from helpers import TORCH_VERSION  # noqa: E402
from safetensors.numpy import load_file, save_file  # noqa: E402

from nodecat.executor import api  # noqa: E402
from nodecat.executor.cli.main import main  # noqa: E402
from nodecat.executor.graph.errors import GraphError  # noqa: E402
from nodecat.executor.graph.load import graph_from_document  # noqa: E402
from nodecat.executor.graph.vocabulary import RESERVED_IDS  # noqa: E402
from nodecat.executor.interop.export import python_source  # noqa: E402

# Ids that are attributes of every nn.Module or GraphModule, Python keywords, builtins, fx globals,
# and an id that is what the mangled name of another would be (`train_`).
IDS = ("meta", "input", "type", "train", "train_", "float", "to", "class", "torch", "self")


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def shadowing_graph() -> dict[str, Any]:
    """Two inputs (`input`, `class`), a chain of layers and a constant named after module attributes."""
    linear = {"op": "torch.nn.Linear", "args": {"in_features": 4, "out_features": 4}}
    return {
        "format": "nodecat-graph/1", "catalogs": {"torch": TORCH_VERSION},
        "nodes": [
            {"id": "input", "op": "input", "args": {"shape": [None, 4]}},
            {"id": "class", "op": "input", "args": {"shape": [None, 4]}},
            {"id": "meta", "op": "constant", "args": {"value": [1.0, 2.0, 3.0, 4.0]}},
            {"id": "train", **linear}, {"id": "train_", **linear}, {"id": "to", **linear},
            {"id": "type", "op": "torch.add"}, {"id": "float", "op": "torch.mul"},
            {"id": "self", "op": "torch.nn.ReLU"}, {"id": "torch", "op": "torch.nn.ReLU"},
        ],
        "edges": [
            {"from": {"node": "input", "port": "output"}, "to": {"node": "train", "port": "input"}},
            {"from": {"node": "train", "port": "output"}, "to": {"node": "train_", "port": "input"}},
            {"from": {"node": "train_", "port": "output"}, "to": {"node": "torch", "port": "input"}},
            {"from": {"node": "torch", "port": "output"}, "to": {"node": "type", "port": "input"}},
            {"from": {"node": "class", "port": "output"}, "to": {"node": "type", "port": "other"}},
            {"from": {"node": "type", "port": "output"}, "to": {"node": "float", "port": "input"}},
            {"from": {"node": "meta", "port": "output"}, "to": {"node": "float", "port": "other"}},
            {"from": {"node": "float", "port": "output"}, "to": {"node": "to", "port": "input"}},
            {"from": {"node": "to", "port": "output"}, "to": {"node": "self", "port": "input"}},
        ],
        "outputs": [{"name": "forward", "node": "self"}, {"name": "state_dict", "node": "train"}],
    }


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    generator = np.random.default_rng(seed)
    return {name: generator.standard_normal((3, 4)).astype(np.float32) for name in ("input", "class")}


def _by_hand(weights: dict[str, np.ndarray], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    def linear(name: str, x: np.ndarray) -> np.ndarray:
        return x @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]
    train = linear("train", arrays["input"])
    mixed = (np.maximum(linear("train_", train), 0) + arrays["class"]) * weights["meta"]
    return {"forward": np.maximum(linear("to", mixed), 0), "state_dict": train}


def test_attribute_and_keyword_ids_are_valid() -> None:
    checked = api.validate(graph_from_document(shadowing_graph()))
    assert [n.id for n in checked.inputs] == ["input", "class"]
    assert set(IDS) <= {n.id for n in checked.order}


def test_built_module_keeps_ids_in_its_state_dict_and_runs(tmp_path: Path) -> None:
    from nodecat.executor.build.weights import load_weights, save_weights
    checked = api.validate(graph_from_document(shadowing_graph()))
    model = api.build(checked, "cpu")
    state = model.state_dict()
    assert sorted(state) == sorted(["meta", *(f"{n}.{p}" for n in ("train", "train_", "to") for p in ("weight", "bias"))])
    assert model.input_names == ["input", "class"] and model.output_names == ["forward", "state_dict"]
    assert callable(model.train) and callable(model.to) and callable(model.float)  # nn.Module's own, not shadowed
    model.train(False)
    arrays = _arrays()
    path = tmp_path / "weights.safetensors"
    save_weights(model, path)
    weights = load_file(str(path))
    assert set(weights) == set(state)
    got = api.run(checked, arrays, weights=path, device="cpu")
    for name, want in _by_hand(weights, arrays).items():
        np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-5)
    again = api.build(checked, "cpu")
    load_weights(again, path)  # weights named by id load into a module whose attributes are mangled
    assert all(torch.equal(again.state_dict()[k], v) for k, v in model.state_dict().items())
    model.load_state_dict(again.state_dict(), strict=True)
    moved = model.to(torch.float64)  # `to` is still nn.Module.to
    assert moved.state_dict()["train.weight"].dtype == torch.float64


def test_missing_weights_are_reported_by_id(tmp_path: Path) -> None:
    checked = api.validate(graph_from_document(shadowing_graph()))
    model = api.build(checked, "cpu")
    arrays = {k: v.detach().numpy() for k, v in model.state_dict().items() if k != "train.bias"}
    path = tmp_path / "partial.safetensors"
    save_file(arrays, str(path))
    with pytest.raises(GraphError) as caught:
        api.build(checked, "cpu", weights=path)
    assert caught.value.code == "bad_weights" and "missing: train.bias" in caught.value.problems[0].message


def test_run_command_takes_inputs_by_id(tmp_path: Path) -> None:
    graph = tmp_path / "graph.json"
    graph.write_text(json.dumps(shadowing_graph()), encoding="utf-8")
    arrays = _arrays(1)
    for name, array in arrays.items():
        np.save(tmp_path / f"{name}.npy", array)
    weights = tmp_path / "w.safetensors"
    result = _invoke("run", str(graph), "--input", f"input={tmp_path / 'input.npy'}",
                     "--input", f"class={tmp_path / 'class.npy'}", "--save-weights", str(weights),
                     "--out", str(tmp_path / "out"), "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.output)["outputs"]) == {"forward", "state_dict"}
    want = _by_hand(load_file(str(weights)), arrays)
    np.testing.assert_allclose(np.load(tmp_path / "out" / "forward.npy"), want["forward"], rtol=1e-5, atol=1e-5)


def test_exported_python_mangles_attributes_and_loads_the_executors_weights(tmp_path: Path) -> None:
    import importlib.util
    checked = api.validate(graph_from_document(shadowing_graph()))
    source = python_source(checked)
    compile(source, "shadowing.py", "exec")
    assert "self.to = " not in source and "self.train = " not in source and "self.float" not in source
    assert "self.train_ = " in source  # a legal id that shadows nothing keeps its name
    path = tmp_path / "shadowing.py"
    path.write_text(source, encoding="utf-8")
    model = api.build(checked, "cpu")
    weights = tmp_path / "weights.safetensors"
    from nodecat.executor.build.weights import save_weights
    save_weights(model, weights)
    spec = importlib.util.spec_from_file_location("nodecat_exported_shadowing", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exported = module.load(str(weights))
    assert sorted(exported.state_dict()) == sorted(model.state_dict())
    arrays = _arrays(2)
    exported.eval()
    with torch.no_grad():
        got = exported(*(torch.from_numpy(arrays[n]) for n in ("input", "class")))
    want = api.run(checked, arrays, weights=weights, device="cpu")
    np.testing.assert_allclose(got[0].numpy(), want["forward"], rtol=1e-5, atol=1e-5)
    ruff = Path(os.sys.executable).with_name("ruff")
    if ruff.exists():
        import subprocess
        done = subprocess.run([str(ruff), "check", "--isolated", "--no-cache", "--quiet", str(path)],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_reserved_ids_stay_the_list_of_names_the_build_mangles() -> None:
    assert {"meta", "train", "to", "float", "type", "class"} <= RESERVED_IDS
    assert "input" not in RESERVED_IDS  # a builtin, not a module attribute: an attribute may be named so


# -- importers keep the model's names -----------------------------------------------------------------
KERAS_MODEL = '''
import keras

def make():
    meta = keras.Input(shape=(3,), name="meta")
    train = keras.Input(shape=(3,), name="train")
    joined = keras.layers.Concatenate(name="to")([meta, train])
    out = keras.layers.Dense(2, name="float")(joined)
    return keras.Model([meta, train], out, name="shadows")
'''

TORCH_MODEL = '''
import torch
from torch import nn

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.train_layer = nn.Linear(3, 2)

    def forward(self, input, type):
        return self.train_layer(input) * type

def make():
    torch.manual_seed(0)
    return Model()
'''


def _import_and_run(tmp_path: Path, source: str, shapes: list[str], arrays: dict[str, np.ndarray]) -> tuple[dict, np.ndarray]:
    factory = tmp_path / "models_under_test.py"
    factory.write_text(textwrap.dedent(source), encoding="utf-8")
    graph = tmp_path / "imported.json"
    shape_args = [arg for shape in shapes for arg in ("--input-shape", shape)]
    result = _invoke("import", f"{factory}:make", "--out", str(graph), *shape_args, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    input_args = []
    for name, array in arrays.items():
        np.save(tmp_path / f"{name}.npy", array)
        input_args += ["--input", f"{name}={tmp_path / f'{name}.npy'}"]
    out = tmp_path / "out"
    ran = _invoke("run", str(graph), "--weights", summary["weights"], *input_args, "--out", str(out),
                  "--device", "cpu")
    assert ran.exit_code == 0, ran.output
    return summary, np.load(out / "output.npy")


def test_keras_input_named_meta_imports_and_runs_as_meta(tmp_path: Path) -> None:
    import keras
    arrays = {"meta": np.ones((2, 3), np.float32), "train": np.arange(6, dtype=np.float32).reshape(2, 3)}
    summary, got = _import_and_run(tmp_path, KERAS_MODEL, [], arrays)
    assert summary["inputs"] == ["meta", "train"]
    document = json.loads((tmp_path / "imported.json").read_text(encoding="utf-8"))
    assert {n["id"] for n in document["nodes"]} >= {"meta", "train", "to", "float"}
    assert set(load_file(summary["weights"])) == {"float.kernel", "float.bias"}
    import importlib.util
    spec = importlib.util.spec_from_file_location("models_under_test_k", tmp_path / "models_under_test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.make()
    weights = load_file(summary["weights"])
    model.get_layer("float").set_weights([weights["float.kernel"], weights["float.bias"]])
    want = keras.ops.convert_to_numpy(model([arrays["meta"], arrays["train"]]))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_torch_forward_input_and_type_import_and_run_by_name(tmp_path: Path) -> None:
    arrays = {"input": np.ones((2, 3), np.float32), "type": np.full((2, 2), 2.0, np.float32)}
    summary, got = _import_and_run(tmp_path, TORCH_MODEL, ["input=1,3", "type=1,2"], arrays)
    assert summary["inputs"] == ["input", "type"]
    import importlib.util
    spec = importlib.util.spec_from_file_location("models_under_test_t", tmp_path / "models_under_test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.make()
    with torch.no_grad():
        want = model(torch.from_numpy(arrays["input"]), torch.from_numpy(arrays["type"])).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
