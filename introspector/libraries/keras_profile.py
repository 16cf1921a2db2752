"""What the crawler needs to know about Keras 3: namespaces, roles, categories, value types.

Keras annotates none of its arguments: types come from the leading phrase of each
argument's description (nodecat.introspector.prose) and from the named registries below, which
turn "Initializer for the kernel weights matrix" into an enum of initializer names.
Keras is imported on the torch backend unless the user chose another (see
`libraries.load_profile`); nothing here depends on the backend.
"""
from __future__ import annotations

import inspect
from typing import Any, Iterator

import keras
from keras.src.backend.common import dtypes as keras_dtypes

from nodecat.introspector.model import Exclusion, Node
from nodecat.introspector.profile import Found
from nodecat.introspector.typemap import NULL, LibraryTypes, Typing

TENSOR = {"x-nodecat": "tensor"}
LAYER = {"x-nodecat": "module"}
SCHEDULE = {"x-nodecat": "schedule"}
# Layer dtypes are dtype names or the names of mixed-precision policies.
DTYPE = {"enum": sorted(keras_dtypes.ALLOWED_DTYPES) + ["mixed_bfloat16", "mixed_float16"], "x-nodecat": "dtype"}

_NOT_NAMES = {"get", "serialize", "deserialize"}


def _registered(namespace: Any, base: type) -> Any:
    """The names a Keras `get()` accepts (snake_case) and the classes a config may name."""
    names, classes = [], []
    for name in sorted(dir(namespace)):
        obj = getattr(namespace, name)
        if name.startswith("_") or name in _NOT_NAMES or not inspect.isclass(obj) or obj is base:
            continue
        (names if name[0].islower() else classes).append(name)
    return names, classes


def _named_kind(kind: str, namespace: Any, base: type) -> dict[str, Any]:
    """A registered name, or {"class_name": ..., "config": {...}} for one with arguments (e.g. L2(1e-4))."""
    names, classes = _registered(namespace, base)
    config = {"type": "object", "required": ["class_name"], "additionalProperties": False,
              "properties": {"class_name": {"enum": classes}, "config": {"type": "object"}}}
    return {"anyOf": [{"enum": names}, config], "x-nodecat": kind}


ACTIVATION_NAMES = sorted(n for n in dir(keras.activations)
                          if not n.startswith("_") and n not in _NOT_NAMES and callable(getattr(keras.activations, n)))
ACTIVATION = {"enum": ACTIVATION_NAMES, "x-nodecat": "activation"}
INITIALIZER = _named_kind("initializer", keras.initializers, keras.initializers.Initializer)
REGULARIZER = _named_kind("regularizer", keras.regularizers, keras.regularizers.Regularizer)
CONSTRAINT = _named_kind("constraint", keras.constraints, keras.constraints.Constraint)

TYPES = LibraryTypes(
    by_class={keras.KerasTensor: TENSOR, keras.Variable: TENSOR, keras.layers.Layer: LAYER,
              keras.optimizers.schedules.LearningRateSchedule: SCHEDULE},
    by_word={"tensor": TENSOR, "layer": LAYER,
             "schedule": SCHEDULE, "dtype": DTYPE, "initializer": INITIALIZER, "regularizer": REGULARIZER,
             "constraint": CONSTRAINT, "activation": ACTIVATION})

_TENSOR_OR_NONE = {"anyOf": [TENSOR, NULL]}
_CONVENTIONS: dict[str, tuple[Typing, bool]] = {
    # Keras names its tensor parameters consistently, and documents few of them in call().
    **{name: (Typing(TENSOR, "keras naming convention"), False)
       for name in ("inputs", "x", "x1", "x2", "y_true", "y_pred", "sequences", "query", "value", "images")},
    **{name: (Typing(_TENSOR_OR_NONE, "keras naming convention"), False)
       for name in ("mask", "key", "sample_weight", "query_mask", "value_mask", "key_mask", "attention_mask",
                    "initial_state")},
    # Base-layer keyword arguments many constructors repeat without documenting them.
    "name": (Typing({"anyOf": [{"type": "string"}, NULL]}, "keras naming convention"), False),
    "dtype": (Typing({"anyOf": [DTYPE, NULL]}, "keras naming convention"), False),
    "seed": (Typing({"anyOf": [{"type": "integer"}, NULL]}, "keras naming convention"), False),
    "data_format": (Typing({"anyOf": [{"enum": ["channels_last", "channels_first"]}, NULL]},
                           "keras naming convention"), False),
    # The executor decides training mode; a graph never sets it per node.
    "training": (Typing({"anyOf": [{"type": "boolean"}, NULL]}, "keras call convention"), True),
}

