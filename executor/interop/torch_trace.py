"""Tracing a torch model for import: torch.fx with the catalog's layers as leaves, then two runs.

The tracer stops at every module whose class is a catalog layer (it becomes one node) and traces
through everything else (the user's blocks, Sequential, ModuleList), so a model's hierarchy ends
up in node ids. The traced graph then runs twice, like torch.fx's ShapeProp, at the sizes the
user gave and with the batch (and every `?` dimension) 3 larger: every value is recorded, and a
value that differs between the two runs depends on the batch size. That is how `x.size(1)` folds
to a literal while `x.size(0)` is known to be the batch.
"""
from __future__ import annotations

import inspect
import itertools
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.interop.target import InputSpec
from nodecat.executor.interop.torch_catalog import TorchCatalog
from nodecat.executor.interop.torch_values import summarize
from nodecat.executor.build.torch_build import torch_dtype
from nodecat.executor.graph.errors import short_error

SHAPE_METHODS = frozenset({"size", "dim", "ndimension", "numel", "nelement"})
SHAPE_ATTRIBUTES = frozenset({"shape", "ndim", "dtype", "device", "is_cuda"})
_GROWTH = 3  # how much the second run enlarges open dimensions
_TRACEABLE_HINT = ("the model must be traceable by torch.fx: no Python `if`/`for` on tensor values, no "
                   "shapes read from tensor data; move such logic out of forward, or pass the value it "
                   "depends on as a constant")


class CatalogTracer(fx.Tracer):
    """Leaves are exactly the modules that import as one catalog layer."""

    def __init__(self, catalog: TorchCatalog):
        super().__init__()
        self.catalog = catalog

    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        return self.catalog.layer_for(type(m)) is not None


@dataclass(frozen=True)
class Traced:
    model: torch.nn.Module
    module: fx.GraphModule
    specs: dict[str, InputSpec]  # forward's parameters the user described
    concrete: dict[str, Any]  # forward's parameters left at their default (traced as constants)

    @property
    def graph(self) -> fx.Graph:
        return self.module.graph


@dataclass(frozen=True)
class Runs:
    """Every fx node's value in both runs: the value itself where it does not depend on the
    inputs' data (sizes, parameters, constants), else a summary (shapes and dtypes)."""

    traced: dict[str, Any]
    other: dict[str, Any]
    dependent: frozenset[str]  # fx nodes whose value depends on the inputs' data


def forward_parameters(model: torch.nn.Module) -> list[inspect.Parameter]:
    return list(inspect.signature(model.forward).parameters.values())


def check_specs(model: torch.nn.Module, specs: dict[str, InputSpec]) -> dict[str, Any]:
    """Every forward parameter without a default needs a spec, and every spec a parameter;
    returns the parameters left at their default."""
    params = forward_parameters(model)
    names = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    hint = f"{type(model).__name__}.forward takes: {', '.join(names) or 'no named parameters'}"
    problems = [GraphProblem("bad_input_spec", f"forward has no parameter {name!r}", name, hint=hint)
                for name in specs if name not in names]
    concrete: dict[str, Any] = {}
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.name in specs:
            continue
        if param.default is param.empty:
            problems.append(GraphProblem("bad_input_spec", f"forward's parameter {param.name!r} has no input shape",
                                         param.name, hint=f"add --input-shape {param.name}=DIMS ({hint})"))
        else:
            concrete[param.name] = param.default
    if problems:
        raise GraphError(problems)
    return concrete


def trace(model: torch.nn.Module, catalog: TorchCatalog, specs: dict[str, InputSpec]) -> Traced:
    concrete = check_specs(model, specs)
    if catalog.layer_for(type(model)) is not None:
        return _single_layer(model, specs)
    tracer = CatalogTracer(catalog)
    try:
        graph = tracer.trace(model, concrete_args=concrete or None)
    except Exception as exc:  # whatever the user's forward raised under tracing
        raise _trace_error(model, exc) from exc
    return Traced(model, fx.GraphModule(tracer.root, graph), dict(specs), concrete)


def _single_layer(model: torch.nn.Module, specs: dict[str, InputSpec]) -> Traced:
    """A model that is itself one catalog layer is one call (fx would trace into its forward)."""
    holder = torch.nn.Module()
    name = type(model).__name__.lower()
    holder.add_module(name, model)
    graph = fx.Graph()
    order = [p.name for p in forward_parameters(model) if p.name in specs]
    call = graph.call_module(name, (), {param: graph.placeholder(param) for param in order})
    graph.output(call)
    return Traced(holder, fx.GraphModule(holder, graph), dict(specs), {})


