"""Importing a torch model: torch.fx trace in, a graph of catalog nodes and its weights out.

    result = import_torch(model, {"x": InputSpec((1, 3, 32, 32))})
    save_file(result.weights, "model.safetensors")
    outputs = api.run(result.graph, {"x": array}, weights="model.safetensors")

How (each step in its own module):
1. trace (torch_trace): torch.fx, with every module whose class is a catalog layer as a leaf;
   the model then runs twice (the given sizes, and the batch 3 larger) to record every value.
2. convert (torch_convert): placeholders become `input` nodes named after forward's parameters,
   with the batch left open; catalog layers become layer nodes whose constructor arguments are
   recovered from the instance and proven by rebuilding it (torch_args); functions, operators and
   tensor methods become catalog function nodes (torch_calls); basic indexing becomes
   index_select / squeeze / unsqueeze, a view a reshape with -1 for the batch (torch_index,
   torch_shape_ops); sizes fold to literals; parameters used directly become `constant` nodes
   (torch_constants). Every call that cannot be mapped is collected: the import raises one
   GraphError listing all of them (code `unmappable_call`), never a partial graph.
3. check: the graph is validated like any graph file, its shapes are inferred, and it is built on
   the meta device to prove that the weights fit it exactly.
"""
from __future__ import annotations

import numpy as np
import torch

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.document import Graph
from nodecat.executor.interop.imported import ImportNote, ImportResult, refuse
from nodecat.executor.interop.target import InputSpec
from nodecat.executor.interop.torch_catalog import torch_catalog
from nodecat.executor.interop.torch_convert import Converter
from nodecat.executor.interop.torch_trace import record_runs, trace

__all__ = ["import_torch"]


def import_torch(model: torch.nn.Module, inputs: dict[str, InputSpec], name: str = "") -> ImportResult:
    """The model as a graph of torch catalog nodes, with its weights (`<node id>.<parameter>`).

    `inputs` describes each of forward's parameters (a parameter with a default may be left out:
    it is traced at its default). The model is traced in eval mode."""
    catalog = torch_catalog()
    was_training = model.training
    model.eval()
    try:
        traced = trace(model, catalog, inputs)
        runs = record_runs(traced)
        converter = Converter(traced, runs, catalog, name)
        unmapped = converter.convert()
    finally:
        model.train(was_training)
    if unmapped:
        raise refuse(unmapped)
    graph = converter.builder.graph()
    _check(graph, converter.weights)
    notes = list(converter.notes)
    if was_training:
        notes.insert(0, ImportNote("", "the model was in training mode; it was imported in eval mode "
                                       "(dropout off, batch norm on its running statistics)"))
    return ImportResult(graph, converter.weights, tuple(notes), dict(converter.builder.origins))


def _check(graph: Graph, weights: dict[str, np.ndarray]) -> None:
    """An importer bug must not hand out a graph that is invalid or that its weights do not fit."""
    from nodecat.executor.build import run as api
    from nodecat.executor.build.torch_build import build_torch_module
    from nodecat.executor.build.weights import name_mismatch
    try:
        checked = api.validate(graph)
        api.infer_shapes(checked)  # every node runs on meta: a shape the importer got wrong shows here
        module = build_torch_module(checked, device="meta")
    except GraphError as exc:
        raise GraphError([GraphProblem("import_failed", f"the imported graph does not pass its own check: {p}",
                                       p.node, hint="the torch importer, or the catalog entry of that op, is wrong; "
                                                    "please report it with the model") for p in exc.problems]) from exc
    wanted = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    mismatch = name_mismatch({k: tuple(v.shape) for k, v in weights.items()}, wanted)
    if mismatch:
        raise GraphError(GraphProblem("import_failed", f"the imported weights do not fit the graph: {mismatch}",
                                      hint="a bug in the torch importer; please report it with the model"))
