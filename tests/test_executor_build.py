"""Building and running graphs: real modules, call options, devices, budgets and node errors."""
from __future__ import annotations

import copy
import json
import resource

import numpy as np
import pytest
import torch

from nodecat.executor import api
from nodecat.executor.build.devices import parse_bytes, pick_device
from nodecat.executor.graph.errors import GraphError
from nodecat.executor.graph.load import graph_from_document
from nodecat.executor.build.shapes import infer_shapes

MLP = json.loads(open("examples/mlp.json", encoding="utf-8").read())


def _graph(nodes, edges, outputs, catalogs=None):
    return graph_from_document({"format": "nodecat-graph/1", "catalogs": catalogs or {"torch": "2.13.0"},
                                "nodes": nodes, "edges": edges, "outputs": outputs})


def _edge(source, target, target_port="input", source_port="output"):
    return {"from": {"node": source, "port": source_port}, "to": {"node": target, "port": target_port}}


def test_built_module_is_a_real_module_with_state_dict_to_and_compile():
    module = api.build(api.validate(graph_from_document(MLP)), device="cpu")
    assert isinstance(module, torch.nn.Module)
    assert list(module.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "head.weight", "head.bias"]
    assert module.input_names == ["x"] and module.output_names == ["logits"]
    module.eval()
    x = torch.randn(3, 64)
    expected = module(x)
    double = copy.deepcopy(module).to(torch.float64)
    assert double.fc1.weight.dtype == torch.float64
    torch.testing.assert_close(double(x.double()).float(), expected, rtol=1e-5, atol=1e-6)
    compiled = torch.compile(module, backend="eager")  # the inductor backend needs a C compiler
    torch.testing.assert_close(compiled(x), expected)


def test_fx_forward_is_plain_code_without_interpreter():
    module = api.build(api.validate(graph_from_document(MLP)), device="cpu")
    assert "self.fc1(x)" in module.code and "self.head(" in module.code


def test_inplace_node_gets_a_clone_when_its_input_is_shared():
    graph = _graph(
        [{"id": "x", "op": "input", "args": {"shape": [4, 8]}},
         {"id": "fc", "op": "torch.nn.Linear", "args": {"in_features": 8, "out_features": 8}},
         {"id": "act", "op": "torch.nn.ReLU", "args": {"inplace": True}}],
        [_edge("x", "fc"), _edge("fc", "act")],
        [{"name": "pre", "node": "fc"}, {"name": "post", "node": "act"}])
    checked = api.validate(graph)
    module = api.build(checked, device="cpu", budget=None)
    assert "clone" in module.code
    torch.manual_seed(0)
    out = api.run(checked, {"x": np.random.default_rng(0).normal(size=(4, 8)).astype("float32")}, model=module)
    assert (out["pre"] < 0).any(), "the shared input was changed in place"
    np.testing.assert_array_equal(out["post"], np.maximum(out["pre"], 0))


def test_inplace_node_without_other_readers_is_not_cloned():
    module = api.build(api.validate(graph_from_document(MLP)), device="cpu")  # act2 is inplace, fc2 read once
    assert "clone" not in module.code


def test_variadic_port_keeps_edge_order():
    graph = _graph(
        [{"id": "a", "op": "input", "args": {"shape": [2, 3]}}, {"id": "b", "op": "input", "args": {"shape": [2, 5]}},
         {"id": "cat", "op": "torch.cat", "args": {"dim": 1}}],
        [_edge("b", "cat", "tensors"), _edge("a", "cat", "tensors")],
        [{"name": "y", "node": "cat"}])
    a, b = np.ones((2, 3), "float32"), np.zeros((2, 5), "float32")
    out = api.run(graph, {"a": a, "b": b}, device="cpu")
    np.testing.assert_array_equal(out["y"], np.concatenate([b, a], axis=1))


