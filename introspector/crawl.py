"""Walk a library through its profile: de-duplicate, pick canonical ids, describe each object."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

from nodecat.introspector.describe import describe
from nodecat.introspector.model import Exclusion, Node
from nodecat.introspector.profile import Found, LibraryProfile

Progress = Callable[[int, int, str], None]  # (done, total, current item)


@dataclass(frozen=True)
class CrawlResult:
    nodes: tuple[Node, ...]
    excluded: tuple[Exclusion, ...]
    objects: dict[str, object]  # node id -> the object it describes (for probing)


def _canonical(paths: list[str], obj: object) -> str:
    """The path that ends in the object's own name (keras.layers.MaxPooling2D, not its alias
    MaxPool2D), then the shortest; ties broken alphabetically so the choice is stable."""
    own_name = getattr(obj, "__name__", None)
    return min(paths, key=lambda p: (p.rsplit(".", 1)[1] != own_name, p.count("."), len(p), p))


def crawl(profile: LibraryProfile, progress: Progress | None = None) -> CrawlResult:
    found = list(profile.walk())
    groups: dict[int, list[Found]] = {}
    for item in found:
        groups.setdefault(id(item.obj), []).append(item)

    excluded: list[Exclusion] = []
    usable: dict[str, tuple[object, str, list[str]]] = {}
    doc_aliases: dict[str, list[str]] = {}
    for items in groups.values():
        paths = sorted({i.path for i in items})
        canonical = _canonical(paths, items[0].obj)
        first = next(i for i in items if i.path == canonical)
        if first.exclusion is not None:
            excluded.append(first.exclusion)
        elif first.alias_of is not None:
            doc_aliases.setdefault(first.alias_of, []).extend(paths)
        else:
            usable[canonical] = (first.obj, first.kind or "function", [p for p in paths if p != canonical])

    nodes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notices from docstrings/signatures are not ours to show
        for index, node_id in enumerate(sorted(usable)):
            obj, kind, aliases = usable[node_id]
            aliases = sorted(aliases + doc_aliases.pop(node_id, []))
            if progress:
                progress(index, len(usable), node_id)
            try:
                nodes.append(describe(node_id, obj, kind, profile, tuple(aliases)))
            except (ValueError, TypeError):  # inspect.signature's way of saying "no signature"
                excluded.append(Exclusion(node_id, "no-signature",
                                          "neither inspect.signature nor a signature line in the docstring"))
    for target, paths in doc_aliases.items():  # alias of something we do not crawl: keep them as nodes
        for path in paths:
            excluded.append(Exclusion(path, "not-a-node", f"documented alias of {target}, which is not crawled"))
    return CrawlResult(tuple(nodes), tuple(excluded), {k: v[0] for k, v in usable.items()})
