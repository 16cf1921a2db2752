"""The metrics history of a training run: one row per epoch, as JSON Lines or CSV, and a PNG plot.

A row looks like {"epoch": 1, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "lr": 0.01,
"seconds": 1.2, "samples_per_second": 900.0}: "epoch" is 1-based, a "val_" prefix marks a
validation number, metric names vary. Each write rewrites the whole file atomically, so a reader
(or a crash) never sees half a row; a history is small.
"""
from __future__ import annotations

import csv
import io
import json
import math
import numbers
import re
from pathlib import Path
from typing import Sequence

from nodecat.executor.graph.errors import GraphError, GraphProblem

Row = dict[str, float | int]

HISTORY_SUFFIXES = (".jsonl", ".csv")
VALIDATION_PREFIX = "val_"
# Columns that are bookkeeping, not something to plot as a metric.
NOT_METRICS = frozenset({"epoch", "lr", "seconds", "samples_per_second"})
_INT = re.compile(r"[+-]?[0-9]+")


def write_history(path: Path, rows: Sequence[Row]) -> None:
    """Write every row: JSON Lines (.jsonl, one sorted-key object a line, non-finite as null) or
    CSV (.csv; header: epoch, then the union of the other keys sorted; non-finite as nan/inf/-inf,
    a key missing from a row as an empty cell). Any other suffix is a ValueError."""
    from nodecat.introspector.jsonio import write_bytes_atomic
    clean = [_clean_row(row) for row in rows]
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        text = "".join(json.dumps({k: _json_value(v) for k, v in row.items()}, sort_keys=True,
                                  allow_nan=False) + "\n" for row in clean)
    elif suffix == ".csv":
        text = _csv_text(clean)
    else:
        raise ValueError(f"a history file ends in {' or '.join(HISTORY_SUFFIXES)}, not {path}")
    write_bytes_atomic(Path(path), text.encode("utf-8"))


