"""The strict graph loader: bytes in, a schema-checked Graph out, or a GraphError.

Strict means: UTF-8 without a byte-order mark, no duplicate keys, no NaN/Infinity, no nesting
deeper than MAX_NESTING, no file larger than MAX_GRAPH_BYTES, and the graph schema satisfied.
Every schema violation is reported (not only the first), each with its JSON Pointer.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from executor.errors import GraphError, GraphProblem
from executor.graph import Graph
from executor.vocabulary import MAX_GRAPH_BYTES, MAX_NESTING
from introspector.jsonio import _StrictnessError, parse_strict
from introspector.schemas import schema_problems


def read_graph_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_GRAPH_BYTES:
            raise GraphError(GraphProblem("too_large", f"{path} is {size} bytes; a graph may be at most "
                                          f"{MAX_GRAPH_BYTES} bytes"))
        return path.read_bytes()
    except FileNotFoundError:
        raise GraphError(GraphProblem("file_not_found", f"{path} does not exist")) from None
    except IsADirectoryError:
        raise GraphError(GraphProblem("file_not_found", f"{path} is a directory, not a graph file")) from None
    except PermissionError:
        raise GraphError(GraphProblem("file_not_found", f"{path} cannot be read (permission denied)")) from None


def _decode(raw: bytes) -> str:
    if len(raw) > MAX_GRAPH_BYTES:
        raise GraphError(GraphProblem("too_large", f"the graph is {len(raw)} bytes; at most {MAX_GRAPH_BYTES}"))
    if raw.startswith(b"\xef\xbb\xbf"):
        raise GraphError(GraphProblem("bad_encoding", "the file starts with a UTF-8 byte-order mark",
                                      hint="save it as UTF-8 without BOM"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GraphError(GraphProblem("bad_encoding", f"not UTF-8 text: {exc.reason} at byte {exc.start}",
                                      hint="graphs are UTF-8 JSON files")) from None


def _depth(value: Any) -> int:
    """Nesting depth, computed without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in item)
    return deepest


def _parse(text: str) -> Any:
    try:
        document = parse_strict(text)
    except json.JSONDecodeError as exc:
        raise GraphError(GraphProblem("bad_json", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                                      pointer="")) from None
    except _StrictnessError as exc:
        raise GraphError(GraphProblem("bad_json", f"invalid JSON: {exc}",
                                      pointer="" if exc.pointer == "/" else exc.pointer)) from None
    except RecursionError:
        raise GraphError(GraphProblem("too_deep", f"nested deeper than {MAX_NESTING} levels")) from None
    if _depth(document) > MAX_NESTING:
        raise GraphError(GraphProblem("too_deep", f"nested deeper than {MAX_NESTING} levels",
                                      hint="a graph is a few levels deep; constants are small arrays"))
    return document


def graph_from_document(document: Any) -> Graph:
    """Schema-check a parsed document (e.g. one an editor built in memory) and make it a Graph."""
    problems = schema_problems("graph", document)
    if problems:
        raise GraphError([GraphProblem("schema", p.message, _node_of(p.entry), p.pointer,
                                       "see catalogs/schema/graph.schema.json") for p in problems])
    return Graph.from_json(document)


def _node_of(entry: str) -> str:
    return "" if entry.startswith("#") else entry


def parse_graph(source: str | bytes) -> Graph:
    """A Graph from JSON text or bytes."""
    text = _decode(source) if isinstance(source, bytes) else source
    if len(text) > MAX_GRAPH_BYTES:
        raise GraphError(GraphProblem("too_large", f"the graph is {len(text)} characters; at most {MAX_GRAPH_BYTES}"))
    return graph_from_document(_parse(text))


def load_graph(path: str | Path) -> Graph:
    """A Graph from a file."""
    return parse_graph(read_graph_bytes(Path(path)))
