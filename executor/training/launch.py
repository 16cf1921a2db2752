"""Start a training run: in this process, or in N processes under torch.distributed (DDP)."""
from __future__ import annotations

from pathlib import Path

from nodecat.executor.graph.document import Graph
from nodecat.executor.graph.validate import CheckedGraph
from nodecat.executor.training.distributed import train_distributed
from nodecat.executor.training.session import TrainOptions, TrainReport, train_process


def train(graph: str | Path | Graph | CheckedGraph, options: TrainOptions) -> TrainReport:
    """Train the graph on its data; raise GraphError for anything the user can fix."""
    if options.nproc > 1:  # torch graphs only: train_distributed refuses Keras graphs
        return train_distributed(graph, options)
    return train_process(graph, options, rank=0, world=1)
