"""Stable JSON out, strict JSON in, atomic writes.

Stable: sorted keys and a fixed layout so the same data always gives the same
bytes (the committed catalogs are golden files). Strict: duplicate keys and
NaN/Infinity are errors, not silently accepted.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from introspector.errors import CatalogError, Problem


def dumps(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write next to the target, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_strict(path: Path) -> Any:
    """Parse a JSON file; any problem becomes a CatalogError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError([Problem("file_not_found", "file does not exist", str(path))]) from None
    except UnicodeDecodeError as exc:
        raise CatalogError([Problem("bad_encoding", f"not UTF-8 text ({exc.reason})", str(path))]) from None
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise CatalogError([Problem("bad_json", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                                    str(path))]) from None
    except (ValueError, RecursionError) as exc:
        raise CatalogError([Problem("bad_json", f"invalid JSON: {exc}", str(path))]) from None
