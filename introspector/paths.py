"""Where the project's files live, and where catalogs of other versions are cached.

The committed catalogs, their schemas and the overrides are package data (`nodecat.catalogs`,
`nodecat.overrides`), found through importlib.resources: in a checkout they are the checkout's
directories, in a wheel they lie in site-packages. A wheel's copies are never written: catalogs
built there go to the user cache.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def _package_dir(package: str) -> Path:
    return Path(str(resources.files(package)))


CATALOG_DIR = _package_dir("nodecat.catalogs")
SCHEMA_DIR = CATALOG_DIR / "schema"
OVERRIDES_DIR = _package_dir("nodecat.overrides")
ROOT = CATALOG_DIR.parent  # the checkout, or site-packages/nodecat: paths in catalogs are relative to it
IN_CHECKOUT = (ROOT / "pyproject.toml").is_file()  # `catalog build` may then write the committed catalogs


def user_cache_dir() -> Path:
    """Catalogs built for a library version the project does not ship (or by a wheel install) go here."""
    base = os.environ.get("NODECAT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nodecat")
    return Path(base) / "catalogs"


def catalog_filename(library: str, version: str) -> str:
    return f"{library}-{version}.json"


def committed_catalog(library: str, version: str) -> Path:
    return CATALOG_DIR / catalog_filename(library, version)


def build_target(library: str, version: str, cache: bool) -> Path:
    """Where `catalog build` writes: the committed catalog in a checkout, else the user cache."""
    if cache or not IN_CHECKOUT:
        return user_cache_dir() / catalog_filename(library, version)
    return committed_catalog(library, version)


def overrides_file(library: str) -> Path:
    return OVERRIDES_DIR / f"{library}.json"


def relative(path: Path) -> str:
    """Path as shown to users and recorded in catalogs: relative to the project when inside it."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)
