"""Constructor arguments of a module instance, recovered and proven.

A module does not keep the arguments it was built with, but most keep each under the argument's
own name (`Conv2d.stride`, `LSTM.hidden_size`). Those are read generically; the few stored
elsewhere are listed in `ATTRIBUTE_PATHS`, reviewed by hand. Whatever was recovered is then proven:
the catalog class is built again from the arguments (on the meta device, no memory) and must give
the same `repr` and the same state-dict names, shapes and dtypes as the original. An argument
recovered wrongly can therefore not slip into a graph: the layer is reported instead.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

from nodecat.executor.interop.imported import Unmapped
from nodecat.executor.interop.torch_catalog import TorchCatalog
from nodecat.executor.interop.torch_values import JsonValue, same_literal, to_literal
from nodecat.executor.graph.args import literal_arg_problems
from nodecat.executor.graph.values import EDGE_VALUE_KINDS, torch_value, value_kind
from nodecat.introspector.model import Arg, Node

_FACTORY_ARGS = frozenset({"device", "dtype"})  # where and in which precision: the executor decides

# Arguments a class stores under another name: node id -> {argument: attribute path}.
# A path ending in a tensor attribute (a bias) reads as "is not None" for a boolean argument.
_TRANSFORMER_LAYER = {
    "d_model": "self_attn.embed_dim", "nhead": "self_attn.num_heads",
    "dim_feedforward": "linear1.out_features", "dropout": "dropout.p", "layer_norm_eps": "norm1.eps",
    "batch_first": "self_attn.batch_first", "bias": "linear1.bias",
}
ATTRIBUTE_PATHS: dict[str, dict[str, str]] = {
    "torch.nn.TransformerEncoderLayer": _TRANSFORMER_LAYER,
    "torch.nn.TransformerDecoderLayer": _TRANSFORMER_LAYER,
    "torch.nn.TransformerEncoder": {"encoder_layer": "layers.0"},
    "torch.nn.TransformerDecoder": {"decoder_layer": "layers.0"},
    "torch.nn.Transformer": {
        "num_encoder_layers": "encoder.num_layers", "num_decoder_layers": "decoder.num_layers",
        **{name: "encoder.layers.0." + path for name, path in _TRANSFORMER_LAYER.items()
           if name not in ("d_model", "nhead", "batch_first")},
        "activation": "encoder.layers.0.activation", "norm_first": "encoder.layers.0.norm_first",
    },
    "torch.nn.MultiheadAttention": {"bias": "out_proj.bias", "add_bias_kv": "bias_k"},
}
# Arguments whose default (None) means "the same as another argument": stored resolved, so a
# recovered value equal to that argument is the default again (MultiheadAttention(kdim=None)).
SAME_AS_DEFAULT: dict[str, dict[str, str]] = {
    "torch.nn.MultiheadAttention": {"kdim": "embed_dim", "vdim": "embed_dim"},
}


@dataclass(frozen=True)
class LayerSpec:
    """How to build a module as a catalog node: literal init arguments (catalog defaults left out)
    and the layers handed to module-valued arguments (`TransformerEncoder.encoder_layer`)."""

    descriptor: Node
    cls: type
    args: dict[str, JsonValue]
    handed: dict[str, LayerSpec] = field(default_factory=dict)


def recover_layer(module: torch.nn.Module, catalog: TorchCatalog, where: str) -> LayerSpec | Unmapped:
    """The catalog node a module imports as, with its constructor arguments, proven by a rebuild."""
    found = catalog.layer_for(type(module))
    if found is None:
        return Unmapped(where, _class_name(type(module)), "is not a layer of the torch catalog")
    descriptor, cls = found
    args: dict[str, JsonValue] = {}
    handed: dict[str, LayerSpec] = {}
    for arg in descriptor.args:
        if arg.stage != "init" or arg.hidden or arg.name in _FACTORY_ARGS:
            continue
        recovered = _recover_arg(module, descriptor, arg, catalog, where)
        if isinstance(recovered, Unmapped):
            return recovered
        if isinstance(recovered, LayerSpec):
            handed[arg.name] = recovered
        elif recovered is not _SKIP and not _is_default(descriptor, arg, recovered, args):
            args[arg.name] = recovered
    spec = LayerSpec(descriptor, cls, args, handed)
    compact = _compacted(spec)
    if compact != spec and verify(compact, module, where) is None:
        return compact  # kernel_size=3 rather than [3, 3], when the module prints the same
    problem = verify(spec, module, where)
    return problem if problem is not None else spec


_SKIP = object()  # an argument left at its default: the rebuild proves that right or wrong


def _recover_arg(module: torch.nn.Module, descriptor: Node, arg: Arg, catalog: TorchCatalog,
                 where: str) -> JsonValue | LayerSpec | Unmapped:
    """One argument's literal, the layer handed to it, _SKIP, or why it cannot be recovered."""
    def refuse(why: str) -> Unmapped:
        return Unmapped(where, descriptor.id, f"constructor arguments could not be recovered: {why}")
    raw, present = _attribute(module, ATTRIBUTE_PATHS.get(descriptor.id, {}).get(arg.name, arg.name))
    if not present:
        return refuse(f"the module does not keep argument {arg.name!r}") if arg.required else _SKIP
    if value_kind(arg.schema) in EDGE_VALUE_KINDS:
        if raw is None:
            return _SKIP
        if not isinstance(raw, torch.nn.Module):
            return refuse(f"argument {arg.name!r} holds a {type(raw).__name__}, not a layer")
        return recover_layer(raw, catalog, f"{where}.{arg.name}")
    literal, why = _literal_for(arg, raw)
    if why:
        return refuse(f"{arg.name} {why}") if arg.required else _SKIP
    return literal


