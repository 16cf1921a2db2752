"""The closed vocabularies of the catalog format, in one place.

Every literal that appears in a catalog or overrides file is listed here so the
JSON Schemas, the describer and the CLI agree on one spelling.
"""
from __future__ import annotations

from typing import Literal, get_args

CATALOG_FORMAT = "nodecat-catalog/1"
OVERRIDES_FORMAT = "nodecat-overrides/1"

Kind = Literal["layer", "function", "loss", "metric", "optimizer", "scheduler", "container",
               "input", "constant", "block"]
KINDS: tuple[str, ...] = get_args(Kind)

# Where a fact about an argument came from, so a reviewer sees what to trust.
Source = Literal["annotation", "default", "docstring", "convention", "override", "none"]
SOURCES: tuple[str, ...] = get_args(Source)

Review = Literal["auto", "needs-review", "reviewed"]
REVIEW_STATES: tuple[str, ...] = get_args(Review)

# When an argument is given: to the constructor, or to each call of the instance.
Stage = Literal["init", "apply"]

# What travels along an edge into or out of a port.
# "schedule": a Keras learning-rate schedule, fed into an optimizer's learning_rate argument.
PortType = Literal["tensor", "tensors", "tensor-pair", "parameters", "optimizer", "schedule", "module", "any"]
PORT_TYPES: tuple[str, ...] = get_args(PortType)

# Non-JSON value kinds a schema fragment can name with the "x-nodecat" keyword.
# initializer/regularizer/constraint/activation: a Keras object named by its registered name
# (or given as a {"class_name", "config"} object); schedule: a learning-rate schedule node.
ValueKind = Literal["dtype", "device", "tensor", "module", "shape", "memory-format", "layout",
                    "initializer", "regularizer", "constraint", "activation", "schedule"]
VALUE_KINDS: tuple[str, ...] = get_args(ValueKind)
