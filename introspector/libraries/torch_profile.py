"""What the crawler needs to know about torch: namespaces, roles, categories, value types."""
from __future__ import annotations

import importlib
import inspect
import re
from typing import Any, Iterator

import torch
import torch.nn as nn
import torch.optim
import torch.optim.lr_scheduler as lr_scheduler

from nodecat.introspector.libraries.torch_ops import TENSOR_OPS
from nodecat.introspector.model import Exclusion, Node
from nodecat.introspector.profile import Found
from nodecat.introspector.typemap import LibraryTypes, Typing

TENSOR = {"x-nodecat": "tensor"}
DTYPE_NAMES = sorted({str(v).removeprefix("torch.") for v in vars(torch).values() if isinstance(v, torch.dtype)})
DTYPE = {"type": "string", "enum": DTYPE_NAMES, "x-nodecat": "dtype"}
DEVICE = {"type": "string", "pattern": "^(cpu|cuda|mps|meta|xpu)(:[0-9]+)?$", "x-nodecat": "device"}
MODULE = {"x-nodecat": "module"}
SHAPE = {"type": "array", "items": {"type": "integer", "minimum": -1}, "x-nodecat": "shape"}
MEMORY_FORMAT = {"enum": ["contiguous_format", "channels_last", "channels_last_3d", "preserve_format"],
                 "x-nodecat": "memory-format"}

