"""Training data for `nodecat train`: columns read from .npz, .npy and .csv files, checked and shaped.

A column is an array's key in a .npz, a whole .npy file (named by the name given with it, else by the
file's stem) or a CSV header name; rows are the first axis. A data file may come from anyone, like the
graph that names it, so it is read without pickle, only from the directories the user allowed, and
every size is checked before memory is spent on it.

Flat rows are reshaped: a (rows, k) column feeds an input of declared shape (None, *dims) when every
dim is known and their product is k (CSV pixels feeding an image input); a 1-D column counts as k = 1.
"""
from __future__ import annotations

import csv
import difflib
import math
import re
import zipfile
import zlib
from importlib import resources
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Sequence

import numpy as np
import numpy.lib.format as npy_format

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.vocabulary import DATA_SUFFIXES, MAX_DATA_BYTES, ErrorCode

DEMO_DIR = Path(str(resources.files("nodecat.executor") / "demo"))  # package data

# "COLUMN=FILE": anything else (a path holding "=" included) is a plain path.
_NAMED_OPTION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.+)", re.DOTALL)
_INT_LITERAL = re.compile(r"[+-]?[0-9]+")
_INT64 = np.iinfo(np.int64)
# How a file from anyone can fail to parse (zip container, deflate stream, .npy header, text encoding).
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
               RuntimeError, csv.Error)


def data_roots(extra: Iterable[str | Path] = ()) -> tuple[Path, ...]:
    """The directories data may be read from: the current directory, DEMO_DIR, and `extra`."""
    resolved = (Path(p).resolve(strict=False) for p in (Path.cwd(), DEMO_DIR, *extra))
    return tuple(dict.fromkeys(resolved))


def inside_roots(path: Path, roots: Sequence[Path], pointer: str = "", what: str = "data file") -> Path:
    """The resolved path if it lies inside one of the roots (after symlinks and `..`), else path_outside_roots."""
    resolved = Path(path).resolve(strict=False)
    if any(resolved.is_relative_to(Path(root).resolve(strict=False)) for root in roots):
        return resolved
    allowed = ", ".join(str(r) for r in roots) or "none"
    raise GraphError(GraphProblem("path_outside_roots", f"{what} {str(path)!r} resolves to {str(resolved)!r}, "
                                  f"outside the allowed directories ({allowed})", pointer=pointer,
                                  hint="allow its directory with --data-root DIR"))


def parse_data_option(text: str) -> tuple[str | None, Path]:
    """CLI --data value: "FILE" or "COLUMN=FILE"."""
    named = _NAMED_OPTION.fullmatch(text)
    return (named[1], Path(named[2])) if named else (None, Path(text))


@dataclass(frozen=True)
class Table:
    columns: dict[str, np.ndarray]  # every column has the same number of rows (len), ndim >= 1
    sources: dict[str, Path]  # column -> the file it came from

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


class _FileProblem(Exception):
    """One problem with one file; read_table adds the pointer."""

    def __init__(self, code: ErrorCode, message: str, hint: str = ""):
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


def read_table(files: Sequence[tuple[str | None, Path]], roots: Sequence[Path], pointer: str = "") -> Table:
    """Read every file (each inside the roots) and merge their columns; every problem is reported at once."""
    problems: list[GraphProblem] = []
    columns: dict[str, np.ndarray] = {}
    sources: dict[str, Path] = {}
    for name, path in files:
        try:
            resolved = inside_roots(path, roots, pointer)
        except GraphError as e:
            problems.extend(e.problems)
            continue
        try:
            read = _read_file(name, Path(path), resolved)
        except _FileProblem as e:
            problems.append(GraphProblem(e.code, e.message, pointer=pointer, hint=e.hint))
            continue
        for column, array in read.items():
            if column in columns:
                problems.append(GraphProblem("bad_data", f"column {column!r} is in both {str(sources[column])!r} "
                                             f"and {str(path)!r}", pointer=pointer,
                                             hint="name a .npy column with COLUMN=FILE, or rename one"))
                continue
            columns[column], sources[column] = array, Path(path)
    problems.extend(GraphProblem("bad_data", message, pointer=pointer) for message in _non_finite(columns, sources))
    problems.extend(_row_mismatch(columns, pointer))
    if problems:
        raise GraphError(problems)
    return Table(columns, sources)


