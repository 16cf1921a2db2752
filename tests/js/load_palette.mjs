// Load a nodecat palette with the editor's own graph library, headless, and report what happened.
//
//   node tests/js/load_palette.mjs PALETTE.json [PLAN.json]
//
// PALETTE.json is `nodecat catalog export LIB --format comfyui` (ComfyUI's /object_info; loaded
// with @comfyorg/litegraph, the LiteGraph fork ComfyUI's front end is built on) or
// `--format litegraph` (loaded with litegraph.js). The format is told by the document itself.
//
// What it does, as the front ends do: validate each node definition (the checks ComfyUI's front
// end makes before it registers a definition), register one LGraphNode class per definition whose
// constructor adds input slots, widgets and outputs; then create every registered type with
// LiteGraph.createNode, put them all in one LGraph, serialize it and configure a fresh LGraph
// from that text. PLAN.json (optional) builds a small graph: {"nodes": {alias: type},
// "widgets": {alias: {name: value}}, "links": [{"from": [alias, output], "to": [alias, input]}]};
// the type "harness/Input" is a source with one TENSOR output, standing in for the executor's
// built-in input node (which is not a catalog node). The summary goes to stdout as JSON.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const LITEGRAPH_PALETTE = "nodecat-litegraph-palette/1";
const WIDGET_TYPES = new Set(["INT", "FLOAT", "BOOLEAN", "STRING"]);
const HARNESS_INPUT = "harness/Input";

function packageVersion(name) {
  const url = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")).version;
}

// --- ComfyUI: /object_info -> node classes --------------------------------------------------

const isNumber = (v) => typeof v === "number" && Number.isFinite(v);

function checkComfyInput(key, name, spec, problems) {
  const where = `${key}: input ${JSON.stringify(name)}`;
  if (!Array.isArray(spec) || spec.length < 1 || spec.length > 2) return problems.push(`${where}: not [type, options]`);
  const [type, options = {}] = spec;
  if (typeof options !== "object" || options === null || Array.isArray(options)) return problems.push(`${where}: options not an object`);
  if (options.tooltip !== undefined && typeof options.tooltip !== "string") problems.push(`${where}: tooltip not a string`);
  if (Array.isArray(type)) {
    if (options.default !== undefined && !type.includes(options.default)) problems.push(`${where}: default not a choice`);
    return;
  }
  if (typeof type !== "string" || type === "" || type === "COMBO") return problems.push(`${where}: bad type ${JSON.stringify(type)}`);
  if (type === "INT" || type === "FLOAT") {
    for (const field of ["default", "min", "max", "step"]) {
      if (options[field] !== undefined && !isNumber(options[field])) problems.push(`${where}: ${field} not a number`);
    }
    if (type === "INT" && options.default !== undefined && !Number.isSafeInteger(options.default)) problems.push(`${where}: INT default not an integer`);
    if (options.round !== undefined && options.round !== false && !isNumber(options.round)) problems.push(`${where}: round`);
    if (options.default !== undefined && (options.default < options.min || options.default > options.max)) problems.push(`${where}: default out of range`);
  }
  if (type === "BOOLEAN" && options.default !== undefined && typeof options.default !== "boolean") problems.push(`${where}: BOOLEAN default`);
  if (type === "STRING" && options.default !== undefined && typeof options.default !== "string") problems.push(`${where}: STRING default`);
}

