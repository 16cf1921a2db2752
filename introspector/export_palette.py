"""A catalog as the node palette of a graph editor: ComfyUI's `/object_info` and plain LiteGraph.js.

Both exports are pure functions of a Catalog. They share one decision step, `palette_node`, that
turns a node descriptor into editor-neutral *sockets* (slots an edge plugs into, connected by
matching type names) and *widgets* (a literal value edited on the node); two small renderers
then spell that out in each editor's vocabulary. Output is deterministic: catalog order for
slots and widgets, nodes keyed by id, and the caller writes JSON with sorted keys
(`nodecat.introspector.jsonio.dumps`). ComfyUI sorts nothing itself, so `input_order` keeps the order.

Mapping (catalog -> ComfyUI input spec -> LiteGraph widget or slot):

| catalog                                  | ComfyUI                                           | LiteGraph             |
|------------------------------------------|---------------------------------------------------|-----------------------|
| input port, type t                       | socket [T, {}], T from SLOT_TYPES                 | input [name, T]       |
| port with conns k > 1                    | sockets `name[0]`..`name[k-1]`                    | same                  |
| port with unbounded conns                | VARIADIC_SLOTS sockets `name[i]`; only the first  | same                  |
|                                          | one carries the port's `required`                 |                       |
| output port                              | output T, output_name = port name                 | output [name, T]      |
| layer/container that is instantiated     | extra output `(instance)` of type MODULE: the     | same                  |
|                                          | graph's port-less edge that hands the instance to |                       |
|                                          | an argument (Bidirectional.layer, ...)            |                       |
| arg {"type": "integer"}                  | ["INT", {default, min, max, step: 1}]             | number, precision 0   |
| arg {"type": "number"} (or int, number)  | ["FLOAT", {default, min, max, step, round: false}]| number                |
| arg {"type": "boolean"}                  | ["BOOLEAN", {default}]                            | toggle                |
| arg {"type": "string"} (also device)     | ["STRING", {default, multiline: false}]           | text                  |
| arg {"enum": [...]} (dtype, layout,      | [[choices...], {default}] (a COMBO)               | combo                 |
|   activation; the registered names of    |                                                   |                       |
|   initializer/regularizer/constraint)    |                                                   |                       |
| arg fed by an edge only (x-nodecat       | socket [TENSOR, MODULE or SCHEDULE, {}]           | input [name, T]       |
|   tensor/module/schedule)                |                                                   |                       |
| arg: a literal *or* an edge (lr: number  | the literal's widget, plus an optional socket     | widget + input        |
|   or tensor, Keras learning_rate:        |   `<name> (edge)` of the edge's type; a link      |                       |
|   number or schedule)                    |   there replaces the widget's value               |                       |
| arg with no single widget: tuples,       | ["STRING", {default: JSON text, json_schema}]:    | text, options.json    |
|   shapes, anyOf of several non-null      |   the value as JSON, the schema alongside, and    |                       |
|   types, objects, untyped (schema null)  |   the tooltip says what to type (seed types)      |                       |
| nullable arg whose default is None       | COMBO: a "None" choice, selected;                 | same                  |
|                                          | JSON: the text "null";                            |                       |
|                                          | INT/FLOAT/BOOLEAN/STRING: an optional socket of   | input [name, INT]     |
|                                          |   that type with forceInput (unconnected = None;  |                       |
|                                          |   a primitive node sets a value)                  |                       |
| hidden arg (device, dtype, training)     | left out: the executor sets it (as in the seed    | left out              |
|                                          |   export)                                         |                       |

Why these choices:
- Every visible argument and every port becomes exactly one input (two for literal-or-edge
  arguments); nothing is dropped. Arguments no single widget can hold become JSON text rather than
  disappearing, because a lossy widget (an INT for `kernel_size: int | (int, int)`) would silently
  narrow what the catalog allows. The schema travels in the options, so a front end or an
  importer can validate the text.
- ComfyUI keeps widgets with defaults in "required" (they always send a value; KSampler's
  `steps` is the model); "optional" holds what may stay unconnected: optional ports, edge-fed
  arguments that default to None, companion edge sockets and None-default scalars.
- A widget's initial value is the argument's default; for a required argument without one, the
  catalog's probed example (the value the crawler instantiated the node with), else the neutral
  value of the widget (0 clamped into range, false, "", the first choice, empty JSON text).
- Number widgets carry explicit bounds (ComfyUI assumes 0..2048 without them): the schema's
  minimum/maximum (an exclusive bound becomes the inclusive bound for floats, +-1 for integers;
  the executor's schema check still refuses the bound itself), else the widest safe range. The
  float step has as many decimals as the default (0.999 -> 0.001) and "round": false, so no
  default (eps=1e-8) is rounded away.
- Keras initializer/regularizer/constraint arguments are offered as their registered names; the
  {"class_name", "config"} form stays available in graph files.
- A default the chosen widget cannot show (a value outside a COMBO's choices or a number's range,
  a string for a number) makes the widget JSON instead.
- Limits, on purpose: a nullable argument with a real default (BatchNorm's momentum=0.1) gets
  the plain widget, so None is not offered there; a port that merges any number of edges offers
  VARIADIC_SLOTS sockets. Graph files have neither limit.
- Tooltips and descriptions are plain text (`summary`, `doc`), never the library's reST or LaTeX
  (`summary_raw`, `doc_raw`): neither editor renders markup. They pass through `plain_text` once
  more, which changes nothing in a current catalog and cleans one built by an older nodecat.
- Slot types are the port types in capitals (SLOT_TYPES), one shared vocabulary for both
  libraries; "any" is LiteGraph's wildcard "*". Nothing in a palette outputs PARAMETERS: an
  optimizer's parameters come from the training section of a graph, not from a node.
- Synthesised slot names (`xs[0]`, `lr (edge)`, `(instance)`, and `<arg> (arg)` when an argument
  shares its name with a port, as PoissonNLLLoss' `log_input` does) contain characters that graph
  port and argument names cannot, so an importer can always map a slot back to the catalog.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from nodecat.introspector.export_seed import seed_type
from nodecat.introspector.markup import plain_text
from nodecat.introspector.model import Arg, Catalog, InputPort, Node

JsonValue = Any

SLOT_TYPES: dict[str, str] = {
    "tensor": "TENSOR", "tensors": "TENSOR_LIST", "tensor-pair": "TENSOR_PAIR", "parameters": "PARAMETERS",
    "optimizer": "OPTIMIZER", "schedule": "SCHEDULE", "module": "MODULE", "any": "*",
}
EDGE_KINDS: tuple[str, ...] = ("tensor", "module", "schedule")  # x-nodecat kinds an edge carries
VARIADIC_SLOTS = 4  # sockets offered for a port that merges any number of edges
NONE_CHOICE = "None"  # the COMBO choice that stands for JSON null
INSTANCE_OUTPUT = "(instance)"
INT_LIMIT = 2**53 - 1  # the largest integer a JavaScript number holds exactly
FLOAT_LIMIT = sys.float_info.max
PYTHON_MODULE = "nodecat"
LITEGRAPH_FORMAT = "nodecat-litegraph-palette/1"

WidgetKind = Literal["INT", "FLOAT", "BOOLEAN", "STRING", "COMBO", "JSON"]
_SCALAR_KINDS = ("INT", "FLOAT", "BOOLEAN", "STRING")
_MISSING = object()


@dataclass(frozen=True)
class Socket:
    """A slot an edge plugs into; it connects to outputs of the same type name."""

    name: str
    type: str
    required: bool
    tooltip: str = ""
    force_input: WidgetKind | None = None  # a None-default scalar argument: a socket of a widget type
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Widget:
    """A literal argument value edited on the node."""

    name: str
    kind: WidgetKind
    value: JsonValue  # JSON text for kind JSON
    tooltip: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[JsonValue, ...] = ()
    schema: dict[str, Any] | None = None  # kind JSON: what the text must hold ({} when untyped)


PaletteInput = Socket | Widget


@dataclass(frozen=True)
class Output:
    name: str
    type: str
    tooltip: str = ""


@dataclass(frozen=True)
class PaletteNode:
    id: str
    title: str
    category: str
    description: str
    inputs: tuple[PaletteInput, ...]
    outputs: tuple[Output, ...]


# --- schema -> widget -----------------------------------------------------------------------

def _leaves(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a schema, nested anyOf flattened; an x-nodecat schema stays one leaf."""
    if "anyOf" in schema and "x-nodecat" not in schema:
        return [leaf for sub in schema["anyOf"] for leaf in _leaves(sub)]
    return [schema]


