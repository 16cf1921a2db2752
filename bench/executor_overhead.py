"""What the executor costs over hand-written code: run-time throughput and Keras build time, as ratios.

Absolute times on a shared machine mean little, so every number is taken side by side in one
process, interleaved (the order alternates every round), and reported as a ratio of medians.

Run time (torch): the executor-built torch.fx GraphModule against a hand-written nn.Module with
the same architecture and the same weights (the graph model's state dict is loaded into it, and
their outputs are checked equal before timing), for

    mlp64:  64 x (Linear(32, 32) + ReLU) at batch 1       (overhead-bound: 128 tiny module calls),
            against an nn.Sequential, and (mlp64-explicit) against an nn.Module whose forward calls
            self.fc0, self.act0, ... one by one, as torch.fx's generated forward does
    cnn:    5 x (Conv2d + BatchNorm2d + ReLU), 2 max-pools, global pool, Linear, 32x32 RGB at batch 32
            (compute-bound)

in two modes

    forward:  eval(), inference_mode, model(x)
    train:    zero_grad, forward, loss (MSE for mlp64, cross-entropy for cnn), backward, SGD step

Each round times K iterations of the graph model and K of the hand-written one (K calibrated so
that one side of a round takes about --round-seconds); the throughput of each side is the median
over the rounds, and

    ratio = graph it/s / hand it/s           (target >= 0.98)

Build time (Keras): a ~36-layer functional Keras model (Conv2D/BatchNormalization/ReLU residual
blocks with Add merges, a global pool and Dense layers) and the same model as a nodecat graph dict:

    nodecat:       graph_from_document + validate + build(device="cpu", budget=None)
    nodecat auto:  the same with budget="auto" (adds a shape-inference walk on meta)
    keras:         keras.models.model_from_json(model.to_json())  (the JSON text made once, untimed)

interleaved with rotating order after a warm-up of each; imports, catalog loading and each first
build are reported once, as one-off costs, and

    ratio = nodecat / keras                  (target <= 1.2)

Usage: python bench/executor_overhead.py [--quick] [--rounds N] [--repeat N] [--threads N] [--json]
Keras runs on KERAS_BACKEND=torch unless the environment names another backend.
torch.set_num_threads is left at its default unless --threads says otherwise. On a machine shared
with other busy processes, torch's intra-op threads spin-wait for each other and a compute-bound
step can take 10-30x longer and vary wildly: the load average is printed; compare with --threads 1.
Nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RUN_TARGET = 0.98  # graph throughput / hand-written throughput, at least
BUILD_TARGET = 1.2  # nodecat build time / keras.models.model_from_json time, at most


# -- graphs as dicts ---------------------------------------------------------------------------
def _graph(catalogs: dict[str, str], name: str, nodes: list[dict[str, Any]],
           edges: list[tuple[str, str, str]], output: str) -> dict[str, Any]:
    """A graph document; edges are (source, target, target port), always from port "output"."""
    return {"format": "nodecat-graph/1", "name": name, "catalogs": catalogs, "nodes": nodes,
            "edges": [{"from": {"node": s, "port": "output"}, "to": {"node": t, "port": p}} for s, t, p in edges],
            "outputs": [{"name": "y", "node": output, "port": "output"}]}


def _torch_chain(name: str, layers: list[tuple[str, str, dict[str, Any]]], shape: list[int | None]) -> dict[str, Any]:
    """input x, then each (id, op, args) applied to the previous one."""
    from nodecat.executor.graph.catalogs import installed_version
    nodes = [{"id": "x", "op": "input", "args": {"shape": shape, "dtype": "float32"}}]
    edges, previous = [], "x"
    for node_id, op, args in layers:
        nodes.append({"id": node_id, "op": op, **({"args": args} if args else {})})
        edges.append((previous, node_id, "input"))
        previous = node_id
    return _graph({"torch": str(installed_version("torch"))}, name, nodes, edges, previous)


MLP_DEPTH, MLP_WIDTH = 64, 32
CNN_CHANNELS = (16, 16, "pool", 32, 32, "pool", 64)  # 3x3 convs (+BN+ReLU); "pool": MaxPool2d(2)


def mlp_layers() -> list[tuple[str, str, dict[str, Any]]]:
    layers = []
    for i in range(MLP_DEPTH):
        layers.append((f"fc{i}", "torch.nn.Linear", {"in_features": MLP_WIDTH, "out_features": MLP_WIDTH}))
        layers.append((f"act{i}", "torch.nn.ReLU", {}))
    return layers


def cnn_layers() -> list[tuple[str, str, dict[str, Any]]]:
    layers, channels, conv, pool = [], 3, 0, 0
    for spec in CNN_CHANNELS:
        if spec == "pool":
            layers.append((f"pool{pool}", "torch.nn.MaxPool2d", {"kernel_size": 2}))
            pool += 1
            continue
        layers.append((f"conv{conv}", "torch.nn.Conv2d", {"in_channels": channels, "out_channels": spec,
                                                           "kernel_size": 3, "padding": 1, "bias": False}))
        layers.append((f"bn{conv}", "torch.nn.BatchNorm2d", {"num_features": spec}))
        layers.append((f"relu{conv}", "torch.nn.ReLU", {"inplace": True}))
        channels, conv = spec, conv + 1
    layers.append(("gap", "torch.nn.AdaptiveAvgPool2d", {"output_size": 1}))
    layers.append(("flat", "torch.nn.Flatten", {}))
    layers.append(("head", "torch.nn.Linear", {"in_features": channels, "out_features": 10}))
    return layers


# -- the hand-written equivalents ----------------------------------------------------------------
def hand_mlp() -> Any:
    """What one writes by hand: an nn.Sequential (named like the graph's nodes, so state dicts match)."""
    import torch.nn as nn
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    for i in range(MLP_DEPTH):
        modules[f"fc{i}"] = nn.Linear(MLP_WIDTH, MLP_WIDTH)
        modules[f"act{i}"] = nn.ReLU()
    return nn.Sequential(modules)


def hand_mlp_explicit() -> Any:
    """The other way one writes it by hand: a class with one attribute per layer and a forward of 64 lines
    `x = self.act0(self.fc0(x))`, ... (generated here, as one would type it)."""
    import torch.nn as nn

    class Explicit(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for i in range(MLP_DEPTH):
                setattr(self, f"fc{i}", nn.Linear(MLP_WIDTH, MLP_WIDTH))
                setattr(self, f"act{i}", nn.ReLU())

    source = "def forward(self, x):\n" + "".join(f"    x = self.act{i}(self.fc{i}(x))\n" for i in range(MLP_DEPTH))
    namespace: dict[str, Any] = {}
    exec(source + "    return x\n", namespace)
    Explicit.forward = namespace["forward"]  # type: ignore[method-assign]
    return Explicit()


def hand_cnn() -> Any:
    """A hand-written nn.Module with an explicit forward."""
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            def block(cin: int, cout: int) -> tuple[nn.Module, ...]:
                return nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
            self.conv0, self.bn0, self.relu0 = block(3, 16)
            self.conv1, self.bn1, self.relu1 = block(16, 16)
            self.pool0 = nn.MaxPool2d(2)
            self.conv2, self.bn2, self.relu2 = block(16, 32)
            self.conv3, self.bn3, self.relu3 = block(32, 32)
            self.pool1 = nn.MaxPool2d(2)
            self.conv4, self.bn4, self.relu4 = block(32, 64)
            self.gap, self.flat, self.head = nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)

        def forward(self, x: Any) -> Any:
            x = self.relu0(self.bn0(self.conv0(x)))
            x = self.pool0(self.relu1(self.bn1(self.conv1(x))))
            x = self.relu2(self.bn2(self.conv2(x)))
            x = self.pool1(self.relu3(self.bn3(self.conv3(x))))
            x = self.relu4(self.bn4(self.conv4(x)))
            return self.head(self.flat(self.gap(x)))

    return Net()


# -- run-time throughput ---------------------------------------------------------------------------
def _cases() -> list[dict[str, Any]]:
    import torch
    generator = torch.Generator().manual_seed(0)
    mlp = {"graph": _torch_chain("mlp64", mlp_layers(), [None, MLP_WIDTH]),
           "x": torch.randn(1, MLP_WIDTH, generator=generator),
           "target": torch.randn(1, MLP_WIDTH, generator=generator), "loss": torch.nn.functional.mse_loss}
    return [
        {"case": "mlp64", "what": f"{MLP_DEPTH} x (Linear({MLP_WIDTH},{MLP_WIDTH}) + ReLU), batch 1; hand-written: "
         "nn.Sequential", "hand": hand_mlp, **mlp},
        {"case": "mlp64-explicit", "what": "the same graph; hand-written: an nn.Module with a 64-line explicit "
         "forward (x = self.act0(self.fc0(x)) ...)", "hand": hand_mlp_explicit, **mlp},
        {"case": "cnn", "what": "5 x (Conv2d 3x3 + BatchNorm2d + ReLU), 2 max-pools, 3x32x32, batch 32",
         "graph": _torch_chain("cnn", cnn_layers(), [None, 3, 32, 32]), "hand": hand_cnn,
         "x": torch.randn(32, 3, 32, 32, generator=generator),
         "target": torch.randint(0, 10, (32,), generator=generator), "loss": torch.nn.functional.cross_entropy},
    ]


def _step(model: Any, mode: str, case: dict[str, Any]) -> Callable[[], None]:
    """One iteration: an inference forward, or a full SGD training step (identical for both models)."""
    import torch
    x, target, loss_fn = case["x"], case["target"], case["loss"]
    if mode == "forward":
        def forward() -> None:
            with torch.inference_mode():
                model(x)
        return forward
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

    def train() -> None:
        optimizer.zero_grad()
        loss = loss_fn(model(x), target)
        loss.backward()
        optimizer.step()
    return train


def _time(step: Callable[[], None], iterations: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    return time.perf_counter() - start


def _calibrate(steps: list[Callable[[], None]], round_seconds: float) -> int:
    """Iterations per side of a round so that a side takes about round_seconds (after a warm-up)."""
    for step in steps:
        _time(step, 3)
    per_iteration = max(_time(step, 3) / 3 for step in steps)
    iterations = 3
    while iterations < 100_000 and per_iteration * iterations < round_seconds / 4:
        iterations *= 2
        per_iteration = max(_time(step, iterations) / iterations for step in steps)
    return max(1, round(round_seconds / per_iteration))


def measure_runtime(rounds: int, round_seconds: float) -> list[dict[str, Any]]:
    import torch

    from nodecat.executor.build.run import build, validate
    from nodecat.executor.graph.load import graph_from_document
    results = []
    for case in _cases():
        graph_model = build(validate(graph_from_document(case["graph"])), device="cpu", budget=None)
        hand_model = case["hand"]()
        hand_model.load_state_dict(graph_model.state_dict())  # strict: same names, same weights
        graph_model.eval(), hand_model.eval()
        with torch.inference_mode():
            same = torch.equal(graph_model(case["x"]), hand_model(case["x"]))
        if not same:
            sys.exit(f"{case['case']}: the graph model and the hand-written one give different outputs")
        for mode in ("forward", "train"):
            graph_model.train(mode == "train"), hand_model.train(mode == "train")
            steps = {"graph": _step(graph_model, mode, case), "hand": _step(hand_model, mode, case)}
            iterations = _calibrate(list(steps.values()), round_seconds)
            rates: dict[str, list[float]] = {"graph": [], "hand": []}
            for r in range(rounds):
                for side in (("graph", "hand") if r % 2 == 0 else ("hand", "graph")):
                    rates[side].append(iterations / _time(steps[side], iterations))
            graph_rate, hand_rate = statistics.median(rates["graph"]), statistics.median(rates["hand"])
            paired = statistics.median(g / h for g, h in zip(rates["graph"], rates["hand"]))
            results.append({"case": case["case"], "what": case["what"], "mode": mode, "rounds": rounds,
                            "iterations_per_round": iterations, "graph_it_s": round(graph_rate, 2),
                            "hand_it_s": round(hand_rate, 2), "ratio": round(graph_rate / hand_rate, 4),
                            "median_paired_ratio": round(paired, 4),
                            "graph_runs_it_s": [round(v, 2) for v in rates["graph"]],
                            "hand_runs_it_s": [round(v, 2) for v in rates["hand"]]})
    return results


# -- Keras build time ------------------------------------------------------------------------------
KERAS_BLOCKS, KERAS_FILTERS = 4, 16


def keras_spec() -> list[tuple[str, str, dict[str, Any], list[str]]]:
    """(id, op, args, inputs) of a residual CNN; the Keras model and the graph are both made from it."""
    f = KERAS_FILTERS
    spec: list[tuple[str, str, dict[str, Any], list[str]]] = [
        ("stem", "keras.layers.Conv2D", {"filters": f, "kernel_size": 3, "padding": "same"}, ["x"]),
        ("stem_bn", "keras.layers.BatchNormalization", {}, ["stem"]),
        ("stem_relu", "keras.layers.ReLU", {}, ["stem_bn"]),
    ]
    previous = "stem_relu"
    for b in range(KERAS_BLOCKS):
        spec += [
            (f"b{b}_conv1", "keras.layers.Conv2D", {"filters": f, "kernel_size": 3, "padding": "same"}, [previous]),
            (f"b{b}_bn1", "keras.layers.BatchNormalization", {}, [f"b{b}_conv1"]),
            (f"b{b}_relu1", "keras.layers.ReLU", {}, [f"b{b}_bn1"]),
            (f"b{b}_conv2", "keras.layers.Conv2D", {"filters": f, "kernel_size": 3, "padding": "same"},
             [f"b{b}_relu1"]),
            (f"b{b}_bn2", "keras.layers.BatchNormalization", {}, [f"b{b}_conv2"]),
            (f"b{b}_add", "keras.layers.Add", {}, [f"b{b}_bn2", previous]),
            (f"b{b}_relu2", "keras.layers.ReLU", {}, [f"b{b}_add"]),
        ]
        previous = f"b{b}_relu2"
    spec += [
        ("gap", "keras.layers.GlobalAveragePooling2D", {}, [previous]),
        ("fc1", "keras.layers.Dense", {"units": 64, "activation": "relu"}, ["gap"]),
        ("fc2", "keras.layers.Dense", {"units": 32, "activation": "relu"}, ["fc1"]),
        ("logits", "keras.layers.Dense", {"units": 10}, ["fc2"]),
    ]
    return spec


KERAS_INPUT = [None, 16, 16, 8]


def keras_graph() -> dict[str, Any]:
    from nodecat.executor.graph.catalogs import installed_version
    nodes = [{"id": "x", "op": "input", "args": {"shape": KERAS_INPUT, "dtype": "float32"}}]
    edges = []
    for node_id, op, args, inputs in keras_spec():
        nodes.append({"id": node_id, "op": op, **({"args": args} if args else {})})
        edges += [(source, node_id, "inputs") for source in inputs]
    return _graph({"keras": str(installed_version("keras"))}, "residual_cnn", nodes, edges, keras_spec()[-1][0])


def keras_model() -> Any:
    import keras
    layers = {"x": keras.Input(batch_shape=tuple(KERAS_INPUT), dtype="float32", name="x")}
    classes = {"Conv2D": keras.layers.Conv2D, "BatchNormalization": keras.layers.BatchNormalization,
               "ReLU": keras.layers.ReLU, "Add": keras.layers.Add, "Dense": keras.layers.Dense,
               "GlobalAveragePooling2D": keras.layers.GlobalAveragePooling2D}
    for node_id, op, args, inputs in keras_spec():
        layer = classes[op.rsplit(".", 1)[1]](name=node_id, **args)
        values = [layers[i] for i in inputs]
        layers[node_id] = layer(values if op.endswith(".Add") else values[0])
    return keras.Model(inputs=layers["x"], outputs=layers[keras_spec()[-1][0]], name="residual_cnn")


def measure_build(repeat: int, oneoff: dict[str, float]) -> dict[str, Any]:
    import keras

    from nodecat.executor.build.run import build, validate
    from nodecat.executor.graph.load import graph_from_document
    from nodecat.executor.graph.catalogs import catalogs_for
    document = keras_graph()
    start = time.perf_counter()
    catalogs_for(graph_from_document(document))
    oneoff["load the keras catalog"] = time.perf_counter() - start
    reference = keras_model()
    text = reference.to_json()

    def nodecat(budget: Any) -> Callable[[], Any]:
        return lambda: build(validate(graph_from_document(document)), device="cpu", budget=budget)

    commands: dict[str, Callable[[], Any]] = {"nodecat": nodecat(None), "nodecat_auto": nodecat("auto"),
                                              "keras": lambda: keras.models.model_from_json(text)}
    for name, command in commands.items():  # the first call of each: one-off costs (catalog loading, ...)
        start = time.perf_counter()
        model = command()
        oneoff[f"first {name} build"] = time.perf_counter() - start
    if model.count_params() != reference.count_params() or len(model.layers) != len(reference.layers):
        sys.exit("the Keras model rebuilt from JSON differs from the reference")
    built = commands["nodecat"]()
    if built.count_params() != reference.count_params() or len(built.layers) != len(reference.layers):
        sys.exit(f"the nodecat-built Keras model differs from the reference: {built.count_params()} parameters "
                 f"and {len(built.layers)} layers, against {reference.count_params()} and {len(reference.layers)}")
    for command in commands.values():  # warm-up
        command()
    runs: dict[str, list[float]] = {name: [] for name in commands}
    order = list(commands)
    for rep in range(repeat):
        for name in order[rep % len(order):] + order[:rep % len(order)]:
            gc.collect()
            start = time.perf_counter()
            commands[name]()
            runs[name].append(time.perf_counter() - start)
    med = {name: statistics.median(values) for name, values in runs.items()}
    return {"layers": len(reference.layers), "params": reference.count_params(), "repeat": repeat,
            "median_s": {name: round(value, 5) for name, value in med.items()},
            "runs_s": {name: [round(v, 5) for v in values] for name, values in runs.items()},
            "ratio_nodecat_to_keras": round(med["nodecat"] / med["keras"], 3),
            "ratio_nodecat_auto_to_keras": round(med["nodecat_auto"] / med["keras"], 3)}


# -- report ----------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    import keras
    import torch
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "keras": keras.__version__,
            "keras_backend": keras.backend.backend()}


def report_runtime(rows: list[dict[str, Any]]) -> str:
    lines = [f"run time: executor-built torch.fx module vs hand-written nn.Module, same weights; median it/s over "
             f"{rows[0]['rounds']} interleaved rounds (target ratio >= {RUN_TARGET})"]
    for case in dict.fromkeys(r["case"] for r in rows):
        lines.append(f"  {case}: {next(r['what'] for r in rows if r['case'] == case)}")
    header = f"  {'case':<14} {'mode':<8} {'graph it/s':>11} {'hand it/s':>11} {'ratio':>7} {'paired':>7}  verdict"
    lines += [header, "  " + "-" * (len(header) - 2)]
    for r in rows:
        verdict = "ok" if r["ratio"] >= RUN_TARGET else f"BELOW {RUN_TARGET}"
        lines.append(f"  {r['case']:<14} {r['mode']:<8} {r['graph_it_s']:>11.1f} {r['hand_it_s']:>11.1f} "
                     f"{r['ratio']:>7.3f} {r['median_paired_ratio']:>7.3f}  {verdict}  "
                     f"({r['iterations_per_round']} it/round)")
    lines.append("  ratio = median graph it/s / median hand it/s; paired = median of the per-round ratios")
    return "\n".join(lines)


def report_build(result: dict[str, Any], oneoff: dict[str, float]) -> str:
    med = result["median_s"]
    verdict = "ok" if result["ratio_nodecat_to_keras"] <= BUILD_TARGET else f"ABOVE {BUILD_TARGET}"
    rows = [
        ("nodecat: graph_from_document + validate + build(budget=None)", f"{med['nodecat'] * 1000:.1f} ms"),
        ("nodecat: the same with build(budget='auto')", f"{med['nodecat_auto'] * 1000:.1f} ms"),
        ("keras.models.model_from_json(model.to_json())", f"{med['keras'] * 1000:.1f} ms"),
        (f"ratio nodecat / keras  (target <= {BUILD_TARGET})", f"{result['ratio_nodecat_to_keras']:.2f}  {verdict}"),
        ("ratio nodecat budget='auto' / keras", f"{result['ratio_nodecat_auto_to_keras']:.2f}"),
    ]
    width = max(len(label) for label, _ in rows)
    header = (f"Keras build time: a {result['layers']}-layer functional model ({result['params']} parameters); "
              f"medians of {result['repeat']} interleaved runs")
    once = [f"  {name:<{width}}  {seconds * 1000:.1f} ms" for name, seconds in oneoff.items()]
    return "\n".join([header, *(f"  {label:<{width}}  {value}" for label, value in rows),
                      "one-off costs (once per process, not in the medians above):", *once])


def _timed_import(oneoff: dict[str, float], label: str, statement: str) -> None:
    start = time.perf_counter()
    exec(statement, {})
    oneoff[label] = time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("KERAS_BACKEND", "torch")  # as nodecat does
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds per run-time case and mode (default 40; 5 with --quick)")
    parser.add_argument("--round-seconds", type=float, default=None,
                        help="seconds one side of a round takes, about (default 0.1; 0.02 with --quick)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed repetitions of each Keras build (default 21; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="few rounds and repetitions: a smoke test")
    parser.add_argument("--skip-runtime", action="store_true", help="only the Keras build time")
    parser.add_argument("--skip-build", action="store_true", help="only the run-time throughput")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads for both sides (default: torch's default, left as is)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    options = parser.parse_args(argv)
    rounds = options.rounds or (5 if options.quick else 40)
    round_seconds = options.round_seconds or (0.02 if options.quick else 0.1)
    repeat = options.repeat or (3 if options.quick else 21)
    if rounds < 1 or repeat < 1 or round_seconds <= 0:
        parser.error("--rounds and --repeat must be at least 1, --round-seconds positive")

    oneoff: dict[str, float] = {}  # imports first, before anything else loads them
    _timed_import(oneoff, "import torch", "import torch")
    if options.threads is not None:
        import torch
        torch.set_num_threads(options.threads)
    _timed_import(oneoff, "import keras", "import keras")
    _timed_import(oneoff, "import nodecat.executor.build.run", "import nodecat.executor.build.run")
    output: dict[str, Any] = {"machine": machine(), "targets": {"run_ratio_min": RUN_TARGET,
                                                                "build_ratio_max": BUILD_TARGET}}
    if not options.skip_runtime:
        output["runtime"] = measure_runtime(rounds, round_seconds)
        if not options.json:
            print(report_runtime(output["runtime"]), flush=True)
    if not options.skip_build:
        output["build"] = measure_build(repeat, oneoff)
        output["build"]["oneoff_s"] = {name: round(value, 4) for name, value in oneoff.items()}
        if not options.json:
            print(report_build(output["build"], oneoff), flush=True)
    if options.json:
        print(json.dumps(output, indent=2, sort_keys=True))
    else:
        m = output["machine"]
        print(f"machine: {m['cpus']} cpus, torch {m['torch']} ({m['torch_threads']} threads), keras {m['keras']} "
              f"on {m['keras_backend']}, Python {m['python']}; load average at start {m['load_average_1min']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
