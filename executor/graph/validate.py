"""Validation: a Graph and the catalogs in, a CheckedGraph or every problem out.

Each check yields GraphProblems located by node id and JSON Pointer; nothing stops at the first
problem. Only a CheckedGraph (ops found, arguments valid, ports wired, no cycle) can be built: the
builders never re-check what is decided here.
"""
from __future__ import annotations

import dataclasses
import difflib
import graphlib
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterator, Literal


from nodecat.executor.graph.args import literal_arg_problems
from nodecat.executor.graph.catalogs import CatalogIndex, catalogs_for
from nodecat.executor.graph.errors import GraphError, GraphProblem, node_pointer
from nodecat.executor.graph.document import Edge, Graph, GraphNode
from nodecat.executor.graph.load import gc_paused
from nodecat.executor.graph.vocabulary import BUILTIN_OPS, GRAPH_KINDS
from nodecat.introspector.errors import json_pointer
from nodecat.introspector.model import Node

if TYPE_CHECKING:
    from nodecat.executor.training.check import CheckedTrain

Backend = Literal["torch", "keras"]
_MAX_HINTED = 20  # close-match hints are computed for this many unknown names at most


@dataclass(frozen=True)
class Source:
    """Where a value comes from: a node's output port, or (port None) the node's instance."""

    node: str
    port: str | None
    edge: int  # index of the edge in the file


@dataclass(frozen=True)
class CheckedNode:
    id: str
    index: int
    descriptor: Node
    args: dict[str, Any]  # literal arguments, valid against their schemas
    inputs: dict[str, tuple[Source, ...]]  # port -> sources in edge order
    arg_edges: dict[str, Source]  # argument -> the edge that feeds it
    applied: bool  # False when the node's instance is handed to another node's argument

    @property
    def pointer(self) -> str:
        return node_pointer(self.index)


@dataclass(frozen=True)
class CheckedGraph:
    graph: Graph
    catalogs: CatalogIndex
    order: tuple[CheckedNode, ...]  # topological: every node after the nodes it reads
    consumers: dict[tuple[str, str], int]  # (node, port) -> how many edges and outputs read it
    backend: Backend
    train: "CheckedTrain | None" = None  # the checked train section, when the graph has one

    def node(self, node_id: str) -> CheckedNode:
        return self._by_id[node_id]

    @cached_property
    def _by_id(self) -> dict[str, CheckedNode]:
        return {n.id: n for n in self.order}

    @property
    def inputs(self) -> tuple[CheckedNode, ...]:
        return tuple(n for n in self.order if n.descriptor.kind == "input")


def check_graph(graph: Graph, catalogs: CatalogIndex | None = None) -> CheckedGraph:
    """Validate everything; raise one GraphError listing every problem, else return the checked graph."""
    problems: list[GraphProblem] = []
    if catalogs is None:
        catalogs, problems = catalogs_for(graph)
    with gc_paused():
        checker = _Checker(graph, catalogs)
        problems.extend(checker.run())
        train = None
        if graph.train is not None:
            from nodecat.executor.training.check import check_train
            train_problems, train = check_train(graph, checker.descriptors, catalogs.lookup, catalogs.nodes)
            problems.extend(train_problems)
        if problems:
            raise GraphError(problems)
        return dataclasses.replace(checker.result(), train=train)


