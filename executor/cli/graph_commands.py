"""The `nodecat` commands that work on graphs: check, run, profile, draw (train, evaluate and demo
live in nodecat.executor.cli.train_commands, import in nodecat.executor.cli.import_command, export in nodecat.executor.cli.export_command).

They join the catalog commands of nodecat.introspector.cli in one `nodecat` group. Exit codes:
0 success; 1 the graph is invalid or failed (every problem is printed, with code, node and JSON
Pointer); 2 bad usage (unknown option, a file that does not exist, a malformed --input).
torch and keras are imported only when a command needs them.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.cli.options import (BUDGET_OPT, DEVICE_OPT, EXISTING_FILE, EXIT_CHECK_FAILED,
                                          GRAPH_ARG, JSON_OPT, emit_json, guard, print_problems)

if TYPE_CHECKING:
    from nodecat.executor.checking import CheckOutcome

def _budget(text: str) -> int | str | None:
    from nodecat.executor.checking import BudgetError, parse_budget
    try:
        return parse_budget(text)
    except BudgetError as exc:
        raise click.BadParameter(str(exc), param_hint="--budget") from None


@click.command("check")
@click.argument("graphs", nargs=-1, required=True, type=EXISTING_FILE, metavar="GRAPH...")
@JSON_OPT
@click.option("--batch", default=1, show_default=True, type=click.IntRange(1, 2**20),
              help="Size given to open (null) dimensions when shapes are inferred.")
@BUDGET_OPT
@DEVICE_OPT
def check_cmd(graphs: tuple[Path, ...], as_json: bool, batch: int, budget: str, device: str) -> None:
    """Validate each GRAPH and infer every node's output shapes, without allocating weights.

    Exit 0 when all are valid, 1 when one is not (every problem is listed). With --json: one
    object per graph (ok, errors, shapes per node and port, totals); a list for several graphs.
    A graph that fails still has "shapes": those of the nodes inferred before the failing one
    ({} when validation failed, as no shape is inferred then)."""
    reports = [_check_one(graph, batch, budget, device, as_json) for graph in graphs]
    if as_json:
        emit_json(reports[0] if len(reports) == 1 else reports)
    if not all(r["ok"] for r in reports):
        sys.exit(EXIT_CHECK_FAILED)


def _check_one(graph: Path, batch: int, budget: str, device: str, as_json: bool) -> dict[str, Any]:
    """The graph's report (nodecat.executor.checking, which POST /check serves too); its text form
    printed unless --json."""
    from nodecat.executor.checking import BudgetError, check_outcome
    try:
        outcome = check_outcome(graph, batch, budget, device)
    except BudgetError as exc:
        raise click.BadParameter(str(exc), param_hint="--budget") from None
    if not as_json:
        _print_outcome(graph, outcome)
    return outcome.to_json()


def _print_outcome(graph: Path, outcome: CheckOutcome) -> None:
    checked, report, error = outcome.checked, outcome.report, outcome.error
    if error is not None:
        click.secho(f"{graph}: {len(error.problems)} problem(s)", fg="red", err=True)
        print_problems(error.problems)
        return
    from nodecat.executor.build.shapes import format_bytes
    outputs = ", ".join(f"{o.name} {_shape_text(report, o.node, o.port)}" for o in checked.graph.outputs)
    click.echo(f"ok: {graph} ({checked.backend}): {len(checked.order)} nodes, {len(checked.graph.edges)} edges, "
               f"{report.params:,} parameters ({format_bytes(report.param_bytes)}); outputs: {outputs}")


def _shape_text(report: Any, node: str, port: str) -> str:
    spec = next(n for n in report.nodes if n.id == node).outputs.get(port)
    if spec is None or spec.shape is None:
        return "?"
    return "(" + ", ".join("?" if d is None else str(d) for d in spec.shape) + ")"


@click.command("profile")
@GRAPH_ARG
@JSON_OPT
@click.option("--batch", default=1, show_default=True, type=click.IntRange(1, 2**20),
              help="Size given to open (null) dimensions.")
def profile_cmd(graph: Path, as_json: bool, batch: int) -> None:
    """Per node and in total: parameters, parameter bytes, activation bytes and output shapes,
    measured on the meta device (nothing is allocated)."""
    from nodecat.executor.build.run import profile
    report = guard(as_json, lambda: profile(graph, batch), {"graph": str(graph)})
    if as_json:
        emit_json({"graph": str(graph), "ok": True, **report.to_json()})
        return
    from nodecat.executor.build.shapes import format_bytes
    rows = [("node", "op", "output shape", "params", "param bytes", "activation bytes")]
    for node in report.nodes:
        shapes = "; ".join(_shape_text(report, node.id, port) for port in node.outputs)
        rows.append((node.id, node.op, shapes, f"{node.params:,}", format_bytes(node.param_bytes),
                     format_bytes(node.activation_bytes)))
    rows.append(("total", "", "", f"{report.params:,}", format_bytes(report.param_bytes),
                 format_bytes(report.activation_bytes)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = [cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        click.echo("  ".join(cells).rstrip())
        if index in (0, len(rows) - 2):
            click.echo("  ".join("-" * w for w in widths))
    click.echo(f"batch {report.batch}; estimated memory for one forward pass: {format_bytes(report.total_bytes)}")


def _parse_inputs(values: tuple[str, ...]) -> dict[str, Path]:
    inputs = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"{value!r} is not NAME=FILE.npy", param_hint="--input")
        if name in inputs:
            raise click.BadParameter(f"input {name!r} is given twice", param_hint="--input")
        inputs[name] = Path(path)
    return inputs


def _read_arrays(paths: dict[str, Path]) -> dict[str, Any]:
    import numpy as np
    arrays, problems = {}, []
    for name, path in paths.items():
        try:
            arrays[name] = np.load(path, allow_pickle=False)  # never unpickle: an .npy may come from anyone
        except FileNotFoundError:
            problems.append(GraphProblem("file_not_found", f"input file {path} does not exist", name))
        except (ValueError, OSError, EOFError) as exc:
            problems.append(GraphProblem("bad_input_value", f"{path} is not a readable .npy file: {exc}", name))
    if problems:
        raise GraphError(problems)
    return arrays


def _save_array(path: Path, array: Any) -> None:
    import numpy as np
    from nodecat.introspector.jsonio import write_bytes_atomic
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())


def _seed(seed: int) -> None:
    import keras
    import torch
    torch.manual_seed(seed)
    keras.utils.set_random_seed(seed)


@click.command("run")
@GRAPH_ARG
@click.option("--input", "input_specs", multiple=True, metavar="NAME=FILE.npy",
              help="Array for a graph input (repeat for each input).")
@click.option("--weights", type=EXISTING_FILE, default=None, help="safetensors file with the weights.")
@click.option("--save-weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the weights used (e.g. the fresh initialisation) to this safetensors file.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for weight initialisation.")
@DEVICE_OPT
@BUDGET_OPT
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for the outputs, one <name>.npy each.")
@JSON_OPT
def run_cmd(graph: Path, input_specs: tuple[str, ...], weights: Path | None, save_weights: Path | None, seed: int,
            device: str, budget: str, out_dir: Path, as_json: bool) -> None:
    """Run GRAPH once (inference) and write each graph output as OUT/<name>.npy."""
    paths = _parse_inputs(input_specs)
    limit = _budget(budget)

    def act() -> dict[str, Any]:
        from nodecat.executor.build.run import build, run, validate
        from nodecat.executor.build.devices import pick_device
        checked = validate(graph)
        arrays = _read_arrays(paths)
        chosen = pick_device(device)
        _seed(seed)
        model = build(checked, chosen, weights, budget=limit)
        outputs = run(checked, arrays, device=chosen, model=model)
        if save_weights is not None:
            from nodecat.executor.build.weights import save_weights as save
            save(model, save_weights)
        written = {}
        for name, array in outputs.items():
            target = out_dir / f"{name}.npy"
            _save_array(target, array)
            written[name] = {"path": str(target), "shape": list(array.shape), "dtype": str(array.dtype)}
        return {"device": chosen, "outputs": written}

    result = guard(as_json, act, {"graph": str(graph)})
    if as_json:
        emit_json({"graph": str(graph), "ok": True, **result})
        return
    for name, info in result["outputs"].items():
        click.echo(f"{name}: {tuple(info['shape'])} {info['dtype']} -> {info['path']}")


@click.command("draw")
@GRAPH_ARG
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Picture to write: .svg, .dot/.gv (Graphviz) or .mmd (Mermaid).")
@click.option("--shapes/--no-shapes", default=True, show_default=True,
              help="Label edges with inferred shapes (when the graph is valid).")
@click.option("--batch", default=1, show_default=True, type=click.IntRange(1, 2**20))
@JSON_OPT
def draw_cmd(graph: Path, output: Path, shapes: bool, batch: int, as_json: bool) -> None:
    """Draw GRAPH as a picture. An invalid graph is drawn too (without shapes), so it can be looked at;
    edges on a cycle are red.

    With --json: one object with the file written, its format, the nodes (with their place in an
    SVG), the edges, the SVG's size ("layout"), and the graph's problems (null with --no-shapes,
    which does not check the graph)."""
    from nodecat.executor.draw import draw, format_for
    from nodecat.executor.graph.load import load_graph
    from nodecat.introspector.jsonio import write_atomic
    try:
        fmt = format_for(output)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--output") from None
    loaded = guard(as_json, lambda: load_graph(graph), {"graph": str(graph)})
    report, problems = None, None
    if shapes:
        from nodecat.executor.build.run import profile
        try:
            report, problems = profile(loaded, batch), []
        except GraphError as exc:
            problems = exc.problems
            if not as_json:
                click.secho(f"drawing without shapes: the graph has {len(exc.problems)} problem(s); "
                            "`nodecat check` lists them", fg="yellow", err=True)
    try:
        picture = draw(loaded, fmt, report)
    except ValueError as exc:  # too large to lay out as SVG
        raise click.BadParameter(str(exc), param_hint="--output") from None
    write_atomic(output, picture.text)
    if as_json:
        emit_json({"graph": str(graph), "ok": True, "errors": [], "file": str(output), "format": fmt,
                   "shapes": report is not None,
                   "problems": None if problems is None else [p.to_json() for p in problems], **picture.to_json()})
        return
    click.echo(f"wrote {output}")
