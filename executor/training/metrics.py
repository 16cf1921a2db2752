"""The metrics of the closed vocabulary (vocabulary.METRIC_NAMES), the same for torch and Keras.

Every metric is a mean over target elements, accumulated as (sum, count) so that an epoch's value
does not depend on how rows fall into batches:
- accuracy: the arg-max over the class dimension of the prediction equals the integer target (or
  the arg-max of a one-hot target of the prediction's shape); with a single class column the
  prediction is a probability and counts as class 1 above 0.5. The class dimension is 1 for torch
  graphs (as CrossEntropyLoss has it) and the last one for Keras graphs (as Keras losses have it).
- mae, mse: mean absolute and squared error of prediction and target (same number of elements).
"""
from __future__ import annotations

from typing import Any

from nodecat.executor.graph.vocabulary import MetricName


class MetricSum:
    """One metric's running (sum, count) over an epoch, on the device, without a host sync per batch.

    How a batch is scored is decided from the first batch's shapes (they only change in the batch
    dimension), so each later batch costs the few tensor ops a hand-written loop would spend."""

    def __init__(self, name: MetricName, class_dim: int):
        self.name = name
        self.class_dim = class_dim
        self.total: Any = 0
        self.count = 0
        self._score: Any = None

    def add(self, prediction: Any, target: Any) -> None:
        if self._score is None:
            self._score = self._scorer(prediction, target)
        total, count = self._score(prediction, target)
        self.total = self.total + total
        self.count += count

    def value(self) -> float:
        return float(self.total) / max(self.count, 1)

    def _scorer(self, prediction: Any, target: Any) -> Any:
        dim = self.class_dim
        if self.name != "accuracy":
            square = self.name == "mse"

            def error(p: Any, t: Any) -> tuple[Any, int]:
                difference = p.reshape(-1).double() - t.reshape(-1).double()
                values = difference.square() if square else difference.abs()
                return values.sum(), values.numel()
            return error
        if prediction.dim() == 0 or prediction.shape[dim] == 1 or prediction.dim() == target.dim() == 1:
            return lambda p, t: _counted((p.reshape(-1) > 0.5).long() == t.reshape(-1).long())  # probabilities
        if target.shape == prediction.shape:  # one-hot (or soft) targets
            return lambda p, t: _counted(p.argmax(dim) == t.argmax(dim))
        if target.dtype.is_floating_point:
            return lambda p, t: _counted(p.argmax(dim) == t.long())
        return lambda p, t: _counted(p.argmax(dim) == t)


def _counted(correct: Any) -> tuple[Any, int]:
    return correct.sum(), correct.numel()


def keras_metric(name: MetricName, prediction_rank: int, target_rank: int, classes: int | None) -> Any:
    """The Keras metric object that computes `name` as defined above, named `name`."""
    import keras
    if name == "mae":
        return keras.metrics.MeanAbsoluteError(name=name)
    if name == "mse":
        return keras.metrics.MeanSquaredError(name=name)
    if classes == 1 or prediction_rank == target_rank == 1:
        return keras.metrics.BinaryAccuracy(name=name)
    if prediction_rank == target_rank:
        return keras.metrics.CategoricalAccuracy(name=name)
    return keras.metrics.SparseCategoricalAccuracy(name=name)
