"""A node descriptor as readable text, for `nodecat catalog show`."""
from __future__ import annotations

import json

from nodecat.introspector.model import Node


def _compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def format_node(node: Node) -> str:
    lines = [f"{node.id}  [{node.kind}, {node.category}, {node.review}]"]
    if node.aliases:
        lines.append("aliases: " + ", ".join(node.aliases))
    if node.summary:
        lines.append(node.summary)
    lines.append(f"call: {_compact(node.call)}")
    lines.append("inputs:")
    for port in node.inputs:
        conns = "any number" if port.conns is None else str(port.conns)
        lines.append(f"  {port.name}: {port.type} (conns {conns}{', optional' if not port.required else ''})")
    lines.append("outputs:")
    for out in node.outputs:
        lines.append(f"  {out.name}: {out.type}" + (f" at {list(out.path)}" if out.path else ""))
    lines.append("args:")
    for arg in node.args:
        default = f" = {_compact(arg.default)}" if arg.has_default else (f" = {arg.default_repr}" if arg.default_repr else "")
        typ = _compact(arg.schema) if arg.schema is not None else f"UNTYPED ({arg.unsupported})"
        flags = ", ".join(f for f in ("required" if arg.required else "", arg.stage, arg.source,
                                      "hidden" if arg.hidden else "") if f)
        lines.append(f"  {arg.name}{default}: {typ}  [{flags}]")
    for reason in node.review_reasons:
        lines.append(f"review: {reason}")
    if node.example_failure:
        lines.append(f"no example: {node.example_failure}")
    return "\n".join(lines)
