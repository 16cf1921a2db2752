"""Every Keras layer node can be built from its descriptor alone and applied to probe keras.Input tensors.

The descriptors are read back from JSON text (what an editor or executor sees). For each layer node
the class is resolved by exact lookup of its recorded origin (module, then one getattr per qualname
part), compared with the object at its public id, instantiated with `example.args`, and applied to
symbolic `keras.Input` tensors built from `example.inputs` in the order of the node's input ports (a
port that merges several edges gets a list of two). Losses and metrics get small concrete tensors,
since metrics keep state. Wrappers, whose required layer is fed by an edge, are built around the
example of another catalog node. The nodes left without an example are listed with their reasons.
"""
from __future__ import annotations

import warnings
from typing import Any

import keras
import pytest

from helpers import resolve_origin, resolve_path

# Wrapper node -> (argument fed by an edge, the catalog node that feeds it in this test).
WRAPPED_BY = {
    "keras.layers.Bidirectional": ("layer", "keras.layers.LSTM"),
    "keras.layers.TimeDistributed": ("layer", "keras.layers.Dense"),
    "keras.layers.SpectralNormalization": ("layer", "keras.layers.Dense"),
    "keras.layers.RNN": ("cell", "keras.layers.LSTMCell"),
}
# The only nodes allowed to have no example, and what their recorded reason must say.
EXPECTED_WITHOUT_EXAMPLE = {
    **{node: "takes a layer (fed by an edge)" for node in WRAPPED_BY},
    **{f"keras.layers.{name}": "builds only with tensorflow installed"
       for name in ("HashedCrossing", "Hashing", "IntegerLookup", "StringLookup", "TextVectorization")},
    "keras.layers.STFTSpectrogram": "builds only with scipy installed",
}


def _value(value: Any) -> Any:
    return tuple(_value(v) for v in value) if isinstance(value, list) else value


def _probe(spec: dict[str, Any], symbolic: bool) -> Any:
    if symbolic:
        return keras.Input(batch_shape=tuple(spec["shape"]), dtype=spec["dtype"])
    return keras.ops.ones(tuple(spec["shape"]), dtype=spec["dtype"])


def _apply(node: dict[str, Any], instance: Any, inputs: dict[str, dict[str, Any]]) -> Any:
    symbolic = node["kind"] == "layer"
    values = []
    for port in node["inputs"]:
        if port["name"] in inputs:
            spec = inputs[port["name"]]
            values.append([_probe(spec, symbolic), _probe(spec, symbolic)] if port["conns"] != 1
                          else _probe(spec, symbolic))
    return instance(*values)


def _instance(node: dict[str, Any], extra: dict[str, Any] | None = None) -> Any:
    cls = resolve_origin(node["origin"]["module"], node["origin"]["qualname"])
    assert cls is resolve_path(node["id"]), node["id"]
    return cls(**{name: _value(v) for name, v in node["example"]["args"].items()}, **(extra or {}))


def _instantiable(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in doc["nodes"] if n["kind"] in ("layer", "loss", "metric") and n["call"]["instantiate"]]


def test_every_layer_loss_and_metric_node_builds_and_applies_from_its_example(keras_doc: dict[str, Any]) -> None:
    failures, applied = [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for node in _instantiable(keras_doc):
            if "example" not in node:
                continue
            try:
                output = _apply(node, _instance(node), node["example"]["inputs"])
            except Exception as exc:  # noqa: BLE001 - collected and reported all at once
                failures.append(f"{node['id']}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            assert output is not None
            applied += 1
    print(f"\nbuilt and applied from their examples: {applied}")
    assert failures == []
    assert applied >= 170


def test_layer_outputs_are_symbolic_with_a_batch_dimension(keras_doc: dict[str, Any]) -> None:
    node = next(n for n in keras_doc["nodes"] if n["id"] == "keras.layers.Conv2D")
    output = _apply(node, _instance(node), node["example"]["inputs"])
    assert isinstance(output, keras.KerasTensor)
    assert output.shape[0] == node["example"]["inputs"]["inputs"]["shape"][0]


def test_only_the_expected_nodes_lack_an_example_and_each_says_why(keras_doc: dict[str, Any]) -> None:
    missing = {n["id"]: n.get("example_failure", "") for n in _instantiable(keras_doc) if "example" not in n}
    print("\nnodes without an example:")
    for node_id, reason in sorted(missing.items()):
        print(f"  {node_id}: {reason}")
    assert set(missing) == set(EXPECTED_WITHOUT_EXAMPLE)
    for node_id, reason in missing.items():
        assert EXPECTED_WITHOUT_EXAMPLE[node_id] in reason, (node_id, reason)


@pytest.mark.parametrize("wrapper", sorted(WRAPPED_BY))
def test_wrappers_apply_around_a_layer_from_another_node(keras_doc: dict[str, Any], wrapper: str) -> None:
    nodes = {n["id"]: n for n in keras_doc["nodes"]}
    arg_name, inner_id = WRAPPED_BY[wrapper]
    node, inner_node = nodes[wrapper], nodes[inner_id]
    arg = next(a for a in node["args"] if a["name"] == arg_name)
    assert arg["accepts_edge"] and arg["required"]
    inner = _instance(inner_node)
    cls = resolve_origin(node["origin"]["module"], node["origin"]["qualname"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = cls(**{arg_name: inner})
        rank = {"keras.layers.Bidirectional": 3, "keras.layers.RNN": 3, "keras.layers.TimeDistributed": 3}.get(wrapper, 2)
        shape = [2] + [8] * (rank - 2) + [4]
        port = node["inputs"][0]["name"]
        output = _apply(node, layer, {port: {"shape": shape, "dtype": "float32"}})
    assert isinstance(output, keras.KerasTensor)
