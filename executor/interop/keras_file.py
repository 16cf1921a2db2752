"""A `.keras` file, read safely: its config is checked against the catalog before Keras sees it.

`keras.saving.load_model` turns every `{"module", "class_name", "config"}` object of the file's
`config.json` into a live object: it imports modules and calls constructors that the file names.
So the config is read here first (zipfile and strict JSON, bounded sizes: duplicate keys, which
Keras would resolve differently, are refused), and every serialized object in it must be one the
catalog lists: a catalog layer, an operation of a catalog `keras.ops` function, an initializer,
regularizer or constraint class a catalog schema names, a catalog activation, a float dtype
policy, or Keras' own tensor and model markers. Anything else (a custom layer, `Lambda`, a
lambda's bytecode, a module outside `keras`, a registered custom name) is reported per layer and
nothing is deserialised. Only then does Keras load the file, in safe mode and without compiling
(the training config, the only part not checked, is discarded by Keras when `compile=False`).
"""
from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.interop.imported import Unmapped, refuse
from nodecat.executor.interop.keras_catalog import KerasCatalog
from nodecat.executor.graph.vocabulary import MAX_GRAPH_BYTES, MAX_NESTING
from nodecat.executor.graph.errors import short_error

CONFIG_NAME = "config.json"
MAX_CONFIG_BYTES = MAX_GRAPH_BYTES
_MODEL_CLASSES = {("keras.src.models.functional", "Functional"), ("keras.src.models.sequential", "Sequential"),
                  ("keras", "Functional"), ("keras", "Sequential"), ("keras.models", "Sequential")}
_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy")
_DATA_MARKERS = ("__keras_tensor__", "__tensor__", "__numpy__", "__ellipsis__", "__slice__")
_SERIALIZED_MODULES = {"keras.initializers": "initializer", "keras.regularizers": "regularizer",
                       "keras.constraints": "constraint"}
_UNCHECKED_KEYS = ("compile_config",)  # dropped by load_model(compile=False) before anything is deserialised


def load_checked_keras_file(path: Path, catalog: KerasCatalog) -> Any:
    """The model in a `.keras` file whose config names only what the catalog lists."""
    config = read_keras_config(path)
    offending = unsafe_objects(config, catalog)
    if offending:
        raise refuse(offending)
    import keras
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # a checked config Keras still cannot load (weights file, shapes, versions)
        raise GraphError(GraphProblem("import_failed", f"Keras could not load {path}: {short_error(exc)}")) from exc


