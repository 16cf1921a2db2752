"""Finding nodes and categories by what a person types: `Conv2d`, `nn.Conv2d`, `torch.nn.Conv2d`.

Pure functions over loaded catalogs; `searched_libraries` and `find_in_libraries` decide which
catalogs to search, the same way for the CLI and the server (each loads catalogs its own way). A name resolves, in
this order, to the node whose id or alias it is; to the one node whose id or alias ends with it
after a dot (`Conv2d`, `nn.Conv2d`, `functional.relu`), case first as written, then ignoring case;
otherwise the answer is an error: `ambiguous_node` with the candidates, or `unknown_node` with
close ids (difflib, as the executor's check suggests ops).
"""
from __future__ import annotations

import difflib
from collections import Counter
from typing import Callable, Iterable, Sequence

from nodecat.introspector.errors import CatalogError, Problem
from nodecat.introspector.model import Catalog, Node

CLOSE_MATCHES = 5


def _names(node: Node) -> tuple[str, ...]:
    return (node.id, *node.aliases)


def _ends_with(path: str, name: str, fold: bool) -> bool:
    if fold:
        path, name = path.lower(), name.lower()
    return path == name or path.endswith("." + name)


def _where(catalogs: Sequence[Catalog]) -> str:
    return " and ".join(f"the {c.library} catalog" for c in catalogs) or "no catalog"


def find_node(name: str, catalogs: Sequence[Catalog], hint_not_searched: str = "") -> Node:
    """The node `name` designates in the catalogs (searched in order), or a CatalogError."""
    nodes = [n for c in catalogs for n in c.nodes]
    exact = [n for n in nodes if name in _names(n)]
    if exact:
        return exact[0]  # ids and aliases are unique per catalog and start with the library's name
    for fold in (False, True):
        matches = [n for n in nodes if any(_ends_with(p, name, fold) for p in _names(n))]
        if len(matches) == 1:
            return matches[0]
        if matches:
            ids = sorted(n.id for n in matches)
            raise CatalogError([Problem(
                "ambiguous_node", f"{name!r} names {len(ids)} nodes in {_where(catalogs)}: {', '.join(ids)}",
                hint="give the full id, or --library", candidates=tuple(ids))])
    close = close_ids(name, nodes)
    hint = f"did you mean {', '.join(close)}?" if close else \
        "`nodecat catalog list " + (catalogs[0].library if len(catalogs) == 1 else "<library>") + "` lists them"
    if hint_not_searched:
        hint += f"; {hint_not_searched}"
    raise CatalogError([Problem("unknown_node", f"no node or alias {name!r} in {_where(catalogs)}",
                                hint=hint, candidates=tuple(close))])


def close_ids(name: str, nodes: Iterable[Node]) -> list[str]:
    """Ids close to what was typed: by the whole path, and by the last component (`Conv4d`)."""
    nodes = list(nodes)
    owner = {p: n.id for n in nodes for p in _names(n)}
    found = [owner[p] for p in difflib.get_close_matches(name, list(owner), n=CLOSE_MATCHES, cutoff=0.6)]
    last = name.rsplit(".", 1)[-1]
    by_short: dict[str, list[str]] = {}
    for path, node_id in owner.items():
        by_short.setdefault(path.rsplit(".", 1)[-1], []).append(node_id)
    for short in difflib.get_close_matches(last, list(by_short), n=CLOSE_MATCHES, cutoff=0.75):
        found.extend(sorted(by_short[short]))
    return list(dict.fromkeys(found))[:CLOSE_MATCHES]


def category_counts(catalog: Catalog) -> dict[str, int]:
    """Every category and every menu level above one (`functional` for `functional/loss`), with the
    number of nodes in it or below it: what `--category` accepts."""
    counts: Counter[str] = Counter()
    for node in catalog.nodes:
        parts = node.category.split("/")
        for depth in range(1, len(parts) + 1):
            counts["/".join(parts[:depth])] += 1
    return dict(sorted(counts.items()))


def check_category(category: str, catalog: Catalog) -> None:
    """Nothing, or a CatalogError that names close categories and all the known ones."""
    known = category_counts(catalog)
    if category in known:
        return
    close = difflib.get_close_matches(category, list(known), n=3, cutoff=0.6)
    hint = (f"did you mean {', '.join(close)}? " if close else "") + "known: " + ", ".join(known)
    raise CatalogError([Problem("unknown_category", f"no category {category!r} in the {catalog.library} catalog",
                                hint=hint, candidates=tuple(close))])


def searched_libraries(name: str, library: str | None, libraries: Sequence[str]) -> tuple[str, ...]:
    """The catalogs a lookup searches: LIBRARY's, or the one the id starts with, else every one."""
    prefix = name.split(".", 1)[0]
    if library is None and "." in name and prefix in libraries:
        library = prefix
    return (library,) if library is not None else tuple(libraries)


def find_in_libraries(name: str, searched: Sequence[str], load: Callable[[str], Catalog]) -> Node:
    """The node a user means, in the catalogs of `searched` that `load` can load (one that cannot
    is skipped and said so in the hint; when none can, that is the error)."""
    if len(searched) == 1:
        return find_node(name, [load(searched[0])])
    catalogs, skipped = [], []
    for library in searched:
        try:
            catalogs.append(load(library))
        except CatalogError as exc:
            skipped.append((library, exc))
    if not catalogs:
        raise CatalogError([p for _, exc in skipped for p in exc.problems])
    note = "; ".join(f"the {lib} catalog was not searched ({exc.problems[0].message})" for lib, exc in skipped)
    return find_node(name, catalogs, note)
