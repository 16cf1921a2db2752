"""The `nodecat` commands that train: train, evaluate, demo (registered on the one `nodecat` group).

Exit codes as for every graph command: 0 success; 1 the graph, its data or the run failed (every
problem printed with code and JSON Pointer, or as JSON with --json); 2 bad usage. Progress bars go
to stderr, so `--json` output on stdout stays one JSON object.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from nodecat.executor.cli.options import DEVICE_OPT, GRAPH_ARG, JSON_OPT, emit_json, guard

DATA_OPT = click.option("--data", "data", multiple=True, metavar="[COLUMN=]FILE",
                        help="Data file (.npz, .npy or .csv); repeat for several. A .npy column is named by "
                             "COLUMN or by the file name. Default: the train section's \"data\".")
ROOTS_OPT = click.option("--data-root", "data_roots", multiple=True,
                         type=click.Path(file_okay=False, path_type=Path),
                         help="Also allow data under this directory (besides the current one and the demo data).")
BATCH_OPT = click.option("--batch-size", type=click.IntRange(1, 2**20), default=None,
                         help="Rows per optimizer step (default: the train section's).")
PROGRESS_OPT = click.option("--progress/--no-progress", default=True, show_default=True,
                            help="A progress bar per epoch on stderr (the summary line of each epoch is "
                                 "printed either way).")


def _options(out_dir: Path, **values: Any) -> Any:
    from nodecat.executor.training.session import TrainOptions
    return TrainOptions(out_dir=out_dir, **values)


def _train(graph: Path, options: Any) -> Any:
    from nodecat.executor.training.distributed import torchrun_context, train_under_torchrun
    from nodecat.executor.training.launch import train
    if torchrun_context() is not None:  # started by torchrun: this process is one rank of the run
        return train_under_torchrun(graph, options)
    return train(graph, options)


def _print_report(report: Any) -> None:
    result = report.to_json()
    final = result["final"]
    held_out = "val_accuracy" in final
    what = "held-out accuracy" if held_out else "training accuracy"
    if report.nothing_to_resume:
        asked = report.epochs_asked
        done = f"{result['epochs']} of {asked} epochs" if asked == result["epochs"] else \
            f"{result['epochs']} epochs (--epochs asks for {asked})"
        numbers = (f"{what} {result['accuracy']:.4f}, " if result["accuracy"] is not None else "") + \
            (f"loss {result['loss']:.4f}" if result["loss"] is not None else "")
        click.echo(f"nothing to resume: {report.out_dir} already holds {done}; nothing was trained "
                   f"({numbers}). Raise --epochs to train on.")
    elif result["accuracy"] is not None:
        click.echo(f"{what} {result['accuracy']:.4f} (loss {result['loss']:.4f}) after {result['epochs']} epochs "
                   f"in {result['seconds']:.1f} s on {result['device']}")
    else:
        click.echo(f"loss {result['loss']:.4f} after {result['epochs']} epochs in {result['seconds']:.1f} s "
                   f"on {result['device']}")
    for name in ("plot", "checkpoint", "weights", "history"):
        if name in result:
            click.echo(f"  {name:<10} {result[name]}")


@click.command("train")
@GRAPH_ARG
@DATA_OPT
@ROOTS_OPT
@click.option("--epochs", type=click.IntRange(1, 1_000_000), default=None,
              help="Train until this many epochs are done (default: the train section's).")
@BATCH_OPT
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None, help="Default: the train section's.")
@DEVICE_OPT
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for history.jsonl, curves.png, weights.safetensors and checkpoints/ "
                   "(default: runs/<graph file name>).")
@click.option("--resume", is_flag=True,
              help="Continue from the newest checkpoint in --out, with its batch size and seed; a run that "
                   "already holds --epochs epochs says there is nothing to resume.")
@click.option("--keep", "keep_checkpoints", type=click.IntRange(1, 1000), default=2, show_default=True,
              help="How many epoch checkpoints to keep.")
@click.option("--nproc", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Train with this many processes on this machine (DDP: gloo on cpu, nccl on cuda).")
@PROGRESS_OPT
@JSON_OPT
def train_cmd(graph: Path, data: tuple[str, ...], data_roots: tuple[Path, ...], epochs: int | None,
              batch_size: int | None, seed: int | None, device: str, out_dir: Path | None, resume: bool,
              keep_checkpoints: int, nproc: int, progress: bool, as_json: bool) -> None:
    """Train GRAPH as its train section says, writing curves, checkpoints and weights to --out."""
    options = _options(out_dir or Path("runs") / graph.stem, data=data, data_roots=data_roots, epochs=epochs,
                       batch_size=batch_size, seed=seed, device=device, resume=resume, progress=progress,
                       keep_checkpoints=keep_checkpoints, nproc=nproc)
    report = guard(as_json, lambda: _train(graph, options), {"graph": str(graph)})
    if report is None:  # a torchrun rank other than 0
        return
    if as_json:
        emit_json({"ok": True, **report.to_json()})
    else:
        _print_report(report)


@click.command("evaluate")
@GRAPH_ARG
@click.option("--weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="safetensors weights, e.g. OUT/weights.safetensors of `nodecat train`.")
@DATA_OPT
@ROOTS_OPT
@BATCH_OPT
@DEVICE_OPT
@JSON_OPT
def evaluate_cmd(graph: Path, weights: Path, data: tuple[str, ...], data_roots: tuple[Path, ...],
                 batch_size: int | None, device: str, as_json: bool) -> None:
    """Loss and metrics of GRAPH with --weights over every row of the data."""
    from nodecat.executor.training.session import evaluate
    result = guard(as_json, lambda: evaluate(graph, weights, data, data_roots, device, batch_size),
                    {"graph": str(graph)})
    if as_json:
        emit_json({"ok": True, **result})
        return
    numbers = "  ".join(f"{k} {v:.4f}" for k, v in result.items() if isinstance(v, float))
    click.echo(f"{result['rows']} rows on {result['device']}: {numbers}")


@click.command("demo")
@click.option("--epochs", type=click.IntRange(1, 1000), default=None,
              help="Default: the demo graph's (15).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/demo"),
              show_default=True)
@DEVICE_OPT
@PROGRESS_OPT
@JSON_OPT
def demo_cmd(epochs: int | None, out_dir: Path, device: str, progress: bool, as_json: bool) -> None:
    """Train the demo CNN on the handwritten digits that ship with nodecat, and report held-out accuracy."""
    from nodecat.executor.training.data import DEMO_DIR
    graph = DEMO_DIR / "digits_cnn.json"
    options = _options(out_dir, epochs=epochs, device=device, progress=progress)
    report = guard(as_json, lambda: _train(graph, options), {"graph": str(graph)})
    if as_json:
        emit_json({"ok": True, **report.to_json()})
    else:
        _print_report(report)
