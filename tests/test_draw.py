"""Graph pictures: every node and edge drawn in each format, SVG valid XML, labels escaped, output stable."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nodecat.executor.draw import MAX_SVG_NODES, format_for, render
from nodecat.executor.graph.document import Graph
from nodecat.executor.graph.load import graph_from_document, load_graph

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SVG = "{http://www.w3.org/2000/svg}"


def _graph(nodes: list, edges: list, outputs: list, catalogs: dict | None = None) -> Graph:
    return graph_from_document({"format": "nodecat-graph/1", "catalogs": catalogs or {"keras": "3.15.1"},
                                "nodes": nodes, "edges": edges, "outputs": outputs})


def _wrapper_graph(name: str = "rnn") -> Graph:
    """A layer handed to a wrapper's argument (an arg edge), and a node with several input ports."""
    return _graph(
        [{"id": "x", "op": "input", "args": {"shape": [None, 5, 8]}},
         {"id": "lstm", "op": "keras.layers.LSTM", "args": {"units": 4, "name": name}},
         {"id": "bi", "op": "keras.layers.Bidirectional"},
         {"id": "att", "op": "keras.layers.MultiHeadAttention", "args": {"num_heads": 2, "key_dim": 4}}],
        [{"from": {"node": "lstm"}, "to": {"node": "bi", "arg": "layer"}},
         {"from": {"node": "x", "port": "output"}, "to": {"node": "bi", "port": "inputs"}},
         {"from": {"node": "bi", "port": "output"}, "to": {"node": "att", "port": "query"}},
         {"from": {"node": "x", "port": "output"}, "to": {"node": "att", "port": "value"}}],
        [{"name": "y", "node": "att"}])


@pytest.fixture(params=["mlp.json", "keras_merge.json"])
def example(request: pytest.FixtureRequest) -> Graph:
    return load_graph(EXAMPLES / request.param)


def test_svg_draws_every_node_and_edge(example: Graph) -> None:
    root = ET.fromstring(render(example, "svg"))
    assert root.tag == f"{SVG}svg" and int(root.get("width")) > 0 and int(root.get("height")) > 0
    ids = {g.get("id") for g in root.iter(f"{SVG}g")}
    assert {f"node-{n.id}" for n in example.nodes} <= ids
    assert len(ids) == len(example.nodes) + len(example.outputs)  # one terminal box per output
    edges = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    assert len(edges) == len(example.edges) + len(example.outputs)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert all(o.name in texts for o in example.outputs)


def test_dot_draws_every_node_and_edge(example: Graph) -> None:
    text = render(example, "dot")
    assert text.startswith("digraph ") and text.rstrip().endswith("}")
    for node in example.nodes:
        assert re.search(rf'^  "{node.id}" \[label="{node.id}\\n', text, re.M)
    for edge in example.edges:
        assert f'"{edge.source}" -> "{edge.target}"' in text
    assert text.count(" -> ") == len(example.edges) + len(example.outputs)


def test_mermaid_draws_every_node_and_edge(example: Graph) -> None:
    text = render(example, "mermaid")
    assert text.startswith("flowchart TD\n")
    for node in example.nodes:
        assert re.search(rf"^  n_{node.id}\W", text, re.M)
    for edge in example.edges:
        assert re.search(rf"^  n_{edge.source} -->(\|[^|]*\|)? n_{edge.target}$", text, re.M)
    assert text.count(" --> ") + text.count(" -->|") == len(example.edges) + len(example.outputs)


def test_labels_show_short_op_and_args() -> None:
    text = render(load_graph(EXAMPLES / "mlp.json"), "dot")
    assert '"fc1" [label="fc1\\nLinear\\nin_features=64, out_features=128"' in text
    assert "torch.nn" not in text


def test_arg_edge_is_dashed_and_named() -> None:
    graph = _wrapper_graph()
    root = ET.fromstring(render(graph, "svg"))
    dashed = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge" and p.get("stroke-dasharray")]
    assert len(dashed) == 1
    labels = {t.text for t in root.iter(f"{SVG}text") if t.get("class") == "edge-label"}
    assert {"layer", "query", "value"} <= labels  # several ports on att: each edge names its port
    assert '"lstm" -> "bi" [label="layer", style=dashed];' in render(graph, "dot")
    assert '"x" -> "bi";' in render(graph, "dot")  # bi has one port: no label
    assert '  n_lstm -.->|"layer"| n_bi' in render(graph, "mermaid")


