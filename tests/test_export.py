"""`nodecat export`: readable Python, Python plus a state dict, ONNX and `.keras` files, each computing
what the executor computes.

Every example graph is exported with random (seeded) weights, so biases, batch-norm statistics and
layer-norm scales all matter, and compared with `nodecat.executor.build.run.run` on the same weights. Generated
Python must pass `ruff check` with ruff's default rules (`--isolated`: no project configuration).
Built artefacts are shared per module, so the ONNX exports (about 2 s each) run once.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # as nodecat does; before anything imports keras

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from safetensors.torch import load_file as load_torch_file  # noqa: E402
from test_examples import make_inputs, random_weights, weight_specs  # noqa: E402

from nodecat.executor import api  # noqa: E402
from nodecat.executor.cli.main import main  # noqa: E402
from nodecat.executor.graph.errors import GraphError  # noqa: E402
from nodecat.executor.interop.export import ExportNote, export_graph, python_source  # noqa: E402

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.json"))
KERAS_EXAMPLES = [p for p in EXAMPLES if set(json.loads(p.read_text(encoding="utf-8"))["catalogs"]) == {"keras"}]
RUFF = Path(sys.executable).with_name("ruff")
BATCH = 3
TOLERANCE = 1e-5  # every example, the LSTMs included, agrees within this (most are exact or ~1e-7)


# -- a graph that exercises what the examples do not ------------------------------------------------
# A constant (a buffer), an in-place function whose input has another reader (a clone), a merged
# port (a list in edge order), a layer handed to another layer's argument, a literal tensor and a
# memory format as arguments, a node nobody reads, ids that collide with names the code uses
# (`nn`, `F`), three inputs and three outputs.
EDGE_CASES = {
    "format": "nodecat-graph/1", "name": "edge cases",
    "description": 'Quotes """ and a backslash \\ in a description must not break the docstring.',
    "catalogs": {"torch": "2.13.0"},
    "nodes": [
        {"id": "x", "op": "input", "args": {"shape": [None, 8], "dtype": "float32"}},
        {"id": "nn", "op": "input", "args": {"shape": [None, 8], "dtype": "float32"}},
        {"id": "labels", "op": "input", "args": {"shape": [None], "dtype": "int64"}},
        {"id": "scale", "op": "constant", "args": {"value": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, -1.5]}},
        {"id": "mul", "op": "torch.mul"},
        {"id": "F", "op": "torch.nn.functional.relu", "args": {"inplace": True}},
        {"id": "cat", "op": "torch.cat", "args": {"dim": 1}},
        {"id": "seq", "op": "torch.unsqueeze", "args": {"dim": 1}},
        {"id": "layer", "op": "torch.nn.TransformerEncoderLayer",
         "args": {"d_model": 24, "nhead": 2, "dim_feedforward": 16, "dropout": 0.0, "batch_first": True}},
        {"id": "enc", "op": "torch.nn.TransformerEncoder", "args": {"num_layers": 2, "enable_nested_tensor": False}},
        {"id": "flat", "op": "torch.squeeze", "args": {"dim": 1}},
        {"id": "lin", "op": "torch.nn.Linear", "args": {"in_features": 24, "out_features": 4}},
        {"id": "zeros", "op": "torch.zeros_like", "args": {"memory_format": "contiguous_format"}},
        {"id": "unused", "op": "torch.nn.Tanh"},
        {"id": "loss", "op": "torch.nn.CrossEntropyLoss", "args": {"weight": [1.0, 2.0, 0.5, 0.1]}},
    ],
    "edges": [
        {"from": {"node": "x", "port": "output"}, "to": {"node": "mul", "port": "input"}},
        {"from": {"node": "scale", "port": "output"}, "to": {"node": "mul", "port": "other"}},
        {"from": {"node": "mul", "port": "output"}, "to": {"node": "F", "port": "input"}},
        {"from": {"node": "F", "port": "output"}, "to": {"node": "cat", "port": "tensors"}},
        {"from": {"node": "nn", "port": "output"}, "to": {"node": "cat", "port": "tensors"}},
        {"from": {"node": "mul", "port": "output"}, "to": {"node": "cat", "port": "tensors"}},
        {"from": {"node": "cat", "port": "output"}, "to": {"node": "seq", "port": "input"}},
        {"from": {"node": "layer"}, "to": {"node": "enc", "arg": "encoder_layer"}},
        {"from": {"node": "seq", "port": "output"}, "to": {"node": "enc", "port": "src"}},
        {"from": {"node": "enc", "port": "output"}, "to": {"node": "flat", "port": "input"}},
        {"from": {"node": "flat", "port": "output"}, "to": {"node": "lin", "port": "input"}},
        {"from": {"node": "cat", "port": "output"}, "to": {"node": "zeros", "port": "input"}},
        {"from": {"node": "x", "port": "output"}, "to": {"node": "unused", "port": "input"}},
        {"from": {"node": "lin", "port": "output"}, "to": {"node": "loss", "port": "input"}},
        {"from": {"node": "labels", "port": "output"}, "to": {"node": "loss", "port": "target"}},
    ],
    "outputs": [{"name": "logits", "node": "lin"}, {"name": "zeros", "node": "zeros"}, {"name": "loss", "node": "loss"}],
}

