"""Inside a worker process: one job, by the same code as the command line, reported as events.

Messages to the server are `(type, data)` pairs on the worker's pipe: `output` (a captured stdout or
stderr line), `step` and `epoch` (training progress: loss, metrics, throughput, ETA), and last
`final` with the outcome: `succeeded` (and the result summary), `stopped` (a stop was asked for and
the training loop stopped at a step), or `failed` (GraphError problems; a crash becomes
training_failed or node_failed, its traceback going out as stderr lines first). Files go into the
run's directory, which is also the process's working directory, and which the worker locks for its
whole life (hold_run_dir). A train job resumed over HTTP has `"resume": true` in its options: it
continues from the newest checkpoint in its directory, as `nodecat train --resume`.
"""
from __future__ import annotations

import io
import math
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Mapping

from nodecat.executor.graph.errors import GraphError, GraphProblem, short_error

OUTPUTS_DIR, EXPORT_DIR, PROFILE_FILE = "outputs", "export", "profile.json"
STEP_EVENT_EVERY_S = 1.0  # step events at most this often (epoch events always)
MAX_LINE = 4000  # a captured line longer than this is cut
RUN_LOCK = ".worker.lock"  # in the run's directory: locked (flock) by the worker running the job
LOCK_POLL_S = 0.2


class Reporter:
    """The worker's end of the pipe, and the training observer (progress.TrainObserver)."""

    def __init__(self, conn: Any, stop: Any):
        self.conn, self.stop = conn, stop
        self.lost = False  # the server is gone: stop at the next step, nobody reads the events
        self._lock = threading.Lock()
        self._began = time.monotonic()
        self._first_epoch: int | None = None  # the first epoch this run trains (after a resume: not 1)
        self._last_step = 0.0

    def send(self, type_: str, data: dict[str, Any]) -> None:
        if self.lost:
            return
        with self._lock:
            try:
                self.conn.send((type_, data))
            except (OSError, ValueError):
                self.lost = True

    # -- TrainObserver ---------------------------------------------------------------------------
    def stop_requested(self) -> bool:
        return self.lost or self.stop.is_set()

    def on_step(self, epoch: int, epochs: int, step: int, steps: int, loss: float, metrics: Mapping[str, float],
                samples_per_second: float) -> None:
        now = time.monotonic()
        if now - self._last_step < STEP_EVENT_EVERY_S and step < steps:
            return
        self._last_step = now
        done = (epoch - 1) + step / max(steps, 1)
        self.send("step", {"epoch": epoch, "epochs": epochs, "step": step, "steps": steps, "loss": loss,
                           **metrics, "samples_per_second": round(samples_per_second, 1),
                           "eta_seconds": self._eta(done, epochs, epoch)})

    def on_epoch(self, epoch: int, epochs: int, row: Mapping[str, float], checkpoint: str | None) -> None:
        self.send("epoch", {**row, "epoch": epoch, "epochs": epochs, "eta_seconds": self._eta(epoch, epochs, epoch),
                            "checkpoint": _relative(checkpoint) if checkpoint else None})

    def _eta(self, done: float, epochs: int, epoch: int) -> float | None:
        if self._first_epoch is None:
            self._first_epoch = epoch - 1
        fraction = (done - self._first_epoch) / max(epochs - self._first_epoch, 1)
        if fraction <= 0:
            return None
        return round((time.monotonic() - self._began) * (1 - fraction) / fraction, 1)


class LineStream(io.TextIOBase):
    """sys.stdout or sys.stderr in a worker: every complete line becomes an `output` event."""

    def __init__(self, reporter: Reporter, name: str):
        self.reporter, self.name = reporter, name
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text.replace("\r", "\n")
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if line.strip():
                self.reporter.send("output", {"stream": self.name, "line": line[:MAX_LINE]})
        return len(text)

    def flush(self) -> None:
        if self._pending.strip():
            self.reporter.send("output", {"stream": self.name, "line": self._pending[:MAX_LINE]})
        self._pending = ""


