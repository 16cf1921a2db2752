"""Every graph in examples/ checks, builds, and computes what a hand-written model computes.

Each example has a plainly hand-written equivalent below (a torch nn.Module whose attributes are
named like the node ids, or a Keras functional model), and a function that copies the executor's
weights (as `save_weights` writes them: `fc1.weight`, `head.kernel`) into it. Weights are random
(seeded), not the fresh initialisation, so that biases, batch-norm statistics and layer-norm
scales all matter. A new example is picked up by the glob: it is checked, built and its shapes
compared at once, and the equivalence test fails until its hand-written model is added here.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # as nodecat does; before anything imports keras

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from safetensors.numpy import load_file, save_file  # noqa: E402

from nodecat.executor import api  # noqa: E402
from nodecat.executor.cli.main import main  # noqa: E402
from nodecat.executor.build.shapes import infer_shapes  # noqa: E402
from nodecat.executor.build.weights import keras_weight_name, load_weights, save_weights  # noqa: E402

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.json"))
BATCH = 3
TOLERANCE = 1e-6

Weights = dict[str, np.ndarray]


# -- hand-written torch equivalents --------------------------------------------------------------
class MLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(64, 128)
        self.act1 = torch.nn.ReLU()
        self.drop = torch.nn.Dropout(0.1)
        self.fc2 = torch.nn.Linear(128, 64)
        self.act2 = torch.nn.ReLU()
        self.head = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act2(self.fc2(self.drop(self.act1(self.fc1(x))))))


class CNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.bn2 = torch.nn.BatchNorm2d(16)
        self.head = torch.nn.Linear(16 * 2 * 2, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(image))), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
        return self.head(torch.flatten(x, 1))


class BasicBlock(torch.nn.Module):
    """torchvision's ResNet BasicBlock without downsampling, written out."""

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(channels)
        self.conv2 = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + x)


class LSTMClassifier(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(100, 16, padding_idx=0)
        self.lstm = torch.nn.LSTM(16, 32, batch_first=True)
        self.head = torch.nn.Linear(32, 4)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(self.embed(tokens))
        return self.head(h_n[-1])  # the last layer's final hidden state


class MixedInTorch(torch.nn.Module):
    """The mixed torch/Keras graph in plain torch: Keras Dense is a Linear with the kernel
    transposed, Keras LayerNormalization is layer_norm over the last axis."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(20, 32)
        self.dense = torch.nn.Linear(32, 16)
        self.norm = torch.nn.LayerNorm(16, eps=1e-5)
        self.head = torch.nn.Linear(16, 3)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc(features))
        x = torch.nn.functional.silu(self.norm(self.dense(x)))
        return self.head(x)


def same_names(weights: Weights, model: torch.nn.Module) -> None:
    """The executor's state dict loads as is: the hand-written attributes are named like the nodes."""
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()}, strict=True)


def mixed_weights(weights: Weights, model: torch.nn.Module) -> None:
    def t(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array.copy())
    model.load_state_dict({
        "fc.weight": t(weights["fc.weight"]), "fc.bias": t(weights["fc.bias"]),
        "dense.weight": t(weights["dense._torch_params.dense/kernel"].T),
        "dense.bias": t(weights["dense._torch_params.dense/bias"]),
        "norm.weight": t(weights["norm._torch_params.norm/gamma"]),
        "norm.bias": t(weights["norm._torch_params.norm/beta"]),
        "head.weight": t(weights["head.weight"]), "head.bias": t(weights["head.bias"]),
    }, strict=True)


# -- hand-written Keras equivalents --------------------------------------------------------------
def two_tower() -> keras.Model:
    features = keras.Input(shape=(16,), dtype="float32")
    wide = keras.layers.Dense(32, activation="relu", name="wide")(features)
    deep = keras.layers.Dense(16, activation="relu", name="deep1")(features)
    deep = keras.layers.Dense(16, activation="relu", name="deep2")(deep)
    merged = keras.layers.Concatenate(axis=-1, name="merge")([wide, deep])
    normed = keras.layers.LayerNormalization(name="norm")(merged)
    return keras.Model(features, keras.layers.Dense(3, name="head")(normed))


def two_tower_weights(weights: Weights, model: keras.Model) -> None:
    for name in ("wide", "deep1", "deep2", "head"):
        model.get_layer(name).set_weights([weights[f"{name}.kernel"], weights[f"{name}.bias"]])
    model.get_layer("norm").set_weights([weights["norm.gamma"], weights["norm.beta"]])


def bilstm() -> keras.Model:
    tokens = keras.Input(shape=(12,), dtype="int32")
    x = keras.layers.Embedding(100, 16, name="embed")(tokens)
    x = keras.layers.Bidirectional(keras.layers.LSTM(16), merge_mode="concat", name="bi")(x)
    return keras.Model(tokens, keras.layers.Dense(2, name="head")(x))


