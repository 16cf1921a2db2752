"""Resolution by allowlist: a catalog entry in, the library object it describes out.

Only ids that validation found in a catalog reach this module, and only the catalog's own id is
walked (never a string from the graph), so nothing the catalog does not list is imported or called.
The resolved object's real `__module__` and `__qualname__` must then equal the catalog's origin:
a library that moved or replaced an object is caught here instead of running something else.
"""
from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.introspector.model import Node

LIBRARY_ROOTS = ("torch", "keras")


class _NotFound(Exception):
    pass


@lru_cache(maxsize=None)
def _walk(dotted: str) -> Any:
    parts = dotted.split(".")
    if parts[0] not in LIBRARY_ROOTS:
        raise _NotFound(f"{parts[0]} is not a library nodecat resolves from")
    obj: Any = importlib.import_module(parts[0])
    for depth in range(1, len(parts)):
        try:
            obj = getattr(obj, parts[depth])
        except AttributeError:
            try:  # a submodule its package does not import by itself
                obj = importlib.import_module(".".join(parts[:depth + 1]))
            except ImportError:
                raise _NotFound(f"{'.'.join(parts[:depth + 1])} does not exist") from None
    return obj


def resolve(descriptor: Node, node_id: str = "", pointer: str = "") -> Any:
    """The object behind a catalog node, after the identity check."""
    try:
        obj = _walk(descriptor.id)
    except _NotFound as exc:
        raise GraphError(GraphProblem("identity_mismatch", f"{descriptor.id} cannot be resolved: {exc}",
                                      node_id, pointer, "the catalog does not match the installed library; "
                                      "rebuild it with `nodecat catalog build`")) from None
    found = (getattr(obj, "__module__", None), getattr(obj, "__qualname__", None))
    expected = (descriptor.origin_module, descriptor.origin_qualname)
    if found != expected:
        raise GraphError(GraphProblem(
            "identity_mismatch", f"{descriptor.id} resolves to {found[0]}.{found[1]}, but the catalog lists "
            f"{expected[0]}.{expected[1]}", node_id, pointer,
            "the installed library differs from the catalog's; rebuild the catalog"))
    return obj
