"""Every layer and loss node can be built on the `meta` device from its descriptor alone.

The descriptors are read back from JSON text (what an editor or executor sees). For each node the
class is resolved by exact lookup of its recorded origin (module, then one getattr per qualname
part), compared with the object at its public id, instantiated with `example.args` on `meta`, and
applied to probe tensors built from `example.inputs` in the order of the node's input ports.
Nodes without an example must say why; the test prints them as a report.
"""
from __future__ import annotations

import re
import warnings
from typing import Any

import pytest
import torch

from helpers import resolve_origin, resolve_path
from nodecat.introspector.libraries.probe_values import as_call_value

WORKING_SHARE = 0.90


def _probe(spec: dict[str, Any]) -> torch.Tensor:
    dtype = getattr(torch, spec["dtype"])
    assert isinstance(dtype, torch.dtype), spec
    return torch.empty(spec["shape"], dtype=dtype, device="meta")


def _layer_and_loss_nodes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in doc["nodes"] if n["kind"] in ("layer", "loss")]


def _instantiate_and_apply(node: dict[str, Any]) -> tuple[torch.nn.Module, Any]:
    cls = resolve_origin(node["origin"]["module"], node["origin"]["qualname"])
    example = node["example"]
    args = {name: as_call_value(value) for name, value in example["args"].items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.device("meta"):
            layer = cls(**args)
        inputs = [_probe(example["inputs"][p["name"]]) for p in node["inputs"] if p["name"] in example["inputs"]]
        return layer, layer(*inputs)


def test_layer_and_loss_nodes_exist(fresh_doc: dict[str, Any]) -> None:
    nodes = _layer_and_loss_nodes(fresh_doc)
    assert len(nodes) > 100
    assert {"torch.nn.Conv2d", "torch.nn.CrossEntropyLoss"} <= {n["id"] for n in nodes}


def test_origin_lookup_finds_the_object_at_the_public_id(fresh_doc: dict[str, Any]) -> None:
    mismatched = []
    for node in _layer_and_loss_nodes(fresh_doc):
        origin = resolve_origin(node["origin"]["module"], node["origin"]["qualname"])
        if resolve_path(node["id"]) is not origin:
            mismatched.append(node["id"])
    assert mismatched == []


def test_every_id_and_alias_matches_its_recorded_origin(fresh_doc: dict[str, Any]) -> None:
    """For every node (builtins included, whose origin is not importable): the object at the id
    carries the recorded module and qualname; each alias is that same object, or a distinct
    object whose docstring declares it an alias of the id (torch.concat -> torch.cat)."""
    mismatched = []
    for node in fresh_doc["nodes"]:
        obj = resolve_path(node["id"])
        if (getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)) != \
                (node["origin"]["module"], node["origin"]["qualname"]):
            mismatched.append(f"{node['id']}: {obj.__module__}.{obj.__qualname__} vs {node['origin']}")
        for alias in node.get("aliases", []):
            other = resolve_path(alias)
            declared = re.search(rf"Alias (?:of|for) :func:`{re.escape(node['id'])}`", other.__doc__ or "")
            if other is not obj and not declared:
                mismatched.append(f"{node['id']}: alias {alias} is another object")
    assert mismatched == []


def test_examples_name_real_arguments_and_every_required_port(fresh_doc: dict[str, Any]) -> None:
    problems = []
    for node in _layer_and_loss_nodes(fresh_doc):
        example = node.get("example")
        if example is None:
            continue
        init_args = {a["name"] for a in node["args"] if a["stage"] == "init"}
        required_init = {a["name"] for a in node["args"] if a["stage"] == "init" and a["required"]}
        ports = {p["name"] for p in node["inputs"]}
        required_ports = {p["name"] for p in node["inputs"] if p["required"]}
        if not set(example["args"]) <= init_args:
            problems.append(f"{node['id']}: example args {sorted(set(example['args']) - init_args)} unknown")
        if not required_init <= set(example["args"]):
            problems.append(f"{node['id']}: required args {sorted(required_init - set(example['args']))} missing")
        if not required_ports <= set(example["inputs"]) <= ports:
            problems.append(f"{node['id']}: example inputs {sorted(example['inputs'])}, ports {sorted(ports)}")
    assert problems == []


