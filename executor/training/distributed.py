"""Training in several processes under torch.distributed: `--nproc N` on this machine, or torchrun.

    report = train("graph.json", TrainOptions(out_dir=Path("runs/a"), nproc=2))   # spawns 2 processes

`train_distributed` checks the graph and reads the data once in the calling process (so a mistake is
the usual GraphError, before anything is started), then runs `training.train_process` in N processes
started with `spawn`: gloo on the CPU, NCCL on CUDA, one process per GPU. The processes meet at a
TCPStore the calling process holds on 127.0.0.1 (a port the OS picked, so two runs never collide).
Rank 0 sends its TrainReport back; a GraphError in any process (loss_not_finite, say) is raised again
here with its problems; a process that dies makes the others stop instead of waiting on it.

Under torchrun (`torchrun --nproc-per-node 2 -m nodecat.executor.cli.main train ...`) the processes already exist:
`torchrun_context()` says so, and `train_under_torchrun` joins the process group torchrun describes.
No scheduler of our own: torch.distributed, torchrun and DDP do the work.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import queue as queue_module
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.document import Graph
from nodecat.executor.training.session import TrainOptions, TrainReport
from nodecat.executor.graph.validate import CheckedGraph

HOST = "127.0.0.1"
# Joining the process group and every collective give up after this long, so a process whose peer
# hangs (rather than dies) still ends; generous, since one step of a big model on a CPU can be slow.
TIMEOUT = datetime.timedelta(minutes=10)
# After one process failed, how long the others get to report before they are terminated.
_GRACE_S = 5.0
_POLL_S = 0.1


# -- --nproc N: processes of our own ----------------------------------------------------------------
def train_distributed(graph: str | Path | Graph | CheckedGraph, options: TrainOptions) -> TrainReport:
    """Train in options.nproc processes on this machine; rank 0's report, or the GraphError of a process."""
    from nodecat.executor.training import session as training
    began = time.perf_counter()
    world = options.nproc
    if world < 1:
        raise GraphError(GraphProblem("unsupported_training", f"--nproc must be at least 1, not {world}",
                                      hint="use --nproc 1 for one process"))
    checked, graph_path = training.load_checked(graph)
    spec = _spec(checked, options)
    device = _preflight(checked, spec, options, world)
    # The processes would refuse these too, but only after every one of them has started.
    if options.resume:
        checkpoint = training.resume_checkpoint(options.out_dir, checked, spec)
        finished = training.finished_report(checked, graph_path, spec, checkpoint, options, began, world)
        if finished is not None:  # nothing to resume: no process is started
            return finished
    else:
        training.refuse_used_out_dir(options.out_dir)
    prepared = training.prepare_data(checked, graph_path, options)
    from nodecat.executor.training.data import split_rows
    train_rows, _ = split_rows(prepared.rows, spec.validation_split, spec.seed)
    del prepared  # every process reads the data itself
    if len(train_rows) < world:
        raise GraphError(GraphProblem("empty_data", f"{len(train_rows)} training row(s) cannot be shared by "
                                      f"{world} processes", hint="use more data or a smaller --nproc"))
    graph_ref, options = _portable(graph, checked, graph_path, options)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    import torch.distributed as dist
    store = dist.TCPStore(HOST, 0, world + 1, is_master=True, timeout=TIMEOUT, wait_for_workers=False)
    report = run_workers(_train_worker, world, (store.port, backend, graph_ref, options))
    return dataclasses.replace(report, seconds=time.perf_counter() - began)


def run_workers(target: Any, world: int, args: tuple[Any, ...]) -> Any:
    """Start `target(rank, world, results, *args)` in `world` spawned processes and wait for them.

    Each process puts one message on `results`: ("done", rank, value), ("graph_error", rank, problems)
    or ("error", rank, traceback text). Returns rank 0's value. After the first failure (a message
    other than "done", or a process that exited non-zero) the others get _GRACE_S seconds, then are
    terminated. Then the lowest rank's GraphError is raised as such; else a process that died (signal,
    exit status) becomes training_failed (its peers' errors only echo its death); else a RuntimeError
    carries the worker's traceback (a bug, not the user's mistake)."""
    import multiprocessing
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=target, args=(rank, world, results, *args), name=f"nodecat-rank{rank}",
                                 daemon=True) for rank in range(world)]
    messages: dict[int, tuple[str, Any]] = {}
    try:
        for process in processes:
            process.start()
        deadline: float | None = None
        while True:
            try:
                kind, rank, value = results.get(timeout=_POLL_S)
                messages[rank] = (kind, value)
            except queue_module.Empty:
                pass
            alive = [p for p in processes if p.is_alive()]
            # (a process that exited 0 may have its message still in the pipe: not a failure)
            failed = (any(kind != "done" for kind, _ in messages.values())
                      or any(p.exitcode not in (None, 0) for p in processes))
            if failed and deadline is None:
                deadline = time.monotonic() + _GRACE_S
            if not alive or (deadline is not None and time.monotonic() > deadline):
                break
        _drain(results, messages)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            if process.pid is None:  # never started
                continue
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        results.close()
        results.join_thread()
    return _outcome(processes, messages)


