"""Keras models in: a functional (or Sequential) `keras.Model`, or a `.keras` file, as a graph of
catalog nodes plus its weights.

    result = import_keras(model)                 # ImportResult: graph, weights, notes, origins
    result = import_keras_file(Path("m.keras"))  # the file's config is checked before Keras reads it

The model's functional config is read entry by entry (`keras_plan`): each layer becomes a node
`keras.layers.<Class>` whose arguments rebuild a layer with the model's config, each recorded
`keras.ops` call a function node, each input an `input` node. What the catalog cannot express is
collected and reported together (GraphError `unmappable_call`, one problem per call); there is no
partial graph. The finished graph is validated, built by the executor and compared with the model
node by node (`keras_rebuild`), and the weights are named as that build names them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.interop.imported import GraphBuilder, ImportNote, ImportResult, Unmapped, output_names, refuse
from nodecat.executor.interop.keras_args import plain
from nodecat.executor.interop.keras_catalog import KerasCatalog, keras_catalog
from nodecat.executor.interop.keras_call import ConstantPlan, MaskOf, TensorRef, Unmappable
from nodecat.executor.interop.keras_plan import NodePlan, input_plan, operation_plan
from nodecat.executor.interop.keras_rebuild import Original, rebuild
from nodecat.executor.graph.errors import short_error

__all__ = ["import_keras", "import_keras_file"]


def import_keras(model: Any, name: str = "") -> ImportResult:
    """A functional or Sequential Keras model as a validated graph and its weights."""
    from nodecat.executor.build.run import validate
    catalog = keras_catalog()
    functional = _functional(model)
    try:
        config = plain(functional.get_config())
    except Exception as exc:  # a layer whose get_config fails: the model cannot be described
        raise GraphError(GraphProblem("import_failed", f"reading the model's config failed: {short_error(exc)}")) from exc
    originals = _originals(functional)
    plans = _without_unused_operations(_plans(config, originals, catalog), config.get("output_layers"))
    builder = GraphBuilder(name or functional.name, {"keras": catalog.version},
                           f"Imported from the Keras model {functional.name!r}.")
    ids = _emit(builder, plans)
    output_notes = _emit_outputs(builder, config.get("output_layers"), ids)
    checked = validate(builder.graph())
    applied = {ids[p.name]: p for p in plans if p.op != "input"}
    unmapped, weights = rebuild(checked, applied, originals)
    if unmapped:
        raise refuse(unmapped)
    return ImportResult(checked.graph, weights, tuple(_notes(plans, ids) + output_notes), dict(builder.origins))


def import_keras_file(path: Path) -> ImportResult:
    """A `.keras` file, refused before Keras deserialises anything when its config names a class
    the catalog does not list (custom layers, Lambda, modules outside keras)."""
    from nodecat.executor.interop.keras_file import load_checked_keras_file
    model = load_checked_keras_file(Path(path), keras_catalog())
    return import_keras(model, Path(path).stem)


# -- the model ---------------------------------------------------------------------------------------
def _functional(model: Any) -> Any:
    """The model as a functional graph: itself, or a Sequential's layers called on its inputs."""
    import keras
    from keras.src.models.functional import Functional
    if isinstance(model, keras.Sequential):
        try:
            inputs, outputs = model.inputs, model.outputs
        except Exception:  # never built on a known input shape: there is no graph to read
            raise _unmappable(model, "a Sequential model without a known input shape",
                              "start it with keras.Input(shape=...), or build it, before importing") from None
        return keras.Model(inputs=inputs, outputs=outputs, name=model.name)
    if isinstance(model, Functional) and type(model).call is Functional.call:
        return model
    if isinstance(model, keras.layers.Layer):
        raise _unmappable(model, f"a subclassed model ({type(model).__qualname__}) whose call is Python code",
                          "only functional and Sequential models have a config that lists every call")
    raise GraphError(GraphProblem("bad_target", f"{type(model).__name__} is not a keras.Model",
                                  hint="pass a functional or Sequential keras.Model"))


def _unmappable(model: Any, what: str, hint: str) -> GraphError:
    return GraphError(GraphProblem("unmappable_call", f"{what}: only functional and Sequential models can be "
                                   "imported", getattr(model, "name", ""), hint=hint))


