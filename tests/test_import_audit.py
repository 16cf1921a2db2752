"""Nothing outside the catalog is imported or called, whatever op name or argument value a graph holds.

One subprocess (its own interpreter, so the audit hook and the patched os.system stay there) imports torch
and Keras, checks that a few stdlib modules nothing needs are absent, installs `sys.addaudithook`, replaces
`os.system` by a function that writes a marker file, then validates (and, where validation passes, builds
and runs) graphs whose ops are hostile dotted paths, and graphs whose string arguments name modules.

Positive controls in the same process show the harness can see what it looks for: examples/mlp.json
validates, builds and runs, and its build imports a module for the first time (the hook records it); an
explicit `import smtplib` at the end is recorded; an explicit os.system call at the end writes the marker.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Stdlib modules that neither torch nor Keras imports: an import of one of them could only come from a graph.
WATCHED = ["smtplib", "antigravity", "this", "xmlrpc.client", "webbrowser", "ftplib", "poplib", "imaplib",
           "turtle", "nntplib", "telnetlib"]
HOSTILE_OPS = ["os.system", "builtins.eval", "torch.os.system", "subprocess.run", "keras.layers.Lambda",
               "torch.nn.modules.module.Module.__init__", "torch.load", "importlib.import_module", "smtplib.SMTP",
               "antigravity.geohash", "this.s", "xmlrpc.client.ServerProxy", "webbrowser.open", "builtins.__import__",
               "torch.hub.load", "keras.saving.load_model", "keras.layers.TFSMLayer", "torch.nn.Module",
               "torch.nn.Linear.__init__", "torch.nn.Linear.__class__.__subclasses__", "torch.__builtins__",
               "keras.src.utils.module_utils.tensorflow", "input.__class__", "constant.__init__"]
EXPECTED_CODES = {"unknown_op", "excluded_op"}

SCRIPT = r'''
import json, os, sys
os.environ.setdefault("KERAS_BACKEND", "torch")
marker, result_path, watched, hostile = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])

import numpy as np
import torch, keras  # what a build imports anyway: their imports are not what this test is about
import nodecat.executor.build.run as api
from nodecat.executor.graph.errors import GraphError
from nodecat.executor.graph.load import load_graph, graph_from_document
from nodecat.executor.graph.catalogs import installed_version


def fake_system(command):
    with open(marker, "a", encoding="utf-8") as handle:
        handle.write(f"os.system({command!r})\n")
    return 0
os.system = fake_system

DANGEROUS = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "subprocess.Popen",
             "socket.connect", "socket.getaddrinfo", "smtplib.connect", "webbrowser.open", "ftplib.connect",
             "pickle.find_class", "urllib.Request", "http.client.connect")
phase = ["setup"]
events = []
def hook(event, args):
    if event == "import":
        events.append([phase[0], "import", str(args[0])])
    elif event.startswith(DANGEROUS):
        events.append([phase[0], event, repr(args)[:200]])
TORCH, KERAS = installed_version("torch"), installed_version("keras")
BOTH = {"torch": TORCH, "keras": KERAS}
api.validate(graph_from_document({"format": "nodecat-graph/1", "catalogs": BOTH, "edges": [],
                                  "nodes": [{"id": "x", "op": "input", "args": {"shape": [1]}}],
                                  "outputs": [{"name": "y", "node": "x"}]}))
result = {"absent_before": {m: m not in sys.modules for m in watched},
          "torch_build_imported_before": "nodecat.executor.build.torch_build" in sys.modules, "graphs": {}}
sys.addaudithook(hook)  # after the catalogs are loaded: from here on, validation has nothing left to import


def graph(nodes, edges, output):
    return {"format": "nodecat-graph/1", "catalogs": BOTH, "nodes": nodes, "edges": edges,
            "outputs": [{"name": "y", "node": output}]}

def x_input(shape):
    return {"id": "x", "op": "input", "args": {"shape": shape}}

def into(target, port="input"):
    return {"from": {"node": "x", "port": "output"}, "to": {"node": target, "port": port}}

def attempt(name, document=None, path=None):
    phase[0] = name
    record = {"problems": None, "build": None, "run": None}
    result["graphs"][name] = record
    try:
        checked = api.validate(load_graph(path) if path else graph_from_document(document))
    except GraphError as error:
        record["problems"] = [[p.code, p.node, p.pointer] for p in error.problems]
        return
    except Exception as error:
        record["problems"] = [["CRASH", type(error).__name__, str(error)[:300]]]
        return
    for step in ("build", "run"):
        try:
            if step == "build":
                model = api.build(checked, device="cpu")
            else:
                inputs = {n.id: np.zeros([1 if d is None else d for d in n.args["shape"]], dtype="float32")
                          for n in checked.inputs}
                api.run(checked, inputs, device="cpu", model=model)
            record[step] = "ok"
        except GraphError as error:
            record[step] = error.code
            return
        except Exception as error:
            record[step] = "CRASH " + type(error).__name__ + ": " + str(error)[:300]
            return

# 1. each hostile op alone, applied to an input; then all of them in one graph
for index, op in enumerate(hostile):
    attempt(f"op:{op}", graph([x_input([None, 4]), {"id": "bad", "op": op}], [into("bad")],
                              "bad"))
attempt("all-ops", graph([x_input([None, 4])] + [{"id": f"bad{i}", "op": op} for i, op in enumerate(hostile)],
                         [into(f"bad{i}") for i in range(len(hostile))], "bad0"))

# 2. the positive control: a real graph validates, builds (importing nodecat.executor.build.torch_build) and runs
attempt("control:mlp", path="examples/mlp.json")

# 3. hostile strings in argument values that validation accepts (free-form strings): built and run
attempt("arg:rnn-nonlinearity", graph(
    [x_input([None, 3, 4]), {"id": "rnn", "op": "torch.nn.RNN",
                             "args": {"input_size": 4, "hidden_size": 2, "nonlinearity": "os.system"}}],
    [into("rnn")], "rnn"))
attempt("arg:upsample-mode", graph(
    [x_input([None, 2, 4]), {"id": "up", "op": "torch.nn.Upsample",
                             "args": {"scale_factor": 2, "mode": "smtplib.SMTP"}}], [into("up")], "up"))
attempt("arg:gelu-approximate", graph(
    [x_input([None, 4]), {"id": "act", "op": "torch.nn.functional.gelu", "args": {"approximate": "antigravity"}}],
    [into("act")], "act"))
attempt("arg:einsum-equation", graph(
    [x_input([None, 4]), {"id": "ein", "op": "torch.einsum", "args": {"equation": "__import__('this')"}}],
    [into("ein", "operands")], "ein"))

# 4. controls of the harness itself
phase[0] = "control:import"
import smtplib  # noqa: F401  (the hook must see this one)
result["marker_before_control"] = os.path.exists(marker)
phase[0] = "control:system"
os.system("control")
phase[0] = "done"
result["events"] = events
with open(result_path, "w", encoding="utf-8") as handle:
    json.dump(result, handle)
'''


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    where = tmp_path_factory.mktemp("audit")
    marker, result_path = where / "os_system_called.txt", where / "result.json"
    env = {**os.environ, "KERAS_BACKEND": "torch",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(marker), str(result_path), json.dumps(WATCHED),
                           json.dumps(HOSTILE_OPS)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(result_path.read_text(encoding="utf-8"))
    result["marker"] = marker.read_text(encoding="utf-8") if marker.exists() else None
    return result


def _events(audit: dict[str, Any], phase_prefix: str, kind: str | None = None) -> list[list[str]]:
    return [e for e in audit["events"] if e[0].startswith(phase_prefix) and (kind is None or e[1] == kind)]


def test_watched_modules_are_absent_before_any_graph(audit: dict[str, Any]) -> None:
    assert audit["absent_before"] == {m: True for m in WATCHED}


@pytest.mark.parametrize("op", HOSTILE_OPS)
def test_hostile_op_is_refused_by_validation(audit: dict[str, Any], op: str) -> None:
    record = audit["graphs"][f"op:{op}"]
    assert record["problems"] is not None, f"{op} passed validation: {record}"
    at_op = [p for p in record["problems"] if p[2] == "/nodes/1/op"]
    assert len(at_op) == 1 and at_op[0][0] in EXPECTED_CODES and at_op[0][1] == "bad", record["problems"]
    assert record["build"] is None and record["run"] is None


def test_all_hostile_ops_in_one_graph_are_each_refused(audit: dict[str, Any]) -> None:
    problems = audit["graphs"]["all-ops"]["problems"]
    at_op = {p[2]: (p[0], p[1]) for p in problems if p[2].endswith("/op")}
    assert at_op == {f"/nodes/{i + 1}/op": (at_op[f"/nodes/{i + 1}/op"][0], f"bad{i}") for i in range(len(HOSTILE_OPS))}
    assert {code for code, _ in at_op.values()} <= EXPECTED_CODES
    excluded = {HOSTILE_OPS[int(p.split("/")[2]) - 1] for p, (code, _) in at_op.items() if code == "excluded_op"}
    assert {"keras.layers.Lambda", "torch.nn.Module"} <= excluded


def test_no_hostile_module_is_imported(audit: dict[str, Any]) -> None:
    hostile_phases = [e for e in audit["events"] if e[0].startswith(("op:", "all-ops", "arg:")) and e[1] == "import"]
    imported = {e[2] for e in hostile_phases}
    assert not imported & set(WATCHED), imported & set(WATCHED)
    roots = {op.rsplit(".", 1)[0] for op in HOSTILE_OPS} | {op for op in HOSTILE_OPS}
    assert not imported & roots, imported & roots


def test_validating_hostile_ops_imports_nothing_at_all(audit: dict[str, Any]) -> None:
    """With the catalogs loaded (before the hook), validation reads data only: not one import."""
    assert _events(audit, "op:", "import") + _events(audit, "all-ops", "import") == []


def test_nothing_is_run_as_a_process_or_reaches_the_network(audit: dict[str, Any]) -> None:
    risky = [e for e in audit["events"] if e[1] != "import" and not e[0].startswith("control:")]
    assert risky == []


def test_os_system_is_never_called_by_a_graph(audit: dict[str, Any]) -> None:
    assert audit["marker_before_control"] is False
    assert audit["marker"] == "os.system('control')\n", "the only call is the harness's own control call"


@pytest.mark.parametrize("name", ["arg:rnn-nonlinearity", "arg:upsample-mode", "arg:gelu-approximate",
                                  "arg:einsum-equation"])
def test_hostile_argument_strings_are_refused_by_the_library(audit: dict[str, Any], name: str) -> None:
    """Free-form string arguments pass validation; building (on meta first) or running then fails inside the
    library call, which comes back as a GraphError naming the node (never a crash), and imports nothing
    (test_no_hostile_module_is_imported)."""
    record = audit["graphs"][name]
    assert record["problems"] is None, record
    outcome = record["run"] if record["build"] == "ok" else record["build"]
    assert outcome in ("node_failed", "shape_mismatch"), record


def test_positive_control_builds_and_runs(audit: dict[str, Any]) -> None:
    assert audit["graphs"]["control:mlp"] == {"problems": None, "build": "ok", "run": "ok"}


def test_positive_control_hook_sees_first_imports(audit: dict[str, Any]) -> None:
    """The hook is live: the control build's first import of the torch builder is recorded, and so is the
    harness's own `import smtplib` at the end."""
    assert audit["torch_build_imported_before"] is False
    assert "nodecat.executor.build.torch_build" in {e[2] for e in _events(audit, "control:mlp", "import")}
    assert ["control:import", "import", "smtplib"] in audit["events"]


TORCH_ONLY_SCRIPT = r'''
import json, sys
import nodecat.executor.build.run as api
import torch
model = api.build("examples/mlp.json", device="cpu")
print(json.dumps({"module": isinstance(model, torch.fx.GraphModule), "keras_imported": "keras" in sys.modules}))
'''


def test_a_torch_only_graph_builds_without_importing_keras() -> None:
    """Building (shape inference on meta included) a torch graph through the Python API needs no Keras, so it
    works without KERAS_BACKEND (which only the CLI sets; unset, Keras would pick TensorFlow)."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", TORCH_ONLY_SCRIPT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"module": True, "keras_imported": False}
