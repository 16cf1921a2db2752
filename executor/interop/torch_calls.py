"""Which catalog node an fx call becomes, and how its arguments bind to the node's ports and args.

Functions map by identity through the catalog's reverse index (`torch.flatten`, `F.relu`,
`F.max_pool2d`); Python operators and a few functions the catalog lists under another name map by
the reviewed tables below; a tensor method maps to the torch function of the same name (torch
defines each such method as that function with `self` first), or to the torch.nn.functional one
listed in `METHOD_FUNCTIONALS`.

Arguments bind by the real signature: `inspect.signature` where Python has one, else the
signature lines of torch's docstring (`narrow(input, dim, start, length) -> Tensor`), overload
by overload; a builtin with neither binds by the rule "tensors fill the ports in order, other
values fill the arguments in the catalog's order".
"""
from __future__ import annotations

import inspect
import operator
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch

from nodecat.executor.interop.torch_catalog import TorchCatalog
from nodecat.executor.interop.torch_values import GraphTensor
from nodecat.introspector.docs import text_signatures
from nodecat.introspector.model import Node

# Python operators on tensors: operator -> (catalog op, extra literal arguments).
OPERATORS: dict[Any, tuple[str, dict[str, Any]]] = {
    operator.add: ("torch.add", {}), operator.sub: ("torch.sub", {}), operator.mul: ("torch.mul", {}),
    operator.truediv: ("torch.div", {}), operator.floordiv: ("torch.div", {"rounding_mode": "floor"}),
    operator.matmul: ("torch.matmul", {}), operator.neg: ("torch.neg", {}), operator.pow: ("torch.pow", {}),
}
# torch functions the catalog lists only under torch.nn.functional (same computation, same arguments).
EQUIVALENT_FUNCTIONS: dict[Any, str] = {
    torch.relu: "torch.nn.functional.relu", torch.sigmoid: "torch.nn.functional.sigmoid",
    torch.tanh: "torch.nn.functional.tanh", torch.softmax: "torch.nn.functional.softmax",
    torch.log_softmax: "torch.nn.functional.log_softmax",
}
# Tensor methods computed by a torch.nn.functional function with the tensor first.
METHOD_FUNCTIONALS: dict[str, str] = {
    "relu": "torch.nn.functional.relu", "sigmoid": "torch.nn.functional.sigmoid",
    "tanh": "torch.nn.functional.tanh", "softmax": "torch.nn.functional.softmax",
    "log_softmax": "torch.nn.functional.log_softmax",
}
# Methods that return their input unchanged in inference (no node).
IDENTITY_METHODS = frozenset({"contiguous", "clone", "detach"})
# Methods that cast: no node when the value already has the dtype (run-time check on traced values).
CAST_METHODS = frozenset({"float", "double", "half", "bfloat16", "int", "long", "bool", "to", "type_as", "type"})
# Methods whose sizes may come as separate arguments: x.view(2, -1) is x.view((2, -1)).
VARARG_METHODS: dict[str, tuple[str, str]] = {
    "view": ("torch.reshape", "shape"), "reshape": ("torch.reshape", "shape"),
    "permute": ("torch.permute", "dims"), "tile": ("torch.tile", "dims"),
}
# Arguments a function takes as one number for every spatial dimension, where the catalog's schema
# takes only the list (F.interpolate itself does `[scale_factor] * spatial dims`).
SPATIAL_LISTS: dict[str, tuple[str, ...]] = {"torch.nn.functional.interpolate": ("scale_factor",)}
SPLIT_FUNCTIONS = frozenset({"chunk", "split", "unbind"})  # list results, imported as narrows
_NAMESPACES = ("torch", "torch.nn.functional", "torch.fft", "torch.linalg", "torch.special", "operator", "math",
               "builtins")


@dataclass(frozen=True)
class Bound:
    """A call's arguments by parameter name, and the defaults of the signature it was bound to."""

    values: dict[str, Any]
    defaults: dict[str, Any]


def function_node(catalog: TorchCatalog, fn: Any) -> tuple[Node, dict[str, Any]] | None:
    """The catalog node an fx call_function target computes, with literal arguments it implies."""
    if fn in OPERATORS:
        op, extra = OPERATORS[fn]
        return (catalog.node(op), dict(extra)) if catalog.has(op) else None
    node = catalog.function_for(fn)
    if node is not None:
        return node, {}
    equivalent = EQUIVALENT_FUNCTIONS.get(fn)
    if equivalent is not None and catalog.has(equivalent):
        return catalog.node(equivalent), {}
    return None