def read_history(path: Path) -> list[Row]:
    """Read a file write_history wrote: ints stay ints, floats floats, null/empty-as-nan as nan.

    (In CSV an empty cell means the row lacks that key; the key is left out of the row.)
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in HISTORY_SUFFIXES:
        raise ValueError(f"a history file ends in {' or '.join(HISTORY_SUFFIXES)}, not {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GraphError(GraphProblem("file_not_found", f"history file {path} does not exist")) from None
    except UnicodeDecodeError as exc:
        raise GraphError(GraphProblem("bad_encoding", f"history file {path} is not UTF-8 ({exc.reason})")) from None
    return _read_jsonl(text, path) if suffix == ".jsonl" else _read_csv(text, path)


def _clean_row(row: Row) -> Row:
    """Plain ints and floats (numpy scalars too); anything else is a programming error."""
    clean: Row = {}
    for key, value in row.items():
        if not isinstance(key, str):
            raise TypeError(f"history keys are str, not {key!r}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"history value {key}={value!r} is not a number")
        clean[key] = int(value) if isinstance(value, numbers.Integral) else float(value)
    return clean


def _json_value(value: float | int) -> float | int | None:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _columns(rows: Sequence[Row]) -> list[str]:
    keys = {k for row in rows for k in row}
    return (["epoch"] if "epoch" in keys else []) + sorted(keys - {"epoch"})


def _csv_text(rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = _columns(rows)
    writer.writerow(columns)
    for row in rows:
        # repr: the shortest text that reads back as the same float ("nan", "inf" included)
        writer.writerow(["" if k not in row else repr(row[k]) for k in columns])
    return buffer.getvalue()


def _bad(path: Path, line: int, message: str) -> GraphError:
    code = "bad_json" if path.suffix.lower() == ".jsonl" else "bad_data"
    return GraphError(GraphProblem(code, f"history file {path}, line {line}: {message}"))


def _read_jsonl(text: str, path: Path) -> list[Row]:
    from nodecat.introspector.jsonio import parse_strict
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parsed = parse_strict(line)
        except (ValueError, RecursionError) as exc:
            raise _bad(path, number, f"invalid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise _bad(path, number, "not a JSON object")
        row: Row = {}
        for key, value in parsed.items():
            if value is None:
                row[key] = math.nan
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _bad(path, number, f"{key} is not a number")
            else:
                row[key] = value
        rows.append(row)
    return rows


def _read_csv(text: str, path: Path) -> list[Row]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return []
    rows = []
    for cells in reader:
        if not cells:
            continue
        if len(cells) != len(header):
            raise _bad(path, reader.line_num, f"{len(cells)} cells, the header has {len(header)}")
        row: Row = {}
        for key, cell in zip(header, cells):
            if cell == "":
                continue
            try:
                row[key] = int(cell) if _INT.fullmatch(cell) else float(cell)
            except ValueError:
                raise _bad(path, reader.line_num, f"{key} is not a number: {cell!r}") from None
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------ plotting

def plot_panels(rows: Sequence[Row]) -> list[tuple[str, list[str]]]:
    """The panels a plot of these rows has: (title, keys drawn in it), loss first, then each metric.

    A metric m gets one panel with m and val_m; bookkeeping columns (epoch, lr, seconds,
    samples_per_second) get none. Rows with no loss and no metric still get an (empty) loss panel.
    """
    keys = {k for row in rows for k in row} - NOT_METRICS
    bases = sorted({k[len(VALIDATION_PREFIX):] if k.startswith(VALIDATION_PREFIX) else k for k in keys} - {"loss"})
    losses = [k for k in ("loss", "val_loss") if k in keys]
    panels = [(base, [k for k in (base, VALIDATION_PREFIX + base) if k in keys]) for base in bases]
    # the loss panel comes first; it is left out only when there is no loss but something else
    return [("loss", losses)] + panels if losses or not panels else panels


def plot_history(rows: Sequence[Row], path: Path, title: str = "") -> None:
    """Write a PNG: a panel for the loss (train and validation), then one per metric, against epoch.

    Uses matplotlib's Figure and Agg canvas directly (never pyplot: no global figure state) under
    matplotlib's default style (a user's matplotlibrc does not change the picture), renders into
    memory and writes the file atomically. The same rows give the same bytes (no software or date
    metadata). Epochs with nan leave a gap; a single epoch shows as markers.
    """
    from nodecat.introspector.jsonio import write_bytes_atomic
    if not rows:
        raise ValueError("no history rows to plot")
    clean = [_clean_row(row) for row in rows]
    write_bytes_atomic(Path(path), _render_png(clean, title))


def _render_png(rows: Sequence[Row], title: str) -> bytes:
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    panels = plot_panels(rows)
    columns = min(len(panels), 2)
    lines = math.ceil(len(panels) / columns)
    with matplotlib.style.context("default"):
        figure = Figure(figsize=(5.0 * columns, 3.6 * lines + (0.4 if title else 0.0)), dpi=100,
                        layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots(lines, columns, squeeze=False).ravel()
        for ax, (name, keys) in zip(axes, panels):
            _draw_panel(ax, rows, name, keys)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        if title:
            figure.suptitle(title)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _draw_panel(ax, rows: Sequence[Row], name: str, keys: list[str]) -> None:
    from matplotlib.ticker import MaxNLocator
    marker = "o" if len(rows) <= 50 else None  # markers make one epoch (or a few) visible at all
    epochs = [row.get("epoch", index + 1) for index, row in enumerate(rows)]
    for key in keys:
        values = [row.get(key, math.nan) for row in rows]
        label = "validation" if key.startswith(VALIDATION_PREFIX) else "train"
        ax.plot(epochs, values, marker=marker, markersize=4, label=label)
    ax.set_title(name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if min(epochs) == max(epochs):
        ax.set_xlim(epochs[0] - 1, epochs[0] + 1)  # else matplotlib spans ±5% and ticks 0.945 ... 1.050
    ax.grid(True, alpha=0.3)
    if keys:
        ax.legend()
