"""Importing real architectures: how long it takes, what the graph costs, and whether it computes the same.

For every model of examples/models/torch_zoo.py and examples/models/keras_zoo.py (the factories
`nodecat import` is pointed at), side by side in one process:

    nodes         nodes of the imported graph
    import_s      `import_model` on the constructed model (trace or config, map, verify, weights)
    build_s       validate + build the imported graph + load its weights (what `nodecat run` does
                  before running), and hand_build_s, calling the factory that defines the model;
                  build_ratio = build_s / hand_build_s
    forward       median time of one inference batch, the built graph vs the original model, called
                  the same way (numpy in and out), interleaved;
                  forward_ratio = original / graph throughput (1.0: as fast as the original)
    max_diff      max |graph output - original output| on a batch of 3 (the graph was traced on 2)
    python_diff   the same for the Python source `nodecat export --to python` writes for the graph

Usage: python bench/import_roundtrip.py [--rounds N] [--quick] [--models a,b] [--json]
Nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from nodecat.executor import api  # noqa: E402
from nodecat.executor.interop.export import python_source  # noqa: E402
from nodecat.executor.interop.importer import import_model, write_import  # noqa: E402
from nodecat.executor.interop.target import call_factory, load_factory, parse_input_specs  # noqa: E402

ZOO = ROOT / "examples" / "models"
BATCH = 3
QUICK = ("resnet18_cifar", "lstm_classifier", "two_tower")


def _catalogue() -> list[tuple[str, str]]:
    """(library, factory name) of every importable zoo model."""
    torch_zoo, _ = load_factory(f"{ZOO / 'torch_zoo.py'}:lstm_classifier")
    inputs = sys.modules[torch_zoo.__module__].INPUTS
    names = [("torch", n) for n in inputs if n != "unmappable_model"]
    return names + [("keras", n) for n in ("mobilenet_small", "resnet50_small", "two_tower", "bilstm_tagger")]


def _torch_inputs(name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    factory, _ = load_factory(f"{ZOO / 'torch_zoo.py'}:{name}")
    specs = parse_input_specs([f"{k}={v}" for k, v in sys.modules[factory.__module__].INPUTS[name].items()])
    rng = np.random.default_rng(0)
    arrays = {}
    for key, spec in specs.items():
        shape = (BATCH, *spec.example_shape()[1:])
        arrays[key] = (rng.integers(1, 10, shape) if spec.dtype.startswith("int") else
                       rng.normal(size=shape)).astype(spec.dtype)
    return specs, arrays


def _keras_inputs(model: Any, names: list[str]) -> dict[str, np.ndarray]:
    """Arrays for the model's inputs in order, keyed by the imported graph's input names."""
    rng = np.random.default_rng(0)
    arrays = {}
    for name, tensor in zip(names, model.inputs):
        shape = (BATCH, *tensor.shape[1:])
        dtype = str(tensor.dtype)
        arrays[name] = (rng.integers(1, 10, shape) if "int" in dtype else rng.normal(size=shape)).astype(dtype)
    return arrays


def _original_outputs(library: str, model: Any, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    if library == "keras":
        values = model(list(arrays.values()) if len(arrays) > 1 else next(iter(arrays.values())), training=False)
    else:
        with torch.inference_mode():
            values = model(*[torch.from_numpy(a) for a in arrays.values()])
    values = values if isinstance(values, (list, tuple)) else [values]
    return [api.to_numpy(v) for v in values]


def _max_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) for x, y in zip(a, b))


def _exported_outputs(library: str, checked: Any, weights: Path, folder: Path,
                      arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    source = folder / f"exported_{checked.graph.name or 'graph'}.py"
    source.write_text(python_source(checked))
    spec = importlib.util.spec_from_file_location(source.stem, source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load(str(weights))
    if library == "torch":
        model.eval()
    return _original_outputs(library, model, arrays)


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def _forward_medians(library: str, original: Any, built: Any, arrays: dict[str, np.ndarray],
                     rounds: int) -> tuple[float, float]:
    graph_times, hand_times = [], []
    for index in range(rounds):
        order = [("graph", lambda: _original_outputs(library, built, arrays)),
                 ("hand", lambda: _original_outputs(library, original, arrays))]
        for side, action in (order if index % 2 == 0 else order[::-1]):
            seconds, _ = _timed(action)
            (graph_times if side == "graph" else hand_times).append(seconds)
    return statistics.median(graph_times), statistics.median(hand_times)


def measure(library: str, name: str, rounds: int, folder: Path) -> dict[str, Any]:
    zoo = ZOO / f"{library}_zoo.py"
    factory, _ = load_factory(f"{zoo}:{name}")
    hand_build_s, model = _timed(lambda: call_factory(factory, name))
    specs, arrays = _torch_inputs(name) if library == "torch" else (None, {})
    import_s, result = _timed(lambda: import_model(model, specs, name))
    if library == "keras":
        arrays = _keras_inputs(model, [n.id for n in result.graph.nodes if n.op == "input"])
    graph_path, weights = folder / f"{name}.json", folder / f"{name}.safetensors"
    write_import(result, graph_path, weights)

    def build() -> tuple[Any, Any]:
        checked = api.validate(graph_path)
        return checked, api.build(checked, "cpu", weights, budget=None)
    build_s, (checked, built) = _timed(build)
    expected = _original_outputs(library, model, arrays)
    produced = list(api.run(checked, arrays, device="cpu", model=built).values())
    exported = _exported_outputs(library, checked, weights, folder, arrays)
    graph_fwd, hand_fwd = _forward_medians(library, model, built, arrays, rounds)
    return {"model": f"{library}:{name}", "nodes": len(result.graph.nodes),
            "parameters": int(sum(a.size for a in result.weights.values())),
            "import_s": round(import_s, 4), "build_s": round(build_s, 4), "hand_build_s": round(hand_build_s, 4),
            "build_ratio": round(build_s / hand_build_s, 3),
            "graph_forward_ms": round(graph_fwd * 1e3, 3), "hand_forward_ms": round(hand_fwd * 1e3, 3),
            "forward_ratio": round(hand_fwd / graph_fwd, 3),
            "max_diff": _max_diff(produced, expected), "python_diff": _max_diff(exported, expected)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="forward timings per side (median)")
    parser.add_argument("--quick", action="store_true", help=f"3 rounds, only {', '.join(QUICK)}")
    parser.add_argument("--models", default="", help="comma-separated factory names (default: all)")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    wanted = set(options.models.split(",")) if options.models else set(QUICK) if options.quick else None
    rounds = 3 if options.quick else options.rounds
    models = [(lib, n) for lib, n in _catalogue() if wanted is None or n in wanted]
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for library, name in models:
            results.append(measure(library, name, rounds, Path(folder)))
            if not options.json:
                print(f"  measured {library}:{name}", file=sys.stderr)
    if options.json:
        print(json.dumps({"rounds": rounds, "batch": BATCH, "results": results}, indent=2))
        return
    header = (f"{'model':32} {'nodes':>5} {'params':>10} {'import s':>9} {'build s':>8} {'hand s':>7} "
              f"{'build x':>8} {'fwd ratio':>9} {'max diff':>9} {'py diff':>9}")
    print(header)
    for r in results:
        print(f"{r['model']:32} {r['nodes']:5d} {r['parameters']:10,d} {r['import_s']:9.3f} {r['build_s']:8.3f} "
              f"{r['hand_build_s']:7.3f} {r['build_ratio']:8.2f} {r['forward_ratio']:9.3f} "
              f"{r['max_diff']:9.1e} {r['python_diff']:9.1e}")
    print("build x = nodecat build / factory; fwd ratio = original / graph throughput (1.0 = as fast)")


if __name__ == "__main__":
    main()
