"""Training and evaluating a graph with its train section: data in, curves, checkpoints and weights out.

    report = train("examples/digits_cnn.json", TrainOptions(out_dir=Path("runs/cnn")))
    report.to_json()["accuracy"]     # the held-out accuracy of the last epoch

The epoch loop lives here, the same for both libraries; a backend (`TorchTrainer` for torch and
mixed graphs, `KerasTrainer` for Keras graphs, which calls `model.fit`) runs the passes over the
data. After every epoch the history (JSON Lines), the plot (PNG) and a checkpoint (safetensors plus
a small JSON state) are written atomically; `resume` continues from the newest checkpoint.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.document import Graph
from nodecat.executor.graph.validate import CheckedGraph
from nodecat.executor.training.data_plan import data_files, data_uses, train_section

HISTORY_FILE, PLOT_FILE, WEIGHTS_FILE = "history.jsonl", "curves.png", "weights.safetensors"


@dataclass(frozen=True)
class TrainOptions:
    out_dir: Path
    data: tuple[str, ...] = ()  # "FILE" or "COLUMN=FILE"; empty: the train section's `data`
    data_roots: tuple[Path, ...] = ()  # besides the current directory and the shipped demo data
    epochs: int | None = None  # None: the train section's
    batch_size: int | None = None
    seed: int | None = None
    device: str = "auto"
    resume: bool = False
    progress: bool = True
    keep_checkpoints: int = 2
    nproc: int = 1
    # hears each step and epoch and may ask the run to stop (progress.TrainObserver); main process only,
    # not passed on to the processes of a multi-process run
    observer: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class TrainReport:
    graph: str
    backend: str
    device: str
    epochs: int  # epochs completed, counting those before a resume
    resumed_from: int | None
    seconds: float  # this run's wall time, data loading included
    rows: dict[str, int]
    history: list[dict[str, float]]
    out_dir: Path
    nproc: int = 1
    files: dict[str, Path] = field(default_factory=dict)
    # --resume of a run that already holds the epochs asked for (`epochs_asked`): nothing was trained
    nothing_to_resume: bool = False
    epochs_asked: int | None = None
    # the observer asked the run to stop (progress.TrainingStopped): `epochs` finished ones are in the
    # history and the newest checkpoint; the partial epoch is dropped, so a resume continues exactly
    stopped: bool = False

    def to_json(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        return {"graph": self.graph, "backend": self.backend, "device": self.device, "nproc": self.nproc,
                "epochs": self.epochs, "resumed_from": self.resumed_from, "nothing_to_resume": self.nothing_to_resume,
                "seconds": round(self.seconds, 3),
                "rows": self.rows, "final": last,
                "accuracy": last.get("val_accuracy", last.get("accuracy")),
                "loss": last.get("val_loss", last.get("loss")),
                **({"stopped": True} if self.stopped else {}),
                **{name: str(path) for name, path in self.files.items()}}


class Backend(Protocol):
    def train_epoch(self, epoch: int, order: np.ndarray) -> tuple[dict[str, float], float]: ...
    def evaluate(self, rows: np.ndarray) -> dict[str, float]: ...
    def end_epoch(self, validation_loss: float | None, train_loss: float) -> None: ...
    def learning_rate(self) -> float: ...
    def snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]: ...
    def restore(self, tensors: dict[str, Any], state: dict[str, Any]) -> None: ...
    def save_weights(self, path: Path) -> None: ...


# -- the public entry points ------------------------------------------------------------------------
def train_process(graph: str | Path | Graph | CheckedGraph, options: TrainOptions, rank: int, world: int) -> TrainReport:
    """One process's share of a training run (the only one, or one of `world` under DDP)."""
    began = time.perf_counter()
    checked, graph_path = load_checked(graph)
    spec = train_section(checked).spec.with_settings(epochs=options.epochs, batch_size=options.batch_size,
                                                       seed=options.seed)
    main = rank == 0
    checkpoint = None
    if options.resume:
        checkpoint = resume_checkpoint(options.out_dir, checked, spec)
        finished = finished_report(checked, graph_path, spec, checkpoint, options, began, world)
        if finished is not None:
            return finished
    elif main:
        refuse_used_out_dir(options.out_dir)
    prepared = prepare_data(checked, graph_path, options)
    from nodecat.executor.training.data import split_rows
    train_rows, validation_rows = split_rows(prepared.rows, spec.validation_split, spec.seed)
    rows = {"train": int(len(train_rows)), "validation": int(len(validation_rows))}
    from nodecat.executor.build.devices import pick_device
    device = pick_device(options.device)
    if world > 1 and device.startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank)) % _cuda_count()}"  # this machine's GPUs
    observer = options.observer if main else None
    backend = make_backend(checked, spec, prepared, device, rank, world, options.progress and rank == 0, observer)
    history: list[dict[str, float]] = []
    start, resumed_from = 0, None
    if checkpoint is not None:
        backend.restore(checkpoint.tensors(), checkpoint.state)
        start, history = checkpoint.epoch, list(checkpoint.state["history"])
        resumed_from = start
    files = _files(options.out_dir)
    from nodecat.executor.training.data import epoch_order
    from nodecat.executor.training.progress import TrainingStopped
    stopped = False
    for epoch in range(start, spec.epochs):
        order = epoch_order(train_rows, spec.seed, epoch, spec.shuffle)
        try:
            if observer is not None and observer.stop_requested():
                raise TrainingStopped(epoch + 1, 0)
            row, seconds = backend.train_epoch(epoch, order)
        except TrainingStopped:  # asked for between steps: the partial epoch is dropped
            stopped = True
            break
        validation = backend.evaluate(validation_rows) if len(validation_rows) else {}
        row = {"epoch": epoch + 1, **row, **{f"val_{k}": v for k, v in validation.items()},
               "lr": backend.learning_rate(), "seconds": round(seconds, 4),
               "samples_per_second": round(len(order) / max(seconds, 1e-9), 1)}
        backend.end_epoch(validation.get("loss"), row["loss"])
        history.append(row)
        if main:  # the epoch's summary line: --no-progress drops only the bars
            from nodecat.executor.training.progress import format_numbers
            sys.stderr.write(f"epoch {epoch + 1}/{spec.epochs}  {format_numbers(row)}\n")
            sys.stderr.flush()
            saved = _write_epoch(backend, options, checked, spec, rows, epoch + 1, history, files)
            if observer is not None:
                observer.on_epoch(epoch + 1, spec.epochs, row, str(saved))
    if main and not stopped:
        backend.save_weights(files["weights"])  # also for a finished run whose weights were never written
    from nodecat.executor.training.checkpoint import latest_checkpoint
    last = latest_checkpoint(options.out_dir) if main else None
    if last is not None:
        files["checkpoint"] = last.path
    return TrainReport(graph=_graph_name(checked, graph_path),
                       backend=checked.train.library if checked.train else "torch", device=device,
                       epochs=len(history), resumed_from=resumed_from, seconds=time.perf_counter() - began,
                       rows=rows, history=history, out_dir=options.out_dir, nproc=world, files=files,
                       nothing_to_resume=start >= spec.epochs, epochs_asked=spec.epochs, stopped=stopped)



