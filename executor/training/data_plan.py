"""What a training run reads and feeds: its data files (from --data, or the train section's `data`
relative to the graph file), what each graph input and target column needs from them, and the
header-only check of those files that `nodecat check` runs before any training."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from nodecat.executor.graph.errors import GraphError, GraphProblem

if TYPE_CHECKING:
    from nodecat.executor.graph.validate import CheckedGraph


def train_section(checked: CheckedGraph) -> Any:
    if checked.train is None:
        raise GraphError(GraphProblem("no_train_section", "the graph has no train section, so nothing says how to "
                                      "train it", pointer="/train",
                                      hint='add "train": {"loss": ..., "optimizer": ...}; see examples/digits_cnn.json'))
    return checked.train


def data_files(checked: CheckedGraph, graph_path: Path | None,
               data: Sequence[str] = ()) -> tuple[list[tuple[str | None, Path]], str]:
    """The data files a run reads, as (column name or None, path), and the JSON Pointer their problems
    get: the --data options, else the train section's `data` relative to the graph file's directory
    (the current directory for a graph that is not a file)."""
    from nodecat.executor.training.data import parse_data_option
    train = train_section(checked)
    if data:
        return [parse_data_option(text) for text in data], ""
    if train.spec.data is not None:
        base = graph_path.parent if graph_path is not None else Path.cwd()
        return [(None, base / train.spec.data)], "/train/data"
    raise GraphError(GraphProblem("bad_data", "no training data was given", pointer="/train",
                                  hint='pass --data FILE, or set "data" in the train section'))


def data_uses(checked: CheckedGraph) -> tuple[list[Any], list[Any]]:
    """What the data must feed: each graph input (InputUse) and each target column (TargetUse)."""
    from nodecat.executor.training.data import InputUse, TargetUse
    train = train_section(checked)
    inputs = []
    for feed in train.feeds:
        node = checked.node(feed.input_id)
        inputs.append(InputUse(feed.input_id, feed.columns, tuple(node.args["shape"]),
                               node.args.get("dtype", "float32"), feed.pointer))
    targets = [TargetUse(column, pointer) for column, pointer in train.target_columns().items()]
    return inputs, targets


def train_data_problems(checked: CheckedGraph, graph_path: Path | None,
                        roots: Sequence[Path] | None = None) -> list[GraphProblem]:
    """What `train` would find wrong with the data the train section names, from the files' headers
    alone (.npy and .npz array headers, a CSV's first line): a file missing or outside the data
    roots, a column the data lacks, a shape or dtype an input cannot take, row counts that differ.
    By default the file is found as `train` finds it without --data: relative to the graph file's
    directory (the current directory for a graph that is not a file), inside the default data roots.
    With `roots` (the server's), a relative path is looked up in those roots (locate_in_roots) and
    must lie inside them. Nothing to check without a train section or without its `data`."""
    if checked.train is None or checked.train.spec.data is None:
        return []
    from nodecat.executor.training.data import data_roots, read_headers, use_problems
    if roots is None:
        files, pointer = data_files(checked, graph_path)
        roots = data_roots()
    else:
        files, pointer = [(None, locate_in_roots(Path(checked.train.spec.data), roots))], "/train/data"
    try:
        columns = read_headers(files, roots, pointer)
    except GraphError as e:
        return list(e.problems)
    return use_problems(columns, *data_uses(checked))


def locate_in_roots(path: Path, roots: Sequence[Path]) -> Path:
    """An absolute path as it is; a relative one in the first root that holds it (else in the first
    root, where reading it reports it missing)."""
    if path.is_absolute():
        return path
    for root in roots:
        if (root / path).exists():
            return root / path
    return roots[0] / path


def with_train_data_problems(checked: CheckedGraph | None, graph_path: Path | None,
                             error: GraphError | None, roots: Sequence[Path] | None = None) -> GraphError | None:
    """`error` (the graph's other problems, or None) with the problems of the data its train section
    names put first; nothing to add for a graph that failed validation (`checked` None)."""
    problems = train_data_problems(checked, graph_path, roots) if checked is not None else []
    if not problems:
        return error
    return GraphError([*problems, *(error.problems if error is not None else [])])
