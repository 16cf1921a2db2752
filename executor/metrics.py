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

from executor.vocabulary import MetricName


def metric_sums(name: MetricName, prediction: Any, target: Any, class_dim: int) -> tuple[Any, int]:
    """(sum over elements as a 0-d tensor, number of elements) for one batch; no host sync."""
    if name == "accuracy":
        return _accuracy(prediction, target, class_dim)
    difference = prediction.reshape(-1).float() - target.reshape(-1).float()
    values = difference.abs() if name == "mae" else difference.square()
    return values.sum(), values.numel()


def _accuracy(prediction: Any, target: Any, class_dim: int) -> tuple[Any, int]:
    if prediction.dim() == 0 or prediction.shape[class_dim] == 1 or prediction.dim() == target.dim() == 1:
        predicted = (prediction.reshape(-1) > 0.5).long()  # one probability per row
        correct = predicted == target.reshape(-1).long()
    else:
        predicted = prediction.argmax(class_dim)
        if target.shape == prediction.shape:  # one-hot (or soft) targets
            target = target.argmax(class_dim)
        correct = predicted == target.long()
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
