"""What training a graph costs over the hand-written PyTorch loop, as a throughput ratio.

Both sides train the same architecture with the same seed, the same optimizer and the same row
order, side by side in one process; the order alternates every round. One side's round is one
epoch:

    graph:  nodecat's epoch loop (TorchBackend.train_epoch: the executor's fx module, the catalog
            loss and optimizer, per-step loss check, metric sums, progress bookkeeping)
    hand:   the loop a person writes: index a batch, forward, loss, zero_grad, backward, step,
            loss.item(), and an accuracy count

Cases:
    cnn:  the demo graph (executor/demo/digits_cnn.json) on the shipped digits, batch 32
    mlp:  Linear(64, 256) + ReLU + Linear(256, 10) on 20,000 synthetic rows, batch 64

    ratio = graph samples/s / hand samples/s     (median over rounds; target >= 0.98)

Usage: python bench/train_overhead.py [--rounds N] [--quick] [--threads N] [--json]
Nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from nodecat.executor.training.data import DEMO_DIR, epoch_order, split_rows  # noqa: E402


def _mlp_document() -> dict[str, Any]:
    return {
        "format": "nodecat-graph/1", "name": "mlp", "catalogs": {"torch": torch.__version__.split("+")[0]},
        "nodes": [{"id": "x", "op": "input", "args": {"shape": [None, 64]}},
                  {"id": "fc1", "op": "torch.nn.Linear", "args": {"in_features": 64, "out_features": 256}},
                  {"id": "act", "op": "torch.nn.ReLU"},
                  {"id": "fc2", "op": "torch.nn.Linear", "args": {"in_features": 256, "out_features": 10}}],
        "edges": [{"from": {"node": "x", "port": "output"}, "to": {"node": "fc1", "port": "input"}},
                  {"from": {"node": "fc1", "port": "output"}, "to": {"node": "act", "port": "input"}},
                  {"from": {"node": "act", "port": "output"}, "to": {"node": "fc2", "port": "input"}}],
        "outputs": [{"name": "logits", "node": "fc2"}],
        "train": {"loss": {"op": "torch.nn.CrossEntropyLoss",
                           "inputs": {"input": {"output": "logits"}, "target": {"column": "y"}}},
                  "optimizer": {"op": "torch.optim.SGD", "args": {"lr": 0.05, "momentum": 0.9}},
                  "metrics": ["accuracy"], "batch_size": 64, "seed": 0, "validation_split": 0.0}}


def _mlp_data(rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 64)).astype(np.float32)
    return {"x": x, "y": (x[:, :10].argmax(1)).astype(np.int64)}


def _hand_mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))


def _hand_cnn() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64, 10))


class Case:
    """One architecture: the graph's backend and the hand-written loop over the same rows."""

    def __init__(self, name: str, graph: Any, columns: dict[str, np.ndarray], feed: dict[str, str],
                 hand: Callable[[], torch.nn.Module], optimizer: Callable[[Any], torch.optim.Optimizer]):
        from nodecat.executor.build.run import validate
        from nodecat.executor.training.data import Prepared
        from nodecat.executor.training.session import make_backend
        self.name = name
        checked = validate(graph)
        inputs = {n.id: np.ascontiguousarray(columns[feed[n.id]]) for n in checked.inputs}
        target = checked.train.target
        prepared = Prepared(inputs=inputs, targets={target: columns[target]}, rows=len(columns[target]))
        spec = checked.train.spec
        self.batch = spec.batch_size
        self.rows = split_rows(prepared.rows, spec.validation_split, spec.seed)[0]
        self.graph = make_backend(checked, spec, prepared, "cpu", 0, 1, progress=False)
        torch.manual_seed(spec.seed)
        self.model = hand()
        self.optimizer = optimizer(self.model.parameters())
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.x = torch.from_numpy(inputs[checked.inputs[0].id])
        self.y = torch.from_numpy(columns[target])
        self.epoch = 0

    def run_graph(self) -> float:
        order = epoch_order(self.rows, 0, self.epoch, True)
        began = time.perf_counter()
        self.graph.train_epoch(self.epoch, order)
        return len(order) / (time.perf_counter() - began)

    def run_hand(self) -> float:
        order = torch.from_numpy(epoch_order(self.rows, 0, self.epoch, True))
        began = time.perf_counter()
        self.model.train()
        total, correct = 0.0, torch.zeros((), dtype=torch.int64)
        for start in range(0, len(order), self.batch):
            rows = order[start:start + self.batch]
            x, y = self.x.index_select(0, rows), self.y.index_select(0, rows)
            logits = self.model(x)
            loss = self.loss_fn(logits, y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += loss.item() * len(rows)
            with torch.no_grad():
                correct += (logits.argmax(1) == y).sum()
        float(correct)
        return len(order) / (time.perf_counter() - began)


def _cases(quick: bool) -> list[Case]:
    from nodecat.executor.graph.document import Graph
    digits = dict(np.load(DEMO_DIR / "digits.npz"))
    cnn = Case("cnn", DEMO_DIR / "digits_cnn.json", digits, {"image": "images"}, _hand_cnn,
               lambda p: torch.optim.Adam(p, lr=0.01))
    mlp = Case("mlp", Graph.from_json(_mlp_document()), _mlp_data(4_000 if quick else 20_000), {"x": "x"}, _hand_mlp,
               lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9))
    return [cnn, mlp]


def measure(case: Case, rounds: int) -> dict[str, Any]:
    graph, hand = [], []
    case.run_graph(), case.run_hand()  # warm-up: first-call costs are not the loop's
    for round_ in range(rounds):
        case.epoch = round_ + 1
        if round_ % 2:
            graph.append(case.run_graph()), hand.append(case.run_hand())
        else:
            hand.append(case.run_hand()), graph.append(case.run_graph())
    ratios = [g / h for g, h in zip(graph, hand)]
    return {"case": case.name, "rounds": rounds, "graph_samples_per_s": round(statistics.median(graph), 1),
            "hand_samples_per_s": round(statistics.median(hand), 1),
            "ratio": round(statistics.median(graph) / statistics.median(hand), 3),
            "paired_ratio": round(statistics.median(ratios), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 rounds, a smaller MLP dataset (smoke test)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds = 3 if args.quick else args.rounds
    results = [measure(case, rounds) for case in _cases(args.quick)]
    report = {"torch": torch.__version__, "threads": torch.get_num_threads(), "load_average": os.getloadavg()[0],
              "results": results}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"torch {report['torch']}, {report['threads']} threads, load average {report['load_average']:.2f}")
    print(f"{'case':<6} {'graph samples/s':>16} {'hand samples/s':>15} {'ratio':>7} {'paired':>7}")
    for r in results:
        print(f"{r['case']:<6} {r['graph_samples_per_s']:>16.0f} {r['hand_samples_per_s']:>15.0f} "
              f"{r['ratio']:>7.3f} {r['paired_ratio']:>7.3f}")
    print("ratio = graph / hand-written training throughput (target >= 0.98)")


if __name__ == "__main__":
    main()
