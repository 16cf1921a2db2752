"""The Keras catalog seen from a model's side: which catalog node a layer class or a recorded
`keras.ops` operation is, and which serialized classes (initializers, regularizers, constraints,
activations) the catalog's argument schemas name.

A layer class is found by its real origin (`keras.src.layers.core.dense.Dense`), then resolved
through `nodecat.executor.build.resolve` so the object the executor will build is the very class the model used.
An operation class (`keras.src.ops.numpy.ExpandDims`) is recorded when a `keras.ops` function
runs on symbolic tensors; its function lives in the same module under the snake-case name
(`expand_dims`), which is the catalog node's origin.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from nodecat.executor.graph.catalogs import CatalogIndex, catalogs_for, installed_version
from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.document import Graph
from nodecat.executor.build.resolve import resolve
from nodecat.executor.graph.values import value_kind
from nodecat.introspector.model import Node

# Operation classes whose function is not their snake-case name.
_OP_FUNCTION_NAMES: dict[str, tuple[str, ...]] = {
    "BatchNorm": ("batch_normalization",), "LayerNorm": ("layer_normalization",),
    "RMSNorm": ("rms_normalization",),
}
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
SERIALIZED_KINDS = ("initializer", "regularizer", "constraint")


def function_names(class_name: str) -> tuple[str, ...]:
    """Candidate function names of an operation class: RGBToHSV -> rgb_to_hsv, AllClose -> allclose."""
    return (_WORD_BOUNDARY.sub("_", class_name).lower(), class_name.lower(), *_OP_FUNCTION_NAMES.get(class_name, ()))


@dataclass(frozen=True)
class KerasCatalog:
    version: str
    index: CatalogIndex
    by_origin: dict[tuple[str, str], Node]  # (module, qualname) -> the catalog's node for that object
    serialized_classes: dict[str, frozenset[str]]  # "initializer" -> class names any schema accepts
    activations: frozenset[str]

    def node(self, node_id: str) -> Node | None:
        return self.index.lookup(node_id)

    def layer_node(self, cls: type) -> Node | None:
        """The catalog's layer node for a live layer class, after the identity check."""
        node = self.by_origin.get((cls.__module__, cls.__qualname__))
        if node is None or node.kind != "layer" or not node.call.get("instantiate"):
            return None
        try:
            return node if resolve(node) is cls else None
        except GraphError:
            return None

    def op_node(self, module: str, class_name: str) -> Node | None:
        """The catalog's `keras.ops` function that records an operation class of `module`."""
        if not module.startswith("keras.src.ops."):
            return None
        for name in function_names(class_name):
            node = self.by_origin.get((module, name))
            if node is not None and node.kind == "function":
                return node
        return None

    def public_layer(self, class_name: str) -> Node | None:
        """`keras.layers.<class_name>` when the catalog lists it as a layer (configs name layers so)."""
        node = self.index.lookup(f"keras.layers.{class_name}")
        return node if node is not None and node.kind == "layer" else None

    def excluded_reason(self, op_id: str) -> str:
        exclusion = self.index.excluded.get(op_id)
        return f"excluded from the catalog ({exclusion.code}): {exclusion.reason}" if exclusion else ""


def keras_catalog() -> KerasCatalog:
    """The catalog of the installed Keras (loaded once per process)."""
    version = installed_version("keras")
    if version is None:
        raise GraphError(GraphProblem("unknown_library", "Keras is not installed", hint="pip install keras"))
    return _catalog_for(version)


@lru_cache(maxsize=2)
def _catalog_for(version: str) -> KerasCatalog:
    index, problems = catalogs_for(Graph(catalogs={"keras": version}, nodes=(), edges=(), outputs=()))
    if problems:
        raise GraphError(problems)
    by_origin: dict[tuple[str, str], Node] = {}
    serialized: dict[str, set[str]] = {kind: set() for kind in SERIALIZED_KINDS}
    activations: set[str] = set()
    for node in index.catalogs["keras"].nodes:
        key = (node.origin_module, node.origin_qualname)
        # an object exported under two names (abs, absolute): keep the node named like the object
        if key not in by_origin or node.name == node.origin_qualname:
            by_origin[key] = node
        for arg in node.args:
            kind = value_kind(arg.schema)
            if kind in serialized:
                serialized[kind].update(_class_names(arg.schema or {}))
            elif kind == "activation":
                activations.update(string_names(arg.schema or {}))
    return KerasCatalog(version, index, by_origin, {k: frozenset(v) for k, v in serialized.items()},
                        frozenset(activations))


def string_names(schema: dict[str, Any]) -> list[str]:
    """The string values an argument schema enumerates (`glorot_uniform`, `relu`, ...), in order."""
    found = [v for v in schema.get("enum", ()) if isinstance(v, str)]
    for alternative in schema.get("anyOf", ()):
        found.extend(string_names(alternative))
    return found


def _class_names(schema: dict[str, Any]) -> list[str]:
    """The class names an argument schema's object form accepts (`{"class_name": "GlorotUniform"}`)."""
    found = list(schema.get("properties", {}).get("class_name", {}).get("enum", ()))
    for alternative in schema.get("anyOf", ()):
        found.extend(_class_names(alternative))
    return found
