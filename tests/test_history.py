"""Metrics history files (JSON Lines, CSV), the PNG plot, and the per-epoch progress bar."""
from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nodecat.executor.graph.errors import GraphError
from nodecat.executor.training.history import plot_history, plot_panels, read_history, write_history
from nodecat.executor.training.progress import EpochProgress, format_numbers

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

ROWS: list[dict[str, Any]] = [
    {"epoch": 1, "loss": 0.9, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.45, "lr": 0.01,
     "seconds": 1.25, "samples_per_second": 900.0},
    {"epoch": 2, "loss": 0.5, "accuracy": 0.75, "val_loss": math.nan, "val_accuracy": 0.6, "lr": 0.005,
     "seconds": 1.5, "samples_per_second": 1234.5},
    {"epoch": 3, "loss": 0.1 + 0.2, "accuracy": 0.875, "val_loss": 0.7, "val_accuracy": 0.7, "lr": 1e-4,
     "seconds": 1.0, "samples_per_second": 1e6},
]


def same_rows(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Equal keys, types and values, nan equal to nan."""
    def same(x: Any, y: Any) -> bool:
        return type(x) is type(y) and (x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y)))
    return len(a) == len(b) and all(r.keys() == s.keys() and all(same(r[k], s[k]) for k in r) for r, s in zip(a, b))


# ------------------------------------------------------------------------------ history files

def test_jsonl_round_trip_with_nan_written_as_null(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    write_history(path, ROWS)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    assert lines[1] == json.dumps(json.loads(lines[1]), sort_keys=True)  # sorted keys, one object a line
    assert json.loads(lines[1])["val_loss"] is None
    assert same_rows(read_history(path), ROWS)


def test_csv_round_trip_with_nan_and_epoch_first(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    rows = [*ROWS, {"epoch": 4, "loss": math.inf}]  # a row lacking keys: empty cells
    write_history(path, rows)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "epoch,accuracy,loss,lr,samples_per_second,seconds,val_accuracy,val_loss"
    assert lines[2].endswith(",nan") and lines[4] == "4,,inf,,,,,"
    assert same_rows(read_history(path), rows)


def test_each_write_replaces_the_whole_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    write_history(path, ROWS)
    write_history(path, ROWS[:1])
    assert same_rows(read_history(path), ROWS[:1])
    assert [p.name for p in tmp_path.iterdir()] == ["history.jsonl"]  # no temporary file left


def test_numpy_numbers_are_written_as_plain_numbers(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    path = tmp_path / "history.jsonl"
    write_history(path, [{"epoch": np.int64(1), "loss": np.float32(0.5)}])
    assert same_rows(read_history(path), [{"epoch": 1, "loss": 0.5}])


def test_bad_suffix_and_bad_values_are_programming_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="jsonl"):
        write_history(tmp_path / "history.txt", ROWS)
    with pytest.raises(TypeError):
        write_history(tmp_path / "history.csv", [{"epoch": 1, "loss": "low"}])


@pytest.mark.parametrize("name,text,code", [
    ("h.jsonl", '{"epoch": 1}\n{"epoch": 2, "loss": NaN}\n', "bad_json"),
    ("h.jsonl", '{"epoch": 1, "epoch": 2}\n', "bad_json"),
    ("h.jsonl", '[1, 2]\n', "bad_json"),
    ("h.csv", "epoch,loss\n1,low\n", "bad_data"),
    ("h.csv", "epoch,loss\n1\n", "bad_data"),
])
def test_malformed_history_files_are_graph_errors_naming_the_line(tmp_path: Path, name: str, text: str,
                                                                  code: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GraphError) as caught:
        read_history(path)
    assert caught.value.code == code and str(path) in str(caught.value) and "line" in str(caught.value)


def test_missing_history_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(GraphError) as caught:
        read_history(tmp_path / "none.csv")
    assert caught.value.code == "file_not_found"


# ------------------------------------------------------------------------------------- plot

def test_panels_are_loss_then_each_metric_with_its_validation() -> None:
    assert plot_panels(ROWS) == [("loss", ["loss", "val_loss"]), ("accuracy", ["accuracy", "val_accuracy"])]
    assert plot_panels([{"epoch": 1, "loss": 1.0, "val_mae": 2.0}]) == [("loss", ["loss"]), ("mae", ["val_mae"])]
    assert plot_panels([{"epoch": 1, "mae": 2.0}]) == [("mae", ["mae"])]
    assert plot_panels([{"epoch": 1, "seconds": 2.0}]) == [("loss", [])]


def test_plot_writes_a_deterministic_png(tmp_path: Path) -> None:
    from matplotlib.image import imread
    first, second, titled = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    plot_history(ROWS, first, title="mlp")
    plot_history([dict(r) for r in ROWS], second, title="mlp")
    plot_history(ROWS, titled, title="another title")
    data = first.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    assert second.read_bytes() == data
    assert titled.read_bytes() != data
    height, width = imread(first).shape[:2]
    assert (width, height) == (1000, 400)  # two panels side by side, 100 dpi
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "c.png"]  # written atomically


def test_plot_of_a_single_epoch_and_many_metrics(tmp_path: Path) -> None:
    from matplotlib.image import imread
    one = tmp_path / "one.png"
    plot_history([{"epoch": 1, "loss": 0.5, "val_loss": math.nan, "mae": 0.2, "mse": 0.1, "accuracy": 0.9}], one)
    assert one.read_bytes().startswith(PNG_MAGIC)
    height, width = imread(one).shape[:2]
    assert (width, height) == (1000, 720)  # loss, accuracy, mae, mse: two rows of two
    with pytest.raises(ValueError):
        plot_history([], tmp_path / "none.png")


def test_modules_import_without_torch_matplotlib_or_pyplot_state() -> None:
    """Executor modules import fast; plotting uses Figure directly, never pyplot's global figures."""
    script = (
        "import sys, math\n"
        "import nodecat.executor.training.checkpoint, nodecat.executor.training.history, nodecat.executor.training.progress\n"
        "heavy = [m for m in ('torch', 'matplotlib', 'click', 'safetensors') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import tempfile, pathlib\n"
        "nodecat.executor.training.history.plot_history([{'epoch': 1, 'loss': 1.0}], pathlib.Path(tempfile.mkdtemp()) / 'p.png')\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------------- progress

class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_disabled_progress_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    for target in (stream, None):
        with EpochProgress(1, 2, 10, enabled=False, stream=target) as progress:
            progress.update(10, 0.5, {"accuracy": 0.5}, 100.0)
            progress.finish({"loss": 0.5})
    assert stream.getvalue() == ""
    assert capsys.readouterr() == ("", "")


def test_progress_writes_the_label_and_one_summary_line_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with EpochProgress(3, 10, 1000, stream=stream) as progress:
        for _ in range(1000):
            progress.update(1, 0.1234, {"accuracy": 0.9512}, 1234.0)
        progress.finish({"loss": 0.1234, "accuracy": 0.9512, "val_loss": 0.2, "val_accuracy": 0.9,
                         "lr": 0.001, "seconds": 12.34, "samples_per_second": 1234.0})
    assert stream.getvalue() == ("epoch 3/10\n"
                                 "epoch 3/10  loss 0.1234  accuracy 0.9512  val_loss 0.2000  val_accuracy 0.9000"
                                 "  lr 0.001  12.3s  1,234 samples/s\n")


def test_progress_goes_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    with EpochProgress(1, 1, 1) as progress:
        progress.update(1, 0.5, {}, 10.0)
        progress.finish({"loss": 0.5})
    out, err = capsys.readouterr()
    assert out == "" and err == "epoch 1/1\nepoch 1/1  loss 0.5000\n"


def test_progress_on_a_terminal_redraws_at_most_ten_times_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    import nodecat.executor.training.progress as progress_module
    clock = [0.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock[0])
    stream = FakeTerminal()
    with EpochProgress(2, 5, 1000, stream=stream) as progress:
        for _ in range(1000):  # one simulated second: 1 ms a step
            clock[0] += 0.001
            progress.update(1, 0.25, {"accuracy": 0.5}, 4321.0)
        progress.finish({"loss": 0.25})
    text = stream.getvalue()
    assert 5 <= text.count("\r") <= 13  # the first draw, ~10 redraws, the final one; not 1000
    assert "epoch 2/5" in text and "loss 0.2500  accuracy 0.5000  4,321 samples/s" in text and "100%" in text
    assert text.endswith("\nepoch 2/5  loss 0.2500\n")


def test_progress_update_costs_next_to_nothing() -> None:
    import time
    stream = FakeTerminal()
    with EpochProgress(1, 1, 100_000, stream=stream) as progress:
        start = time.perf_counter()
        for _ in range(100_000):
            progress.update(1, 0.5, {"accuracy": 0.5}, 100.0)
        per_step = (time.perf_counter() - start) / 100_000
    assert per_step < 20e-6  # measured ~0.3 us; generous for slow CI machines


def test_progress_ends_the_bar_when_the_epoch_fails() -> None:
    stream = FakeTerminal()
    with pytest.raises(RuntimeError):
        with EpochProgress(1, 1, 10, stream=stream) as progress:
            progress.update(5, 0.5, {}, 10.0)
            raise RuntimeError("boom")
    assert stream.getvalue().endswith("\x1b[?25h\n")  # cursor shown again, line ended; no summary


def test_format_numbers_keeps_small_and_large_values_readable() -> None:
    assert format_numbers({"epoch": 3, "loss": 1e-5, "mse": 123456.0, "mae": math.nan}) == \
        "loss 1.000e-05  mse 1.235e+05  mae nan"
