"""The seed paper's node descriptor format (Kruppai et al., section 5.3), derived by a pure function.

Keys: name, package, itype, otype, instance, apply, copy, conns, args with
arg/itype/required/default. "nosupport" marks an argument that could not be typed.
An unbounded port (any number of merged inputs) is written as conns -1, and `copy`
is true only for calls that always mutate their input (an `inplace` flag defaults off).
"""
from __future__ import annotations

from typing import Any

from nodecat.introspector.model import Arg, Catalog, Node

_SEED_TYPES = {"integer": "int", "number": "float", "boolean": "bool", "string": "string", "null": "none"}
_PORT_NAMES = {"tensor": "Tensor", "tensors": "Tensors", "tensor-pair": "TensorPair", "parameters": "Parameters",
               "optimizer": "Optimizer", "schedule": "Schedule", "module": "Layer", "any": "Any"}


def seed_type(schema: dict[str, Any] | None) -> str:
    if schema is None:
        return "nosupport"
    if "x-nodecat" in schema:
        return str(schema["x-nodecat"])
    if "enum" in schema:
        return "enum"
    if "anyOf" in schema:
        members = [seed_type(s) for s in schema["anyOf"] if s.get("type") != "null"]
        return "|".join(dict.fromkeys(members)) or "none"
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items") or {}
        return "shape" if isinstance(items, dict) and items.get("type") == "integer" else "tuple"
    return _SEED_TYPES.get(str(kind), "nosupport")


def _seed_arg(arg: Arg) -> dict[str, Any]:
    out: dict[str, Any] = {"arg": arg.name, "itype": seed_type(arg.schema), "required": arg.required}
    if arg.has_default:
        out["default"] = arg.default
    return out


def seed_node(node: Node) -> dict[str, Any]:
    conns = [p.conns for p in node.inputs]
    return {
        "name": node.name,
        "package": node.id,
        "itype": "|".join(dict.fromkeys(_PORT_NAMES[p.type] for p in node.inputs)) or "None",
        "otype": "|".join(dict.fromkeys(_PORT_NAMES[p.type] for p in node.outputs)) or "None",
        "instance": node.call["instantiate"],
        "apply": node.call["apply"],
        "copy": node.call["copy"] is True,
        "conns": -1 if any(c is None for c in conns) else max(conns, default=0),
        "args": [_seed_arg(a) for a in node.args if not a.hidden],
    }


def seed_catalog(catalog: Catalog) -> list[dict[str, Any]]:
    return [seed_node(n) for n in sorted(catalog.nodes, key=lambda n: n.id)]