# An all-Keras graph with two inputs, keras.ops calls (one on a constant), a merged port, a layer
# handed to TimeDistributed, an input id equal to the `keras` module's name, and two outputs.
KERAS_EDGE_CASES = {
    "format": "nodecat-graph/1", "name": "keras edge cases",
    "description": "Two inputs, keras.ops on a constant, TimeDistributed over a handed-over Dense.",
    "catalogs": {"keras": "3.15.1"},
    "nodes": [
        {"id": "seq", "op": "input", "args": {"shape": [None, 5, 6], "dtype": "float32"}},
        {"id": "keras", "op": "input", "args": {"shape": [None, 6], "dtype": "float32"}},
        {"id": "inner", "op": "keras.layers.Dense", "args": {"units": 4, "activation": "tanh"}},
        {"id": "td", "op": "keras.layers.TimeDistributed"},
        {"id": "pooled", "op": "keras.ops.mean", "args": {"axis": 1}},
        {"id": "shift", "op": "constant", "args": {"value": [0.5, -0.25, 1.0, 2.0]}},
        {"id": "shifted", "op": "keras.ops.add"},
        {"id": "proj", "op": "keras.layers.Dense", "args": {"units": 4}},
        {"id": "both", "op": "keras.ops.concatenate", "args": {"axis": -1}},
        {"id": "total", "op": "keras.layers.Add"},
        {"id": "head", "op": "keras.layers.Dense", "args": {"units": 3}},
    ],
    "edges": [
        {"from": {"node": "inner"}, "to": {"node": "td", "arg": "layer"}},
        {"from": {"node": "seq", "port": "output"}, "to": {"node": "td", "port": "inputs"}},
        {"from": {"node": "td", "port": "output"}, "to": {"node": "pooled", "port": "x"}},
        {"from": {"node": "pooled", "port": "output"}, "to": {"node": "shifted", "port": "x1"}},
        {"from": {"node": "shift", "port": "output"}, "to": {"node": "shifted", "port": "x2"}},
        {"from": {"node": "keras", "port": "output"}, "to": {"node": "proj", "port": "inputs"}},
        {"from": {"node": "shifted", "port": "output"}, "to": {"node": "both", "port": "xs"}},
        {"from": {"node": "proj", "port": "output"}, "to": {"node": "both", "port": "xs"}},
        {"from": {"node": "shifted", "port": "output"}, "to": {"node": "total", "port": "inputs"}},
        {"from": {"node": "proj", "port": "output"}, "to": {"node": "total", "port": "inputs"}},
        {"from": {"node": "both", "port": "output"}, "to": {"node": "head", "port": "inputs"}},
    ],
    "outputs": [{"name": "logits", "node": "head"}, {"name": "total", "node": "total"}],
}

