"""A fast, exact check of the graph schema's structure (catalogs/schema/graph.schema.json).

jsonschema stays the reference and writes every error message; but it costs about 200 µs per
node, most of it walking `$ref`s, which makes a 100,000-node graph take half a minute. This check
answers only "does the document satisfy the schema?" in a few µs per node; when it says no, the
loader asks jsonschema for the located problems. A property test compares the two on thousands
of generated documents, so they cannot drift apart.
"""
from __future__ import annotations

import re
from typing import Any

from nodecat.executor.graph.vocabulary import GRAPH_FORMAT
from nodecat.introspector.schemas import part_validator

# The schema's patterns end in (?!\n)$ so that both engines refuse a trailing newline.
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_PORT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_OP = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_VERSION = re.compile(r"[0-9][0-9A-Za-z.+-]{0,40}")
_TOP = frozenset({"format", "name", "description", "catalogs", "nodes", "edges", "outputs", "train", "editor"})
_TOP_REQUIRED = frozenset({"format", "catalogs", "nodes", "edges", "outputs"})
_NODE = frozenset({"id", "op", "args"})
_FROM = frozenset({"node", "port"})
_TO = frozenset({"node", "port", "arg"})
_OUTPUT = frozenset({"name", "node", "port"})


def _is(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit


def _node(node: Any) -> bool:
    if not isinstance(node, dict) or not node.keys() <= _NODE or "id" not in node or "op" not in node:
        return False
    if not _is(_ID, node["id"]) or not _text(node["op"], 200) or not _is(_OP, node["op"]):
        return False
    args = node.get("args", {})
    return isinstance(args, dict) and all(_is(_PORT, name) for name in args)


def _edge(edge: Any) -> bool:
    if not isinstance(edge, dict) or edge.keys() != {"from", "to"}:
        return False
    source, target = edge["from"], edge["to"]
    if not isinstance(source, dict) or not source.keys() <= _FROM or not _is(_ID, source.get("node")):
        return False
    if "port" in source and not _is(_PORT, source["port"]):
        return False
    if not isinstance(target, dict) or not target.keys() <= _TO or not _is(_ID, target.get("node")):
        return False
    if ("port" in target) == ("arg" in target):  # oneOf: exactly one of the two
        return False
    return all(_is(_PORT, target[key]) for key in ("port", "arg") if key in target)


def _output(output: Any) -> bool:
    if not isinstance(output, dict) or not output.keys() <= _OUTPUT:
        return False
    if not _is(_PORT, output.get("name")) or not _is(_ID, output.get("node")):
        return False
    return "port" not in output or _is(_PORT, output["port"])


def satisfies_graph_schema(document: Any) -> bool:
    """True exactly when jsonschema finds no error in the document against the graph schema."""
    if not isinstance(document, dict) or not _TOP_REQUIRED <= document.keys() <= _TOP:
        return False
    if not isinstance(document["format"], str) or document["format"] != GRAPH_FORMAT:
        return False
    if "name" in document and not _text(document["name"], 200):
        return False
    if "description" in document and not _text(document["description"], 10000):
        return False
    catalogs = document["catalogs"]
    if not isinstance(catalogs, dict) or not catalogs or not catalogs.keys() <= {"torch", "keras"}:
        return False
    if not all(_is(_VERSION, version) for version in catalogs.values()):
        return False
    nodes, edges, outputs = document["nodes"], document["edges"], document["outputs"]
    if not isinstance(nodes, list) or not nodes or not all(map(_node, nodes)):
        return False
    if not isinstance(edges, list) or not all(map(_edge, edges)):
        return False
    if not isinstance(outputs, list) or not outputs or not all(map(_output, outputs)):
        return False
    # The train section is small and rich (oneOfs, enums, bounds): jsonschema checks it directly,
    # so this check stays exact without repeating that part of the schema in code.
    return "train" not in document or part_validator("graph", "train").is_valid(document["train"])