def evaluate(graph: str | Path | Graph | CheckedGraph, weights: Path, data: Sequence[str] = (),
             data_roots: Sequence[Path] = (), device: str = "auto", batch_size: int | None = None) -> dict[str, Any]:
    """Loss and metrics of the trained graph over every row of the data."""
    checked, graph_path = load_checked(graph)
    spec = train_section(checked).spec.with_settings(batch_size=batch_size)
    options = TrainOptions(out_dir=Path("."), data=tuple(data), data_roots=tuple(data_roots), device=device)
    prepared = prepare_data(checked, graph_path, options)
    from nodecat.executor.build.devices import pick_device
    device = pick_device(device)
    backend = make_backend(checked, spec, prepared, device, 0, 1, progress=False)
    backend.load_weights(weights)  # type: ignore[attr-defined]
    numbers = backend.evaluate(np.arange(prepared.rows))
    return {"graph": str(graph_path) if graph_path is not None else checked.graph.name, "rows": prepared.rows,
            "device": device, **numbers}


# -- pieces -----------------------------------------------------------------------------------------
def load_checked(graph: str | Path | Graph | CheckedGraph) -> tuple[CheckedGraph, Path | None]:
    from nodecat.executor.build.run import validate
    if isinstance(graph, CheckedGraph):
        return graph, None
    if isinstance(graph, Graph):
        return validate(graph), None
    return validate(Path(graph)), Path(graph)


def prepare_data(checked: CheckedGraph, graph_path: Path | None, options: TrainOptions) -> Any:
    from nodecat.executor.training.data import data_roots, prepare, read_table
    files, pointer = data_files(checked, graph_path, options.data)
    table = read_table(files, data_roots(options.data_roots), pointer)
    return prepare(table, *data_uses(checked))


def make_backend(checked: CheckedGraph, spec: Any, prepared: Any, device: str, rank: int, world: int,
             progress: bool, observer: Any = None) -> Any:
    import dataclasses
    checked = dataclasses.replace(checked, train=dataclasses.replace(checked.train, spec=spec))
    seed_everything(spec.seed)  # before the model is built: its initial weights come from the seed
    if checked.train.library == "keras":
        from nodecat.executor.training.keras_loop import KerasTrainer
        return KerasTrainer(checked, prepared, device, progress, observer)
    from nodecat.executor.training.torch_loop import TorchBackend
    return TorchBackend(checked, prepared, device, rank, world, progress, observer)


def seed_everything(seed: int) -> None:
    import random

    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def graph_digest(checked: CheckedGraph) -> str:
    """What a checkpoint must match: the model and its training recipe, not the epoch count or data."""
    document = checked.graph.to_json()
    for key in ("name", "description", "editor"):
        document.pop(key, None)
    for key in ("epochs", "data"):
        document.get("train", {}).pop(key, None)
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


