"""The strict graph loader: bytes in, a schema-checked Graph out, or a GraphError.

Strict means: UTF-8 without a byte-order mark, no duplicate keys, no NaN/Infinity, no nesting
deeper than MAX_NESTING, no file larger than MAX_GRAPH_BYTES, and the graph schema satisfied.
Every schema violation is reported (not only the first), each with its JSON Pointer.
"""
from __future__ import annotations

import contextlib
import gc
import json
import math
from pathlib import Path
from typing import Any, Iterator

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.document import Graph
from nodecat.executor.graph.structure import satisfies_graph_schema
from nodecat.executor.graph.vocabulary import MAX_GRAPH_BYTES, MAX_NESTING
from nodecat.introspector.errors import json_pointer
from nodecat.introspector.jsonio import _StrictnessError, parse_strict
from nodecat.introspector.schemas import schema_problems


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


_MAX_INT_BITS = 256  # far beyond any real argument; keeps error messages and conversions cheap


def _is_plain(document: Any) -> bool:
    """The fast pass of _plain_problem: no paths kept, so a large valid graph costs little."""
    pending: list[tuple[Any, int]] = [(document, 0)]
    push, pop = pending.append, pending.pop
    while pending:
        item, depth = pop()
        kind = type(item)
        if kind is dict:
            if depth >= MAX_NESTING:
                return False
            for key, child in item.items():
                if type(key) is not str:
                    return False
                push((child, depth + 1))
        elif kind is list:
            if depth >= MAX_NESTING:
                return False
            for child in item:
                push((child, depth + 1))
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif kind is int:
            if item.bit_length() > _MAX_INT_BITS:
                return False
        elif item is not None and kind is not str and kind is not bool:
            return False
    return True


def _plain_problem(document: Any) -> GraphProblem | None:
    """What makes a document (parsed, or built in memory by an editor) not plain, bounded JSON:
    nesting deeper than MAX_NESTING, non-finite or huge numbers, non-string keys, other types.
    Iterative, so no document can hit the recursion limit here."""
    pending: list[tuple[Any, list[str | int]]] = [(document, [])]
    while pending:
        item, path = pending.pop()
        if isinstance(item, (dict, list)) and len(path) >= MAX_NESTING:  # this container is level len(path) + 1
            return GraphProblem("too_deep", f"nested deeper than {MAX_NESTING} levels", pointer=json_pointer(path[:8]),
                                hint="a graph is a few levels deep; constants are small arrays")
        if isinstance(item, dict):
            if any(not isinstance(key, str) for key in item):
                return GraphProblem("bad_json", "object keys must be strings", pointer=json_pointer(path))
            pending.extend((child, [*path, key]) for key, child in item.items())
        elif isinstance(item, list):
            pending.extend((child, [*path, index]) for index, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            return GraphProblem("bad_json", "NaN and Infinity are not JSON numbers", pointer=json_pointer(path))
        elif isinstance(item, int) and not isinstance(item, bool) and item.bit_length() > _MAX_INT_BITS:
            return GraphProblem("bad_json", f"integer with more than {_MAX_INT_BITS} bits", pointer=json_pointer(path))
        elif item is not None and not isinstance(item, (str, int, float, bool)):
            return GraphProblem("bad_json", f"{type(item).__name__} is not a JSON value", pointer=json_pointer(path))
    return None


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
    except ValueError as exc:  # e.g. an integer literal longer than Python's int/str conversion limit
        raise GraphError(GraphProblem("bad_json", f"invalid JSON: {exc}")) from None
    return document


def graph_from_document(document: Any) -> Graph:
    """Schema-check a parsed document (e.g. one an editor built in memory) and make it a Graph."""
    if not _is_plain(document) and (problem := _plain_problem(document)) is not None:
        raise GraphError(problem)
    problems = [] if satisfies_graph_schema(document) else schema_problems("graph", document)
    if problems:
        raise GraphError([GraphProblem("schema", p.message, _node_of(p.entry), "" if p.pointer == "/" else p.pointer,
                                       "see catalogs/schema/graph.schema.json") for p in problems])
    return Graph.from_json(document)


def _node_of(entry: str) -> str:
    return "" if entry.startswith("#") else entry


def parse_graph(source: str | bytes) -> Graph:
    """A Graph from JSON text or bytes."""
    text = _decode(source) if isinstance(source, bytes) else source
    if len(text) > MAX_GRAPH_BYTES:
        raise GraphError(GraphProblem("too_large", f"the graph is {len(text)} characters; at most {MAX_GRAPH_BYTES}"))
    with gc_paused():
        return graph_from_document(_parse(text))


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a large graph's many small objects are made: with torch
    loaded, collections would cost more than the work (and graphs hold no reference cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_graph(path: str | Path) -> Graph:
    """A Graph from a file."""
    return parse_graph(read_graph_bytes(Path(path)))