def read_keras_config(path: Path) -> dict[str, Any]:
    """`config.json` of a `.keras` archive as strict JSON, without extracting anything else."""
    if path.suffix != ".keras" or not path.is_file():
        raise _bad(path, "is not a .keras file" if path.is_file() else "does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(CONFIG_NAME)
            if info.file_size > MAX_CONFIG_BYTES:
                raise _bad(path, f"holds a {info.file_size}-byte {CONFIG_NAME}; at most {MAX_CONFIG_BYTES}")
            with archive.open(info) as handle:
                raw = handle.read(MAX_CONFIG_BYTES + 1)  # the header's size may lie
    except KeyError:
        raise _bad(path, f"has no {CONFIG_NAME}") from None
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:  # RuntimeError: encrypted members
        raise _bad(path, f"is not a readable zip archive ({exc})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise _bad(path, f"holds a {CONFIG_NAME} larger than {MAX_CONFIG_BYTES} bytes")
    return _parse(path, raw)


def _parse(path: Path, raw: bytes) -> dict[str, Any]:
    from nodecat.introspector.jsonio import _StrictnessError, parse_strict
    try:
        document = parse_strict(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, _StrictnessError, RecursionError, ValueError) as exc:
        raise _bad(path, f"holds a {CONFIG_NAME} that is not strict JSON ({str(exc)[:200]})") from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise _bad(path, f"holds a {CONFIG_NAME} that is not a model config")
    return document


def _bad(path: Path, why: str) -> GraphError:
    return GraphError(GraphProblem("bad_target", f"{path} {why}", hint="a .keras file written by model.save()"))


# -- the allowlist ---------------------------------------------------------------------------------
def unsafe_objects(document: dict[str, Any], catalog: KerasCatalog) -> list[Unmapped]:
    """Every serialized object the catalog does not list, with the layer it sits in (deduplicated)."""
    found: dict[tuple[str, str], Unmapped] = {}
    model_name = str(document.get("config", {}).get("name", "model"))
    top = {k: v for k, v in document.items() if k not in _UNCHECKED_KEYS}
    for owner, entry, depth in _serialized_objects(top, model_name, 0):
        reason = "nested deeper than the config format allows" if depth > MAX_NESTING else _refusal(entry, catalog)
        if reason:
            module, class_name = entry.get("module"), entry.get("class_name")
            call = f"{module}.{class_name}" if module else str(class_name)
            found.setdefault((owner, call), Unmapped(owner, call, reason))
    return list(found.values())


def _serialized_objects(value: Any, owner: str, depth: int, in_layer: bool = False
                        ) -> Iterator[tuple[str, dict[str, Any], int]]:
    """(owning layer, object, depth) for every dict naming a class. The owner is the name of the
    model's layer the object sits in (a wrapper's inner layer reports as the wrapper)."""
    if depth > MAX_NESTING:
        yield owner, {"class_name": "?", "module": "?"}, depth
        return
    if isinstance(value, list):
        for item in value:
            yield from _serialized_objects(item, owner, depth + 1, in_layer)
        return
    if not isinstance(value, dict):
        return
    if "class_name" in value:
        if not in_layer and depth > 0:  # an entry of the model's layer list (depth 0: the model itself)
            config = value.get("config")
            owner = str(value.get("name") or (config.get("name") if isinstance(config, dict) else None) or owner)
            in_layer = True
        yield owner, value, depth
    for child in value.values():
        yield from _serialized_objects(child, owner, depth + 1, in_layer)


def _refusal(entry: dict[str, Any], catalog: KerasCatalog) -> str:
    """Why Keras must not deserialise this object ("" when the catalog lists it)."""
    class_name, module, registered = entry.get("class_name"), entry.get("module"), entry.get("registered_name")
    if class_name in _DATA_MARKERS:
        return ""
    if class_name == "__lambda__":
        return "Python bytecode (a lambda); importing it would run code the catalog does not list"
    if not isinstance(class_name, str) or not isinstance(module, str):
        return f"an object without a class and module ({class_name!r} in {module!r})"
    if module != "keras" and not module.startswith("keras."):
        return f"module {module!r} is outside keras; only catalog classes are deserialised"
    if registered not in (None, class_name):
        return f"registered name {registered!r}: a custom object, not a catalog class"
    return _keras_refusal(entry, class_name, module, catalog)


def _keras_refusal(entry: dict[str, Any], class_name: str, module: str, catalog: KerasCatalog) -> str:
    if module == "keras.layers":
        if class_name == "InputLayer" or catalog.public_layer(class_name) is not None:
            return ""
        return catalog.excluded_reason(f"keras.layers.{class_name}") or f"layer {class_name} is not in the catalog"
    if module.startswith("keras.src.ops."):
        return "" if catalog.op_node(module, class_name) else f"operation {class_name} has no catalog keras.ops function"
    if module in _SERIALIZED_MODULES:
        kind = _SERIALIZED_MODULES[module]
        return "" if class_name in catalog.serialized_classes[kind] else f"{kind} {class_name} is not in the catalog"
    if class_name == "function":
        name = entry.get("config")
        known = module == "keras.activations" and name in catalog.activations
        return "" if known else f"function {name!r} of {module} is not a catalog activation"
    if module == "keras" and class_name in _POLICY_CLASSES:
        return ""
    if (module, class_name) in _MODEL_CLASSES:
        return ""
    return f"{module}.{class_name} is not a class the catalog lists"
