"""Catalog statistics: coverage and typing numbers the CLI and CI print."""
from __future__ import annotations

from collections import Counter
from typing import Any

from introspector.model import Catalog


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
    }
