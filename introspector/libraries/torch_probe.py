"""Find a worked example for a torch layer: argument values and input shapes that work.

Everything runs on the `meta` device, so no real memory is allocated and no random
numbers are drawn: the search is cheap and its result is the same on every machine.
Candidates are tried in a fixed order; the first that instantiates and applies wins.
"""
from __future__ import annotations

import itertools
import warnings
from typing import Any

import torch

from introspector.libraries.probe_values import FEATURES, example_value, ranks_by_name
from introspector.model import Arg, Node

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
        layer = obj(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in args.items()})
    order = [p.name for p in node.inputs if p.name in inputs]
    layer(*[_tensor(inputs[name]) for name in order])


def _module_valued(arg: Arg) -> bool:
    schema = arg.schema or {}
    return schema.get("x-nodecat") == "module" or any(s.get("x-nodecat") == "module" for s in schema.get("anyOf", ()))


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


def find_example(node: Node, obj: Any) -> tuple[dict[str, Any] | None, str]:
    if node.kind not in ("layer", "loss") or not node.call.get("instantiate"):
        return None, ""
    if any(p.type not in ("tensor",) for p in node.inputs if p.required):
        return None, "an input port is not a plain tensor"
    module_args = [a.name for a in node.args if a.required and _module_valued(a)]
    if module_args:
        return None, (f"required argument {', '.join(module_args)} takes a layer (fed by an edge); "
                      "examples hold JSON values only")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if node.example is not None:  # given by an override: it must work as written
            try:
                _try(obj, node, node.example["args"], node.example["inputs"])
            except Exception as exc:  # noqa: BLE001 - reported, not raised: the catalog says why
                return None, f"the override's example fails on the meta device: {_short(exc)}"
            return node.example, ""
        base = {a.name: example_value(a) for a in node.args if a.stage == "init" and a.required}
        last_error = "no candidate tried"
        for inputs in _input_candidates(node):
            try:
                _try(obj, node, base, inputs)
            except Exception as exc:  # noqa: BLE001 - any failure just means "try the next candidate"
                last_error = _short(exc)
                continue
            return {"args": base, "inputs": inputs}, ""
    return None, f"no candidate input worked on the meta device; last error: {last_error}"
