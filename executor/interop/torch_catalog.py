"""The installed torch catalog seen from the model side: which class or function is which node.

The importer meets library objects (a module's class, the function an fx node calls) and needs
their catalog node. Every torch catalog node is resolved once with `nodecat.executor.build.resolve.resolve`
(the same allowlisted, identity-checked lookup the executor uses), which gives a reverse index
from object to node; so an object maps to a node only if running that node calls this object.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from nodecat.executor.graph.catalogs import CatalogIndex, installed_version, load_catalog_cached
from nodecat.executor.graph.errors import GraphError
from nodecat.executor.build.resolve import resolve
from nodecat.introspector.model import Node

_MODULE_KINDS = ("layer", "loss")  # catalog nodes an nn.Module of the model can become
_FUNCTION_KINDS = ("function", "loss")


@dataclass(frozen=True)
class TorchCatalog:
    version: str
    index: CatalogIndex
    layers: dict[type, Node]  # module class -> its node
    functions: dict[int, tuple[Any, Node]]  # id(function) -> (the function, its node)

    def node(self, op: str) -> Node:
        found = self.index.lookup(op)
        if found is None:
            raise KeyError(op)  # only the importer's own reviewed tables name ops here
        return found

    def has(self, op: str) -> bool:
        return self.index.lookup(op) is not None

    def layer_for(self, cls: type) -> tuple[Node, type] | None:
        """The node a module class imports as, and the catalog class it is built from.

        The class itself when the catalog lists it; otherwise a subclass that changes nothing but
        `__init__` (torch's own NonDynamicallyQuantizableLinear, a user's `class MyConv(nn.Conv2d)`
        that only fixes arguments) behaves exactly as its catalog base and imports as it. A subclass
        overriding any other method may compute something else, so it is traced through instead."""
        for base in cls.__mro__:
            node = self.layers.get(base)
            if node is not None:
                return (node, base) if _only_init_differs(cls, base) else None
        return None

    def function_for(self, fn: Any) -> Node | None:
        found = self.functions.get(id(fn))
        return found[1] if found is not None and found[0] is fn else None

    def resolve(self, op: str) -> Any:
        return resolve(self.node(op))


def _only_init_differs(cls: type, base: type) -> bool:
    for klass in cls.__mro__:
        if klass is base:
            return True
        if any(callable(v) for k, v in vars(klass).items() if not k.startswith("__")):
            return False  # forward, or a helper forward calls (Conv2d._conv_forward)
    return True


@lru_cache(maxsize=2)
def torch_catalog(version: str | None = None) -> TorchCatalog:
    """The catalog of the installed torch, with its reverse index (built once per process)."""
    from nodecat.introspector.build import catalog_path_for
    version = version or installed_version("torch") or ""
    catalog = load_catalog_cached(catalog_path_for("torch", version))
    layers: dict[type, Node] = {}
    functions: dict[int, tuple[Any, Node]] = {}
    for node in catalog.nodes:
        if node.kind not in _MODULE_KINDS + _FUNCTION_KINDS:
            continue
        try:
            obj = resolve(node)
        except GraphError:  # a catalog entry the installed torch does not back: never mapped to
            continue
        if isinstance(obj, type):
            if node.kind in _MODULE_KINDS:
                layers.setdefault(obj, node)
        elif node.kind in _FUNCTION_KINDS:
            functions.setdefault(id(obj), (obj, node))
    return TorchCatalog(version, CatalogIndex.of({"torch": catalog}), layers, functions)
