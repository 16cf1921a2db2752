"""The walker binds a layer's ports by its call signature, not by the descriptor's port order.

`keras.layers.TimeDistributed.call(inputs, training=None, mask=None)` has the ports (inputs, mask):
counting ports put an edge into `mask` where `training` sits, so the mask was silently dropped.
`torch.nn.MultiheadAttention.forward` has `need_weights` between its `key_padding_mask` and
`attn_mask` ports in the same way. Each graph is compared with the same model written directly.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")  # as nodecat does; before anything imports keras

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from nodecat.executor import api  # noqa: E402
from nodecat.executor.interop.export import python_source  # noqa: E402
from nodecat.executor.build.weights import keras_weight_name  # noqa: E402

BATCH = 3
TOLERANCE = 1e-6


def edge(source: str, target: str, port: str, out: str = "output") -> dict[str, Any]:
    return {"from": {"node": source, "port": out}, "to": {"node": target, "port": port}}


# A masked average over the inner axis, per time step: the mask changes every output value.
TIME_DISTRIBUTED_MASK = {
    "format": "nodecat-graph/1", "name": "time distributed mask",
    "description": "A mask tensor fed to TimeDistributed's mask port, which follows `training` in its call.",
    "catalogs": {"keras": keras.__version__},
    "nodes": [
        {"id": "x", "op": "input", "args": {"shape": [None, 4, 5, 3], "dtype": "float32"}},
        {"id": "m", "op": "input", "args": {"shape": [None, 4, 5], "dtype": "bool"}},
        {"id": "inner", "op": "keras.layers.GlobalAveragePooling1D"},
        {"id": "td", "op": "keras.layers.TimeDistributed"},
        {"id": "head", "op": "keras.layers.Dense", "args": {"units": 2}},
    ],
    "edges": [
        {"from": {"node": "inner"}, "to": {"node": "td", "arg": "layer"}},
        edge("x", "td", "inputs"),
        edge("m", "td", "mask"),
        edge("td", "head", "inputs"),
    ],
    "outputs": [{"name": "y", "node": "head", "port": "output"}],
}


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_time_distributed_mask_port_reaches_mask(tmp_path: Path) -> None:
    checked = api.validate(write(tmp_path, TIME_DISTRIBUTED_MASK))
    model = api.build(checked, device="cpu")
    rng = np.random.default_rng(0)
    for variable in model.weights:  # random, so the head is not near its initialisation
        variable.assign((0.3 * rng.standard_normal(tuple(variable.shape))).astype("float32"))
    weights = {keras_weight_name(v): api.to_numpy(v) for v in model.weights}

    x = rng.standard_normal((BATCH, 4, 5, 3)).astype("float32")
    m = rng.random((BATCH, 4, 5)) < 0.6
    m[..., 0] = True  # every time step keeps one element: no average over nothing
    got = api.run(checked, {"x": x, "m": m}, device="cpu", model=model)["y"]

    xs = keras.Input(shape=(4, 5, 3), dtype="float32")
    ms = keras.Input(shape=(4, 5), dtype="bool")
    pooled = keras.layers.TimeDistributed(keras.layers.GlobalAveragePooling1D(), name="td")(xs, mask=ms)
    head = keras.layers.Dense(2, name="head")
    reference = keras.Model([xs, ms], head(pooled))
    head.set_weights([weights["head.kernel"], weights["head.bias"]])
    want = keras.ops.convert_to_numpy(reference([x, m], training=False))
    unmasked = keras.ops.convert_to_numpy(reference([x, np.ones_like(m)], training=False))

    assert not np.allclose(want, unmasked, atol=1e-3)  # the mask matters, so the test can fail
    np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)


def test_generated_python_passes_the_mask_by_keyword(tmp_path: Path) -> None:
    source = python_source(api.validate(write(tmp_path, TIME_DISTRIBUTED_MASK)))
    assert "mask=m" in source


# All five ports connected: attn_mask is the fifth port but the sixth parameter (after need_weights).
MULTIHEAD_MASKS = {
    "format": "nodecat-graph/1", "name": "attention masks",
    "description": "MultiheadAttention with both masks connected.",
    "catalogs": {"torch": torch.__version__.split("+")[0]},
    "nodes": [
        {"id": "x", "op": "input", "args": {"shape": [None, 5, 8], "dtype": "float32"}},
        {"id": "pad", "op": "input", "args": {"shape": [None, 5], "dtype": "bool"}},
        {"id": "causal", "op": "input", "args": {"shape": [5, 5], "dtype": "bool"}},
        {"id": "attn", "op": "torch.nn.MultiheadAttention",
         "args": {"embed_dim": 8, "num_heads": 2, "batch_first": True}},
    ],
    "edges": [
        edge("x", "attn", "query"), edge("x", "attn", "key"), edge("x", "attn", "value"),
        edge("pad", "attn", "key_padding_mask"), edge("causal", "attn", "attn_mask"),
    ],
    "outputs": [{"name": "y", "node": "attn", "port": "attn_output"}],
}


def test_multihead_attention_attn_mask_port_reaches_attn_mask(tmp_path: Path) -> None:
    checked = api.validate(write(tmp_path, MULTIHEAD_MASKS))
    model = api.build(checked, device="cpu")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 5, 8)).astype("float32")
    pad = np.zeros((BATCH, 5), dtype=bool)
    pad[:, -1] = True
    causal = np.triu(np.ones((5, 5), dtype=bool), k=1)
    got = api.run(checked, {"x": x, "pad": pad, "causal": causal}, device="cpu", model=model)["y"]

    reference = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    reference.load_state_dict({k.removeprefix("attn."): v for k, v in model.state_dict().items()})
    reference.eval()
    with torch.no_grad():
        t = torch.from_numpy(x)
        want, _ = reference(t, t, t, key_padding_mask=torch.from_numpy(pad), attn_mask=torch.from_numpy(causal))
    np.testing.assert_allclose(got, want.numpy(), atol=TOLERANCE, rtol=0)