def test_output_port_path_indexes_the_tuple_result():
    graph = _graph(
        [{"id": "x", "op": "input", "args": {"shape": [2, 5, 4]}},
         {"id": "rnn", "op": "torch.nn.LSTM", "args": {"input_size": 4, "hidden_size": 6, "batch_first": True}}],
        [_edge("x", "rnn")],
        [{"name": "seq", "node": "rnn", "port": "output"}, {"name": "h", "node": "rnn", "port": "h_n"},
         {"name": "c", "node": "rnn", "port": "c_n"}])
    report = infer_shapes(api.validate(graph))
    rnn = next(n for n in report.nodes if n.id == "rnn")
    assert rnn.outputs["output"].shape == (2, 5, 6) and rnn.outputs["h_n"].shape == (1, 2, 6)
    out = api.run(graph, {"x": np.ones((2, 5, 4), "float32")}, device="cpu")
    np.testing.assert_allclose(out["seq"][:, -1], out["h"][0], rtol=1e-6)


def test_constant_is_a_buffer_that_moves_with_the_module():
    graph = _graph(
        [{"id": "x", "op": "input", "args": {"shape": [2, 3]}},
         {"id": "bias", "op": "constant", "args": {"value": [[1, 2, 3]], "dtype": "float32"}},
         {"id": "plus", "op": "torch.add"}],
        [_edge("x", "plus", "input"), _edge("bias", "plus", "other")],
        [{"name": "y", "node": "plus"}])
    module = api.build(api.validate(graph), device="cpu")
    assert "bias" in dict(module.named_buffers())
    out = api.run(graph, {"x": np.zeros((2, 3), "float32")}, device="cpu")
    np.testing.assert_array_equal(out["y"], [[1, 2, 3], [1, 2, 3]])


def test_layer_handed_to_a_wrapper_through_an_argument_edge():
    graph = _graph(
        [{"id": "x", "op": "input", "args": {"shape": [2, 5, 8]}},
         {"id": "block", "op": "torch.nn.TransformerEncoderLayer",
          "args": {"d_model": 8, "nhead": 2, "dim_feedforward": 16, "batch_first": True}},
         {"id": "encoder", "op": "torch.nn.TransformerEncoder", "args": {"num_layers": 2}}],
        [{"from": {"node": "block"}, "to": {"node": "encoder", "arg": "encoder_layer"}}, _edge("x", "encoder", "src")],
        [{"name": "y", "node": "encoder"}])
    module = api.build(api.validate(graph), device="cpu")
    assert isinstance(module.encoder, torch.nn.TransformerEncoder) and len(module.encoder.layers) == 2
    assert not hasattr(module, "block"), "a node handed over is not applied on its own"
    assert api.run(graph, {"x": np.ones((2, 5, 8), "float32")}, model=module)["y"].shape == (2, 5, 8)


def test_shape_error_names_the_node_and_its_input_shapes():
    bad = copy.deepcopy(MLP)
    bad["nodes"][4]["args"]["in_features"] = 100  # fc2 reads 128 features
    with pytest.raises(GraphError) as caught:
        infer_shapes(api.validate(graph_from_document(bad)))
    assert caught.value.code == "shape_mismatch" and caught.value.node == "fc2"
    assert caught.value.pointer == "/nodes/4"
    assert "(1, 128)" in str(caught.value) and "torch.nn.Linear" in str(caught.value)


def test_failure_while_running_is_a_node_error_not_a_traceback():
    graph = _graph(
        [{"id": "x", "op": "input", "args": {"shape": [None, None]}},
         {"id": "fc", "op": "torch.nn.Linear", "args": {"in_features": 4, "out_features": 2}}],
        [_edge("x", "fc")], [{"name": "y", "node": "fc"}])
    checked = api.validate(graph)
    module = api.build(checked, device="cpu", budget=None)
    with pytest.raises(GraphError) as caught:
        api.run(checked, {"x": np.ones((3, 5), "float32")}, model=module)
    assert caught.value.code == "node_failed" and caught.value.node == "fc"
    assert "(3, 5)" in str(caught.value)
    assert isinstance(caught.value.__cause__, RuntimeError)  # raised `from` the library's error


