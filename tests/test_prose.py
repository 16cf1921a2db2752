"""Types read from the prose of Keras-style argument descriptions.

Each case is a description (most of them real Keras 3 docstrings, backticks included) and
the exact schema the grammar must give it, or the reason it must refuse it. Wrong types are
worse than none, so the refusals matter as much as the types.
"""
from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from nodecat.introspector.prose import MAPPING_REASON, PATH_REASON, from_prose
from nodecat.introspector.typemap import CALLABLE_REASON, LibraryTypes

INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
STRING = {"type": "string"}
NULL = {"type": "null"}
TENSOR = {"x-nodecat": "tensor"}
INITIALIZER = {"enum": ["glorot_uniform", "zeros"], "x-nodecat": "initializer"}
REGULARIZER = {"x-nodecat": "regularizer"}
CONSTRAINT = {"x-nodecat": "constraint"}
ACTIVATION = {"enum": ["relu", "tanh"], "x-nodecat": "activation"}
LAYER = {"x-nodecat": "layer"}
SCHEDULE = {"x-nodecat": "schedule"}
DTYPE = {"x-nodecat": "dtype"}
KERAS = LibraryTypes(by_word={"tensor": TENSOR, "initializer": INITIALIZER, "regularizer": REGULARIZER,
                              "constraint": CONSTRAINT, "activation": ACTIVATION, "layer": LAYER,
                              "schedule": SCHEDULE, "dtype": DTYPE})