EXTRA_GRAPHS = {"edge_cases": EDGE_CASES, "keras_edge_cases": KERAS_EDGE_CASES}


# -- shared artefacts ----------------------------------------------------------------------------------
class Case:
    """A graph validated, given random weights (saved as the executor names them) and inputs, with
    the executor's outputs on them."""

    def __init__(self, name: str, path: Path, directory: Path):
        self.name = name
        self.path = path
        self.directory = directory
        self.checked = api.validate(path)
        model = api.build(self.checked, device="cpu")
        self.weights = directory / f"{name}.safetensors"
        save_file(random_weights(weight_specs(model, self.checked.backend)), str(self.weights))
        self.inputs = inputs_for(self.checked, BATCH)
        self.expected = api.run(self.checked, self.inputs, weights=self.weights, device="cpu")
        self._files: dict[str, list[Path]] = {}

    def export(self, to: str) -> list[Path]:
        """The files of one export target, written once per module."""
        if to not in self._files:
            suffix = {"python": ".py", "torch": ".py", "keras": ".keras", "onnx": ".onnx"}[to]
            out = self.directory / to / f"{self.name}{suffix}"
            self._files[to] = export_graph(self.checked, to, out, weights=self.weights, graph_file=self.path)
        return self._files[to]


def inputs_for(checked: Any, batch: int) -> dict[str, np.ndarray]:
    """The examples' inputs; class labels (an int64 vector) below the 4 classes of EDGE_CASES."""
    arrays = make_inputs(checked, batch, seed=2)
    return {k: (v % 4 if v.ndim == 1 and v.dtype == np.int64 else v) for k, v in arrays.items()}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Case]:
    cache: dict[str, Case] = {}
    directory = tmp_path_factory.mktemp("export")

    def get(name: str) -> Case:
        if name not in cache:
            path = EXAMPLES_DIR / f"{name}.json"
            if name in EXTRA_GRAPHS:
                path = directory / f"{name}.json"
                path.write_text(json.dumps(EXTRA_GRAPHS[name]), encoding="utf-8")
            cache[name] = Case(name, path, directory)
        return cache[name]
    return get