def _edge_kind(leaf: dict[str, Any]) -> str | None:
    kind = leaf.get("x-nodecat")
    return kind if kind in EDGE_KINDS else None


def _choices(leaf: dict[str, Any]) -> tuple[JsonValue, ...] | None:
    """The names a COMBO offers: an enum, or the enum alternative of a Keras object kind."""
    if "enum" in leaf:
        return tuple(leaf["enum"])
    if "x-nodecat" in leaf:
        enums = [s for s in leaf.get("anyOf", ()) if "enum" in s]
        if len(enums) == 1:
            return tuple(enums[0]["enum"])
    return None


def _literal_kind(literals: list[dict[str, Any]]) -> WidgetKind:
    """The one widget that holds every literal alternative, else JSON."""
    types = {leaf.get("type") for leaf in literals if "enum" not in leaf}
    if len(literals) == 2 and types == {"integer", "number"}:
        return "FLOAT"  # JSON numbers include the integers
    if len(literals) != 1:
        return "JSON"
    leaf = literals[0]
    if _choices(leaf) is not None:
        return "COMBO"
    return {"integer": "INT", "number": "FLOAT", "boolean": "BOOLEAN",
            "string": "STRING"}.get(str(leaf.get("type")), "JSON")  # type: ignore[return-value]