# The recipe's settings the command line can change (--epochs is how a resumed run goes on).
_SETTING_FLAGS = {"batch_size": "--batch-size", "seed": "--seed"}


def run_settings(spec: Any) -> dict[str, Any]:
    """The settings a checkpoint records beside the graph's digest (the file's, or the command line's)."""
    return {key: getattr(spec, key) for key in _SETTING_FLAGS}


def _files(out_dir: Path) -> dict[str, Path]:
    return {"history": out_dir / HISTORY_FILE, "plot": out_dir / PLOT_FILE, "weights": out_dir / WEIGHTS_FILE}


def _graph_name(checked: CheckedGraph, graph_path: Path | None) -> str:
    return checked.graph.name or (graph_path.stem if graph_path else "graph")


def _write_epoch(backend: Backend, options: TrainOptions, checked: CheckedGraph, spec: Any, rows: dict[str, int],
                 epoch: int, history: list[dict[str, float]], files: dict[str, Path]) -> Path:
    """Checkpoint, history and plot of a finished epoch; the checkpoint's directory."""
    from nodecat.executor.training.checkpoint import save_checkpoint
    from nodecat.executor.training.history import plot_history, write_history
    tensors, state = backend.snapshot()
    state = {"graph": graph_digest(checked), "settings": run_settings(spec), "rows": rows, "history": history,
             **state}
    saved = save_checkpoint(options.out_dir, epoch, tensors, state, keep=options.keep_checkpoints)
    write_history(files["history"], history)
    plot_history(history, files["plot"], title=checked.graph.name)
    return saved


def resume_checkpoint(out_dir: Path, checked: CheckedGraph, spec: Any) -> Any:
    """The newest checkpoint under out_dir, when it was written for this graph and recipe.

    no_checkpoint: there is none; bad_checkpoint: it is damaged, or was written for another graph or
    train section; resume_mismatch: this run's batch size or seed (the command line's, else the
    graph's) is not the one the checkpoint's run used, one problem each."""
    from nodecat.executor.training.checkpoint import latest_checkpoint
    checkpoint = latest_checkpoint(out_dir)
    if checkpoint is None:
        raise GraphError(GraphProblem("no_checkpoint", f"--resume was given, but {out_dir / 'checkpoints'} holds no "
                                      "checkpoint", hint="train without --resume first, or point --out at the run"))
    state = checkpoint.state
    if state.get("graph") != graph_digest(checked):
        raise GraphError(GraphProblem("bad_checkpoint", f"{checkpoint.path} was written for another graph or "
                                      "training recipe", hint="resume with the graph that wrote it, or use a new --out"))
    recorded = state.get("settings")
    if not isinstance(recorded, dict):  # written before settings were recorded: the graph's own
        recorded = run_settings(train_section(checked).spec)
    problems = [GraphProblem("resume_mismatch", f"{checkpoint.path} was trained with {key} {recorded.get(key)!r}, "
                             f"this run asks for {key} {value!r}; a resumed run keeps its recipe",
                             pointer=f"/train/{key}",
                             hint=f"resume with {_SETTING_FLAGS[key]} {recorded.get(key)!r}, or train afresh "
                                  "with another --out")
                for key, value in run_settings(spec).items() if recorded.get(key) != value]
    if problems:
        raise GraphError(problems)
    return checkpoint


def finished_report(checked: CheckedGraph, graph_path: Path | None, spec: Any, checkpoint: Any,
                    options: TrainOptions, began: float, world: int) -> TrainReport | None:
    """The report of a resume with nothing left to train (the checkpoint holds the epochs asked for and
    the run's weights are written), made without reading data or building the model; else None."""
    files = _files(options.out_dir)
    if checkpoint.epoch < spec.epochs or not files["weights"].is_file():
        return None
    from nodecat.executor.build.devices import pick_device
    history = list(checkpoint.state["history"])
    rows = checkpoint.state.get("rows")
    found = {name: path for name, path in files.items() if path.is_file()}
    return TrainReport(graph=_graph_name(checked, graph_path),
                       backend=checked.train.library if checked.train else "torch",
                       device=pick_device(options.device), epochs=len(history), resumed_from=checkpoint.epoch,
                       seconds=time.perf_counter() - began, rows=dict(rows) if isinstance(rows, dict) else {},
                       history=history, out_dir=options.out_dir, nproc=world,
                       files={**found, "checkpoint": checkpoint.path}, nothing_to_resume=True,
                       epochs_asked=spec.epochs)


def refuse_used_out_dir(out_dir: Path) -> None:
    """A new run never mixes its checkpoints with an earlier run's (nor deletes them)."""
    from nodecat.executor.training.checkpoint import checkpoints_dir
    folder = checkpoints_dir(out_dir)
    if folder.is_dir() and any(p.name.startswith("epoch-") for p in folder.iterdir()):
        raise GraphError(GraphProblem("out_dir_in_use", f"{folder} holds the checkpoints of an earlier run",
                                      hint="continue it with --resume, or choose another --out"))


def _cuda_count() -> int:
    import torch
    return max(torch.cuda.device_count(), 1)
