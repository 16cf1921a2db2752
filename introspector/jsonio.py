"""Stable JSON out, strict JSON in, atomic writes.

Stable: sorted keys and a fixed layout so the same data always gives the same
bytes (the committed catalogs are golden files). Strict: duplicate keys and
NaN/Infinity are errors, not silently accepted.
"""
from __future__ import annotations

import gzip
import json
import zlib
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from nodecat.introspector.errors import CatalogError, Problem, json_pointer


def dumps(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write next to the target, then rename: a reader never sees half a file."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write bytes next to the target, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Pairs(list):
    """An object as parsed, before duplicate keys are checked (a dict would have dropped them)."""


class _StrictnessError(ValueError):
    def __init__(self, message: str, pointer: str):
        super().__init__(message)
        self.pointer = pointer


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _StrictnessError(f"number {text} is too large for a float", "")
    return value


def _reject_constant(name: str) -> Any:
    raise _StrictnessError(f"{name} is not valid JSON", "")


def _to_plain(value: Any) -> Any:
    """Turn parsed pairs into dicts, refusing duplicate keys with the JSON Pointer of their object.

    Iterative, so an absurdly deep document cannot hit the recursion limit here.
    """
    holder: list[Any] = [value]
    pending: list[tuple[Any, str | int, list[str | int]]] = [(holder, 0, [])]
    while pending:
        container, key, path = pending.pop()
        item = container[key]
        if isinstance(item, _Pairs):
            plain: dict[str, Any] = {}
            for name, child in item:
                if name in plain:
                    raise _StrictnessError(f"duplicate key {name!r}", json_pointer(path) or "/")
                plain[name] = child
            container[key] = plain
            pending.extend((plain, name, [*path, name]) for name in plain)
        elif isinstance(item, list):
            pending.extend((item, index, [*path, index]) for index in range(len(item)))
    return holder[0]


def parse_strict(text: str) -> Any:
    """Parse JSON text; duplicate keys, NaN/Infinity and overflowing numbers are errors."""
    parsed = json.loads(text, object_pairs_hook=_Pairs, parse_constant=_reject_constant,
                        parse_float=_finite_float)
    return _to_plain(parsed)


def load_strict(path: Path) -> Any:
    """Parse a JSON file (gzip-compressed when it ends in .gz, as recorded older catalogs are);
    any problem becomes a CatalogError naming the file."""
    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8")
    except FileNotFoundError:
        raise CatalogError([Problem("file_not_found", "file does not exist", str(path))]) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise CatalogError([Problem("bad_encoding", f"not a gzip file ({exc})", str(path))]) from None
    except UnicodeDecodeError as exc:
        raise CatalogError([Problem("bad_encoding", f"not UTF-8 text ({exc.reason})", str(path))]) from None
    try:
        return parse_strict(text)
    except json.JSONDecodeError as exc:
        raise CatalogError([Problem("bad_json", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                                    str(path))]) from None
    except _StrictnessError as exc:
        raise CatalogError([Problem("bad_json", f"invalid JSON: {exc}", str(path),
                                    pointer=exc.pointer)]) from None
    except RecursionError:
        raise CatalogError([Problem("bad_json", "invalid JSON: nested too deeply", str(path))]) from None