def import_file(path: Path) -> ModuleType:
    """Import generated source as a module of its own (not registered in sys.modules)."""
    spec = importlib.util.spec_from_file_location(f"nodecat_exported_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_model(model: Any, case: Case) -> list[np.ndarray]:
    """A torch module or Keras model applied to the case's inputs in inference mode."""
    arrays = [case.inputs[n.id] for n in case.checked.inputs]
    if isinstance(model, keras.Model):
        result = model(arrays[0] if len(arrays) == 1 else arrays, training=False)
    else:
        model.eval()
        with torch.no_grad():
            result = model(*(torch.from_numpy(a.copy()) for a in arrays))
    results = result if isinstance(result, (list, tuple)) else [result]
    return [api.to_numpy(r) for r in results]


def assert_matches(got: list[np.ndarray], case: Case, what: str) -> None:
    assert len(got) == len(case.expected), what
    for array, (name, want) in zip(got, case.expected.items()):
        assert array.shape == want.shape, f"{what} {name}: {array.shape} != {want.shape}"
        diff = float(np.abs(array.astype(np.float64) - want).max()) if want.size else 0.0
        assert diff <= TOLERANCE, f"{what} output {name!r} differs from the executor by {diff:g}"


def ruff_problems(path: Path) -> str:
    """ruff's complaints about a file with its default rules ("" when clean)."""
    done = subprocess.run([str(RUFF), "check", "--isolated", "--no-cache", "--quiet", str(path)],
                          capture_output=True, text=True, check=False)
    return "" if done.returncode == 0 else done.stdout + done.stderr


ALL_CASES = [p.stem for p in EXAMPLES] + list(EXTRA_GRAPHS)
KERAS_CASES = [p.stem for p in KERAS_EXAMPLES] + ["keras_edge_cases"]


# -- python ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL_CASES)
def test_python_is_ruff_clean_and_computes_what_the_executor_does(name: str, case: Callable[[str], Case]) -> None:
    example = case(name)
    [source] = example.export("python")
    assert ruff_problems(source) == ""
    module = import_file(source)
    assert_matches(run_model(module.load(str(example.weights)), example), example, f"{name}.py")


def test_torch_source_reads_like_a_hand_written_module() -> None:
    text = python_source(api.validate(EXAMPLES_DIR / "cnn.json"), "examples/cnn.json")
    assert text.startswith('"""Cnn, a torch module, generated by nodecat from the graph \'cnn\' (examples/cnn.json).')
    assert "import torch\nfrom torch import nn\n" in text and "import keras" not in text and " F\n" not in text
    assert "class Cnn(nn.Module):" in text
    assert "        self.conv1 = nn.Conv2d(in_channels=1, out_channels=8, kernel_size=3, padding=1)\n" in text
    assert "    def forward(self, image: torch.Tensor) -> torch.Tensor:\n        conv1 = self.conv1(image)\n" in text
    assert "        return head\n" in text and "def load(weights_path: str) -> Cnn:" in text


def test_edge_cases_follow_the_executor_rules(case: Callable[[str], Case]) -> None:
    [source] = case("edge_cases").export("python")
    text = source.read_text(encoding="utf-8")
    assert 'self.register_buffer("scale", torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, -1.5], dtype=torch.float32))' in text
    assert "F_ = F.relu(input=mul.clone(), inplace=True)" in text  # `mul` has another reader: cloned
    assert "cat = torch.cat(tensors=[F_, nn_, mul], dim=1)" in text  # a merged port, in edge order
    assert "layer = nn.TransformerEncoderLayer(" in text and "self.layer" not in text  # handed over, not a submodule
    assert "nn.TransformerEncoder(encoder_layer=layer," in text  # keywords in signature order
    assert "memory_format=torch.contiguous_format" in text
    assert "nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5, 0.1], dtype=torch.float32))" in text
    assert "        self.unused(x)  # its result is not read\n" in text
    assert "def forward(self, x: torch.Tensor, nn_: torch.Tensor, labels: torch.Tensor)" in text
    assert "return lin, zeros, loss" in text


def test_keras_source_builds_a_functional_model(case: Callable[[str], Case]) -> None:
    [source] = case("keras_bilstm").export("python")
    text = source.read_text(encoding="utf-8")
    assert "def build_model() -> keras.Model:" in text and "import torch" not in text
    assert 'tokens = keras.Input(shape=(12,), dtype="int32", name="tokens")' in text
    assert 'lstm = keras.layers.LSTM(units=16, name="lstm")' in text
    assert 'bi = keras.layers.Bidirectional(layer=lstm, merge_mode="concat", name="bi")(embed)' in text
    assert 'return keras.Model(inputs=tokens, outputs=head, name="keras_bilstm")' in text
    [other] = case("keras_edge_cases").export("python")
    assert "keras_ = keras.Input(" in other.read_text(encoding="utf-8")  # the id `keras` would hide the module


# -- torch: source plus state dict -----------------------------------------------------------------
@pytest.mark.parametrize("name", ALL_CASES)
def test_torch_export_writes_weights_that_load_strictly(name: str, case: Callable[[str], Case]) -> None:
    example = case(name)
    source, weights = example.export("torch")
    assert weights == source.with_suffix(".safetensors") and weights.is_file()
    module = import_file(source)
    if example.checked.backend == "keras":
        model = module.load(str(weights))
    else:
        model = module.build()
        model.load_state_dict(load_torch_file(str(weights)), strict=True)
    assert_matches(run_model(model, example), example, f"{name} (torch export)")


def test_torch_export_without_weights_writes_the_seeded_initialisation(tmp_path: Path) -> None:
    checked = api.validate(EXAMPLES_DIR / "mlp.json")
    _, first = export_graph(checked, "torch", tmp_path / "a.py", seed=3)
    _, again = export_graph(checked, "torch", tmp_path / "b.py", seed=3)
    _, other = export_graph(checked, "torch", tmp_path / "c.py", seed=4)
    a, b, c = (load_torch_file(str(p)) for p in (first, again, other))
    assert sorted(a) == sorted(import_file(tmp_path / "a.py").build().state_dict())
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["fc1.weight"], c["fc1.weight"])