class _Checker:
    def __init__(self, graph: Graph, catalogs: CatalogIndex):
        self.graph = graph
        self.catalogs = catalogs
        self.nodes: dict[str, GraphNode] = {}
        self.descriptors: dict[str, Node] = {}
        self.inputs: dict[str, dict[str, list[Source]]] = defaultdict(lambda: defaultdict(list))
        self.arg_edges: dict[str, dict[str, Source]] = defaultdict(dict)
        self.instance_sources: set[str] = set()
        self.consumers: dict[tuple[str, str], int] = defaultdict(int)
        self.order: tuple[str, ...] = ()
        self.hinted = 0

    def run(self) -> list[GraphProblem]:
        problems = list(self._nodes())
        problems.extend(self._edges())
        problems.extend(self._arity())
        problems.extend(self._outputs())
        problems.extend(self._module_nodes())
        problems.extend(self._cycles())
        return problems

    # -- nodes and their literal arguments ---------------------------------------------------
    def _nodes(self) -> Iterator[GraphProblem]:
        for node in self.graph.nodes:
            if node.id in self.nodes:
                yield GraphProblem("duplicate_node", f"id {node.id!r} is already used by node "
                                   f"#{self.nodes[node.id].index}", node.id, node_pointer(node.index, "id"),
                                   "every node needs its own id")
                continue
            self.nodes[node.id] = node
            descriptor = self._lookup(node)
            if isinstance(descriptor, GraphProblem):
                yield descriptor
                continue
            self.descriptors[node.id] = descriptor
            yield from self._args(node, descriptor)

    def _lookup(self, node: GraphNode) -> Node | GraphProblem:
        pointer = node_pointer(node.index, "op")
        descriptor = self.catalogs.lookup(node.op)
        if descriptor is None:
            library = node.op.split(".", 1)[0]
            if (exclusion := self.catalogs.excluded.get(node.op)) is not None:
                return GraphProblem("excluded_op", f"{node.op} is excluded from the catalog "
                                    f"({exclusion.code}): {exclusion.reason}", node.id, pointer)
            if library in ("torch", "keras") and library not in self.graph.catalogs:
                return GraphProblem("undeclared_library", f"{node.op} is a {library} op, but the graph's "
                                    f"catalogs do not name {library}", node.id, pointer,
                                    f'add "{library}": "<version>" to "catalogs"')
            return GraphProblem("unknown_op", f"{node.op} is not in the catalog", node.id, pointer,
                                self._close(node.op, self.catalogs.nodes, "ops"))
        if descriptor.kind not in GRAPH_KINDS and descriptor.id not in BUILTIN_OPS:
            return GraphProblem("unsupported_kind", f"{node.op} is a {descriptor.kind}; graph nodes are "
                                f"{', '.join(GRAPH_KINDS)} or a built-in ({', '.join(BUILTIN_OPS)})",
                                node.id, pointer, "optimizers and schedulers belong to training")
        return descriptor

    def _close(self, name: str, known: Any, what: str) -> str:
        if self.hinted >= _MAX_HINTED:
            return ""
        self.hinted += 1
        matches = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
        if matches:
            return f"did you mean {', '.join(matches)}?"
        return f"see `nodecat catalog list` for the {what}" if what == "ops" else ""

    def _args(self, node: GraphNode, descriptor: Node) -> Iterator[GraphProblem]:
        yield from literal_arg_problems(descriptor, node.args, node.id, ["nodes", node.index],
                                        lambda name, known: self._close(name, known, "arguments"))

    # -- edges -------------------------------------------------------------------------------
    def _edges(self) -> Iterator[GraphProblem]:
        for edge in self.graph.edges:
            yield from self._edge(edge)

    def _edge(self, edge: Edge) -> Iterator[GraphProblem]:
        base = ["edges", edge.index]
        dangling = False
        for end, name in (("from", edge.source), ("to", edge.target)):
            if name not in self.nodes:
                dangling = True
                yield GraphProblem("dangling_edge", f"edge #{edge.index} {end} node {name!r}, which does not exist",
                                   name, json_pointer([*base, end, "node"]), self._close(name, self.nodes, "nodes"))
        if dangling or edge.target not in self.descriptors:
            return  # an unknown op was reported already
        if edge.source not in self.descriptors:  # unknown op, reported already: count the edge, check nothing
            if edge.target_port is not None:
                self.inputs[edge.target][edge.target_port].append(Source(edge.source, edge.source_port, edge.index))
            return
        source, target = self.descriptors[edge.source], self.descriptors[edge.target]
        source_port = edge.source_port
        if source_port is None and edge.target_port is not None:
            source_port = "output"  # into a port, a missing source port means the usual "output"
        out_port = None
        if source_port is not None:
            out_port = next((p for p in source.outputs if p.name == source_port), None)
            if out_port is None:
                yield GraphProblem("unknown_port", f"{source.id} has no output port {source_port!r}", edge.source,
                                   json_pointer([*base, "from", "port"]),
                                   "output ports: " + (", ".join(p.name for p in source.outputs) or "none"))
                return
        if edge.target_arg is not None:
            yield from self._arg_edge(edge, source, target, source_port)
            return
        in_port = next((p for p in target.inputs if p.name == edge.target_port), None)
        if in_port is None:
            yield GraphProblem("unknown_port", f"{target.id} has no input port {edge.target_port!r}", edge.target,
                               json_pointer([*base, "to", "port"]),
                               "input ports: " + (", ".join(p.name for p in target.inputs) or "none"))
            return
        assert out_port is not None
        if "any" not in (out_port.type, in_port.type) and out_port.type != in_port.type:
            yield GraphProblem("port_type_mismatch", f"{source.id}.{out_port.name} gives {out_port.type}, but "
                               f"{target.id}.{in_port.name} takes {in_port.type}", edge.target, json_pointer(base))
            return
        self.inputs[edge.target][in_port.name].append(Source(edge.source, out_port.name, edge.index))
        self.consumers[(edge.source, out_port.name)] += 1

    def _arg_edge(self, edge: Edge, source: Node, target: Node, source_port: str | None) -> Iterator[GraphProblem]:
        pointer = json_pointer(["edges", edge.index, "to", "arg"])
        name = str(edge.target_arg)
        if source_port is None:
            self.instance_sources.add(edge.source)  # meant to be handed over, even if refused below
        arg = target.arg(name)
        if arg is None:
            yield GraphProblem("unknown_arg", f"{target.id} has no argument {name!r}", edge.target, pointer,
                               self._close(name, [a.name for a in target.args], "arguments"))
        elif not arg.accepts_edge:
            yield GraphProblem("arg_not_edge", f"argument {name!r} of {target.id} takes a literal value, not an edge",
                               edge.target, pointer, "set it in the node's \"args\"")
        elif name in self.nodes[edge.target].args:
            yield GraphProblem("arg_set_twice", f"argument {name!r} has a literal value and an edge", edge.target,
                               pointer, "keep one of the two")
        elif name in self.arg_edges[edge.target]:
            yield GraphProblem("port_taken", f"argument {name!r} is already fed by edge "
                               f"#{self.arg_edges[edge.target][name].edge}", edge.target, pointer)
        elif source_port is not None and arg.stage == "init" and source.kind != "constant":
            yield GraphProblem("arg_not_edge", f"argument {name!r} of {target.id} is given when the layer is built, "
                               "so only a layer instance or a constant can feed it, not a value computed by the graph",
                               edge.target, pointer, "use a constant node, or a layer node without a from port")
        elif source_port is None and not source.call.get("instantiate"):
            yield GraphProblem("not_a_module", f"{source.id} is a function; only a layer's instance can be handed "
                               f"to argument {name!r}", edge.source, json_pointer(["edges", edge.index, "from"]),
                               "use a layer node, or name an output port to pass a tensor")
        else:
            self.arg_edges[edge.target][name] = Source(edge.source, source_port, edge.index)
            if source_port is not None:
                self.consumers[(edge.source, source_port)] += 1

    # -- connections per port, required inputs and arguments ---------------------------------
    def _arity(self) -> Iterator[GraphProblem]:
        for node_id, descriptor in self.descriptors.items():
            node = self.nodes[node_id]
            wired = self.inputs.get(node_id, {})
            handed_over = node_id in self.instance_sources  # built, never applied: no inputs needed
            for port in () if handed_over else descriptor.inputs:
                sources = wired.get(port.name, [])
                if len(sources) > 1 and port.conns == 1:
                    yield GraphProblem("port_taken", f"input port {port.name!r} takes one edge but has {len(sources)} "
                                       f"(edges #{', #'.join(str(s.edge) for s in sources)})", node_id,
                                       json_pointer(["edges", sources[1].edge, "to"]),
                                       "merge them first (e.g. an add or concatenate node)")
                elif port.conns is not None and len(sources) > port.conns:
                    yield GraphProblem("too_many_connections", f"input port {port.name!r} takes {port.conns} edges but "
                                       f"has {len(sources)}", node_id, json_pointer(["edges", sources[port.conns].edge, "to"]))
                elif port.conns is not None and 0 < len(sources) < port.conns:
                    yield GraphProblem("too_few_connections", f"input port {port.name!r} takes {port.conns} edges but "
                                       f"has {len(sources)}", node_id, node_pointer(node.index))
                elif not sources and port.required:
                    yield GraphProblem("missing_input", f"required input port {port.name!r} is not connected", node_id,
                                       node_pointer(node.index),
                                       f'add an edge {{"to": {{"node": "{node_id}", "port": "{port.name}"}}}}')
            fed = self.arg_edges.get(node_id, {})
            for arg in descriptor.args:
                if arg.required and arg.name not in node.args and arg.name not in fed:
                    yield GraphProblem("missing_required_arg", f"required argument {arg.name!r} is not set", node_id,
                                       node_pointer(node.index, "args"),
                                       "an edge feeds it" if arg.accepts_edge else arg.doc[:120])

    def _outputs(self) -> Iterator[GraphProblem]:
        names: set[str] = set()
        for output in self.graph.outputs:
            pointer = ["outputs", output.index]
            if output.name in names:
                yield GraphProblem("duplicate_output", f"output name {output.name!r} is used twice", output.node,
                                   json_pointer([*pointer, "name"]))
            names.add(output.name)
            if output.node not in self.nodes:
                yield GraphProblem("dangling_edge", f"output {output.name!r} reads node {output.node!r}, which does "
                                   "not exist", output.node, json_pointer([*pointer, "node"]),
                                   self._close(output.node, self.nodes, "nodes"))
                continue
            descriptor = self.descriptors.get(output.node)
            if descriptor is not None and all(p.name != output.port for p in descriptor.outputs):
                yield GraphProblem("unknown_port", f"{descriptor.id} has no output port {output.port!r}", output.node,
                                   json_pointer([*pointer, "port"]),
                                   "output ports: " + ", ".join(p.name for p in descriptor.outputs))
                continue
            self.consumers[(output.node, output.port)] += 1

    def _module_nodes(self) -> Iterator[GraphProblem]:
        """A node handed to an argument is built but not applied: nothing may flow into or out of it."""
        for node_id in sorted(self.instance_sources):
            applied = bool(self.inputs.get(node_id)) or any(n == node_id for n, _ in self.consumers)
            if applied:
                yield GraphProblem("module_node_applied", f"node {node_id!r} is handed to another node as a layer, "
                                   "so it cannot also be applied to tensors", node_id,
                                   node_pointer(self.nodes[node_id].index),
                                   "use two nodes: one handed over, one applied")

    def _cycles(self) -> Iterator[GraphProblem]:
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for node_id in self.nodes:
            sorter.add(node_id)
        for target, ports in self.inputs.items():
            for sources in ports.values():
                sorter.add(target, *(s.node for s in sources))
        for target, args in self.arg_edges.items():
            sorter.add(target, *(s.node for s in args.values()))
        try:
            self.order = tuple(sorter.static_order())
        except graphlib.CycleError as exc:
            cycle = list(exc.args[1])
            yield GraphProblem("cycle", "the graph has a cycle: " + " -> ".join(cycle), cycle[0],
                               node_pointer(self.nodes[cycle[0]].index),
                               "a graph must be acyclic; feed recurrent state through an RNN layer instead")

    # -- the result ------------------------------------------------------------------------------
    def result(self) -> CheckedGraph:
        order = tuple(CheckedNode(
            id=node_id, index=self.nodes[node_id].index, descriptor=self.descriptors[node_id],
            args=self.nodes[node_id].args,
            inputs={port: tuple(sources) for port, sources in self.inputs.get(node_id, {}).items()},
            arg_edges=dict(self.arg_edges.get(node_id, {})),
            applied=node_id not in self.instance_sources) for node_id in self.order)
        libraries = {self.descriptors[n].library for n in self.order} - {"nodecat"}
        backend: Backend = "keras" if libraries == {"keras"} else "torch"
        return CheckedGraph(self.graph, self.catalogs, order, dict(self.consumers), backend)
