"""A checked graph becomes a real torch.nn.Module.

The shared walk emits a torch.fx graph: layers become submodules named by node id (so the state
dict reads `fc1.weight`), functions become calls, ports with a `path` become indexing into the
returned tuple. torch.fx turns that into Python source for `forward`, so the built module runs
as fast as a hand-written one, and state dicts, `.to()`, `torch.compile` and DDP work as usual.
Keras layers (on the torch backend, Keras layers are torch modules) are submodules like any other.
"""
from __future__ import annotations

import operator
from typing import Any

import torch
import torch.fx as fx

from nodecat.executor.graph.validate import CheckedGraph, CheckedNode
from nodecat.executor.graph.vocabulary import DTYPES
from nodecat.executor.build.walk import Walker

_DTYPES = {name: getattr(torch, name) for name in DTYPES}  # the dtypes graph inputs and constants take

# Globals of the forward source torch.fx generates. fx keeps a placeholder's name as the parameter
# name, so an input named `torch` would shadow the module the code calls; such inputs get a suffix
# (the module is called positionally, so the parameter's name is free).
_FX_GLOBALS = frozenset(("torch", "operator", "builtins", "math", "inf", "nan", "device", "fx_pytree",
                         "pytree", "NoneType", "typing", "getattr"))


def torch_dtype(name: str) -> torch.dtype:
    return _DTYPES[name]


class _FxWalker(Walker[fx.Node]):
    def __init__(self, checked: CheckedGraph):
        super().__init__(checked)
        self.root = torch.nn.Module()
        self.graph = fx.Graph()

    def graph_input(self, node: CheckedNode) -> fx.Node:
        name = node.id + "_input" if node.id in _FX_GLOBALS else node.id
        return _tag(self.graph.placeholder(name), node)

    def constant_value(self, node: CheckedNode) -> torch.Tensor:
        return torch.tensor(node.args["value"], dtype=torch_dtype(node.args.get("dtype", "float32")))

    def constant(self, node: CheckedNode) -> fx.Node:
        self.root.register_buffer(node.id, self.constant_value(node))  # a buffer, so .to() moves it
        return _tag(self.graph.get_attr(node.id), node)

    def call_layer(self, node: CheckedNode, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> fx.Node:
        self.root.add_module(node.id, instance)
        return _tag(self.graph.call_module(node.id, args, kwargs), node)

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
