"""Where the project's files live, and where catalogs of other versions are cached."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOG_DIR = ROOT / "catalogs"
SCHEMA_DIR = CATALOG_DIR / "schema"
OVERRIDES_DIR = ROOT / "overrides"


def user_cache_dir() -> Path:
    """Catalogs built for a library version the project does not ship go here."""
    base = os.environ.get("NODECAT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nodecat")
    return Path(base) / "catalogs"


def catalog_filename(library: str, version: str) -> str:
    return f"{library}-{version}.json"


def committed_catalog(library: str, version: str) -> Path:
    return CATALOG_DIR / catalog_filename(library, version)


def overrides_file(library: str) -> Path:
    return OVERRIDES_DIR / f"{library}.json"


def relative(path: Path) -> str:
    """Path as shown to users and recorded in catalogs: relative to the project when inside it."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)
