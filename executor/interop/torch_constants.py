"""`constant` nodes: what feeds a port when the value is known at import time.

A Python number in a tensor port (`x * 0.5`, `1 - x`) becomes a 0-dimensional constant, which
computes the same as the number: torch's type promotion treats a 0-dimensional tensor like a
scalar. A tensor known when importing (a parameter used directly, `torch.arange(16)`) becomes a
constant of its value, once however often it is read. A constant is a buffer of the built module,
so its value also goes into the weights, named by the node id.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nodecat.executor.interop.imported import GraphBuilder, ImportNote
from nodecat.executor.interop.torch_values import GraphTensor, LayerResult, Open, dtype_name
from nodecat.executor.graph.vocabulary import DTYPES, MAX_CONSTANT_ELEMENTS

Source = tuple[str, str]  # (node id, output port)


class Constants:
    def __init__(self, builder: GraphBuilder, weights: dict[str, np.ndarray], notes: list[ImportNote]):
        self.builder = builder
        self.weights = weights
        self.notes = notes
        self.made: dict[int, tuple[torch.Tensor, str]] = {}  # id(tensor) -> (the tensor, its node)
        self.names: dict[int, tuple[torch.Tensor, str, str]] = {}  # id(tensor) -> (the tensor, wanted id, note)

    def name(self, tensor: torch.Tensor, wanted: str, note: str) -> None:
        """What to call the constant of a tensor if one is made, and the note to add then."""
        self.names.setdefault(id(tensor), (tensor, wanted, note))

    def source(self, value: Any, wanted: str, float_dtype: str) -> Source | str:
        """Where a port's value comes from, making a constant if needed; or why it cannot feed a port."""
        if isinstance(value, GraphTensor):
            return value.node, value.port
        if isinstance(value, LayerResult):
            return f"is the whole result of {value.op} (a tuple); index it to one output first"
        if isinstance(value, Open):
            return value.reason()
        if isinstance(value, torch.Tensor):
            return self.tensor(value, wanted)
        if isinstance(value, bool):
            return self.scalar(value, "bool", wanted)
        if isinstance(value, int):
            return self.scalar(value, "int64", wanted)
        if isinstance(value, float):
            return self.scalar(value, float_dtype, wanted)
        return f"a {type(value).__name__} value cannot feed a tensor port"

    def tensor(self, tensor: torch.Tensor, wanted: str) -> Source | str:
        known = self.made.get(id(tensor))
        if known is not None and known[0] is tensor:
            return known[1], "output"
        name = dtype_name(tensor.dtype)
        if name not in DTYPES:
            return f"a {name} tensor cannot be a constant (dtypes: {', '.join(DTYPES)})"
        if name == "bfloat16":
            return "a bfloat16 tensor cannot be a constant here (numpy, which holds the weights, has no bfloat16)"
        if tensor.numel() > MAX_CONSTANT_ELEMENTS:
            return (f"a tensor of {tensor.numel():,} elements is too large for a constant "
                    f"(at most {MAX_CONSTANT_ELEMENTS:,})")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return "a tensor holding inf or nan cannot be a constant (JSON numbers are finite)"
        named = self.names.get(id(tensor))
        note = ""
        if named is not None and named[0] is tensor:
            wanted, note = named[1], named[2]
        value = tensor.detach().cpu()
        node_id = self.builder.add_node(wanted, "constant", {"value": value.tolist(), "dtype": name}, origin=wanted)
        self.weights[node_id] = value.numpy()
        if note:
            self.notes.append(ImportNote(node_id, note))
        self.made[id(tensor)] = (tensor, node_id)
        return node_id, "output"

    def scalar(self, value: bool | float, dtype: str, wanted: str) -> Source:
        node_id = self.builder.add_node(wanted, "constant", {"value": value, "dtype": dtype})
        self.weights[node_id] = np.asarray(value, dtype=dtype)
        return node_id, "output"
