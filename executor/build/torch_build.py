"""A checked graph becomes a real torch.nn.Module.

The shared walk emits a torch.fx graph: layers become submodules named by node id (so the state
dict reads `fc1.weight`), functions become calls, ports with a `path` become indexing into the
returned tuple. An id that is a keyword or an attribute of the module (`meta`, `train`, `to`)
is an attribute of another name inside the module (`meta_`), and the state dict still says `meta`.
torch.fx turns that into Python source for `forward`, so the built module runs as fast as a
hand-written one, and state dicts, `.to()`, `torch.compile` and DDP work as usual.
Keras layers (on the torch backend, Keras layers are torch modules) are submodules like any other.
"""
from __future__ import annotations

import keyword
import operator
from typing import Any

import torch
import torch.fx as fx

from nodecat.executor.graph.validate import CheckedGraph, CheckedNode
from nodecat.executor.graph.vocabulary import DTYPES, RESERVED_IDS
from nodecat.executor.build.names import python_names
from nodecat.executor.build.walk import Walker

_DTYPES = {name: getattr(torch, name) for name in DTYPES}  # the dtypes graph inputs and constants take

# Globals of the forward source torch.fx generates. fx keeps a placeholder's name as the parameter
# name, so an input named `torch` would shadow the module the code calls, and one named `class`
# or `self` would not compile; such inputs get another parameter name (the module is called
# positionally, so the parameter's name is free).
_FX_GLOBALS = frozenset(("torch", "operator", "builtins", "math", "inf", "nan", "device", "fx_pytree",
                         "pytree", "NoneType", "typing", "getattr"))
# fx names a submodule's call after its attribute, so an attribute `self` would rebind `self` in forward.
_UNUSABLE_ATTRIBUTES = RESERVED_IDS | {"self"}
_UNUSABLE_PARAMETERS = _FX_GLOBALS | {"self"} | {name for name in RESERVED_IDS if keyword.iskeyword(name)}


def torch_dtype(name: str) -> torch.dtype:
    return _DTYPES[name]


class _FxWalker(Walker[fx.Node]):
    def __init__(self, checked: CheckedGraph):
        super().__init__(checked)
        self.root = torch.nn.Module()
        self.graph = fx.Graph()
        ids = [n.id for n in checked.order]
        self.attributes = python_names(ids, _UNUSABLE_ATTRIBUTES)  # node id -> submodule or buffer name
        self.parameters = python_names(ids, _UNUSABLE_PARAMETERS)  # node id -> forward parameter

    def graph_input(self, node: CheckedNode) -> fx.Node:
        return _tag(self.graph.placeholder(self.parameters[node.id]), node)

    def constant_value(self, node: CheckedNode) -> torch.Tensor:
        return torch.tensor(node.args["value"], dtype=torch_dtype(node.args.get("dtype", "float32")))

    def constant(self, node: CheckedNode) -> fx.Node:
        name = self.attributes[node.id]
        self.root.register_buffer(name, self.constant_value(node))  # a buffer, so .to() moves it
        return _tag(self.graph.get_attr(name), node)

    def call_layer(self, node: CheckedNode, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> fx.Node:
        name = self.attributes[node.id]
        self.root.add_module(name, instance)
        return _tag(self.graph.call_module(name, args, kwargs), node)

    def call_function(self, node: CheckedNode, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> fx.Node:
        return _tag(self.graph.call_function(fn, args, kwargs), node)

    def index(self, value: fx.Node, position: int) -> fx.Node:
        return self.graph.call_function(operator.getitem, (value, position))

    def clone(self, value: fx.Node) -> fx.Node:
        return self.graph.call_method("clone", (value,))

    def module(self) -> fx.GraphModule:
        outputs = self.walk()
        self.graph.output(outputs[0] if len(outputs) == 1 else tuple(outputs))
        module = NodecatModule(self.root, self.graph, class_name=_class_name(self.checked.graph.name))
        for name, child in module.named_children():
            module.__dict__[name] = child  # see NodecatModule
        module.input_names = [n.id for n in self.checked.inputs]
        module.output_names = [o.name for o in self.checked.graph.outputs]
        renamed = {name: node_id for node_id, name in self.attributes.items() if name != node_id}
        if renamed:
            module.register_state_dict_post_hook(StateNames(renamed))
            module.register_load_state_dict_pre_hook(StateNames({v: k for k, v in renamed.items()}))
        return module


class NodecatModule(fx.GraphModule):
    """A GraphModule whose submodules are also plain instance attributes.

    The generated forward reads `self.fc1`; on an nn.Module that lookup goes through the slow
    `__getattr__` fallback, which costs about a fifth of the speed of a graph of many small layers
    at batch 1. With the submodule in the instance `__dict__` it is an ordinary attribute, while
    `_modules` still owns it (state dict, `.to()`, parameters). Assigning a submodule goes through
    nn.Module.__setattr__, which removes the `__dict__` entry; deleting one removes it here.
    """

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        self.__dict__.pop(name, None)


class StateNames:
    """Renames the state dict keys of submodules and buffers: `StateNames(ids)` (attribute -> node
    id) after `state_dict()`, `StateNames(attributes)` (node id -> attribute) before `load_state_dict`.

    So `state_dict()` says `meta.weight` for the submodule at attribute `meta_`, `load_state_dict`
    takes `meta.weight` back, and weights files are named by node id whatever the attribute. A
    callable object, not a closure: a deep copy of the module keeps its hooks."""

    def __init__(self, names: dict[str, str]):
        self.names = dict(names)

    def __call__(self, module: torch.nn.Module, state: dict[str, Any], prefix: str, *_: Any) -> None:
        def renamed(key: str) -> str:
            if not key.startswith(prefix):
                return key
            head, dot, tail = key[len(prefix):].partition(".")
            return prefix + self.names[head] + dot + tail if head in self.names else key
        items = [(renamed(key), value) for key, value in state.items()]
        state.clear()  # in place and in order: the caller holds this dict
        state.update(items)


def _tag(fx_node: fx.Node, node: CheckedNode) -> fx.Node:
    fx_node.meta["nodecat_id"] = node.id  # shape inference and error reports map fx nodes back
    return fx_node


def _class_name(name: str) -> str:
    words = "".join(ch if ch.isalnum() else " " for ch in name).split()
    name = "".join(w[:1].upper() + w[1:] for w in words)
    return name if name[:1].isalpha() else "NodecatGraph" + name


def build_torch_module(checked: CheckedGraph, device: torch.device | str = "cpu") -> fx.GraphModule:
    """The graph as an nn.Module on `device` (parameters are created there directly)."""
    with torch.device(device):
        module = _FxWalker(checked).module()
    return module.to(device)
