"""A Keras model's inputs keep the model's own order (`input_layers`) through import, run and
export, not the order in which the input layers were created."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import nodecat  # noqa: E402


def _model() -> keras.Model:
    keras.utils.set_random_seed(0)
    sequence = keras.Input(shape=(5, 3), name="sequence")  # created first ...
    numbers = keras.Input(shape=(4,), name="numbers")
    pooled = keras.layers.GlobalAveragePooling1D(name="pool")(sequence)
    joined = keras.layers.Concatenate(name="join")([numbers, pooled])
    out = keras.layers.Dense(2, name="head")(joined)
    return keras.Model([numbers, sequence], out, name="ordered")  # ... but listed second


def _inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(2, 4)).astype("float32"), rng.normal(size=(2, 5, 3)).astype("float32")


def test_imported_graph_lists_inputs_in_the_models_order(tmp_path):
    model = _model()
    result = nodecat.import_model(model, out=tmp_path / "ordered.json")
    assert result.summary()["inputs"] == ["numbers", "sequence"]
    checked = nodecat.check(tmp_path / "ordered.json")
    assert [n.id for n in checked.inputs] == ["numbers", "sequence"]
    numbers, sequence = _inputs()
    ran = nodecat.run(checked, {"numbers": numbers, "sequence": sequence},
                      weights=tmp_path / "ordered.safetensors")
    np.testing.assert_allclose(ran["output"], nodecat.to_numpy(model([numbers, sequence])), atol=1e-5)


def test_exported_model_is_called_in_the_original_order(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    nodecat.import_model(_model(), out=tmp_path / "ordered.json")
    [onnx_file] = nodecat.export(tmp_path / "ordered.json", "onnx", tmp_path / "ordered.onnx",
                                 weights=tmp_path / "ordered.safetensors")
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["numbers", "sequence"]
    source = (tmp_path / "ordered.py")
    nodecat.export(tmp_path / "ordered.json", "python", source)
    assert "keras.Model(inputs=[numbers, sequence]" in source.read_text(encoding="utf-8")
