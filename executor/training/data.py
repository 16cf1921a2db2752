"""Training data for `nodecat train`: columns read from .npz, .npy and .csv files, checked and shaped.

A column is an array's key in a .npz, a whole .npy file (named by the name given with it, else by the
file's stem) or a CSV header name; rows are the first axis. A data file may come from anyone, like the
graph that names it, so it is read without pickle, only from the directories the user allowed, and
every size is checked before memory is spent on it.

Flat rows are reshaped: a (rows, k) column feeds an input of declared shape (None, *dims) when every
dim is known and their product is k (CSV pixels feeding an image input); a 1-D column counts as k = 1.

`read_headers` finds the same columns from the headers alone (for `nodecat check`), and
`use_problems` checks columns against the inputs and targets from their shapes and dtypes, so the
check before a run and the run itself say the same.
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
from typing import IO, Any, Callable, Iterable, Iterator, Sequence, TypeVar

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
    columns, sources, problems = _gather(files, roots, pointer, _read_file)
    problems.extend(GraphProblem("bad_data", message, pointer=pointer) for message in _non_finite(columns, sources))
    problems.extend(_row_mismatch({name: len(array) for name, array in columns.items()}, pointer))
    if problems:
        raise GraphError(problems)
    return Table(columns, sources)


@dataclass(frozen=True)
class ColumnInfo:
    """What is known of a column without its values: from an array, or from a file's header only."""

    shape: tuple[int | None, ...]  # the array's shape; rows (the first) None when a header does not say (CSV)
    dtype: np.dtype | None  # None: not known from the header (a CSV column's dtype depends on its cells)

    @classmethod
    def of(cls, array: np.ndarray) -> "ColumnInfo":
        return cls(tuple(array.shape), array.dtype)

    @property
    def rows(self) -> int | None:
        return self.shape[0] if self.shape else None

    @property
    def row_shape(self) -> tuple[int, ...]:
        return self.shape[1:]  # type: ignore[return-value]  # only the first dimension may be unknown


def read_headers(files: Sequence[tuple[str | None, Path]], roots: Sequence[Path],
                 pointer: str = "") -> dict[str, ColumnInfo]:
    """The columns of every file as read_table would find them, from the headers only (.npy and .npz
    array headers, a CSV's first line): the same roots, files, names, shapes and dtypes, without
    reading the data. What only the values show (a non-number cell, NaN) is left to read_table."""
    columns, _, problems = _gather(files, roots, pointer, _read_file_header)
    problems.extend(_row_mismatch({name: info.rows for name, info in columns.items() if info.rows is not None},
                                  pointer))
    if problems:
        raise GraphError(problems)
    return columns


_Column = TypeVar("_Column")


def _gather(files: Sequence[tuple[str | None, Path]], roots: Sequence[Path], pointer: str,
            read: Callable[[str | None, Path, Path], dict[str, _Column]],
            ) -> tuple[dict[str, _Column], dict[str, Path], list[GraphProblem]]:
    """Each file's columns (read by `read`, once the file is known to be inside the roots), merged."""
    problems: list[GraphProblem] = []
    columns: dict[str, _Column] = {}
    sources: dict[str, Path] = {}
    for name, path in files:
        try:
            resolved = inside_roots(path, roots, pointer)
        except GraphError as e:
            problems.extend(e.problems)
            continue
        try:
            found = read(name, Path(path), resolved)
        except _FileProblem as e:
            problems.append(GraphProblem(e.code, e.message, pointer=pointer, hint=e.hint))
            continue
        for column, value in found.items():
            if column in columns:
                problems.append(GraphProblem("bad_data", f"column {column!r} is in both {str(sources[column])!r} "
                                             f"and {str(path)!r}", pointer=pointer,
                                             hint="name a .npy column with COLUMN=FILE, or rename one"))
                continue
            columns[column], sources[column] = value, Path(path)
    return columns, sources, problems


def _read_file(name: str | None, path: Path, resolved: Path) -> dict[str, np.ndarray]:
    """The columns of one file (already known to be inside the roots)."""
    read = _read_with(name, path, resolved, _read_npy, _read_csv)
    _check_columns({column: ColumnInfo.of(array) for column, array in read.items()}, path)
    return read


def _read_file_header(name: str | None, path: Path, resolved: Path) -> dict[str, ColumnInfo]:
    """The columns of one file as _read_file finds them, from its headers only."""
    read = _read_with(name, path, resolved, _npy_info, _csv_header_columns)
    _check_columns(read, path)
    return read