_CODE_REASON = "runs a Python function or loads code from a file; a graph cannot carry code"
_LOOKUP_REASON = "looks objects up by name or config; not a tensor operation"
# Public paths left out of the catalog: (code, reason).
_EXCLUDED: dict[str, tuple[str, str]] = {
    **{f"keras.layers.{name}": entry for name, entry in {
        "Layer": ("base-class", "the base class of every layer; not a layer itself"),
        "Wrapper": ("base-class", "the base class of Bidirectional and TimeDistributed"),
        "InputSpec": ("not-a-node", "describes the inputs a layer accepts; not a layer"),
        "InputLayer": ("not-a-node", "graph inputs are the graph format's built-in `input` node"),
        "Input": ("not-a-node", "graph inputs are the graph format's built-in `input` node"),
        "Lambda": ("unsafe", "wraps an arbitrary Python function; " + _CODE_REASON),
        "TFSMLayer": ("unsafe", "loads a TensorFlow SavedModel from a file path; " + _CODE_REASON),
        "TorchModuleWrapper": ("unsafe", "wraps an arbitrary torch module object; " + _CODE_REASON),
        "JaxLayer": ("unsafe", "wraps an arbitrary JAX function; " + _CODE_REASON),
        "FlaxLayer": ("unsafe", "wraps an arbitrary Flax module object; " + _CODE_REASON),
        "Pipeline": ("container", "holds a list of other layers; a graph of nodes expresses the same"),
        "StackedRNNCells": ("container", "holds a list of RNN cells; use several recurrent layers instead"),
        "serialize": ("not-a-node", "turns a layer into a config; not a tensor operation"),
        "deserialize": ("unsafe", "builds any registered object from a config; a graph names catalog nodes instead"),
    }.items()},
    # control flow whose essential argument is a Python function
    **{f"keras.ops.{name}": ("unsafe", "takes a Python function to run; " + _CODE_REASON)
       for name in ("associative_scan", "cond", "custom_gradient", "fori_loop", "jvp", "map", "scan", "switch",
                    "vectorize", "vectorized_map", "while_loop")},
    "keras.ops.convert_to_numpy": ("not-a-node", "returns a NumPy array, which leaves the graph"),
    **{f"keras.{namespace}.{name}": ("not-a-node", _LOOKUP_REASON)
       for namespace in ("activations", "losses", "metrics") for name in sorted(_NOT_NAMES)},
    "keras.losses.Loss": ("base-class", "the base class of every loss"),
    "keras.metrics.Metric": ("base-class", "the base class of every metric"),
    "keras.metrics.MeanMetricWrapper": ("unsafe", "its essential argument fn is a Python function; " + _CODE_REASON),
    "keras.optimizers.Optimizer": ("base-class", "the base class of every optimizer"),
    "keras.optimizers.LossScaleOptimizer": ("wrapper", "wraps another optimizer object; needs optimizer-valued "
                                                       "edges (later)"),
    "keras.optimizers.MultiOptimizer": ("wrapper", "maps layers to other optimizer objects; needs optimizer-valued "
                                                   "edges (later)"),
    "keras.optimizers.OptimizerMap": ("wrapper", "maps variables to other optimizer objects; needs optimizer-valued "
                                                 "edges (later)"),
    "keras.optimizers.schedules.LearningRateSchedule": ("base-class", "the base class of every learning-rate schedule"),
}

# keras/src/layers/<group>/... -> menu category
_LAYER_CATEGORY = {
    "activations": "activation", "attention": "attention", "convolutional": "convolution", "core": "core",
    "merging": "merge", "normalization": "normalization", "pooling": "pooling", "preprocessing": "preprocessing",
    "regularization": "regularization", "reshaping": "reshape", "rnn": "recurrent",
}


def _found(path: str, obj: object, kind: str | None) -> Found:
    """A crawled name: left out when the table lists it, else a node of this kind (None: not a node)."""
    if path in _EXCLUDED:
        code, reason = _EXCLUDED[path]
        return Found(path, obj, None, Exclusion(path, code, reason))
    if kind is None:
        return Found(path, obj, None, Exclusion(path, "not-a-node", "a public helper class, not a layer"))
    return Found(path, obj, kind)


def _public_members(namespace: Any) -> Iterator[tuple[str, Any]]:
    for name in sorted(dir(namespace)):
        if not name.startswith("_"):
            yield name, getattr(namespace, name)


