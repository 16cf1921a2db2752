"""Keras models to import with `nodecat import` (or `nodecat.executor.interop.keras_import.import_keras`).

Each factory takes no arguments and returns a seeded keras.Model, so `nodecat import
examples/models/keras_zoo.py:two_tower` gives the same graph and weights every time:

- `mobilenet_small`: keras.applications.MobileNet (alpha 0.25, 64x64x3 images, 10 classes, no
  downloaded weights): depthwise and pointwise convolutions, batch norm, ReLU6, global pooling.
- `resnet50_small`: keras.applications.ResNet50 on 64x64x3 images, 10 classes: skip connections
  (Add) over 16 bottleneck blocks.
- `two_tower`: two inputs (an 16x16 RGB image and 8 numeric features) and two outputs (class
  probabilities and a regression value); the towers meet in a Concatenate and `keras.ops` calls
  (a scaling, a transpose) sit between layers.
- `bilstm_tagger`: a token tagger: Embedding with masking, a Bidirectional LSTM over the sequence,
  and a TimeDistributed Dense giving 5 tag scores per token.
- `sequential_mlp`: a Sequential model (imported through its functional graph).
- `unmappable_model`: a model the catalog cannot express: a Lambda layer (code), a custom layer
  class and a layer called twice (shared weights); importing it reports all three.

Batch-norm moving statistics are randomised so that inference depends on them.
"""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

SEED = 0


def _randomise_batch_norm(model: keras.Model) -> keras.Model:
    """Moving means and variances away from 0 and 1, so a wrong or missing statistic shows."""
    rng = np.random.default_rng(SEED)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = tuple(layer.moving_mean.shape)
            layer.moving_mean.assign(rng.normal(0.0, 0.5, shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, shape).astype("float32"))
            layer.gamma.assign(rng.uniform(0.5, 1.5, shape).astype("float32"))
            layer.beta.assign(rng.normal(0.0, 0.2, shape).astype("float32"))
    return model


def mobilenet_small() -> keras.Model:
    keras.utils.set_random_seed(SEED)
    model = keras.applications.MobileNet(input_shape=(64, 64, 3), alpha=0.25, weights=None, classes=10)
    return _randomise_batch_norm(model)


def resnet50_small() -> keras.Model:
    keras.utils.set_random_seed(SEED)
    model = keras.applications.ResNet50(input_shape=(64, 64, 3), weights=None, classes=10)
    return _randomise_batch_norm(model)


def two_tower() -> keras.Model:
    keras.utils.set_random_seed(SEED)
    image = keras.Input(shape=(16, 16, 3), name="image")
    features = keras.Input(shape=(8,), name="features")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(image)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    y = keras.layers.Dense(16, activation="tanh", kernel_regularizer=keras.regularizers.L2(1e-4),
                           name="numeric")(features)
    y = keras.ops.multiply(y, 0.5)  # a recorded keras.ops call with a literal operand
    merged = keras.layers.Concatenate(name="merge")([x, y])
    hidden = keras.layers.Dense(32, activation="relu", name="hidden")(merged)
    hidden = keras.layers.Dropout(0.25, name="drop")(hidden)
    classes = keras.layers.Dense(4, activation="softmax", name="classes")(hidden)
    paired = keras.ops.transpose(keras.ops.expand_dims(hidden, 1), (0, 2, 1))  # (batch, 32, 1)
    value = keras.layers.Dense(1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.05, seed=3),
                               name="value")(keras.layers.Flatten(name="flat")(paired))
    model = keras.Model(inputs=[image, features], outputs=[classes, value], name="two_tower")
    return _randomise_batch_norm(model)


def bilstm_tagger() -> keras.Model:
    keras.utils.set_random_seed(SEED)
    tokens = keras.Input(shape=(12,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(50, 16, mask_zero=True, name="embed")(tokens)
    x = keras.layers.Bidirectional(keras.layers.LSTM(8, return_sequences=True, name="lstm"), name="bilstm")(x)
    tags = keras.layers.TimeDistributed(keras.layers.Dense(5, name="tag"), name="per_token")(x)
    return keras.Model(tokens, tags, name="bilstm_tagger")


def sequential_mlp() -> keras.Model:
    keras.utils.set_random_seed(SEED)
    return keras.Sequential([keras.Input(shape=(6,), name="x"),
                             keras.layers.Dense(12, activation="gelu", name="fc1"),
                             keras.layers.LayerNormalization(name="norm"),
                             keras.layers.Dense(3, name="fc2")], name="sequential_mlp")


class Scale(keras.layers.Layer):
    """A custom layer: its call is Python code the catalog does not describe."""

    def call(self, inputs):
        return inputs * 2.0


def unmappable_model() -> keras.Model:
    keras.utils.set_random_seed(SEED)
    x = keras.Input(shape=(4,), name="x")
    y = keras.layers.Lambda(lambda t: t + 1.0, name="plus_one")(x)
    y = Scale(name="scale")(y)
    shared = keras.layers.Dense(4, name="shared")
    y = shared(shared(y))  # one layer, two calls: one set of weights used twice
    return keras.Model(x, keras.layers.Dense(2, name="head")(y), name="unmappable")
