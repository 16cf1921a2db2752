"""What POST /runs accepts, checked before anything is queued: the graph (the checks of `nodecat check`),
the kind, and that kind's options, with every data path resolved inside the server's data roots.

    prepared = prepare_job(body, settings, store)   # GraphError with every problem, or:
    prepared.kind, prepared.graph, prepared.options, prepared.arrays

The options stored with a job are plain JSON a worker can act on without the request: data files as
absolute paths already found inside the roots, inline or uploaded input arrays as arrays the route
writes into the run's directory (inputs/<name>.npy) before the job is queued.
"""
from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.server.jobs import JOB_KINDS, JobStore
from nodecat.executor.server.settings import ServerSettings
from nodecat.executor.training.data_plan import locate_in_roots

# kind -> the options it takes; anything else is a bad_request
_OPTIONS: dict[str, frozenset[str]] = {
    "train": frozenset(("epochs", "batch_size", "seed", "device", "data", "keep_checkpoints")),
    "run": frozenset(("inputs", "seed", "device")),
    "evaluate": frozenset(("weights", "data", "device", "batch_size")),
    "profile": frozenset(("batch",)),
    "export": frozenset(("to", "seed")),
}
_INT_LIMITS = {"epochs": (1, 1_000_000), "batch_size": (1, 2**20), "seed": (0, 2**32 - 1),
               "keep_checkpoints": (1, 1000), "batch": (1, 2**20)}
EXPORT_FILES = {"python": "model.py", "torch": "model.py", "onnx": "model.onnx", "keras": "model.keras"}
INPUTS_DIR = "inputs"


@dataclass(frozen=True)
class PreparedJob:
    kind: str
    graph: dict[str, Any]
    options: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # run inputs, to write before queueing


def data_roots(settings: ServerSettings) -> tuple[Path, ...]:
    """Where jobs may read data: the --data-root directories, then the shipped demo data."""
    from nodecat.executor.training.data import DEMO_DIR
    return tuple(dict.fromkeys(Path(p).resolve() for p in (*settings.data_roots, DEMO_DIR)))


def prepare_job(body: Any, settings: ServerSettings, store: JobStore) -> PreparedJob:
    """The job a request asks for, or GraphError with every problem (request, graph, options, data)."""
    if not isinstance(body, dict):
        raise GraphError(_bad("the body must be a JSON object {\"graph\": ..., \"kind\": ..., \"options\": ...}"))
    problems = [_bad(f"unknown field {key!r}", f"/{key}") for key in sorted(set(body) - {"graph", "kind", "options"})]
    kind = body.get("kind", "train")
    if kind not in JOB_KINDS:
        problems.append(_bad(f"kind must be one of {', '.join(JOB_KINDS)}, not {kind!r}", "/kind"))
    options = body.get("options", {})
    if not isinstance(options, dict):
        problems.append(_bad("options must be a JSON object", "/options"))
        options = {}
    document = body.get("graph")
    if not isinstance(document, dict):
        problems.append(_bad("graph must be a nodecat-graph/1 document (a JSON object)", "/graph"))
    if problems:
        raise GraphError(problems)
    problems = [_bad(f"a {kind} job takes no option {key!r}; it takes {', '.join(sorted(_OPTIONS[kind]))}",
                     f"/options/{key}") for key in sorted(set(options) - _OPTIONS[kind])]
    for key, (low, high) in _INT_LIMITS.items():
        value = options.get(key)
        if key in options and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            problems.append(_bad(f"{key} must be an integer from {low} to {high}, not {value!r}", f"/options/{key}"))
    if "device" in options and not isinstance(options["device"], str):
        problems.append(_bad("device must be a string such as \"auto\", \"cpu\" or \"cuda:0\"", "/options/device"))
    if problems:
        raise GraphError(problems)
    checked = check_graph_document(document)  # type: ignore[arg-type]
    if "device" in options:  # one this machine lacks is refused now, not after the job waited its turn
        from nodecat.executor.build.devices import pick_device
        try:
            pick_device(options["device"])
        except GraphError as exc:
            raise GraphError([replace(p, pointer="/options/device") for p in exc.problems]) from None
    roots = data_roots(settings)
    normal: dict[str, Any] = {k: v for k, v in options.items() if k in _INT_LIMITS or k == "device"}
    arrays: dict[str, np.ndarray] = {}
    if kind in ("train", "evaluate"):
        normal["data"] = _train_data(checked, options.get("data"), roots)
        normal["data_roots"] = [str(r) for r in roots]
    if kind == "evaluate":
        normal["weights"] = _weights(options.get("weights"), roots, store)
    if kind == "run":
        arrays = _inputs(checked, options.get("inputs", {}), roots)
        normal["inputs"] = sorted(arrays)
    if kind == "export":
        to = options.get("to", "python")
        if to not in EXPORT_FILES:
            raise GraphError(_bad(f"to must be one of {', '.join(EXPORT_FILES)}, not {to!r}", "/options/to"))
        normal["to"] = to
    return PreparedJob(kind, document, normal, arrays)  # type: ignore[arg-type]


