"""Training Keras graphs (nodecat.executor.training.keras_loop): model.fit per epoch, driven by nodecat.executor.training.session.

The graphs here are small Keras MLPs on the 8x8 digits that ship with nodecat. Each test names the
behaviour it checks: the run's files and history, accuracy, agreement with a hand-written
keras.Sequential trained by model.fit on the same rows, exact resume, evaluation, the progress
bar, a loss that stops being finite, and what model.fit cannot train.
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # as nodecat does; before anything imports keras

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

from nodecat.executor import api  # noqa: E402
from nodecat.executor.training.data import DEMO_DIR, epoch_order, split_rows  # noqa: E402
from nodecat.executor.graph.errors import GraphError  # noqa: E402
from nodecat.executor.training.session import TrainOptions, evaluate, seed_everything
from nodecat.executor.training.launch import train  # noqa: E402

DIGITS = DEMO_DIR / "digits.npz"
STEPS = math.ceil(round(1797 * 0.8) / 32)  # batches per epoch: 1438 training rows in batches of 32
HISTORY_KEYS = {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "samples_per_second"}
SCHEDULE = {"initial_learning_rate": 0.005, "decay_steps": 100, "decay_rate": 0.9}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """These models are tiny: torch's intra-op threads only add contention on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def digits_graph(epochs: int = 3, dropout: bool = False, hidden_output: bool = False,
                 **train: Any) -> dict[str, Any]:
    """image [N,1,8,8] -> Flatten -> Dense(64, relu) [-> Dropout] -> Dense(10) = logits."""
    nodes = [{"id": "image", "op": "input", "args": {"shape": [None, 1, 8, 8], "dtype": "float32"}},
             {"id": "flat", "op": "keras.layers.Flatten"},
             {"id": "hidden", "op": "keras.layers.Dense", "args": {"units": 64, "activation": "relu"}},
             {"id": "head", "op": "keras.layers.Dense", "args": {"units": 10}}]
    chain = ["image", "flat", "hidden", "head"]
    if dropout:
        nodes.insert(3, {"id": "drop", "op": "keras.layers.Dropout", "args": {"rate": 0.3}})
        chain.insert(3, "drop")
    edges = [{"from": {"node": a, "port": "output"}, "to": {"node": b, "port": "inputs"}}
             for a, b in zip(chain, chain[1:])]
    outputs = [{"name": "logits", "node": "head", "port": "output"}]
    if hidden_output:
        outputs.append({"name": "features", "node": "hidden", "port": "output"})
    section = {
        "data": str(DIGITS), "feed": {"image": "images"},
        "loss": {"op": "keras.losses.SparseCategoricalCrossentropy", "args": {"from_logits": True},
                 "inputs": {"y_true": {"column": "labels"}, "y_pred": {"output": "logits"}}},
        "optimizer": {"op": "keras.optimizers.Adam"},
        "schedule": {"op": "keras.optimizers.schedules.ExponentialDecay", "args": dict(SCHEDULE), "every": "step"},
        "metrics": ["accuracy"], "epochs": epochs, "batch_size": 32, "validation_split": 0.2, "seed": 0}
    section.update(train)
    return {"format": "nodecat-graph/1", "name": "keras_digits",
            "description": "A Keras MLP on the shipped digits.", "catalogs": {"keras": keras.__version__},
            "nodes": nodes, "edges": edges, "outputs": outputs, "train": section}


def write(document: dict[str, Any], directory: Path, name: str = "graph.json") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def run(path: Path, out: Path, **options: Any) -> Any:
    """Train on the cpu: the comparisons below are exact or to 1e-5, and the models are tiny."""
    return train(path, TrainOptions(out_dir=out, progress=False, device="cpu", **options))


def digits() -> tuple[np.ndarray, np.ndarray]:
    with np.load(DIGITS) as data:
        return data["images"].astype(np.float32), data["labels"].astype(np.int64)


