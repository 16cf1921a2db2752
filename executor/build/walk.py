"""The one walker both backends share: nodes in topological order, inputs gathered per port.

A backend says how to make a graph input, a constant, a layer call, a function call, an index
into a tuple result and a clone; the walker decides everything else the same way for both:
a port is passed positionally while it is the next positional parameter of the layer's call
signature and by keyword from then on, a port that merges several edges gets a list in edge
order, a port with a `path` indexes into the result, and a node that mutates its input gets a
clone when that input has other readers.
"""
from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any, Generic, TypeVar

from nodecat.executor.graph.errors import NodeError, short_error
from nodecat.executor.build.resolve import resolve
from nodecat.executor.graph.validate import CheckedGraph, CheckedNode, Source
from nodecat.executor.graph.values import keras_value, torch_value, value_kind

Value = TypeVar("Value")


class Walker(Generic[Value]):
    def __init__(self, checked: CheckedGraph):
        self.checked = checked
        self.results: dict[str, Value] = {}  # node id -> the raw result of its call
        self.ports: dict[tuple[str, str], Value] = {}
        self.instances: dict[str, Any] = {}

    # -- what a backend provides ---------------------------------------------------------------
    def graph_input(self, node: CheckedNode) -> Value:
        raise NotImplementedError

    def constant(self, node: CheckedNode) -> Value:
        raise NotImplementedError

    def constant_value(self, node: CheckedNode) -> Any:
        """A constant as a concrete value, for constructor arguments an edge feeds."""
        raise NotImplementedError

    def call_layer(self, node: CheckedNode, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Value:
        raise NotImplementedError

    def call_function(self, node: CheckedNode, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Value:
        raise NotImplementedError

    def index(self, value: Value, position: int) -> Value:
        raise NotImplementedError

    def make_instance(self, node: CheckedNode, cls: Any, extra: dict[str, Any]) -> Any:
        return instantiate(node, cls, extra)

    def clone(self, value: Value) -> Value:
        return value

    # -- the walk ------------------------------------------------------------------------------
    def walk(self) -> list[Value]:
        """Every node in order; the declared graph outputs, in declared order."""
        for node in self.checked.order:
            self.visit(node)
        return [self.port(Source(o.node, o.port, -1)) for o in self.checked.graph.outputs]

    def visit(self, node: CheckedNode) -> None:
        kind = node.descriptor.kind
        if kind == "input":
            self.results[node.id] = self.graph_input(node)
            return
        if kind == "constant":
            self.results[node.id] = self.constant(node)
            return
        target = resolve(node.descriptor, node.id, node.pointer)
        fed = {stage: {name: source for name, source in node.arg_edges.items()
                       if (arg := node.descriptor.arg(name)) is not None and arg.stage == stage}
               for stage in ("init", "apply")}
        # an argument fed by an edge gets the value the edge carries, like a literal of its stage
        applied_args = {**call_kwargs(node, "apply"),
                        **{name: self.edge_value(source) for name, source in fed["apply"].items()}}
        if node.descriptor.call.get("instantiate"):
            extra = {name: self.arg_value(source) for name, source in fed["init"].items()}
            instance = self.make_instance(node, target, extra)
            self.instances[node.id] = instance
            if node.applied:
                args, kwargs = self.gather_inputs(node, target)
                self.results[node.id] = self.call_layer(node, instance, args, {**kwargs, **applied_args})
        else:
            ports = {p.name: self.port_value(node, p.name) for p in node.descriptor.inputs if p.name in node.inputs}
            args, kwargs = bind_function_call(target, ports, applied_args,
                                              tuple(a.name for a in node.descriptor.args))
            self.results[node.id] = self.call_function(node, target, args, kwargs)

    def edge_value(self, source: Source) -> Any:
        """What an edge into a call argument carries: a layer instance, or a value in the graph."""
        return self.instances[source.node] if source.port is None else self.port(source)

    def arg_value(self, source: Source) -> Any:
        """What an edge into a constructor argument carries: known when the model is built."""
        if source.port is None:
            return self.instances[source.node]
        return self.constant_value(self.checked.node(source.node))  # validation lets only constants feed one

    def port_value(self, node: CheckedNode, name: str) -> Any:
        """What an input port receives: one value, or a list in edge order when it merges edges."""
        port = next(p for p in node.descriptor.inputs if p.name == name)
        values = [self.port(s, clone=copies_input(node)) for s in node.inputs[name]]
        return values[0] if port.conns == 1 else values

    def gather_inputs(self, node: CheckedNode, cls: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """A layer's connected ports: positional while each is the next positional parameter of
        the class's call method (torch `forward`, Keras `call`), by keyword from the first that is not.

        The descriptor's port order need not be the signature's: `TimeDistributed.call(inputs,
        training=None, mask=None)` has ports (inputs, mask), so a mask counted by port position
        would land in `training`. `cls` is the resolved class, not the instance (the code
        generator's instance is a string). Where the signature cannot be read, takes `*args`, or
        does not name the port, the port's own position decides, as it did before."""
        names = _call_signature(cls, node.descriptor.library)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for position, port in enumerate(node.descriptor.inputs):
            if port.name not in node.inputs:
                continue
            value = self.port_value(node, port.name)
            if names is None or port.name not in names[1]:
                next_slot = len(args) == position
            else:
                next_slot = len(args) < len(names[0]) and names[0][len(args)] == port.name
            if kwargs or not next_slot:
                kwargs[port.name] = value
            else:
                args.append(value)
        return tuple(args), kwargs

    def port(self, source: Source, clone: bool = False) -> Value:
        key = (source.node, str(source.port))
        found = self.ports.get(key)
        if found is None:
            found = self.results[source.node]
            producer = self.checked.node(source.node)
            port = next(p for p in producer.descriptor.outputs if p.name == source.port)
            for position in port.path:
                found = self.index(found, position)
            self.ports[key] = found
        if clone and self.checked.consumers.get(key, 0) > 1:
            return self.clone(found)  # an in-place node must not change what other nodes read
        return found


def bind_function_call(fn: Any, ports: dict[str, Any], literals: dict[str, Any],
                       arg_order: tuple[str, ...] = ()) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Arguments for a function call from its port values and literal arguments.

    Everything goes by keyword where the signature allows it, so literal arguments that come
    before a tensor in the signature (`torch.narrow(input, dim, start, length)`) cannot shift it.
    Positional-only parameters, and values that precede a `*args` port, go by position in
    signature order; a `*args` port is spread. Ports a signature does not name (wrappers taking
    `*args, **kwargs`) go first by position. Builtins without a signature take keywords.

    A signature that takes `*args` but no `**kwargs` accepts no keyword it does not name, so the
    literals it does not name go by position, first of all, in `arg_order` (the descriptor's
    argument order): `torch.einsum(*args)`, documented `einsum(equation, *operands)`, is called
    `einsum(equation, operands)` (torch takes the operands as one list too)."""
    named = {**ports, **literals}
    params = _parameters(fn)
    if params is None:
        return (), named
    known = {p.name for p in params}
    args = [value for name, value in ports.items() if name not in known]
    if any(p.kind is p.VAR_POSITIONAL for p in params) and not any(p.kind is p.VAR_KEYWORD for p in params):
        rank = {name: i for i, name in enumerate(arg_order)}
        leading = sorted((k for k in literals if k not in known and k not in ports),
                         key=lambda k: rank.get(k, len(rank)))  # stable: unknown names keep their order
        args = [named.pop(k) for k in leading] + args
    named = {k: v for k, v in named.items() if k in known or k not in ports}
    spread = next((p for p in params if p.kind is p.VAR_POSITIONAL and p.name in named), None)
    for param in params:
        if param is spread:
            args.extend(named.pop(param.name))
            break
        leading = spread is not None and param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD)
        if param.kind is param.POSITIONAL_ONLY or leading:
            if param.name not in named:
                break  # left at its default; what follows goes by keyword
            args.append(named.pop(param.name))
    return tuple(args), named


@lru_cache(maxsize=None)
def _parameters(fn: Any) -> tuple[inspect.Parameter, ...] | None:
    try:
        return tuple(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: torch's parser takes keywords
        return None


@lru_cache(maxsize=None)
def _call_signature(cls: Any, library: str) -> tuple[tuple[str, ...], frozenset[str]] | None:
    """The parameters of a layer class's call method, without `self`: the names that can go by
    position, in order, and every name; None when unreadable or when it takes `*args`. Keras
    layers are read at `call` (what `Layer.__call__` forwards positional and keyword args to);
    on the torch backend they also have a generic `forward(*args, **kwargs)`, so the library picks."""
    method = getattr(cls, "call" if library == "keras" else "forward", None)
    try:
        params = list(inspect.signature(method).parameters.values())[1:]  # unbound: drop self
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    positional = tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    return positional, frozenset(p.name for p in params)


def instantiate(node: CheckedNode, cls: Any, extra: dict[str, Any]) -> Any:
    """Construct a layer from its literal init arguments plus values fed by edges; a library error
    becomes a NodeError naming the node."""
    kwargs = call_kwargs(node, "init")
    kwargs.update(extra)
    if node.descriptor.library == "keras":
        kwargs["name"] = node.id  # Keras weights are then named <id>/kernel, like torch's <id>.weight
    try:
        return cls(**kwargs)
    except Exception as exc:  # any library error: reported with the node, never a bare traceback
        raise NodeError("node_failed", node.id, node.pointer,
                        f"{node.descriptor.id}({_kwargs_text(kwargs)}) failed: {short_error(exc)}",
                        f"check the arguments against `nodecat catalog show {node.descriptor.id}`") from exc


def call_kwargs(node: CheckedNode, stage: str) -> dict[str, Any]:
    """The node's literal arguments of one stage (init or apply), converted for its library."""
    convert = keras_value if node.descriptor.library == "keras" else torch_value
    out = {}
    for name, value in node.args.items():
        arg = node.descriptor.arg(name)
        if arg is not None and arg.stage == stage:
            out[name] = convert(value, value_kind(arg.schema))
    return out


def copies_input(node: CheckedNode) -> bool:
    """Whether the node mutates its input (call.copy true, or the argument it names set true)."""
    copy = node.descriptor.call.get("copy")
    if isinstance(copy, dict):
        return bool(node.args.get(copy.get("when_arg", ""), False))
    return bool(copy)


def _kwargs_text(kwargs: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return text if len(text) <= 200 else text[:197] + "..."


def describe_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """Input shapes as a user reads them: (2, 16) float32, lists in edge order."""
    def one(value: Any) -> str:
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(one(v) for v in value) + "]"
        shape = getattr(value, "shape", None)
        if shape is None:
            return repr(value)[:40]
        dims = ", ".join("?" if d is None else str(d) for d in tuple(shape))
        return f"({dims}) {getattr(value, 'dtype', '')}".rstrip()
    parts = [one(a) for a in args] + [f"{k}={one(v)}" for k, v in kwargs.items()]
    return ", ".join(parts) or "(none)"


def input_shape(node: CheckedNode, batch: int) -> tuple[int, ...]:
    return tuple(batch if d is None else d for d in node.args["shape"])
