"""fx nodes in, graph nodes out: the walk over a traced model that builds the imported graph.

Every fx node gets a value (see torch_values): folded when it does not depend on the inputs'
data, otherwise mapped to catalog nodes. A node that cannot be mapped is recorded as `Unmapped`
and the walk goes on with a stand-in of the traced shape, so that the calls after it are checked
too and one import reports every call that cannot be mapped.
"""
from __future__ import annotations

import operator
from collections import Counter
from typing import Any

import numpy as np
import torch
import torch.fx as fx
from torch.fx.node import map_arg

from nodecat.executor.interop import torch_shape_ops as shape_ops
from nodecat.executor.interop.imported import GraphBuilder, ImportNote, Unmapped, output_names
from nodecat.executor.interop.torch_args import LayerSpec, recover_layer
from nodecat.executor.interop.torch_calls import (CAST_METHODS, IDENTITY_METHODS, OPERATORS, SPLIT_FUNCTIONS,
                                          VARARG_METHODS, Bound, bind, call_name, function_node,
                                          is_inplace_method, method_node, spread_spatial)
from nodecat.executor.interop.torch_catalog import TorchCatalog
from nodecat.executor.interop.torch_constants import Constants, Source
from nodecat.executor.interop.torch_trace import Runs, Traced
from nodecat.executor.interop.torch_values import (FAILED, GraphTensor, JsonValue, LayerResult, Open, Failed, contains,
                                           flatten_outputs, graph_tensor, merge, phantom, same_literal, short,
                                           to_literal)
from nodecat.executor.graph.args import literal_arg_problems
from nodecat.executor.graph.values import value_kind
from nodecat.introspector.model import Node

PHANTOM = "?"  # the node of values that stand for an unmapped call's result
_PARAMETER_NOTE = "parameter {} imported as a constant: exact for inference, not trained"
_BUFFER_NOTE = "buffer {} imported as a constant"
_COMPUTED_NOTE = "computed once when importing (it does not depend on the inputs) and imported as a constant"