def _trace_error(model: torch.nn.Module, exc: BaseException) -> GraphError:
    """Name the module being traced and the line of the user's code where tracing failed."""
    paths = {id(m): name for name, m in model.named_modules()}
    torch_dir = os.path.dirname(torch.__file__)
    module, line = None, ""
    tb = exc.__traceback__
    while tb is not None:
        frame, code = tb.tb_frame, tb.tb_frame.f_code
        owner = frame.f_locals.get(code.co_varnames[0]) if code.co_argcount else None
        if isinstance(owner, torch.nn.Module) and id(owner) in paths:
            module = owner  # the innermost module whose call is on the stack
        if not code.co_filename.startswith(torch_dir):
            text = _source_line(code.co_filename, tb.tb_lineno)
            line = f"{os.path.basename(code.co_filename)}:{tb.tb_lineno}" + (f" `{text}`" if text else "")
        tb = tb.tb_next
    path = paths.get(id(module), "") if module is not None else ""
    what = f"module {path!r} ({type(module).__name__})" if path else type(model).__name__
    message = f"torch.fx cannot trace {what}" + (f" at {line}" if line else "")
    return GraphError(GraphProblem("import_failed", f"{message}: {short_error(exc)}", path, hint=_TRACEABLE_HINT))


def _source_line(filename: str, lineno: int) -> str:
    import linecache
    return linecache.getline(filename, lineno).strip()[:120]


def is_shape_query(n: fx.Node) -> bool:
    """Reads a tensor's metadata (size, shape, dtype), never its data."""
    if n.op == "call_method":
        return n.target in SHAPE_METHODS
    if n.op == "call_function" and n.target is getattr:
        return len(n.args) > 1 and n.args[1] in SHAPE_ATTRIBUTES
    return n.op == "call_function" and n.target is len


def dependent_nodes(traced: Traced) -> frozenset[str]:
    """fx nodes whose value depends on the data of a graph input (not only on its shape)."""
    dependent: set[str] = set()
    for n in traced.graph.nodes:
        if n.op == "placeholder":
            if n.target in traced.specs:
                dependent.add(n.name)
        elif not is_shape_query(n) and any(i.name in dependent for i in n.all_input_nodes):
            dependent.add(n.name)
    return frozenset(dependent)


class _Recorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule, dependent: frozenset[str]):
        super().__init__(module)
        self.dependent = dependent
        self.values: dict[str, Any] = {}
        self.current = ""

    def run_node(self, n: fx.Node) -> Any:
        self.current = n.name
        result = super().run_node(n)
        self.values[n.name] = summarize(result) if n.name in self.dependent else result
        return result


def example_inputs(traced: Traced, grow: bool) -> list[Any]:
    """Positional values for the graph's placeholders: zeros of each spec's shape (open
    dimensions enlarged when `grow`) on the model's device, the default of each parameter traced
    as a constant."""
    device = next(itertools.chain(traced.model.parameters(), traced.model.buffers()), torch.empty(0)).device
    values = []
    for n in traced.graph.nodes:
        if n.op != "placeholder":
            continue
        spec = traced.specs.get(str(n.target))
        if spec is None:
            values.append(n.args[0] if n.args else None)  # fx renames constant parameters; their default
            continue
        shape = list(spec.example_shape())
        if grow:
            shape = [size + _GROWTH if i == 0 or spec.shape[i] is None else size for i, size in enumerate(shape)]
        values.append(torch.zeros(shape, dtype=torch_dtype(spec.dtype), device=device))
    return values


def record_runs(traced: Traced) -> Runs:
    dependent = dependent_nodes(traced)
    recorded = []
    for grow in (False, True):
        recorder = _Recorder(traced.module, dependent)
        try:
            with torch.no_grad():
                recorder.run(*example_inputs(traced, grow))
        except Exception as exc:  # the user's model failed on example inputs
            sizes = "3 more than the given batch size" if grow else "the given input shapes"
            raise GraphError(GraphProblem(
                "import_failed", f"running {type(traced.model).__name__} at {sizes} failed at fx node "
                f"{recorder.current!r}: {short_error(exc)}", recorder.current,
                hint="the imported graph leaves the batch (and every ? dimension) open, so the model must "
                     "run at other batch sizes too" if grow else "check the --input-shape values")) from exc
        recorded.append(recorder.values)
    return Runs(recorded[0], recorded[1], dependent)
