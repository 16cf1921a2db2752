"""How checking a graph grows with its size: parse, validation and shape inference of long chains.

A chain of N nodes is an input x of shape (None, 8), then N-1 nodes alternating
torch.nn.Linear(8, 8) and torch.nn.ReLU, each reading the one before (N-1 edges, one output).
For every N of --sizes (default 1k, 3k, 10k, 30k, 100k) it times, in one process,

    parse:     nodecat.executor.graph.load.parse_graph(text)         strict JSON, the graph schema, the Graph
      json:    nodecat.introspector.jsonio.parse_strict(text)  (the strict JSON part alone, for diagnosis)
    validate:  nodecat.executor.graph.validate.check_graph(graph)    catalogs (loaded once, before), ops, args, edges, order
    shapes:    nodecat.executor.build.shapes.infer_shapes(checked)   the module built on meta, run by an fx Interpreter

and prints per stage the median seconds, microseconds per node, and the growth from the
previous size: time ratio against size ratio, and the exponent log(time ratio) / log(size ratio)
(1.0 is linear, 2.0 quadratic). A stage is repeated --repeat times per size, or fewer when its
runs at that size already took --max-seconds (it always runs once). Catalog loading and imports
happen once, on a 3-node chain, before anything is timed.

Every stage must work at 100k nodes with the interpreter's default recursion limit: the limit is
not raised here, and a RecursionError is reported as a failure (exit 1).

Usage: python bench/check_scaling.py [--sizes 1000,3000,...] [--repeat N] [--profile] [--json]
--profile runs each stage once more at the largest size under cProfile and prints the functions
that take the time. Nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import math
import os
import platform
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SIZES = (1_000, 3_000, 10_000, 30_000, 100_000)
STAGES = ("parse", "json", "validate", "shapes")


def chain_document(size: int) -> dict[str, Any]:
    """input x, then size-1 nodes alternating Linear(8, 8) and ReLU."""
    from nodecat.executor.graph.catalogs import installed_version
    nodes: list[dict[str, Any]] = [{"id": "x", "op": "input", "args": {"shape": [None, 8], "dtype": "float32"}}]
    edges = []
    previous = "x"
    for i in range(1, size):
        node_id = f"n{i}"
        if i % 2:
            nodes.append({"id": node_id, "op": "torch.nn.Linear", "args": {"in_features": 8, "out_features": 8}})
        else:
            nodes.append({"id": node_id, "op": "torch.nn.ReLU"})
        edges.append({"from": {"node": previous, "port": "output"}, "to": {"node": node_id, "port": "input"}})
        previous = node_id
    return {"format": "nodecat-graph/1", "name": f"chain{size}", "catalogs": {"torch": str(installed_version("torch"))},
            "nodes": nodes, "edges": edges, "outputs": [{"name": "y", "node": previous, "port": "output"}]}


class StageFailed(Exception):
    pass


def _timed(stage: str, size: int, call: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    try:
        result = call()
    except RecursionError as exc:
        raise StageFailed(f"{stage} at {size} nodes hit the recursion limit ({sys.getrecursionlimit()}): {exc}") from exc
    except Exception as exc:
        raise StageFailed(f"{stage} at {size} nodes failed: {type(exc).__name__}: {str(exc)[:500]}") from exc
    return time.perf_counter() - start, result


def measure_size(size: int, repeat: int, max_seconds: float, batch: int) -> dict[str, Any]:
    """Every stage at one size; each stage's input comes from the previous stage's last run."""
    from nodecat.executor.graph.load import parse_graph
    from nodecat.executor.build.shapes import infer_shapes
    from nodecat.executor.graph.validate import check_graph
    from nodecat.introspector.jsonio import parse_strict

    text = json.dumps(chain_document(size))
    runs: dict[str, list[float]] = {stage: [] for stage in STAGES}
    produced: dict[str, Any] = {}
    calls: dict[str, Callable[[], Any]] = {
        "parse": lambda: parse_graph(text),
        "json": lambda: parse_strict(text),
        "validate": lambda: check_graph(produced["parse"]),
        "shapes": lambda: infer_shapes(produced["validate"], batch),
    }
    for stage in STAGES:
        while len(runs[stage]) < repeat and (not runs[stage] or sum(runs[stage]) < max_seconds):
            seconds, produced[stage] = _timed(stage, size, calls[stage])
            runs[stage].append(seconds)
    report = produced["shapes"]
    if len(report.nodes) != size:
        raise StageFailed(f"shape inference at {size} nodes profiled {len(report.nodes)} nodes")
    medians = {stage: statistics.median(values) for stage, values in runs.items()}
    return {"nodes": size, "text_bytes": len(text.encode()), "params": report.params,
            "median_s": {stage: round(value, 5) for stage, value in medians.items()},
            "us_per_node": {stage: round(value / size * 1e6, 2) for stage, value in medians.items()},
            "runs_s": {stage: [round(v, 5) for v in values] for stage, values in runs.items()}}


def growth(results: list[dict[str, Any]]) -> None:
    """Add, to every size after the first, the time ratio to the previous size and its exponent."""
    for previous, current in zip(results, results[1:]):
        size_ratio = current["nodes"] / previous["nodes"]
        current["size_ratio"] = round(size_ratio, 3)
        current["time_ratio"], current["exponent"] = {}, {}
        for stage in STAGES:
            before, now = previous["median_s"][stage], current["median_s"][stage]
            ratio = now / before if before > 0 else math.inf
            current["time_ratio"][stage] = round(ratio, 3)
            current["exponent"][stage] = round(math.log(ratio) / math.log(size_ratio), 2) \
                if 0 < ratio < math.inf and size_ratio != 1 else None


def profile_stages(size: int, batch: int, top: int) -> dict[str, str]:
    """cProfile of each stage once at `size`: the top functions by cumulative and by own time."""
    from nodecat.executor.graph.load import parse_graph
    from nodecat.executor.build.shapes import infer_shapes
    from nodecat.executor.graph.validate import check_graph

    text = json.dumps(chain_document(size))
    graph = parse_graph(text)
    checked = check_graph(graph)
    calls: dict[str, Callable[[], Any]] = {"parse": lambda: parse_graph(text), "validate": lambda: check_graph(graph),
                                           "shapes": lambda: infer_shapes(checked, batch)}
    out = {}
    for stage, call in calls.items():
        profiler = cProfile.Profile()
        gc.collect()
        profiler.enable()
        call()
        profiler.disable()
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer).strip_dirs()
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top)
        out[stage] = buffer.getvalue()
    return out


def machine() -> dict[str, Any]:
    import torch
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__,
            "recursion_limit": sys.getrecursionlimit()}


def _seconds(value: float) -> str:
    return f"{value:.3f} s" if value >= 0.1 else f"{value * 1000:.1f} ms"


def report(results: list[dict[str, Any]]) -> str:
    labels = {"parse": "parse (parse_graph: strict JSON + schema + Graph)", "json": "  of which strict JSON alone",
              "validate": "validate (check_graph)", "shapes": "shapes (infer_shapes on meta)"}
    lines = []
    for stage in STAGES:
        lines.append(labels[stage])
        lines.append(f"  {'nodes':>8} {'median':>10} {'us/node':>9} {'runs':>5} {'x time':>8} {'x size':>7} {'exponent':>9}")
        for r in results:
            grow = (f"{r['time_ratio'][stage]:>8.2f} {r['size_ratio']:>7.2f} {r['exponent'][stage]:>9.2f}"
                    if "time_ratio" in r and r["exponent"][stage] is not None else "")
            lines.append(f"  {r['nodes']:>8} {_seconds(r['median_s'][stage]):>10} {r['us_per_node'][stage]:>9.1f} "
                         f"{len(r['runs_s'][stage]):>5} {grow}")
    lines.append("x time / x size: growth from the previous size; exponent = log(x time) / log(x size), 1.0 = linear")
    return "\n".join(lines)


def _sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        factor = 1_000 if part.endswith("k") else 1
        sizes.append(int(float(part.removesuffix("k")) * factor))
    if any(s < 2 for s in sizes):
        raise argparse.ArgumentTypeError("every size must be at least 2 (an input and one node)")
    return sorted(set(sizes))


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("KERAS_BACKEND", "torch")  # as nodecat does
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=list(DEFAULT_SIZES),
                        help="comma-separated node counts, 'k' for thousands (default 1k,3k,10k,30k,100k)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each stage per size (default 3)")
    parser.add_argument("--max-seconds", type=float, default=30.0,
                        help="no further runs of a stage at a size once its runs took this long (default 30)")
    parser.add_argument("--batch", type=int, default=1, help="batch size for the open dimension (default 1)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile each stage once at the largest size (cProfile) and print the top functions")
    parser.add_argument("--top", type=int, default=25, help="functions listed per profile ordering (default 25)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    options = parser.parse_args(argv)
    if options.repeat < 1 or options.batch < 1:
        parser.error("--repeat and --batch must be at least 1")

    from nodecat.executor.graph.load import parse_graph
    from nodecat.executor.build.shapes import infer_shapes
    from nodecat.executor.graph.validate import check_graph
    start = time.perf_counter()
    infer_shapes(check_graph(parse_graph(json.dumps(chain_document(3)))))  # imports, catalog loading
    oneoff = time.perf_counter() - start
    info = machine()
    if not options.json:
        print(f"chain graphs: input (None, 8), then Linear(8, 8) and ReLU alternating; sizes {options.sizes}; "
              f"warm-up (imports, catalog) {oneoff:.2f} s; recursion limit {info['recursion_limit']}", flush=True)
    results: list[dict[str, Any]] = []
    failure = None
    for size in options.sizes:
        try:
            results.append(measure_size(size, options.repeat, options.max_seconds, options.batch))
        except StageFailed as exc:
            failure = str(exc)
            break
        if not options.json:
            r = results[-1]
            print(f"  {size:>7} nodes ({r['text_bytes'] / 1e6:.1f} MB of JSON): " + ", ".join(
                f"{stage} {_seconds(r['median_s'][stage])}" for stage in STAGES), flush=True)
    growth(results)
    output: dict[str, Any] = {"machine": info, "warmup_s": round(oneoff, 3), "repeat": options.repeat,
                              "max_seconds": options.max_seconds, "batch": options.batch, "results": results,
                              "failure": failure}
    if options.profile and failure is None:
        output["profile"] = profile_stages(options.sizes[-1], options.batch, options.top)
    if options.json:
        print(json.dumps(output, indent=2, sort_keys=True))
    else:
        print(report(results))
        if failure is not None:
            print(f"FAILED: {failure}")
        else:
            print(f"no RecursionError up to {options.sizes[-1]} nodes (recursion limit {sys.getrecursionlimit()})")
        for stage, text in output.get("profile", {}).items():
            print(f"\n== cProfile: {stage} at {options.sizes[-1]} nodes ==\n{text}")
        print(f"machine: {info['cpus']} cpus, torch {info['torch']}, Python {info['python']}; "
              f"load average at start {info['load_average_1min']}")
    return 1 if failure is not None else 0


if __name__ == "__main__":
    sys.exit(main())
