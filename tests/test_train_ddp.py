"""Training in several processes (torch.distributed, gloo on the CPU): the same weights as one process.

A global batch is split across the processes and each scales its mean loss by its share, so the
averaged gradients are those of the whole batch: two processes must end with the weights of one, up
to float summation order (the batch's gradient is summed in two halves, then all-reduced). The graph
is an MLP without BatchNorm or dropout, whose training does not depend on how a batch is split.

The optimizer is SGD with momentum, whose step is linear in the gradient: a gradient scaled wrongly
(say, summed instead of averaged over the processes) shows in the weights, where Adam, invariant to a
constant scale, would hide it. Measured here: SGD weights differ by at most 7e-7 after 2 or 10 epochs;
Adam's by up to 4e-6, because its update g / (sqrt(v) + eps) amplifies the rounding noise of
gradients near zero (the always-blank pixels of the digits) by lr / eps.
"""
from __future__ import annotations

import json
import inspect
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nodecat.executor.training import distributed
from nodecat.executor.training.distributed import run_workers, torchrun_context, train_under_torchrun
from nodecat.executor.graph.errors import GraphError
from nodecat.executor.graph.document import Graph
from nodecat.executor.training.session import TrainOptions, TrainReport
from nodecat.executor.training.launch import train

DIGITS = Path(__file__).resolve().parents[1] / "executor" / "demo" / "digits.npz"
BATCH = 45  # odd: every global batch splits unevenly (23 + 22 rows), which the loss scaling must undo
TRAIN_ROWS = 1438  # 1797 digits, 20% held out
TOLERANCE = 1e-5


def mlp(**train: Any) -> dict[str, Any]:
    chain = ["image", "flat", "fc1", "act", "head"]
    return {
        "format": "nodecat-graph/1", "name": "mlp_ddp", "catalogs": {"torch": "2.13.0"},
        "nodes": [{"id": "image", "op": "input", "args": {"shape": [None, 1, 8, 8], "dtype": "float32"}},
                  {"id": "flat", "op": "torch.nn.Flatten"},
                  {"id": "fc1", "op": "torch.nn.Linear", "args": {"in_features": 64, "out_features": 32}},
                  {"id": "act", "op": "torch.nn.ReLU"},
                  {"id": "head", "op": "torch.nn.Linear", "args": {"in_features": 32, "out_features": 10}}],
        "edges": [{"from": {"node": a, "port": "output"}, "to": {"node": b, "port": "input"}}
                  for a, b in zip(chain, chain[1:])],
        "outputs": [{"name": "logits", "node": "head", "port": "output"}],
        "train": {"feed": {"image": "images"},
                  "loss": {"op": "torch.nn.CrossEntropyLoss",
                           "inputs": {"input": {"output": "logits"}, "target": {"column": "labels"}}},
                  "optimizer": {"op": "torch.optim.SGD", "args": {"lr": 0.1, "momentum": 0.9}},
                  "metrics": ["accuracy"], "epochs": 2, "batch_size": BATCH, "validation_split": 0.2,
                  "shuffle": True, "seed": 3, **train},
    }


def options(out: Path, **kw: Any) -> TrainOptions:
    return TrainOptions(out_dir=out, data=(str(DIGITS),), progress=False, **kw)