def check_graph_document(document: dict[str, Any]) -> Any:
    """What `nodecat check` does for a graph that is not a file: schema, catalogs, shapes on meta."""
    from nodecat.executor.build.run import validate
    from nodecat.executor.build.shapes import infer_shapes
    from nodecat.executor.graph.load import graph_from_document
    checked = validate(graph_from_document(document))
    infer_shapes(checked, 1)
    return checked


def _train_data(checked: Any, data: Any, roots: tuple[Path, ...]) -> list[str]:
    """The data files as absolute `[COLUMN=]PATH` strings inside the roots, checked from their headers
    as `nodecat check` checks them (a relative name is looked up in each root in turn)."""
    from nodecat.executor.training.data import inside_roots, parse_data_option, read_headers, use_problems
    from nodecat.executor.training.data_plan import data_uses, train_section
    train = train_section(checked)
    if data is None:
        if train.spec.data is None:
            raise GraphError(_bad("no training data was given", "/options/data",
                                  'pass options.data ["FILE"], or set "data" in the train section'))
        texts, pointer = [train.spec.data], "/train/data"
    elif isinstance(data, list) and data and all(isinstance(t, str) for t in data):
        texts, pointer = list(data), "/options/data"
    else:
        raise GraphError(_bad("data must be a list of \"FILE\" or \"COLUMN=FILE\" strings", "/options/data"))
    files: list[tuple[str | None, Path]] = []
    for text in texts:
        column, path = parse_data_option(text)
        found = inside_roots(locate_in_roots(path, roots), roots, pointer)
        files.append((column, found))
    columns = read_headers(files, roots, pointer)
    problems = use_problems(columns, *data_uses(checked))
    if problems:
        raise GraphError(problems)
    return [f"{column}={path}" if column else str(path) for column, path in files]


def _weights(weights: Any, roots: tuple[Path, ...], store: JobStore) -> str:
    from nodecat.executor.training.data import inside_roots
    from nodecat.executor.training.session import WEIGHTS_FILE
    if isinstance(weights, dict) and set(weights) == {"run"} and isinstance(weights["run"], str):
        job = store.get(weights["run"])
        path = store.run_dir(weights["run"]) / WEIGHTS_FILE
        if job is None or not path.is_file():
            raise GraphError(GraphProblem("not_found", f"run {weights['run']!r} has no {WEIGHTS_FILE}",
                                          pointer="/options/weights/run"))
        return str(path)
    if isinstance(weights, dict) and set(weights) == {"file"} and isinstance(weights["file"], str):
        path = inside_roots(locate_in_roots(Path(weights["file"]), roots), roots, "/options/weights/file", "weights file")
        if not path.is_file():
            raise GraphError(GraphProblem("file_not_found", f"weights file {weights['file']!r} does not exist",
                                          pointer="/options/weights/file"))
        return str(path)
    raise GraphError(_bad("weights must be {\"run\": RUN_ID} (that run's weights) or {\"file\": PATH} inside "
                          "the data roots", "/options/weights"))


