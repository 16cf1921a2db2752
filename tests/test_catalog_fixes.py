"""Catalog entries that stopped real graphs from running, each checked by a small graph against torch itself.

- `torch.nn.functional.interpolate`: `size` took only an int and `scale_factor` only a list (the
  TorchScript annotations); overrides give both "a number or one per spatial dimension".
- `torch.einsum(*args)` (documented `einsum(equation, *operands)`) takes no keyword, so the walker
  passes the literal `equation` first by position (`bind_function_call`), then the `operands` list.
- `torch.narrow`: `start` is crawled as a tensor port (docstring "start (int or Tensor)"); the
  override format cannot turn a port into an argument yet, so its test is a strict xfail.

Each graph is validated, profiled on the meta device (shapes), run, and compared with calling torch directly.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import TORCH_VERSION

from nodecat.executor import api
from nodecat.executor.graph.errors import GraphError
from nodecat.executor.graph.load import graph_from_document
from nodecat.executor.build.walk import bind_function_call
from nodecat.introspector.paths import committed_catalog

BATCH = 3


def graph(nodes: list[dict[str, Any]], edges: list[tuple[str, str, str]], output: str) -> dict[str, Any]:
    return {"format": "nodecat-graph/1", "catalogs": {"torch": TORCH_VERSION}, "nodes": nodes,
            "edges": [{"from": {"node": s, "port": "output"}, "to": {"node": t, "port": p}} for s, t, p in edges],
            "outputs": [{"name": "y", "node": output, "port": "output"}]}


def x_input(node_id: str, shape: list[int | None]) -> dict[str, Any]:
    return {"id": node_id, "op": "input", "args": {"shape": shape, "dtype": "float32"}}


def one_node(op: str, args: dict[str, Any], shapes: dict[str, list[int | None]], port: str) -> dict[str, Any]:
    """Graph inputs (in order) all feeding `port` of one `op` node, the graph's output."""
    return graph([*(x_input(name, shape) for name, shape in shapes.items()), {"id": "n", "op": op, "args": args}],
                 [(name, "n", port) for name in shapes], "n")


def check_against(document: dict[str, Any], want: Any, inputs: dict[str, np.ndarray]) -> None:
    """Validates, infers shapes on meta at the batch of the inputs, runs, and compares with `want`."""
    checked = api.validate(graph_from_document(document))
    batch = next(iter(inputs.values())).shape[0]
    shapes = api.profile(checked, batch=batch).shapes_json()
    assert shapes["n"]["output"]["shape"] == list(want.shape)
    got = api.run(checked, inputs, device="cpu")["y"]
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6)


def problem_codes(document: dict[str, Any]) -> list[str]:
    with pytest.raises(GraphError) as caught:
        api.validate(graph_from_document(document))
    return [p.code for p in caught.value.problems]


def catalog_node(node_id: str) -> dict[str, Any]:
    document = json.loads(committed_catalog("torch", TORCH_VERSION).read_text(encoding="utf-8"))
    return next(n for n in document["nodes"] if n["id"] == node_id)


def random(*shape: int) -> np.ndarray:
    return np.random.default_rng(sum(shape)).standard_normal(shape).astype("float32")


# -- torch.nn.functional.interpolate ---------------------------------------------------------------

INTERPOLATE_CASES = [
    ({"scale_factor": 2.0}, [BATCH, 2, 4, 5]),                       # one float for every dimension
    ({"scale_factor": 2}, [BATCH, 2, 4, 5]),                         # an integer is a number too
    ({"scale_factor": [2.0, 1.5]}, [BATCH, 2, 4, 6]),                # one per spatial dimension
    ({"scale_factor": 0.5, "mode": "area"}, [BATCH, 2, 8, 6]),
    ({"size": 7}, [BATCH, 2, 4, 5]),                                 # one int for every dimension
    ({"size": [5, 7], "mode": "bilinear", "align_corners": False}, [BATCH, 2, 4, 5]),
    ({"size": 9, "mode": "linear"}, [BATCH, 2, 4]),                  # 3-D input: one spatial dimension
    ({"size": [3, 4, 5], "mode": "trilinear"}, [BATCH, 1, 2, 3, 4]),  # 5-D input: three
]


@pytest.mark.parametrize(("args", "shape"), INTERPOLATE_CASES,
                         ids=[json.dumps(args) for args, _ in INTERPOLATE_CASES])
def test_interpolate_takes_a_number_or_one_per_dimension(args: dict[str, Any], shape: list[int]) -> None:
    x = random(*shape)
    want = F.interpolate(torch.from_numpy(x), **args)
    check_against(one_node("torch.nn.functional.interpolate", args, {"x": [None, *shape[1:]]}, "input"),
                  want, {"x": x})


@pytest.mark.parametrize("args", [{"size": 0}, {"size": [4, 0]}, {"size": 2.5}, {"size": [1, 2, 3, 4]},
                                  {"size": []}, {"scale_factor": 0}, {"scale_factor": -2.0},
                                  {"scale_factor": [2.0, 0.0]}, {"scale_factor": "2"},
                                  {"scale_factor": [1.0, 1.0, 1.0, 1.0]}], ids=json.dumps)
