"""Importing torch models: every zoo model becomes a graph that computes what the model computes.

Each zoo model (examples/models/torch_zoo.py) is imported once per module, its weights written
with safetensors, and the graph run by the executor at a batch size other than the traced one
(the batch dimension is left open). Also: the JSON round trip, every unmappable call reported at
once, bad input specs, constructor arguments that cannot be recovered, models fx cannot trace.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn as nn
from helpers import TORCH_VERSION
from safetensors.numpy import save_file

from nodecat.executor import api
from nodecat.executor.graph.errors import GraphError
from nodecat.executor.interop.imported import ImportResult
from nodecat.executor.interop.target import InputSpec, load_factory, parse_input_specs
from nodecat.executor.interop.torch_import import import_torch
from nodecat.executor.graph.load import parse_graph

ZOO = Path(__file__).resolve().parent.parent / "examples" / "models" / "torch_zoo.py"
MAPPABLE = ("resnet18_cifar", "mobilenet_v2_small", "lstm_classifier", "gru_tagger", "transformer_encoder")
RUN_BATCH = 3  # the zoo's specs trace at batch 1 or 2
TOLERANCE = 1e-5


def zoo_factory(name: str) -> tuple[Any, dict[str, InputSpec]]:
    factory, _ = load_factory(f"{ZOO}:{name}")
    inputs = sys.modules[factory.__module__].INPUTS[name]
    return factory, parse_input_specs([f"{k}={v}" for k, v in inputs.items()])


def example_inputs(specs: dict[str, InputSpec], batch: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    out = {}
    for name, spec in specs.items():
        shape = (batch, *spec.example_shape()[1:])
        out[name] = (torch.randint(0, 100, shape, generator=generator) if spec.dtype.startswith("int")
                     else torch.randn(shape, generator=generator))
    return out


def max_differences(model: nn.Module, result: ImportResult, specs: dict[str, InputSpec], weights: Path,
                    batch: int = RUN_BATCH) -> list[float]:
    """The graph's outputs against the model's own, at `batch`."""
    inputs = example_inputs(specs, batch)
    outputs = api.run(result.graph, {k: v.numpy() for k, v in inputs.items()}, weights=weights, device="cpu")
    with torch.no_grad():
        expected = model(**inputs)
    expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    assert [o.shape for o in outputs.values()] == [tuple(e.shape) for e in expected]
    return [float(np.abs(got - want.numpy()).max()) for got, want in zip(outputs.values(), expected)]


def write_weights(result: ImportResult, folder: Path) -> Path:
    path = folder / "weights.safetensors"
    save_file(result.weights, str(path))
    return path


@pytest.fixture(scope="module", params=MAPPABLE)
def imported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    factory, specs = zoo_factory(request.param)
    model = factory()
    result = import_torch(model, specs, request.param)
    weights = write_weights(result, tmp_path_factory.mktemp(request.param))
    return {"name": request.param, "model": model, "specs": specs, "result": result, "weights": weights}


# -- the zoo ---------------------------------------------------------------------------------------
def test_zoo_model_computes_the_same_at_another_batch_size(imported: dict[str, Any]) -> None:
    traced_batch = {s.example_shape()[0] for s in imported["specs"].values()}
    assert RUN_BATCH not in traced_batch
    differences = max_differences(imported["model"], imported["result"], imported["specs"], imported["weights"])
    assert max(differences) <= TOLERANCE, (imported["name"], differences)


def test_zoo_graph_round_trips_through_json_text(imported: dict[str, Any]) -> None:
    graph = imported["result"].graph
    text = json.dumps(graph.to_json(), sort_keys=True)
    assert parse_graph(text) == graph
    assert graph.catalogs == {"torch": TORCH_VERSION}
    assert graph.name == imported["name"]


def test_zoo_graph_inputs_are_named_after_forward_with_the_batch_open(imported: dict[str, Any]) -> None:
    inputs = {n.id: n.args for n in imported["result"].graph.nodes if n.op == "input"}
    assert inputs == {name: {"shape": spec.graph_shape(), "dtype": spec.dtype}
                      for name, spec in imported["specs"].items()}
    assert all(args["shape"][0] is None for args in inputs.values())


def test_zoo_weights_are_named_by_node_and_parameter(imported: dict[str, Any]) -> None:
    result, model = imported["result"], imported["model"]
    ids = {n.id for n in result.graph.nodes}
    assert all(name.split(".")[0] in ids for name in result.weights)
    layer_parameters = sum(a.size for name, a in result.weights.items() if "." in name)
    constants = sum(a.size for name, a in result.weights.items() if "." not in name)
    assert layer_parameters + constants >= sum(p.numel() for p in model.parameters())


def test_resnet_hierarchy_shows_in_node_ids_and_size_view_becomes_minus_one() -> None:
    factory, specs = zoo_factory("resnet18_cifar")
    result = import_torch(factory(), specs)
    nodes = {n.id: n for n in result.graph.nodes}
    assert nodes["layer1_0_conv1"].op == "torch.nn.Conv2d"
    assert nodes["layer2_0_shortcut_0"].args == {"in_channels": 64, "out_channels": 128, "kernel_size": 1,
                                                 "stride": 2, "bias": False}
    assert nodes["layer1_0_add"].op == "torch.add"
    assert nodes["reshape"].args == {"shape": [-1, 512]}  # out.view(out.size(0), -1)
    assert result.origins["layer1_0_conv1"] == "layer1.0.conv1"
    assert "layer1_0_bn1.running_var" in result.weights


def test_transformer_encoder_hands_its_layer_over_by_an_argument_edge() -> None:
    factory, specs = zoo_factory("transformer_encoder")
    result = import_torch(factory(), specs)
    nodes = {n.id: n for n in result.graph.nodes}
    handed = {e.target_arg: e.source for e in result.graph.edges if e.target_arg is not None}
    assert set(handed) == {"encoder_layer", "norm"}
    assert nodes[handed["encoder_layer"]].op == "torch.nn.TransformerEncoderLayer"
    assert nodes[handed["encoder_layer"]].args == {"d_model": 32, "nhead": 4, "dim_feedforward": 64,
                                                   "activation": "relu", "batch_first": True}
    assert nodes["encoder"].args == {"num_layers": 2, "enable_nested_tensor": False}
    assert nodes["pos"].op == "constant"
    assert [n.message for n in result.notes if n.node == "pos"] == \
        ["parameter pos imported as a constant: exact for inference, not trained"]


# -- what cannot be imported -------------------------------------------------------------------------
def test_unmappable_model_reports_every_call_with_its_reason() -> None:
    factory, specs = zoo_factory("unmappable_model")
    with pytest.raises(GraphError) as caught:
        import_torch(factory(), specs)
    problems = caught.value.problems
    assert {p.code for p in problems} == {"unmappable_call"}
    not_in_catalog = f"not in the torch {TORCH_VERSION} catalog"
    assert {(p.node, p.message) for p in problems} == {
        ("lt", f"operator.lt: {not_in_catalog}"),
        ("masked_fill", f"torch.Tensor.masked_fill: {not_in_catalog}"),
        ("fft_rfft", f"torch.fft.rfft: {not_in_catalog}"),
    }


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
        self.layer.norm2 = nn.LayerNorm(16, eps=1e-3)  # no constructor argument gives two different eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


def test_constructor_arguments_that_cannot_be_recovered_are_reported() -> None:
    with pytest.raises(GraphError) as caught:
        import_torch(_Block().eval(), {"x": InputSpec((2, 5, 16))})
    [problem] = caught.value.problems
    assert (problem.code, problem.node) == ("unmappable_call", "layer")
    assert problem.message.startswith("torch.nn.TransformerEncoderLayer: constructor arguments could not be "
                                      "recovered: repr differs:")
    assert "eps=0.001" in problem.message


class _BatchTimesInput(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x.size(0)


def test_a_size_of_the_batch_outside_a_reshape_is_reported() -> None:
    with pytest.raises(GraphError) as caught:
        import_torch(_BatchTimesInput(), {"x": InputSpec((2, 4))})
    [problem] = caught.value.problems
    assert problem.code == "unmappable_call"
    assert "depends on the batch size" in problem.message


class _DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        if y.sum() > 0:
            return y
        return -y


class _Outer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(_DataDependent())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_data_dependent_control_flow_names_the_module_and_line() -> None:
    with pytest.raises(GraphError) as caught:
        import_torch(_Outer(), {"x": InputSpec((2, 4))})
    [problem] = caught.value.problems
    assert problem.code == "import_failed"
    assert problem.node == "body.0"
    assert "module 'body.0' (_DataDependent)" in problem.message
    assert "`if y.sum() > 0:`" in problem.message
    assert "fx" in problem.hint


def test_missing_and_unknown_input_specs_are_reported_together() -> None:
    with pytest.raises(GraphError) as caught:
        import_torch(_Outer(), {"y": InputSpec((2, 4))})
    problems = {p.node: p for p in caught.value.problems}
    assert {p.code for p in problems.values()} == {"bad_input_spec"}
    assert set(problems) == {"x", "y"}
    assert "forward has no parameter 'y'" in problems["y"].message
    assert "_Outer.forward takes: x" in problems["y"].hint


# -- mapping details, checked by running -----------------------------------------------------------
class _Ops(nn.Module):
    """Indexing, chunking, a batch-sized view, scalars, a buffer, tuple results and a functional
    layer norm fed by parameters, and a hand-written attention (the paper's formula)."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.lstm = nn.LSTM(8, 6, batch_first=True)
        self.register_buffer("scale", torch.linspace(0.5, 2.0, 8))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        b, _, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        weights = (q @ k.transpose(-2, -1) / math.sqrt(d)).softmax(dim=-1)
        mixed = (weights @ v).contiguous().view(b, -1)
        attended, _ = self.attention(x, x, x, need_weights=False)
        out, (h, _) = self.lstm(attended * self.scale + 1.0)
        normed = torch.nn.functional.layer_norm(x, (8,), self.qkv.weight[0, :8], None)
        return mixed, out[:, -1, 2:5], h[0], x[..., None, 1], 2 - normed.flatten(1)


def test_indexing_chunks_views_scalars_and_tuple_results_compute_the_same(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _Ops().eval()
    specs = {"x": InputSpec((2, 5, 8))}
    result = import_torch(model, specs)
    differences = max_differences(model, result, specs, write_weights(result, tmp_path), batch=4)
    assert max(differences) <= TOLERANCE, differences
    ops = {n.op for n in result.graph.nodes}
    assert {"torch.index_select", "torch.squeeze", "torch.unsqueeze", "torch.reshape", "constant"} <= ops
    assert [o.name for o in result.graph.outputs] == [f"output_{i}" for i in range(5)]


def test_a_model_that_is_one_catalog_layer_imports_as_one_node(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.LSTM(4, 8, num_layers=2, batch_first=True).eval()
    specs = {"input": InputSpec((2, 5, 4))}
    result = import_torch(model, specs)
    assert [n.op for n in result.graph.nodes] == ["input", "torch.nn.LSTM"]
    assert [(o.name, o.port) for o in result.graph.outputs] == [("output_0", "output"), ("output_1", "h_n"),
                                                                 ("output_2", "c_n")]
    inputs = example_inputs(specs, 3)
    outputs = api.run(result.graph, {"input": inputs["input"].numpy()}, weights=write_weights(result, tmp_path),
                      device="cpu")
    with torch.no_grad():
        out, (h, c) = model(inputs["input"])
    for got, want in zip(outputs.values(), (out, h, c)):
        assert np.abs(got - want.numpy()).max() <= TOLERANCE


class _FixedLinear(nn.Linear):
    """Changes only the constructor, so it computes what nn.Linear computes."""

    def __init__(self) -> None:
        super().__init__(4, 3, bias=False)


class _Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.project = _FixedLinear()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(x) * 0.5


def test_a_subclass_that_only_fixes_arguments_imports_as_its_catalog_class(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _Scaled().eval()
    specs = {"x": InputSpec((2, 4))}
    result = import_torch(model, specs)
    nodes = {n.id: n for n in result.graph.nodes}
    assert (nodes["project"].op, nodes["project"].args) == ("torch.nn.Linear", {"in_features": 4, "out_features": 3,
                                                                               "bias": False})
    assert nodes["mul_other"].args == {"value": 0.5, "dtype": "float32"}  # the Python scalar, as a constant
    assert any("_FixedLinear imported as torch.nn.Linear" in n.message for n in result.notes)
    assert max(max_differences(model, result, specs, write_weights(result, tmp_path))) <= TOLERANCE