class KerasProfile:
    name = "keras"
    types = TYPES
    prose_types = True

    def version(self) -> str:
        return keras.__version__

    def notes(self) -> tuple[str, ...]:
        return (
            "Backend-independent: nodecat crawls Keras on the torch backend by default, and the same "
            "Keras version gives the same bytes on the numpy (and jax) backend (tests/test_keras_backends.py).",
            "Named choices: activations " + ", ".join(ACTIVATION_NAMES) + "; initializers "
            + ", ".join(INITIALIZER["anyOf"][0]["enum"]) + "; regularizers "
            + ", ".join(REGULARIZER["anyOf"][0]["enum"]) + "; constraints "
            + ", ".join(CONSTRAINT["anyOf"][0]["enum"]) + ".",
        )

    def walk(self) -> Iterator[Found]:
        yield from self._walk_layers()
        yield from self._walk_ops()
        yield from self._walk_functions("keras.activations", keras.activations)
        yield from self._walk_classes_and_functions("keras.losses", keras.losses, "loss")
        yield from self._walk_classes_and_functions("keras.metrics", keras.metrics, "metric")
        yield from self._walk_optimizers()

    def _walk_layers(self) -> Iterator[Found]:
        for name, obj in _public_members(keras.layers):
            if inspect.isclass(obj):
                yield _found(f"keras.layers.{name}", obj, "layer" if issubclass(obj, keras.layers.Layer) else None)
            elif inspect.isfunction(obj):  # add, concatenate...: functional forms of merge layers
                yield _found(f"keras.layers.{name}", obj, "function")

    def _walk_ops(self) -> Iterator[Found]:
        namespaces = [("keras.ops", keras.ops)] + [(f"keras.ops.{sub}", getattr(keras.ops, sub))
                                                   for sub in ("image", "linalg", "nn", "numpy")]
        for prefix, namespace in namespaces:
            for name, obj in _public_members(namespace):
                if callable(obj) and not (inspect.ismodule(obj) or inspect.isclass(obj)):
                    yield _found(f"{prefix}.{name}", obj, "function")

    def _walk_functions(self, prefix: str, namespace: Any) -> Iterator[Found]:
        for name, obj in _public_members(namespace):
            if inspect.isfunction(obj):
                yield _found(f"{prefix}.{name}", obj, "function")

    def _walk_classes_and_functions(self, prefix: str, namespace: Any, class_kind: str) -> Iterator[Found]:
        for name, obj in _public_members(namespace):
            if inspect.isclass(obj):
                yield _found(f"{prefix}.{name}", obj, class_kind)
        yield from self._walk_functions(prefix, namespace)

    def _walk_optimizers(self) -> Iterator[Found]:
        for name, obj in _public_members(keras.optimizers):
            path = f"keras.optimizers.{name}"
            if inspect.isclass(obj) and (issubclass(obj, keras.optimizers.Optimizer) or path in _EXCLUDED):
                yield _found(path, obj, "optimizer")  # OptimizerMap is no Optimizer, but is listed as left out
        for name, obj in _public_members(keras.optimizers.schedules):
            if inspect.isclass(obj):
                yield _found(f"keras.optimizers.schedules.{name}", obj, "scheduler")

    def category(self, path: str, obj: object, kind: str) -> str:
        if kind in ("optimizer", "scheduler", "loss", "metric"):
            return kind
        parts = path.split(".")
        module = (getattr(obj, "__module__", "") or "").split(".")
        if parts[1] == "layers" and kind == "layer":
            group = module[3] if len(module) > 3 and module[:3] == ["keras", "src", "layers"] else "other"
            category = _LAYER_CATEGORY.get(group, "other")
            return category + "/image" if "image_preprocessing" in module else category
        if parts[1] == "layers":
            return "merge"
        if parts[1] == "ops":  # keras.src.ops.<numpy|nn|math|linalg|image|core|einops>
            return "ops/" + (module[3] if len(module) > 3 else "core")
        return {"activations": "activation", "losses": "loss", "metrics": "metric"}.get(parts[1], "other")

    def forward_method(self, cls: type) -> Any:
        if issubclass(cls, keras.metrics.Metric):
            return cls.update_state  # metric(y_true, y_pred) updates the state and returns the result
        if issubclass(cls, keras.losses.Loss):
            return cls.__call__  # applies the reduction and sample weights around call()
        call = getattr(cls, "call", None)
        return None if call is None or call is keras.layers.Layer.call else call

    def convention(self, arg_name: str) -> tuple[Typing, bool] | None:
        return _CONVENTIONS.get(arg_name)

    def json_default(self, value: object) -> tuple[bool, Any]:
        return False, None

    def named_constant(self, text: str) -> object | None:
        return None

    def find_example(self, node: Node, obj: object) -> tuple[dict[str, Any] | None, str]:
        from nodecat.introspector.libraries.keras_probe import find_example
        return find_example(node, obj)
