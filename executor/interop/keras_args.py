"""A layer's (or operation's) Keras config as catalog arguments, and the check that they rebuild it.

Keys that are catalog arguments are kept, converted to what the argument's JSON Schema takes:
a serialized initializer, regularizer or constraint becomes its string name when it means exactly
that object, else `{"class_name", "config"}`; a serialized activation function its name. Values
equal to the catalog default are left out, and every kept value is checked against its schema.
Keys the catalog does not list are dropped here: `verify_layer` rebuilds the layer from the kept
arguments and compares its config with the model's, so nothing dropped can change the result
unnoticed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from nodecat.executor.interop.keras_catalog import SERIALIZED_KINDS, KerasCatalog, string_names
from nodecat.executor.build.resolve import resolve
from nodecat.executor.graph.args import literal_arg_problems
from nodecat.executor.graph.values import keras_value, value_kind
from nodecat.executor.graph.errors import short_error
from nodecat.introspector.model import Arg, Node

LAYER_KEYS = ("name", "trainable", "dtype")  # not arguments: node ids name layers; the rest is checked apart
OPERATION_KEYS = ("name",)  # an operation's dtype is a real argument (keras.ops.cast)
_LAYER_CONFIG_NOISE = ("name", "trainable", "build_config", "compile_config", "registered_name")
_DEFAULT_POLICIES = ("float32",)


@dataclass
class ArgsResult:
    """Catalog arguments recovered from one config, what could not be, and what a reader should know."""

    args: dict[str, Any] = field(default_factory=dict)
    handed: dict[str, dict[str, Any]] = field(default_factory=dict)  # arg -> serialized layer an edge feeds
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plain(value: Any) -> Any:
    """A config as JSON values (tuples become lists); what cannot be JSON becomes a marker the
    converters refuse, so an odd object is reported instead of crashing the import."""
    return json.loads(json.dumps(value, default=lambda o: {"class_name": "__unserializable__",
                                                            "config": type(o).__name__}))


def same(a: Any, b: Any) -> bool:
    """JSON equality where True is not 1 (Python's == says it is) but 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def policy_problem(config: dict[str, Any]) -> str:
    """Why a layer's dtype policy cannot be imported ("" for the float32 default the executor uses)."""
    policy = config.get("dtype")
    name = policy.get("config", {}).get("name") if isinstance(policy, dict) else policy
    if policy is None or name in _DEFAULT_POLICIES:
        return ""
    return f"dtype policy {name!r}: graphs build every layer with the float32 default"


def config_args(descriptor: Node, config: dict[str, Any], catalog: KerasCatalog, owner: str,
                ignored: tuple[str, ...] = LAYER_KEYS) -> ArgsResult:
    """The catalog arguments of one layer or operation config (already `plain`)."""
    result = ArgsResult()
    for key, value in config.items():
        arg = descriptor.arg(key)
        if key in ignored or arg is None or arg.hidden:
            continue
        if arg.accepts_edge and is_serialized_layer(value):
            result.handed[key] = value
            continue
        try:
            converted, note = _convert(arg, value, catalog)
        except _Inexpressible as exc:
            result.problems.append(str(exc))
            continue
        if note:
            result.notes.append(note)
        if _is_default(arg, converted):
            continue
        problems = list(literal_arg_problems(descriptor, {key: converted}, owner, []))
        if problems:
            result.problems.extend(f"argument {key}={_short(converted)}: {p.message}" for p in problems)
            continue
        result.args[key] = converted
    return result


def is_serialized_layer(value: Any) -> bool:
    return isinstance(value, dict) and value.get("module") == "keras.layers" and isinstance(value.get("config"), dict)


class _Inexpressible(Exception):
    """A config value that no catalog argument value can express (the message says why)."""


def _convert(arg: Arg, value: Any, catalog: KerasCatalog) -> tuple[Any, str]:
    """The value the argument's schema takes, and a note when something harmless was dropped."""
    if not (isinstance(value, dict) and "class_name" in value):
        return value, ""
    kind = value_kind(arg.schema)
    if kind in SERIALIZED_KINDS:
        return _serialized_object(arg, kind, value)
    if value.get("class_name") == "function" and isinstance(value.get("config"), str) \
            and value["config"] in catalog.activations and kind == "activation":
        return value["config"], ""
    raise _Inexpressible(f"argument {arg.name} holds a serialized {value.get('module', '')}.{value['class_name']}, "
                         "which its catalog schema cannot take")


def _serialized_object(arg: Arg, kind: str, value: dict[str, Any]) -> tuple[Any, str]:
    getter = _getter(kind)
    class_name = value["class_name"]
    config = dict(value.get("config") or {})
    seed = config.pop("seed", None) if kind == "initializer" else None
    note = (f"{arg.name}: seed {seed} dropped (the imported weights replace the initial values; "
            "only a re-initialisation differs)") if seed is not None else ""
    for name in string_names(arg.schema or {}):  # the plain name when it means exactly this object
        try:
            candidate = getter(name)
        except Exception:  # a name that needs arguments (constant): not a plain-name candidate
            continue
        if type(candidate).__name__ == class_name and same(_without_seed(plain(candidate.get_config())), config):
            return name, note
    return {"class_name": class_name, "config": config}, note


def _without_seed(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "seed"}


def _is_default(arg: Arg, value: Any) -> bool:
    if not arg.has_default:
        return False
    if same(value, arg.default):
        return True
    kind = value_kind(arg.schema)
    if kind in SERIALIZED_KINDS and arg.default is not None and value is not None:
        return _same_object(kind, value, arg.default)  # Embedding's "uniform" is "random_uniform"
    # Keras writes the absent activation (None) as "linear": the same layer either way
    return kind == "activation" and arg.default is None and value == "linear"


def _same_object(kind: str, left: Any, right: Any) -> bool:
    """Whether two initializer (regularizer, constraint) values make the same object."""
    getter = _getter(kind)
    try:
        a, b = getter(left), getter(right)
    except Exception:  # a value Keras cannot make: not the default
        return False
    return type(a) is type(b) and same(_without_seed(plain(a.get_config())), _without_seed(plain(b.get_config())))


def _getter(kind: str) -> Any:
    import keras
    return {"initializer": keras.initializers.get, "regularizer": keras.regularizers.get,
            "constraint": keras.constraints.get}[kind]


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- rebuilding and comparing ---------------------------------------------------------------------
def construct(descriptor: Node, args: dict[str, Any], handed: dict[str, Any], name: str) -> Any:
    """The layer the executor would build from these arguments (literal values converted the same way,
    named as the executor names it, which also spares Keras' automatic names)."""
    cls = resolve(descriptor)
    kwargs = {key: keras_value(value, value_kind(arg.schema))
              for key, value in args.items() if (arg := descriptor.arg(key)) is not None}
    kwargs.update(handed)
    kwargs["name"] = name
    return cls(**kwargs)


def config_difference(original: dict[str, Any], rebuilt: dict[str, Any]) -> str:
    """Which config entries differ between the model's layer and the rebuilt one ("" when none).

    Names, trainability and build information are not compared (node ids name layers; trainability
    is noted separately), nor initializer seeds (the weights are imported)."""
    left, right = normalised_config(original), normalised_config(rebuilt)
    keys = sorted(set(left) | set(right))
    differing = [k for k in keys if k not in left or k not in right or not same(left[k], right[k])]
    parts = [f"{k}: model {_short(left.get(k, '<absent>'))}, rebuilt {_short(right.get(k, '<absent>'))}"
             for k in differing[:4]]
    return "; ".join(parts) + (f" (and {len(differing) - 4} more)" if len(differing) > 4 else "")


def normalised_config(config: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in plain(config).items():
        if key in _LAYER_CONFIG_NOISE:
            continue
        out[key] = _normalised_value(value)
    return out


def _normalised_value(value: Any) -> Any:
    if is_serialized_layer(value):
        return {"class_name": value.get("class_name"), "config": normalised_config(value["config"])}
    if isinstance(value, dict) and value.get("module") == "keras.initializers" and isinstance(value.get("config"), dict):
        return {**value, "config": _without_seed(value["config"])}
    if isinstance(value, dict):
        return {k: _normalised_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised_value(v) for v in value]
    return value


def verify_layer(descriptor: Node, args: dict[str, Any], handed: dict[str, Any], original: dict[str, Any],
                 name: str) -> str:
    """Rebuild the layer from the recovered arguments; "" when its config equals the model's, else why not."""
    try:
        rebuilt = construct(descriptor, args, handed, name)
    except Exception as exc:  # any library error means these arguments do not rebuild the layer
        return f"rebuilding {descriptor.id} from the recovered arguments failed: {short_error(exc)}"
    difference = config_difference(original, rebuilt.get_config())
    return f"rebuilt from catalog arguments, its config differs: {difference}" if difference else ""
