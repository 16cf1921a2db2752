"""Round trips through the CLI on architectures defined outside nodecat (examples/models/):
`nodecat import` -> `nodecat run` matches the original model, and `nodecat export --to python` of
the imported graph gives source that passes ruff and matches as well; an unmappable model is
reported call by call and nothing is written."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from nodecat.executor import api
from nodecat.executor.cli.main import main
from nodecat.executor.interop.target import call_factory, load_factory, parse_input_specs

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "examples" / "models"
BATCH = 3  # the importer traces on batch 2: running on 3 proves the batch stays open
TOLERANCE = 1e-5

TORCH_MODELS = ["resnet18_cifar", "mobilenet_v2_small", "lstm_classifier", "gru_tagger", "transformer_encoder"]
KERAS_MODELS = ["mobilenet_small", "two_tower", "bilstm_tagger"]


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(main, [*args, "--json"])
    return result.exit_code, json.loads(result.output)


def _factory(library: str, name: str) -> Any:
    factory, _ = load_factory(f"{ZOO / f'{library}_zoo.py'}:{name}")
    return factory


def _torch_specs(name: str) -> list[str]:
    table = sys.modules[_factory("torch", name).__module__].INPUTS
    return [f"{k}={v}" for k, v in table[name].items()]


def _random_inputs(shapes: dict[str, tuple[tuple[int, ...], str]]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {name: (rng.integers(1, 10, shape) if "int" in dtype else rng.normal(size=shape)).astype(dtype)
            for name, (shape, dtype) in shapes.items()}


def _outputs(model: Any, arrays: dict[str, np.ndarray], keras_model: bool) -> list[np.ndarray]:
    if keras_model:
        values = model(list(arrays.values()) if len(arrays) > 1 else next(iter(arrays.values())), training=False)
    else:
        model.eval()
        with torch.inference_mode():
            values = model(*[torch.from_numpy(a) for a in arrays.values()])
    values = values if isinstance(values, (list, tuple)) else [values]
    return [api.to_numpy(v) for v in values]


def _max_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert len(a) == len(b)
    return max(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) for x, y in zip(a, b))


def _load_source(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _round_trip(tmp_path: Path, library: str, name: str) -> None:
    graph, weights = tmp_path / f"{name}.json", tmp_path / f"{name}.safetensors"
    specs = [a for spec in (_torch_specs(name) if library == "torch" else []) for a in ("--input-shape", spec)]
    code, report = _cli("import", f"{ZOO / f'{library}_zoo.py'}:{name}", "--out", str(graph), *specs)
    assert code == 0, report
    assert report["outputs"][0].startswith("output") and Path(report["weights"]) == weights

    original = call_factory(_factory(library, name), name)
    checked = api.validate(graph)
    if library == "torch":
        parsed = parse_input_specs(_torch_specs(name))
        shapes = {k: ((BATCH, *s.example_shape()[1:]), s.dtype) for k, s in parsed.items()}
    else:
        shapes = {n.id: ((BATCH, *n.args["shape"][1:]), n.args.get("dtype", "float32")) for n in checked.inputs}
    assert [n.id for n in checked.inputs] == list(shapes)  # named after forward's parameters / input layers
    arrays = _random_inputs(shapes)
    expected = _outputs(original, arrays, library == "keras")

    # nodecat run, as a user would: .npy inputs, the imported weights, outputs as .npy files
    inputs = []
    for key, array in arrays.items():
        np.save(tmp_path / f"{key}.npy", array)
        inputs += ["--input", f"{key}={tmp_path / f'{key}.npy'}"]
    code, ran = _cli("run", str(graph), "--weights", str(weights), *inputs, "--out", str(tmp_path / "out"),
                     "--device", "cpu")
    assert code == 0, ran
    produced = [np.load(ran["outputs"][o.name]["path"]) for o in checked.graph.outputs]
    assert _max_diff(produced, expected) <= TOLERANCE

    # the imported graph as Python: ruff-clean, and the same outputs with the same weights
    source = tmp_path / f"exported_{name}.py"
    code, exported = _cli("export", str(graph), "--to", "python", "-o", str(source))
    assert code == 0, exported
    ruff = subprocess.run([str(Path(sys.executable).with_name("ruff")), "check", "--isolated", str(source)],
                          capture_output=True, text=True)
    assert ruff.returncode == 0, ruff.stdout
    rebuilt = _load_source(source).load(str(weights))
    assert _max_diff(_outputs(rebuilt, arrays, library == "keras"), expected) <= TOLERANCE


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_torch_architecture_round_trip(tmp_path: Path, name: str) -> None:
    _round_trip(tmp_path, "torch", name)


@pytest.mark.parametrize("name", KERAS_MODELS)
def test_keras_architecture_round_trip(tmp_path: Path, name: str) -> None:
    _round_trip(tmp_path, "keras", name)


def test_a_keras_file_imports_through_the_cli(tmp_path: Path) -> None:
    model = call_factory(_factory("keras", "two_tower"), "two_tower")
    model.save(tmp_path / "two_tower.keras")
    code, report = _cli("import", str(tmp_path / "two_tower.keras"), "--out", str(tmp_path / "g.json"))
    assert code == 0, report
    assert report["inputs"] == ["image", "features"] and report["outputs"] == ["output_0", "output_1"]


def test_an_unmappable_model_is_reported_call_by_call_and_nothing_is_written(tmp_path: Path) -> None:
    graph = tmp_path / "g.json"
    code, report = _cli("import", f"{ZOO / 'torch_zoo.py'}:unmappable_model", "--out", str(graph),
                        *[a for spec in _torch_specs("unmappable_model") for a in ("--input-shape", spec)])
    assert code == 1 and report["ok"] is False
    assert {e["code"] for e in report["errors"]} == {"unmappable_call"}
    calls = " ".join(e["message"] for e in report["errors"])
    assert "torch.Tensor.masked_fill" in calls and "torch.fft.rfft" in calls
    assert all(e["node"] and "catalog" in e["message"] for e in report["errors"])
    assert list(tmp_path.iterdir()) == []


def test_missing_input_shape_names_forward_parameters(tmp_path: Path) -> None:
    code, report = _cli("import", f"{ZOO / 'torch_zoo.py'}:gru_tagger", "--out", str(tmp_path / "g.json"))
    assert code == 1 and report["errors"][0]["code"] == "bad_input_spec"
    assert "x" in report["errors"][0]["hint"]


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["import", "m.py:f", "--out", str(tmp_path / "g.json"), "--input-shape", "x=1,b"])
    assert result.exit_code == 2 and "--input-shape" in result.output


def test_a_model_file_with_einsum_imports_and_runs(tmp_path: Path) -> None:
    source = tmp_path / "attention_scores.py"
    source.write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "class Scores(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n        self.q = nn.Linear(4, 4)\n        self.k = nn.Linear(4, 4)\n\n"
        "    def forward(self, x):\n"
        "        return torch.einsum('bij,bkj->bik', self.q(x), self.k(x))\n\n\n"
        "def make():\n    torch.manual_seed(0)\n    return Scores().eval()\n")
    graph = tmp_path / "scores.json"
    code, report = _cli("import", f"{source}:make", "--input-shape", "x=2,3,4", "--out", str(graph))
    assert code == 0, report
    assert "torch.einsum" in {n.op for n in api.load(graph).nodes}
    x = np.random.default_rng(0).normal(size=(5, 3, 4)).astype(np.float32)
    produced = api.run(graph, {"x": x}, weights=tmp_path / "scores.safetensors", device="cpu")["output"]
    expected = _outputs(call_factory(*load_factory(f"{source}:make")), {"x": x}, False)
    assert _max_diff([produced], expected) <= TOLERANCE
