"""Weights as safetensors files: no pickle, so a weights file cannot run code.

torch graphs use the module's state dict (`fc1.weight`); Keras graphs use each variable's path
with dots (`head.kernel` for `head/kernel`), so both read the same way. Loading is strict:
a missing, unexpected or mis-shaped tensor is an error that lists every such name.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nodecat.executor.graph.errors import GraphError, GraphProblem


def _bad(message: str, hint: str = "") -> GraphError:
    return GraphError(GraphProblem("bad_weights", message, hint=hint))


def _read(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file
    if not path.is_file():
        raise GraphError(GraphProblem("file_not_found", f"weights file {path} does not exist"))
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise _bad(f"{path} is not a safetensors file: {exc}") from None


def name_mismatch(found: dict[str, tuple[int, ...]], wanted: dict[str, tuple[int, ...]]) -> str:
    """What keeps saved tensors (name -> shape) from fitting the wanted ones; "" when they fit."""
    missing = sorted(set(wanted) - set(found))
    unexpected = sorted(set(found) - set(wanted))
    misshaped = sorted(k for k in set(found) & set(wanted) if tuple(found[k]) != tuple(wanted[k]))
    problems = [f"missing: {', '.join(missing[:10])}" if missing else "",
                f"unexpected: {', '.join(unexpected[:10])}" if unexpected else "",
                "wrong shape: " + ", ".join(f"{k} {tuple(found[k])} (expected {tuple(wanted[k])})"
                                            for k in misshaped[:10]) if misshaped else ""]
    return "; ".join(p for p in problems if p)


def _check_names(found: dict[str, tuple[int, ...]], wanted: dict[str, tuple[int, ...]], path: Path) -> None:
    mismatch = name_mismatch(found, wanted)
    if mismatch:
        raise _bad(f"{path} does not fit the graph: {mismatch}",
                   "weights are named <node id>.<parameter>, as `nodecat run --save-weights` writes them")


def keras_weight_name(variable: Any) -> str:
    return variable.path.replace("/", ".")


def load_weights(model: Any, path: Path) -> None:
    """Load a safetensors file into a built torch module or Keras model, strictly."""
    arrays = _read(path)
    found = {k: tuple(v.shape) for k, v in arrays.items()}
    if _is_keras_model(model):
        variables = {keras_weight_name(v): v for v in model.weights}
        _check_names(found, {k: tuple(v.shape) for k, v in variables.items()}, path)
        for name, variable in variables.items():
            variable.assign(arrays[name].astype(variable.dtype, copy=False))
        return
    import torch
    state = model.state_dict()
    _check_names(found, {k: tuple(v.shape) for k, v in state.items()}, path)
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}, strict=True)


def save_weights(model: Any, path: Path) -> None:
    """Write the model's weights as safetensors, atomically (a temporary file, then a rename)."""
    from safetensors.numpy import save
    from nodecat.introspector.jsonio import write_bytes_atomic
    if _is_keras_model(model):
        from nodecat.executor.build.arrays import to_numpy
        arrays = {keras_weight_name(v): to_numpy(v) for v in model.weights}
    else:
        arrays = {k: v.detach().cpu().contiguous().numpy() for k, v in model.state_dict().items()}
    write_bytes_atomic(path, save(arrays, metadata={"format": "nodecat-weights/1"}))


def _is_keras_model(model: Any) -> bool:
    return type(model).__module__.startswith("keras") or hasattr(model, "input_names_nodecat")