class Converter:
    def __init__(self, traced: Traced, runs: Runs, catalog: TorchCatalog, name: str):
        self.traced = traced
        self.runs = runs
        self.catalog = catalog
        self.builder = GraphBuilder(name, {"torch": catalog.version})
        self.env: dict[str, Any] = {}
        self.unmapped: list[Unmapped] = []
        self.notes: list[ImportNote] = []
        self.weights: dict[str, np.ndarray] = {}
        self.constants = Constants(self.builder, self.weights, self.notes)
        self.specs: dict[tuple[Any, ...], LayerSpec | Unmapped] = {}
        self.shared: set[str] = set()  # modules called more than once, noted
        self.calls = Counter(str(n.target) for n in traced.graph.nodes if n.op == "call_module")
        self.order = {n: i for i, n in enumerate(traced.graph.nodes)}

    # -- the walk ----------------------------------------------------------------------------
    def convert(self) -> list[Unmapped]:
        for n in self.traced.graph.nodes:
            value = self.visit(n)
            if isinstance(value, Unmapped):
                self.unmapped.append(value)
                value = phantom(PHANTOM, self.runs.traced.get(n.name), self.runs.other.get(n.name))
            self.env[n.name] = value
        return self.unmapped

    def visit(self, n: fx.Node) -> Any:
        if n.op == "output":
            return self.output(n)
        if n.name not in self.runs.dependent:
            return self.folded(n)
        if n.op == "placeholder":
            return self.placeholder(n)
        args, kwargs = map_arg(n.args, self.lookup), map_arg(n.kwargs, self.lookup)
        if contains((args, kwargs), (Failed,)):
            return FAILED  # reads a value of unknown form that could not be mapped (reported already)
        if n.op == "call_module":
            return self.call_module(n, args, kwargs)
        if n.op == "call_function":
            return self.call_function(n, args, kwargs)
        return self.call_method(n, args, kwargs)

    def lookup(self, n: fx.Node) -> Any:
        return self.env[n.name]

    def where(self, n: fx.Node) -> str:
        """The model's name for an fx node: a module path, or the fx name inside its module."""
        if n.op == "call_module":
            return str(n.target)
        path = self.module_path(n)
        return f"{path}.{n.name}" if path else n.name

    def module_path(self, n: fx.Node) -> str:
        stack = n.meta.get("nn_module_stack") or {}
        return str(list(stack.values())[-1][0]) if stack else ""

    def wanted_id(self, n: fx.Node, short: str) -> str:
        path = self.module_path(n)
        return f"{path}.{short}" if path else short

    def result(self, n: fx.Node, node_id: str, descriptor: Node) -> Any:
        """What a node's call gives: one port's tensor, or a tuple its ports index into."""
        traced, other = self.runs.traced[n.name], self.runs.other[n.name]
        outputs = descriptor.outputs
        if len(outputs) == 1 and not outputs[0].path:
            tensor = graph_tensor(node_id, outputs[0].name, traced, other)
            if tensor is not None:
                return tensor
        return LayerResult(node_id, descriptor.id, (), outputs, traced, other)

    def retag(self, n: fx.Node, value: GraphTensor) -> GraphTensor:
        """The same graph value, with the shape the fx node has (an op that needs no node)."""
        found = graph_tensor(value.node, value.port, self.runs.traced[n.name], self.runs.other[n.name])
        return found if found is not None else value

    # -- values known when importing -----------------------------------------------------------
    def folded(self, n: fx.Node) -> Any:
        value = merge(self.runs.traced[n.name], self.runs.other[n.name], self.where(n))
        if isinstance(value, torch.Tensor):
            if n.op == "get_attr":
                note = (_PARAMETER_NOTE if isinstance(value, torch.nn.Parameter) else _BUFFER_NOTE).format(n.target)
                self.constants.name(value, str(n.target), note)
            else:
                self.constants.name(value, self.wanted_id(n, n.name), _COMPUTED_NOTE)
        return value

    def placeholder(self, n: fx.Node) -> Any:
        name = str(n.target)
        spec = self.traced.specs[name]
        node_id = self.builder.add_node(name, "input", {"shape": spec.graph_shape(), "dtype": spec.dtype}, origin=name)
        return graph_tensor(node_id, "output", self.runs.traced[n.name], self.runs.other[n.name])

    # -- one catalog node ----------------------------------------------------------------------
    def emit(self, n: fx.Node, descriptor: Node, bound: Bound, wanted: str,
             literals: dict[str, JsonValue] | None = None, fed: frozenset[str] = frozenset()) -> str | Unmapped:
        """Add the node a call becomes, wired to its inputs; its id, or why it cannot be added."""
        where, call = self.where(n), descriptor.id
        ports = {p.name: p for p in descriptor.inputs}
        args: dict[str, JsonValue] = dict(literals or {})
        wiring: list[tuple[str, Any]] = []
        for name, value in bound.values.items():
            if name in ports:
                if value is not None:
                    wiring.append((name, value))
                continue
            if name in bound.defaults and _same_value(value, bound.defaults[name]):
                continue  # what the callable does anyway
            arg = descriptor.arg(name)
            if arg is None or arg.hidden:
                return Unmapped(where, call, f"argument {name}={short(value)} has no place in the catalog's {call}")
            literal, why = _literal(arg.schema, value)
            if why:
                return Unmapped(where, call, f"argument {name!r} {why}")
            args[name] = literal
        problems = list(literal_arg_problems(descriptor, args, where, []))
        if problems:
            return Unmapped(where, call, problems[0].message)
        given = {name for name, _ in wiring}
        missing = [p.name for p in descriptor.inputs if p.required and p.name not in given] + \
                  [a.name for a in descriptor.args if a.required and a.name not in args and a.name not in fed]
        if missing:
            return Unmapped(where, call, f"no value for required {', '.join(missing)}")
        if _mutates(descriptor, args) and self.read_again(n):
            return Unmapped(where, call, "changes its input in place and the model reads that input again "
                                         "afterwards; the graph would give that reader the unchanged value")
        sources = self.wire(wiring, ports, wanted, _float_dtype(bound))
        if isinstance(sources, str):
            return Unmapped(where, call, sources)
        node_id = self.builder.add_node(wanted, descriptor.id, args, origin=where)
        for (source_node, source_port), port in sources:
            self.builder.add_edge(source_node, node_id, port=port, source_port=source_port)
        return node_id

    def read_again(self, n: fx.Node) -> bool:
        """Whether the first input of `n` is read by another node after `n` runs."""
        first = n.args[0] if n.args and isinstance(n.args[0], fx.Node) else None
        return first is not None and any(u is not n and self.order[u] > self.order[n] for u in first.users)

    def wire(self, wiring: list[tuple[str, Any]], ports: dict[str, Any], wanted: str,
             float_dtype: str) -> list[tuple[Source, str]] | str:
        sources: list[tuple[Source, str]] = []
        for name, value in wiring:
            many = isinstance(value, (list, tuple))
            if many and ports[name].conns == 1:
                return f"input {name!r} takes one tensor, the call passes {len(value)} values"
            for item in value if many else [value]:
                source = self.constants.source(item, f"{wanted}.{name}", float_dtype)
                if isinstance(source, str):
                    return f"input {name!r} {source}"
                sources.append((source, name))
        return sources

    # -- layers ----------------------------------------------------------------------------------
    def layer_spec(self, module: torch.nn.Module, where: str) -> LayerSpec | Unmapped:
        """Recovered once per distinct configuration (a ResNet repeats a few dozen times)."""
        key = (type(module), repr(module),
               tuple((k, tuple(v.shape), v.dtype) for k, v in module.state_dict().items()))
        found = self.specs.get(key)
        if found is None:
            found = self.specs[key] = recover_layer(module, self.catalog, where)
        if isinstance(found, Unmapped):
            return Unmapped(where, found.call, found.reason)
        return found

    def call_module(self, n: fx.Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        path = str(n.target)
        module = self.traced.model.get_submodule(path)
        spec = self.layer_spec(module, path)
        if isinstance(spec, Unmapped):
            return spec
        bound = bind(module.forward, spec.descriptor, args, kwargs)
        if bound is None:
            return Unmapped(path, spec.descriptor.id, "the call does not fit the signature of its forward")
        handed = {arg: self.handed_layer(sub, f"{path}.{arg}") for arg, sub in spec.handed.items()}
        node_id = self.emit(n, spec.descriptor, bound, path, spec.args, frozenset(spec.handed))
        if isinstance(node_id, Unmapped):
            return node_id
        for arg, source in handed.items():
            self.builder.add_edge(source, node_id, arg=arg, source_port=None)
        for key, tensor in module.state_dict().items():
            self.weights[f"{node_id}.{key}"] = tensor.detach().cpu().numpy()
        if type(module) is not spec.cls:
            self.notes.append(ImportNote(node_id, f"{type(module).__qualname__} imported as {spec.descriptor.id}, "
                                                  "the catalog class it derives from (it changes only __init__)"))
        if self.calls[path] > 1 and any(True for _ in module.parameters()) and path not in self.shared:
            self.shared.add(path)
            self.notes.append(ImportNote(node_id, f"module {path} is called {self.calls[path]} times: each call is "
                                                  "a node with its own copy of the weights (they train apart)"))
        return self.result(n, node_id, spec.descriptor)

    def handed_layer(self, spec: LayerSpec, wanted: str) -> str:
        """A layer built but not applied, handed to another layer's constructor argument."""
        node_id = self.builder.add_node(wanted, spec.descriptor.id, spec.args, origin=wanted)
        for arg, sub in spec.handed.items():
            self.builder.add_edge(self.handed_layer(sub, f"{wanted}.{arg}"), node_id, arg=arg, source_port=None)
        return node_id

    # -- functions, operators and methods ----------------------------------------------------
    def call_function(self, n: fx.Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        fn = n.target
        if fn is operator.getitem:
            return shape_ops.getitem(self, n, args[0], args[1])
        mapped = function_node(self.catalog, fn)
        if mapped is None:
            return Unmapped(self.where(n), call_name(fn), f"not in the torch {self.catalog.version} catalog")
        descriptor, extra = mapped
        if descriptor.id == "torch.reshape":
            return shape_ops.reshape(self, n, args[0] if args else kwargs.get("input"))
        own = fn not in OPERATORS and self.catalog.function_for(fn) is descriptor
        return self.call_catalog_function(n, descriptor, fn if own else self.catalog.resolve(descriptor.id),
                                          args, kwargs, extra)

    def call_method(self, n: fx.Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        name, value = str(n.target), args[0]
        call = f"torch.Tensor.{name}"
        if not isinstance(value, GraphTensor):
            return Unmapped(self.where(n), call, "is called on a value that is not one tensor")
        if is_inplace_method(name):
            return Unmapped(self.where(n), call, "in-place methods are not imported (the traced graph does not "
                                                 "see the change); use the out-of-place form")
        if name in IDENTITY_METHODS:
            return self.retag(n, value)
        if name in CAST_METHODS:
            result = graph_tensor(value.node, value.port, self.runs.traced[n.name], self.runs.other[n.name])
            if result is not None and result.dtype == value.dtype and result.shape == value.shape:
                return result  # already of that dtype: nothing to do
            return Unmapped(self.where(n), call, f"casts to another dtype (or device); the torch "
                                                 f"{self.catalog.version} catalog has no cast op")
        if name in ("view", "reshape", "view_as", "reshape_as"):
            return shape_ops.reshape(self, n, value)
        if name == "squeeze" and len(args) == 1 and not kwargs:
            return shape_ops.squeeze_all(self, n, value)
        descriptor = method_node(self.catalog, name)
        if descriptor is None:
            return Unmapped(self.where(n), call, f"not in the torch {self.catalog.version} catalog")
        if name in VARARG_METHODS and (len(args) > 2 or (len(args) == 2 and isinstance(args[1], (int, Open)))):
            args = (value, tuple(args[1:]))  # x.permute(0, 2, 1) is x.permute((0, 2, 1))
        return self.call_catalog_function(n, descriptor, self.catalog.resolve(descriptor.id), args, kwargs, {})

    def call_catalog_function(self, n: fx.Node, descriptor: Node, signature_of: Any, args: tuple[Any, ...],
                              kwargs: dict[str, Any], extra: dict[str, Any]) -> Any:
        bound = bind(signature_of, descriptor, args, kwargs)
        if bound is None:
            return Unmapped(self.where(n), descriptor.id, "the call matches no signature of the function")
        bound.values.update(extra)
        if descriptor.name in SPLIT_FUNCTIONS:
            return shape_ops.split(self, n, descriptor, bound)
        spread_spatial(descriptor, bound)
        node_id = self.emit(n, descriptor, bound, self.wanted_id(n, descriptor.name))
        return node_id if isinstance(node_id, Unmapped) else self.result(n, node_id, descriptor)

    # -- outputs -----------------------------------------------------------------------------------
    def output(self, n: fx.Node) -> Any:
        value = map_arg(n.args[0], self.lookup)
        if contains(value, (Failed,)):
            return FAILED
        flat = flatten_outputs(value)
        names = output_names(len(flat))
        sources = []
        for name, item in zip(names, flat):
            source = self.constants.source(item, name, "float32")
            if isinstance(source, str):
                return Unmapped("output", "return", f"output {name!r} {source}")
            sources.append((name, source))
        for name, (node, port) in sources:
            self.builder.add_output(name, node, port)
        return None


def _mutates(descriptor: Node, args: dict[str, JsonValue]) -> bool:
    """The node changes its input (`ReLU(inplace=True)`), as the catalog's `copy` option says."""
    copy = descriptor.call.get("copy")
    if isinstance(copy, dict):
        return bool(args.get(copy.get("when_arg", ""), False))
    return bool(copy)


def _float_dtype(bound: Bound) -> str:
    """Python floats in a call become constants of the call's float tensors' precision."""
    for value in bound.values.values():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, GraphTensor) and item.dtype == torch.float64:
                return "float64"
    return "float32"


def _literal(schema: dict[str, Any] | None, value: Any) -> tuple[JsonValue, str]:
    if isinstance(value, torch.Tensor) and value_kind(schema) == "tensor":
        return value.detach().cpu().tolist(), ""
    return to_literal(value)


def _same_value(value: Any, default: Any) -> bool:
    if value is default:
        return True
    if isinstance(value, (GraphTensor, LayerResult, torch.Tensor, Open)) or isinstance(default, torch.Tensor):
        return False
    mine, why = to_literal(value)
    theirs, why_not = to_literal(default)
    return not why and not why_not and same_literal(mine, theirs)