def test_bad_constructor_arguments_are_a_node_error():
    graph = _graph(
        [{"id": "x", "op": "input", "args": {"shape": [2, 8]}},
         {"id": "attn", "op": "torch.nn.MultiheadAttention", "args": {"embed_dim": 8, "num_heads": 3}}],
        [_edge("x", "attn", "query"), _edge("x", "attn", "key"), _edge("x", "attn", "value")],
        [{"name": "y", "node": "attn", "port": "attn_output"}])
    with pytest.raises(GraphError) as caught:
        api.build(api.validate(graph), device="cpu")
    assert caught.value.code == "node_failed" and caught.value.node == "attn"
    assert "embed_dim must be divisible by num_heads" in str(caught.value)


def test_inputs_are_checked_against_the_declared_shape_and_dtype():
    checked = api.validate(graph_from_document(MLP))
    with pytest.raises(GraphError) as caught:
        api.run(checked, {"x": np.ones((2, 63), "float32"), "extra": np.ones(1)})
    assert {p.code for p in caught.value.problems} == {"bad_input_value", "unknown_graph_input"}
    with pytest.raises(GraphError) as caught:
        api.run(checked, {"x": np.ones((2, 64), "complex64")})
    assert caught.value.code == "bad_input_value" and caught.value.pointer == "/nodes/0/args/dtype"
    with pytest.raises(GraphError) as caught:
        api.run(checked, {})
    assert caught.value.code == "missing_graph_input"
    out = api.run(checked, {"x": np.ones((2, 64), "float64")}, device="cpu")  # float64 -> float32 is a safe cast
    assert out["logits"].dtype == np.float32


def test_device_auto_picks_cpu_here_and_unavailable_devices_are_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") in ("cpu", "mps")
    for name in ("cuda", "cuda:3", "tpu", "cpu:1"):
        with pytest.raises(GraphError) as caught:
            pick_device(name)
        assert caught.value.code == "device_unavailable"


def test_device_auto_prefers_cuda_when_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("auto") == "cuda" and pick_device("cuda:1") == "cuda:1"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_builds_and_runs_on_cuda():
    module = api.build(api.validate(graph_from_document(MLP)), device="auto")
    assert next(module.parameters()).device.type == "cuda"


def test_a_graph_larger_than_the_machine_is_refused_on_meta_without_allocating():
    nodes = [{"id": "x", "op": "input", "args": {"shape": [None, 100000]}}]
    edges, previous = [], "x"
    for index in range(4):  # 4 x 10^10 float32 weights: 160 GB
        nodes.append({"id": f"fc{index}", "op": "torch.nn.Linear",
                      "args": {"in_features": 100000, "out_features": 100000}})
        edges.append(_edge(previous, f"fc{index}"))
        previous = f"fc{index}"
    graph = _graph(nodes, edges, [{"name": "y", "node": previous}])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    checked = api.validate(graph)
    report = infer_shapes(checked)
    assert report.params == 4 * (100000 * 100000 + 100000)
    assert report.param_bytes == 4 * report.params
    with pytest.raises(GraphError) as caught:
        api.build(checked, device="cpu")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert caught.value.code == "budget_exceeded"
    assert "149.0 GiB" in str(caught.value) and "fc0" in str(caught.value)
    assert (after - before) * 1024 < 1 << 30, "the refused graph allocated memory"


def test_budget_is_configurable():
    checked = api.validate(graph_from_document(MLP))
    with pytest.raises(GraphError) as caught:
        api.build(checked, device="cpu", budget=parse_bytes("10KiB"))
    assert caught.value.code == "budget_exceeded"
    assert isinstance(api.build(checked, device="cpu", budget=parse_bytes("1GiB")), torch.nn.Module)
    assert parse_bytes("8GiB") == 8 * 1024**3 and parse_bytes("512MB") == 512 * 1000**2
    with pytest.raises(ValueError):
        parse_bytes("lots")


def test_weights_round_trip_and_are_checked(tmp_path):
    from nodecat.executor.build.weights import load_weights, save_weights
    checked = api.validate(graph_from_document(MLP))
    module = api.build(checked, device="cpu")
    path = tmp_path / "w.safetensors"
    save_weights(module, path)
    other = api.build(checked, device="cpu", weights=path)
    for key, value in module.state_dict().items():
        torch.testing.assert_close(other.state_dict()[key], value, rtol=0, atol=0)
    bad = copy.deepcopy(MLP)
    bad["nodes"][6]["args"]["out_features"] = 5
    with pytest.raises(GraphError) as caught:
        api.build(api.validate(graph_from_document(bad)), device="cpu", weights=path)
    assert caught.value.code == "bad_weights" and "head.weight (10, 64) (expected (5, 64))" in str(caught.value)
    (tmp_path / "junk.safetensors").write_bytes(b"not a weights file")
    with pytest.raises(GraphError) as caught:
        load_weights(module, tmp_path / "junk.safetensors")
    assert caught.value.code == "bad_weights"


