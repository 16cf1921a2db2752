"""A checked graph as readable Python source: an `nn.Module` class, or a function building a `keras.Model`.

The generator is a third backend of the executor's one walker (`nodecat.executor.build.walk.Walker`), whose
values here are Python expressions. So the generated code binds ports exactly as the executor
does: positional until the first unconnected port and by keyword after it, merged ports as lists
in edge order, `path` ports as indexing into tuple results, a clone for an in-place node whose
input has other readers, and layer instances handed to other layers' arguments.

torch and mixed torch+Keras graphs become a module whose submodules and buffers are named by node
id, so the executor's weights (`fc1.weight`) load with `load_state_dict` unchanged. An id that
cannot be an attribute (a keyword, or a name nn.Module has: `to`, `train`) is an attribute of
another name (`to_`), and two state dict hooks in the generated file keep the state dict's keys
the ids. All-Keras graphs become `build_model()`, a functional model whose layers are named by
node id (`head/kernel`). Variables are named by id too, unless the id is a keyword or a name the
code uses.
"""
from __future__ import annotations

import functools
import json
import keyword
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.validate import CheckedGraph, CheckedNode
from nodecat.executor.build.names import python_names
from nodecat.executor.build.walk import Walker, call_kwargs

# Names the generated code itself uses; a node id equal to one of them gets a trailing underscore
# as its variable name (its submodule keeps the id, so weight names do not change).
_RESERVED_NAMES = frozenset({"self", "super", "os", "torch", "nn", "F", "keras", "load_file"})
# Variables cannot be keywords, nor hide the builtin a literal's code calls (`float("inf")`).
_UNUSABLE_VARIABLES = _RESERVED_NAMES | frozenset(keyword.kwlist) | {"float"}

# Call prefixes for catalog ids, longest first: (prefix of the id, prefix in the code, import line).
_ALIASES = (
    ("torch.nn.functional.", "F.", "import torch.nn.functional as F"),
    ("torch.nn.", "nn.", "from torch import nn"),
    ("torch.", "torch.", "import torch"),
    ("keras.", "keras.", "import keras"),
)

_WIDTH = 96  # docstrings are wrapped to this many columns


@dataclass(frozen=True)
class Expr:
    """Python source of a value in the generated code (a variable, an attribute, an indexing).

    Kept apart from `str` so that a literal string argument ("same") is never mistaken for code."""

    text: str


