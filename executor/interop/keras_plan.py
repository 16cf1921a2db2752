"""A functional model's config, entry by entry, as planned graph nodes, or the reasons it cannot be.

Each entry of `config["layers"]` (layers and recorded `keras.ops` operations) becomes one
`NodePlan`: its catalog op, its literal arguments (checked by rebuilding the layer), the sources of
each input port in call order (`keras_call`), and the layers it is handed (a wrapper's `layer`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nodecat.executor.interop.keras_args import OPERATION_KEYS, config_args, construct, policy_problem, verify_layer
from nodecat.executor.interop.keras_call import MaskOf, Source, Unmappable, bind_call
from nodecat.executor.interop.keras_catalog import KerasCatalog
from nodecat.executor.graph.vocabulary import DTYPES
from nodecat.executor.graph.errors import short_error
from nodecat.introspector.model import Node


@dataclass
class NodePlan:
    name: str  # the model's name for it
    op: str  # a catalog id, or the built-in "input"
    args: dict[str, Any] = field(default_factory=dict)
    inputs: list[tuple[str, list[Source]]] = field(default_factory=list)  # port -> sources, in call order
    arg_inputs: dict[str, Source] = field(default_factory=dict)  # call argument -> the tensor an edge feeds it
    handed: dict[str, NodePlan] = field(default_factory=dict)  # argument -> a layer node, built not applied
    notes: list[str] = field(default_factory=list)
    is_layer: bool = False  # a layer instance (weights, config compare) rather than a function call


def input_plan(entry: dict[str, Any]) -> NodePlan:
    config = entry.get("config", {})
    call = "keras.layers.InputLayer"
    for flag in ("sparse", "ragged", "optional"):
        if config.get(flag):
            raise Unmappable(call, f"a {flag} input; graph inputs are dense, required tensors")
    shape = config.get("batch_shape")
    dtype = config.get("dtype", "float32")
    if not isinstance(shape, list) or not shape:
        raise Unmappable(call, f"batch_shape {shape!r} is not a shape with a batch dimension")
    if dtype not in DTYPES:
        raise Unmappable(call, f"dtype {dtype!r} is not one of the graph dtypes ({', '.join(DTYPES)})")
    args: dict[str, Any] = {"shape": [None, *shape[1:]]}
    if dtype != "float32":
        args["dtype"] = dtype
    return NodePlan(entry["name"], "input", args)


def operation_plan(entry: dict[str, Any], live: Any, catalog: KerasCatalog, mask_of: MaskOf) -> NodePlan:
    """The plan of a layer or operation that the model calls exactly once."""
    descriptor, is_layer = _descriptor(entry, live, catalog)
    calls = entry.get("inbound_nodes", [])
    if len(calls) != 1:
        raise Unmappable(descriptor.id, f"called {len(calls)} times in the model (a shared layer); a graph node is "
                         "one call with its own weights, so the calls cannot share them")
    config = entry.get("config") or {}
    plan = NodePlan(entry["name"], descriptor.id, is_layer=is_layer)
    if is_layer:
        _layer_args(plan, descriptor, config, catalog)
    else:
        _operation_args(plan, descriptor, config, catalog)
    binding = bind_call(descriptor, live, calls[0], mask_of)
    plan.inputs = binding.inputs
    plan.arg_inputs = binding.arg_inputs
    plan.args.update(binding.args)
    plan.notes.extend(binding.notes)
    return plan


def _descriptor(entry: dict[str, Any], live: Any, catalog: KerasCatalog) -> tuple[Node, bool]:
    import keras
    cls = type(live)
    call = f"{entry.get('module', cls.__module__)}.{entry.get('class_name', cls.__name__)}"
    if isinstance(live, keras.Model):
        raise Unmappable(call, "a nested model; import the inner model on its own, or build the outer model "
                         "from the inner model's layers")
    if isinstance(live, keras.layers.Layer):
        node = catalog.layer_node(cls)
        if node is None:
            excluded = catalog.excluded_reason(f"keras.layers.{cls.__name__}")
            raise Unmappable(call, excluded or f"layer class {cls.__module__}.{cls.__qualname__} is not in the "
                             "catalog (a custom layer?); only catalog layers can be graph nodes")
        return node, True
    node = catalog.op_node(cls.__module__, cls.__name__)
    if node is None:
        raise Unmappable(call, f"operation {cls.__module__}.{cls.__name__} has no keras.ops function in the catalog")
    return node, False


def _layer_args(plan: NodePlan, descriptor: Node, config: dict[str, Any], catalog: KerasCatalog,
                verify: bool = True) -> None:
    """The layer's arguments and handed layers; `verify`: rebuild it and compare configs. A handed
    layer is verified as part of its wrapper, whose config holds the wrapper's own copy of it
    (Bidirectional sets zero_output_for_mask on its copies, for instance)."""
    policy = policy_problem(config)
    if policy:
        raise Unmappable(descriptor.id, policy)
    found = config_args(descriptor, config, catalog, plan.name)
    if found.problems:
        raise Unmappable(descriptor.id, "; ".join(found.problems))
    plan.args = found.args
    plan.notes.extend(found.notes)
    if config.get("trainable") is False:
        plan.notes.append("the layer is frozen (trainable=False) in the model; graphs train every layer")
    inner = {arg: _handed_plan(plan.name, descriptor, arg, value, catalog) for arg, value in found.handed.items()}
    if verify:
        plan.handed = _rebuild_and_compare(plan, descriptor, config, inner, catalog)
    else:  # optional handed layers (backward_layer) are derived by the wrapper; its owner's check tells
        plan.handed = {a: p for a, p in inner.items() if (arg := descriptor.arg(a)) is not None and arg.required}


def _handed_plan(owner: str, wrapper: Node, arg: str, serialized: dict[str, Any], catalog: KerasCatalog) -> NodePlan:
    """A layer in a wrapper's config (`Bidirectional(layer=LSTM(...))`) as a node handed to that argument."""
    class_name = serialized.get("class_name", "")
    descriptor = catalog.public_layer(class_name)
    if descriptor is None:
        raise Unmappable(wrapper.id, f"argument {arg} holds layer {class_name}, which is not in the catalog")
    config = serialized["config"]
    name = str(config.get("name") or f"{owner}_{arg}")
    if wrapper.name == "Bidirectional" and arg == "layer" and name.startswith("forward_"):
        name = name[len("forward_"):]  # Bidirectional names its copy forward_<layer>; the layer was <layer>
    plan = NodePlan(name, descriptor.id, is_layer=True)
    _layer_args(plan, descriptor, config, catalog, verify=False)
    if plan.notes:
        plan.notes = [f"{owner}.{arg}: {note}" for note in plan.notes]
    return plan


