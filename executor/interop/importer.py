"""`nodecat import` as a function: a TARGET (or a model object) in, an ImportResult out, files written.

The importer is chosen by what the factory returns: a keras.Model (on Keras' torch backend also a
torch module, so Keras is asked first) goes to the Keras importer, any other torch.nn.Module to the
torch.fx importer. A `.keras` file is read by the Keras importer without unsafe deserialisation.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.interop.imported import ImportResult
from nodecat.executor.interop.target import InputSpec, call_factory, is_keras_file, load_factory


def import_target(target: str, inputs: dict[str, InputSpec] | None = None, name: str = "") -> ImportResult:
    """Import what TARGET names: `file.py:factory`, `package.module:factory` or `model.keras`."""
    if is_keras_file(target):
        path = Path(target)
        if not path.is_file():
            raise GraphError(GraphProblem("bad_target", f"{path} does not exist"))
        _no_specs_for_keras(inputs)
        from nodecat.executor.interop.keras_import import import_keras_file
        return import_keras_file(path)
    factory, factory_name = load_factory(target)
    model = call_factory(factory, factory_name)
    return import_model(model, inputs, name or factory_name)


def import_model(model: Any, inputs: dict[str, InputSpec] | None = None, name: str = "") -> ImportResult:
    """Import a torch.nn.Module (traced with torch.fx; `inputs` gives each forward parameter's
    shape) or a functional / Sequential keras.Model (its input layers carry the shapes)."""
    if _is_keras_model(model):
        _no_specs_for_keras(inputs)
        from nodecat.executor.interop.keras_import import import_keras
        return import_keras(model, name)
    import torch
    if isinstance(model, torch.nn.Module):
        from nodecat.executor.interop.torch_import import import_torch
        return import_torch(model, dict(inputs or {}), name)
    raise GraphError(GraphProblem("bad_target", f"the factory returned a {type(model).__name__}, "
                                  "not a torch.nn.Module or a keras.Model"))


def _is_keras_model(model: Any) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model)


def _no_specs_for_keras(inputs: dict[str, InputSpec] | None) -> None:
    if inputs:
        raise GraphError(GraphProblem("bad_input_spec", "a Keras model declares its input shapes itself",
                                      hint="leave out --input-shape for Keras models"))


def default_weights_path(graph_path: Path) -> Path:
    """Weights next to the graph: model.json -> model.safetensors."""
    return graph_path.with_suffix(".safetensors")


def write_import(result: ImportResult, graph_path: Path, weights_path: Path) -> None:
    """The graph as JSON and the weights as safetensors, each written atomically (weights first,
    so a graph on disk always has its weights beside it)."""
    from safetensors.numpy import save

    from nodecat.introspector.jsonio import dumps, write_atomic, write_bytes_atomic
    # np.asarray, not np.ascontiguousarray: that one turns 0-d tensors (num_batches_tracked) into 1-d
    arrays = {k: np.asarray(v, order="C") for k, v in sorted(result.weights.items())}
    write_bytes_atomic(weights_path, save(arrays, metadata={"format": "nodecat-weights/1"}))
    write_atomic(graph_path, dumps(result.graph.to_json()))
