"""A graph as plain frozen values: nodes, explicit edges, declared outputs.

`Graph.from_json` expects a document that already passed the graph schema (the loader checks it);
`to_json` gives it back, so a graph round-trips through JSON text. Positions in the file are kept
(`index`) so every error can carry a JSON Pointer to what the user wrote.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nodecat.executor.training.spec import TrainSpec
from nodecat.executor.graph.vocabulary import GRAPH_FORMAT

JsonValue = Any  # None, bool, int, float, str, list or dict of these, as parsed from strict JSON


@dataclass(frozen=True)
class GraphNode:
    id: str
    op: str
    args: dict[str, JsonValue]
    index: int

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "op": self.op}
        if self.args:
            out["args"] = self.args
        return out


@dataclass(frozen=True)
class Edge:
    """source.port None: the source node's instance itself (into an argument only).
    Exactly one of target_port and target_arg is set."""

    source: str
    source_port: str | None
    target: str
    target_port: str | None
    target_arg: str | None
    index: int

    def to_json(self) -> dict[str, Any]:
        source: dict[str, str] = {"node": self.source}
        if self.source_port is not None:
            source["port"] = self.source_port
        target: dict[str, str] = {"node": self.target}
        if self.target_port is not None:
            target["port"] = self.target_port
        else:
            target["arg"] = str(self.target_arg)
        return {"from": source, "to": target}


@dataclass(frozen=True)
class GraphOutput:
    name: str
    node: str
    port: str
    index: int

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "node": self.node, "port": self.port}


@dataclass(frozen=True)
class Graph:
    catalogs: dict[str, str]
    nodes: tuple[GraphNode, ...]
    edges: tuple[Edge, ...]
    outputs: tuple[GraphOutput, ...]
    name: str = ""
    description: str = ""
    train: TrainSpec | None = None  # how to train it, when the file says
    editor: JsonValue = field(default=None, compare=False)  # editors' own data, carried but never read

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Graph":
        nodes = tuple(GraphNode(n["id"], n["op"], dict(n.get("args", {})), i) for i, n in enumerate(data["nodes"]))
        edges = tuple(Edge(e["from"]["node"], e["from"].get("port"), e["to"]["node"], e["to"].get("port"),
                           e["to"].get("arg"), i) for i, e in enumerate(data["edges"]))
        outputs = tuple(GraphOutput(o["name"], o["node"], o.get("port", "output"), i)
                        for i, o in enumerate(data["outputs"]))
        return cls(catalogs=dict(data["catalogs"]), nodes=nodes, edges=edges, outputs=outputs,
                   name=data.get("name", ""), description=data.get("description", ""),
                   train=TrainSpec.from_json(data["train"]) if "train" in data else None,
                   editor=data.get("editor"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": GRAPH_FORMAT, "catalogs": dict(self.catalogs),
                               "nodes": [n.to_json() for n in self.nodes],
                               "edges": [e.to_json() for e in self.edges],
                               "outputs": [o.to_json() for o in self.outputs]}
        if self.name:
            out["name"] = self.name
        if self.description:
            out["description"] = self.description
        if self.train is not None:
            out["train"] = self.train.to_json()
        if self.editor is not None:
            out["editor"] = self.editor
        return out