def anyof(*members: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": list(members)}


def array(items: dict[str, Any] | None = None, n: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array"}
    if items is not None:
        schema["items"] = items
    if n is not None:
        schema.update(minItems=n, maxItems=n)
    return schema


def enum(*values: str) -> dict[str, Any]:
    return {"enum": list(values)}


TYPED = [
    # a scalar word used as an adjective of a mask or a list of tensors: ports, not options
    ("a boolean mask of shape `(B, T, S)`, that prevents attention to certain positions.", TENSOR),
    ("List of initial state tensors to be passed to the first call of the cell.", array(TENSOR)),
    ("A list of input tensors (at least 2).", array(TENSOR)),
    ("List of the following tensors: - `query`: Query tensor of shape `(batch_size, Tq, dim)`.", array(TENSOR)),
    # scalars, with the lead words and fillers around them
    ("int, the dimension of the output space (the number of filters in the convolution).", INTEGER),
    ("Integer, the axis that should be normalized (typically the features axis).", INTEGER),
    ("A Python integer to use as random seed.", INTEGER),
    ("An integer scalar beam width used in beam search. Defaults to 100.", INTEGER),
    ("Float. If set, weight decay is applied.", NUMBER),
    ("A floating point value. The decay rate. Defaults to `0.95`.", NUMBER),
    ("Small float added to variance to avoid dividing by zero.", NUMBER),
    ("A `float` that controls the slope for values lower than the threshold.", NUMBER),
    ("bool, if `True`, bias will be added to the output.", BOOLEAN),
    ("A boolean, whether to keep the temporal dimension or not.", BOOLEAN),
    ("Boolean scalar type", BOOLEAN),
    ("Boolean (default: `False`). If `True`, process the input sequence backwards.", BOOLEAN),
    ("Boolean, (default `True`), whether the layer should use a bias vector.", BOOLEAN),
    ("String, the name of the window function.", STRING),
    ("A string containing the output dimension(s) to apply a bias to.", STRING),
    # ranges
    ("Positive integer, dimensionality of the output space.", {"type": "integer", "minimum": 1}),
    ("A positive int specifying the number of groups.", {"type": "integer", "minimum": 1}),
    ("Float between 0 and 1. Fraction of the units to drop.", {"type": "number", "minimum": 0, "maximum": 1}),
    ("Float >= 0. Negative slope coefficient. Defaults to `0.0`.", {"type": "number", "minimum": 0}),
    ("Float >= 0.0. Negative slope coefficient.", {"type": "number", "minimum": 0}),
    ("float > 0.5", {"type": "number", "exclusiveMinimum": 0.5}),
    ("Integer <= 8", {"type": "integer", "maximum": 8}),
    ("L1 regularization factor (positive float).", {"type": "number", "exclusiveMinimum": 0}),
    ("Float in `[0, 1]`. When > `0`, label values are smoothed.", {"type": "number", "minimum": 0, "maximum": 1}),
    ("Float in range `(0, 1)`. It is the noise parameter.",
     {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}),
    ("A scalar value in range `[0, 1]`.", {"type": "number", "minimum": 0, "maximum": 1}),
    ("A single unsigned integer or None.", anyof({"type": "integer", "minimum": 0}, NULL)),
    ("non-negative integer", {"type": "integer", "minimum": 0}),
    # sequences, counted in digits or words, and alternatives
    ("int or tuple/list of 2 integers, specifying the size of the convolution window.",
     anyof(INTEGER, array(INTEGER, 2))),
    ("int or tuple/list of 1 integer, specifying the size of the convolution window.",
     anyof(INTEGER, array(INTEGER, 1))),
    ("int or tuple of 3 integers, or None. Strides values.", anyof(INTEGER, array(INTEGER, 3), NULL)),
    ("An integer or tuple/list of 2 integers, specifying the amount of padding.",
     anyof(INTEGER, array(INTEGER, 2))),
    ("An integer tuple/list of 1 integer, specifying the dilation rate.", array(INTEGER, 1)),
    ("Integer or List/Tuple. The axis or axes to normalize across.", anyof(INTEGER, array())),
    ("Tuple of 2 integers `(height, width)`. Specifies the number of tiles.", array(INTEGER, 2)),
    ("A tuple of two floats or a single float.", anyof(array(NUMBER, 2), NUMBER)),
    ("Optional list/tuple of 2 floats specifying the lower and upper limits.", anyof(array(NUMBER, 2), NULL)),
    ("Int, or tuple of 2 ints, or tuple of 2 tuples of 2 ints. - If int: the same",
     anyof(INTEGER, array(INTEGER, 2), array(array(INTEGER, 2), 2))),
    ("Float or a list/tuple of 2 floats between -1.0 and 1.0. The factor is used",
     anyof(NUMBER, array({"type": "number", "minimum": -1, "maximum": 1}, 2))),
    ("(Optional) A tuple of two floats or a single float, between 0 and 1.",
     anyof(array({"type": "number", "minimum": 0, "maximum": 1}, 2), {"type": "number", "minimum": 0, "maximum": 1},
           NULL)),
    ("Integer, tuple of integers, or None. The axis or axes.", anyof(INTEGER, array(INTEGER), NULL)),
    ("int or int tuple/list of `len(inputs_spatial_shape)`, specifying the strides",
     anyof(INTEGER, array(INTEGER))),
    ("a tuple or a list of two elements. The first value", array(n=2)),
    ("A tuple of two integers specifying the plane of rotation", array(INTEGER, 2)),
    ("Int, or tuple of int (length 2). - If int: how many zeros", anyof(INTEGER, array(INTEGER, 2))),
    ("List of strings, keywords of layer names to exclude.", array(STRING)),
    ("A list of input tensors.", array(TENSOR)),
    ("(Optional) A list of floating point values to use as the", anyof(array(NUMBER), NULL)),
    # string enums
    ('string, either `"valid"` or `"same"` (case-insensitive). `"valid"` means no padding.', enum("valid", "same")),
    ('string, `"valid"`, `"same"` or `"causal"`(case-insensitive).', enum("valid", "same", "causal")),
    ('A string, one of `"channels_last"` (default) or `"channels_first"`.', enum("channels_last", "channels_first")),
    ('`"channels_first"` or `"channels_last"`. In `"channels_first"` mode',
     enum("channels_first", "channels_last")),
    ("'left' or 'right', specifying the direction in which to insert", enum("left", "right")),
    ("Either `valid`, `same` or `full`. By default the mode is set to `valid`", enum("valid", "same", "full")),
    ('String, padding strategy. Can be `"valid`" or `"same`". Defaults to `"valid"`.', enum("valid", "same")),
    ('Function to use to compute attention scores, one of `{"dot", "concat"}`. `"dot"` refers to',
     enum("dot", "concat")),
    ('Mode by which outputs will be combined. One of `{"sum", "mul", "concat", "ave", None}`.',
     anyof(enum("sum", "mul", "concat", "ave"), NULL)),
    ('Interpolation mode. Supported values: `"nearest"`, `"bilinear"`.', enum("nearest", "bilinear")),
    ('Specification for the output. Values can be `"int"`, `"one_hot"`, or `"count"` configuring the layer',
     enum("int", "one_hot", "count")),
    ('Points outside the boundaries are filled. Available methods are `"constant"`, `"nearest"` and `"wrap"`.',
     enum("constant", "nearest", "wrap")),
    ('Type of reduction to apply. Supported options are `"sum"`, `"mean"` or `None`. `"sum"` sums',
     anyof(enum("sum", "mean"), NULL)),
    # booleans said without the word
    ("If `True`, this layer will apply the inverse transformation to its inputs.", BOOLEAN),
    ("If True, add offset of `beta` to normalized tensor.", BOOLEAN),
    ("If this is set to `True`, the axes which are reduced are left in the result", BOOLEAN),
    ("Whether to L2-normalize samples along the dot product axis.", BOOLEAN),
    ("(Optional) When `False`, the default, the tensor passed in `y_pred` contains", anyof(BOOLEAN, NULL)),
    ("Whether to use flash attention. If `None`, it will attempt to use flash attention", anyof(BOOLEAN, NULL)),
    # the library's own types, from lib.by_word
    ("Input tensor.", TENSOR),
    ("First input tensor.", TENSOR),
    ("Tensor of rank N+2. `inputs` has shape", TENSOR),
    ("Integer tensor to be encoded.", TENSOR),
    ("Integer exponent tensor.", TENSOR),
    ("1D integer tensor representing the shape of the binary dropout mask", TENSOR),
    ("Source tensor.", TENSOR),
    ("A tensor or variable.", TENSOR),
    ("Input array to rotate.", TENSOR),
    ("Scalar or 1D Tensor. Window length.", anyof(NUMBER, TENSOR)),
    ("Initializer for the `kernel` weights matrix, used for the linear transformation.", INITIALIZER),
    ("An initializer for the bias vector. If None, the default initializer will be used.",
     anyof(INITIALIZER, NULL)),
    ("Regularizer function applied to the `kernel` weights matrix.", REGULARIZER),
    ("Optional regularizer for the bias vector.", anyof(REGULARIZER, NULL)),
    ("Constraint function applied to the bias vector. Default: `None`.", anyof(CONSTRAINT, NULL)),
    ("Optional projection function to be applied to the kernel after being updated by an `Optimizer`.",
     anyof(CONSTRAINT, NULL)),
    ("Activation function to use.", ACTIVATION),
    ("Activation function. It could be a callable, or the name of an activation from the `keras.activations` "
     "namespace.", ACTIVATION),
    ("Activation function. If `None`, no activation is applied.", anyof(ACTIVATION, NULL)),
    ("The layer to be wrapped.", LAYER),
    ("a `keras.layers.Layer` instance.", LAYER),
    ("Optional `keras.layers.RNN`, or `keras.layers.Layer` instance to be used to handle backwards input.",
     anyof(LAYER, NULL)),
    ("A float, a `keras.optimizers.schedules.LearningRateSchedule` instance, or a callable that takes no "
     "arguments and returns the actual value to use.", anyof(NUMBER, SCHEDULE)),
    ("A float value or a constant float tensor, or a callable that takes no arguments", anyof(NUMBER, TENSOR)),
    ("The `LearningRateSchedule` object to serialize.", SCHEDULE),
    ("The dtype of the loss's computations. Defaults to `None`, which means using", anyof(DTYPE, NULL)),
    ("(Optional) data type of the metric result.", anyof(DTYPE, NULL)),
    ("Desired data type of the tensor.", DTYPE),
    # nouns the grammar knows itself
    ("Random seed for dropout.", INTEGER),
    ("Axis along which to concatenate.", INTEGER),
    ("Axis or axes along which the sum is computed.", anyof(INTEGER, array(INTEGER))),
    ("Axis or tuple of axes along which to count the number of non-zeros.", anyof(INTEGER, array(INTEGER))),
    ("Optional name for the loss instance.", anyof(STRING, NULL)),
    ("(Optional) string name of the metric instance.", anyof(STRING, NULL)),
    ("Number of attention heads.", INTEGER),
    ("(Optional) Number of top elements to look at for computing accuracy.", anyof(INTEGER, NULL)),
    # None, from the phrase or the text after it
    ("Optional integer. If set, the layer's forward pass will implement LoRA", anyof(INTEGER, NULL)),
    ("Int or `None`. If an int, model & optimizer variables will not be updated", anyof(INTEGER, NULL)),
    ("optional integer, for fixed RNG behavior.", anyof(INTEGER, NULL)),
    ("Float, maximum frequency of the mel bins. If `None`, defaults to `sampling_rate / 2`.", anyof(NUMBER, NULL)),
    ("Float >= 0. Maximum activation value. `None` means unlimited.", anyof({"type": "number", "minimum": 0}, NULL)),
    ("Optional float or int. Value to replace `NaN` entries with.", anyof(NUMBER, INTEGER, NULL)),
    # a merged-in next argument says nothing about this one
    ('string, either `"valid"` or `"same"`. output_padding: An integer. If set to `None` (default), inferred.',
     enum("valid", "same")),
]

REFUSED = [
    ("the range of values the incoming images will have.", "prose does not start with a type: 'the range of"),
    ("Dropout probability.", "does not start with a type"),
    ("Interpolation mode. Supported values: `\"nearest\"`,", "does not start with a type"),  # cut off
    ('"Coefficient" matrix of shape `(M, N)`.', "does not start with a type"),
    ("Dictionary, valid only if `renorm = True`. Maps optional keys", MAPPING_REASON),
    ("A python dict containing a serialized layer configuration.", MAPPING_REASON),
    ("Int, or tuple of int (length 2), or dictionary. - If int: how many units", MAPPING_REASON),
    ("`str` or `pathlib.Path` object. The path to the SavedModel.", PATH_REASON),
    ("Optional. Either an array of strings or a string path to a text file.", "goes on past"),
    ("A string path to a text file.", PATH_REASON),
    ("The function to be evaluated. Takes input tensor as first argument.", CALLABLE_REASON),
    ("A Python callable implementing an associative binary operation", CALLABLE_REASON),
    ("`torch.nn.Module` instance. If it's a `LazyModule` instance, then", "instance of torch.nn.Module"),
    ("a float represented as fraction of value, or a tuple of size 2 representing lower and upper bound",
     "goes on past"),
    ("Either None (indicating no masking) or a callable with the same signature", "goes on past"),
    ("Input tensor or array-like structure to test.", "cannot read the alternative after 'or'"),
    ('Whether to use a cuDNN-backed implementation. `"auto"` will attempt to use cuDNN', "names string values"),
    ("The number of repetitions of `x` along each axis.", "does not start with a type"),
    ("If `None`, the layer attempts to use flash attention", "does not start with a type"),
    ("A loss identifier. One of None or string name of a loss function/class", "does not start with a type"),
    ("", "no description"),
]


@pytest.mark.parametrize("description,schema", TYPED, ids=[d[:50] for d, _ in TYPED])
def test_types_prose(description: str, schema: dict[str, Any]) -> None:
    typing = from_prose(description, KERAS)
    assert typing.reason == ""
    assert typing.schema == schema


@pytest.mark.parametrize("description,reason", REFUSED, ids=[d[:50] for d, _ in REFUSED])
def test_refuses_prose(description: str, reason: str) -> None:
    typing = from_prose(description, KERAS)
    assert typing.schema is None
    assert reason in typing.reason


@pytest.mark.parametrize("description", [d for d, _ in TYPED], ids=[d[:50] for d, _ in TYPED])
def test_schemas_are_valid_json_schema(description: str) -> None:
    jsonschema.Draft202012Validator.check_schema(from_prose(description, KERAS).schema)


@pytest.mark.parametrize("description,phrase", [
    ("int or tuple/list of 2 integers, specifying the size", "int or tuple/list of 2 integers"),
    ('string, either `"valid"` or `"same"` (case-insensitive). `"valid"` means',
     'string, either "valid" or "same" (case-insensitive)'),
    ("Initializer for the `kernel` weights matrix, used for", "Initializer for the kernel weights matrix"),
    ("Float between 0 and 1. Fraction of the units to drop.", "Float between 0 and 1"),
    ("Boolean (default: `False`). If `True`, process", "Boolean (default: False)"),
    ("If `True`, will create a scalar variable", "If True"),
    ("Input tensor.", "Input tensor"),
    ('Function to use to compute attention scores, one of `{"dot", "concat"}`. `"dot"` refers',
     'Function to use to compute attention scores, one of {"dot", "concat"}'),
])
def test_phrase_is_the_text_read(description: str, phrase: str) -> None:
    assert from_prose(description, KERAS).phrase == phrase


def test_library_words_come_only_from_the_library() -> None:
    no_tensor = LibraryTypes(by_word={"initializer": INITIALIZER})
    assert from_prose("Input tensor.", no_tensor).schema is None
    assert from_prose("Initializer for the bias vector.", no_tensor).schema == INITIALIZER
    assert from_prose("Initializer for the bias vector.", LibraryTypes()).schema is None
    # the library's schema is copied, never shared
    schema = from_prose("Input tensor.", KERAS).schema
    assert schema == TENSOR and schema is not TENSOR


def test_refusals_say_what_was_read() -> None:
    typing = from_prose("`str` or `pathlib.Path` object. The path to the SavedModel.", KERAS)
    assert typing.phrase == "str or pathlib.Path"