def _rebuild_and_compare(plan: NodePlan, descriptor: Node, config: dict[str, Any], inner: dict[str, NodePlan],
                         catalog: KerasCatalog) -> dict[str, NodePlan]:
    """Rebuild the layer from its arguments and check it equals the model's. Optional handed layers
    (Bidirectional's backward_layer, which it derives from `layer` by itself) are first left out,
    as a default would be, and kept only when the layer differs without them."""
    required = {a: p for a, p in inner.items() if (arg := descriptor.arg(a)) is not None and arg.required}
    attempts = [required, inner] if len(required) < len(inner) else [inner]
    reason = ""
    for handed in attempts:
        try:
            instances = {arg: build_instance(p, catalog) for arg, p in handed.items()}
        except Exception as exc:  # any library error: these arguments do not rebuild the inner layer
            raise Unmappable(descriptor.id, f"rebuilding a handed layer failed: {short_error(exc)}") from exc
        reason = verify_layer(descriptor, plan.args, instances, config, plan.name)
        if not reason:
            return handed
    raise Unmappable(descriptor.id, reason)


def build_instance(plan: NodePlan, catalog: KerasCatalog) -> Any:
    """The layer a plan describes, with its handed layers, built as the executor builds it."""
    descriptor = catalog.node(plan.op)
    assert descriptor is not None, f"{plan.op} was found in the catalog when it was planned"
    handed = {arg: build_instance(p, catalog) for arg, p in plan.handed.items()}
    return construct(descriptor, plan.args, handed, plan.name)


def _operation_args(plan: NodePlan, descriptor: Node, config: dict[str, Any], catalog: KerasCatalog) -> None:
    """An operation's config holds its function's literal arguments (`Reshape(newshape)`), all
    applied at call time; whatever the catalog does not list is caught when the graph is rebuilt."""
    found = config_args(descriptor, config, catalog, plan.name, OPERATION_KEYS)
    if found.problems or found.handed:
        raise Unmappable(descriptor.id, "; ".join(found.problems) or "an operation cannot take a layer")
    plan.args = found.args