def _attribute(module: Any, path: str) -> tuple[Any, bool]:
    value = module
    for part in path.split("."):
        if part.isdigit() and isinstance(value, (torch.nn.ModuleList, torch.nn.Sequential, list, tuple)):
            if int(part) >= len(value):
                return None, False
            value = value[int(part)]
        elif hasattr(value, part):
            value = getattr(value, part)
        else:
            return None, False
    return value, True


def _literal_for(arg: Arg, raw: Any) -> tuple[JsonValue, str]:
    schema = arg.schema or {}
    if isinstance(raw, torch.Tensor) or (raw is None and _is_boolean(schema)):
        if _is_boolean(schema):
            return raw is not None, ""  # Linear(bias=False) keeps bias = None
        return "", "is a tensor"
    enum = schema.get("enum") or []
    if callable(raw) and not isinstance(raw, torch.nn.Module) and getattr(raw, "__name__", None) in enum:
        return raw.__name__, ""  # TransformerEncoderLayer keeps activation="relu" as F.relu
    literal, why = to_literal(raw)
    if why:
        return "", why
    problems = list(literal_arg_problems_for(arg, literal))
    return ("", problems[0]) if problems else (literal, "")


def _compacted(spec: LayerSpec) -> LayerSpec:
    """`kernel_size: 3` for `[3, 3]` where the argument also takes one number for all dimensions
    (as the module was most likely written), and arguments that become their default left out."""
    args: dict[str, JsonValue] = {}
    for name, literal in spec.args.items():
        arg = spec.descriptor.arg(name)
        assert arg is not None
        if isinstance(literal, list) and literal and all(type(v) is int and v == literal[0] for v in literal) \
                and not literal_arg_problems_for(arg, literal[0]):
            literal = literal[0]
        if not (arg.has_default and same_literal(literal, arg.default)):
            args[name] = literal
    return LayerSpec(spec.descriptor, spec.cls, args, spec.handed)


def _is_boolean(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "boolean"


def literal_arg_problems_for(arg: Arg, literal: JsonValue) -> list[str]:
    """Why one literal does not fit its argument's schema ([] when it does)."""
    holder = Node(id="", library="torch", name="", origin_module="", origin_qualname="", kind="layer",
                  category="", summary="", call={}, inputs=(), outputs=(), args=(arg,))
    return [p.message for p in literal_arg_problems(holder, {arg.name: literal}, "", [])]


def _is_default(descriptor: Node, arg: Arg, literal: JsonValue, recovered: dict[str, JsonValue]) -> bool:
    if arg.has_default and same_literal(literal, arg.default):
        return True
    twin = SAME_AS_DEFAULT.get(descriptor.id, {}).get(arg.name)
    return twin is not None and arg.has_default and arg.default is None and \
        twin in recovered and same_literal(literal, recovered[twin])


def build_like(spec: LayerSpec) -> torch.nn.Module:
    """The module a graph node with these arguments builds, on the meta device."""
    kwargs: dict[str, Any] = {name: torch_value(value, value_kind(spec.descriptor.arg(name).schema))
                              for name, value in spec.args.items()}
    kwargs.update({name: build_like(sub) for name, sub in spec.handed.items()})
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # construction advice (nested tensors) is not the user's concern here
        return spec.cls(**kwargs)


def verify(spec: LayerSpec, module: torch.nn.Module, where: str) -> Unmapped | None:
    """The rebuilt module must print and hold its weights exactly like the original."""
    def refuse(why: str) -> Unmapped:
        return Unmapped(where, spec.descriptor.id, f"constructor arguments could not be recovered: {why}")
    try:
        rebuilt = build_like(spec)
    except Exception as exc:  # the library refused the recovered arguments
        from nodecat.executor.graph.errors import short_error
        return refuse(f"{spec.descriptor.id}({_kwargs_text(spec)}) fails: {short_error(exc)}")
    original = _repr_as(module, spec.cls)
    if repr(rebuilt) != original:
        return refuse(f"repr differs: {_first_difference(repr(rebuilt), original)}")
    mine, theirs = _state_shapes(rebuilt), _state_shapes(module)
    if mine != theirs:
        differing = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        return refuse("state dict differs at " + ", ".join(
            f"{k} (rebuilt {mine.get(k, 'missing')}, original {theirs.get(k, 'missing')})" for k in differing[:4]))
    return None


def _repr_as(module: torch.nn.Module, cls: type) -> str:
    """The module's repr as its catalog class would print it (a subclass prints its own name)."""
    text = repr(module)
    own = type(module).__name__
    return cls.__name__ + text[len(own):] if own != cls.__name__ and text.startswith(own) else text


def _state_shapes(module: torch.nn.Module) -> dict[str, tuple[tuple[int, ...], str]]:
    return {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in module.state_dict().items()}


def _first_difference(rebuilt: str, original: str) -> str:
    for mine, theirs in zip(rebuilt.splitlines(), original.splitlines()):
        if mine != theirs:
            return f"rebuilt {mine.strip()!r}, original {theirs.strip()!r}"
    return f"rebuilt {rebuilt.splitlines()[-1].strip()!r}, original {original.splitlines()[-1].strip()!r}"


def _kwargs_text(spec: LayerSpec) -> str:
    parts = [f"{k}={v!r}" for k, v in spec.args.items()] + [f"{k}=<{s.descriptor.id}>" for k, s in spec.handed.items()]
    text = ", ".join(parts)
    return text if len(text) <= 160 else text[:157] + "..."


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
