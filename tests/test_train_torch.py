"""Training torch graphs: the same loss curve as the hand-written loop, the demo's accuracy, files,
evaluation, resume after SIGKILL, and a clear error for each kind of bad input."""
from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.numpy import load_file

from nodecat.executor.cli.main import main
from nodecat.executor.training.data import DEMO_DIR, epoch_order, split_rows
from nodecat.executor.graph.document import Graph
from nodecat.executor.training.session import TrainOptions
from nodecat.executor.training.launch import train

DEMO_GRAPH = DEMO_DIR / "digits_cnn.json"
DIGITS = DEMO_DIR / "digits.npz"


def _demo_document() -> dict[str, Any]:
    return json.loads(DEMO_GRAPH.read_text())


def _write(tmp_path: Path, document: dict[str, Any], name: str = "graph.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def _errors(result: Any) -> list[dict[str, str]]:
    assert result.exit_code == 1, result.output
    return json.loads(result.stdout)["errors"]


def _hand_written_cnn() -> torch.nn.Module:
    """examples/cnn.json written by hand, layers created in the graph's order."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64, 10))


def _hand_written_run(epochs: int, seed: int = 0, batch_size: int = 32) -> tuple[list[float], list[float]]:
    """The plain PyTorch loop a person writes for the demo: per-step losses and per-epoch mean losses."""
    data = np.load(DIGITS)
    images, labels = torch.from_numpy(data["images"]), torch.from_numpy(data["labels"])
    train_rows, _ = split_rows(len(labels), 0.2, seed)
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = _hand_written_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=6, gamma=0.3)
    loss_fn = torch.nn.CrossEntropyLoss()
    steps, epoch_means = [], []
    for epoch in range(epochs):
        order = torch.from_numpy(epoch_order(train_rows, seed, epoch, True))
        total = 0.0
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            loss = loss_fn(model(images[rows]), labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps.append(loss.item())
            total += loss.item() * len(rows)
        scheduler.step()
        epoch_means.append(total / len(order))
    return steps, epoch_means


def test_graph_training_gives_the_hand_written_loss_curve(tmp_path: Path) -> None:
    report = train(DEMO_GRAPH, TrainOptions(out_dir=tmp_path / "run", epochs=2, progress=False))
    steps, epoch_means = _hand_written_run(epochs=2)
    assert [row["loss"] for row in report.history] == pytest.approx(epoch_means, abs=1e-5)
    # and step by step through the trainer's own step (the loop's only training call)
    from nodecat.executor.build.run import validate
    from nodecat.executor.training.session import make_backend, prepare_data
    checked = validate(DEMO_GRAPH)
    prepared = prepare_data(checked, DEMO_GRAPH, TrainOptions(out_dir=tmp_path))
    backend = make_backend(checked, checked.train.spec, prepared, "cpu", 0, 1, progress=False)
    order = backend.data.index(epoch_order(split_rows(prepared.rows, 0.2, 0)[0], 0, 0, True))
    graph_steps = []
    for start in range(0, 5 * 32, 32):
        inputs, targets = backend.data.batch(order[start:start + 32])
        loss, _ = backend.trainer.step(inputs, targets, 1.0)
        graph_steps.append(loss.item())
    assert graph_steps == pytest.approx(steps[:5], abs=1e-5)
    assert steps[0] != pytest.approx(steps[4], abs=1e-3)  # the curve moves, so the comparison bites


def test_demo_reaches_95_percent_held_out_with_its_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _cli("demo", "--out", str(tmp_path / "demo"), "--json", "--no-progress")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["accuracy"] >= 0.95
    assert report["epochs"] == 15 and report["seconds"] > 0
    assert report["rows"] == {"train": 1438, "validation": 359}
    assert Path(report["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    checkpoint = Path(report["checkpoint"])
    assert checkpoint.name == "epoch-000015" and (checkpoint / "state.json").is_file()
    history = [json.loads(line) for line in Path(report["history"]).read_text().splitlines()]
    assert [row["epoch"] for row in history] == list(range(1, 16))
    assert history[-1]["val_accuracy"] == pytest.approx(report["accuracy"])
    assert set(history[0]) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "samples_per_second"}
    assert history[-1]["lr"] == pytest.approx(0.01 * 0.3 ** 2)  # StepLR(6, 0.3) stepped after each epoch

    # evaluate on exactly the held-out rows gives the run's own validation numbers
    data = np.load(DIGITS)
    _, held_out = split_rows(len(data["labels"]), 0.2, 0)
    held = tmp_path / "held_out.npz"
    np.savez(held, images=data["images"][held_out], labels=data["labels"][held_out])
    monkeypatch.chdir(tmp_path)  # the held-out file lies under the current directory, a data root
    evaluated = _cli("evaluate", str(DEMO_GRAPH), "--weights", report["weights"], "--data", str(held), "--json")
    assert evaluated.exit_code == 0, evaluated.output
    numbers = json.loads(evaluated.stdout)
    assert numbers["rows"] == len(held_out)
    assert numbers["accuracy"] == pytest.approx(report["accuracy"], abs=1e-9)
    assert numbers["loss"] == pytest.approx(report["loss"], abs=1e-6)


def test_human_output_names_accuracy_plot_and_checkpoint(tmp_path: Path) -> None:
    result = _cli("train", str(DEMO_GRAPH), "--epochs", "1", "--out", str(tmp_path / "r"), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.stdout
    assert str(tmp_path / "r" / "curves.png") in result.stdout
    assert str(tmp_path / "r" / "checkpoints" / "epoch-000001") in result.stdout


# -- bad input: each a clear error with its code and location ---------------------------------------
def _graph_with(tmp_path: Path, **train: Any) -> Path:
    document = _demo_document()
    document["train"].update(train)
    document["train"]["data"] = str(DIGITS)
    return _write(tmp_path, document)


def test_columns_that_do_not_match_the_graph_inputs(tmp_path: Path) -> None:
    graph = _graph_with(tmp_path, feed={"image": "pixels"})
    errors = _errors(_cli("train", str(graph), "--out", str(tmp_path / "r"), "--json"))
    assert errors[0]["code"] == "unknown_column" and errors[0]["pointer"] == "/train/feed/image"
    assert "pixels" in errors[0]["message"] and "images" in errors[0]["hint"]


def test_wrong_shapes_and_dtypes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    np.savez(tmp_path / "bad.npz", images=np.zeros((10, 3, 8, 8), np.float32), labels=np.zeros(10, np.float32))
    document = _demo_document()
    document["nodes"][0]["args"]["dtype"] = "int64"  # float pixels cannot become int64 inputs
    graph = _write(tmp_path, document)
    monkeypatch.chdir(tmp_path)
    errors = _errors(_cli("train", str(graph), "--data", "bad.npz", "--out", "r", "--json"))
    assert {e["code"] for e in errors} == {"data_mismatch"}
    assert any("(3, 8, 8)" in e["message"] and "(1, 8, 8)" in e["message"] for e in errors)


def test_an_empty_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.csv").write_text("")
    errors = _errors(_cli("train", str(DEMO_GRAPH), "--data", "empty.csv", "--out", "r", "--json"))
    assert errors[0]["code"] == "empty_data" and "empty.csv" in errors[0]["message"]


def test_a_path_outside_the_data_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inside, outside = tmp_path / "work", tmp_path / "elsewhere"
    inside.mkdir()
    outside.mkdir()
    np.savez(outside / "d.npz", images=np.zeros((4, 1, 8, 8), np.float32), labels=np.zeros(4, np.int64))
    monkeypatch.chdir(inside)
    document = _demo_document()
    document["train"]["data"] = "../elsewhere/d.npz"  # a graph naming a file outside the roots
    graph = _write(inside, document)
    errors = _errors(_cli("train", str(graph), "--out", "r", "--json"))
    assert errors[0]["code"] == "path_outside_roots" and errors[0]["pointer"] == "/train/data"
    errors = _errors(_cli("train", str(graph), "--data", str(outside / "d.npz"), "--out", "r", "--json"))
    assert errors[0]["code"] == "path_outside_roots"
    allowed = _cli("train", str(graph), "--data-root", str(outside), "--epochs", "1", "--out", "r", "--json",
                   "--no-progress")
    assert allowed.exit_code == 0, allowed.output
    assert not (outside / "r").exists()


def test_an_optimizer_argument_out_of_range(tmp_path: Path) -> None:
    graph = _graph_with(tmp_path, optimizer={"op": "torch.optim.Adam", "args": {"lr": -0.5}})
    errors = _errors(_cli("check", str(graph), "--json"))
    assert errors[0]["code"] == "bad_arg_value" and errors[0]["pointer"] == "/train/optimizer/args"
    assert "Invalid learning rate" in errors[0]["message"]
    graph = _graph_with(tmp_path, optimizer={"op": "torch.optim.Adam", "args": {"lr": "fast"}})
    errors = _errors(_cli("train", str(graph), "--json", "--out", str(tmp_path / "r")))
    assert errors[0]["code"] == "bad_arg_value" and errors[0]["pointer"] == "/train/optimizer/args/lr"


def test_train_section_mistakes_are_all_reported_with_pointers(tmp_path: Path) -> None:
    graph = _graph_with(tmp_path, optimizer={"op": "torch.nn.Linear", "args": {}},
                        loss={"op": "torch.nn.MSELoss", "inputs": {"input": {"output": "scores"}}},
                        schedule={"op": "keras.optimizers.schedules.ExponentialDecay"}, feed={"img": "images"})
    errors = _errors(_cli("check", str(graph), "--json"))
    found = {(e["code"], e["pointer"]) for e in errors}
    assert found >= {("wrong_kind", "/train/optimizer/op"), ("wrong_library", "/train/schedule/op"),
                     ("unknown_graph_output", "/train/loss/inputs/input/output"),
                     ("missing_loss_input", "/train/loss/inputs"), ("unknown_graph_input", "/train/feed/img")}


def test_a_graph_without_a_train_section(tmp_path: Path) -> None:
    errors = _errors(_cli("train", "examples/cnn.json", "--data", str(DIGITS), "--json", "--out", str(tmp_path)))
    assert errors[0]["code"] == "no_train_section"


def test_resume_without_a_checkpoint(tmp_path: Path) -> None:
    errors = _errors(_cli("train", str(DEMO_GRAPH), "--resume", "--out", str(tmp_path / "new"), "--json"))
    assert errors[0]["code"] == "no_checkpoint"


def test_a_loss_that_becomes_nan_stops_naming_epoch_and_step(tmp_path: Path) -> None:
    graph = _graph_with(tmp_path, optimizer={"op": "torch.optim.SGD", "args": {"lr": 1e30}})
    errors = _errors(_cli("train", str(graph), "--out", str(tmp_path / "r"), "--json", "--no-progress"))
    assert errors[0]["code"] == "loss_not_finite"
    assert "epoch 1, step 2 of 45" in errors[0]["message"] or "epoch 1, step 3 of 45" in errors[0]["message"]


def test_resume_of_another_graph_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert _cli("train", str(DEMO_GRAPH), "--epochs", "1", "--out", str(out), "--no-progress").exit_code == 0
    graph = _graph_with(tmp_path, optimizer={"op": "torch.optim.SGD", "args": {"lr": 0.1}})
    errors = _errors(_cli("train", str(graph), "--resume", "--epochs", "2", "--out", str(out), "--json"))
    assert errors[0]["code"] == "bad_checkpoint"


# -- SIGKILL in the middle of an epoch, then --resume ---------------------------------------------
def _slow_graph(tmp_path: Path) -> tuple[Path, Path]:
    """An MLP on 16,000 synthetic rows: an epoch lasts long enough to be killed in the middle."""
    rng = np.random.default_rng(1)
    features = rng.normal(size=(16_000, 32)).astype(np.float32)
    labels = (features[:, :4].sum(1) > 0).astype(np.int64) + 2 * (features[:, 4] > 0)
    np.savez(tmp_path / "rows.npz", x=features, y=labels)
    document = {
        "format": "nodecat-graph/1", "name": "slow_mlp", "catalogs": {"torch": torch.__version__.split("+")[0]},
        "nodes": [{"id": "x", "op": "input", "args": {"shape": [None, 32]}},
                  {"id": "fc1", "op": "torch.nn.Linear", "args": {"in_features": 32, "out_features": 256}},
                  {"id": "act", "op": "torch.nn.ReLU"},
                  {"id": "fc2", "op": "torch.nn.Linear", "args": {"in_features": 256, "out_features": 4}}],
        "edges": [{"from": {"node": "x", "port": "output"}, "to": {"node": "fc1", "port": "input"}},
                  {"from": {"node": "fc1", "port": "output"}, "to": {"node": "act", "port": "input"}},
                  {"from": {"node": "act", "port": "output"}, "to": {"node": "fc2", "port": "input"}}],
        "outputs": [{"name": "logits", "node": "fc2"}],
        "train": {"data": "rows.npz", "loss": {"op": "torch.nn.CrossEntropyLoss",
                                               "inputs": {"input": {"output": "logits"}, "target": {"column": "y"}}},
                  "optimizer": {"op": "torch.optim.SGD", "args": {"lr": 0.05, "momentum": 0.9}},
                  "metrics": ["accuracy"], "epochs": 3, "batch_size": 16, "seed": 3}}
    return _write(tmp_path, document), tmp_path / "rows.npz"


def _complete(checkpoint: Path) -> bool:
    state = json.loads((checkpoint / "state.json").read_text())
    tensors = load_file(str(checkpoint / "tensors.safetensors"))
    return state["epoch"] == int(checkpoint.name.split("-")[1]) and "model.fc1.weight" in tensors


def test_sigkill_mid_epoch_then_resume_continues_from_the_last_checkpoint(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    graph, _ = _slow_graph(tmp_path)
    monkeypatch.chdir(tmp_path)  # the data lies under the current directory, a data root
    out = tmp_path / "killed"
    command = [str(Path(sys.executable).parent / "nodecat"), "train", str(graph), "--out", str(out), "--no-progress",
               "--device", "cpu", "--keep", "10"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen_complete: set[str] = set()
    try:
        deadline = time.monotonic() + 240
        while not (out / "curves.png").exists():  # epoch 1's checkpoint, history and plot are written
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.02)
        epoch_seconds = json.loads((out / "history.jsonl").read_text().splitlines()[0])["seconds"]
        time.sleep(epoch_seconds * 0.3)  # inside epoch 2
        for checkpoint in (out / "checkpoints").glob("epoch-*"):  # what a reader sees is always whole
            assert _complete(checkpoint)
            seen_complete.add(checkpoint.name)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL  # killed before it finished on its own
    finished = sorted(p.name for p in (out / "checkpoints").iterdir())
    # killed inside epoch 2 (or, on a machine whose load just dropped, a later one): every checkpoint
    # there is whole, and nothing else is (no temporary directory left beside them)
    assert finished and all(name.startswith("epoch-") and _complete(out / "checkpoints" / name)
                            for name in finished), finished
    last = int(finished[-1].split("-")[1])
    assert 1 <= last < 3 and seen_complete <= set(finished)
    assert len((out / "history.jsonl").read_text().splitlines()) == last

    resumed = _cli("train", str(graph), "--out", str(out), "--resume", "--json", "--no-progress", "--device", "cpu")
    assert resumed.exit_code == 0, resumed.output
    report = json.loads(resumed.stdout)
    assert report["resumed_from"] == last and report["epochs"] == 3
    uninterrupted = tmp_path / "whole"
    whole = _cli("train", str(graph), "--out", str(uninterrupted), "--json", "--no-progress", "--device", "cpu")
    assert whole.exit_code == 0, whole.output
    after_resume = load_file(str(out / "weights.safetensors"))
    straight = load_file(str(uninterrupted / "weights.safetensors"))
    for name, value in straight.items():
        np.testing.assert_allclose(after_resume[name], value, rtol=0, atol=1e-6, err_msg=name)
    def losses(run: Path) -> list[float]:
        return [json.loads(line)["loss"] for line in (run / "history.jsonl").read_text().splitlines()]
    assert len(losses(out)) == 3
    assert losses(out) == pytest.approx(losses(uninterrupted), abs=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_the_same_graph_trains_on_cuda_with_device_auto(tmp_path: Path) -> None:
    result = _cli("train", str(DEMO_GRAPH), "--epochs", "2", "--device", "auto", "--out", str(tmp_path), "--json",
                  "--no-progress")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["device"].startswith("cuda")


def test_train_section_round_trips_through_json_text() -> None:
    graph = Graph.from_json(_demo_document())
    again = Graph.from_json(json.loads(json.dumps(graph.to_json())))
    assert again == graph and again.train is not None and again.train.schedule is not None
    changed = copy.deepcopy(_demo_document())
    changed["train"]["epochs"] = 3
    assert Graph.from_json(changed) != graph