def _inputs(checked: Any, inputs: Any, roots: tuple[Path, ...]) -> dict[str, np.ndarray]:
    """Each input as an array: inline {"data": nested list, "dtype": ...}, an uploaded {"npy": base64 of a
    .npy file}, or {"file": PATH.npy} inside the roots; then the graph's own input check (names, shapes,
    dtypes), every problem at once."""
    from nodecat.executor.build.run import check_inputs
    from nodecat.executor.graph.vocabulary import DTYPES
    from nodecat.executor.training.data import inside_roots
    if not isinstance(inputs, dict):
        raise GraphError(_bad("inputs must be an object {NAME: {\"data\": [...], \"dtype\": ...} or "
                              "{\"file\": PATH.npy}}", "/options/inputs"))
    arrays: dict[str, np.ndarray] = {}
    problems: list[GraphProblem] = []
    for name, given in inputs.items():
        pointer = f"/options/inputs/{name}"
        if isinstance(given, dict) and "data" in given and set(given) <= {"data", "dtype"}:
            dtype = given.get("dtype", "float32")
            if dtype not in DTYPES or dtype == "bfloat16":
                problems.append(_bad(f"dtype must be one of {', '.join(d for d in DTYPES if d != 'bfloat16')}",
                                     pointer + "/dtype"))
                continue
            try:
                arrays[name] = np.asarray(given["data"], dtype=dtype)
            except (ValueError, TypeError, OverflowError) as exc:
                problems.append(GraphProblem("bad_input_value", f"input {name!r} is not a {dtype} array: {exc}",
                                             name, pointer + "/data", "give a rectangular nested list of numbers"))
        elif isinstance(given, dict) and set(given) == {"npy"} and isinstance(given["npy"], str):
            try:  # an uploaded .npy file, base64-encoded
                arrays[name] = np.load(io.BytesIO(base64.b64decode(given["npy"], validate=True)), allow_pickle=False)
            except (ValueError, OSError, EOFError, binascii.Error) as exc:
                problems.append(GraphProblem("bad_input_value", f"input {name!r} is not a base64 .npy file: {exc}",
                                             name, pointer + "/npy"))
        elif isinstance(given, dict) and set(given) == {"file"} and isinstance(given["file"], str):
            try:
                path = inside_roots(locate_in_roots(Path(given["file"]), roots), roots, pointer + "/file", "input file")
                if path.suffix != ".npy" or not path.is_file():
                    raise GraphError(GraphProblem("file_not_found", f"input file {given['file']!r} is not a .npy "
                                                  "file inside the data roots", name, pointer + "/file"))
                arrays[name] = np.load(path, allow_pickle=False)
            except GraphError as exc:
                problems.extend(exc.problems)
            except (OSError, ValueError) as exc:
                problems.append(GraphProblem("bad_input_value", f"input file {given['file']!r} cannot be read: "
                                             f"{exc}", name, pointer + "/file"))
        else:
            problems.append(_bad(f"input {name!r} must be {{\"data\": [...], \"dtype\": ...}}, {{\"npy\": "
                                 "BASE64} or {\"file\": PATH.npy}", pointer))
    try:
        check_inputs(checked, arrays)
    except GraphError as exc:
        problems.extend(p for p in exc.problems if p.code != "missing_graph_input" or p.node not in inputs)
    if problems:
        raise GraphError(problems)
    return arrays


def _bad(message: str, pointer: str = "", hint: str = "") -> GraphProblem:
    return GraphProblem("bad_request", message, pointer=pointer, hint=hint)