def test_keras_graph_builds_a_functional_model_and_weights_round_trip(tmp_path):
    import keras

    from nodecat.executor.build.weights import save_weights
    checked = api.validate("examples/keras_merge.json")
    assert checked.backend == "keras"
    model = api.build(checked, device="cpu")
    assert isinstance(model, keras.Model)
    assert [layer.name for layer in model.layers if layer.weights][:1] == ["deep1"]
    path = tmp_path / "w.safetensors"
    save_weights(model, path)
    again = api.build(checked, device="cpu", weights=path)
    x = np.random.default_rng(0).normal(size=(4, 16)).astype("float32")
    np.testing.assert_array_equal(api.run(checked, {"features": x}, model=model)["logits"],
                                  api.run(checked, {"features": x}, model=again)["logits"])


def test_function_ports_bind_by_name_whatever_their_place_in_the_signature():
    graph = _graph(
        [{"id": "x", "op": "input", "args": {"shape": [3, 4]}},
         {"id": "rows", "op": "constant", "args": {"value": [2, 0], "dtype": "int64"}},
         {"id": "pick", "op": "torch.index_select", "args": {"dim": 0}},
         {"id": "flat", "op": "torch.nn.functional.max_pool1d", "args": {"kernel_size": 2}}],
        [_edge("x", "pick", "input"), _edge("rows", "pick", "index"), _edge("pick", "flat", "input")],
        [{"name": "picked", "node": "pick"}, {"name": "pooled", "node": "flat"}])
    x = np.arange(12, dtype="float32").reshape(3, 4)
    out = api.run(graph, {"x": x}, device="cpu")
    np.testing.assert_array_equal(out["picked"], x[[2, 0]])
    np.testing.assert_array_equal(out["pooled"], x[[2, 0]].reshape(2, 2, 2).max(axis=2))


def test_variadic_positional_port_is_spread_after_leading_literals():
    graph = _graph(
        [{"id": "a", "op": "input", "args": {"shape": [2, 3]}}, {"id": "b", "op": "input", "args": {"shape": [3, 4]}},
         {"id": "product", "op": "keras.ops.einsum", "args": {"subscripts": "ij,jk->ik"}}],
        [_edge("a", "product", "operands"), _edge("b", "product", "operands")],
        [{"name": "y", "node": "product"}], catalogs={"keras": "3.15.1"})
    a = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    b = np.random.default_rng(1).normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(api.run(graph, {"a": a, "b": b}, device="cpu")["y"], a @ b, rtol=1e-5)


def test_run_never_changes_the_callers_arrays():
    graph = _graph(
        [{"id": "x", "op": "input", "args": {"shape": [None, 4]}},
         {"id": "act", "op": "torch.nn.ReLU", "args": {"inplace": True}}],
        [_edge("x", "act")], [{"name": "y", "node": "act"}])
    x = np.array([[-1, 2, -3, 4]], dtype="float32")
    out = api.run(graph, {"x": x}, device="cpu")
    np.testing.assert_array_equal(x, [[-1, 2, -3, 4]])
    np.testing.assert_array_equal(out["y"], [[0, 2, 0, 4]])


