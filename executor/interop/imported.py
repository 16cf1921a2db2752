"""What an importer produces: a graph of catalog nodes, its weights, and notes; or every call it
could not map, reported together.

Both importers (torch.fx and Keras functional configs) build their graph with `GraphBuilder`,
which turns a model's names (`layer1.0.conv1`, `dense_1`) into valid, unique node ids and checks
the finished document against the graph schema, so an importer cannot write a graph that the
executor would refuse to load.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.document import Edge, Graph
from nodecat.executor.graph.vocabulary import GRAPH_FORMAT

_ID_LIMIT = 64


@dataclass(frozen=True)
class Unmapped:
    """One call of the model the catalog cannot express, and why."""

    node: str  # the model's own name for it: fx node name, module path or Keras layer name
    call: str  # what it calls: "torch.nn.functional.glu", "MyBlock", "Tensor.masked_fill"
    reason: str

    def problem(self) -> GraphProblem:
        return GraphProblem("unmappable_call", f"{self.call}: {self.reason}", self.node)

    def to_json(self) -> dict[str, str]:
        return {"node": self.node, "call": self.call, "reason": self.reason}


@dataclass(frozen=True)
class ImportNote:
    """Something imported exactly for inference but worth a reader's attention (e.g. a parameter
    that became a constant and will not train)."""

    node: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"node": self.node, "message": self.message}


@dataclass(frozen=True)
class ImportResult:
    graph: Graph
    weights: dict[str, np.ndarray]  # safetensors names: <node id>.<parameter>
    notes: tuple[ImportNote, ...] = ()
    origins: dict[str, str] = field(default_factory=dict)  # node id -> the model's name for it

    def summary(self) -> dict[str, Any]:
        return {"nodes": len(self.graph.nodes), "edges": len(self.graph.edges),
                "inputs": [n.id for n in self.graph.nodes if n.op == "input"],
                "outputs": [o.name for o in self.graph.outputs],
                "tensors": len(self.weights),
                "parameters": int(sum(a.size for a in self.weights.values())),
                "notes": [n.to_json() for n in self.notes]}


def refuse(unmapped: list[Unmapped]) -> GraphError:
    """One error listing every call that could not be mapped (no partial graph)."""
    return GraphError([u.problem() for u in unmapped])


def node_id_for(name: str) -> str:
    """A model's name for something (`layer1.0.conv1`, `dense-1`) as a node id: letters, digits
    and underscores, starting with a letter, at most 64 characters. A name that is a keyword or a
    module attribute (`meta`, `input`, `type`) stays as it is: only generated code renames those."""
    text = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
    if not text or not text[0].isalpha():
        text = "n_" + text if text else "node"
    return text[:_ID_LIMIT]


class GraphBuilder:
    """Collects nodes, edges and outputs of an imported graph under unique ids."""

    def __init__(self, name: str, catalogs: dict[str, str], description: str = ""):
        self.name = name
        self.description = description
        self.catalogs = dict(catalogs)
        self.nodes: list[dict[str, Any]] = []
        self.edges: list[dict[str, Any]] = []
        self.outputs: list[dict[str, str]] = []
        self.taken: set[str] = set()
        self.origins: dict[str, str] = {}

    def unique_id(self, wanted: str) -> str:
        base = node_id_for(wanted)
        candidate, n = base, 1
        while candidate in self.taken:
            n += 1
            suffix = f"_{n}"
            candidate = base[:_ID_LIMIT - len(suffix)] + suffix
        self.taken.add(candidate)
        return candidate

    def add_node(self, wanted_id: str, op: str, args: dict[str, Any] | None = None, origin: str = "") -> str:
        """Add a node; returns its id (the wanted one made valid and unique)."""
        node_id = self.unique_id(wanted_id)
        node: dict[str, Any] = {"id": node_id, "op": op}
        if args:
            node["args"] = args
        self.nodes.append(node)
        self.origins[node_id] = origin or wanted_id
        return node_id

    def add_edge(self, source: str, target: str, port: str | None = None, arg: str | None = None,
                 source_port: str | None = "output") -> None:
        """An edge into a port (`port`) or into a call argument (`arg`); source_port None passes
        the source node's instance itself (a layer handed to another layer's constructor)."""
        self.edges.append(Edge(source, source_port, target, port, None if port is not None else str(arg),
                               len(self.edges)).to_json())

    def add_output(self, name: str, node: str, port: str = "output") -> None:
        self.outputs.append({"name": name, "node": node, "port": port})

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": GRAPH_FORMAT, "catalogs": self.catalogs, "nodes": self.nodes,
                               "edges": self.edges, "outputs": self.outputs}
        if self.name:
            out["name"] = self.name
        if self.description:
            out["description"] = self.description
        return out

    def graph(self) -> Graph:
        """The graph, after the same schema check a graph file gets when it is loaded."""
        from nodecat.executor.graph.load import graph_from_document
        return graph_from_document(self.document())


def output_names(count: int) -> list[str]:
    """`output` for one output; `output_0`, `output_1`, ... for the items of several."""
    return ["output"] if count == 1 else [f"output_{i}" for i in range(count)]