def hand_written() -> keras.Model:
    return keras.Sequential([keras.Input((1, 8, 8)), keras.layers.Flatten(),
                             keras.layers.Dense(64, activation="relu", name="hidden"),
                             keras.layers.Dense(10, name="head")])


def copy_graph_weights(weights: dict[str, np.ndarray], model: keras.Model) -> None:
    for layer in ("hidden", "head"):
        model.get_layer(layer).set_weights([weights[f"{layer}.kernel"], weights[f"{layer}.bias"]])


def compile_hand_written(model: keras.Model) -> None:
    schedule = keras.optimizers.schedules.ExponentialDecay(**SCHEDULE)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """One 4-epoch run of the digits MLP: (graph file, report)."""
    directory = tmp_path_factory.mktemp("keras_run")
    path = write(digits_graph(epochs=4), directory)
    return path, run(path, directory / "out")


# -- a whole run ---------------------------------------------------------------------------------
def test_history_rows_have_the_keys_of_a_torch_run(trained: tuple[Path, Any], tmp_path: Path) -> None:
    _, report = trained
    torch_report = train(DEMO_DIR / "digits_cnn.json",
                         TrainOptions(out_dir=tmp_path / "torch", epochs=1, progress=False, device="cpu"))
    assert report.backend == "keras" and torch_report.backend == "torch"
    assert [row["epoch"] for row in report.history] == [1, 2, 3, 4]
    for row in report.history:
        assert set(row) == set(torch_report.history[0]) == HISTORY_KEYS
        assert all(isinstance(value, (int, float)) and math.isfinite(value) for value in row.values())
    assert list(report.history[0])[:3] == list(torch_report.history[0])[:3] == ["epoch", "loss", "accuracy"]
    assert report.rows == {"train": 1438, "validation": 359}


def test_accuracy_improves_above_085_on_validation(trained: tuple[Path, Any]) -> None:
    _, report = trained
    history = report.history
    assert history[-1]["val_accuracy"] > 0.85
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert history[-1]["loss"] < history[0]["loss"]
    assert report.to_json()["accuracy"] == history[-1]["val_accuracy"]