def load(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file
    return load_file(str(path))


def assert_same_tensors(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=TOLERANCE, err_msg=name)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same graph trained for 2 epochs by one process and by two."""
    root = tmp_path_factory.mktemp("ddp")
    graph = root / "mlp.json"
    graph.write_text(json.dumps(mlp()))
    assert TRAIN_ROWS % BATCH >= 2  # no last batch is dropped for having fewer rows than processes
    out: dict[str, Any] = {"graph": graph, "root": root}
    for nproc in (1, 2):
        began = time.perf_counter()
        out[nproc] = train(graph, options(root / f"out{nproc}", nproc=nproc))
        out[f"seconds{nproc}"] = time.perf_counter() - began
    return out


def test_two_processes_end_with_the_weights_of_one(runs: dict[str, Any]) -> None:
    one, two = runs[1], runs[2]
    assert (one.nproc, two.nproc) == (1, 2)
    assert one.rows == two.rows == {"train": TRAIN_ROWS, "validation": 1797 - TRAIN_ROWS}
    assert_same_tensors(load(one.files["weights"]), load(two.files["weights"]))
    # the optimizer's state (the momentum buffers) too
    assert_same_tensors(load(one.files["checkpoint"] / "tensors.safetensors"),
                        load(two.files["checkpoint"] / "tensors.safetensors"))
    assert not np.allclose(load(one.files["weights"])["head.weight"], 0)


def test_two_processes_report_the_curves_of_one(runs: dict[str, Any]) -> None:
    one, two = runs[1].history, runs[2].history
    assert [row["epoch"] for row in two] == [1, 2]
    for a, b in zip(one, two):
        for key in ("loss", "val_loss"):
            assert b[key] == pytest.approx(a[key], abs=TOLERANCE), key
        for key, rows in (("accuracy", TRAIN_ROWS), ("val_accuracy", 1797 - TRAIN_ROWS)):
            assert abs(b[key] - a[key]) <= 1 / rows + 1e-12, key  # at most one near-tie flipped


def test_rank_zero_alone_writes_the_files(runs: dict[str, Any]) -> None:
    report: TrainReport = runs[2]
    out = report.out_dir
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "curves.png", "history.jsonl",
                                                     "weights.safetensors"]
    lines = (out / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints == ["epoch-000001", "epoch-000002"]
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary file was left behind
    assert report.files["checkpoint"] == out / "checkpoints" / "epoch-000002"
    assert report.to_json()["nproc"] == 2


def test_a_workers_graph_error_arrives_as_graph_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """loss_not_finite is raised inside the processes (after the parent's checks passed); the graph is
    given as an object, so the processes rebuild it from JSON and read its train.data from an absolute path."""
    monkeypatch.chdir(DIGITS.parent)
    graph = Graph.from_json(mlp(data="digits.npz", optimizer={"op": "torch.optim.SGD", "args": {"lr": 1e30}}))
    with pytest.raises(GraphError) as caught:
        train(graph, TrainOptions(out_dir=tmp_path / "out", progress=False, nproc=2))
    assert caught.value.code == "loss_not_finite"
    assert "epoch 1, step 2 of" in caught.value.problems[0].message
    assert not (tmp_path / "out" / "weights.safetensors").exists()


def test_data_errors_are_raised_before_any_process_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_workers(*args: Any) -> None:
        raise AssertionError("processes were started")
    monkeypatch.setattr(distributed, "run_workers", no_workers)
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps(mlp(feed={"image": "pixels"})))
    with pytest.raises(GraphError) as caught:
        train(graph, options(tmp_path / "out", nproc=2))
    assert caught.value.code == "unknown_column"
    graph.write_text(json.dumps(mlp(batch_size=1)))
    with pytest.raises(GraphError) as caught:
        train(graph, options(tmp_path / "out", nproc=2))
    assert caught.value.code == "unsupported_training" and caught.value.pointer == "/train/batch_size"
    graph.write_text(json.dumps(mlp()))
    (tmp_path / "used" / "checkpoints" / "epoch-000001").mkdir(parents=True)
    with pytest.raises(GraphError) as caught:
        train(graph, options(tmp_path / "used", nproc=2))
    assert caught.value.code == "out_dir_in_use"


# -- the supervision of the processes ---------------------------------------------------------------
def _killed_or_stuck(rank: int, world: int, results: Any) -> None:
    if rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(600)  # as a process waiting in a collective for its dead peer


def test_a_dead_process_does_not_hang_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed, "_GRACE_S", 0.5)
    began = time.perf_counter()
    with pytest.raises(GraphError) as caught:
        run_workers(_killed_or_stuck, 2, ())
    assert caught.value.code == "training_failed"
    assert "process 1 of 2 was killed by SIGKILL" in caught.value.problems[0].message
    assert time.perf_counter() - began < 60


# -- torchrun ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("env, expected", [
    ({}, None),
    ({"RANK": "1", "WORLD_SIZE": "4"}, None),  # no LOCAL_RANK: not torchrun
    ({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}, (1, 4)),
    ({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}, (0, 1)),
])
def test_torchrun_context(env: dict[str, str], expected: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert torchrun_context() == expected


@pytest.mark.parametrize("env", [{"RANK": "x", "WORLD_SIZE": "2", "LOCAL_RANK": "0"},
                                 {"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}])
def test_torchrun_context_refuses_a_broken_environment(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(GraphError) as caught:
        torchrun_context()
    assert caught.value.code == "unsupported_training"


def _as_torchrun(rank: int, world: int, results: Any, port: int, graph: str, out: Path) -> None:
    """What torchrun gives each process: the environment, then the CLI calls train_under_torchrun.
    Every file this process writes (checkpoint, history and plot per epoch; the weights) is logged."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world), OMP_NUM_THREADS="1")
    import nodecat.executor.training.session
    import nodecat.executor.build.weights
    log = out.parent / f"{out.name}-writes-{rank}.txt"
    write_epoch, save_weights = nodecat.executor.training.session._write_epoch, nodecat.executor.build.weights.save_weights

    def logged_write_epoch(*args: Any) -> None:
        with log.open("a") as f:
            f.write(f"epoch {inspect.signature(write_epoch).bind(*args).arguments['epoch']}\n")
        write_epoch(*args)

    def logged_save_weights(*args: Any, **kw: Any) -> Any:
        with log.open("a") as f:
            f.write("weights\n")
        return save_weights(*args, **kw)

    nodecat.executor.training.session._write_epoch = logged_write_epoch  # type: ignore[assignment]
    nodecat.executor.build.weights.save_weights = logged_save_weights  # type: ignore[assignment]
    distributed._report_to(results, rank, lambda: train_under_torchrun(graph, options(out)))


def test_under_torchrun_the_weights_are_those_of_one_process(runs: dict[str, Any]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = runs["root"] / "torchrun"
    report = run_workers(_as_torchrun, 2, (port, str(runs["graph"]), out))
    assert isinstance(report, TrainReport) and report.nproc == 2
    assert_same_tensors(load(runs[1].files["weights"]), load(out / "weights.safetensors"))
    assert (out.parent / "torchrun-writes-0.txt").read_text().split("\n") == ["epoch 1", "epoch 2", "weights", ""]
    assert not (out.parent / "torchrun-writes-1.txt").exists()  # rank 1 wrote nothing