function checkComfyDef(key, def) {
  const problems = [];
  for (const field of ["name", "display_name", "description", "category", "python_module"]) {
    if (typeof def[field] !== "string") problems.push(`${key}: ${field} is not a string`);
  }
  if (def.name !== key) problems.push(`${key}: name differs from its key`);
  if (typeof def.output_node !== "boolean") problems.push(`${key}: output_node is not a boolean`);
  const outputs = def.output ?? [];
  for (const field of ["output_is_list", "output_name", "output_tooltips"]) {
    if (!Array.isArray(def[field]) || def[field].length !== outputs.length) problems.push(`${key}: ${field} does not match output`);
  }
  for (const section of ["required", "optional"]) {
    const inputs = def.input?.[section] ?? {};
    const order = def.input_order?.[section] ?? [];
    if (JSON.stringify([...order].sort()) !== JSON.stringify(Object.keys(inputs).sort())) problems.push(`${key}: input_order.${section} does not list its inputs`);
    for (const [name, spec] of Object.entries(inputs)) checkComfyInput(key, name, spec, problems);
  }
  return problems;
}

// What ComfyUI's widgets do for the standard input types (number widgets move by step/10 in
// LiteGraph, hence 10 * step; FLOAT precision follows the step unless "round" says otherwise).
function addComfyWidget(node, name, type, options) {
  const noop = () => {};
  if (Array.isArray(type)) return node.addWidget("combo", name, options.default ?? type[0], noop, { values: type });
  if (type === "INT" || type === "FLOAT") {
    const step = options.step ?? (type === "INT" ? 1 : 0.5);
    const precision = type === "INT" ? 0 : Math.max(-Math.floor(Math.log10(step)), 0);
    const round = type === "INT" ? 1 : options.round === false ? undefined : options.round;
    return node.addWidget("number", name, options.default ?? options.min ?? 0, noop,
      { min: options.min ?? 0, max: options.max ?? 2048, step: 10 * step, step2: step, precision, round });
  }
  if (type === "BOOLEAN") {
    return node.addWidget("toggle", name, options.default ?? false, noop, { on: options.label_on, off: options.label_off });
  }
  return node.addWidget("text", name, options.default ?? "", noop, {});
}

function comfyInputs(def) {
  const out = [];
  for (const section of ["required", "optional"]) {
    const inputs = def.input?.[section] ?? {};
    for (const name of def.input_order?.[section] ?? Object.keys(inputs)) {
      const [type, options = {}] = inputs[name];
      const widget = (Array.isArray(type) || WIDGET_TYPES.has(type)) && !options.forceInput;
      out.push({ name, type, options, widget, optional: section === "optional" });
    }
  }
  return out;
}

function registerComfy(lib, key, def) {
  const { LGraphNode, LiteGraph, SlotShape } = lib;
  class ComfyNode extends LGraphNode {
    static comfyClass = def.name;
    static title = def.display_name || def.name;
    static nodeData = def;

    constructor(title) {
      super(title);
      for (const input of comfyInputs(def)) {
        if (input.widget) addComfyWidget(this, input.name, input.type, input.options);
        else this.addInput(input.name, input.type, input.optional ? { shape: SlotShape.HollowCircle } : {});
      }
      def.output.forEach((type, i) => {
        this.addOutput(def.output_name[i] || type, type, def.output_is_list[i] ? { shape: LiteGraph.GRID_SHAPE } : {});
      });
      this.serialize_widgets = true;
    }
  }
  LiteGraph.registerNodeType(key, ComfyNode);
  ComfyNode.category = def.category;
}

function expectComfy(def) {
  const inputs = comfyInputs(def);
  return {
    inputs: inputs.filter((i) => !i.widget).map((i) => [i.name, i.type]),
    widgets: inputs.filter((i) => i.widget).map((i) => [i.name, i.options.default ?? (Array.isArray(i.type) ? i.type[0] : undefined)]),
    outputs: def.output.map((type, i) => [def.output_name[i] || type, type]),
  };
}

// --- plain LiteGraph palette -> node types -------------------------------------------------

