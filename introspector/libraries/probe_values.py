"""Argument values and the example search, shared by the torch and Keras probes.

A required argument gets its override example, else a value by name (`num_heads` -> 2), else
FEATURES for anything that names a size, else a value its schema accepts. Every size is the same
FEATURES so that layers and probe inputs agree.
"""
from __future__ import annotations

import re
import warnings
from typing import Any, Callable, Iterable

from nodecat.introspector.model import Arg, Node

FEATURES = 4  # every "size" argument gets this, so layers and probe inputs agree
_BY_NAME: dict[str, Any] = {
    "num_heads": 2, "nhead": 2, "num_groups": 2, "groups": 2, "num_embeddings": 10, "n_classes": 10,
    "kernel_size": 2, "output_size": 2, "upscale_factor": 2, "downscale_factor": 2, "size": 2,
    "padding": 1, "cutoffs": [2], "unflattened_size": [2, 2], "dim": 1, "value": 0.0, "threshold": 0.1,
    "lambd": 0.5, "normalized_shape": FEATURES, "scale_factor": 2.0,
}
_SIZE_NAME = re.compile(r"(channels|features|_size|_dim|dim_|d_model|embed_dim|hidden|normalized_shape)")


def as_call_value(value: Any) -> Any:
    """A JSON value as library signatures take it: lists become tuples (kernel_size=(3, 3))."""
    if isinstance(value, list):
        return tuple(as_call_value(v) for v in value)
    return value


def example_value(arg: Arg) -> Any:
    """A plausible value for a required argument, from its name and schema."""
    if arg.has_example:
        return arg.example
    if arg.name in _BY_NAME:
        return _BY_NAME[arg.name]
    if _SIZE_NAME.search(arg.name):
        return FEATURES
    return _from_schema(arg.schema or {})


def _from_schema(schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return _from_schema(next((s for s in schema["anyOf"] if s.get("type") != "null"), schema["anyOf"][0]))
    kind = schema.get("type")
    if kind == "integer":
        return 2
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return False
    if kind == "string":
        return "x"
    if kind == "array":
        count = schema.get("minItems", 1)
        items = schema.get("prefixItems") or [schema.get("items") or {"type": "integer"}] * count
        return [_from_schema(item) for item in items]
    return None


def ranks_by_name(name: str, ranks: list[int]) -> list[int]:
    """Input ranks to try, the one a 1d/2d/3d suffix suggests first (Conv2d, Conv2D -> 4)."""
    hint = re.search(r"([123])d$", name.lower())
    if not hint:
        return list(ranks)
    preferred = int(hint.group(1)) + 2
    return [preferred] + [r for r in ranks if r != preferred]


def layer_fed_args(node: Node) -> list[str]:
    """Required arguments that take a layer: an edge feeds them, an example cannot."""
    def layer_valued(schema: dict[str, Any]) -> bool:
        return schema.get("x-nodecat") == "module" or any(s.get("x-nodecat") == "module"
                                                          for s in schema.get("anyOf", ()))
    return [a.name for a in node.args if a.required and layer_valued(a.schema or {})]


def layer_fed_reason(names: list[str]) -> str:
    return f"required argument {', '.join(names)} takes a layer (fed by an edge); examples hold JSON values only"


def short_error(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:160] if text else ''}"


Example = dict[str, Any]


def search_example(node: Node, attempt: Callable[[Example], object], candidates: Iterable[Example],
                   where: str = "") -> tuple[Example | None, str]:
    """An override's example must work as written; otherwise the first candidate that works wins.
    `attempt` instantiates and applies one example, raising when it does not work; `where` names
    the probe's setting in failure messages (" on the meta device")."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if node.example is not None:
            try:
                attempt(node.example)
            except Exception as exc:  # noqa: BLE001 - reported, not raised: the catalog says why
                return None, f"the override's example fails{where}: {short_error(exc)}"
            return node.example, ""
        last_error = "no candidate tried"
        for example in candidates:
            try:
                attempt(example)
            except Exception as exc:  # noqa: BLE001 - any failure just means "try the next candidate"
                last_error = short_error(exc)
                continue
            return example, ""
    return None, f"no candidate input worked{where}; last error: {last_error}"
