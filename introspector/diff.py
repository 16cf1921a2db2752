"""What changed between two catalogs (e.g. torch 2.12 -> 2.13): nodes, arguments, types, defaults, calls."""
from __future__ import annotations

from typing import Any

from nodecat.introspector.model import Arg, Catalog, Node

_ARG_FIELDS = ("default", "schema", "required", "stage")


def _arg_changes(old: Arg, new: Arg) -> dict[str, Any]:
    before, after = old.to_json(), new.to_json()
    return {key: {"old": before.get(key), "new": after.get(key)}
            for key in _ARG_FIELDS if before.get(key) != after.get(key)}


def _node_changes(old: Node, new: Node) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    old_args, new_args = {a.name: a for a in old.args}, {a.name: a for a in new.args}
    if added := sorted(new_args.keys() - old_args.keys()):
        changes["args_added"] = added
    if removed := sorted(old_args.keys() - new_args.keys()):
        changes["args_removed"] = removed
    changed = {name: c for name in sorted(old_args.keys() & new_args.keys())
               if (c := _arg_changes(old_args[name], new_args[name]))}
    if changed:
        changes["args_changed"] = changed
    for key in ("call", "kind", "category"):
        if getattr(old, key) != getattr(new, key):
            changes[key] = {"old": getattr(old, key), "new": getattr(new, key)}
    for key in ("inputs", "outputs"):
        before = [p.to_json() for p in getattr(old, key)]
        after = [p.to_json() for p in getattr(new, key)]
        if before != after:
            changes[key] = {"old": before, "new": after}
    return changes


def diff_catalogs(old: Catalog, new: Catalog) -> dict[str, Any]:
    old_nodes, new_nodes = {n.id: n for n in old.nodes}, {n.id: n for n in new.nodes}
    changed = {node_id: c for node_id in sorted(old_nodes.keys() & new_nodes.keys())
               if (c := _node_changes(old_nodes[node_id], new_nodes[node_id]))}
    return {
        "old": {"library": old.library, "version": old.version},
        "new": {"library": new.library, "version": new.version},
        "nodes_added": sorted(new_nodes.keys() - old_nodes.keys()),
        "nodes_removed": sorted(old_nodes.keys() - new_nodes.keys()),
        "nodes_changed": changed,
    }


def diff_is_empty(diff: dict[str, Any]) -> bool:
    return not (diff["nodes_added"] or diff["nodes_removed"] or diff["nodes_changed"])


def format_diff(diff: dict[str, Any]) -> str:
    lines = [f"{diff['old']['library']} {diff['old']['version']} -> {diff['new']['library']} {diff['new']['version']}"]
    lines += [f"+ {n}" for n in diff["nodes_added"]]
    lines += [f"- {n}" for n in diff["nodes_removed"]]
    for node_id, changes in diff["nodes_changed"].items():
        lines.append(f"~ {node_id}")
        for name in changes.get("args_added", []):
            lines.append(f"    + arg {name}")
        for name in changes.get("args_removed", []):
            lines.append(f"    - arg {name}")
        for name, fields in changes.get("args_changed", {}).items():
            for key, values in fields.items():
                lines.append(f"    ~ arg {name}.{key}: {values['old']!r} -> {values['new']!r}")
        for key in ("call", "kind", "category", "inputs", "outputs"):
            if key in changes:
                lines.append(f"    ~ {key}: {changes[key]['old']!r} -> {changes[key]['new']!r}")
    if diff_is_empty(diff):
        lines.append("no changes")
    return "\n".join(lines)