function checkLiteGraphType(key, def) {
  const problems = [];
  for (const field of ["id", "title", "category", "desc"]) if (typeof def[field] !== "string") problems.push(`${key}: ${field}`);
  for (const slot of [...def.inputs, ...def.outputs]) {
    if (typeof slot[0] !== "string" || typeof slot[1] !== "string") problems.push(`${key}: slot ${JSON.stringify(slot)}`);
  }
  for (const w of def.widgets) {
    if (!["number", "combo", "toggle", "text"].includes(w.type)) problems.push(`${key}: widget type ${w.type}`);
    if (w.options.property !== w.name || !(w.name in def.properties)) problems.push(`${key}: widget ${w.name} has no property`);
    if (w.type === "combo" && !w.options.values.includes(w.value)) problems.push(`${key}: ${w.name} value not a choice`);
  }
  return problems;
}

function registerLiteGraph(lib, key, def) {
  const { LiteGraph } = lib;
  function PaletteNode() {
    for (const [name, type, extra] of def.inputs) this.addInput(name, type, { ...extra });
    for (const [name, type] of def.outputs) this.addOutput(name, type);
    for (const [name, value] of Object.entries(def.properties)) this.addProperty(name, value);
    for (const w of def.widgets) this.addWidget(w.type, w.name, w.value, w.options.property, { ...w.options });
    this.serialize_widgets = true;
  }
  PaletteNode.title = def.title;
  PaletteNode.desc = def.desc;
  LiteGraph.registerNodeType(key, PaletteNode);
  PaletteNode.category = def.category;
}

function expectLiteGraph(def) {
  return {
    inputs: def.inputs.map(([name, type]) => [name, type]),
    widgets: def.widgets.map((w) => [w.name, w.value]),
    outputs: def.outputs.map(([name, type]) => [name, type]),
  };
}

// --- shared: instantiate, connect, serialize, configure -----------------------------------

function registerHarnessInput(lib) {
  const { LGraphNode, LiteGraph } = lib;
  class HarnessInput extends LGraphNode {
    static title = "Input";
    constructor(title) { super(title); this.addOutput("output", "TENSOR"); }
  }
  LiteGraph.registerNodeType(HARNESS_INPUT, HarnessInput);
}

const slots = (list) => (list ?? []).map((s) => [s.name, s.type]);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function checkInstance(node, key, expected, problems) {
  if (!node) return problems.push(`${key}: createNode gave nothing`);
  if (!same(slots(node.inputs), expected.inputs)) problems.push(`${key}: inputs ${JSON.stringify(slots(node.inputs))}`);
  if (!same(slots(node.outputs), expected.outputs)) problems.push(`${key}: outputs ${JSON.stringify(slots(node.outputs))}`);
  const widgets = (node.widgets ?? []).map((w) => [w.name, w.value]);
  if (!same(widgets, expected.widgets)) problems.push(`${key}: widgets ${JSON.stringify(widgets)}`);
}

// Serialize, configure a fresh graph from the text, serialize again. Nodes' execution "order" is
// left out of the comparison: configure() recomputes it, the palette has no say in it.
function roundTrip(lib, graph) {
  const withoutOrder = (data) => JSON.stringify({ ...data, nodes: data.nodes.map(({ order, ...node }) => node) });
  const data = graph.serialize();
  const fresh = new lib.LGraph();
  fresh.configure(JSON.parse(JSON.stringify(data)));
  return { text: withoutOrder(data), fresh, again: withoutOrder(fresh.serialize()) };
}

function linkCount(graph) {
  const links = graph.links;
  return links instanceof Map ? links.size : Object.keys(links ?? {}).length;
}

function setWidget(node, name, value) {
  const widget = node.widgets?.find((w) => w.name === name);
  if (!widget) throw new Error(`no widget ${name} on ${node.type}`);
  widget.value = value;
  if (widget.options?.property) node.setProperty(widget.options.property, value);
}

