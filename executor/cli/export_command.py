"""The `nodecat export` command (registered on the one `nodecat` group).

A thin layer over `nodecat.executor.interop.export`: torch, Keras and the exporters are imported only when
the command runs, so `nodecat --help` stays fast. Exit codes as for the other graph commands:
0 written; 1 the graph is invalid or cannot be exported (every problem printed with its code);
2 bad usage (a missing file, an unknown target, an output name the target cannot have).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click

from nodecat.executor.cli.options import EXISTING_FILE, GRAPH_ARG, JSON_OPT, emit_json, guard
from nodecat.executor.interop.export import (
    EXPORT_TARGETS,
    ExportNote,
    export_graph,
    output_problem,
)


@click.command("export")
@GRAPH_ARG
@click.option("--to", "to", type=click.Choice(EXPORT_TARGETS), required=True,
              help="python: readable source (an nn.Module, or build_model() for Keras graphs); "
                   "torch: that source plus its weights as FILE.safetensors; onnx: an ONNX model; "
                   "keras: a .keras file (all-Keras graphs).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write: a module name ending .py for python and torch, .keras for keras, "
                   "e.g. .onnx for onnx.")
@click.option("--weights", type=EXISTING_FILE, default=None,
              help="safetensors file with the weights (torch, onnx, keras); default: fresh ones from --seed.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for fresh weights.")
@JSON_OPT
def export_cmd(graph: Path, to: str, output: Path, weights: Path | None, seed: int, as_json: bool) -> None:
    """Export GRAPH as Python source, Python plus weights, ONNX, or a .keras file.

    Files are written atomically: a failure leaves nothing behind."""
    _check_usage(to, output, weights)

    def act() -> list[Path]:
        from nodecat.executor.build.run import validate
        return export_graph(validate(graph), to, output, weights, seed, graph_file=graph)

    report: dict[str, Any] = {"graph": str(graph), "to": to}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExportNote)
        written = guard(as_json, act, report)
    notes = [str(w.message) for w in caught if issubclass(w.category, ExportNote)]
    for other in (w for w in caught if not issubclass(w.category, ExportNote)):
        warnings.showwarning(other.message, other.category, other.filename, other.lineno)  # as without recording
    if as_json:
        emit_json({**report, "ok": True, "errors": [], "files": [str(p) for p in written], "notes": notes})
        return
    for note in notes:
        click.secho(f"note: {note}", fg="yellow", err=True)
    for path in written:
        click.echo(f"wrote {path}")


def _check_usage(to: str, output: Path, weights: Path | None) -> None:
    problem = output_problem(to, output)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="--output")
    if to == "python" and weights is not None:
        raise click.BadParameter("--to python writes only source; use --to torch for source and weights",
                                 param_hint="--weights")
