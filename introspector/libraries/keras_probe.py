"""Find a worked example for a Keras layer, loss or metric: argument values and input shapes.

Layers are applied to symbolic `keras.Input` tensors, so Keras only infers output specs:
no data flows and no random numbers are drawn, and the result is the same on every machine.
Candidates are tried in a fixed order; the first that instantiates and applies wins.
Shapes are channels-last (Keras' default data format).
"""
from __future__ import annotations

from typing import Any

import keras

from nodecat.introspector.libraries.probe_values import (FEATURES, as_call_value, example_value, layer_fed_args,
                                                 layer_fed_reason, ranks_by_name, search_example)
from nodecat.introspector.model import Arg, Node

_BY_NAME: dict[str, Any] = {
    "units": FEATURES, "filters": FEATURES, "kernel_size": 2, "pool_size": 2, "num_heads": 2,
    "key_dim": FEATURES, "head_dim": FEATURES, "num_query_heads": 2, "num_key_value_heads": 2,
    "input_dim": 10, "output_dim": FEATURES, "rate": 0.5, "stddev": 0.1, "n": 2, "target_shape": [-1],
    "dims": [1], "height": 4, "width": 4, "output_size": 2, "num_tokens": 10, "num_bins": 10,
    "depth_multiplier": 1, "factor": 0.1, "scale": 1.0, "size": 2, "cropping": 1, "padding": 1,
    "axes": -1, "equation": "ab,bc->ac", "output_shape": FEATURES, "max_tokens": 10, "k": 2,
    "num_classes": 2, "num_thresholds": 3, "thresholds": 0.5, "recall": 0.5, "precision": 0.5,
    "specificity": 0.5, "sensitivity": 0.5, "target_class_ids": [0, 1], "class_id": 0,
}


# Layers that import an optional package when built. They are not probed at all, so the
# catalog is the same bytes whether or not that package happens to be installed.
NEEDS_PACKAGE = {
    **{f"keras.layers.{name}": "tensorflow" for name in ("HashedCrossing", "Hashing", "IntegerLookup",
                                                        "StringLookup", "TextVectorization")},
    "keras.layers.STFTSpectrogram": "scipy",
}


def _value(arg: Arg) -> Any:
    if not arg.has_example and arg.name in _BY_NAME:
        return _BY_NAME[arg.name]
    return example_value(arg)


def _shape(rank: int) -> list[int]:
    # batch 2, spatial or time dims 8, features last.
    return [2] + [8] * (rank - 2) + [FEATURES]


def _input_candidates(node: Node) -> list[dict[str, dict[str, Any]]]:
    ports = [p for p in node.inputs if p.required]
    candidates = []
    for rank in ranks_by_name(node.name, [2, 3, 4, 5]):
        shape = _shape(rank)
        for dtype in ("float32", "int32"):
            candidates.append({p.name: {"shape": shape, "dtype": dtype} for p in ports})
        if any(p.name == "y_true" for p in ports):  # sparse labels: class indices, one dim fewer
            candidates.append({p.name: {"shape": shape[:-1], "dtype": "int32"} if p.name == "y_true"
                               else {"shape": shape, "dtype": "float32"} for p in ports})
    return candidates


def _probe_tensor(spec: dict[str, Any], node: Node) -> Any:
    """Layers get symbolic keras.Input tensors. Losses and metrics get small concrete tensors of
    ones: metrics keep state, which symbolic tensors cannot update."""
    if node.kind == "layer":
        return keras.Input(batch_shape=tuple(spec["shape"]), dtype=spec["dtype"])
    return keras.ops.ones(tuple(spec["shape"]), dtype=spec["dtype"])


def apply_example(obj: Any, node: Node, example: dict[str, Any]) -> Any:
    """Instantiate the class with the example's args and apply it to probe inputs in port order;
    a port that merges several edges (conns other than 1) gets a list of two."""
    instance = obj(**{k: as_call_value(v) for k, v in example["args"].items()})
    values = []
    for port in node.inputs:
        if port.name not in example["inputs"]:
            continue
        spec = example["inputs"][port.name]
        one = _probe_tensor(spec, node)
        values.append([one, _probe_tensor(spec, node)] if port.conns != 1 else one)
    return instance(*values)


def find_example(node: Node, obj: Any) -> tuple[dict[str, Any] | None, str]:
    if node.kind not in ("layer", "loss", "metric") or not node.call.get("instantiate"):
        return None, ""
    if node.id in NEEDS_PACKAGE:
        return None, (f"builds only with {NEEDS_PACKAGE[node.id]} installed, which nodecat does not require; "
                      "not probed, so the catalog does not depend on it")
    if layer_args := layer_fed_args(node):
        return None, layer_fed_reason(layer_args)
    if any(p.type != "tensor" for p in node.inputs if p.required):
        return None, "an input port is not a plain tensor"
    base = {a.name: _value(a) for a in node.args if a.stage == "init" and a.required}
    return search_example(node, lambda example: apply_example(obj, node, example),
                          ({"args": base, "inputs": inputs} for inputs in _input_candidates(node)))