def _read_file(name: str | None, path: Path, resolved: Path) -> dict[str, np.ndarray]:
    """The columns of one file (already known to be inside the roots)."""
    if not resolved.is_file():
        what = "a directory, not a file" if resolved.is_dir() else "not found"
        raise _FileProblem("file_not_found", f"data file {str(path)!r} is {what}")
    suffix = path.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise _FileProblem("bad_data", f"data file {str(path)!r} has suffix {path.suffix!r}; supported: "
                           + ", ".join(DATA_SUFFIXES))
    if name is not None and suffix != ".npy":
        raise _FileProblem("bad_data", f"column name {name!r} given with {str(path)!r}; only a .npy file is one "
                           f"column (a {suffix} file names its own columns)", f"pass {str(path)!r} without a name")
    size = resolved.stat().st_size
    if size > MAX_DATA_BYTES:
        raise _FileProblem("bad_data", f"data file {str(path)!r} has {size} bytes, more than the limit "
                           f"{MAX_DATA_BYTES}")
    if size == 0:
        raise _FileProblem("empty_data", f"data file {str(path)!r} is empty")
    try:
        if suffix == ".npy":
            column = name or path.stem
            with resolved.open("rb") as handle:
                read = {column: _read_npy(handle, size, path, column)}
        elif suffix == ".npz":
            read = _read_npz(resolved, path)
        else:
            read = _read_csv(resolved, path)
    except _UNREADABLE as e:
        raise _FileProblem("bad_data", f"data file {str(path)!r} cannot be read: {e}") from e
    if not read:
        raise _FileProblem("empty_data", f"data file {str(path)!r} has no columns")
    for column, array in read.items():
        if array.ndim == 0:
            raise _FileProblem("bad_data", f"column {column!r} in {str(path)!r} is a single value (0-d), not rows")
        if len(array) == 0:
            raise _FileProblem("empty_data", f"column {column!r} in {str(path)!r} has no rows")
    return read


def _read_npy(handle: IO[bytes], size: int, path: Path, column: str) -> np.ndarray:
    """One array from a .npy stream of `size` bytes; the header is checked before any data is read.

    allow_pickle=False alone would refuse object arrays, but only after allocating what the header
    declares; checking the header first keeps a tiny file from asking for absurd memory.
    """
    version = npy_format.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = npy_format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _, dtype = npy_format.read_array_header_2_0(handle)
    else:  # 3.0 only differs for structured dtypes with non-latin-1 field names, refused anyway
        raise _FileProblem("bad_data", f"column {column!r} in {str(path)!r} uses .npy format {version}")
    if dtype.hasobject or dtype.kind not in "biuf":
        what = "Python objects (pickled data is never loaded)" if dtype.hasobject else f"dtype {dtype}"
        raise _FileProblem("bad_data", f"column {column!r} in {str(path)!r} holds {what}; training data must "
                           "be numbers or booleans")
    needed = math.prod(shape) * dtype.itemsize
    if needed > size - handle.tell():
        raise _FileProblem("bad_data", f"column {column!r} in {str(path)!r} declares shape {shape} "
                           f"({needed} bytes) but the file holds less")
    handle.seek(0)
    return npy_format.read_array(handle, allow_pickle=False)


def _read_npz(resolved: Path, path: Path) -> dict[str, np.ndarray]:
    """Every member of a .npz, read with zipfile so that each member's header is checked first."""
    with zipfile.ZipFile(resolved) as archive:
        members = archive.infolist()
        # The file's size was checked; a zip's contents can be far larger (a zip bomb).
        unpacked = sum(m.file_size for m in members)
        if unpacked > MAX_DATA_BYTES:
            raise _FileProblem("bad_data", f"data file {str(path)!r} unpacks to {unpacked} bytes, more than "
                               f"the limit {MAX_DATA_BYTES}")
        read = {}
        for member in members:
            if member.is_dir():
                continue
            if not member.filename.endswith(".npy"):
                raise _FileProblem("bad_data", f"data file {str(path)!r} holds {member.filename!r}, "
                                   "which is not a .npy array")
            column = member.filename[:-len(".npy")]
            if column in read:  # a zip may hold one name twice; neither copy is the obvious one
                raise _FileProblem("bad_data", f"data file {str(path)!r} holds array {column!r} twice")
            with archive.open(member) as handle:
                read[column] = _read_npy(handle, member.file_size, path, column)
    return read


