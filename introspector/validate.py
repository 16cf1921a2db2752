"""`catalog validate` and `catalog stats`: every file schema-checked, stale overrides found."""
from __future__ import annotations

from typing import Any

from nodecat.introspector.build import catalog_path_for, installed_version, load_catalog
from nodecat.introspector.crawl import crawl
from nodecat.introspector.errors import CatalogError, Problem
from nodecat.introspector.libraries import LIBRARIES, load_profile
from nodecat.introspector.model import Catalog
from nodecat.introspector.overrides import OverridesFile, load_overrides, stale_overrides
from nodecat.introspector.paths import CATALOG_DIR, OVERRIDES_DIR, overrides_file, relative
from nodecat.introspector.stats import catalog_stats


def stale_for(library: str, overrides: OverridesFile) -> list[Problem]:
    """Stale entries against the installed library (needs a crawl: imports the library)."""
    profile = load_profile(library)
    result = crawl(profile)
    return stale_overrides(result.nodes, result.excluded, overrides, profile.version())


def validate_all() -> tuple[list[Problem], list[str]]:
    problems: list[Problem] = []
    checked: list[str] = []
    for path in sorted(CATALOG_DIR.glob("*.json")):
        checked.append(relative(path))
        try:
            load_catalog(path)
        except CatalogError as exc:
            problems.extend(exc.problems)
    for path in sorted(OVERRIDES_DIR.glob("*.json")):
        checked.append(relative(path))
        library = path.stem
        try:
            overrides = load_overrides(path, library)
        except CatalogError as exc:
            problems.extend(exc.problems)
            continue
        if library in LIBRARIES:
            try:
                installed_version(library)
            except CatalogError:
                continue  # cannot judge staleness without the library
            problems.extend(stale_for(library, overrides))
    return problems, checked


def library_stats(library: str) -> dict[str, Any]:
    catalog: Catalog = load_catalog(catalog_path_for(library))
    overrides = load_overrides(overrides_file(library), library)
    stale = stale_for(library, overrides)
    return catalog_stats(catalog, len(overrides.entries), len(stale))
