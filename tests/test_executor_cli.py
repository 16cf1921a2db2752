"""The graph commands of the CLI: check, run, profile, draw; their JSON and exit codes."""
from __future__ import annotations

import copy
import json

import numpy as np
from click.testing import CliRunner

from nodecat.executor.cli.main import main

MLP = json.loads(open("examples/mlp.json", encoding="utf-8").read())


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _write(tmp_path, document, name="graph.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def test_check_valid_graph_exits_0_with_shapes_per_node_and_port():
    result = _invoke("check", "examples/mlp.json", "--json", "--batch", "8")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and report["errors"] == []
    assert report["shapes"]["fc1"]["output"] == {"shape": [8, 128], "dtype": "float32"}
    assert report["shapes"]["head"]["output"]["shape"] == [8, 10]
    assert report["total"]["params"] == 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10


def test_check_text_output_names_outputs():
    result = _invoke("check", "examples/mlp.json")
    assert result.exit_code == 0
    assert "ok:" in result.output and "logits (1, 10)" in result.output


def test_check_invalid_graph_exits_1_with_every_error(tmp_path):
    bad = copy.deepcopy(MLP)
    bad["nodes"][1]["args"]["in_features"] = "sixty-four"
    bad["nodes"][2]["op"] = "os.system"
    bad["edges"].append({"from": {"node": "head", "port": "output"}, "to": {"node": "ghost", "port": "input"}})
    result = _invoke("check", _write(tmp_path, bad), "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    found = {(e["code"], e["node"], e["pointer"]) for e in report["errors"]}
    assert ("bad_arg_value", "fc1", "/nodes/1/args/in_features") in found
    assert ("unknown_op", "act1", "/nodes/2/op") in found
    assert ("dangling_edge", "ghost", "/edges/6/to/node") in found
    assert all(set(e) == {"code", "message", "node", "pointer", "hint"} for e in report["errors"])


def test_check_text_errors_go_to_stderr_with_code_and_pointer(tmp_path):
    bad = copy.deepcopy(MLP)
    bad["nodes"][1]["args"]["in_features"] = 0.5
    result = CliRunner().invoke(main, ["check", _write(tmp_path, bad)])
    assert result.exit_code == 1
    assert "error [bad_arg_value] node 'fc1' at /nodes/1/args/in_features" in result.stderr


def test_check_shape_error_exits_1(tmp_path):
    bad = copy.deepcopy(MLP)
    bad["nodes"][6]["args"]["in_features"] = 65
    result = _invoke("check", _write(tmp_path, bad), "--json")
    assert result.exit_code == 1
    error = json.loads(result.output)["errors"][0]
    assert error["code"] == "shape_mismatch" and error["node"] == "head" and "(1, 64)" in error["message"]


def test_check_budget_option(tmp_path):
    result = _invoke("check", "examples/mlp.json", "--budget", "1KiB", "--json")
    assert result.exit_code == 1 and json.loads(result.output)["errors"][0]["code"] == "budget_exceeded"
    assert _invoke("check", "examples/mlp.json", "--budget", "none").exit_code == 0
    assert CliRunner().invoke(main, ["check", "examples/mlp.json", "--budget", "lots"]).exit_code == 2


def test_missing_graph_file_is_a_usage_error():
    result = CliRunner().invoke(main, ["check", "no/such/graph.json"])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_malformed_json_exits_1(tmp_path):
    path = tmp_path / "g.json"
    path.write_text('{"format": "nodecat-graph/1", "format": 2}', encoding="utf-8")
    result = _invoke("check", str(path), "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["errors"][0]["code"] == "bad_json"


def test_run_writes_each_output_and_reuses_saved_weights(tmp_path):
    x = np.random.default_rng(0).normal(size=(3, 64)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    first = _invoke("run", "examples/mlp.json", "--input", f"x={tmp_path / 'x.npy'}", "--out", str(tmp_path / "a"),
                    "--save-weights", str(tmp_path / "w.safetensors"), "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    assert report["device"] == "cpu" and report["outputs"]["logits"]["shape"] == [3, 10]
    second = _invoke("run", "examples/mlp.json", "--input", f"x={tmp_path / 'x.npy'}", "--out", str(tmp_path / "b"),
                     "--weights", str(tmp_path / "w.safetensors"), "--seed", "7")
    assert second.exit_code == 0 and "logits: (3, 10) float32" in second.output
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "logits.npy"), np.load(tmp_path / "b" / "logits.npy"))


def test_run_errors(tmp_path):
    np.save(tmp_path / "bad.npy", np.ones((3, 5), "float32"))
    out = str(tmp_path / "out")
    result = _invoke("run", "examples/mlp.json", "--input", f"x={tmp_path / 'bad.npy'}", "--out", out, "--json")
    assert result.exit_code == 1 and json.loads(result.output)["errors"][0]["code"] == "bad_input_value"
    result = _invoke("run", "examples/mlp.json", "--input", f"x={tmp_path / 'none.npy'}", "--out", out, "--json")
    assert result.exit_code == 1 and json.loads(result.output)["errors"][0]["code"] == "file_not_found"
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    result = _invoke("run", "examples/mlp.json", "--input", f"x={tmp_path / 'obj.npy'}", "--out", out, "--json")
    assert result.exit_code == 1 and json.loads(result.output)["errors"][0]["code"] == "bad_input_value"
    result = CliRunner().invoke(main, ["run", "examples/mlp.json", "--input", "x", "--out", out])
    assert result.exit_code == 2 and "NAME=FILE.npy" in result.output
    result = _invoke("run", "examples/mlp.json", "--out", out, "--device", "cuda:7", "--json")
    assert result.exit_code == 1 and json.loads(result.output)["errors"][0]["code"] == "device_unavailable"
    assert not (tmp_path / "out").exists(), "a failed run wrote outputs"


def test_profile_table_and_json():
    table = _invoke("profile", "examples/mlp.json", "--batch", "32")
    assert table.exit_code == 0
    lines = table.output.splitlines()
    assert lines[0].split() == ["node", "op", "output", "shape", "params", "param", "bytes", "activation", "bytes"]
    fc1 = next(line for line in lines if line.startswith("fc1 "))
    assert "torch.nn.Linear" in fc1 and "(32, 128)" in fc1 and "8,320" in fc1 and "32.5 KiB" in fc1
    assert any(line.startswith("total") and "17,226" in line for line in lines)
    report = json.loads(_invoke("profile", "examples/keras_merge.json", "--json").output)
    head = next(n for n in report["nodes"] if n["id"] == "head")
    assert head["params"] == 48 * 3 + 3 and head["param_bytes"] == 4 * head["params"]
    assert head["outputs"]["output"]["shape"] == [1, 3]  # open dimensions measured at --batch
    assert report["total"]["params"] == sum(n["params"] for n in report["nodes"])


def test_draw_writes_an_svg(tmp_path):
    import xml.etree.ElementTree as ET
    target = tmp_path / "mlp.svg"
    result = _invoke("draw", "examples/mlp.json", "-o", str(target))
    assert result.exit_code == 0 and target.exists()
    assert ET.fromstring(target.read_text(encoding="utf-8")).tag.endswith("svg")
    assert CliRunner().invoke(main, ["draw", "examples/mlp.json", "-o", str(tmp_path / "x.bmp")]).exit_code == 2


def test_graph_commands_have_help():
    for command in ("check", "run", "profile", "draw"):  # check takes GRAPH...
        result = _invoke(command, "--help")
        assert result.exit_code == 0 and "GRAPH" in result.output


def test_check_several_graphs_exits_1_when_one_is_invalid(tmp_path):
    bad = copy.deepcopy(MLP)
    bad["outputs"][0]["node"] = "nowhere"
    result = _invoke("check", "examples/mlp.json", _write(tmp_path, bad), "--json")
    assert result.exit_code == 1
    reports = json.loads(result.output)
    assert [r["ok"] for r in reports] == [True, False]
    assert reports[1]["errors"][0]["pointer"] == "/outputs/0/node"