def run_task(task: Any, conn: Any, stop: Any) -> None:
    import os
    reporter = Reporter(conn, stop)
    os.chdir(task.run_dir)
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = LineStream(reporter, "stdout"), LineStream(reporter, "stderr")
    lock = None
    try:
        lock = hold_run_dir(Path(task.run_dir), reporter)
        final = _outcome(task, reporter) if lock is not None else {
            "outcome": "stopped", "message": "stopped while it waited for the worker before it to end"}
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = streams
    reporter.send("final", final)
    conn.close()
    if lock is not None:
        lock.close()


def has_checkpoint(run_dir: Path) -> bool:
    """Whether a run's directory holds a checkpoint of a finished epoch (as refuse_used_out_dir sees it)."""
    from nodecat.executor.training.checkpoint import checkpoints_dir
    folder = checkpoints_dir(run_dir)
    return folder.is_dir() and any(p.name.startswith("epoch-") for p in folder.iterdir())


def hold_run_dir(run_dir: Path, reporter: Reporter) -> Any | None:
    """The lock on the run's directory (RUN_LOCK), which this worker holds until it ends (the system lets
    go of it however the process ends, SIGKILL too). While another process holds it (the worker of a
    killed server, still running until its next step finds its pipe gone), this one waits, saying so
    once; None when a stop is asked for meanwhile."""
    handle = open(run_dir / RUN_LOCK, "a+b")  # noqa: SIM115 - held open for the worker's life
    try:
        import fcntl
    except ImportError:  # no flock (Windows): no lock either
        return handle
    told = False
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if not told:
                print("waiting for the worker before this one (of a server that stopped) to end", file=sys.stderr,
                      flush=True)
                told = True
            if reporter.stop_requested():
                handle.close()
                return None
            time.sleep(LOCK_POLL_S)


def _outcome(task: Any, reporter: Reporter) -> dict[str, Any]:
    try:
        return _KINDS[task.kind](task, reporter)
    except GraphError as exc:
        return {"outcome": "failed", "errors": [p.to_json() for p in exc.problems]}
    except Exception as exc:  # noqa: BLE001 - a crash is the job's error, with its traceback as output
        traceback.print_exc()
        code = {"train": "training_failed", "export": "export_failed"}.get(task.kind, "node_failed")
        return {"outcome": "failed", "errors": [GraphProblem(
            code, f"the {task.kind} job failed: {short_error(exc)}",
            hint="the job's stderr events hold the traceback").to_json()]}


def _train(task: Any, reporter: Reporter) -> dict[str, Any]:
    from nodecat.executor.graph.document import Graph
    from nodecat.executor.training.launch import train
    from nodecat.executor.training.session import TrainOptions
    options = task.options
    settings = {key: options[key] for key in ("epochs", "batch_size", "seed", "keep_checkpoints") if key in options}
    report = train(Graph.from_json(task.graph), TrainOptions(
        out_dir=Path(task.run_dir), data=tuple(options.get("data", ())),
        data_roots=tuple(Path(p) for p in options.get("data_roots", ())), device=options.get("device", "auto"),
        progress=False, observer=reporter, **settings,
        # a resumed job that never finished an epoch starts afresh (its directory holds no training yet)
        resume=bool(options.get("resume")) and has_checkpoint(Path(task.run_dir))))
    result = _relative_paths(report.to_json())
    if report.stopped:
        return {"outcome": "stopped", "result": result,
                "message": f"training stopped after {report.epochs} finished epoch(s)"}
    return {"outcome": "succeeded", "result": result}