def test_every_example_instantiates_on_meta_and_applies(fresh_doc: dict[str, Any]) -> None:
    failures = []
    for node in _layer_and_loss_nodes(fresh_doc):
        if node.get("example") is None:
            continue
        try:
            layer, _ = _instantiate_and_apply(node)
        except Exception as exc:  # noqa: BLE001 - collected into the report below
            failures.append(f"{node['id']}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            continue
        devices = {t.device.type for t in [*layer.parameters(), *layer.buffers()]}
        if devices - {"meta"}:
            failures.append(f"{node['id']}: allocated on {sorted(devices)}, not only on meta")
    assert failures == []


def test_nodes_without_an_example_say_why(fresh_doc: dict[str, Any]) -> None:
    nodes = _layer_and_loss_nodes(fresh_doc)
    without = [n for n in nodes if n.get("example") is None]
    print(f"\n{len(nodes) - len(without)} of {len(nodes)} layer/loss nodes have a working example; without one:")
    for node in without:
        print(f"  {node['id']}: {node.get('example_failure', '')}")
    assert all(n.get("example_failure", "").strip() for n in without)
    assert all("example_failure" not in n for n in nodes if n.get("example") is not None)


def test_at_least_90_percent_of_layer_and_loss_nodes_work(fresh_doc: dict[str, Any]) -> None:
    nodes = _layer_and_loss_nodes(fresh_doc)
    working = 0
    for node in nodes:
        if node.get("example") is None:
            continue
        try:
            _instantiate_and_apply(node)
        except Exception:  # noqa: BLE001 - counted as not working; the test above names it
            continue
        working += 1
    assert working >= WORKING_SHARE * len(nodes), f"{working} of {len(nodes)} work"


def _at_path(value: Any, path: list[int]) -> Any:
    for index in path:
        value = value[index]
    return value


def test_output_ports_match_what_apply_returns(fresh_doc: dict[str, Any]) -> None:
    """A layer returning a tuple (LSTM: output, (h_n, c_n)) needs one output port per member, each
    with its path; a layer returning one tensor has one port without a path.
    """
    wrong = []
    for node in _layer_and_loss_nodes(fresh_doc):
        if node.get("example") is None:
            continue
        _, result = _instantiate_and_apply(node)
        outputs = node["outputs"]
        if isinstance(result, torch.Tensor):
            if len(outputs) != 1 or outputs[0].get("path") or outputs[0]["type"] != "tensor":
                wrong.append(f"{node['id']}: returns a tensor, ports {outputs}")
            continue
        if not isinstance(result, tuple) or len(outputs) < 2:
            wrong.append(f"{node['id']}: returns {type(result).__name__}, ports {outputs}")
            continue
        for port in outputs:
            try:
                member = _at_path(result, port.get("path", []))
            except (IndexError, TypeError):
                wrong.append(f"{node['id']}: port {port['name']} path {port.get('path')} does not exist")
                continue
            if port["type"] == "tensor" and not isinstance(member, torch.Tensor):
                wrong.append(f"{node['id']}: port {port['name']} is {type(member).__name__}, not a tensor")
    assert wrong == []


@pytest.mark.parametrize("node_id", ["torch.nn.Conv2d", "torch.nn.Linear", "torch.nn.MultiheadAttention",
                                     "torch.nn.LSTM", "torch.nn.CrossEntropyLoss"])
def test_architectures_staples_have_examples(fresh_doc: dict[str, Any], node_id: str) -> None:
    node = next(n for n in fresh_doc["nodes"] if n["id"] == node_id)
    assert node.get("example") is not None, node.get("example_failure")
    _instantiate_and_apply(node)