def _read_with(name: str | None, path: Path, resolved: Path, npy: Callable[..., Any],
               csv_file: Callable[[Path, Path], dict[str, Any]]) -> dict[str, Any]:
    """One file's columns as the readers given make them: whole arrays, or header information."""
    suffix, size = _file_checks(name, path, resolved)
    try:
        if suffix == ".npy":
            with resolved.open("rb") as handle:
                return {name or path.stem: npy(handle, size, path, name or path.stem)}
        if suffix == ".npz":
            return _read_npz(resolved, path, npy)
        return csv_file(resolved, path)
    except _UNREADABLE as e:
        raise _FileProblem("bad_data", f"data file {str(path)!r} cannot be read: {e}") from e


def _csv_header_columns(resolved: Path, path: Path) -> dict[str, ColumnInfo]:
    """A CSV's columns from its first line alone: names, shape and dtype unknown until it is read."""
    with resolved.open(newline="", encoding="utf-8-sig") as handle:
        return {column: ColumnInfo((None,), None) for column in _csv_header(csv.reader(handle), path)}


def _file_checks(name: str | None, path: Path, resolved: Path) -> tuple[str, int]:
    """(suffix, size) of a data file that exists, has a supported suffix and a size within the limit."""
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
    return suffix, size


def _check_columns(columns: dict[str, ColumnInfo], path: Path) -> None:
    if not columns:
        raise _FileProblem("empty_data", f"data file {str(path)!r} has no columns")
    for column, info in columns.items():
        if not info.shape:
            raise _FileProblem("bad_data", f"column {column!r} in {str(path)!r} is a single value (0-d), not rows")
        if info.rows == 0:
            raise _FileProblem("empty_data", f"column {column!r} in {str(path)!r} has no rows")


def _read_npy(handle: IO[bytes], size: int, path: Path, column: str) -> np.ndarray:
    """One array from a .npy stream of `size` bytes; the header is checked before any data is read.

    allow_pickle=False alone would refuse object arrays, but only after allocating what the header
    declares; checking the header first keeps a tiny file from asking for absurd memory.
    """
    _npy_info(handle, size, path, column)
    handle.seek(0)
    return npy_format.read_array(handle, allow_pickle=False)


def _npy_info(handle: IO[bytes], size: int, path: Path, column: str) -> ColumnInfo:
    """Shape and dtype from the header of a .npy stream of `size` bytes, checked; the data is not read."""
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
    return ColumnInfo(tuple(shape), dtype)


def _read_npz(resolved: Path, path: Path,
              read_member: Callable[[IO[bytes], int, Path, str], _Column]) -> dict[str, _Column]:
    """Every member of a .npz (read_member: its array, or only its header), read with zipfile so that
    each member's header is checked first."""
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
                read[column] = read_member(handle, member.file_size, path, column)
    return read


def _read_csv(resolved: Path, path: Path) -> dict[str, np.ndarray]:
    """Columns of a CSV whose first line is the header; blank lines are skipped."""
    with resolved.open(newline="", encoding="utf-8-sig") as handle:  # -sig: a BOM is not part of a name
        reader = csv.reader(handle)
        header = _csv_header(reader, path)
        if not header:
            return {}
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


def _csv_header(reader: Iterator[list[str]], path: Path) -> list[str]:
    """The column names of a CSV's first line (none for an empty file), checked."""
    header = [name.strip() for name in next(reader, [])]
    if "" in header or len(set(header)) < len(header):
        raise _FileProblem("bad_data", f"data file {str(path)!r} has an empty or repeated column name in "
                           f"its header: {header}")
    return header


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


def _row_mismatch(rows: dict[str, int], pointer: str) -> list[GraphProblem]:
    """A problem when the columns (name -> rows) do not all have the same number of rows."""
    counts: dict[int, list[str]] = {}
    for name, count in rows.items():
        counts.setdefault(count, []).append(name)
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
    problems = use_problems({name: ColumnInfo.of(array) for name, array in table.columns.items()}, inputs, targets)
    if problems:
        raise GraphError(problems)
    return Prepared({use.input_id: _input_array(table, use) for use in inputs},
                    {target.column: _target_array(table.columns[target.column]) for target in targets}, table.rows)


