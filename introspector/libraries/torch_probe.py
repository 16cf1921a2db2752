"""Find a worked example for a torch layer: argument values and input shapes that work.

Everything runs on the `meta` device, so no real memory is allocated and no random
numbers are drawn: the search is cheap and its result is the same on every machine.
Candidates are tried in a fixed order; the first that instantiates and applies wins.
"""
from __future__ import annotations

import itertools
from typing import Any

import torch

from nodecat.introspector.libraries.probe_values import (FEATURES, as_call_value, example_value, layer_fed_args,
                                                 layer_fed_reason, ranks_by_name, search_example)
from nodecat.introspector.model import Node

def _shape(rank: int) -> list[int]:
    # batch 2, then FEATURES for the channel/feature dim, then 8 for spatial or time dims;
    # for rank 2 and 3 the feature dim also has to be last (Linear, LayerNorm, attention).
    return {1: [FEATURES], 2: [2, FEATURES], 3: [2, 8, FEATURES], 4: [2, FEATURES, 8, 8],
            5: [2, FEATURES, 8, 8, 8]}[rank]


def _input_candidates(node: Node) -> list[dict[str, dict[str, Any]]]:
    ports = [p for p in node.inputs if p.required]
    candidates = []
    for rank, dtype in itertools.product(ranks_by_name(node.name, [4, 3, 2, 5, 1]), ("float32", "int64")):
        shape = _shape(rank)
        alternatives: list[dict[str, dict[str, Any]]] = [
            {p.name: {"shape": shape, "dtype": dtype} for p in ports}]
        if any(p.name in ("target", "y") for p in ports):  # class-index targets
            alternatives.append({p.name: ({"shape": [shape[0]] + shape[2:], "dtype": "int64"}
                                          if p.name in ("target", "y") else {"shape": shape, "dtype": dtype})
                                 for p in ports})
        if rank == 3:  # channel-first sequences (Conv1d-like, pooling)
            alternatives.append({p.name: {"shape": [2, FEATURES, 8], "dtype": dtype} for p in ports})
        candidates.extend(alternatives)
    return candidates


def _tensor(spec: dict[str, Any]) -> torch.Tensor:
    return torch.empty(spec["shape"], dtype=getattr(torch, spec["dtype"]), device="meta")


def _try(obj: Any, node: Node, args: dict[str, Any], inputs: dict[str, dict[str, Any]]) -> None:
    with torch.device("meta"):
        layer = obj(**{k: as_call_value(v) for k, v in args.items()})
    order = [p.name for p in node.inputs if p.name in inputs]
    layer(*[_tensor(inputs[name]) for name in order])


def find_example(node: Node, obj: Any) -> tuple[dict[str, Any] | None, str]:
    if node.kind not in ("layer", "loss") or not node.call.get("instantiate"):
        return None, ""
    if any(p.type not in ("tensor",) for p in node.inputs if p.required):
        return None, "an input port is not a plain tensor"
    if layer_args := layer_fed_args(node):
        return None, layer_fed_reason(layer_args)
    base = {a.name: example_value(a) for a in node.args if a.stage == "init" and a.required}
    return search_example(node, lambda example: _try(obj, node, example["args"], example["inputs"]),
                          ({"args": base, "inputs": inputs} for inputs in _input_candidates(node)),
                          where=" on the meta device")
