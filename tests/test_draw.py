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


# -- readable pictures: labels apart and inside, arguments whole, cycles marked, --json ---------------
_LABEL_CHAR_W = 6.1  # monospace at font-size 10


def _label_boxes(root: ET.Element) -> list[tuple[float, float, float, float]]:
    """(left, top, right, bottom) of every edge label, from its anchor and text length."""
    boxes = []
    for t in root.iter(f"{SVG}text"):
        if t.get("class") == "edge-label":
            x, y, width = float(t.get("x")), float(t.get("y")), len(t.text or "") * _LABEL_CHAR_W
            left = x - width / 2 if t.get("text-anchor") == "middle" else x
            boxes.append((left, y - 9, left + width, y + 3))
    return boxes


def _two_inputs() -> Graph:
    """`add` reads two nodes side by side: both edges end at the same box."""
    return _graph(
        [{"id": "x", "op": "input", "args": {"shape": [None, 8]}},
         {"id": "left", "op": "torch.nn.ReLU"}, {"id": "right", "op": "torch.nn.Tanh"},
         {"id": "add", "op": "torch.add"}],
        [{"from": {"node": "x", "port": "output"}, "to": {"node": "left", "port": "input"}},
         {"from": {"node": "x", "port": "output"}, "to": {"node": "right", "port": "input"}},
         {"from": {"node": "left", "port": "output"}, "to": {"node": "add", "port": "input"}},
         {"from": {"node": "right", "port": "output"}, "to": {"node": "add", "port": "other"}}],
        [{"name": "y", "node": "add"}], catalogs={"torch": "2.13.0"})


def test_edge_labels_into_one_node_do_not_overlap() -> None:
    from nodecat.executor.build.shapes import infer_shapes
    from nodecat.executor.graph.validate import check_graph
    graph = _two_inputs()
    for shapes in (None, infer_shapes(check_graph(graph), batch=32)):
        root = ET.fromstring(render(graph, "svg", shapes))
        boxes = _label_boxes(root)
        assert len(boxes) >= 2
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
                assert not overlap, (a, b)


def test_long_labels_stay_on_the_canvas() -> None:
    from nodecat.executor.build.shapes import NodeProfile, ShapeReport, TensorSpec
    graph = _graph([{"id": "x", "op": "input", "args": {"shape": [None, 8]}}, {"id": "r", "op": "torch.nn.ReLU"}],
                   [{"from": {"node": "x", "port": "output"}, "to": {"node": "r", "port": "input"}}],
                   [{"name": "y", "node": "r"}], catalogs={"torch": "2.13.0"})
    wide = TensorSpec((123456789,) * 8, "float32")
    shapes = ShapeReport(tuple(NodeProfile(n, "op", {"output": wide}, 0, 0, 0) for n in ("x", "r")), 1)
    root = ET.fromstring(render(graph, "svg", shapes))
    left, _, width, _ = map(float, root.get("viewBox").split())
    assert float(root.get("width")) == width
    boxes = _label_boxes(root)
    assert boxes and all(b[0] >= left and b[2] <= left + width for b in boxes), (boxes, width)


def test_arguments_are_shown_whole_on_several_lines() -> None:
    graph = load_graph(EXAMPLES / "cnn.json")
    svg = render(graph, "svg")
    root = ET.fromstring(svg)
    conv = next(g for g in root.iter(f"{SVG}g") if g.get("id") == "node-conv1")
    text = " ".join(t.text or "" for t in conv.iter(f"{SVG}text"))
    assert "kernel_size=3" in text and "padding=1" in text and "…" not in text
    assert "kernel_size=3" in render(graph, "dot") and "kernel_size=3" in render(graph, "mermaid")
    _, _, width, _ = map(float, root.get("viewBox").split())
    assert all(len(t.text or "") * 7.3 <= width for t in root.iter(f"{SVG}text"))


def test_many_arguments_are_cut_with_a_count() -> None:
    graph = _graph([{"id": "x", "op": "input", "args": {"shape": [None, 4]}},
                    {"id": "n", "op": "torch.nn.Linear", "args": {f"argument_{i}": i for i in range(30)}}],
                   [{"from": {"node": "x", "port": "output"}, "to": {"node": "n", "port": "input"}}],
                   [{"name": "y", "node": "n"}], catalogs={"torch": "2.13.0"})
    text = render(graph, "dot")
    assert "argument_0=0" in text and "more" in text and "argument_29=29" not in text


def test_cycle_edges_are_marked() -> None:
    graph = Graph.from_json({
        "catalogs": {"torch": "2.13.0"},
        "nodes": [{"id": "x", "op": "input", "args": {"shape": [None, 4]}},
                  {"id": "a", "op": "torch.nn.ReLU"}, {"id": "b", "op": "torch.nn.ReLU"}],
        "edges": [{"from": {"node": "x", "port": "output"}, "to": {"node": "a", "port": "input"}},
                  {"from": {"node": "a", "port": "output"}, "to": {"node": "b", "port": "input"}},
                  {"from": {"node": "b", "port": "output"}, "to": {"node": "a", "port": "input"}}],
        "outputs": [{"name": "y", "node": "b"}]})
    root = ET.fromstring(render(graph, "svg"))
    edges = [p for p in root.iter(f"{SVG}path") if "edge" in (p.get("class") or "").split()]
    cyclic = [p for p in edges if "cycle" in p.get("class").split()]
    assert len(edges) == 4 and len(cyclic) == 2
    assert all(p.get("stroke") == "#c03030" for p in cyclic) and all(p.get("stroke") == "#555" for p in edges
                                                                     if p not in cyclic)
    assert render(graph, "dot").count(" [color=\"#c03030\"") == 2
    assert "linkStyle 1,2 stroke:#c03030" in render(graph, "mermaid")


def test_draw_json_reports_file_nodes_edges_layout_and_problems(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from nodecat.executor.cli.main import main
    out = tmp_path / "mlp.svg"
    result = CliRunner().invoke(main, ["draw", str(EXAMPLES / "mlp.json"), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and report["file"] == str(out) and report["format"] == "svg" and out.exists()
    assert [n["id"] for n in report["nodes"]][:2] == ["x", "fc1"] and report["problems"] == []
    assert {"id", "kind", "lines", "x", "y", "width", "height"} <= set(report["nodes"][1])
    assert report["edges"][0] == {"from": "x", "to": "fc1", "label": "(1, 64)", "dashed": False, "cycle": False}
    assert report["layout"]["width"] > 0 and report["layout"]["height"] > 0 and report["shapes"] is True
    broken = tmp_path / "broken.json"
    document = json.loads((EXAMPLES / "mlp.json").read_text(encoding="utf-8"))
    document["nodes"][2]["op"] = "torch.nn.Relu"
    broken.write_text(json.dumps(document), encoding="utf-8")
    result = CliRunner().invoke(main, ["draw", str(broken), "-o", str(tmp_path / "b.dot"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["shapes"] is False and [p["code"] for p in report["problems"]] == ["unknown_op"]
    assert report["layout"] is None and len(report["edges"]) == len(document["edges"]) + 1