class _CodeWalker(Walker[Expr]):
    """What both generated layouts share: variable names, imports, literal values, call syntax."""

    def __init__(self, checked: CheckedGraph):
        super().__init__(checked)
        self.imports: set[str] = set()
        self.body: list[str] = []  # forward (torch) or build_model (Keras), one statement per line
        self.names = python_names([n.id for n in checked.order], _UNUSABLE_VARIABLES)  # node id -> variable
        self.read = {source for (source, _port), count in checked.consumers.items() if count}

    # -- literal values ----------------------------------------------------------------------
    def render(self, value: Any, node: CheckedNode) -> str:
        """Python source for an argument value: code, or a literal as the executor converted it."""
        if isinstance(value, Expr):
            return value.text
        if isinstance(value, str):
            return _string(value)
        if value is None or isinstance(value, (bool, int)):
            return repr(value)
        if isinstance(value, float):
            return repr(value) if math.isfinite(value) else f'float("{value}")'
        if isinstance(value, list):
            return "[" + ", ".join(self.render(v, node) for v in value) + "]"
        if isinstance(value, tuple):
            items = [self.render(v, node) for v in value]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{self.render(k, node)}: {self.render(v, node)}" for k, v in value.items()) + "}"
        return self._render_library_value(value, node)

    def _render_library_value(self, value: Any, node: CheckedNode) -> str:
        """torch dtypes, layouts, memory formats and tensors (Keras tensors are torch tensors on
        the torch backend); anything else cannot be written as source."""
        import torch
        if isinstance(value, (torch.dtype, torch.layout, torch.memory_format)):
            self.imports.add("import torch")
            return str(value)  # "torch.float32", "torch.strided", "torch.channels_last"
        if isinstance(value, torch.Tensor):
            return self._tensor_text(value, node)
        raise GraphError(GraphProblem(
            "unsupported_export", f"an argument value of {node.descriptor.id} ({type(value).__name__}) "
            "cannot be written as Python source", node.id, node.pointer))

    def _tensor_text(self, tensor: Any, node: CheckedNode) -> str:
        import torch
        values = _nested_numbers(tensor.detach().cpu().tolist(), float32=tensor.dtype == torch.float32)
        dtype = str(tensor.dtype).removeprefix("torch.")
        if node.descriptor.library == "keras":
            self.imports.add("import keras")
            return f'keras.ops.convert_to_tensor({values}, dtype="{dtype}")'
        self.imports.add("import torch")
        return f"torch.tensor({values}, dtype=torch.{dtype})"

    # -- calls -------------------------------------------------------------------------------
    def callee(self, node: CheckedNode) -> str:
        """The catalog id as code: torch.nn.Conv2d -> nn.Conv2d, torch.nn.functional.relu -> F.relu."""
        op = node.descriptor.id
        for prefix, alias, line in _ALIASES:
            if op.startswith(prefix):
                self.imports.add(line)
                module = op.rsplit(".", 1)[0]
                if prefix == "torch." and module != "torch":
                    self.imports.add(f"import {module}")  # a submodule `import torch` may not load
                return alias + op[len(prefix):]
        raise GraphError(GraphProblem("unsupported_export", f"{op} is not a torch or Keras name", node.id,
                                      node.pointer))

    def call_text(self, callee: str, node: CheckedNode, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        kwargs = _signature_order(node, kwargs)
        parts = [self.render(a, node) for a in args] + [f"{k}={self.render(v, node)}" for k, v in kwargs.items()]
        return f"{callee}({', '.join(parts)})"

    def constructor(self, node: CheckedNode, extra: dict[str, Any]) -> str:
        """The layer's construction, with keywords exactly as the executor passes them."""
        kwargs = {**call_kwargs(node, "init"), **extra}
        if node.descriptor.library == "keras":
            kwargs["name"] = node.id  # as the executor names Keras layers: weights are <id>/kernel
        return self.call_text(self.callee(node), node, (), kwargs)

    def assign(self, node: CheckedNode, call: str) -> Expr:
        """One statement per node; a result nothing reads is called without a name (no unused variable)."""
        if node.id not in self.read:
            self.body.append(f"{call}  # its result is not read")
            return Expr("None")
        name = self.names[node.id]
        self.body.append(f"{name} = {call}")
        return Expr(name)

    # -- the walker's backend methods both layouts share ---------------------------------------
    def graph_input(self, node: CheckedNode) -> Expr:
        return Expr(self.names[node.id])

    def call_function(self, node: CheckedNode, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Expr:
        return self.assign(node, self.call_text(self.callee(node), node, args, kwargs))

    def index(self, value: Expr, position: int) -> Expr:
        return Expr(f"{value.text}[{position}]")

    def clone(self, value: Expr) -> Expr:
        return Expr(f"{value.text}.clone()")  # the in-place node must not change what others read


def _signature_order(node: CheckedNode, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keywords in the order the library's signature lists them (ports, then arguments), as a person
    writes them: `nn.Conv2d(in_channels=3, out_channels=64, kernel_size=3, bias=False)`, not in
    the graph file's sorted order. Keyword order does not change the call."""
    names = [p.name for p in node.descriptor.inputs] + [a.name for a in node.descriptor.args]
    rank = {name: i for i, name in enumerate(names)}
    return dict(sorted(kwargs.items(), key=lambda item: rank.get(item[0], len(rank))))


class _TorchCode(_CodeWalker):
    """torch and mixed graphs: submodules and buffers in `__init__`, one line per node in `forward`."""

    def __init__(self, checked: CheckedGraph):
        super().__init__(checked)
        self.init: list[str] = []
        self.imports.update({"import torch", "from torch import nn"})
        # node id -> attribute of its submodule or buffer: the id, unless a keyword or nn.Module's
        self.attributes = python_names([n.id for n in checked.order], _module_attribute)
        self.owned: set[str] = set()  # nodes that have a submodule or buffer

    def constant_value(self, node: CheckedNode) -> Expr:
        self.imports.add("import torch")
        dtype = node.args.get("dtype", "float32")
        return Expr(f"torch.tensor({node.args['value']!r}, dtype=torch.{dtype})")

    def constant(self, node: CheckedNode) -> Expr:
        name = self.attributes[node.id]
        self.owned.add(node.id)
        self.init.append(f'self.register_buffer("{name}", {self.constant_value(node).text})')
        return Expr(f"self.{name}")  # a buffer, so .to() moves it and the state dict holds it

    def make_instance(self, node: CheckedNode, cls: Any, extra: dict[str, Any]) -> Expr:
        if not node.applied:  # handed to another layer: a local of __init__, not a submodule of its own
            name = self.names[node.id]
            self.init.append(f"{name} = {self.constructor(node, extra)}")
            return Expr(name)
        name = self.attributes[node.id]
        self.owned.add(node.id)
        self.init.append(f"self.{name} = {self.constructor(node, extra)}")
        return Expr(f"self.{name}")

    @property
    def renamed(self) -> dict[str, str]:
        """Attribute -> node id, for the submodules and buffers whose attribute is not their id."""
        return {name: node_id for node_id, name in self.attributes.items()
                if name != node_id and node_id in self.owned}

    def call_layer(self, node: CheckedNode, instance: Expr, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Expr:
        return self.assign(node, self.call_text(instance.text, node, args, kwargs))


class _KerasCode(_CodeWalker):
    """All-Keras graphs: the body of `build_model()`, over `keras.Input` tensors."""

    def __init__(self, checked: CheckedGraph):
        super().__init__(checked)
        self.imports.add("import keras")

    def graph_input(self, node: CheckedNode) -> Expr:
        shape = list(node.args["shape"])
        dtype = node.args.get("dtype", "float32")
        given = (f"shape={tuple(shape[1:])!r}" if shape and shape[0] is None
                 else f"batch_shape={tuple(shape)!r}")
        self.body.append(f'{self.names[node.id]} = keras.Input({given}, dtype="{dtype}", name="{node.id}")')
        return Expr(self.names[node.id])

    def constant_value(self, node: CheckedNode) -> Expr:
        dtype = node.args.get("dtype", "float32")
        return Expr(f'keras.ops.convert_to_tensor({node.args["value"]!r}, dtype="{dtype}")')

    def constant(self, node: CheckedNode) -> Expr:
        self.body.append(f"{self.names[node.id]} = {self.constant_value(node).text}")
        return Expr(self.names[node.id])

    def make_instance(self, node: CheckedNode, cls: Any, extra: dict[str, Any]) -> Expr:
        if node.applied:  # built where it is called: `head = keras.layers.Dense(...)(x)`
            return Expr(self.constructor(node, extra))
        name = self.names[node.id]
        self.body.append(f"{name} = {self.constructor(node, extra)}")
        return Expr(name)

    def call_layer(self, node: CheckedNode, instance: Expr, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Expr:
        return self.assign(node, self.call_text(instance.text, node, args, kwargs))


# -- the public function ---------------------------------------------------------------------------
def python_source(checked: CheckedGraph, graph_file: str | Path | None = None) -> str:
    """Readable Python source for the graph (ruff-clean), computing what the executor computes.

    `graph_file` is only named in the module docstring."""
    if checked.backend == "keras":
        return _keras_module(checked, graph_file)
    return _torch_module(checked, graph_file)


def _torch_module(checked: CheckedGraph, graph_file: str | Path | None) -> str:
    walker = _TorchCode(checked)
    outputs = walker.walk()
    name = class_name(checked.graph.name)
    uses_keras = any(n.descriptor.library == "keras" for n in checked.order)
    params = "".join(f", {walker.names[n.id]}: torch.Tensor" for n in checked.inputs)
    returns = "torch.Tensor" if len(outputs) == 1 else f"tuple[{', '.join(['torch.Tensor'] * len(outputs))}]"
    init = ["super().__init__()", *walker.init]
    renamed = walker.renamed
    if renamed:  # the state dict names these by node id, as nodecat's weights files do
        init += ["self.register_state_dict_post_hook(_keys_by_node_id)",
                 "self.register_load_state_dict_pre_hook(_keys_by_attribute)"]
    if uses_keras:
        init.append("self._build_keras_layers()")
    lines = [
        _module_docstring(checked, graph_file, f"{name}, a torch module", _TORCH_USAGE.format(cls=name)),
        *_import_block(walker.imports),
        "",
        "",
        f"class {name}(nn.Module):",
        *_indent(_docstring(_summary(checked, graph_file), 1)),
        "",
        "    def __init__(self) -> None:",
        *_indent(init, 2),
        "",
        f"    def forward(self{params}) -> {returns}:",
        *_indent([*walker.body, "return " + ", ".join(o.text for o in outputs)], 2),
    ]
    if uses_keras:
        lines += ["", *_indent(_keras_layer_builder(checked))]
    if renamed:
        lines += ["", "", *_state_dict_renaming(renamed)]
    lines += ["", "", *_torch_helpers(name)]
    return "\n".join(lines) + "\n"


_TORCH_USAGE = """\
The state dict names submodules and buffers by node id, so the weights nodecat writes (`nodecat export --to
torch`, `nodecat run --save-weights`) load with `load_state_dict` unchanged:
`model = load("weights.safetensors")`, or `model = {cls}()` for fresh weights."""


def _state_dict_renaming(renamed: dict[str, str]) -> list[str]:
    """Hooks that keep the state dict's keys the node ids where an attribute has another name."""
    pairs = ", ".join(f"{_string(a)}: {_string(i)}" for a, i in sorted(renamed.items()))
    return [
        "# Nodes whose id cannot be an attribute name (a keyword, or a name nn.Module has), by attribute.",
        "# The state dict names them by id, so the weights nodecat writes load unchanged.",
        f"_NODE_IDS = {{{pairs}}}",
        "_ATTRIBUTES = {node_id: name for name, node_id in _NODE_IDS.items()}",
        "",
        "",
        "def _rename_keys(state: dict, prefix: str, names: dict[str, str]) -> None:",
        '    """Rename, in place and in order, the keys under `prefix` whose first part `names` maps."""',
        "    items = []",
        "    for key, value in state.items():",
        '        head, dot, tail = key[len(prefix):].partition(".")',
        "        if key.startswith(prefix) and head in names:",
        "            key = prefix + names[head] + dot + tail",
        "        items.append((key, value))",
        "    state.clear()",
        "    state.update(items)",
        "",
        "",
        "def _keys_by_node_id(module: nn.Module, state: dict, prefix: str, local_metadata: dict) -> None:",
        '    """After state_dict(): attribute names become node ids."""',
        "    _rename_keys(state, prefix, _NODE_IDS)",
        "",
        "",
        "def _keys_by_attribute(module: nn.Module, state: dict, prefix: str, *args: object) -> None:",
        '    """Before load_state_dict(): node ids become attribute names."""',
        "    _rename_keys(state, prefix, _ATTRIBUTES)",
    ]


def _keras_layer_builder(checked: CheckedGraph) -> list[str]:
    """Keras layers create their weights on their first call: one call on zeros (in eval mode, so
    nothing such as batch-norm statistics changes) makes the state dict complete."""
    from nodecat.executor.build.walk import input_shape
    zeros = ", ".join(f"torch.zeros({input_shape(n, 1)!r}, dtype=torch.{n.args.get('dtype', 'float32')})"
                      for n in checked.inputs)
    return [
        "def _build_keras_layers(self) -> None:",
        '    """Keras layers create their weights when first called: call once on zeros."""',
        "    training = self.training",
        "    self.eval()",
        "    with torch.no_grad():",
        f"        self({zeros})",
        "    self.train(training)",
    ]


def _torch_helpers(name: str) -> list[str]:
    return [
        f"def build() -> {name}:",
        f'    """A freshly initialised {name}."""',
        f"    return {name}()",
        "",
        "",
        f"def load(weights_path: str) -> {name}:",
        f'    """A {name} with the weights of a safetensors file (strict: every name must match)."""',
        "    from safetensors.torch import load_file",
        "",
        f"    model = {name}()",
        "    model.load_state_dict(load_file(weights_path), strict=True)",
        "    return model",
    ]


def _keras_module(checked: CheckedGraph, graph_file: str | Path | None) -> str:
    walker = _KerasCode(checked)
    outputs = walker.walk()
    inputs = [walker.names[n.id] for n in checked.inputs]
    model = (f"keras.Model(inputs={_one_or_list(inputs)}, outputs={_one_or_list([o.text for o in outputs])}, "
             f"name={_string(_model_name(checked.graph.name))})")
    summary = _summary(checked, graph_file)
    lines = [
        _module_docstring(checked, graph_file, "build_model(), a functional Keras model", _KERAS_USAGE),
        *_import_block(walker.imports),
        "",
        "",
        "def build_model() -> keras.Model:",
        *_indent(_docstring(summary, 1)),
        *_indent([*walker.body, f"return {model}"]),
        "",
        "",
        *_KERAS_LOAD,
    ]
    return "\n".join(lines) + "\n"


_KERAS_USAGE = """\
Layers are named by node id, so their weights are `<id>/kernel`; the safetensors files nodecat
writes name them with dots (`head.kernel`): `model = load("weights.safetensors")`."""

_KERAS_LOAD = [
    "def load(weights_path: str) -> keras.Model:",
    '    """build_model() with the weights of a safetensors file (strict: every name must match)."""',
    "    from safetensors.numpy import load_file",
    "",
    "    model = build_model()",
    "    arrays = load_file(weights_path)",
    '    variables = {variable.path.replace("/", "."): variable for variable in model.weights}',
    "    if set(arrays) != set(variables):",
    "        missing, unexpected = sorted(set(variables) - set(arrays)), sorted(set(arrays) - set(variables))",
    '        raise ValueError(f"{weights_path} does not fit: missing {missing}, unexpected {unexpected}")',
    "    for name, variable in variables.items():",
    "        variable.assign(arrays[name].astype(variable.dtype))",
    "    return model",
]


# -- layout helpers ----------------------------------------------------------------------------------
def _module_attribute(name: str) -> bool:
    """Whether `self.<name>` cannot hold a submodule: a keyword, or an attribute nn.Module has."""
    return keyword.iskeyword(name) or name in _nn_module_attributes()


@functools.lru_cache(maxsize=1)
def _nn_module_attributes() -> frozenset[str]:
    from torch import nn
    return frozenset(dir(nn.Module)) | frozenset(vars(nn.Module()))


def _import_block(imports: set[str]) -> list[str]:
    """Imports in isort's order; Keras is told to run on torch first (as nodecat does), unless the
    user chose another backend."""
    lines = sorted(i for i in imports if i.startswith("import ")) + sorted(i for i in imports if i.startswith("from "))
    if "import keras" not in imports:
        return lines
    header = ["import os", "", 'os.environ.setdefault("KERAS_BACKEND", "torch")  # as nodecat runs Keras', ""]
    return header + lines


def _module_docstring(checked: CheckedGraph, graph_file: str | Path | None, what: str, usage: str) -> str:
    graph = checked.graph
    source = f"the graph {graph.name!r}" if graph.name else "a graph"
    if graph_file is not None:
        source += f" ({Path(graph_file).as_posix()})"
    paragraphs = [f"{what}, generated by nodecat from {source}."]
    if graph.description:
        paragraphs.append(graph.description)
    paragraphs.append(usage)
    wrapped = ["\n".join(textwrap.wrap(p, _WIDTH)) if "\n" not in p else p for p in paragraphs]
    return '"""' + _escape("\n\n".join(wrapped)) + '\n"""'


def _summary(checked: CheckedGraph, graph_file: str | Path | None) -> str:
    """The class's (or build_model's) docstring: the graph's description, else its name or file."""
    graph = checked.graph
    if graph.description:
        return graph.description
    if graph.name:
        return f"The graph {graph.name!r}."
    if graph_file is not None:
        return f"The unnamed graph of {Path(graph_file).name}."
    return "An unnamed nodecat graph."


def _docstring(text: str, levels: int) -> list[str]:
    """A docstring at an indentation level: one line when it fits, else wrapped."""
    width = _WIDTH - 4 * levels
    if len(text) + 6 <= width:
        line = _escape(text)
        return ['"""' + line + (' """' if line.endswith('"') else '"""')]
    return ['"""' + _escape("\n".join(textwrap.wrap(text, width - 3))), '"""']


def _string(text: str) -> str:
    """A string literal in double quotes (JSON's escapes are Python's too; non-ASCII characters are
    escaped, so even a lone surrogate from a JSON escape gives valid UTF-8 source)."""
    return json.dumps(text)


def _escape(text: str) -> str:
    """Docstring text that cannot end the string or form an escape sequence; a character UTF-8
    cannot encode (a lone surrogate) is written as its escape."""
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _indent(lines: list[str], levels: int = 1) -> list[str]:
    pad = "    " * levels
    return [pad + line if line else "" for line in "\n".join(lines).split("\n")]


def _one_or_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"


def class_name(graph_name: str) -> str:
    """The module's class name: the graph name in CapWords (lstm_classifier -> LstmClassifier)."""
    words = "".join(ch if ch.isalnum() else " " for ch in graph_name).split()
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name.isidentifier():
        return "NodecatGraph" + name if ("NodecatGraph" + name).isidentifier() else "NodecatGraph"
    return name + "Module" if name in _RESERVED_NAMES else name  # a graph named "f" must not hide F


def _model_name(graph_name: str) -> str:
    """The Keras model's name, as the executor gives it."""
    cleaned = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in graph_name)
    return cleaned or "nodecat_graph"


def _nested_numbers(value: Any, float32: bool) -> str:
    """Nested lists of numbers as source; float32 values in their shortest exact form (0.1, not
    0.10000000149011612)."""
    if isinstance(value, list):
        return "[" + ", ".join(_nested_numbers(v, float32) for v in value) + "]"
    if isinstance(value, float) and float32:
        import numpy as np
        return repr(float(str(np.float32(value))))
    return repr(value)