def test_run_writes_history_plot_weights_and_checkpoints(trained: tuple[Path, Any]) -> None:
    _, report = trained
    out = report.out_dir
    lines = (out / "history.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == report.history
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    weights = load_file(str(out / "weights.safetensors"))
    assert {k: v.shape for k, v in weights.items()} == {"hidden.kernel": (64, 64), "hidden.bias": (64,),
                                                        "head.kernel": (64, 10), "head.bias": (10,)}
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch-000003", "epoch-000004"]
    assert report.files["checkpoint"] == out / "checkpoints" / "epoch-000004"
    document = json.loads((out / "checkpoints" / "epoch-000004" / "state.json").read_text(encoding="utf-8"))
    assert document["epoch"] == 4
    assert document["state"]["optimizer_variables"] == 1 + 2 * 4  # the step count, momentum and velocity per weight


def test_learning_rate_is_the_schedule_at_the_step_count(trained: tuple[Path, Any]) -> None:
    _, report = trained
    schedule = keras.optimizers.schedules.ExponentialDecay(**SCHEDULE)
    for row in report.history:
        assert row["lr"] == pytest.approx(float(schedule(STEPS * row["epoch"])), rel=1e-6)


# -- evaluation ----------------------------------------------------------------------------------
def test_validation_numbers_equal_keras_evaluate_on_those_rows(trained: tuple[Path, Any]) -> None:
    _, report = trained
    images, labels = digits()
    _, validation = split_rows(len(labels), 0.2, 0)
    with keras.device("cpu"):
        model = hand_written()
        copy_graph_weights(load_file(str(report.files["weights"])), model)
        compile_hand_written(model)
        own = model.evaluate(images[validation], labels[validation], batch_size=32, return_dict=True, verbose=0)
    assert report.history[-1]["val_loss"] == pytest.approx(own["loss"], rel=1e-6)
    assert report.history[-1]["val_accuracy"] == pytest.approx(own["accuracy"], abs=1e-7)


def test_evaluate_gives_loss_and_accuracy_of_the_saved_weights(trained: tuple[Path, Any]) -> None:
    path, report = trained
    numbers = evaluate(path, report.files["weights"], device="cpu")
    images, labels = digits()
    logits = api.run(path, {"image": images}, weights=report.files["weights"], device="cpu")["logits"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    assert numbers["rows"] == 1797
    assert set(numbers) == {"graph", "rows", "device", "loss", "accuracy"}
    assert numbers["loss"] == pytest.approx(float(-log_probs[np.arange(1797), labels].mean()), rel=1e-5)
    assert numbers["accuracy"] == pytest.approx(float((logits.argmax(axis=1) == labels).mean()), abs=1e-6)


# -- the same as a hand-written model.fit ------------------------------------------------------
def test_same_loss_curve_as_hand_written_sequential_fit(tmp_path: Path) -> None:
    path = write(digits_graph(epochs=3), tmp_path)
    report = run(path, tmp_path / "out")

    seed_everything(0)
    keras.utils.set_random_seed(0)
    initial = api.build(api.validate(path), device="cpu", budget=None)  # the graph's initial weights
    images, labels = digits()
    train_rows, _ = split_rows(len(labels), 0.2, 0)
    losses, accuracies = [], []
    with keras.device("cpu"):
        model = hand_written()
        copy_graph_weights({v.path.replace("/", "."): keras.ops.convert_to_numpy(v) for v in initial.weights},
                           model)
        compile_hand_written(model)
        for epoch in range(3):
            order = epoch_order(train_rows, 0, epoch, True)
            fitted = model.fit(images[order], labels[order], batch_size=32, epochs=1, shuffle=False, verbose=0)
            losses.append(fitted.history["loss"][0])
            accuracies.append(fitted.history["accuracy"][0])
    np.testing.assert_allclose([row["loss"] for row in report.history], losses, rtol=0, atol=1e-5)
    np.testing.assert_allclose([row["accuracy"] for row in report.history], accuracies, rtol=0, atol=1e-6)


# -- resuming ------------------------------------------------------------------------------------
def test_resume_continues_with_identical_weights(tmp_path: Path) -> None:
    """With dropout: the seed generator's state is part of the checkpoint, so the masks continue too."""
    path = write(digits_graph(epochs=3, dropout=True), tmp_path)
    whole = run(path, tmp_path / "whole")
    first = run(path, tmp_path / "split", epochs=2)
    resumed = run(path, tmp_path / "split", resume=True)
    assert first.epochs == 2 and resumed.resumed_from == 2 and resumed.epochs == 3
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    for name in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert [row[name] for row in resumed.history] == [row[name] for row in whole.history]
    expected = load_file(str(whole.files["weights"]))
    got = load_file(str(resumed.files["weights"]))
    assert set(got) == set(expected)
    for name, array in expected.items():
        assert np.array_equal(got[name], array), name


def test_restore_refuses_a_checkpoint_of_another_shape(tmp_path: Path) -> None:
    from nodecat.executor.training.keras_loop import KerasTrainer
    from nodecat.executor.training.session import prepare_data

    def trainer(units: int) -> KerasTrainer:
        document = digits_graph()
        document["nodes"][2]["args"]["units"] = units
        path = write(document, tmp_path, f"units{units}.json")
        checked = api.validate(path)
        prepared = prepare_data(checked, path, TrainOptions(out_dir=tmp_path))
        return KerasTrainer(checked, prepared, "cpu", progress=False)

    tensors, state = trainer(32).snapshot()
    target = trainer(64)
    with pytest.raises(GraphError) as caught:
        target.restore(tensors, state)
    assert caught.value.code == "bad_checkpoint"
    assert "model.hidden.kernel (64, 32) (expected (64, 64))" in caught.value.problems[0].message
    assert "optimizer.1" in caught.value.problems[0].message  # the optimizer's slots are checked too


# -- progress and failures -----------------------------------------------------------------------
def test_progress_bar_advances_to_the_epoch_step_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nodecat.executor.training.progress

    bars: list[Any] = []

    class Recorder:
        def __init__(self, epoch: int, epochs: int, steps: int, enabled: bool = True) -> None:
            self.label, self.steps, self.enabled, self.updates = (epoch, epochs), steps, enabled, []
            bars.append(self)

        def __enter__(self) -> "Recorder":
            return self

        def __exit__(self, *exc: Any) -> None:
            pass

        def update(self, steps: int, loss: float, metrics: dict[str, float], samples_per_second: float) -> None:
            self.updates.append((steps, loss, dict(metrics), samples_per_second))

    monkeypatch.setattr(nodecat.executor.training.progress, "EpochProgress", Recorder)
    path = write(digits_graph(epochs=1), tmp_path)
    report = train(path, TrainOptions(out_dir=tmp_path / "out", progress=True, device="cpu"))
    (bar,) = bars
    assert bar.label == (1, 1) and bar.steps == STEPS and bar.enabled
    assert sum(update[0] for update in bar.updates) == STEPS  # increments that add up to the epoch
    steps, loss, metrics, rate = bar.updates[-1]
    assert loss == pytest.approx(report.history[0]["loss"], rel=1e-6)
    assert metrics == {"accuracy": pytest.approx(report.history[0]["accuracy"], rel=1e-6)}
    assert rate > 0


def test_a_loss_that_is_not_finite_stops_with_epoch_and_step(tmp_path: Path) -> None:
    schedule = {"op": "keras.optimizers.schedules.ExponentialDecay",
                "args": {"initial_learning_rate": 1e30, "decay_steps": 100, "decay_rate": 1.0}, "every": "step"}
    document = digits_graph(epochs=2, optimizer={"op": "keras.optimizers.SGD"}, schedule=schedule)
    path = write(document, tmp_path)
    with pytest.raises(GraphError) as caught:
        run(path, tmp_path / "out")
    problem = caught.value.problems[0]
    assert problem.code == "loss_not_finite"
    found = re.fullmatch(rf"the loss became (nan|inf) at epoch 1, step (\d+) of {STEPS}; training stopped",
                         problem.message)
    assert found, problem.message
    assert int(found[2]) == 2  # the first step starts from finite weights; it makes them overflow
    assert "learning rate" in problem.hint
    assert not (tmp_path / "out" / "checkpoints").exists()  # no epoch finished

    from nodecat.executor.training.keras_loop import KerasTrainer
    from nodecat.executor.training.session import prepare_data
    checked = api.validate(path)
    trainer = KerasTrainer(checked, prepare_data(checked, path, TrainOptions(out_dir=tmp_path)), "cpu", False)
    seed_everything(0)
    with pytest.raises(GraphError):
        trainer.train_epoch(0, split_rows(1797, 0.2, 0)[0])
    assert int(trainer.optimizer.iterations) == 2  # fit stopped at the bad step, not at the epoch's end


# -- several outputs, a graph-output loss, and what model.fit cannot train ---------------------
def test_a_graph_with_several_outputs_trains_the_loss_output(tmp_path: Path) -> None:
    path = write(digits_graph(epochs=1, hidden_output=True), tmp_path)
    report = run(path, tmp_path / "out")
    assert set(report.history[0]) == HISTORY_KEYS
    weights = load_file(str(report.files["weights"]))
    assert set(weights) == {"hidden.kernel", "hidden.bias", "head.kernel", "head.bias"}
    outputs = api.run(path, {"image": digits()[0][:5]}, weights=report.files["weights"], device="cpu")
    assert outputs["logits"].shape == (5, 10) and outputs["features"].shape == (5, 64)


def output_loss_graph(**train: Any) -> dict[str, Any]:
    """The graph's output `energy` is the loss: the square of a Dense(1) output, minimised toward 0."""
    document = digits_graph(**train)
    document["nodes"][3]["args"]["units"] = 1
    document["nodes"].append({"id": "square", "op": "keras.ops.square"})
    document["edges"].append({"from": {"node": "head", "port": "output"}, "to": {"node": "square", "port": "x"}})
    document["outputs"] = [{"name": "energy", "node": "square", "port": "output"}]
    document["train"]["loss"] = {"output": "energy"}
    document["train"].pop("metrics")
    return document


def test_a_graph_output_loss_is_minimised_as_its_mean(tmp_path: Path) -> None:
    path = write(output_loss_graph(epochs=2), tmp_path)
    report = run(path, tmp_path / "out")
    assert set(report.history[0]) == HISTORY_KEYS - {"accuracy", "val_accuracy"}
    assert report.history[-1]["loss"] < report.history[0]["loss"]
    images = digits()[0]
    _, validation = split_rows(1797, 0.2, 0)
    energy = api.run(path, {"image": images[validation]}, weights=report.files["weights"], device="cpu")["energy"]
    assert report.history[-1]["val_loss"] == pytest.approx(float(energy.mean()), rel=1e-5)


def test_metrics_with_a_graph_output_loss_are_unsupported(tmp_path: Path) -> None:
    document = output_loss_graph(epochs=1)
    document["train"]["metrics"] = [{"name": "mae", "output": "energy", "column": "labels"}]
    with pytest.raises(GraphError) as caught:
        run(write(document, tmp_path), tmp_path / "out")
    assert [(p.code, p.pointer) for p in caught.value.problems] == [("unsupported_training", "/train/metrics")]
    assert not (tmp_path / "out").exists()


def test_a_metric_on_another_output_or_column_is_unsupported(tmp_path: Path) -> None:
    images, labels = digits()
    data = tmp_path / "digits2.npz"
    np.savez(data, images=images, labels=labels, shifted=(labels + 1) % 10)
    document = digits_graph(epochs=1, hidden_output=True, data=str(data), metrics=[
        "accuracy",
        {"name": "mae", "output": "features", "column": "labels"},
        {"name": "accuracy", "output": "logits", "column": "shifted"},
        {"name": "accuracy", "output": "logits", "column": "labels"}])
    with pytest.raises(GraphError) as caught:
        run(write(document, tmp_path), tmp_path / "out", data_roots=(tmp_path,))
    assert [(p.code, p.pointer) for p in caught.value.problems] == [
        ("unsupported_training", "/train/metrics/1"), ("unsupported_training", "/train/metrics/2")]
    assert "'features'" in caught.value.problems[0].message and "'shifted'" in caught.value.problems[1].message


def test_a_literal_learning_rate_is_valid_and_used(tmp_path: Path) -> None:
    """learning_rate takes a number or a schedule: a number needs no edge, and it is the rate trained with."""
    from nodecat.executor.build.run import validate
    document = digits_graph(epochs=1, optimizer={"op": "keras.optimizers.Adam", "args": {"learning_rate": 0.003}})
    del document["train"]["schedule"]
    checked = validate(write(document, tmp_path))
    assert checked.train is not None and checked.train.optimizer.kwargs() == {"learning_rate": 0.003}
    report = run(write(document, tmp_path), tmp_path / "out")
    assert report.history[0]["lr"] == pytest.approx(0.003)
    document["train"]["optimizer"]["args"]["learning_rate"] = "fast"
    with pytest.raises(GraphError) as error:
        validate(write(document, tmp_path))
    assert error.value.code == "bad_arg_value" and error.value.pointer == "/train/optimizer/args/learning_rate"