function runPlan(lib, plan) {
  const graph = new lib.LGraph();
  const nodes = {};
  for (const [alias, type] of Object.entries(plan.nodes)) {
    const node = lib.LiteGraph.createNode(type);
    if (!node) throw new Error(`plan: cannot create ${type}`);
    graph.add(node);
    nodes[alias] = node;
  }
  for (const [alias, values] of Object.entries(plan.widgets ?? {})) {
    for (const [name, value] of Object.entries(values)) setWidget(nodes[alias], name, value);
  }
  const links = plan.links.map(({ from, to }) => {
    const source = nodes[from[0]], target = nodes[to[0]];
    const out = source.findOutputSlot(from[1]), inp = target.findInputSlot(to[1]);
    if (out < 0 || inp < 0) return { from, to, connected: false, error: `no slot (${out}, ${inp})` };
    const link = source.connect(out, target, inp);
    return { from, to, connected: Boolean(link), type: link ? link.type : null };
  });
  const { text, fresh, again } = roundTrip(lib, graph);
  const widgetValues = {};
  for (const node of fresh._nodes) {
    const alias = Object.keys(nodes).find((a) => nodes[a].id === node.id);
    widgetValues[alias] = Object.fromEntries((node.widgets ?? []).map((w) => [w.name, w.value]));
  }
  return {
    links, links_in_graph: linkCount(graph), links_after_configure: linkCount(fresh),
    nodes_after_configure: fresh._nodes.length, roundtrip_identical: text === again,
    widget_values: widgetValues,
  };
}

async function main() {
  const [palettePath, planPath] = process.argv.slice(2);
  if (!palettePath) {
    console.error("usage: node load_palette.mjs PALETTE.json [PLAN.json]");
    process.exit(2);
  }
  const palette = JSON.parse(readFileSync(palettePath, "utf8"));
  const litegraph = palette.format === LITEGRAPH_PALETTE;
  const packageName = litegraph ? "litegraph.js" : "@comfyorg/litegraph";
  const lib = litegraph ? require("litegraph.js") : await import("@comfyorg/litegraph");
  const defs = litegraph ? palette.node_types : palette;
  const check = litegraph ? checkLiteGraphType : checkComfyDef;
  const register = litegraph ? registerLiteGraph : registerComfy;
  const expect = litegraph ? expectLiteGraph : expectComfy;

  const problems = [];
  const keys = Object.keys(defs);
  const valid = keys.filter((key) => {
    const found = check(key, defs[key]);
    problems.push(...found);
    return found.length === 0;
  });
  for (const key of valid) register(lib, key, defs[key]);
  registerHarnessInput(lib);

  const graph = new lib.LGraph();
  const totals = { inputs: 0, widgets: 0, outputs: 0 };
  const widgetKinds = {};
  let instantiated = 0;
  for (const key of valid) {
    const node = lib.LiteGraph.createNode(key);
    const expected = expect(defs[key]);
    checkInstance(node, key, expected, problems);
    if (!node) continue;
    instantiated += 1;
    graph.add(node);
    totals.inputs += (node.inputs ?? []).length;
    totals.outputs += (node.outputs ?? []).length;
    totals.widgets += (node.widgets ?? []).length;
    for (const w of node.widgets ?? []) widgetKinds[w.type] = (widgetKinds[w.type] ?? 0) + 1;
  }
  const all = roundTrip(lib, graph);
  const categories = new Set(valid.map((key) => lib.LiteGraph.registered_node_types[key]?.category));

  const summary = {
    editor_library: packageName, editor_library_version: packageVersion(packageName),
    format: litegraph ? LITEGRAPH_PALETTE : "comfyui-object-info",
    definitions: keys.length, registered: valid.filter((k) => lib.LiteGraph.registered_node_types[k]).length,
    instantiated, nodes_in_graph: graph._nodes.length, nodes_after_configure: all.fresh._nodes.length,
    roundtrip_identical: all.text === all.again, categories: categories.size, ...totals,
    widget_kinds: widgetKinds, problems: problems.slice(0, 50), problem_count: problems.length,
  };
  if (planPath) summary.plan = runPlan(lib, JSON.parse(readFileSync(planPath, "utf8")));
  process.stdout.write(JSON.stringify(summary, null, 1) + "\n");
}

await main();