def bilstm_weights(weights: Weights, model: keras.Model) -> None:
    model.get_layer("embed").set_weights([weights["embed.embeddings"]])
    model.get_layer("bi").set_weights([weights[f"bi.{direction}_lstm.lstm_cell.{name}"]
                                       for direction in ("forward", "backward")
                                       for name in ("kernel", "recurrent_kernel", "bias")])
    model.get_layer("head").set_weights([weights["head.kernel"], weights["head.bias"]])


# example file stem -> (factory of the hand-written model, copy the executor's weights into it)
HAND_WRITTEN: dict[str, tuple[Callable[[], Any], Callable[[Weights, Any], None]]] = {
    "mlp": (MLP, same_names),
    "cnn": (CNN, same_names),
    "residual_block": (BasicBlock, same_names),
    "lstm_classifier": (LSTMClassifier, same_names),
    "mixed_torch_keras": (MixedInTorch, mixed_weights),
    "keras_merge": (two_tower, two_tower_weights),
    "keras_bilstm": (bilstm, bilstm_weights),
}


# -- helpers -------------------------------------------------------------------------------------
def make_inputs(checked: Any, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random arrays for every graph input; integer inputs are token ids below the
    vocabulary size of the embedding they feed."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for node in checked.inputs:
        shape = tuple(batch if d is None else d for d in node.args["shape"])
        dtype = node.args.get("dtype", "float32")
        if dtype.startswith("int"):
            readers = [n for n in checked.order if any(s.node == node.id for p in n.inputs.values() for s in p)]
            vocab = [n.args.get(k) for n in readers for k in ("num_embeddings", "input_dim")]
            high = min([v for v in vocab if v] or [10])
            arrays[node.id] = rng.integers(0, high, size=shape).astype(dtype)
        else:
            arrays[node.id] = rng.standard_normal(shape).astype(dtype)
    return arrays


def random_weights(names: dict[str, tuple[tuple[int, ...], np.dtype]], seed: int = 1) -> Weights:
    """Random values for every weight, so nothing is left at an identity-like initialisation;
    batch-norm variances stay positive and step counters stay integers."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (shape, dtype) in sorted(names.items()):
        if np.issubdtype(dtype, np.integer):
            out[name] = np.full(shape, 7, dtype=dtype)
        elif name.endswith("running_var"):
            out[name] = rng.uniform(0.5, 1.5, shape).astype(dtype)
        else:
            out[name] = (0.3 * rng.standard_normal(shape)).astype(dtype)
    return out


def weight_specs(model: Any, backend: str) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    if backend == "keras":
        return {keras_weight_name(v): (tuple(v.shape), np.dtype(v.dtype)) for v in model.weights}
    return {k: (tuple(v.shape), v.detach().cpu().numpy().dtype) for k, v in model.state_dict().items()}


class Prepared:
    """An example validated, built on cpu and loaded with random weights (also saved to a file)."""

    def __init__(self, path: Path, directory: Path):
        self.path = path
        self.checked = api.validate(path)
        self.backend = self.checked.backend
        self.model = api.build(self.checked, device="cpu")
        self.weights_file = directory / f"{path.stem}.safetensors"
        save_file(random_weights(weight_specs(self.model, self.backend)), str(self.weights_file))
        load_weights(self.model, self.weights_file)
        self.weights = load_file(str(self.weights_file))

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return api.run(self.checked, inputs, device="cpu", model=self.model)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Prepared]:
    cache: dict[Path, Prepared] = {}
    directory = tmp_path_factory.mktemp("example_weights")

    def get(path: Path) -> Prepared:
        if path not in cache:
            cache[path] = Prepared(path, directory)
        return cache[path]
    return get


def run_hand_written(stem: str, weights: Weights, inputs: dict[str, np.ndarray], checked: Any) -> list[np.ndarray]:
    factory, copy_weights = HAND_WRITTEN[stem]
    model = factory()
    arrays = [inputs[n.id] for n in checked.inputs]
    if isinstance(model, keras.Model):
        copy_weights(weights, model)
        result = model(arrays[0] if len(arrays) == 1 else arrays, training=False)
        results = result if isinstance(result, (list, tuple)) else [result]
        return [keras.ops.convert_to_numpy(r) for r in results]
    copy_weights(weights, model)
    model.eval()
    with torch.no_grad():
        result = model(*(torch.from_numpy(a.copy()) for a in arrays))
    results = result if isinstance(result, (list, tuple)) else [result]
    return [r.numpy() for r in results]


def ids(path: Path) -> str:
    return path.stem


# -- the tests -----------------------------------------------------------------------------------
def test_examples_exist() -> None:
    stems = {p.stem for p in EXAMPLES}
    assert {"mlp", "keras_merge", "cnn", "residual_block", "lstm_classifier", "mixed_torch_keras"} <= stems


@pytest.mark.parametrize("path", EXAMPLES, ids=ids)
def test_example_has_name_and_description(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc.get("name") and doc.get("description")
    assert doc["description"].rstrip().endswith(".")


@pytest.mark.parametrize("path", EXAMPLES, ids=ids)
def test_example_checks_and_builds(path: Path, prepared: Callable[[Path], Prepared]) -> None:
    checked = api.validate(path)
    report = infer_shapes(checked, batch=1)
    assert [n.id for n in report.nodes] == [n.id for n in checked.order]
    for output in checked.graph.outputs:
        spec = next(n for n in report.nodes if n.id == output.node).outputs[output.port]
        assert spec.shape is not None, f"output {output.name} has no inferred shape"
    assert report.params > 0
    example = prepared(path)
    expected = torch.nn.Module if example.backend == "torch" else keras.Model
    assert isinstance(example.model, expected)
    libraries = {n.descriptor.library for n in checked.order} - {"nodecat"}
    assert libraries == set(json.loads(path.read_text(encoding="utf-8"))["catalogs"])


@pytest.mark.parametrize("path", EXAMPLES, ids=ids)
def test_example_matches_hand_written_model(path: Path, prepared: Callable[[Path], Prepared]) -> None:
    assert path.stem in HAND_WRITTEN, f"add a hand-written equivalent of {path.name} to HAND_WRITTEN"
    example = prepared(path)
    inputs = make_inputs(example.checked, BATCH, seed=2)
    untouched = {k: v.copy() for k, v in inputs.items()}
    outputs = example.run(inputs)
    for name, array in inputs.items():
        np.testing.assert_array_equal(array, untouched[name], err_msg=f"running changed input {name!r}")
    expected = run_hand_written(path.stem, example.weights, inputs, example.checked)
    assert list(outputs) == [o.name for o in example.checked.graph.outputs]
    for (name, got), want in zip(outputs.items(), expected):
        assert got.shape == want.shape, name
        assert got.dtype == want.dtype, name
        assert np.isfinite(got).all()
        assert float(np.abs(want).max()) > 0.01, "the outputs are too small for the comparison to mean much"
        diff = float(np.abs(got - want).max())
        assert diff <= TOLERANCE, f"{path.stem} output {name!r} differs from the hand-written model by {diff:g}"


@pytest.mark.parametrize("path", EXAMPLES, ids=ids)
def test_weights_file_round_trip(path: Path, prepared: Callable[[Path], Prepared], tmp_path: Path) -> None:
    """run(weights=FILE) builds afresh and loads the file: the same numbers as the loaded model;
    save_weights writes back exactly the file's tensors."""
    example = prepared(path)
    inputs = make_inputs(example.checked, BATCH, seed=4)
    fresh = api.run(example.checked, inputs, weights=example.weights_file, device="cpu")
    loaded = example.run(inputs)
    for name in loaded:
        np.testing.assert_array_equal(fresh[name], loaded[name])
    save_weights(example.model, tmp_path / "again.safetensors")
    again = load_file(str(tmp_path / "again.safetensors"))
    assert sorted(again) == sorted(example.weights)
    for name, array in example.weights.items():
        np.testing.assert_array_equal(again[name], array)


@pytest.mark.parametrize("path", EXAMPLES, ids=ids)
def test_inferred_output_shapes_are_the_real_ones(path: Path, prepared: Callable[[Path], Prepared]) -> None:
    example = prepared(path)
    report = infer_shapes(example.checked, batch=BATCH)
    outputs = example.run(make_inputs(example.checked, BATCH, seed=3))
    for output in example.checked.graph.outputs:
        spec = next(n for n in report.nodes if n.id == output.node).outputs[output.port]
        real = outputs[output.name].shape
        assert spec.shape is not None
        if example.backend == "keras":
            # Keras graphs are inferred on symbolic tensors: the open batch dimension stays None
            # there (torch graphs report `batch`); every other dimension must be exact.
            assert spec.shape[0] in (None, BATCH)
            shape = (BATCH, *spec.shape[1:])
        else:
            shape = spec.shape
        assert tuple(shape) == tuple(real), f"{output.name}: inferred {spec.shape}, real {real}"
        assert spec.dtype.removeprefix("torch.") == str(outputs[output.name].dtype)


@pytest.mark.parametrize("stem", ["cnn", "keras_merge"])
def test_cli_run_writes_the_api_result(stem: str, prepared: Callable[[Path], Prepared], tmp_path: Path) -> None:
    example = prepared(EXAMPLES_DIR / f"{stem}.json")
    inputs = make_inputs(example.checked, BATCH, seed=5)
    arguments = ["run", str(example.path), "--device", "cpu", "--weights", str(example.weights_file),
                 "--out", str(tmp_path / "out")]
    for name, array in inputs.items():
        np.save(tmp_path / f"{name}.npy", array)
        arguments += ["--input", f"{name}={tmp_path / f'{name}.npy'}"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    expected = example.run(inputs)
    for name, array in expected.items():
        written = np.load(tmp_path / "out" / f"{name}.npy", allow_pickle=False)
        assert written.shape == array.shape and written.dtype == array.dtype
        np.testing.assert_array_equal(written, array)
