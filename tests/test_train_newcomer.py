"""What a newcomer runs into first: `check` reads the train section's data headers, typos in the
optimizer or loss get a "did you mean", --no-progress keeps the epoch lines, --resume of a finished
run says so, a resume with another recipe is refused, and `evaluate --json` names its graph."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from nodecat.executor.cli.main import main
from nodecat.executor.training.data import DEMO_DIR

DEMO_GRAPH = DEMO_DIR / "digits_cnn.json"
DIGITS = DEMO_DIR / "digits.npz"


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def _document(**train: Any) -> dict[str, Any]:
    document = json.loads(DEMO_GRAPH.read_text())
    document["train"].update(train)
    return document


def _write(folder: Path, document: dict[str, Any], name: str = "graph.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(document))
    return path


def _errors(result: Any) -> list[dict[str, str]]:
    assert result.exit_code == 1, result.output
    return json.loads(result.stdout)["errors"]


def _ok(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- 1. `check` checks the train section's data, from its headers -------------------------------------
def test_check_reports_a_missing_data_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    graph = _write(tmp_path, _document(data="nowhere.npz"))
    errors = _errors(_cli("check", str(graph), "--json"))
    assert [(e["code"], e["pointer"]) for e in errors] == [("file_not_found", "/train/data")]
    assert "nowhere.npz" in errors[0]["message"]
    # the same as `train` says
    train = _errors(_cli("train", str(graph), "--out", "r", "--json"))
    assert [(e["code"], e["pointer"]) for e in train] == [("file_not_found", "/train/data")]


def test_check_reports_columns_the_data_lacks(tmp_path: Path) -> None:
    graph = _write(tmp_path, _document(data=str(DIGITS), feed={"image": "imgs"},
                                       loss={"op": "torch.nn.CrossEntropyLoss",
                                             "inputs": {"input": {"output": "logits"}, "target": {"column": "label"}}}))
    errors = _errors(_cli("check", str(graph), "--json"))
    found = {(e["code"], e["node"], e["pointer"]) for e in errors}
    assert found == {("unknown_column", "image", "/train/feed/image"),
                     ("unknown_column", "", "/train/loss/inputs/target/column")}
    by_pointer = {e["pointer"]: e for e in errors}
    assert "did you mean 'images'" in by_pointer["/train/feed/image"]["hint"]
    assert "did you mean 'labels'" in by_pointer["/train/loss/inputs/target/column"]["hint"]


def test_check_reports_a_path_outside_the_data_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inside, outside = tmp_path / "work", tmp_path / "elsewhere"
    outside.mkdir()
    np.savez(outside / "d.npz", images=np.zeros((4, 1, 8, 8), np.float32), labels=np.zeros(4, np.int64))
    graph = _write(inside, _document(data="../elsewhere/d.npz"))
    monkeypatch.chdir(inside)
    errors = _errors(_cli("check", str(graph), "--json"))
    assert [(e["code"], e["pointer"]) for e in errors] == [("path_outside_roots", "/train/data")]


def test_check_reports_shapes_and_dtypes_from_npz_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "bad.npz", images=np.zeros((10, 3, 8, 8), np.float32), labels=np.zeros(10, np.int64))
    graph = _write(tmp_path, _document(data="bad.npz"))
    errors = _errors(_cli("check", str(graph), "--json"))
    assert [(e["code"], e["node"], e["pointer"]) for e in errors] == [("data_mismatch", "image", "/train/feed/image")]
    assert "(3, 8, 8)" in errors[0]["message"] and "(1, 8, 8)" in errors[0]["message"]
    np.savez(tmp_path / "bad.npz", images=np.zeros((10, 1, 8, 8), np.float32), labels=np.zeros(9, np.int64))
    errors = _errors(_cli("check", str(graph), "--json"))
    assert [(e["code"], e["pointer"]) for e in errors] == [("data_mismatch", "/train/data")]
    assert "different row counts" in errors[0]["message"]


def test_check_resolves_data_against_the_graph_directory_as_train_does(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "project"
    folder.mkdir()
    np.savez(folder / "d.npz", images=np.zeros((8, 1, 8, 8), np.float32), labels=np.zeros(8, np.int64))
    graph = _write(folder, _document(data="d.npz"))
    assert _ok(_cli("check", str(graph), "--json"))["ok"] is True
    assert _ok(_cli("check", str(DEMO_GRAPH), "--json"))["ok"] is True  # the shipped demo data


def test_check_reads_only_the_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # a CSV whose header is right but whose cells are not numbers: only `train` reads the cells
    pixels = [f"p{i}" for i in range(64)]
    (tmp_path / "d.csv").write_text(",".join([*pixels, "labels"]) + "\n" + ",".join(["x"] * 65) + "\n")
    graph = _write(tmp_path, _document(data="d.csv", feed={"image": pixels}))
    assert _ok(_cli("check", str(graph), "--json"))["ok"] is True
    assert {e["code"] for e in _errors(_cli("train", str(graph), "--out", "r", "--json"))} == {"bad_data"}
    # an .npz: its array headers are read, never its array data
    np.savez(tmp_path / "d.npz", images=np.zeros((8, 1, 8, 8), np.float32), labels=np.zeros(8, np.int64))
    graph = _write(tmp_path, _document(data="d.npz"), "npz.json")
    import numpy.lib.format as npy_format

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("check read array data")
    monkeypatch.setattr(npy_format, "read_array", never)
    monkeypatch.setattr(np, "load", never)
    assert _ok(_cli("check", str(graph), "--json"))["ok"] is True


def test_check_reads_a_csv_header_for_its_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("a,labels\n1,2\n")
    graph = _write(tmp_path, _document(data="d.csv", feed={"image": ["a", "b"]}))
    errors = _errors(_cli("check", str(graph), "--json"))
    assert [(e["code"], e["node"], e["pointer"]) for e in errors] == [("unknown_column", "image", "/train/feed/image")]
    assert "'b'" in errors[0]["message"]


# -- 2. "did you mean" for the optimizer and the loss -------------------------------------------------
def test_an_optimizer_or_loss_typo_gets_a_did_you_mean(tmp_path: Path) -> None:
    graph = _write(tmp_path, _document(data=str(DIGITS), optimizer={"op": "torch.optim.Adamw", "args": {"lr": 0.01}},
                                       loss={"op": "torch.nn.CrossEntropyLos",
                                             "inputs": {"input": {"output": "logits"},
                                                        "target": {"column": "labels"}}}))
    errors = {e["pointer"]: e for e in _errors(_cli("check", str(graph), "--json"))}
    assert errors["/train/optimizer/op"]["code"] == "unknown_op"
    assert "did you mean" in errors["/train/optimizer/op"]["hint"]
    assert "torch.optim.AdamW" in errors["/train/optimizer/op"]["hint"]
    assert errors["/train/loss/op"]["code"] == "unknown_op"
    assert "torch.nn.CrossEntropyLoss" in errors["/train/loss/op"]["hint"]


# -- 3 to 5: train's output and --resume ---------------------------------------------------------------
def test_no_progress_keeps_the_epoch_summary_lines(tmp_path: Path) -> None:
    result = _cli("train", str(DEMO_GRAPH), "--epochs", "2", "--out", str(tmp_path / "r"), "--no-progress")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
    assert all("loss" in line and "val_accuracy" in line for line in lines)
    assert "%" not in result.stderr  # no bar


def test_resume_of_a_finished_run_says_nothing_to_resume(tmp_path: Path) -> None:
    out = tmp_path / "r"
    first = _ok(_cli("train", str(DEMO_GRAPH), "--epochs", "1", "--out", str(out), "--json", "--no-progress"))
    assert first["nothing_to_resume"] is False
    history = (out / "history.jsonl").read_bytes()
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    again = _ok(_cli("train", str(DEMO_GRAPH), "--epochs", "1", "--resume", "--out", str(out), "--json"))
    assert again["nothing_to_resume"] is True
    assert again["epochs"] == 1 and again["resumed_from"] == 1
    assert again["final"] == first["final"] and again["accuracy"] == first["accuracy"]
    assert (out / "history.jsonl").read_bytes() == history
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == stamps  # nothing written
    human = _cli("train", str(DEMO_GRAPH), "--epochs", "1", "--resume", "--out", str(out))
    assert human.exit_code == 0, human.output
    assert "nothing to resume" in human.stdout and "1 of 1 epochs" in human.stdout
    assert "epoch 1/1" not in human.stderr


def test_resume_with_another_batch_size_or_seed_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "r"
    _ok(_cli("train", str(DEMO_GRAPH), "--epochs", "1", "--batch-size", "64", "--out", str(out), "--json",
             "--no-progress"))
    errors = _errors(_cli("train", str(DEMO_GRAPH), "--epochs", "2", "--resume", "--batch-size", "32",
                          "--out", str(out), "--json"))
    assert [e["code"] for e in errors] == ["resume_mismatch"]
    assert "batch_size" in errors[0]["message"] and "64" in errors[0]["message"] and "32" in errors[0]["message"]
    errors = _errors(_cli("train", str(DEMO_GRAPH), "--epochs", "2", "--resume", "--out", str(out), "--json"))
    assert [e["code"] for e in errors] == ["resume_mismatch"]  # the graph's 32 is another recipe too
    errors = _errors(_cli("train", str(DEMO_GRAPH), "--epochs", "2", "--resume", "--batch-size", "64",
                          "--seed", "7", "--out", str(out), "--json"))
    assert [e["code"] for e in errors] == ["resume_mismatch"] and "seed" in errors[0]["message"]
    assert "batch_size" not in errors[0]["message"]
    resumed = _ok(_cli("train", str(DEMO_GRAPH), "--epochs", "2", "--resume", "--batch-size", "64",
                       "--out", str(out), "--json", "--no-progress"))
    assert resumed["resumed_from"] == 1 and resumed["epochs"] == 2 and resumed["nothing_to_resume"] is False


# -- 6. evaluate --json names its graph ----------------------------------------------------------------
def test_evaluate_json_names_the_graph_file(tmp_path: Path) -> None:
    document = _document(data=str(DIGITS))
    del document["name"]
    graph = _write(tmp_path, document)
    out = tmp_path / "r"
    trained = _ok(_cli("train", str(graph), "--epochs", "1", "--out", str(out), "--json", "--no-progress"))
    evaluated = _ok(_cli("evaluate", str(graph), "--weights", trained["weights"], "--json"))
    assert evaluated["graph"] == str(graph)
    assert evaluated["rows"] == 1797


def test_resume_checks_come_before_any_process_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nodecat.executor.graph.errors import GraphError
    from nodecat.executor.training import distributed
    from nodecat.executor.training.launch import train
    from nodecat.executor.training.session import TrainOptions
    out = tmp_path / "r"
    _ok(_cli("train", str(DEMO_GRAPH), "--epochs", "1", "--out", str(out), "--json", "--no-progress"))

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a process was started")
    monkeypatch.setattr(distributed, "run_workers", never)
    report = train(DEMO_GRAPH, TrainOptions(out_dir=out, epochs=1, resume=True, nproc=2, device="cpu"))
    assert report.nothing_to_resume and report.epochs == 1 and report.rows == {"train": 1438, "validation": 359}
    with pytest.raises(GraphError) as caught:
        train(DEMO_GRAPH, TrainOptions(out_dir=out, epochs=3, resume=True, nproc=2, device="cpu", seed=3))
    assert [(p.code, p.pointer) for p in caught.value.problems] == [("resume_mismatch", "/train/seed")]


def test_resume_asking_for_fewer_epochs_than_done_says_so(tmp_path: Path) -> None:
    out = tmp_path / "r"
    _ok(_cli("train", str(DEMO_GRAPH), "--epochs", "2", "--out", str(out), "--json", "--no-progress"))
    human = _cli("train", str(DEMO_GRAPH), "--epochs", "1", "--resume", "--out", str(out))
    assert human.exit_code == 0, human.output
    assert "nothing to resume" in human.stdout and "2 epochs (--epochs asks for 1)" in human.stdout


def test_the_api_check_checks_the_data_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nodecat
    monkeypatch.chdir(tmp_path)
    graph = _write(tmp_path / "sub", _document(data="missing.npz"))
    with pytest.raises(nodecat.GraphError) as caught:
        nodecat.check(graph)
    assert [(p.code, p.pointer) for p in caught.value.problems] == [("file_not_found", "/train/data")]
    assert "sub" in caught.value.problems[0].message  # relative to the graph file, as train reads it
    assert nodecat.check(DEMO_GRAPH).train is not None
