"""One recorded call of a functional model bound to a catalog node's input ports and call arguments.

Keras records each call as `{"args": [...], "kwargs": {...}}` with tensors as `__keras_tensor__`
markers (the producing operation, its call and output index). The arguments are named by the
layer's (or operation's) `call` signature, so a tensor lands on the input port of that name, a list
of tensors on a merging port, a literal on an apply argument or, for a tensor port, on a
`constant` node. Call-context arguments (`training`) and masks Keras derives by itself are left out.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nodecat.executor.interop.keras_args import same
from nodecat.executor.graph.args import literal_arg_problems
from nodecat.executor.graph.vocabulary import DTYPES
from nodecat.introspector.model import Node

_DATA_MARKERS = ("__tensor__", "__numpy__")  # constant tensors recorded in a call


@dataclass(frozen=True)
class TensorRef:
    """A tensor of the model: output `tensor_index` of call `node_index` of operation `layer`."""

    layer: str
    node_index: int
    tensor_index: int


@dataclass(frozen=True)
class ConstantPlan:
    value: Any
    dtype: str


Source = TensorRef | ConstantPlan


class Unmappable(Exception):
    """One entry of the config the catalog cannot express; the message says why."""

    def __init__(self, call: str, reason: str):
        super().__init__(reason)
        self.call = call
        self.reason = reason


MaskOf = Callable[[TensorRef], TensorRef | None]  # the mask Keras attaches to a tensor, if any


@dataclass
class Binding:
    inputs: list[tuple[str, list[Source]]] = field(default_factory=list)  # port -> sources, in call order
    args: dict[str, Any] = field(default_factory=dict)  # literal call arguments
    arg_inputs: dict[str, Source] = field(default_factory=dict)  # call arguments a tensor edge feeds
    notes: list[str] = field(default_factory=list)


def bind_call(descriptor: Node, live: Any, call: dict[str, Any], mask_of: MaskOf) -> Binding:
    """One recorded call (`{"args": [...], "kwargs": {...}}`) as input ports and call arguments."""
    binding = Binding()
    named = _call_arguments(descriptor, live, call)
    _drop_call_context(binding, live, named)
    ports = {p.name: p for p in descriptor.inputs}
    for name, value in named.items():
        if value is None:
            continue
        port = ports.get(name)
        if port is not None and _is_tensors(value):
            refs = [_tensor_ref(v) for v in value] if isinstance(value, list) else [_tensor_ref(value)]
            if port.conns == 1 and isinstance(value, list):
                raise Unmappable(descriptor.id, f"input {name} gets a list of {len(value)} tensors, but the "
                                 "catalog's port takes one")
            binding.inputs.append((name, list(refs)))
        elif port is not None and (constant := _constant(value)) is not None:
            binding.inputs.append((name, [constant]))
        elif port is not None:
            raise Unmappable(descriptor.id, f"input {name} gets {_short(value)}, which is neither tensors nor numbers "
                             "(a slice, for instance); graph edges carry tensors")
        elif _is_tensor(value) and _takes_tensor_edge(descriptor, name):
            binding.arg_inputs[name] = _tensor_ref(value)
        else:
            _literal_call_arg(binding, descriptor, name, value)
    _drop_implicit_mask(binding, mask_of)
    return binding


def _drop_implicit_mask(binding: Binding, mask_of: MaskOf) -> None:
    """Keras records the mask a layer received from its input (Embedding(mask_zero=True) makes one)
    as an explicit `mask` argument. When the graph's layer gets that same input, Keras hands it the
    same mask again, so the edge is left out and the graph reads as the model was written."""
    first = next((s for _, sources in binding.inputs for s in sources if isinstance(s, TensorRef)), None)
    implicit = mask_of(first) if first is not None else None
    binding.inputs = [(port, sources) for port, sources in binding.inputs
                   if not (port == "mask" and implicit is not None and sources == [implicit])]


def _drop_call_context(binding: Binding, live: Any, named: dict[str, Any]) -> None:
    """Keras records the call-context arguments (`training`) of every call, but a functional model
    replaces them with the mode it runs in (fit, predict, model(x, training=...)), as the executor
    does: they are not part of the node."""
    for name in sorted(getattr(live, "_call_context_args", ())):
        value = named.pop(name, None)
        if value not in (None, False):
            binding.notes.append(f"the call records {name}={value!r}; like Keras when it runs the model in a "
                              f"given mode, the graph uses the run's {name} instead")


def _call_arguments(descriptor: Node, live: Any, call: dict[str, Any]) -> dict[str, Any]:
    """The recorded positional and keyword arguments of one call, by the call signature's names."""
    args, kwargs = call.get("args", []), call.get("kwargs", {})
    try:
        parameters = [p for p in inspect.signature(live.call).parameters.values()]
    except (TypeError, ValueError):
        raise Unmappable(descriptor.id, "its call signature cannot be read") from None
    named: dict[str, Any] = {}
    for position, value in enumerate(args):
        if position >= len(parameters) or parameters[position].kind not in (
                inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            raise Unmappable(descriptor.id, f"positional argument #{position} of the call has no named parameter")
        named[parameters[position].name] = value
    named.update(kwargs)
    return named


def _takes_tensor_edge(descriptor: Node, name: str) -> bool:
    """A call argument an edge from a node's output may feed (keras.ops.where's `condition`)."""
    arg = descriptor.arg(name)
    return arg is not None and arg.stage == "apply" and not arg.hidden and arg.accepts_edge


def _literal_call_arg(binding: Binding, descriptor: Node, name: str, value: Any) -> None:
    arg = descriptor.arg(name)
    if arg is not None and arg.hidden:
        raise Unmappable(descriptor.id, f"the call fixes {name}={value!r}; graphs set {name} at run time "
                         "(inference or training), not per node")
    if arg is None or arg.stage != "apply" or _has_marker(value):
        raise Unmappable(descriptor.id, f"call argument {name}={_short(value)} has no input port or call argument "
                         "in the catalog to take it")
    problems = list(literal_arg_problems(descriptor, {name: value}, "", []))
    if problems:
        raise Unmappable(descriptor.id, "; ".join(p.message for p in problems))
    if not (arg.has_default and same(arg.default, value)):
        binding.args[name] = value


def _is_tensors(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_is_tensor(v) for v in value)
    return _is_tensor(value)


def _is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _tensor_ref(value: dict[str, Any]) -> TensorRef:
    history = value.get("config", {}).get("keras_history")
    if not (isinstance(history, list) and len(history) == 3 and isinstance(history[0], str)):
        raise Unmappable("__keras_tensor__", f"a tensor without a readable history ({history!r})")
    return TensorRef(history[0], int(history[1]), int(history[2]))


def _constant(value: Any) -> ConstantPlan | None:
    """A literal passed where the call takes a tensor (`keras.ops.add(x, 1.0)`), as a constant."""
    if isinstance(value, dict) and value.get("class_name") in _DATA_MARKERS:
        config = value.get("config", {})
        dtype = config.get("dtype", "float32")
        return ConstantPlan(config.get("value"), dtype) if dtype in DTYPES and _numeric(config.get("value")) else None
    if not _numeric(value):
        return None
    return ConstantPlan(value, _literal_dtype(value))


def _numeric(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_numeric(v) for v in value)
    return isinstance(value, (int, float, bool))


def _literal_dtype(value: Any) -> str:
    """Python scalars as Keras converts them: bool, int32 for integers, float32 for floats."""
    items = _leaves(value)
    if all(isinstance(x, bool) for x in items):
        return "bool"
    if all(isinstance(x, int) and not isinstance(x, bool) for x in items):
        return "int32"
    return "float32"


def _leaves(value: Any) -> list[Any]:
    return [x for item in value for x in _leaves(item)] if isinstance(value, list) else [value]


def _has_marker(value: Any) -> bool:
    if isinstance(value, dict):
        return True
    return isinstance(value, list) and any(_has_marker(v) for v in value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
