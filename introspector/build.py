"""Crawl -> describe -> overrides -> examples -> catalog; and reading catalogs back."""
from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

from nodecat.introspector import __version__
from nodecat.introspector.crawl import Progress, crawl
from nodecat.introspector.errors import CatalogError, Problem
from nodecat.introspector.jsonio import dumps, load_strict
from nodecat.introspector.libraries import load_profile
from nodecat.introspector.model import Catalog
from nodecat.introspector.overrides import OverridesFile, apply_overrides, load_overrides, stale_overrides
from nodecat.introspector.paths import committed_catalog, overrides_file, relative, user_cache_dir, catalog_filename
from nodecat.introspector.schemas import schema_problems



@dataclass(frozen=True)
class BuildResult:
    catalog: Catalog
    stale: list[Problem]
    overrides: OverridesFile


def installed_version(library: str) -> str:
    """The installed release, without importing the library (and without a local tag such as +cpu)."""
    try:
        return metadata.version(library).split("+")[0]
    except metadata.PackageNotFoundError:
        from nodecat.introspector.libraries import LIBRARIES
        # a pip hint only for what the project crawls: `pip install nn` helps nobody
        hint = f"pip install {library}" if library in LIBRARIES else f"nodecat has catalogs of {', '.join(LIBRARIES)}"
        raise CatalogError([Problem("not_installed", f"{library} is not installed", hint=hint)]) from None


def build_catalog(library: str, progress: Progress | None = None,
                  overrides_path: Path | None = None) -> BuildResult:
    profile = load_profile(library)
    version = profile.version()
    overrides = load_overrides(overrides_path or overrides_file(library), library)
    result = crawl(profile, progress)
    stale = stale_overrides(result.nodes, result.excluded, overrides, version)
    applied = apply_overrides(result.nodes, result.excluded, overrides, version)
    nodes = []
    for node in applied.nodes:
        example, failure = profile.find_example(node, result.objects[node.id])
        if example is not None:
            source = "override" if node.example is not None else "probe"
            node = replace(node, example=example, example_failure="",
                           provenance={**node.provenance, "example": source})
        elif failure:
            node = replace(node, example=None, example_failure=failure)
        nodes.append(node)
    catalog = Catalog(library=library, version=version, generator=f"nodecat {__version__}",
                      nodes=tuple(nodes), excluded=applied.excluded, overrides_file=overrides.path,
                      overrides_applied=applied.applied, overrides_inactive=applied.inactive,
                      notes=profile.notes())
    problems = schema_problems("catalog", catalog.to_json())
    if problems:  # a bug in the generator, not in user input: say so loudly
        raise CatalogError([p.located(f"<generated {library} catalog>") for p in problems])
    return BuildResult(catalog, stale, overrides)


def catalog_text(catalog: Catalog) -> str:
    return dumps(catalog.to_json())


def load_catalog(path: Path, check_schema: bool = True) -> Catalog:
    """Read and schema-check a catalog file; every problem names the file, the node and the field.

    The executor reads the committed catalogs (checked by CI) without the schema pass, which costs
    more than the parse; the id clash check stays, since lookups depend on it."""
    document = load_strict(path)
    problems = (schema_problems("catalog", document) if check_schema else []) or _name_clashes(document)
    if problems:
        raise CatalogError([p.located(relative(path)) for p in problems])
    return Catalog.from_json(document)


def _name_clashes(document: dict) -> list[Problem]:
    """Every id and alias must name one node only, or lookups would depend on file order."""
    owners: dict[str, str] = {}
    problems = []
    for index, node in enumerate(document["nodes"]):
        for position, name in enumerate([node["id"], *node.get("aliases", [])]):
            pointer = f"/nodes/{index}/id" if position == 0 else f"/nodes/{index}/aliases/{position - 1}"
            if name in owners:
                problems.append(Problem("duplicate_id", f"{name} already names node {owners[name]}",
                                        entry=node["id"], pointer=pointer))
            else:
                owners[name] = node["id"]
    return problems


def catalog_path_for(library: str, version: str | None = None) -> Path:
    """The committed catalog of the installed version, else one built into the user cache."""
    version = version or installed_version(library)
    committed = committed_catalog(library, version)
    if committed.exists():
        return committed
    cached = user_cache_dir() / catalog_filename(library, version)
    if cached.exists():
        return cached
    from nodecat.introspector.libraries import LIBRARIES
    if library not in LIBRARIES:
        raise CatalogError([Problem("no_catalog", f"no catalog for {library} {version}, and no crawler for {library} yet",
                                    relative(committed), hint="supported now: " + ", ".join(LIBRARIES))])
    raise CatalogError([Problem(
        "no_catalog", f"no catalog for {library} {version} (the installed version)", relative(committed),
        hint=f"run `nodecat catalog build {library} --cache` to build one into {user_cache_dir()}, "
             f"or install the version the project ships a catalog for (see constraints.txt)")])
