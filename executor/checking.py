"""What `nodecat check` reports for one graph, as one value: the CLI prints it (as text, or as JSON
with --json) and the server's POST /check returns its JSON, so the two agree by construction.

A check validates the graph, infers every node's shapes on meta (nothing is allocated), compares
the estimate with a memory budget, and checks the data a train section names from the files'
headers. The graph's own problems are part of the outcome, never raised: a failed check still has
the shapes of the nodes inferred before the failing one ({} when validation failed).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

from nodecat.executor.graph.errors import GraphError

if TYPE_CHECKING:
    from nodecat.executor.build.shapes import ShapeReport
    from nodecat.executor.graph.document import Graph
    from nodecat.executor.graph.validate import CheckedGraph

Budget = int | Literal["auto"] | None


class BudgetError(ValueError):
    """A budget text that is not a size (bad usage, not a problem of the graph)."""


def parse_budget(text: str) -> Budget:
    """'auto' (the device's free memory), 'none' (no limit), or a size: '8GiB', '512 MB', '1e9'."""
    if text.lower() == "none":
        return None
    if text.lower() == "auto":
        return "auto"
    from nodecat.executor.build.devices import parse_bytes
    try:
        return parse_bytes(text)
    except ValueError as exc:
        raise BudgetError(str(exc)) from None


@dataclass(frozen=True)
class CheckOutcome:
    """One graph's check: the checked graph (None when validation failed), the shapes inferred
    (None when validation failed; up to the failing node when inference failed) and the problems."""

    graph: str | None  # the file checked, as given; None for a graph that is not a file
    checked: CheckedGraph | None
    report: ShapeReport | None
    error: GraphError | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """What `nodecat check --json` prints for the graph (and POST /check returns)."""
        if self.error is not None:
            failed: dict[str, Any] = {"graph": self.graph, "ok": False,
                                      "errors": [p.to_json() for p in self.error.problems],
                                      "shapes": self.report.shapes_json() if self.report is not None else {}}
            if self.checked is not None:
                failed["backend"] = self.checked.backend
            return failed
        assert self.checked is not None and self.report is not None
        return {"graph": self.graph, "ok": True, "errors": [], "backend": self.checked.backend,
                "shapes": self.report.shapes_json(), "total": self.report.to_json()["total"]}


def check_outcome(graph: Graph | str | Path, batch: int = 1, budget: Budget | str = "auto", device: str = "auto",
                  graph_path: Path | None = None, data_roots: Sequence[Path] = ()) -> CheckOutcome:
    """Check a graph (a Graph, or a graph file) as `nodecat check` does.

    `budget`: bytes, "auto" (the free memory of `device`), None (no limit), or a text parse_budget
    reads (a bad one raises BudgetError, and only once the shapes are inferred, as the CLI always
    did). The data a train section names is found relative to `graph_path` (the graph file's
    directory; default: the file checked, else the current directory), inside the current
    directory, the demo data and `data_roots`."""
    from nodecat.executor.build.devices import available_memory, pick_device
    from nodecat.executor.build.run import validate
    from nodecat.executor.build.shapes import check_budget, infer_shapes_until_failure
    from nodecat.executor.graph.document import Graph
    if graph_path is None and not isinstance(graph, Graph):
        graph_path = Path(graph)
    shown = str(graph_path) if graph_path is not None else None
    try:
        checked = validate(graph)
    except GraphError as exc:
        return CheckOutcome(shown, None, None, exc)
    report, error = infer_shapes_until_failure(checked, batch)
    if error is None:
        try:
            limit = parse_budget(budget) if isinstance(budget, str) else budget
            if limit is not None:
                chosen = pick_device(device)
                check_budget(report, available_memory(chosen) if limit == "auto" else int(limit), chosen)
        except GraphError as exc:
            error = exc
    return CheckOutcome(shown, checked, report, _with_data_problems(checked, graph_path, error, data_roots))


def check_report(graph: Graph | str | Path, batch: int = 1, budget: Budget | str = "auto", device: str = "auto",
                 graph_path: Path | None = None, data_roots: Sequence[Path] = ()) -> dict[str, Any]:
    """The JSON document `nodecat check --json` prints for one graph: ok, errors, shapes per node
    and port, backend, total (parameters and bytes). An invalid graph is `"ok": false` with every
    problem, never a GraphError. See check_outcome for the arguments."""
    return check_outcome(graph, batch, budget, device, graph_path, data_roots).to_json()


def failed_load(error: GraphError, graph: str | None = None) -> CheckOutcome:
    """The outcome for a graph that could not be read (what the check of an unreadable file reports)."""
    return CheckOutcome(graph, None, None, error)


def _with_data_problems(checked: CheckedGraph, graph_path: Path | None, error: GraphError | None,
                        data_roots: Sequence[Path]) -> GraphError | None:
    """The train data's problems added: found as `nodecat check` finds them, or, given the server's
    data roots, looked up inside those roots only."""
    from nodecat.executor.training.data_plan import with_train_data_problems
    return with_train_data_problems(checked, graph_path, error, tuple(data_roots) or None)
