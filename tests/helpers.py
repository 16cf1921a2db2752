"""Small helpers the tests share: exact object lookup, catalog document edits, the nn class list."""
from __future__ import annotations

import copy
import importlib
import inspect
from typing import Any

from nodecat.introspector.build import installed_version

TORCH_VERSION = installed_version("torch")  # without importing torch


def node_index(document: dict[str, Any], node_id: str) -> int:
    return next(i for i, n in enumerate(document["nodes"]) if n["id"] == node_id)


def make_untyped(document: dict[str, Any], node_id: str, arg_name: str, reason: str) -> dict[str, Any]:
    """A copy of a catalog document where one argument is untyped and its node needs review."""
    document = copy.deepcopy(document)
    node = document["nodes"][node_index(document, node_id)]
    arg = next(a for a in node["args"] if a["name"] == arg_name)
    arg.pop("schema", None)
    arg.pop("auto_source", None)
    arg["source"] = "none"
    arg["unsupported"] = reason
    node["review"] = "needs-review"
    node["review_reasons"] = [f"argument {arg_name}: {reason}"]
    return document


def resolve_origin(module: str, qualname: str) -> object:
    """Exact lookup: import the module, then one getattr per qualname part (no other walking)."""
    obj: object = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def resolve_path(path: str) -> object:
    """The object at a public import path such as torch.nn.functional.conv2d."""
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def public_nn_module_classes() -> list[str]:
    """Every public nn.Module subclass that torch.nn exports, as torch.nn.<Name>."""
    import torch.nn as nn
    return sorted(f"torch.nn.{name}" for name, obj in vars(nn).items()
                  if not name.startswith("_") and inspect.isclass(obj) and issubclass(obj, nn.Module))


def schema_validator(name: str):
    """A 2020-12 validator for catalogs/schema/<name>.schema.json, built here from the files alone
    (not through nodecat.introspector.schemas), with the sibling schemas registered for $ref."""
    import json
    from pathlib import Path

    import jsonschema
    from referencing import Registry, Resource

    schema_dir = Path(__file__).resolve().parent.parent / "catalogs" / "schema"
    schemas = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in schema_dir.glob("*.schema.json")}
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    return jsonschema.Draft202012Validator(schemas[f"{name}.schema.json"], registry=registry)