# -- onnx -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL_CASES)
def test_onnx_is_valid_and_computes_what_the_executor_does(name: str, case: Callable[[str], Case]) -> None:
    import onnx
    import onnxruntime
    example = case(name)
    files = example.export("onnx")
    assert [p.name for p in files] == [f"{name}.onnx"]  # one self-contained file
    model = onnx.load(str(files[0]))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == [n.id for n in example.checked.inputs]
    assert [o.name for o in model.graph.output] == [o.name for o in example.checked.graph.outputs]
    first_dims = [i.type.tensor_type.shape.dim[0] for i in model.graph.input]
    assert all(d.dim_param and not d.dim_value for d in first_dims), "the batch dimension is dynamic"
    session = onnxruntime.InferenceSession(str(files[0]), providers=["CPUExecutionProvider"])
    got = session.run(None, example.inputs)
    assert_matches(got, example, f"{name}.onnx")


def test_onnx_falls_back_to_the_torchscript_exporter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     case: Callable[[str], Case]) -> None:
    import onnxruntime

    from nodecat.executor.interop import export_files

    def refuse(checked: Any, module: Any, target: Path) -> None:
        target.write_bytes(b"half a model")
        raise RuntimeError("torch.export cannot trace this")
    monkeypatch.setattr(export_files, "_export_dynamo", refuse)
    example = case("mlp")
    with pytest.warns(ExportNote, match="TorchScript exporter because torch.export: RuntimeError: torch.export cannot"):
        [path] = export_graph(example.checked, "onnx", tmp_path / "mlp.onnx", weights=example.weights)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert_matches(session.run(None, example.inputs), example, "mlp.onnx (TorchScript exporter)")
    assert [p.name for p in tmp_path.iterdir()] == ["mlp.onnx"]


def test_onnx_failure_is_export_failed_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        Path(args[2]).write_bytes(b"half a model")  # as an exporter that dies mid-write
        print("exporter chatter")
        raise RuntimeError("no ONNX for you")
    monkeypatch.setattr(torch.onnx, "export", refuse)
    with pytest.raises(GraphError) as caught:
        export_graph(api.validate(EXAMPLES_DIR / "mlp.json"), "onnx", tmp_path / "mlp.onnx")
    assert caught.value.code == "export_failed"
    assert "torch.export: RuntimeError: no ONNX for you" in str(caught.value)
    assert "TorchScript: RuntimeError: no ONNX for you" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


# -- keras ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", KERAS_CASES)
def test_keras_file_loads_safely_and_computes_what_the_executor_does(name: str, case: Callable[[str], Case]) -> None:
    example = case(name)
    [path] = example.export("keras")
    model = keras.saving.load_model(path)  # safe_mode: no code runs on loading
    assert_matches(run_model(model, example), example, f"{name}.keras")


def test_keras_file_of_a_torch_graph_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(GraphError) as caught:
        export_graph(api.validate(EXAMPLES_DIR / "mlp.json"), "keras", tmp_path / "mlp.keras")
    assert caught.value.code == "unsupported_export" and "--to onnx" in caught.value.hint
    assert list(tmp_path.iterdir()) == []


# -- the command ------------------------------------------------------------------------------------
def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_writes_python_and_reports_files_as_json(tmp_path: Path) -> None:
    out = tmp_path / "net.py"
    result = invoke("export", str(EXAMPLES_DIR / "mlp.json"), "--to", "python", "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report == {"graph": str(EXAMPLES_DIR / "mlp.json"), "to": "python", "ok": True, "errors": [],
                      "files": [str(out)], "notes": []}
    assert "class Mlp(nn.Module):" in out.read_text(encoding="utf-8")