def method_node(catalog: TorchCatalog, name: str) -> Node | None:
    """The catalog function a tensor method computes (tensor first), if any."""
    for op in (METHOD_FUNCTIONALS.get(name, ""), VARARG_METHODS.get(name, ("", ""))[0], f"torch.{name}"):
        if op and catalog.has(op):
            node = catalog.node(op)
            if node.kind == "function":
                return node
    return None


def call_name(fn: Any) -> str:
    """A public dotted name for a function an fx node calls (`torch.fft.rfft`, `operator.lt`):
    where a public namespace holds it, else its module and qualified name."""
    import importlib
    name = getattr(fn, "__name__", None)
    for namespace in _NAMESPACES:
        module = importlib.import_module(namespace)
        if name and getattr(module, name, None) is fn:
            return f"{namespace}.{name}"
        found = next((attr for attr in dir(module)
                      if not attr.startswith("_") and getattr(module, attr, None) is fn), None)
        if found is not None:  # builtins renamed on export (torch.fft.rfft is torch._C._fft.fft_rfft)
            return f"{namespace}.{found}"
    module_name = getattr(fn, "__module__", None) or "?"
    return f"{module_name}.{getattr(fn, '__qualname__', name or repr(fn))}"


@cache
def _signatures(fn: Any) -> tuple[inspect.Signature, ...]:
    try:
        signature = inspect.signature(fn)
        params = list(signature.parameters.values())
        if not all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            return (signature,)
    except (TypeError, ValueError):  # a builtin: its signature is only in the docstring
        pass
    return tuple(inspect.Signature([_optional_keyword(p) for p in s.parameters])
                 for s in text_signatures(getattr(fn, "__doc__", None) or ""))


def _optional_keyword(param: inspect.Parameter) -> inspect.Parameter:
    """Docstring lines write keyword-only parameters without defaults (`*, out: Optional[Tensor]`);
    torch never requires them."""
    if param.kind is param.KEYWORD_ONLY and param.default is param.empty:
        return param.replace(default=None)
    return param


def bind(fn: Any, descriptor: Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Bound | None:
    """The call's values by parameter name, or None when no known signature accepts the call."""
    signatures = _signatures(fn)
    for signature in signatures:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            continue
        defaults = {p.name: p.default for p in signature.parameters.values() if p.default is not p.empty}
        values = dict(bound.arguments)
        for param in signature.parameters.values():  # *args collected under the parameter's name
            if param.kind is param.VAR_KEYWORD and param.name in values:
                values.update(values.pop(param.name))
        return Bound(values, defaults)
    if signatures:
        return None
    return _bind_by_rule(descriptor, args, kwargs)


def _bind_by_rule(descriptor: Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Bound | None:
    """No signature anywhere: tensors fill the ports in order, then other values the arguments."""
    ports = [p.name for p in descriptor.inputs if p.name not in kwargs]
    literals = [a.name for a in descriptor.args if not a.hidden and a.name not in kwargs]
    values = dict(kwargs)
    for value in args:
        items = value if isinstance(value, (list, tuple)) and value else [value]
        is_tensor = all(isinstance(v, (GraphTensor, torch.Tensor)) for v in items)
        queue = ports if is_tensor and ports else literals
        if not queue:
            return None
        values[queue.pop(0)] = value
    defaults = {a.name: a.default for a in descriptor.args if a.has_default}
    return Bound(values, defaults)


def spread_spatial(descriptor: Node, bound: Bound) -> None:
    """`scale_factor=2.0` as `[2.0, 2.0]` for a 4-d input (see SPATIAL_LISTS)."""
    source = bound.values.get("input")
    for name in SPATIAL_LISTS.get(descriptor.id, ()):
        value = bound.values.get(name)
        if isinstance(source, GraphTensor) and isinstance(value, (int, float)) and not isinstance(value, bool):
            bound.values[name] = [float(value)] * max(1, len(source.shape) - 2)


def is_inplace_method(name: str) -> bool:
    return name.endswith("_") and not name.startswith("_")