def test_a_torch_graph_does_not_import_keras():
    import subprocess
    import sys
    code = ("import sys, numpy as np; from nodecat.executor import api; "
            "api.run('examples/mlp.json', {'x': np.ones((1, 64), 'float32')}, device='cpu'); "
            "print('keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_submodules_stay_owned_by_the_module_when_replaced_or_deleted():
    module = api.build(api.validate(graph_from_document(MLP)), device="cpu")
    assert module.__dict__["fc1"] is module._modules["fc1"]
    replacement = torch.nn.Linear(64, 128)
    module.fc1 = replacement
    assert module.fc1 is replacement and module.state_dict()["fc1.weight"] is not None
    assert torch.equal(module.state_dict()["fc1.weight"], replacement.weight)
    clone = copy.deepcopy(module)
    assert clone.fc1 is clone._modules["fc1"] and clone.fc1 is not module.fc1
    del module.head
    assert "head" not in module._modules and not hasattr(module, "head")


def test_edges_into_call_arguments_carry_graph_values():
    """keras.ops.take's `indices` is an argument that accepts an edge: it gets the tensor the edge carries."""
    graph = _graph(
        [{"id": "x", "op": "input", "args": {"shape": [4, 3]}},
         {"id": "rows", "op": "input", "args": {"shape": [2], "dtype": "int32"}},
         {"id": "pick", "op": "keras.ops.take", "args": {"axis": 0}},
         {"id": "scale", "op": "torch.mul", "args": {}}],
        [_edge("x", "pick", "x"), {"from": {"node": "rows", "port": "output"}, "to": {"node": "pick", "arg": "indices"}},
         _edge("pick", "scale", "input"), _edge("pick", "scale", "other")],
        [{"name": "y", "node": "scale"}], catalogs={"torch": "2.13.0", "keras": "3.15.1"})
    checked = api.validate(graph)
    report = infer_shapes(checked)
    assert next(n for n in report.nodes if n.id == "pick").outputs["output"].shape == (2, 3)
    x = np.arange(12, dtype="float32").reshape(4, 3)
    out = api.run(checked, {"x": x, "rows": np.array([3, 1], dtype="int32")}, device="cpu")
    np.testing.assert_array_equal(out["y"], x[[3, 1]] ** 2)


def test_constructor_argument_takes_a_constant_edge_but_not_a_computed_value():
    nodes = [{"id": "x", "op": "input", "args": {"shape": [2, 3]}},
             {"id": "target", "op": "input", "args": {"shape": [2], "dtype": "int64"}},
             {"id": "weights", "op": "constant", "args": {"value": [1.0, 2.0, 3.0]}},
             {"id": "loss", "op": "torch.nn.CrossEntropyLoss"}]
    edges = [_edge("x", "loss", "input"), _edge("target", "loss", "target")]
    weighted = _graph(nodes, edges + [{"from": {"node": "weights", "port": "output"},
                                       "to": {"node": "loss", "arg": "weight"}}], [{"name": "y", "node": "loss"}])
    x = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    target = np.array([2, 0])
    expected = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 3.0]))(torch.from_numpy(x), torch.from_numpy(target))
    out = api.run(weighted, {"x": x, "target": target}, device="cpu")
    np.testing.assert_allclose(out["y"], expected.numpy(), rtol=1e-6)
    computed = _graph(nodes, edges + [{"from": {"node": "x", "port": "output"}, "to": {"node": "loss", "arg": "weight"}}],
                      [{"name": "y", "node": "loss"}])
    with pytest.raises(GraphError) as caught:
        api.validate(computed)
    assert caught.value.code == "arg_not_edge" and caught.value.pointer == "/edges/2/to/arg"


def test_an_input_named_like_a_global_of_the_generated_forward_still_runs():
    """torch.fx keeps a placeholder's name, so an input called `torch` would shadow the module."""
    document = {"format": "nodecat-graph/1", "catalogs": {"torch": torch.__version__.split("+")[0]},
                "nodes": [{"id": "torch", "op": "input", "args": {"shape": [None, 2]}},
                          {"id": "m", "op": "torch.mul"}, {"id": "operator", "op": "torch.nn.functional.relu"}],
                "edges": [{"from": {"node": "torch", "port": "output"}, "to": {"node": "m", "port": "input"}},
                          {"from": {"node": "torch", "port": "output"}, "to": {"node": "m", "port": "other"}},
                          {"from": {"node": "m", "port": "output"}, "to": {"node": "operator", "port": "input"}}],
                "outputs": [{"name": "y", "node": "operator", "port": "output"}]}
    out = api.run(graph_from_document(document), {"torch": np.array([[1.0, -2.0]], dtype=np.float32)}, device="cpu")
    assert out["y"].tolist() == [[1.0, 4.0]]
