"""Catalog statistics: coverage and typing numbers the CLI and CI print."""
from __future__ import annotations

from collections import Counter
from typing import Any

from nodecat.introspector.bounds import unbounded_size_args
from nodecat.introspector.model import Arg, Catalog


def catalog_stats(catalog: Catalog, overrides_count: int, stale_count: int) -> dict[str, Any]:
    args = [a for n in catalog.nodes for a in n.args]
    return {
        "version": catalog.version,
        "nodes": len(catalog.nodes),
        "excluded": len(catalog.excluded),
        "args": len(args),
        "args_typed": sum(a.typed for a in args),
        "args_typed_auto": sum(a.typed_automatically for a in args),
        "args_needs_review": sum(not a.typed for a in args),
        "nodes_needs_review": sum(n.review == "needs-review" for n in catalog.nodes),
        "nodes_with_example": sum(n.example is not None for n in catalog.nodes),
        "overrides": overrides_count,
        "overrides_applied": catalog.overrides_applied,
        "stale_overrides": stale_count,
        "by_kind": dict(sorted(Counter(n.kind for n in catalog.nodes).items())),
        # where the crawler found each type (before overrides), e.g. Keras' docstring share
        "args_by_source": dict(sorted(Counter(_found_in(a) for a in args).items())),
        "layer_args": _layer_args(catalog),
        # integer size and count arguments (in_channels, num_heads, ...) an editor could set below 1
        "size_args_without_minimum": len(unbounded_size_args(args)),
        # lower bounds the crawler inferred, by where it read them (bounds.py)
        "args_minimum_inferred": dict(sorted(Counter(a.provenance["minimum"] for a in args
                                                     if "minimum" in a.provenance).items())),
    }


def _found_in(arg: Arg) -> str:
    return arg.auto_source or arg.source if arg.source == "override" else arg.source


def _layer_args(catalog: Catalog) -> dict[str, Any]:
    """The typing of layer arguments a user sets (hidden ones such as `training` left out)."""
    args = [a for n in catalog.nodes if n.kind == "layer" for a in n.args if not a.hidden]
    share = (lambda count: round(count / len(args), 4)) if args else (lambda count: 0.0)
    from_docstring = sum(_found_in(a) == "docstring" for a in args)
    return {"args": len(args), "from_docstring": share(from_docstring),
            "automatic": share(sum(a.typed_automatically for a in args)), "typed": share(sum(a.typed for a in args))}
