"""Building and running: a checked graph built into a model on a device (its memory estimate checked
first), run once on numpy arrays, with a failing node named. `nodecat.executor.api` re-exports these.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from nodecat.executor.build.arrays import to_numpy
from nodecat.executor.build.devices import available_memory, pick_device
from nodecat.executor.graph.errors import GraphError, GraphProblem, NodeError
from nodecat.executor.graph.document import Graph
from nodecat.executor.graph.load import load_graph
from nodecat.executor.build.shapes import ShapeReport, check_budget, infer_shapes
from nodecat.executor.graph.validate import CheckedGraph, check_graph
from nodecat.executor.build.walk import describe_inputs, short_error

__all__ = ["load", "validate", "infer_shapes", "build", "run", "GraphError", "NodeError"]

Budget = int | Literal["auto"] | None


def load(path: str | Path) -> Graph:
    return load_graph(path)


def validate(graph: Graph | str | Path) -> CheckedGraph:
    return check_graph(graph if isinstance(graph, Graph) else load_graph(graph))


def _checked(graph: CheckedGraph | Graph | str | Path) -> CheckedGraph:
    return graph if isinstance(graph, CheckedGraph) else validate(graph)


def build(graph: CheckedGraph | Graph | str | Path, device: str = "auto", weights: str | Path | None = None,
          budget: Budget = "auto") -> Any:
    """A torch.nn.Module (torch or mixed graphs) or a keras.Model (all-Keras graphs) on `device`.

    Before any real weight is allocated, shapes are inferred on `meta` and the estimate is checked
    against `budget` bytes ("auto": the device's free memory; None: no check)."""
    checked = _checked(graph)
    device = pick_device(device)
    if budget is not None:
        check_budget(infer_shapes(checked), available_memory(device) if budget == "auto" else budget, device)
    if checked.backend == "keras":
        from nodecat.executor.build.keras_build import build_keras_model
        model = build_keras_model(checked, device)
    else:
        from nodecat.executor.build.torch_build import build_torch_module
        model = build_torch_module(checked, device)
        if any(n.descriptor.library == "keras" for n in checked.order):
            _build_keras_layers(checked, model, device)
    if weights is not None:
        from nodecat.executor.build.weights import load_weights
        load_weights(model, Path(weights))
    return model


def _build_keras_layers(checked: CheckedGraph, module: Any, device: str) -> None:
    """Keras layers create their weights on first call; call once on zeros so that the state dict
    is complete (weights can be loaded) and every weight lives on `device`."""
    import keras
    import torch

    from nodecat.executor.build.walk import input_shape
    from nodecat.executor.build.torch_build import torch_dtype
    zeros = [torch.zeros(input_shape(n, 1), dtype=torch_dtype(n.args.get("dtype", "float32")), device=device)
             for n in checked.inputs]
    with torch.no_grad(), keras.device(device):
        _forward(checked, module, zeros)


def run(graph: CheckedGraph | Graph | str | Path, inputs: dict[str, np.ndarray], weights: str | Path | None = None,
        device: str = "auto", model: Any = None) -> dict[str, np.ndarray]:
    """Run the graph once in inference mode; the declared outputs by name, as numpy arrays."""
    checked = _checked(graph)
    arrays = check_inputs(checked, inputs)
    device = pick_device(device)
    if model is None:
        model = build(checked, device, weights)
    if checked.backend == "keras":
        import keras
        with keras.device(device):
            values = model([arrays[n.id] for n in checked.inputs] if len(arrays) > 1 else
                           arrays[checked.inputs[0].id], training=False)
        results = values if isinstance(values, (list, tuple)) else [values]
        results = [to_numpy(v) for v in results]
    else:
        import torch
        model.eval()
        tensors = [torch.from_numpy(arrays[n.id]).to(device) for n in checked.inputs]
        with torch.inference_mode():
            values = _forward(checked, model, tensors)
        results = list(values) if len(checked.graph.outputs) > 1 else [values]
        results = [to_numpy(v) for v in results]
    return {o.name: r for o, r in zip(checked.graph.outputs, results)}


def _forward(checked: CheckedGraph, module: Any, tensors: list[Any]) -> Any:
    """Run the fast generated forward; when a node fails, replay node by node to name it."""
    try:
        return module(*tensors)
    except Exception as exc:
        located = _locate_failure(checked, module, tensors)
        if located is not None:
            raise located from exc
        raise NodeError("node_failed", "", "", f"the model failed: {short_error(exc)}") from exc


def _locate_failure(checked: CheckedGraph, module: Any, tensors: list[Any]) -> NodeError | None:
    import torch.fx as fx


    class Locator(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            try:
                return super().run_node(n)
            except Exception as exc:
                owner = n
                while "nodecat_id" not in owner.meta and owner.args:
                    owner = owner.args[0]
                node = checked.node(owner.meta.get("nodecat_id", ""))
                args, kwargs = self.fetch_args_kwargs_from_env(n)
                raise NodeError("node_failed", node.id, node.pointer, f"{node.descriptor.id} failed on inputs "
                                f"{describe_inputs(args, kwargs)}: {short_error(exc)}") from exc
    try:
        Locator(module).run(*tensors)
    except NodeError as error:
        return error
    except Exception:  # the replay failed elsewhere: report the original failure unlocated
        return None
    return None


def check_inputs(checked: CheckedGraph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every graph input given once, with its declared shape (open dims free) and a castable dtype."""
    problems = []
    expected = {n.id: n for n in checked.inputs}
    for name in sorted(set(inputs) - set(expected)):
        problems.append(GraphProblem("unknown_graph_input", f"the graph has no input {name!r}", name,
                                     hint="inputs: " + ", ".join(expected)))
    arrays = {}
    for name, node in expected.items():
        if name not in inputs:
            problems.append(GraphProblem("missing_graph_input", f"input {name!r} was not given", name,
                                         node.pointer, f"pass --input {name}=FILE.npy"))
            continue
        array = np.asarray(inputs[name])
        shape, dtype = node.args["shape"], np.dtype(node.args.get("dtype", "float32").replace("bfloat16", "float32"))
        fits = len(array.shape) == len(shape) and all(d is None or d == s for d, s in zip(shape, array.shape))
        if not fits:
            problems.append(GraphProblem("bad_input_value", f"input {name!r} has shape {tuple(array.shape)}, the "
                                         f"graph declares {_shape_text(shape)}", name, node.pointer + "/args/shape"))
        elif not np.can_cast(array.dtype, dtype, "same_kind"):
            problems.append(GraphProblem("bad_input_value", f"input {name!r} is {array.dtype}, the graph declares "
                                         f"{dtype}", name, node.pointer + "/args/dtype",
                                         "convert the array, or change the input's dtype"))
        else:
            arrays[name] = np.array(array, dtype=dtype, order="C", copy=True)  # the model may change it in place
    if problems:
        raise GraphError(problems)
    return arrays


def _shape_text(shape: list[int | None]) -> str:
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ")"


def profile(graph: CheckedGraph | Graph | str | Path, batch: int = 1) -> ShapeReport:
    """Per node and in total: parameters, parameter bytes, activation bytes and output shapes."""
    return infer_shapes(_checked(graph), batch)