def test_interpolate_refuses_what_torch_refuses(args: dict[str, Any]) -> None:
    document = one_node("torch.nn.functional.interpolate", args, {"x": [None, 2, 4, 4]}, "input")
    assert problem_codes(document) == ["bad_arg_value"]


def test_interpolate_schemas_come_from_the_overrides() -> None:
    node = catalog_node("torch.nn.functional.interpolate")
    args = {a["name"]: a for a in node["args"]}
    for name in ("size", "scale_factor"):
        assert args[name]["source"] == "override"
        assert args[name]["auto_source"] == "annotation"
        assert f"args.{name}.schema" in node["overridden"]
        assert {"type": "null"} in args[name]["schema"]["anyOf"]  # the default, None, still fits


# -- torch.einsum ------------------------------------------------------------------------------------

EINSUM_CASES = [
    ("bij,bjk->bik", {"a": [BATCH, 2, 3], "b": [BATCH, 3, 4]}),       # batched matrix product
    ("bi,bi->b", {"a": [BATCH, 5], "b": [BATCH, 5]}),                 # batched dot product
    ("bij->bji", {"a": [BATCH, 2, 3]}),                               # one operand
    ("bi,bij,bj->b", {"a": [BATCH, 2], "b": [BATCH, 2, 3], "c": [BATCH, 3]}),  # three operands
]


@pytest.mark.parametrize(("equation", "shapes"), EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
def test_einsum_gets_its_equation_first(equation: str, shapes: dict[str, list[int]]) -> None:
    inputs = {name: random(*shape) for name, shape in shapes.items()}
    want = torch.einsum(equation, *(torch.from_numpy(v) for v in inputs.values()))
    document = one_node("torch.einsum", {"equation": equation},
                        {name: [None, *shape[1:]] for name, shape in shapes.items()}, "operands")
    check_against(document, want, inputs)


def test_einsum_binding() -> None:
    a, b = torch.ones(2, 3), torch.ones(3, 4)
    args, kwargs = bind_function_call(torch.einsum, {"operands": [a, b]}, {"equation": "ij,jk->ik"}, ("equation",))
    assert args == ("ij,jk->ik", [a, b]) and kwargs == {}


def test_varargs_without_keywords_take_unnamed_literals_first_in_descriptor_order() -> None:
    def takes_only_args(*args: Any) -> tuple[Any, ...]:
        return args

    # the graph document's order (second, first) does not decide; the descriptor's does
    args, kwargs = bind_function_call(takes_only_args, {"values": [1, 2]}, {"second": "s", "first": "f"},
                                      ("first", "second"))
    assert (args, kwargs) == (("f", "s", [1, 2]), {})
    assert takes_only_args(*args, **kwargs) == ("f", "s", [1, 2])


def test_varargs_with_keywords_still_take_literals_by_keyword() -> None:
    def wrapper(*args: Any, **kwargs: Any) -> Any:  # like torch's boolean-dispatch max_pool2d
        return args, kwargs

    args, kwargs = bind_function_call(wrapper, {"input": "x"}, {"kernel_size": 2}, ("kernel_size",))
    assert (args, kwargs) == (("x",), {"kernel_size": 2})

    def named_varargs(*x: Any, indexing: str = "xy") -> Any:  # like keras.ops.meshgrid
        return x, indexing

    args, kwargs = bind_function_call(named_varargs, {"x": [1, 2]}, {"indexing": "ij"}, ("indexing",))
    assert (args, kwargs) == ((1, 2), {"indexing": "ij"})


def test_einsum_exports_as_a_call_with_the_equation_first() -> None:
    from nodecat.executor.interop.export import python_source
    document = one_node("torch.einsum", {"equation": "bij,bjk->bik"}, {"a": [None, 2, 3], "b": [None, 3, 4]},
                        "operands")
    assert 'torch.einsum("bij,bjk->bik", [a, b])' in python_source(api.validate(graph_from_document(document)))


# -- torch.narrow ------------------------------------------------------------------------------------

@pytest.mark.xfail(strict=True, reason=(
    "start is crawled as a tensor input port ('start (int or Tensor)'), and an override can only change an "
    "argument that exists: the overrides format has no way to turn a port into an argument (node-level "
    "'args' is not allowed, an arg entry for 'start' is stale). Needs an introspector or format change."))
@pytest.mark.parametrize(("dim", "start", "length"), [(1, -1, 1), (1, 0, 2), (2, 1, 3)])
def test_narrow_start_is_an_integer_argument(dim: int, start: int, length: int) -> None:
    x = random(BATCH, 4, 5)
    want = torch.narrow(torch.from_numpy(x), dim, start, length)
    check_against(one_node("torch.narrow", {"dim": dim, "start": start, "length": length},
                           {"x": [None, 4, 5]}, "input"), want, {"x": x})