LAYOUT = {"enum": ["strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "jagged"],
          "x-nodecat": "layout"}

TYPES = LibraryTypes(
    by_class={torch.Tensor: TENSOR, torch.dtype: DTYPE, torch.device: DEVICE, nn.Module: MODULE,
              torch.Size: SHAPE, torch.memory_format: MEMORY_FORMAT, torch.layout: LAYOUT},
    by_word={"tensor": TENSOR, "longtensor": TENSOR, "booltensor": TENSOR, "floattensor": TENSOR,
             "torch.tensor": TENSOR, "number": {"type": "number"}, "scalar": {"type": "number"},
             "inttensor": TENSOR, "torch.dtype": DTYPE, "dtype": DTYPE, "torch.device": DEVICE, "device": DEVICE,
             "torch.size": SHAPE, "torch.memory_format": MEMORY_FORMAT,
             "tensors": {"type": "array", "items": TENSOR},
             "tuple[float, float]": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
             "tuple[float | tensor, float | tensor]": {"type": "array", "items": {"type": "number"},
                                                      "minItems": 2, "maxItems": 2},
             "int...": {"type": "array", "items": {"type": "integer"}},
             "float or list": {"anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}}]},
             "list or float": {"anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}}]},
             })

# torch.nn classes that are not usable nodes, and why.
_NN_EXCLUDED: dict[str, tuple[str, str]] = {
    "Module": ("base-class", "the base class of every layer; not a layer itself"),
    "RNNBase": ("base-class", "base of RNN/LSTM/GRU; use those"),
    "RNNCellBase": ("base-class", "base of RNNCell/LSTMCell/GRUCell; use those"),
    "Container": ("deprecated", "deprecated predecessor of Sequential"),
    "NLLLoss2d": ("deprecated", "deprecated; NLLLoss handles 2-D inputs"),
    "DataParallel": ("wrapper", "wraps a module for multi-GPU execution; the executor owns placement"),
    "Sequential": ("container", "holds other modules; a graph of nodes expresses the same (blocks come later)"),
    "ModuleList": ("container", "holds other modules; not callable on tensors"),
    "ModuleDict": ("container", "holds other modules; not callable on tensors"),
    "ParameterList": ("container", "holds parameters; not callable on tensors"),
    "ParameterDict": ("container", "holds parameters; not callable on tensors"),
}
_F_EXCLUDED = {"has_torch_function", "has_torch_function_unary", "has_torch_function_variadic",
               "handle_torch_function", "boolean_dispatch", "assert_int_or_pair"}
_SCHEDULER_EXCLUDED: dict[str, tuple[str, str]] = {
    "LRScheduler": ("base-class", "the base class of every scheduler"),
    "LambdaLR": ("unsafe", "its essential argument lr_lambda is a Python function; a graph cannot carry code"),
    "MultiplicativeLR": ("unsafe", "its essential argument lr_lambda is a Python function; a graph cannot carry code"),
    "SequentialLR": ("wrapper", "chains other scheduler objects; needs scheduler-valued edges (later)"),
    "ChainedScheduler": ("wrapper", "chains other scheduler objects; needs scheduler-valued edges (later)"),
}

# Module file (torch/nn/modules/<file>.py) -> menu category.
_NN_CATEGORY = {
    "activation": "activation", "adaptive": "loss", "batchnorm": "normalization", "channelshuffle": "reshape",
    "container": "container", "conv": "convolution", "distance": "distance", "dropout": "dropout",
    "flatten": "reshape", "fold": "reshape", "instancenorm": "normalization", "linear": "linear",
    "loss": "loss", "normalization": "normalization", "padding": "padding", "pixelshuffle": "resampling",
    "pooling": "pooling", "rnn": "recurrent", "sparse": "embedding", "transformer": "transformer",
    "upsampling": "resampling",
}
_F_CATEGORY = [  # (name pattern, category) for torch.nn.functional, first match wins
    (r"loss|nll|cross_entropy|kl_div|margin|_embedding_loss", "loss"),
    (r"^conv|^fold$|^unfold$", "convolution"),
    (r"pool", "pooling"),
    (r"norm", "normalization"),
    (r"dropout", "dropout"),
    (r"^pad$|interpolate|upsample|grid_sample|affine_grid|pixel_", "resampling"),
    (r"embedding|one_hot", "embedding"),
    (r"attention|linear|bilinear|mm$", "linear"),
    (r"channel_shuffle", "reshape"),
    (r"distance|similarity|pdist", "distance"),
]

_TENSOR_OR_NONE = Typing({"anyOf": [TENSOR, {"type": "null"}]}, "torch naming convention")
_CONVENTIONS = {
    # torch names its tensor parameters consistently; C builtins often document them only
    # through shared templates that docstring-parser cannot see.
    **{name: (Typing(TENSOR, "torch naming convention"), False)
       for name in ("input", "other", "tensor", "x1", "x2", "input1", "input2", "mat1", "mat2",
                    "batch1", "batch2", "target", "query", "key", "value", "weight")},
    "bias": (_TENSOR_OR_NONE, False),
    # factory_kwargs: the executor places every node, so these are hidden from users.
    "device": (Typing({"anyOf": [DEVICE, {"type": "null"}]}, "factory_kwargs device"), True),
    "dtype": (Typing({"anyOf": [DTYPE, {"type": "null"}]}, "factory_kwargs dtype"), True),
}


def _public(name: str) -> bool:
    return not name.startswith("_")


class TorchProfile:
    name = "torch"
    types = TYPES
    prose_types = False  # torch writes "name (type): ..." and annotates most signatures

    def version(self) -> str:
        return torch.__version__.split("+")[0]

    def notes(self) -> tuple[str, ...]:
        return ("Generated from the CPU build; catalog content does not depend on the build variant.",
                "torch tensor functions: " + ", ".join(sorted(TENSOR_OPS)) + ".")

    def walk(self) -> Iterator[Found]:
        yield from self._walk_nn()
        yield from self._walk_functional()
        yield from self._walk_tensor_ops()
        yield from self._walk_optim()

    def _walk_nn(self) -> Iterator[Found]:
        for name in sorted(dir(nn)):
            obj = getattr(nn, name)
            path = f"torch.nn.{name}"
            if not inspect.isclass(obj):
                continue
            if not _public(name):
                yield Found(path, obj, None, Exclusion(path, "private", "private name"))
            elif not issubclass(obj, nn.Module):
                yield Found(path, obj, None, Exclusion(path, "not-a-node",
                                                       f"{name} is not an nn.Module (a tensor or helper class)"))
            elif name in _NN_EXCLUDED:
                code, reason = _NN_EXCLUDED[name]
                yield Found(path, obj, None, Exclusion(path, code, reason))
            elif inspect.isabstract(obj):
                yield Found(path, obj, None, Exclusion(path, "abstract", "abstract class"))
            else:
                kind = "loss" if obj.__module__.endswith(".loss") or name.endswith("Loss") else "layer"
                yield Found(path, obj, kind)

    def _walk_functional(self) -> Iterator[Found]:
        functional = nn.functional
        for name in sorted(dir(functional)):
            obj = getattr(functional, name)
            path = f"torch.nn.functional.{name}"
            if not _public(name) or inspect.isclass(obj) or inspect.ismodule(obj) or not callable(obj):
                continue
            module = getattr(obj, "__module__", "") or ""
            if not module.startswith("torch"):
                continue  # re-exported helpers such as typing.Optional
            if name in _F_EXCLUDED:
                yield Found(path, obj, None, Exclusion(path, "not-a-node", "dispatch helper, not a tensor operation"))
                continue
            yield Found(path, obj, "function")
            if getattr(torch, name, None) is obj:  # the same object is public as torch.<name> too
                yield Found(f"torch.{name}", obj, "function")

    def _walk_tensor_ops(self) -> Iterator[Found]:
        for name in sorted(TENSOR_OPS):
            obj = getattr(torch, name)
            doc = obj.__doc__ or ""
            alias = re.search(r"Alias (?:of|for) :func:`(torch\.\w+)`", doc)
            yield Found(f"torch.{name}", obj, "function", alias_of=alias.group(1) if alias else None)

    def _walk_optim(self) -> Iterator[Found]:
        for name in sorted(dir(torch.optim)):
            obj = getattr(torch.optim, name)
            if inspect.isclass(obj) and issubclass(obj, torch.optim.Optimizer) and _public(name):
                path = f"torch.optim.{name}"
                if obj is torch.optim.Optimizer:
                    yield Found(path, obj, None, Exclusion(path, "base-class", "the base class of every optimizer"))
                else:
                    yield Found(path, obj, "optimizer")
        for name in sorted(dir(lr_scheduler)):
            obj = getattr(lr_scheduler, name)
            path = f"torch.optim.lr_scheduler.{name}"
            if not inspect.isclass(obj) or obj.__module__ != lr_scheduler.__name__:
                continue
            if not _public(name):
                yield Found(path, obj, None, Exclusion(path, "private", "private name (deprecated alias)"))
            elif name in _SCHEDULER_EXCLUDED:
                code, reason = _SCHEDULER_EXCLUDED[name]
                yield Found(path, obj, None, Exclusion(path, code, reason))
            elif issubclass(obj, lr_scheduler.LRScheduler) or name == "ReduceLROnPlateau":
                yield Found(path, obj, "scheduler")

    def category(self, path: str, obj: object, kind: str) -> str:
        if kind == "optimizer":
            return "optimizer"
        if kind == "scheduler":
            return "scheduler"
        module = getattr(obj, "__module__", "") or ""
        if inspect.isclass(obj):
            return _NN_CATEGORY.get(module.rsplit(".", 1)[-1], "other")
        name = path.rsplit(".", 1)[-1]
        if name in TENSOR_OPS:
            return "tensor/" + TENSOR_OPS[name][0]
        for pattern, category in _F_CATEGORY:
            if re.search(pattern, name):
                return "functional/" + category
        return "functional/activation"

    def forward_method(self, cls: type) -> Any:
        forward = getattr(cls, "forward", None)
        return None if forward is None or forward is nn.Module.forward else forward

    def convention(self, arg_name: str) -> tuple[Typing, bool] | None:
        return _CONVENTIONS.get(arg_name)

    def json_default(self, value: object) -> tuple[bool, Any]:
        if isinstance(value, torch.dtype):
            return True, str(value).removeprefix("torch.")
        if isinstance(value, (torch.device, torch.memory_format, torch.layout)):
            return True, str(value).removeprefix("torch.")
        return False, None

    def named_constant(self, text: str) -> object | None:
        name = text.removeprefix("torch.")
        value = getattr(torch, name, None) if text.startswith("torch.") else None
        return value if isinstance(value, (torch.dtype, torch.layout, torch.memory_format)) else None

    def find_example(self, node: Node, obj: object) -> tuple[dict[str, Any] | None, str]:
        from nodecat.introspector.libraries.torch_probe import find_example
        return find_example(node, obj)


def resolve(node_id: str) -> object:
    """The object a catalog id names (used by tests and the probe), by exact attribute lookup."""
    module_name, _, attr = node_id.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)
