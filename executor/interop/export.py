"""Export a checked graph: readable Python, Python plus a torch state dict, ONNX, or a `.keras` file.

    from nodecat.executor import api
    from nodecat.executor.interop.export import export_graph, python_source
    checked = api.validate("examples/cnn.json")
    source = python_source(checked)                           # an nn.Module class, as text
    export_graph(checked, "onnx", "cnn.onnx", weights="cnn.safetensors")

Every problem is a GraphError: `unsupported_export` for a target the graph cannot have (a `.keras`
file of a torch graph), `export_failed` when the library's exporter fails. Nothing is left behind
by a failure. Without weights, models are freshly initialised from `seed` (the global torch and
Keras random generators are seeded, as `nodecat run --seed` does).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from nodecat.executor.interop import export_files
from nodecat.executor.interop.export_files import ExportNote

if TYPE_CHECKING:
    from nodecat.executor.graph.validate import CheckedGraph

__all__ = ["EXPORT_TARGETS", "ExportNote", "ExportTarget", "export_graph", "output_problem", "python_source"]

ExportTarget = Literal["python", "onnx", "torch", "keras"]
EXPORT_TARGETS: tuple[str, ...] = get_args(ExportTarget)


# The suffix each target's file needs: Python must be importable as a module, and Keras saves only
# to `.keras`. ONNX files may be named freely.
_SUFFIXES = {"python": ".py", "torch": ".py", "keras": ".keras"}


def output_problem(to: str, out: str | Path) -> str | None:
    """Why `out` cannot be the file of this target (a usage error), or None when it can."""
    out = Path(out)
    suffix = _SUFFIXES.get(to)
    if suffix is not None and out.suffix != suffix:
        return f"--to {to} writes a {suffix} file, not {out.name!r}"
    if suffix == ".py" and not out.stem.isidentifier():
        return f"{out.name!r} is not a Python module name (letters, digits and _, not starting with a digit)"
    return None


def python_source(checked: CheckedGraph, graph_file: str | Path | None = None) -> str:
    """Readable, ruff-clean Python source computing what the executor computes (see export_python).

    Imported on use, so that this module stays light for the CLI."""
    from nodecat.executor.interop.export_python import python_source as generate
    return generate(checked, graph_file)


def export_graph(checked: CheckedGraph, to: ExportTarget, out: str | Path, weights: str | Path | None = None,
                 seed: int = 0, graph_file: str | Path | None = None) -> list[Path]:
    """Write the graph as `to` at `out`; the files written (`--to torch` also writes the weights
    next to the source, `out` with the suffix `.safetensors`). `graph_file` is only named in the
    docstring of generated Python."""
    out = Path(out)
    weights = None if weights is None else Path(weights)
    if to not in EXPORT_TARGETS:
        raise ValueError(f"unknown export target {to!r}; one of {', '.join(EXPORT_TARGETS)}")
    problem = output_problem(to, out)
    if problem is not None:
        raise ValueError(problem)
    if to == "python":
        return export_files.export_python(checked, out, graph_file)
    if to == "torch":
        return export_files.export_torch(checked, out, weights, seed, graph_file)
    if to == "keras":
        return export_files.export_keras(checked, out, weights, seed)
    return export_files.export_onnx(checked, out, weights, seed)
