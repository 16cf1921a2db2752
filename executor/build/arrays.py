"""Tensors of either backend as numpy arrays: what run, weights and the training loops hand back."""
from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(value: Any) -> np.ndarray:
    """A torch tensor (also what Keras returns on the torch backend) or array-like as a numpy array.
    Torch tensors are converted directly: Keras' converter warns under numpy 2."""
    import torch
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if hasattr(value, "value") and isinstance(value.value, torch.Tensor):  # a Keras variable
        return value.value.detach().cpu().numpy()
    import keras
    return np.asarray(keras.ops.convert_to_numpy(value))
