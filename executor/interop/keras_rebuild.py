"""The imported graph, built by the executor itself, checked against the model it came from, and
the model's weights named as that build names them.

The graph is built with the executor's own Keras walk on the `meta` device (no weight allocated).
Every node's outputs must have the model's shapes and dtypes; every operation must record the
same operation class and config; every layer must hold variables of the same shapes, in the same
order, as the model's layer. The weights then take the built variables' names (`<id>.kernel`,
`<wrapper>.forward_<id>.lstm_cell.kernel`), which is what loading into a fresh build expects.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.interop.imported import Unmapped
from nodecat.executor.interop.keras_args import config_difference
from nodecat.executor.interop.keras_plan import NodePlan
from nodecat.executor.graph.validate import CheckedGraph
from nodecat.executor.build.weights import keras_weight_name, name_mismatch


@dataclass(frozen=True)
class Original:
    """What the model says about one of its operations: the object and the outputs of its one call."""

    operation: Any
    outputs: tuple[Any, ...]


def rebuild(checked: CheckedGraph, plans: dict[str, NodePlan], originals: dict[str, Original]
            ) -> tuple[list[Unmapped], dict[str, np.ndarray]]:
    """Differences between the built graph and the model (as Unmapped), and the weights by name.

    `plans` maps node ids to the plans of applied nodes; `originals` maps the model's names."""
    import keras

    from nodecat.executor.build.keras_build import KerasGraph
    try:
        with keras.device("meta"):
            built = KerasGraph(checked)
    except GraphError as exc:  # the executor cannot build what the importer wrote: say so, keep the node
        raise GraphError([GraphProblem("import_failed", f"the executor cannot build the imported graph: {p.message}",
                                       p.node, p.pointer, "please report the model; the import is refused")
                          for p in exc.problems]) from exc
    unmapped: list[Unmapped] = []
    weights: dict[str, np.ndarray] = {}
    for node_id, plan in plans.items():
        original = originals[plan.name]
        difference = _output_difference(original.outputs, keras.tree.flatten(built.results[node_id]))
        if not difference and not plan.is_layer:
            difference = _operation_difference(original.operation, built.results[node_id])
        if not difference and plan.is_layer:
            difference = _collect_weights(original.operation, built.instances[node_id], weights)
        if difference:
            unmapped.append(Unmapped(plan.name, plan.op, f"the graph's node does not reproduce it: {difference}"))
    if not unmapped:
        _check_complete(weights, built.model)
    return unmapped, weights


def _output_difference(original: tuple[Any, ...], rebuilt: list[Any]) -> str:
    def spec(tensor: Any) -> str:
        return f"{tuple(getattr(tensor, 'shape', ()))} {getattr(tensor, 'dtype', type(tensor).__name__)}"
    want, got = [spec(t) for t in original], [spec(t) for t in rebuilt]
    return "" if want == got else f"outputs {', '.join(got)} instead of {', '.join(want)}"


def _operation_difference(original: Any, result: Any) -> str:
    history = getattr(result, "_keras_history", None)
    recorded = getattr(history, "operation", None)
    if type(recorded) is not type(original):
        return f"the function records {type(recorded).__name__}, the model {type(original).__name__}"
    return config_difference(original.get_config(), recorded.get_config())


def _collect_weights(original: Any, rebuilt: Any, weights: dict[str, np.ndarray]) -> str:
    from nodecat.executor.build.arrays import to_numpy
    theirs, ours = list(original.weights), list(rebuilt.weights)
    shapes = [tuple(v.shape) for v in theirs], [tuple(v.shape) for v in ours]
    if shapes[0] != shapes[1]:
        return f"variables of shapes {shapes[1]} instead of {shapes[0]}"
    for source, target in zip(theirs, ours):
        weights[keras_weight_name(target)] = np.ascontiguousarray(to_numpy(source))
    return ""


def _check_complete(weights: dict[str, np.ndarray], model: Any) -> None:
    """Every variable of the built model gets exactly one array: what strict loading will demand."""
    wanted = {keras_weight_name(v): tuple(v.shape) for v in model.weights}
    mismatch = name_mismatch({k: tuple(v.shape) for k, v in weights.items()}, wanted)
    if mismatch:
        raise GraphError(GraphProblem("import_failed", f"the imported weights do not fit the built graph: {mismatch}",
                                      hint="this is a bug in the Keras importer; please report the model"))