def _drain(results: Any, messages: dict[int, tuple[str, Any]]) -> None:
    """Messages still in the pipe once the processes ended (written before they exited)."""
    while True:
        try:
            kind, rank, value = results.get(timeout=_POLL_S)
        except queue_module.Empty:
            return
        messages[rank] = (kind, value)


def _outcome(processes: list[Any], messages: dict[int, tuple[str, Any]]) -> Any:
    if all(messages.get(rank, ("",))[0] == "done" for rank in range(len(processes))):
        return messages[0][1]
    for rank in sorted(messages):
        kind, value = messages[rank]
        if kind == "graph_error":
            raise GraphError(value)
    for rank, process in enumerate(processes):
        if rank not in messages and process.exitcode not in (None, 0) and process.exitcode != -signal.SIGTERM:
            raise GraphError(GraphProblem("training_failed", f"training process {rank} of {len(processes)} "
                                          f"{_exit_text(process.exitcode)} before it finished",
                                          hint="see its output above; a process killed by the system has "
                                          "often run out of memory (try a smaller batch_size or --nproc)"))
    for rank in sorted(messages):
        kind, value = messages[rank]
        if kind == "error":
            raise RuntimeError(f"training process {rank} of {len(processes)} failed:\n{value}")
    silent = [rank for rank in range(len(processes)) if rank not in messages]
    raise GraphError(GraphProblem("training_failed", f"training process(es) {silent} of {len(processes)} ended "
                                  "without a result", hint="see their output above"))


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _train_worker(rank: int, world: int, results: Any, port: int, backend: str, graph_ref: str | dict[str, Any],
                  options: TrainOptions) -> None:
    """One spawned process: join the group at the parent's store, train its share, report."""
    _exit_with_parent()
    os.environ.update(MASTER_ADDR=HOST, MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))

    def work() -> Any:
        import torch
        import torch.distributed as dist
        if backend == "nccl":
            torch.cuda.set_device(rank % torch.cuda.device_count())
        elif "OMP_NUM_THREADS" not in os.environ:  # as torchrun does: the processes share the cores
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
        store = dist.TCPStore(HOST, port, world + 1, is_master=False, timeout=TIMEOUT)
        dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=TIMEOUT)
        try:
            from nodecat.executor.training.session import train_process
            graph = graph_ref if isinstance(graph_ref, str) else Graph.from_json(graph_ref)
            report = train_process(graph, options, rank, world)
        finally:
            dist.destroy_process_group()
        return report if rank == 0 else None

    _report_to(results, rank, work)


def _report_to(results: Any, rank: int, work: Any) -> None:
    """Run `work()` and put its outcome on `results` as one picklable message."""
    try:
        value = work()
    except GraphError as e:
        results.put(("graph_error", rank, list(e.problems)))
    except KeyboardInterrupt:  # Ctrl-C reaches every process; the parent reports it
        raise SystemExit(130) from None
    except BaseException as e:  # noqa: BLE001 - anything else is a bug, sent with its traceback
        results.put(("error", rank, "".join(traceback.format_exception(e))))
    else:
        results.put(("done", rank, value))


