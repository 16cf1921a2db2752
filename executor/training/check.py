"""Validation of the graph's train section against the catalogs, with the graph's error model.

Everything the section names is checked: the loss, optimizer and schedule are catalog entries of
the right kind and of the library the graph trains with, their literal arguments are valid against
their schemas, the loss's inputs are its own ports fed by declared graph outputs or data columns,
metrics have a prediction and a target, and `feed` names graph inputs. Then each component is
constructed once on a probe parameter, so that the library's own range checks (a negative learning
rate, a zero step size) are reported here, located, before any data is read. An op that is not
in the catalog gets a "did you mean" among the catalog's ids and aliases of its kind.

`data_plan.train_data_problems` is what `nodecat check` adds for the data the section names: the file found
as `train` finds it, checked from its headers only.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.document import Graph
from nodecat.executor.training.spec import Component, MetricSpec, TrainSpec
from nodecat.executor.graph.args import literal_arg_problems
from nodecat.executor.graph.values import value_kind
from nodecat.executor.graph.errors import short_error
from nodecat.introspector.errors import json_pointer
from nodecat.introspector.model import Node

if TYPE_CHECKING:
    pass

_KIND_OF_PART = {"loss": "loss", "optimizer": "optimizer", "schedule": "scheduler"}


@dataclass(frozen=True)
class CheckedComponent:
    spec: Component
    descriptor: Node

    def kwargs(self) -> dict[str, Any]:
        """Literal arguments as the library takes them. A number stays a number even where the
        argument also takes a tensor (torch's `lr`): a tensor learning rate changes the algorithm."""
        from nodecat.executor.graph.values import keras_value, torch_value
        convert = keras_value if self.descriptor.library == "keras" else torch_value
        out = {}
        for name, value in self.spec.args.items():
            kind = value_kind(self.descriptor.arg(name).schema)  # type: ignore[union-attr]  # checked
            plain = kind == "tensor" and isinstance(value, (int, float)) and not isinstance(value, bool)
            out[name] = value if plain else convert(value, kind)
        return out

    def resolve(self) -> Any:
        from nodecat.executor.build.resolve import resolve
        return resolve(self.descriptor, "", self.spec.pointer)


@dataclass(frozen=True)
class FeedUse:
    input_id: str
    columns: tuple[str, ...]
    pointer: str  # where the feed is written, or the input node when it defaults to its own name


@dataclass(frozen=True)
class CheckedTrain:
    spec: TrainSpec
    library: str  # "torch" or "keras": whose optimizer and loss train the graph
    optimizer: CheckedComponent
    schedule: CheckedComponent | None
    loss: CheckedComponent | None  # None: a graph output is the loss
    metrics: tuple[MetricSpec, ...]  # with output and column filled in
    feeds: tuple[FeedUse, ...]  # one per graph input

    @property
    def prediction(self) -> str | None:
        """The graph output the loss compares with a data column (None for a graph-output loss)."""
        return next((f.output for f in self.spec.loss.inputs.values() if f.output is not None), None)

    @property
    def target(self) -> str | None:
        return next((f.column for f in self.spec.loss.inputs.values() if f.column is not None), None)

    def target_columns(self) -> dict[str, str]:
        """Each data column the loss and metrics read (not graph inputs), with where it is named."""
        out: dict[str, str] = {}
        for port, feed in self.spec.loss.inputs.items():
            if feed.column is not None:
                out.setdefault(feed.column, json_pointer(["train", "loss", "inputs", port, "column"]))
        for metric in self.metrics:
            out.setdefault(metric.column, json_pointer(["train", "metrics", metric.index]))
        return out


def check_train(graph: Graph, descriptors: dict[str, Node], lookup: Any,
                known: Mapping[str, Node] | None = None) -> tuple[list[GraphProblem], CheckedTrain | None]:
    """Problems of the train section, and the checked section when there are none.

    `descriptors`: node id -> descriptor of the graph's valid nodes; `lookup`: op -> descriptor;
    `known`: every catalog node by id and alias, for the "did you mean" of an op not found."""
    spec = graph.train
    assert spec is not None
    libraries = {d.library for d in descriptors.values()} - {"nodecat"}
    library = "keras" if libraries == {"keras"} else "torch"
    problems: list[GraphProblem] = []
    parts: dict[str, CheckedComponent] = {}
    named = [("optimizer", spec.optimizer), ("schedule", spec.schedule),
             ("loss", spec.loss.component)]
    for part, component in named:
        if component is None:
            continue
        found = _component(part, component, library, lookup, known or {}, problems)
        if found is not None:
            parts[part] = found
    problems.extend(_loss_inputs(spec, parts.get("loss"), graph, library))
    metrics = tuple(_metrics(spec, graph, problems))
    feeds = tuple(_feeds(spec, graph, descriptors, problems))
    if library == "keras":
        problems.extend(_keras_limits(spec))
    if problems:
        return problems, None
    if "optimizer" not in parts:  # reported above
        return problems, None
    checked = CheckedTrain(spec, library, parts["optimizer"], parts.get("schedule"), parts.get("loss"), metrics, feeds)
    problems.extend(_probe(checked))
    return problems, (None if problems else checked)


def _component(part: str, component: Component, library: str, lookup: Any, known: Mapping[str, Node],
               problems: list[GraphProblem]) -> CheckedComponent | None:
    kind = _KIND_OF_PART[part]
    base = ["train", part]
    descriptor = lookup(component.op)
    hint = f"see `nodecat catalog list {library} --category {kind}`"
    if descriptor is None:
        named = component.op.split(".", 1)[0]
        close = _close_ops(component.op, kind, library, known)
        hint = f"did you mean {', '.join(close)}? or {hint}" if close else hint
        if named in ("torch", "keras") and named != library:
            problems.append(GraphProblem("wrong_library", f"{component.op} is a {named} {kind}, but this graph "
                                         f"trains as a {library} model", "", json_pointer([*base, "op"]), hint))
        else:
            problems.append(GraphProblem("unknown_op", f"{component.op} is not in the catalog", "",
                                         json_pointer([*base, "op"]), hint))
        return None
    if descriptor.kind != kind:
        problems.append(GraphProblem("wrong_kind", f"{component.op} is a {descriptor.kind}, but the {part} must be a "
                                     f"{kind}", "", json_pointer([*base, "op"]), hint))
        return None
    if descriptor.library != library:
        problems.append(GraphProblem("wrong_library", f"{component.op} is a {descriptor.library} {kind}, but this "
                                     f"graph trains as a {library} model", "", json_pointer([*base, "op"]),
                                     hint + (" (a graph with any torch node trains with torch)"
                                             if library == "torch" else "")))
        return None
    before = len(problems)
    problems.extend(literal_arg_problems(descriptor, component.args, "", base))
    for arg in descriptor.args:
        if arg.required and arg.name not in component.args and not (part == "optimizer" and arg.name == "params"):
            problems.append(GraphProblem("missing_required_arg", f"{component.op} needs argument {arg.name!r}", "",
                                         json_pointer([*base, "args"]), arg.doc[:120]))
    return CheckedComponent(component, descriptor) if len(problems) == before else None


def _close_ops(op: str, kind: str, library: str, known: Mapping[str, Node]) -> list[str]:
    """Up to 3 catalog ids and aliases of `kind` in the graph's library close to `op`, case aside;
    when no whole name is close (`AdamW` alone), the last parts of the names are compared."""
    names = [name for name, node in known.items() if node.kind == kind and node.library == library]
    for key in (str.lower, lambda name: name.rsplit(".", 1)[-1].lower()):
        by_key: dict[str, list[str]] = {}
        for name in names:
            by_key.setdefault(key(name), []).append(name)
        close = difflib.get_close_matches(key(op), list(by_key), n=3, cutoff=0.6)
        if close:
            return [name for found in close for name in by_key[found]][:3]
    return []


def _loss_inputs(spec: TrainSpec, loss: CheckedComponent | None, graph: Graph, library: str) -> Iterator[GraphProblem]:
    outputs = {o.name for o in graph.outputs}
    if spec.loss.component is None:
        if spec.loss.output not in outputs:
            yield _unknown_output(spec.loss.output or "", ["train", "loss", "output"], outputs)
        return
    if loss is None:
        return
    ports = {p.name: p for p in loss.descriptor.inputs}
    for port, feed in spec.loss.inputs.items():
        pointer = ["train", "loss", "inputs", port]
        if port not in ports:
            yield GraphProblem("unknown_loss_port", f"{loss.descriptor.id} has no input {port!r}", "",
                               json_pointer(pointer), "its inputs: " + ", ".join(ports))
        elif feed.output is not None and feed.output not in outputs:
            yield _unknown_output(feed.output, [*pointer, "output"], outputs)
    for name, port in ports.items():
        if port.required and name not in spec.loss.inputs:
            yield GraphProblem("missing_loss_input", f"{loss.descriptor.id}'s input {name!r} is not fed", "",
                               json_pointer(["train", "loss", "inputs"]),
                               f'add "{name}": {{"output": "<graph output>"}} or {{"column": "<data column>"}}')
    if library == "keras":
        yield from _keras_loss_ports(spec)


def _keras_loss_ports(spec: TrainSpec) -> Iterator[GraphProblem]:
    """model.fit calls a Keras loss as loss(y_true, y_pred): the target from the data, the
    prediction from the model."""
    wanted = {"y_true": "column", "y_pred": "output"}
    for port, feed in spec.loss.inputs.items():
        side = "output" if feed.output is not None else "column"
        if port in wanted and wanted[port] != side:
            yield GraphProblem("unsupported_training", f"a Keras loss takes {port} from a {wanted[port]}, not a {side}",
                               "", json_pointer(["train", "loss", "inputs", port]),
                               f'feed {port} with {{"{wanted[port]}": ...}}')
        elif port not in wanted:
            yield GraphProblem("unsupported_training", f"model.fit feeds only y_true and y_pred of a Keras loss, not "
                               f"{port!r}", "", json_pointer(["train", "loss", "inputs", port]),
                               "remove it")


def _metrics(spec: TrainSpec, graph: Graph, problems: list[GraphProblem]) -> Iterator[MetricSpec]:
    outputs = {o.name for o in graph.outputs}
    feeds = spec.loss.inputs.values()
    predictions = [f.output for f in feeds if f.output is not None]
    targets = [f.column for f in feeds if f.column is not None]
    for metric in spec.metrics:
        pointer = ["train", "metrics", metric.index]
        if metric.short:
            if len(predictions) != 1 or len(targets) != 1:
                problems.append(GraphProblem(
                    "metric_needs_target", f"metric {metric.name!r} is written by name, so it compares the loss's "
                    "graph output with its data column, but the loss has "
                    f"{len(predictions)} graph outputs and {len(targets)} columns", "", json_pointer(pointer),
                    f'write {{"name": "{metric.name}", "output": "<graph output>", "column": "<data column>"}}'))
                continue
            yield MetricSpec(metric.name, predictions[0], targets[0], short=True, index=metric.index)
        elif metric.output not in outputs:
            problems.append(_unknown_output(metric.output, [*pointer, "output"], outputs))
        else:
            yield metric


def _feeds(spec: TrainSpec, graph: Graph, descriptors: dict[str, Node],
           problems: list[GraphProblem]) -> Iterator[FeedUse]:
    inputs = {n.id: n for n in graph.nodes if descriptors.get(n.id) is not None and descriptors[n.id].kind == "input"}
    for name in spec.feed:
        if name not in inputs:
            problems.append(GraphProblem("unknown_graph_input", f"feed names {name!r}, which is not a graph input", name,
                                         json_pointer(["train", "feed", name]),
                                         "graph inputs: " + (", ".join(inputs) or "none")))
    for name, node in inputs.items():
        if name in spec.feed:
            yield FeedUse(name, spec.feed[name], json_pointer(["train", "feed", name]))
        else:
            yield FeedUse(name, (name,), json_pointer(["nodes", node.index]))


def _keras_limits(spec: TrainSpec) -> Iterator[GraphProblem]:
    """A Keras schedule is the optimizer's learning_rate (it counts steps, whatever `every` says)."""
    if spec.schedule is not None and "learning_rate" in spec.optimizer.args:
        yield GraphProblem("arg_set_twice", "the optimizer's learning_rate is set and a schedule gives it too", "",
                           json_pointer(["train", "optimizer", "args", "learning_rate"]), "keep one of the two")


def _unknown_output(name: str, path: list[str | int], outputs: set[str]) -> GraphProblem:
    return GraphProblem("unknown_graph_output", f"the graph declares no output {name!r}", "", json_pointer(path),
                        "outputs: " + ", ".join(sorted(outputs)))


# -- probing the library's own argument checks ------------------------------------------------------
def _probe(checked: CheckedTrain) -> list[GraphProblem]:
    """Construct each component once, as training will; a library error becomes a located problem."""
    try:
        if checked.library == "keras":
            build_keras_parts(checked)
        else:
            import torch
            probe = [torch.nn.Parameter(torch.zeros(1))]
            optimizer = construct(checked.optimizer, probe)
            if checked.schedule is not None:
                construct(checked.schedule, optimizer)
            if checked.loss is not None:
                construct(checked.loss)
    except GraphError as error:
        return error.problems
    return []


def construct(part: CheckedComponent, *positional: Any, **extra: Any) -> Any:
    """Instantiate a catalog component with its literal arguments; a library error names the part."""
    cls = part.resolve()
    kwargs = {**part.kwargs(), **extra}
    try:
        return cls(*positional, **kwargs)
    except Exception as exc:  # the library's own check of its arguments: reported, located
        text = ", ".join(f"{k}={v!r}" for k, v in part.spec.args.items())
        raise GraphError(GraphProblem("bad_arg_value", f"{part.descriptor.id}({text}) was refused: {short_error(exc)}",
                                      "", json_pointer([*_path(part.spec.pointer), "args"]),
                                      f"see `nodecat catalog show {part.descriptor.id}`")) from exc


def build_keras_parts(checked: CheckedTrain) -> tuple[Any, Any]:
    """The Keras optimizer (with its schedule as learning_rate) and loss (None for an output loss)."""
    extra = {}
    if checked.schedule is not None:
        extra["learning_rate"] = construct(checked.schedule)
    optimizer = construct(checked.optimizer, **extra)
    loss = construct(checked.loss) if checked.loss is not None else None
    return optimizer, loss


def _path(pointer: str) -> list[str]:
    return [p for p in pointer.split("/") if p]