def test_shapes_label_edges_and_params_nodes() -> None:
    from nodecat.executor.build.shapes import infer_shapes
    from nodecat.executor.graph.validate import check_graph

    graph = load_graph(EXAMPLES / "mlp.json")
    shapes = infer_shapes(check_graph(graph), batch=32)
    for fmt in ("svg", "dot", "mermaid"):
        text = render(graph, fmt, shapes)
        assert "(32, 128)" in text and "(32, 10)" in text
        assert "8,320 params" in text  # fc1: 64 * 128 + 128
    assert "params" not in render(graph, "svg")


def test_text_is_escaped() -> None:
    graph = _wrapper_graph(name='a<b&c"d\'#quot;`')
    root = ET.fromstring(render(graph, "svg"))
    assert any('a<b&c' in (t.text or "") for t in root.iter(f"{SVG}text"))
    dot = render(graph, "dot")
    assert 'name=\\"a<b&c\\\\\\"d' in dot  # the JSON's \" escaped again for DOT
    mermaid = render(graph, "mermaid")
    lstm = next(line for line in mermaid.splitlines() if line.startswith("  n_lstm["))
    assert lstm.count('"') == 2 and "a#lt;b#amp;c" in lstm and "#35;quot;" in lstm and "`" not in lstm


def test_broken_graphs_are_drawn() -> None:
    """Unknown ops, missing nodes and cycles are what a picture is for: never refused."""
    graph = Graph.from_json({
        "catalogs": {"torch": "2.13.0"},
        "nodes": [{"id": "a", "op": "torch.nn.NoSuchLayer"}, {"id": "b", "op": "torch.nn.ReLU"}],
        "edges": [{"from": {"node": "a", "port": "output"}, "to": {"node": "b", "port": "input"}},
                  {"from": {"node": "b", "port": "output"}, "to": {"node": "a", "port": "input"}},
                  {"from": {"node": "ghost", "port": "output"}, "to": {"node": "b", "port": "input"}}],
        "outputs": [{"name": "y", "node": "b"}]})
    root = ET.fromstring(render(graph, "svg"))
    assert {"node-a", "node-b", "node-ghost"} <= {g.get("id") for g in root.iter(f"{SVG}g")}
    assert "NoSuchLayer" in render(graph, "dot") and "n_ghost{{" in render(graph, "mermaid")


def test_output_is_deterministic(example: Graph) -> None:
    for fmt in ("svg", "dot", "mermaid"):
        assert render(example, fmt) == render(example, fmt)
    assert render(_wrapper_graph(), "svg") == render(_wrapper_graph(), "svg")


def test_huge_graphs() -> None:
    count = MAX_SVG_NODES + 1
    graph = Graph.from_json({
        "catalogs": {"torch": "2.13.0"}, "nodes": [{"id": f"n{i}", "op": "torch.nn.ReLU"} for i in range(count)],
        "edges": [{"from": {"node": f"n{i}", "port": "output"}, "to": {"node": f"n{i + 1}", "port": "input"}}
                  for i in range(count - 1)], "outputs": [{"name": "y", "node": f"n{count - 1}"}]})
    with pytest.raises(ValueError, match="too many to lay out as SVG"):
        render(graph, "svg")
    assert render(graph, "dot").count(" -> ") == count  # text formats have no limit (and no recursion)


def test_format_for() -> None:
    assert format_for(Path("a.svg")) == "svg" and format_for(Path("a.GV")) == "dot"
    assert format_for(Path("x/b.dot")) == "dot" and format_for(Path("c.mmd")) == "mermaid"
    for bad in ("a.png", "noext"):
        with pytest.raises(ValueError, match=r"\.svg, \.dot, \.gv, \.mmd"):
            format_for(Path(bad))
    with pytest.raises(ValueError, match="unknown picture format"):
        render(load_graph(EXAMPLES / "mlp.json"), "png")