def use_problems(columns: dict[str, ColumnInfo], inputs: Sequence[InputUse],
                 targets: Sequence[TargetUse]) -> list[GraphProblem]:
    """Why the columns cannot feed the inputs and targets: a column missing, a shape or dtype that does
    not fit. The same checks for read_table's arrays and for read_headers' headers (where a dtype is
    unknown, a CSV's, it is not checked)."""
    problems: list[GraphProblem] = []
    for use in inputs:
        missing = [_unknown_column(columns, c, use.input_id, use.pointer) for c in use.columns if c not in columns]
        problems.extend(missing if missing else _input_problems(columns, use))
    problems.extend(_unknown_column(columns, target.column, "", target.pointer)
                    for target in targets if target.column not in columns)
    return problems


def _unknown_column(columns: dict[str, ColumnInfo], column: str, node: str, pointer: str) -> GraphProblem:
    close = difflib.get_close_matches(column, list(columns), n=1)
    hint = (f"did you mean {close[0]!r}? " if close else "") + "columns: " + _names_text(list(columns))
    return GraphProblem("unknown_column", f"the data has no column {column!r}", node, pointer, hint)


def _input_problems(columns: dict[str, ColumnInfo], use: InputUse) -> list[GraphProblem]:
    """Why the column(s) of one input cannot take its declared shape and dtype (none: they can)."""
    def problem(message: str, hint: str = "") -> GraphProblem:
        return GraphProblem("data_mismatch", message, use.input_id, use.pointer, hint)

    infos = [columns[c] for c in use.columns]
    dtype: np.dtype | None
    if len(infos) > 1:
        not_flat = [c for c, info in zip(use.columns, infos) if len(info.shape) != 1]
        if not_flat:
            return [problem(f"only 1-D columns can be stacked into input {use.input_id!r}; "
                            f"{_names_text(not_flat)} {'is' if len(not_flat) == 1 else 'are'} not",
                            "feed a multi-dimensional column on its own")]
        row: tuple[int, ...] = (len(infos),)
        dtypes = [info.dtype for info in infos]
        dtype = None if None in dtypes else np.result_type(*dtypes)  # what np.stack gives
        what = f"columns {_names_text(use.columns)} stacked"
    else:
        row, dtype, what = infos[0].row_shape, infos[0].dtype, f"column {use.columns[0]!r}"
    problems = []
    if use.shape and use.shape[0] is not None:
        problems.append(problem(f"input {use.input_id!r} declares batch dimension {use.shape[0]}, but the "
                                f"data's rows are the batch", "leave the batch dimension open with null"))
    if _row_fit(row, tuple(use.shape[1:])) is None:
        problems.append(problem(f"{what} has rows of shape {row}, input {use.input_id!r} "
                                f"takes {_shape_text(use.shape[1:])}",
                                "reshape the data or change the input's shape; flat rows (rows, k) are "
                                "reshaped when k is the product of the input's dims"))
    if dtype is not None and not np.can_cast(dtype, _input_dtype(use), "same_kind"):
        problems.append(problem(f"{what} is {dtype}, input {use.input_id!r} takes {use.dtype}",
                                "convert the data, or change the input's dtype"))
    return problems


def _input_array(table: Table, use: InputUse) -> np.ndarray:
    """The column(s) of one input in its declared shape and dtype (_input_problems found none)."""
    arrays = [table.columns[c] for c in use.columns]
    array = np.stack(arrays, axis=1) if len(arrays) > 1 else arrays[0]
    dims = _row_fit(tuple(array.shape[1:]), tuple(use.shape[1:]))
    assert dims is not None, "_input_problems checks the shape"
    if dims != tuple(array.shape[1:]):
        array = array.reshape((len(array), *dims))
    return np.ascontiguousarray(array, dtype=_input_dtype(use))


def _input_dtype(use: InputUse) -> np.dtype:
    return np.dtype("float32" if use.dtype == "bfloat16" else use.dtype)  # numpy has no bfloat16


def _row_fit(row: tuple[int, ...], dims: tuple[int | None, ...]) -> tuple[int, ...] | None:
    """The row shape a column with rows of shape `row` takes for an input of row dims `dims` (None:
    any size): `row` itself when it fits as it is, else `dims` when flat rows can be reshaped to
    them, else None."""
    if len(row) == len(dims) and all(d is None or d == r for d, r in zip(dims, row)):
        return row
    # Flat rows (e.g. CSV pixels, or a 1-D column for dims like (1,)) take a shape of the same size.
    if len(row) <= 1 and None not in dims and math.prod(dims) == math.prod(row):  # type: ignore[arg-type]
        return dims  # type: ignore[return-value]
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