def _originals(functional: Any) -> dict[str, Original]:
    """Each operation of the model with the outputs of its calls in this model.

    An operation also used by another model keeps those calls in `_inbound_nodes`; the model's own
    calls are the nodes it lists, the same filter `Functional.get_config` applies."""
    from keras.src.ops.function import make_node_key
    found = {}
    for operation in functional.operations:
        calls = [n for i, n in enumerate(operation._inbound_nodes) if make_node_key(operation, i) in functional._nodes]
        outputs = tuple(calls[0].outputs) if calls else ()
        found[operation.name] = Original(operation, outputs)
    return found


# -- planning every entry, emitting the graph ------------------------------------------------------
def _plans(config: dict[str, Any], originals: dict[str, Original], catalog: KerasCatalog) -> list[NodePlan]:
    plans: list[NodePlan] = []
    unmapped: list[Unmapped] = []
    for entry in config.get("layers", []):
        name = str(entry.get("name", ""))
        original = originals.get(name)
        call = f"{entry.get('module', '')}.{entry.get('class_name', '')}"
        try:
            if original is None:
                raise Unmappable(call, "the config names an operation the model does not hold")
            plans.append(_plan(entry, original, catalog, lambda ref: _mask_of(ref, originals)))
        except Unmappable as exc:
            unmapped.append(Unmapped(name, exc.call, exc.reason))
    if unmapped:
        raise refuse(unmapped)
    return _inputs_first(plans, config.get("input_layers", []))


def _inputs_first(plans: list[NodePlan], input_layers: Any) -> list[NodePlan]:
    """The input nodes first, in the model's own input order (`input_layers`): a graph's inputs are
    ordered as its input nodes are, and the config's layer list orders them by creation instead."""
    order = {ref.layer: i for i, ref in enumerate(_flatten_refs(input_layers))} if input_layers else {}
    inputs = sorted((p for p in plans if p.op == "input"), key=lambda p: order.get(p.name, len(order)))
    return inputs + [p for p in plans if p.op != "input"]


def _plan(entry: dict[str, Any], original: Original, catalog: KerasCatalog, mask_of: MaskOf) -> NodePlan:
    from keras.src.layers.core.input_layer import InputLayer
    if isinstance(original.operation, InputLayer):
        return input_plan(entry)
    plan = operation_plan(entry, original.operation, catalog, mask_of)
    if len(original.outputs) > 1:
        raise Unmappable(plan.op, f"the call returns {len(original.outputs)} tensors, but the catalog's {plan.op} has "
                         "one output port (e.g. return_state), so the others cannot be wired")
    return plan


def _mask_of(ref: TensorRef, originals: dict[str, Original]) -> TensorRef | None:
    """The tensor Keras attaches as the mask of a model tensor (`tensor._keras_mask`), if any."""
    from keras.src.backend import get_keras_mask
    original = originals.get(ref.layer)
    if original is None or ref.tensor_index >= len(original.outputs):
        return None
    history = getattr(get_keras_mask(original.outputs[ref.tensor_index]), "_keras_history", None)
    if history is None:
        return None
    return TensorRef(history.operation.name, history.node_index, history.tensor_index)


def _without_unused_operations(plans: list[NodePlan], output_structure: Any) -> list[NodePlan]:
    """Drop operations nothing reads any more: the masks whose edges were left out (Keras makes
    them again when the graph is built). Layers and inputs always stay."""
    while True:
        read = {ref.layer for ref in _flatten_refs(output_structure)}
        read.update(s.layer for p in plans for _, sources in p.inputs for s in sources if isinstance(s, TensorRef))
        read.update(s.layer for p in plans for s in p.arg_inputs.values() if isinstance(s, TensorRef))
        kept = [p for p in plans if p.is_layer or p.op == "input" or p.name in read]
        if len(kept) == len(plans):
            return plans
        plans = kept