def _bounds(leaf: dict[str, Any], kind: WidgetKind) -> tuple[float, float]:
    limit: float = INT_LIMIT if kind == "INT" else FLOAT_LIMIT
    nudge = 1 if kind == "INT" else 0
    low = leaf.get("minimum", leaf["exclusiveMinimum"] + nudge if "exclusiveMinimum" in leaf else -limit)
    high = leaf.get("maximum", leaf["exclusiveMaximum"] - nudge if "exclusiveMaximum" in leaf else limit)
    if kind == "FLOAT":
        return float(low), float(high)
    return low, high


def float_step(value: JsonValue) -> float:
    """A step with as many decimals as the default (at least two): 0.999 -> 0.001, 1e-8 -> 1e-8."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value == 0:
        return 0.01
    exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
    return float(f"1e{min(int(exponent), -2)}")


def _fits(kind: WidgetKind, value: JsonValue, choices: tuple[JsonValue, ...],
          low: float | None, high: float | None) -> bool:
    """Whether the widget can show the value as it is (a number also within the widget's range)."""
    if kind in ("INT", "FLOAT"):
        number = (int,) if kind == "INT" else (int, float)
        if not isinstance(value, number) or isinstance(value, bool):
            return False
        return low is not None and high is not None and low <= value <= high
    if kind == "BOOLEAN":
        return isinstance(value, bool)
    if kind == "STRING":
        return isinstance(value, str)
    if kind == "COMBO":
        return any(value == c and type(value) is type(c) for c in choices)
    return True


def _neutral(kind: WidgetKind, low: float | None, high: float | None,
             choices: tuple[JsonValue, ...]) -> JsonValue:
    if kind in ("INT", "FLOAT"):
        zero = 0 if kind == "INT" else 0.0
        return min(max(zero, low), high)  # type: ignore[type-var]
    return {"BOOLEAN": False, "STRING": "", "COMBO": choices[0] if choices else "", "JSON": ""}[kind]


def _tooltip(arg: Arg, note: str = "") -> str:
    return " ".join(part for part in (plain_text(arg.doc), note) if part)


def json_widget(name: str, arg: Arg, initial: JsonValue) -> Widget:
    """The widget of last resort: the value as JSON text, its schema beside it."""
    if arg.schema is None:
        note = f"[JSON; untyped, needs review: {arg.unsupported or 'no schema'}]"
    else:
        note = f"[JSON: {seed_type(arg.schema)}]"
    text = "" if initial is _MISSING else json.dumps(initial, sort_keys=True, ensure_ascii=False)
    return Widget(name, "JSON", text, _tooltip(arg, note), schema=arg.schema or {})


def initial_value(arg: Arg, node: Node) -> JsonValue:
    """The default; for a required argument, the probed example's value; else _MISSING."""
    if arg.has_default:
        return arg.default
    example_args = (node.example or {}).get("args") or {}
    if arg.name in example_args:
        return example_args[arg.name]
    return arg.example if arg.has_example else _MISSING


def literal_input(name: str, arg: Arg, literals: list[dict[str, Any]], initial: JsonValue) -> PaletteInput:
    """The widget (or None-default socket) for an argument's literal alternatives."""
    kind = _literal_kind(literals)
    if kind == "JSON":
        return json_widget(name, arg, initial)
    leaf = literals[0] if kind != "FLOAT" or len(literals) == 1 else next(
        s for s in literals if s.get("type") == "number")
    choices = (_choices(leaf) or ()) if kind == "COMBO" else ()
    low, high = _bounds(leaf, kind) if kind in ("INT", "FLOAT") else (None, None)
    if initial is None:  # "not given": a choice of its own, or an unconnected socket
        if kind == "COMBO" and NONE_CHOICE not in choices:
            return Widget(name, "COMBO", NONE_CHOICE, _tooltip(arg), choices=(NONE_CHOICE, *choices))
        if kind in _SCALAR_KINDS:
            return Socket(name, kind, False, _tooltip(arg, "[unconnected: None]"), force_input=kind,
                          minimum=low, maximum=high)
        return json_widget(name, arg, initial)
    if initial is _MISSING:
        initial = _neutral(kind, low, high, choices)
    elif not _fits(kind, initial, choices, low, high):
        return json_widget(name, arg, initial)
    if kind == "FLOAT":
        initial = float(initial)
    step = 1 if kind == "INT" else float_step(initial) if kind == "FLOAT" else None
    return Widget(name, kind, initial, _tooltip(arg), minimum=low, maximum=high, step=step, choices=choices)


def arg_inputs(arg: Arg, node: Node, name: str) -> tuple[PaletteInput, ...]:
    """One input per argument; two when it takes a literal or an edge."""
    initial = initial_value(arg, node)
    if arg.schema is None:
        return (json_widget(name, arg, initial),)
    leaves = _leaves(arg.schema)
    edge_types = sorted({SLOT_TYPES[k] for k in map(_edge_kind, leaves) if k})
    literals = [s for s in leaves if not _edge_kind(s) and s.get("type") != "null"]
    if not edge_types:
        return (literal_input(name, arg, literals, initial),)
    edge_type = ",".join(edge_types)  # LiteGraph and ComfyUI read "A,B" as either type
    if not literals:
        return (Socket(name, edge_type, arg.required, _tooltip(arg)),)
    companion = Socket(f"{name} (edge)", edge_type, False,
                       _tooltip(arg, f"[a link here replaces the value of {name}]"))
    return literal_input(name, arg, literals, initial), companion


# --- node -> palette node -------------------------------------------------------------------

def port_sockets(port: InputPort) -> tuple[Socket, ...]:
    slot_type, tooltip = SLOT_TYPES[port.type], plain_text(port.doc)
    if port.conns == 1:
        return (Socket(port.name, slot_type, port.required, tooltip),)
    if port.conns is None:
        return tuple(Socket(f"{port.name}[{i}]", slot_type, port.required and i == 0, tooltip)
                     for i in range(VARIADIC_SLOTS))
    return tuple(Socket(f"{port.name}[{i}]", slot_type, port.required, tooltip) for i in range(port.conns))


def node_outputs(node: Node) -> tuple[Output, ...]:
    outputs = tuple(Output(p.name, SLOT_TYPES[p.type], plain_text(p.doc)) for p in node.outputs)
    if node.call.get("instantiate") and node.kind in ("layer", "container"):
        outputs += (Output(INSTANCE_OUTPUT, SLOT_TYPES["module"], f"the {node.name} instance itself"),)
    return outputs


def palette_node(node: Node) -> PaletteNode:
    """The editor-neutral palette entry of one node: sockets and widgets in catalog order."""
    port_names = {p.name for p in node.inputs}
    inputs: list[PaletteInput] = [s for p in node.inputs for s in port_sockets(p)]
    for arg in node.args:
        if not arg.hidden:
            name = f"{arg.name} (arg)" if arg.name in port_names else arg.name
            inputs.extend(arg_inputs(arg, node, name))
    names = [i.name for i in inputs]
    if len(set(names)) != len(names):  # cannot happen with identifier-named ports and args
        raise ValueError(f"{node.id}: duplicate palette input names {sorted(names)}")
    return PaletteNode(node.id, node.name, f"{PYTHON_MODULE}/{node.library}/{node.category}",
                       plain_text(node.summary), tuple(inputs), node_outputs(node))


# --- ComfyUI /object_info -------------------------------------------------------------------

def _with_tooltip(options: dict[str, Any], tooltip: str) -> dict[str, Any]:
    return {**options, "tooltip": tooltip} if tooltip else options


def comfyui_input(item: PaletteInput) -> list[Any]:
    """One ComfyUI input spec: [TYPE, options], a COMBO's type being its list of choices."""
    if isinstance(item, Socket):
        if item.force_input is None:
            return [item.type, _with_tooltip({}, item.tooltip)]
        bounds = {} if item.minimum is None else {"min": item.minimum, "max": item.maximum}
        return [item.type, _with_tooltip({"forceInput": True, **bounds}, item.tooltip)]
    if item.kind == "COMBO":
        return [list(item.choices), _with_tooltip({"default": item.value}, item.tooltip)]
    if item.kind == "JSON":
        options = {"default": item.value, "multiline": False, "json_schema": item.schema}
        return ["STRING", _with_tooltip(options, item.tooltip)]
    options = {"default": item.value}
    if item.kind in ("INT", "FLOAT"):
        options.update(min=item.minimum, max=item.maximum, step=item.step)
    if item.kind == "FLOAT":
        options["round"] = False
    if item.kind == "STRING":
        options["multiline"] = False
    return [item.kind, _with_tooltip(options, item.tooltip)]


def _section(item: PaletteInput) -> str:
    return "optional" if isinstance(item, Socket) and not item.required else "required"


def comfyui_node(node: Node) -> dict[str, Any]:
    entry = palette_node(node)
    sections: dict[str, dict[str, Any]] = {"required": {}}
    order: dict[str, list[str]] = {"required": []}
    for item in entry.inputs:
        section = _section(item)
        sections.setdefault(section, {})[item.name] = comfyui_input(item)
        order.setdefault(section, []).append(item.name)
    return {
        "input": sections, "input_order": order,
        "output": [o.type for o in entry.outputs],
        "output_is_list": [False for _ in entry.outputs],
        "output_name": [o.name for o in entry.outputs],
        "output_tooltips": [o.tooltip for o in entry.outputs],
        "name": entry.id, "display_name": entry.title, "description": entry.description,
        "python_module": PYTHON_MODULE, "category": entry.category, "output_node": False,
    }


def comfyui_object_info(catalog: Catalog) -> dict[str, dict[str, Any]]:
    """The catalog as ComfyUI's `GET /object_info` answer: node definitions keyed by node id."""
    return {n.id: comfyui_node(n) for n in sorted(catalog.nodes, key=lambda n: n.id)}


# --- plain LiteGraph.js ---------------------------------------------------------------------

_LITEGRAPH_WIDGETS = {"INT": "number", "FLOAT": "number", "BOOLEAN": "toggle", "STRING": "text",
                      "COMBO": "combo", "JSON": "text"}


def litegraph_widget(item: Widget) -> dict[str, Any]:
    """Arguments of LGraphNode.addWidget(type, name, value, callback, options), bound to a property."""
    options: dict[str, Any] = {"property": item.name}
    if item.kind in ("INT", "FLOAT"):
        decimals = 0 if item.kind == "INT" else -int(Decimal(repr(item.step)).as_tuple().exponent)
        # LiteGraph moves a number widget by a tenth of its step per click.
        step = 10 if item.kind == "INT" else float(f"1e{1 - decimals}")
        options.update(min=item.minimum, max=item.maximum, step=step, precision=decimals)
    if item.kind == "COMBO":
        options["values"] = list(item.choices)
    if item.kind == "JSON":
        options.update(json=True, schema=item.schema)
    if item.tooltip:
        options["tooltip"] = item.tooltip
    return {"type": _LITEGRAPH_WIDGETS[item.kind], "name": item.name, "value": item.value, "options": options}


def litegraph_node(node: Node) -> dict[str, Any]:
    entry = palette_node(node)
    sockets = [i for i in entry.inputs if isinstance(i, Socket)]
    widgets = [i for i in entry.inputs if isinstance(i, Widget)]
    return {
        "id": entry.id, "title": entry.title, "category": entry.category, "desc": entry.description,
        "inputs": [[s.name, s.type, {"optional": not s.required}] for s in sockets],
        "outputs": [[o.name, o.type] for o in entry.outputs],
        "properties": {w.name: w.value for w in widgets},
        "widgets": [litegraph_widget(w) for w in widgets],
    }


def litegraph_palette(catalog: Catalog) -> dict[str, Any]:
    """The catalog as a LiteGraph.js palette: per node type (keyed by node id) what to register.

    Each type: title, category (menu path), desc, inputs as addInput(name, type, extra_info)
    arguments, outputs as [name, type], properties (the widgets' initial values; a JSON widget's
    property holds its JSON text) and widgets as addWidget(type, name, value, property, options).
    """
    nodes = sorted(catalog.nodes, key=lambda n: n.id)
    return {
        "format": LITEGRAPH_FORMAT, "library": catalog.library, "version": catalog.version,
        "node_types": {n.id: litegraph_node(n) for n in nodes},
    }


PALETTE_FORMATS = {"comfyui": comfyui_object_info, "litegraph": litegraph_palette}
