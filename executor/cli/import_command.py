"""The `nodecat import` command (registered on the one `nodecat` group).

Exit codes as for every graph command: 0 imported; 1 the model could not be imported (every call
the catalog cannot express is listed with the model's name for it and the reason; nothing is
written); 2 bad usage (e.g. a malformed --input-shape).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from nodecat.executor.cli.options import JSON_OPT, emit_json, guard


@click.command("import")
@click.argument("target")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Graph file to write (JSON).")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="safetensors file for the weights (default: next to the graph, <out>.safetensors).")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME=DIMS[:DTYPE]",
              help="Shape of a torch model's forward parameter, batch first (e.g. x=1,3,224,224 or "
                   "tokens=1,16:int64); repeat for each. The imported graph leaves the batch open.")
@click.option("--name", default="", help="Graph name (default: the factory's name).")
@JSON_OPT
def import_cmd(target: str, out: Path, weights: Path | None, input_shapes: tuple[str, ...], name: str,
               as_json: bool) -> None:
    """Import a model into a graph of catalog nodes, with its weights.

    TARGET is path/to/file.py:factory or package.module:factory (called with no arguments; it
    returns a torch.nn.Module, traced with torch.fx, or a functional keras.Model), or a .keras file
    (read without unsafe deserialisation). Graph inputs are named after forward's parameters (torch)
    or the input layers (Keras); outputs are `output`, or `output_0`, `output_1`, ... for several.
    The result runs as is: nodecat run OUT --weights W --input x=FILE.npy --out DIR.
    """
    from nodecat.executor.graph.errors import GraphError
    from nodecat.executor.interop.importer import default_weights_path
    from nodecat.executor.interop.target import parse_input_specs

    try:
        specs = parse_input_specs(input_shapes)
    except GraphError as exc:
        raise click.BadParameter(str(exc.problems[0]), param_hint="--input-shape") from None
    weights_path = weights or default_weights_path(out)
    if weights_path.resolve() == out.resolve():
        raise click.BadParameter("the weights file must differ from the graph file", param_hint="--weights")
    report: dict[str, Any] = {"target": target, "graph": str(out), "weights": str(weights_path)}

    def act() -> dict[str, Any]:
        from nodecat.executor.interop.importer import import_target, write_import
        started = time.perf_counter()
        result = import_target(target, specs, name)
        seconds = time.perf_counter() - started
        write_import(result, out, weights_path)
        return {**result.summary(), "seconds": round(seconds, 3)}

    summary = guard(as_json, act, report)
    if as_json:
        emit_json({**report, "ok": True, **summary})
        return
    click.echo(f"imported {target}: {summary['nodes']} nodes, {summary['parameters']:,} parameters "
               f"in {summary['seconds']:.2f} s")
    click.echo(f"  inputs:  {', '.join(summary['inputs'])}")
    click.echo(f"  outputs: {', '.join(summary['outputs'])}")
    for note in summary["notes"]:
        click.secho(f"  note: {note['node']}: {note['message']}", fg="yellow")
    click.echo(f"wrote {out} and {weights_path}")
