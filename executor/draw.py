"""Pictures of graphs without graphviz: SVG (laid out here), Graphviz DOT text, or Mermaid text.

Drawing reads the raw Graph, not a CheckedGraph, so a graph that fails validation (unknown ops,
dangling edges, even a cycle) can still be looked at: that is when a picture helps most.
All three formats are drawn from one neutral scene (boxes and links), so they show the same thing:
every argument of a node (wrapped over a few lines), and the edges on a cycle in red.
"""
from __future__ import annotations

import html
import itertools
import json
import math
import re
from collections import defaultdict, deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nodecat.executor.graph.document import Graph, GraphNode
from nodecat.executor.build.shapes import NodeProfile, ShapeReport

FORMATS = {".svg": "svg", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid"}
MAX_SVG_NODES = 2000  # a layered drawing this big is unreadable anyway; DOT and Mermaid have no limit
_ARG_LINES, _ARGS_CHARS = 4, 40  # arguments wrap over at most this many lines of at most this many characters
_CHAR_W, _LINE_H, _PAD, _GAP_X, _GAP_Y, _MARGIN = 7.3, 15, 8, 24, 50, 16  # monospace 12px, in pixels
_LABEL_CHAR_W, _LABEL_H = 6.2, 12  # edge labels: monospace 10px
_EDGE, _CYCLE = "#555", "#c03030"  # stroke of an edge, and of an edge on a cycle
_DUMMY_W = 12  # width a long edge takes where it crosses a row
_ENCODER = json.JSONEncoder(ensure_ascii=False)
_BAD_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")  # JSON strings may hold these; XML and UTF-8 may not
# kind -> fill, stroke, corner radius (rounded in DOT too), dashed, Mermaid's shape brackets
_STYLE = {"input": ("#d8f0d8", "#3a7d3a", 14, False, '(["', '"])'),
          "constant": ("#eeeeee", "#777777", 0, False, '[("', '")]'),
          "op": ("#e3ecfa", "#4a6fa5", 4, False, '["', '"]'),
          "output": ("#fde6c8", "#b8741a", 14, False, '>"', '"]'),
          "missing": ("#fbe3e3", "#c03030", 0, True, '{{"', '"}}')}


@dataclass(frozen=True)
class _Box:
    key: str  # a node id, or "_out<i>" for a graph output (node ids start with a letter: no clash)
    lines: tuple[str, ...]
    kind: str  # input, constant, op, output or missing (an edge names a node the file lacks)


@dataclass(frozen=True)
class _Link:
    source: str
    target: str
    label: str
    dashed: bool  # into an argument (e.g. a layer handed to a wrapper), not a tensor into a port
    cycle: bool = False  # on a cycle (an invalid graph): drawn in red

    def to_json(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "label": self.label, "dashed": self.dashed,
                "cycle": self.cycle}


@dataclass(frozen=True)
class Drawing:
    """A picture's text, and what it shows: boxes, links and (SVG only) where each box is."""

    text: str
    boxes: tuple[_Box, ...]
    links: tuple[_Link, ...]
    places: dict[str, tuple[int, int, int, int]] | None  # box key -> x, y, width, height (SVG)
    size: tuple[int, int] | None  # width, height (SVG)

    def to_json(self) -> dict[str, Any]:
        nodes = []
        for box in self.boxes:
            entry: dict[str, Any] = {"id": box.key, "kind": box.kind, "lines": list(box.lines)}
            if self.places is not None:
                entry.update(zip(("x", "y", "width", "height"), self.places[box.key]))
            nodes.append(entry)
        layout = None if self.size is None else {"width": self.size[0], "height": self.size[1]}
        return {"nodes": nodes, "edges": [link.to_json() for link in self.links], "layout": layout}


def format_for(path: Path) -> str:
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the picture format of {path}: name it with one of {', '.join(FORMATS)}")
    return fmt


def render(graph: Graph, fmt: str, shapes: ShapeReport | None = None) -> str:
    """The graph as SVG, DOT or Mermaid text; `shapes` adds tensor shapes to edges and params to nodes."""
    return draw(graph, fmt, shapes).text


def draw(graph: Graph, fmt: str, shapes: ShapeReport | None = None) -> Drawing:
    """As render, with what the picture shows (`nodecat draw --json` reports it)."""
    if fmt not in ("svg", "dot", "mermaid"):
        raise ValueError(f"unknown picture format {fmt!r}: one of svg, dot, mermaid")
    boxes, links = _scene(graph, shapes)
    if fmt == "svg":
        text, places, size = _svg(boxes, links)
        return Drawing(text, tuple(boxes), tuple(links), places, size)
    text = _dot(boxes, links) if fmt == "dot" else _mermaid(boxes, links)
    return Drawing(text, tuple(boxes), tuple(links), None, None)


# -- the scene: what is drawn, whatever the format ----------------------------------------------
def _scene(graph: Graph, shapes: ShapeReport | None) -> tuple[list[_Box], list[_Link]]:
    profiles = {p.id: p for p in shapes.nodes} if shapes is not None else {}
    boxes: dict[str, _Box] = {}
    for node in graph.nodes:  # of duplicate ids (an error) the first is drawn
        kind = node.op if node.op in ("input", "constant") else "op"
        boxes.setdefault(node.id, _Box(node.id, _node_lines(node, profiles.get(node.id)), kind))
    ports: dict[str, set[str | None]] = defaultdict(set)
    for edge in graph.edges:
        ports[edge.target].add(edge.target_port)
    links = []
    for edge in graph.edges:
        # port names only help where a node has several (query, key, value); one port says nothing
        into = edge.target_arg or (edge.target_port if len(ports[edge.target] - {None}) > 1 else "")
        port = edge.source_port if edge.source_port is not None or edge.target_arg else "output"
        links.append(_Link(edge.source, edge.target, _label(port, into or "", profiles.get(edge.source)),
                           edge.target_arg is not None))
    for out in graph.outputs:
        key = f"_out{out.index}"
        boxes[key] = _Box(key, (out.name,), "output")
        links.append(_Link(out.node, key, _label(out.port, "", profiles.get(out.node)), False))
    for link in links:
        for end in (link.source, link.target):
            boxes.setdefault(end, _Box(end, (end, "(missing)"), "missing"))
    cyclic = _on_cycles(links)
    return list(boxes.values()), [replace(link, cycle=True) if i in cyclic else link for i, link in enumerate(links)]


def _on_cycles(links: list[_Link]) -> set[int]:
    """Indexes of the links on a cycle: both ends in one strongly connected component (Tarjan's
    algorithm, without recursion), or a node feeding itself."""
    succs: dict[str, list[str]] = defaultdict(list)
    for link in links:
        succs[link.source].append(link.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    component: dict[str, int] = {}
    stack: list[str] = []
    for root in list(succs):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            key, child = work.pop()
            if child == 0:
                index[key] = low[key] = len(index)
                stack.append(key)
            targets = succs.get(key, [])
            if child < len(targets):
                work.append((key, child + 1))
                target = targets[child]
                if target not in index:
                    work.append((target, 0))
                elif target not in component:
                    low[key] = min(low[key], index[target])
                continue
            if low[key] == index[key]:
                while True:
                    member = stack.pop()
                    component[member] = index[key]
                    if member == key:
                        break
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[key])
    return {i for i, link in enumerate(links)
            if link.source == link.target or component.get(link.source) == component.get(link.target, -1)}


def _node_lines(node: GraphNode, profile: NodeProfile | None) -> tuple[str, ...]:
    lines = [node.id, node.op.rsplit(".", 1)[-1]]
    if node.args:
        lines.extend(_args_lines(node.args))
    if profile is not None and profile.params > 0:
        lines.append(f"{profile.params:,} params")
    return tuple(lines)


def _args_lines(args: dict) -> list[str]:
    """Every argument as `name=value`, packed into lines of at most _ARGS_CHARS characters (a value
    too long for a line is cut with "…"); after _ARG_LINES lines, how many more there are."""
    items = []
    for name, value in args.items():
        item = f"{name}={_json_prefix(value, _ARGS_CHARS + 1)}"
        items.append(_BAD_XML.sub("\ufffd", item if len(item) <= _ARGS_CHARS else item[:_ARGS_CHARS - 1] + "…"))
    lines: list[str] = []
    for position, item in enumerate(items):
        if lines and len(lines[-1]) + 2 + len(item) <= _ARGS_CHARS:
            lines[-1] += ", " + item
        elif len(lines) < _ARG_LINES:
            lines.append(item)
        else:
            rest = f"… {len(items) - position} more"
            if len(lines[-1]) + 2 + len(rest) > _ARGS_CHARS:
                lines.append(rest)
            else:
                lines[-1] += ", " + rest
            break
    return lines


def _json_prefix(value: object, limit: int) -> str:
    """The start of the value's JSON, encoded lazily: a million-element constant costs a few chunks."""
    if not isinstance(value, (list, dict)):
        return _ENCODER.encode(value)  # whole: the C encoder is far faster than the lazy one
    return "".join(itertools.islice(_ENCODER.iterencode(value), limit))  # chunks are never empty


def _label(port: str | None, into: str, profile: NodeProfile | None) -> str:
    text = " → ".join(p for p in (port if port != "output" else None, into) if p)
    spec = profile.outputs.get(port) if profile is not None and port is not None else None
    if spec is not None and spec.shape is not None:
        text = f"{text} {tuple(spec.shape)}".strip()
    return text


# -- DOT and Mermaid: text for tools that lay out themselves -------------------------------------
def _dq(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot(boxes: list[_Box], links: list[_Link]) -> str:
    out = ["digraph nodecat {", "  rankdir=TB;", '  node [fontname="monospace", fontsize=11];',
           '  edge [fontname="monospace", fontsize=9];']
    for box in boxes:
        fill, stroke, radius, dashed = _STYLE[box.kind][:4]
        style = ",".join(["filled"] + ["rounded"] * (radius > 4) + ["dashed"] * dashed)
        label = "\\n".join(_dq(line)[1:-1] for line in box.lines)
        out.append(f'  {_dq(box.key)} [label="{label}", shape={"note" if box.kind == "constant" else "box"}, '
                   f'style="{style}", fillcolor="{fill}", color="{stroke}"];')
    for link in links:
        attrs = ([f"label={_dq(link.label)}"] if link.label else []) + (["style=dashed"] if link.dashed else [])
        attrs += [f'color="{_CYCLE}"', f'fontcolor="{_CYCLE}"'] if link.cycle else []
        out.append(f"  {_dq(link.source)} -> {_dq(link.target)}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    return "\n".join(out + ["}", ""])


def _mq(text: str) -> str:
    """Mermaid label text: quotes, markup and entities become Mermaid's #name; codes ('#' first)."""
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("&", "#amp;"), ("`", "#96;")):
        text = text.replace(char, code)
    return text


def _mermaid(boxes: list[_Box], links: list[_Link]) -> str:
    # prefixed ids: Mermaid keywords such as `end` are valid node ids here
    ids = {b.key: b.key[1:] if b.key.startswith("_") else f"n_{b.key}" for b in boxes}
    out = ["flowchart TD"]
    out += [f"  classDef {kind} fill:{fill},stroke:{stroke}" for kind, (fill, stroke, *_) in _STYLE.items()]
    for box in boxes:
        start, end = _STYLE[box.kind][4:]
        out.append(f"  {ids[box.key]}{start}{'<br>'.join(_mq(line) for line in box.lines)}{end}:::{box.kind}")
    for link in links:
        arrow = "-.->" if link.dashed else "-->"
        label = f'|"{_mq(link.label)}"|' if link.label else ""
        out.append(f"  {ids[link.source]} {arrow}{label} {ids[link.target]}")
    cyclic = [str(i) for i, link in enumerate(links) if link.cycle]
    if cyclic:  # links are numbered in the order they are written
        out.append(f"  linkStyle {','.join(cyclic)} stroke:{_CYCLE},color:{_CYCLE}")
    return "\n".join(out + [""])


# -- SVG: a layered (Sugiyama-style) layout, top to bottom ---------------------------------------
def _svg(boxes: list[_Box], links: list[_Link]) -> tuple[str, dict[str, tuple[int, int, int, int]], tuple[int, int]]:
    """The picture, each box's x, y, width and height, and the canvas's width and height."""
    if len(boxes) > MAX_SVG_NODES:
        raise ValueError(f"{len(boxes)} boxes are too many to lay out as SVG (at most {MAX_SVG_NODES}); "
                         "write .dot or .mmd instead")
    layer = _layers([b.key for b in boxes], [(link.source, link.target) for link in links])
    rows, routes = _rows(boxes, links, layer)
    _untangle(rows, routes)
    size = {b.key: (round(max(map(len, b.lines)) * _CHAR_W) + 2 * _PAD, len(b.lines) * _LINE_H + 2 * _PAD)
            for b in boxes}
    pos, width, height = _place(rows, size)
    places = {b.key: (pos[b.key][0] - size[b.key][0] // 2, pos[b.key][1], *size[b.key]) for b in boxes}
    paths = _edge_points(routes, pos, size)
    labels = _place_labels(links, paths, places.values())
    for left, y, text in (label for label in labels if label is not None):  # the canvas holds every label
        width = max(width, math.ceil(left + len(text) * _LABEL_CHAR_W) + _MARGIN)
        height = max(height, y + _MARGIN)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="12">',
           '<defs>' + "".join(f'<marker id="{name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
                              f'markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
                              for name, colour in (("arrow", _EDGE), ("arrow-cycle", _CYCLE))) + '</defs>']
    for link, points, label in zip(links, paths, labels):  # edges first, so boxes cover their ends
        out += _svg_edge(link, points, label)
    for box in boxes:
        out += _svg_box(box, pos[box.key], size[box.key])
    return "\n".join(out + ["</svg>", ""]), places, (width, height)


def _edge_points(routes: list[list[str]], pos: dict[str, tuple[int, int, int]],
                 size: dict[str, tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Each edge's points: from the bottom of its source down through each dummy's row to the top of
    its target. Where several edges end at one box (or leave one), their ends are spread along its
    side in the order of the other ends, so they neither cross nor share a last segment."""
    paths = [[pos[route[0]][::2], *((pos[k][0], y) for k in route[1:-1] for y in pos[k][1:]), pos[route[-1]][:2]]
             for route in routes]
    for end, other in ((0, 1), (-1, -2)):  # sources first, then targets (which see the spread sources)
        groups: dict[str, list[int]] = defaultdict(list)
        for i, route in enumerate(routes):
            groups[route[end]].append(i)
        for key, members in groups.items():
            if len(members) < 2:
                continue
            members.sort(key=lambda i: (paths[i][other][0], i))
            cx, width = pos[key][0], size[key][0]
            for rank, i in enumerate(members):
                paths[i][end] = (cx - width // 2 + width * (rank + 1) // (len(members) + 1), paths[i][end][1])
    return paths


class _Rects:
    """Rectangles (left, top, right, bottom) in a grid of cells, to ask what a new one overlaps."""

    _CELL = 64

    def __init__(self) -> None:
        self.cells: dict[tuple[int, int], list[tuple[float, float, float, float]]] = defaultdict(list)

    def _keys(self, rect: tuple[float, float, float, float]) -> list[tuple[int, int]]:
        left, top, right, bottom = (int(v // self._CELL) for v in rect)
        return [(x, y) for x in range(left, right + 1) for y in range(top, bottom + 1)]

    def add(self, rect: tuple[float, float, float, float]) -> None:
        for key in self._keys(rect):
            self.cells[key].append(rect)

    def hits(self, rect: tuple[float, float, float, float]) -> list[tuple[float, float, float, float]]:
        a = rect
        return [b for key in self._keys(rect) for b in self.cells.get(key, ())
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]


def _place_labels(links: list[_Link], paths: list[list[tuple[int, int]]],
                  boxes: Any) -> list[tuple[float, int, str] | None]:
    """Where each edge label goes (left, baseline, text): beside the middle of its last segment,
    right or left of it, else a little higher or lower, never over another label or a box."""
    labels_at, boxes_at = _Rects(), _Rects()
    for x, y, w, h in boxes:
        boxes_at.add((x, y, x + w, y + h))
    placed: list[tuple[float, int, str] | None] = []
    for link, points in zip(links, paths):
        if not link.label:
            placed.append(None)
            continue
        (x1, y1), (x2, y2) = points[-2], points[-1]
        mx, my = (x1 + x2) / 2, (y1 + y2) // 2
        width = len(link.label) * _LABEL_CHAR_W

        def rect(left: float, y: int, width: float = width) -> tuple[float, float, float, float]:
            return (left, y - _LABEL_H + 3, left + width, y + 3)
        candidates = [(left, my + dy * _LABEL_H) for dy in (0, -1, 1, -2, 2) for left in (mx + 4, mx - 4 - width)]
        free = [(left, y) for left, y in candidates if left >= 0 and y - _LABEL_H >= 0
                and not labels_at.hits(rect(left, y)) and not boxes_at.hits(rect(left, y))]
        left, y = free[0] if free else candidates[0]
        while not free and (hit := labels_at.hits(rect(left, y))):  # crowded: right of what is in the way
            left = max(b[2] for b in hit) + 4
        labels_at.add(rect(left, y))
        placed.append((round(left, 1), y, link.label))
    return placed


def _svg_edge(link: _Link, points: list[tuple[int, int]], label: tuple[float, int, str] | None) -> list[str]:
    dash = ' stroke-dasharray="5,4"' if link.dashed else ""
    colour, kind, marker = (_CYCLE, "edge cycle", "arrow-cycle") if link.cycle else (_EDGE, "edge", "arrow")
    out = [f'<path class="{kind}" d="M{" L".join(f"{x},{y}" for x, y in points)}" fill="none" '
           f'stroke="{colour}"{dash} marker-end="url(#{marker})"/>']
    if label is not None:  # beside the last segment, where the eye meets the target
        left, y, text = label
        out.append(f'<text class="edge-label" x="{left:g}" y="{y}" font-size="10" fill="{_CYCLE if link.cycle else "#333"}" '
                   f'stroke="white" stroke-width="3" paint-order="stroke">{html.escape(text)}</text>')  # a halo over lines
    return out


def _svg_box(box: _Box, pos: tuple[int, int, int], size: tuple[int, int]) -> list[str]:
    (cx, top, _), (w, h) = pos, size
    fill, stroke, radius, dashed = _STYLE[box.kind][:4]
    dash = ' stroke-dasharray="4,3"' if dashed else ""
    out = [f'<g class="node {box.kind}" id="node-{html.escape(box.key)}"><rect x="{cx - w // 2}" y="{top}" '
           f'width="{w}" height="{h}" rx="{radius}" fill="{fill}" stroke="{stroke}"{dash}/>']
    for i, line in enumerate(box.lines):
        weight = ' font-weight="bold"' if i == 0 else ""  # the id
        out.append(f'<text x="{cx}" y="{top + _PAD + 11 + i * _LINE_H}" text-anchor="middle"{weight}>'
                   f"{html.escape(line)}</text>")
    return out + ["</g>"]


def _layers(keys: list[str], pairs: list[tuple[str, str]]) -> dict[str, int]:
    """Longest path from the sources (Kahn's order, no recursion). A cycle (an invalid graph) is
    broken at its first node in file order, so it is drawn rather than refused."""
    succs: dict[str, list[str]] = {k: [] for k in keys}
    indegree = dict.fromkeys(keys, 0)
    for source, target in pairs:
        succs[source].append(target)
        indegree[target] += 1
    layer, done, forced = dict.fromkeys(keys, 0), set(), 0
    ready = deque(k for k in keys if indegree[k] == 0)
    while len(done) < len(keys):
        if not ready:
            while keys[forced] in done:
                forced += 1
            ready.append(keys[forced])
        key = ready.popleft()
        if key in done:
            continue
        done.add(key)
        for target in succs[key]:
            if target not in done:  # edges back into drawn nodes are the cycle's: they set no layer
                layer[target] = max(layer[target], layer[key] + 1)
                indegree[target] -= 1
                if indegree[target] == 0:
                    ready.append(target)
    return layer


def _rows(boxes: list[_Box], links: list[_Link], layer: dict[str, int]) -> tuple[list[list[str]], list[list[str]]]:
    """Boxes by layer, plus a dummy point in every row a long edge crosses, so it bends around boxes."""
    spans = sum(max(0, layer[link.target] - layer[link.source] - 1) for link in links)
    if spans > 10 * MAX_SVG_NODES:
        raise ValueError(f"edges span {spans} layers in all, too many to lay out as SVG; write .dot or .mmd instead")
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=0) + 1)]
    for box in boxes:
        rows[layer[box.key]].append(box.key)
    routes = []
    for i, link in enumerate(links):
        route = [link.source]
        for depth in range(layer[link.source] + 1, layer[link.target]):
            route.append(f"\0{i}.{depth}")  # NUL: never a node id
            rows[depth].append(route[-1])
        routes.append(route + [link.target])
    return rows, routes


def _untangle(rows: list[list[str]], routes: list[list[str]]) -> None:
    """Two down-and-up barycenter sweeps: each node moves toward the mean position of its neighbours
    in the row above (then below), which removes most crossings. Sorting is stable: deterministic."""
    index = {key: i for row in rows for i, key in enumerate(row)}
    depth = {key: d for d, row in enumerate(rows) for key in row}
    above: dict[str, list[str]] = defaultdict(list)
    below: dict[str, list[str]] = defaultdict(list)
    for route in routes:
        for a, b in zip(route, route[1:]):
            if depth[b] == depth[a] + 1:  # cycle edges point up: they would pull the wrong way
                below[a].append(b)
                above[b].append(a)
    for _ in range(2):
        for sweep, near in ((rows[1:], above), (rows[-2::-1], below)):
            for row in sweep:
                row.sort(key=lambda k: sum(index[n] for n in near[k]) / len(near[k]) if near[k] else index[k])
                index.update((key, i) for i, key in enumerate(row))


def _place(rows: list[list[str]], size: dict[str, tuple[int, int]]) -> tuple[dict[str, tuple[int, int, int]], int, int]:
    """Centre x, top and bottom of everything; each row centred; a dummy spans its whole row."""
    row_widths = [sum(size.get(k, (_DUMMY_W, 0))[0] for k in row) + _GAP_X * max(0, len(row) - 1) for row in rows]
    width = max(row_widths, default=0) + 2 * _MARGIN
    pos: dict[str, tuple[int, int, int]] = {}
    y = _MARGIN
    for row, row_width in zip(rows, row_widths):
        row_height = max((size.get(k, (0, 0))[1] for k in row), default=0)
        x = (width - row_width) // 2
        for key in row:
            w, h = size.get(key, (_DUMMY_W, row_height))
            top = y + (row_height - h) // 2
            pos[key] = (x + w // 2, top, top + h)
            x += w + _GAP_X
        y += row_height + _GAP_Y
    return pos, width, y - _GAP_Y + _MARGIN