def _exit_with_parent() -> None:
    """End this process when the process that started it is gone (killed), instead of waiting on peers."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="nodecat-parent-watch", daemon=True).start()


# -- torchrun ---------------------------------------------------------------------------------------
def torchrun_context() -> tuple[int, int] | None:
    """(rank, world) when torchrun (or a launcher like it) started this process, else None."""
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    if not all(name in os.environ for name in names):
        return None
    try:
        rank, world, local = (int(os.environ[name]) for name in names)
    except ValueError:
        text = ", ".join(f"{name}={os.environ[name]!r}" for name in names)
        raise GraphError(GraphProblem("unsupported_training", f"the launcher's environment is not understood: {text}",
                                      hint="start nodecat with torchrun, or unset these variables")) from None
    if not (0 <= rank < world and local >= 0):
        raise GraphError(GraphProblem("unsupported_training", f"the launcher gave rank {rank} of world size {world}",
                                      hint="start nodecat with torchrun, or unset RANK, WORLD_SIZE and LOCAL_RANK"))
    return rank, world


def train_under_torchrun(graph: str | Path | Graph | CheckedGraph, options: TrainOptions) -> TrainReport | None:
    """This process's share of a torchrun job: rank 0's TrainReport, None on the other ranks."""
    context = torchrun_context()
    if context is None:
        raise RuntimeError("train_under_torchrun needs RANK, WORLD_SIZE and LOCAL_RANK (set by torchrun)")
    rank, world = context
    from nodecat.executor.training import session as training
    options = dataclasses.replace(options, nproc=1)
    if world == 1:
        return training.train_process(graph, options, 0, 1)
    checked, _ = training.load_checked(graph)
    device = _preflight(checked, _spec(checked, options), options, world)
    import torch
    import torch.distributed as dist
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count())
    dist.init_process_group(backend, rank=rank, world_size=world, timeout=TIMEOUT)  # env:// from torchrun
    try:
        report = training.train_process(checked if isinstance(graph, (Graph, CheckedGraph)) else graph,
                                        options, rank, world)
    finally:
        dist.destroy_process_group()
    return report if rank == 0 else None


# -- pieces -----------------------------------------------------------------------------------------
def _spec(checked: CheckedGraph, options: TrainOptions) -> Any:
    from nodecat.executor.training import session as training
    return training.train_section(checked).spec.with_settings(epochs=options.epochs, batch_size=options.batch_size,
                                                                seed=options.seed)


def _preflight(checked: CheckedGraph, spec: Any, options: TrainOptions, world: int) -> str:
    """What must hold before processes are started; the device they train on (as pick_device names it)."""
    import torch.distributed as dist
    if not dist.is_available():
        raise GraphError(GraphProblem("unsupported_training", "this build of torch has no torch.distributed, so "
                                      f"training cannot use {world} processes", hint="drop --nproc"))
    assert checked.train is not None
    if checked.train.library == "keras":
        raise GraphError(GraphProblem("unsupported_training", f"a Keras graph trains in one process, not {world}",
                                      pointer="/train", hint="drop --nproc (torch and mixed graphs can use it)"))
    from nodecat.executor.build.devices import pick_device
    device = pick_device(options.device)
    if device.startswith("mps"):
        raise GraphError(GraphProblem("unsupported_training", f"{world} processes cannot share the mps device",
                                      hint="use --device cpu with --nproc, or drop --nproc"))
    if device.startswith("cuda"):
        import torch
        count = torch.cuda.device_count()
        if world > count:
            raise GraphError(GraphProblem("device_unavailable", f"{world} processes need one CUDA device each, but "
                                          f"this machine has {count}", hint=f"use --nproc {count} or less"))
    if spec.batch_size < world:
        raise GraphError(GraphProblem("unsupported_training", f"a batch of {spec.batch_size} row(s) cannot be "
                                      f"shared by {world} processes", pointer="/train/batch_size",
                                      hint=f"use --batch-size {world} or more, or a smaller --nproc"))
    return device


def _portable(graph: str | Path | Graph | CheckedGraph, checked: CheckedGraph, graph_path: Path | None,
              options: TrainOptions) -> tuple[str | dict[str, Any], TrainOptions]:
    """The graph as spawned processes receive it (a file path, else its JSON) and their options.

    A graph given as an object reads its train.data relative to the current directory; that file is
    passed as an absolute --data path, so a process reads the file the parent checked."""
    # each process is one of the world, never a launcher; an observer stays with the caller's process
    options = dataclasses.replace(options, nproc=1, observer=None)
    if graph_path is not None:
        return str(graph_path.absolute()), options
    document = checked.graph.to_json()
    assert checked.train is not None
    data = checked.train.spec.data
    if not options.data and data is not None:
        options = dataclasses.replace(options, data=(str(Path.cwd() / data),))
    return document, options