def _read_csv(resolved: Path, path: Path) -> dict[str, np.ndarray]:
    """Columns of a CSV whose first line is the header; blank lines are skipped."""
    with resolved.open(newline="", encoding="utf-8-sig") as handle:  # -sig: a BOM is not part of a name
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if not header:
            return {}
        if "" in header or len(set(header)) < len(header):
            raise _FileProblem("bad_data", f"data file {str(path)!r} has an empty or repeated column name in "
                               f"its header: {header}")
        cells: list[list[int | float]] = [[] for _ in header]
        for row in reader:
            if not row:  # a blank line, e.g. at the end of the file
                continue
            if len(row) != len(header):
                raise _FileProblem("bad_data", f"data file {str(path)!r} line {reader.line_num} has {len(row)} "
                                   f"cells, the header has {len(header)}")
            for values, name, text in zip(cells, header, row):
                values.append(_number(text, path, reader.line_num, name))
    return {name: _csv_column(values) for name, values in zip(header, cells)}


def _number(text: str, path: Path, line: int, column: str) -> int | float:
    text = text.strip()
    if _INT_LITERAL.fullmatch(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        raise _FileProblem("bad_data", f"data file {str(path)!r} line {line} column {column!r}: {text!r} is "
                           "not a number") from None


def _csv_column(values: list[int | float]) -> np.ndarray:
    """int64 when every cell is an integer literal that fits, else float32."""
    if all(isinstance(v, int) and _INT64.min <= v <= _INT64.max for v in values):
        return np.array(values, dtype=np.int64)
    return np.array(values, dtype=np.float32)


def _non_finite(columns: dict[str, np.ndarray], sources: dict[str, Path]) -> list[str]:
    """A message per float column holding NaN or inf, naming its first bad row (0-based)."""
    messages = []
    for name, array in columns.items():
        if array.dtype.kind != "f":
            continue
        bad = ~np.isfinite(array).reshape(len(array), -1).all(axis=1)
        if bad.any():
            messages.append(f"column {name!r} in {str(sources[name])!r} holds NaN or infinity, first at row "
                            f"{int(np.argmax(bad))} (0-based)")
    return messages


def _row_mismatch(columns: dict[str, np.ndarray], pointer: str) -> list[GraphProblem]:
    counts: dict[int, list[str]] = {}
    for name, array in columns.items():
        counts.setdefault(len(array), []).append(name)
    if len(counts) < 2:
        return []
    text = "; ".join(f"{_names_text(names)}: {rows} rows" for rows, names in counts.items())
    return [GraphProblem("data_mismatch", f"columns have different row counts ({text})", pointer=pointer,
                         hint="every column needs one entry per example")]


def _names_text(names: Sequence[str], limit: int = 20) -> str:
    """Names quoted and listed; a long list (many CSV columns) is cut short."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass(frozen=True)
class InputUse:
    input_id: str  # the graph input node it feeds
    columns: tuple[str, ...]  # one column, or several 1-D CSV columns stacked in order
    shape: tuple[int | None, ...]  # the input's declared shape; element 0 is the batch (rows) dimension
    dtype: str  # one of vocabulary.DTYPES
    pointer: str  # JSON Pointer where the feed is written (for errors)


@dataclass(frozen=True)
class TargetUse:
    column: str
    pointer: str


@dataclass(frozen=True)
class Prepared:
    inputs: dict[str, np.ndarray]  # input id -> C-contiguous array with the declared dtype and shape
    targets: dict[str, np.ndarray]  # column -> array: integer kinds -> int64, floats -> float32, bool kept
    rows: int


def prepare(table: Table, inputs: Sequence[InputUse], targets: Sequence[TargetUse]) -> Prepared:
    """The arrays each graph input and each target takes; every problem is collected into one GraphError."""
    problems: list[GraphProblem] = []
    prepared_inputs = {}
    for use in inputs:
        missing = [_unknown_column(table, c, use.input_id, use.pointer) for c in use.columns if c not in table.columns]
        if missing:
            problems.extend(missing)
            continue
        array, found = _input_array(table, use)
        problems.extend(found)
        if array is not None:
            prepared_inputs[use.input_id] = array
    prepared_targets = {}
    for target in targets:
        if target.column not in table.columns:
            problems.append(_unknown_column(table, target.column, "", target.pointer))
        else:
            prepared_targets[target.column] = _target_array(table.columns[target.column])
    if problems:
        raise GraphError(problems)
    return Prepared(prepared_inputs, prepared_targets, table.rows)


def _unknown_column(table: Table, column: str, node: str, pointer: str) -> GraphProblem:
    close = difflib.get_close_matches(column, list(table.columns), n=1)
    hint = (f"did you mean {close[0]!r}? " if close else "") + "columns: " + _names_text(list(table.columns))
    return GraphProblem("unknown_column", f"the data has no column {column!r}", node, pointer, hint)


def _input_array(table: Table, use: InputUse) -> tuple[np.ndarray | None, list[GraphProblem]]:
    """The column(s) of one input in its declared shape and dtype, or the problems that prevent it."""
    def problem(message: str, hint: str = "") -> GraphProblem:
        return GraphProblem("data_mismatch", message, use.input_id, use.pointer, hint)

    arrays = [table.columns[c] for c in use.columns]
    if len(arrays) > 1:
        not_flat = [c for c, a in zip(use.columns, arrays) if a.ndim != 1]
        if not_flat:
            return None, [problem(f"only 1-D columns can be stacked into input {use.input_id!r}; "
                                  f"{_names_text(not_flat)} {'is' if len(not_flat) == 1 else 'are'} not",
                                  "feed a multi-dimensional column on its own")]
        array = np.stack(arrays, axis=1)
        what = f"columns {_names_text(use.columns)} stacked"
    else:
        array, what = arrays[0], f"column {use.columns[0]!r}"
    problems = []
    if use.shape and use.shape[0] is not None:
        problems.append(problem(f"input {use.input_id!r} declares batch dimension {use.shape[0]}, but the "
                                f"data's rows are the batch", "leave the batch dimension open with null"))
    shaped = _fit_shape(array, tuple(use.shape[1:]))
    if shaped is None:
        problems.append(problem(f"{what} has rows of shape {tuple(array.shape[1:])}, input {use.input_id!r} "
                                f"takes {_shape_text(use.shape[1:])}",
                                "reshape the data or change the input's shape; flat rows (rows, k) are "
                                "reshaped when k is the product of the input's dims"))
    dtype = np.dtype("float32" if use.dtype == "bfloat16" else use.dtype)  # numpy has no bfloat16
    if not np.can_cast(array.dtype, dtype, "same_kind"):
        problems.append(problem(f"{what} is {array.dtype}, input {use.input_id!r} takes {use.dtype}",
                                "convert the data, or change the input's dtype"))
    if problems or shaped is None:
        return None, problems
    return np.ascontiguousarray(shaped, dtype=dtype), []


def _fit_shape(array: np.ndarray, dims: tuple[int | None, ...]) -> np.ndarray | None:
    """The array with rows of the declared dims (None: any size), or None when it cannot have them."""
    row = array.shape[1:]
    if len(row) == len(dims) and all(d is None or d == r for d, r in zip(dims, row)):
        return array
    # Flat rows (e.g. CSV pixels, or a 1-D column for dims like (1,)) take a shape of the same size.
    if array.ndim <= 2 and None not in dims and math.prod(dims) == math.prod(row):  # type: ignore[arg-type]
        return array.reshape((len(array), *dims))  # type: ignore[arg-type]
    return None


def _shape_text(dims: Sequence[int | None]) -> str:
    return "(" + ", ".join("any" if d is None else str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def _target_array(array: np.ndarray) -> np.ndarray:
    """Targets in the dtypes losses take: integer classes as int64, values as float32, booleans kept."""
    if array.dtype.kind in "iu":
        return np.ascontiguousarray(array, dtype=np.int64)
    if array.dtype.kind == "f":
        return np.ascontiguousarray(array, dtype=np.float32)
    return np.ascontiguousarray(array)


def split_rows(rows: int, validation_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_rows, validation_rows): a seeded permutation whose first round(rows * split) rows are held out."""
    if not 0 <= validation_split <= 1:
        raise ValueError(f"validation_split must lie in [0, 1], not {validation_split}")  # the schema ensures it
    order = np.random.default_rng(seed).permutation(rows).astype(np.int64, copy=False)
    held = round(rows * validation_split)
    if validation_split > 0 and rows > 1:
        held = max(held, 1)  # a split was asked for: validate on something
    held = min(held, rows)
    if held == rows:
        raise GraphError(GraphProblem("empty_data", f"no training rows are left: the data has {rows} rows and "
                                      f"validation_split {validation_split} holds out {held}",
                                      hint="use more data or a smaller validation_split"))
    return order[held:], order[:held]


def epoch_order(train_rows: np.ndarray, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """The rows visited in epoch `epoch` (0-based); depends only on (seed, epoch), so a resumed run
    visits the same rows as an uninterrupted one."""
    return np.random.default_rng([seed, epoch]).permutation(train_rows) if shuffle else train_rows
