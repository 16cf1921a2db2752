"""The one error type of graphs: every problem has a stable code, the node, a JSON Pointer and a hint.

Inner checks produce problems; validation collects all of them and raises one GraphError that
carries the list, so a user sees every mistake in one run. A failure inside a library call while
building or running becomes a NodeError naming the node, its class and its input shapes.
"""
from __future__ import annotations

from dataclasses import dataclass

from nodecat.executor.graph.vocabulary import ErrorCode


@dataclass(frozen=True)
class GraphProblem:
    code: ErrorCode
    message: str
    node: str = ""
    pointer: str = ""
    hint: str = ""

    def __str__(self) -> str:
        """`[code] node 'fc' at /nodes/1/args/p: message (hint: ...)`: everything a reader needs."""
        where = " ".join(part for part in (self.node and f"node {self.node!r}",
                                          self.pointer and f"at {self.pointer}") if part)
        text = f"[{self.code}] {where}: {self.message}" if where else f"[{self.code}] {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "node": self.node,
                "pointer": self.pointer, "hint": self.hint}


class GraphError(Exception):
    """Everything wrong with one graph (or its inputs), never just the first problem.

    `code`, `node`, `pointer` and `hint` are those of the first problem, for callers that
    handle one error at a time.
    """

    def __init__(self, problems: list[GraphProblem] | GraphProblem):
        self.problems = [problems] if isinstance(problems, GraphProblem) else list(problems)
        if not self.problems:
            raise ValueError("a GraphError needs at least one problem")
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def code(self) -> str:
        return self.problems[0].code

    @property
    def node(self) -> str:
        return self.problems[0].node

    @property
    def pointer(self) -> str:
        return self.problems[0].pointer

    @property
    def hint(self) -> str:
        return self.problems[0].hint


class NodeError(GraphError):
    """A library call failed while building or running one node; raised `from` the original."""

    def __init__(self, code: ErrorCode, node: str, pointer: str, message: str, hint: str = ""):
        super().__init__(GraphProblem(code, message, node, pointer, hint))


def node_pointer(index: int, *parts: str | int) -> str:
    """JSON Pointer to a node (or a field in it) by its position in the file."""
    from nodecat.introspector.errors import json_pointer
    return json_pointer(["nodes", index, *parts])


def short_error(exc: BaseException) -> str:
    """The first line of a library's error message, with its type."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(exc).__name__}: {first[:300]}" if first else type(exc).__name__
