"""The catalogs a graph names, loaded once per process and indexed by id and alias.

A graph records the library versions it was made with; the executor uses the catalog of the
installed version (the one whose objects it will call) and reports a graph made with another.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from nodecat.executor.graph.builtins import BUILTINS
from nodecat.executor.graph.errors import GraphProblem
from nodecat.executor.graph.document import Graph
from nodecat.introspector.errors import CatalogError, json_pointer
from nodecat.introspector.model import Catalog, Exclusion, Node


@dataclass(frozen=True)
class CatalogIndex:
    """Every node a graph may use: the builtins plus the nodes of the loaded catalogs."""

    catalogs: dict[str, Catalog]
    nodes: dict[str, Node]  # by id and by alias
    excluded: dict[str, Exclusion]

    def lookup(self, op: str) -> Node | None:
        return self.nodes.get(op)

    @classmethod
    def of(cls, catalogs: dict[str, Catalog]) -> "CatalogIndex":
        nodes: dict[str, Node] = dict(BUILTINS)
        excluded: dict[str, Exclusion] = {}
        for catalog in catalogs.values():
            for node in catalog.nodes:
                nodes[node.id] = node
                nodes.update((alias, node) for alias in node.aliases)
            excluded.update((e.id, e) for e in catalog.excluded)
        return cls(catalogs, nodes, excluded)


@lru_cache(maxsize=8)
def _cached(path: Path, mtime_ns: int) -> Catalog:
    from nodecat.introspector.build import load_catalog
    return load_catalog(path, check_schema=False)


def load_catalog_cached(path: Path) -> Catalog:
    return _cached(path, path.stat().st_mtime_ns)


def installed_version(library: str) -> str | None:
    from importlib import metadata
    try:
        return metadata.version(library).split("+")[0]
    except metadata.PackageNotFoundError:
        return None


def catalogs_for(graph: Graph) -> tuple[CatalogIndex, list[GraphProblem]]:
    """Load the catalog of each library the graph names, for the installed version.

    A graph made with another version is reported (`version_mismatch`): its arguments were
    chosen against another catalog and may no longer mean the same."""
    from nodecat.introspector.build import catalog_path_for
    loaded: dict[str, Catalog] = {}
    problems: list[GraphProblem] = []
    for library, wanted in sorted(graph.catalogs.items()):
        pointer = json_pointer(["catalogs", library])
        installed = installed_version(library)
        if installed is None:
            problems.append(GraphProblem("unknown_library", f"the graph uses {library}, which is not installed",
                                         pointer=pointer, hint=f"pip install {library} (see constraints.txt)"))
            continue
        if wanted != installed:
            problems.append(GraphProblem(
                "version_mismatch", f"the graph was made with {library} {wanted}, but {installed} is installed",
                pointer=pointer, hint=f"check the graph against the {installed} catalog, then set "
                                      f'"catalogs": {{"{library}": "{installed}"}}'))
        try:
            loaded[library] = load_catalog_cached(catalog_path_for(library, installed))
        except CatalogError as exc:
            problems.extend(GraphProblem("no_catalog", str(p), pointer=pointer, hint=p.hint) for p in exc.problems)
    return CatalogIndex.of(loaded), problems