def test_cli_torch_with_weights_writes_source_and_state_dict(tmp_path: Path, case: Callable[[str], Case]) -> None:
    example = case("cnn")
    result = invoke("export", str(example.path), "--to", "torch", "-o", str(tmp_path / "cnn.py"),
                    "--weights", str(example.weights))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"wrote {tmp_path / 'cnn.py'}", f"wrote {tmp_path / 'cnn.safetensors'}"]
    model = import_file(tmp_path / "cnn.py").load(str(tmp_path / "cnn.safetensors"))
    assert_matches(run_model(model, example), example, "cnn via the CLI")


def test_cli_reports_the_fallback_exporter_as_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nodecat.executor.interop import export_files

    def refuse(checked: Any, module: Any, target: Path) -> None:
        raise RuntimeError("torch.export cannot trace this")
    monkeypatch.setattr(export_files, "_export_dynamo", refuse)
    arguments = ["export", str(EXAMPLES_DIR / "mlp.json"), "--to", "onnx", "-o", str(tmp_path / "mlp.onnx")]
    result = invoke(*arguments, "--json")
    assert result.exit_code == 0, result.output
    [note] = json.loads(result.output)["notes"]
    assert "TorchScript exporter" in note and "cannot trace this" in note
    text = CliRunner().invoke(main, arguments)
    assert text.exit_code == 0 and "note: exported with the TorchScript exporter" in text.stderr


def test_cli_unsupported_export_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    result = invoke("export", str(EXAMPLES_DIR / "cnn.json"), "--to", "keras", "-o", str(tmp_path / "cnn.keras"),
                    "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and report["to"] == "keras"
    assert report["errors"][0]["code"] == "unsupported_export"
    assert list(tmp_path.iterdir()) == []
    text = CliRunner().invoke(main, ["export", str(EXAMPLES_DIR / "cnn.json"), "--to", "keras",
                                     "-o", str(tmp_path / "cnn.keras")])
    assert text.exit_code == 1 and "error [unsupported_export]" in text.stderr


def test_cli_invalid_graph_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    document = json.loads((EXAMPLES_DIR / "mlp.json").read_text(encoding="utf-8"))
    broken = copy.deepcopy(document)
    broken["nodes"][1]["args"]["in_features"] = "many"
    graph = tmp_path / "graph.json"
    graph.write_text(json.dumps(broken), encoding="utf-8")
    result = invoke("export", str(graph), "--to", "python", "-o", str(tmp_path / "net.py"), "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["errors"][0]["code"] == "bad_arg_value"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.json"]


def test_cli_export_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("exporter crashed")
    monkeypatch.setattr(torch.onnx, "export", refuse)
    result = CliRunner().invoke(main, ["export", str(EXAMPLES_DIR / "mlp.json"), "--to", "onnx",
                                       "-o", str(tmp_path / "out" / "mlp.onnx")])
    assert result.exit_code == 1
    assert "error [export_failed]" in result.stderr and "exporter crashed" in result.stderr
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("arguments", [
    ["--to", "python", "-o", "net.txt"],  # python must be importable: .py
    ["--to", "torch", "-o", "my-net.py"],  # ... and a module name
    ["--to", "keras", "-o", "model.h5"],  # Keras saves only .keras
    ["--to", "python", "-o", "net.py", "--weights", "examples/mlp.json"],  # source has no weights
    ["--to", "tflite", "-o", "net.py"],
    ["--to", "python"],
])
def test_cli_bad_usage_exits_2(arguments: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = str(EXAMPLES_DIR / "mlp.json")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "mlp.json").write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(main, ["export", graph, *arguments])
    assert result.exit_code == 2, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["examples"]


def test_cli_missing_graph_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", str(tmp_path / "nope.json"), "--to", "python",
                                       "-o", str(tmp_path / "net.py")])
    assert result.exit_code == 2