def _run(task: Any, reporter: Reporter) -> dict[str, Any]:
    import numpy as np

    from nodecat.executor.build.devices import pick_device
    from nodecat.executor.build.run import build, run, validate
    from nodecat.executor.build.weights import save_weights
    from nodecat.executor.graph.document import Graph
    from nodecat.executor.server.job_options import INPUTS_DIR
    checked = validate(Graph.from_json(task.graph))
    arrays = {name: np.load(Path(INPUTS_DIR) / f"{name}.npy", allow_pickle=False) for name in task.options["inputs"]}
    device = pick_device(task.options.get("device", "auto"))
    _seed(int(task.options.get("seed", 0)), keras_too="keras" in task.graph.get("catalogs", {}))
    model = build(checked, device)
    outputs = run(checked, arrays, device=device, model=model)
    save_weights(model, Path("weights.safetensors"))
    Path(OUTPUTS_DIR).mkdir(exist_ok=True)
    written = {}
    for name, array in outputs.items():
        path = Path(OUTPUTS_DIR) / f"{name}.npy"
        _save_array(path, array)
        written[name] = {"file": path.as_posix(), "shape": list(array.shape), "dtype": str(array.dtype)}
    return {"outcome": "succeeded", "result": {"device": device, "outputs": written,
                                               "weights": "weights.safetensors"}}


def _evaluate(task: Any, reporter: Reporter) -> dict[str, Any]:
    from nodecat.executor.graph.document import Graph
    from nodecat.executor.training.session import evaluate
    options = task.options
    result = evaluate(Graph.from_json(task.graph), Path(options["weights"]), options.get("data", ()),
                      [Path(p) for p in options.get("data_roots", ())], options.get("device", "auto"),
                      options.get("batch_size"))
    return {"outcome": "succeeded", "result": result}


def _profile(task: Any, reporter: Reporter) -> dict[str, Any]:
    import json

    from nodecat.executor.build.run import profile
    from nodecat.executor.graph.document import Graph
    from nodecat.introspector.jsonio import write_bytes_atomic
    report = profile(Graph.from_json(task.graph), int(task.options.get("batch", 1))).to_json()
    write_bytes_atomic(Path(PROFILE_FILE), json.dumps(report, sort_keys=True, indent=1).encode())
    return {"outcome": "succeeded", "result": {**report, "file": PROFILE_FILE}}


def _export(task: Any, reporter: Reporter) -> dict[str, Any]:
    from nodecat.executor.graph.document import Graph
    from nodecat.executor.interop.export import export_graph
    from nodecat.executor.build.run import validate
    from nodecat.executor.server.job_options import EXPORT_FILES
    to = task.options["to"]
    Path(EXPORT_DIR).mkdir(exist_ok=True)
    files = export_graph(validate(Graph.from_json(task.graph)), to, Path(EXPORT_DIR) / EXPORT_FILES[to],
                         seed=int(task.options.get("seed", 0)))
    return {"outcome": "succeeded", "result": {"to": to, "files": [Path(f).as_posix() for f in files]}}


_KINDS = {"train": _train, "run": _run, "evaluate": _evaluate, "profile": _profile, "export": _export}


def _seed(seed: int, keras_too: bool) -> None:
    """As `nodecat run --seed` seeds the initial weights (Keras only for a graph with Keras nodes: a
    torch graph's weights depend on torch's seed alone, and importing Keras costs seconds)."""
    import torch
    torch.manual_seed(seed)
    if keras_too:
        import keras
        keras.utils.set_random_seed(seed)


def _save_array(path: Path, array: Any) -> None:
    import numpy as np

    from nodecat.introspector.jsonio import write_bytes_atomic
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())


def _relative(path: str) -> str:
    """A path inside the run's directory (the working directory) as the files route names it."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path


def _relative_paths(result: dict[str, Any]) -> dict[str, Any]:
    out = dict(result)
    for key in ("out_dir", "history", "plot", "weights", "checkpoint"):
        if isinstance(out.get(key), str):
            out[key] = _relative(out[key]) if key != "out_dir" else "."
    final = out.get("final")
    if isinstance(final, dict):
        out["final"] = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in final.items()}
    return out