def _emit(builder: GraphBuilder, plans: list[NodePlan]) -> dict[str, str]:
    """Add every planned node (handed layers and constants first), then the edges between them."""
    ids: dict[str, str] = {}
    pending: list[tuple[str, str, bool, str | TensorRef]] = []  # (target id, port or arg, is arg, source)
    for plan in plans:
        handed = {arg: _emit_handed(builder, inner, f"{plan.name}.{arg}") for arg, inner in plan.handed.items()}
        feeds = [(port, False, source) for port, sources in plan.inputs for source in sources]
        feeds += [(arg, True, source) for arg, source in plan.arg_inputs.items()]
        feeds = [(name, is_arg, _emit_constant(builder, plan, name, source) if isinstance(source, ConstantPlan)
                  else source) for name, is_arg, source in feeds]
        node_id = ids[plan.name] = builder.add_node(plan.name, plan.op, plan.args, origin=plan.name)
        pending.extend((node_id, name, is_arg, source) for name, is_arg, source in feeds)
        for arg, inner_id in handed.items():
            builder.add_edge(inner_id, node_id, arg=arg, source_port=None)
    for target, name, is_arg, source in pending:
        if is_arg:  # a tensor handed to a call argument (keras.ops.where's condition)
            builder.add_edge(_source_id(source, ids), target, arg=name, source_port="output")
        else:
            builder.add_edge(_source_id(source, ids), target, port=name)
    return ids


def _emit_handed(builder: GraphBuilder, plan: NodePlan, origin: str) -> str:
    """A layer handed to a wrapper's argument: built, never applied (its own handed layers too)."""
    handed = {arg: _emit_handed(builder, inner, f"{origin}.{arg}") for arg, inner in plan.handed.items()}
    node_id = builder.add_node(plan.name, plan.op, plan.args, origin=origin)
    for arg, inner_id in handed.items():
        builder.add_edge(inner_id, node_id, arg=arg, source_port=None)
    return node_id


def _emit_constant(builder: GraphBuilder, plan: NodePlan, port: str, constant: ConstantPlan) -> str:
    """A literal the call passed where the catalog takes a tensor, as a `constant` node."""
    args = {"value": constant.value} | ({} if constant.dtype == "float32" else {"dtype": constant.dtype})
    return builder.add_node(f"{plan.name}_{port}", "constant", args, origin=f"{plan.name}({port})")


def _source_id(source: str | TensorRef, ids: dict[str, str]) -> str:
    if isinstance(source, str):
        return source
    if source.layer not in ids or source.node_index != 0 or source.tensor_index != 0:
        raise GraphError(GraphProblem("import_failed", f"a tensor comes from {source.layer!r} call {source.node_index} "
                                      f"output {source.tensor_index}, which the graph does not hold"))
    return ids[source.layer]


def _emit_outputs(builder: GraphBuilder, structure: Any, ids: dict[str, str]) -> list[ImportNote]:
    """The graph outputs in the model's output order; a note per output when the model names them
    (a dict of outputs), since graph outputs are output_0, output_1, ..."""
    refs = _flatten_refs(structure)
    names = output_names(len(refs))
    for name, ref in zip(names, refs):
        builder.add_output(name, _source_id(ref, ids))
    if not (isinstance(structure, dict) and len(structure) == len(refs)):
        return []
    return [ImportNote(_source_id(ref, ids), f"graph output {name} is the model's output {key!r}")
            for name, ref, key in zip(names, refs, sorted(structure))]


def _flatten_refs(structure: Any) -> list[TensorRef]:
    """`output_layers` as Keras flattens the outputs: a [name, node, tensor] triple, or lists and
    dicts of them (dict values in sorted key order, as keras.tree.flatten orders them)."""
    if isinstance(structure, list) and len(structure) == 3 and isinstance(structure[0], str):
        return [TensorRef(structure[0], int(structure[1]), int(structure[2]))]
    if isinstance(structure, dict):
        return [ref for key in sorted(structure) for ref in _flatten_refs(structure[key])]
    if isinstance(structure, list):
        return [ref for item in structure for ref in _flatten_refs(item)]
    raise GraphError(GraphProblem("import_failed", f"the model's outputs {structure!r} cannot be read"))


def _notes(plans: list[NodePlan], ids: dict[str, str]) -> list[ImportNote]:
    notes = []
    for plan in plans:
        node_id = ids.get(plan.name, plan.name)
        notes.extend(ImportNote(node_id, note) for note in plan.notes)
        pending = list(plan.handed.values())
        while pending:
            inner = pending.pop(0)
            notes.extend(ImportNote(node_id, note) for note in inner.notes)
            pending.extend(inner.handed.values())
    return notes
