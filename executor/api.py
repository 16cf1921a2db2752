"""nodecat's Python API: plain values in, plain values out. `import nodecat` gives these names; the
CLI (and any server) is a thin layer over them.

    import nodecat
    graph = nodecat.load("examples/mlp.json")          # strict JSON, schema-checked
    checked = nodecat.check(graph)                     # every problem at once (GraphError), shapes too
    report = nodecat.infer_shapes(checked, batch=32)   # shapes, parameters and bytes, on meta
    model = nodecat.build(checked, device="auto")      # torch.nn.Module, or keras.Model for Keras graphs
    outputs = nodecat.run(checked, {"x": array})       # {"logits": array}
    document = nodecat.check_report(graph)             # what `nodecat check --json` prints; never raises
    report = nodecat.train("examples/cnn.json", out_dir="runs/cnn", epochs=2)
    result = nodecat.import_model(module, {"x": nodecat.InputSpec((None, 3, 32, 32))})
    nodecat.export(checked, "onnx", "mlp.onnx")        # also "python", "torch", "keras"
    with nodecat.Client("http://127.0.0.1:8188") as c: # a `nodecat serve` server, over httpx
        job = c.wait(c.submit("examples/cnn.json", "train", epochs=2)["id"])

Every user mistake raises GraphError (code, message, node, pointer, hint). torch and keras are
imported only by the calls that need them, and httpx only by the first use of `nodecat.Client`
(the `server` extra), so `import nodecat` stays light.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nodecat.executor.build.arrays import to_numpy
from nodecat.executor.build.run import build, check_inputs, load, profile, run, validate
from nodecat.executor.build.shapes import ShapeReport, infer_shapes
from nodecat.executor.checking import check_report
from nodecat.executor.graph.document import Graph
from nodecat.executor.graph.errors import GraphError, GraphProblem, NodeError
from nodecat.executor.graph.validate import CheckedGraph
from nodecat.executor.interop.imported import ImportResult
from nodecat.executor.interop.target import InputSpec
from nodecat.executor.training.session import TrainOptions, TrainReport, evaluate

__all__ = ["load", "validate", "check", "check_report", "infer_shapes", "profile", "build", "run", "train", "evaluate",
           "import_model", "export", "to_numpy", "check_inputs", "Graph", "CheckedGraph", "ShapeReport",
           "TrainOptions", "TrainReport", "InputSpec", "ImportResult", "GraphError", "GraphProblem", "NodeError"]

# Names given on first use (module __getattr__), so `import nodecat` never imports httpx.
LAZY_NAMES = {"Client": "nodecat.executor.server.client", "ClientError": "nodecat.executor.server.client"}


def __getattr__(name: str) -> Any:
    """`nodecat.Client` and `nodecat.ClientError`: the server's client, imported when first asked for."""
    if name in LAZY_NAMES:
        import importlib
        value = getattr(importlib.import_module(LAZY_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check(graph: CheckedGraph | Graph | str | Path, batch: int = 1) -> CheckedGraph:
    """What `nodecat check` does: validate, then infer every node's shapes on meta (nothing is
    allocated), and check the data a train section names from its headers (found as `train` finds
    it). Raise GraphError with every problem; return the checked graph."""
    from nodecat.executor.training.data_plan import with_train_data_problems
    checked = graph if isinstance(graph, CheckedGraph) else validate(graph)
    try:
        infer_shapes(checked, batch)
        error = None
    except GraphError as exc:
        error = exc
    error = with_train_data_problems(checked, Path(graph) if isinstance(graph, (str, Path)) else None, error)
    if error is not None:
        raise error
    return checked


def train(graph: CheckedGraph | Graph | str | Path, options: TrainOptions | None = None,
          **fields: Any) -> TrainReport:
    """Train the graph on its train section's data (what `nodecat train` does). Pass TrainOptions,
    or its fields as keywords: `train("cnn.json", out_dir="runs/cnn", epochs=2)`."""
    from nodecat.executor.training.launch import train as launch
    if options is None:
        options = TrainOptions(**{**fields, "out_dir": Path(fields.get("out_dir", "runs/train"))})
    elif fields:
        raise TypeError("pass TrainOptions or keyword fields, not both")
    return launch(graph, options)


def import_model(model: Any, inputs: dict[str, InputSpec] | None = None, name: str = "",
                 out: str | Path | None = None, weights: str | Path | None = None) -> ImportResult:
    """A torch nn.Module, a keras.Model, or a TARGET string as `nodecat import` takes it
    (`file.py:factory`, `package.module:factory`, `model.keras`) as a graph plus its weights.
    With `out`, the graph and its weights (`weights`, default next to it) are also written, atomically."""
    from nodecat.executor.interop import importer
    result = importer.import_target(model, inputs, name) if isinstance(model, str) else \
        importer.import_model(model, inputs, name)
    if out is not None:
        out = Path(out)
        importer.write_import(result, out, Path(weights) if weights else importer.default_weights_path(out))
    return result


def export(graph: CheckedGraph | Graph | str | Path, to: str, out: str | Path, weights: str | Path | None = None,
           seed: int = 0) -> list[Path]:
    """Write the graph as readable Python (`python`), Python plus a state dict (`torch`), ONNX (`onnx`)
    or a `.keras` file (`keras`); the files written."""
    from nodecat.executor.interop.export import export_graph
    checked = graph if isinstance(graph, CheckedGraph) else validate(graph)
    source = graph if isinstance(graph, (str, Path)) else None
    return export_graph(checked, to, out, weights, seed, graph_file=source)  # type: ignore[arg-type]
