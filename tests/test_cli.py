"""The `nodecat catalog` command line contract (issue 2), driven in-process with click's CliRunner.

Commands read the committed catalog of the installed torch unless a test hands them another
catalog file (written to tmp_path): through `--catalog` where the command has it, otherwise by
pointing `nodecat.introspector.build.catalog_path_for` at the file.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import nodecat.introspector.build
from helpers import make_untyped, node_index, schema_validator
from nodecat.executor.cli.main import main
from nodecat.introspector.overrides import load_overrides
from nodecat.introspector.review import TYPE_CHOICES

SUBCOMMANDS = ["build", "list", "show", "validate", "stats", "review", "diff", "export"]


# --- help -----------------------------------------------------------------------------------

def test_catalog_group_lists_every_subcommand(invoke) -> None:
    result = invoke("catalog", "--help")
    assert result.exit_code == 0
    for name in SUBCOMMANDS:
        assert f"  {name} " in result.output
    assert sorted(main.commands["catalog"].commands) == sorted(SUBCOMMANDS)


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(invoke, name: str) -> None:
    result = invoke("catalog", name, "--help")
    assert result.exit_code == 0, result.output
    assert f"catalog {name}" in result.output.splitlines()[0]
    command = main.commands["catalog"].commands[name]
    first_sentence = " ".join(command.help.split(".")[0].split())
    assert first_sentence and first_sentence in " ".join(result.output.split())


# --- list and show --------------------------------------------------------------------------

def test_list_json_items(invoke, committed_doc: dict[str, Any]) -> None:
    result = invoke("catalog", "list", "torch", "--json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert [i["id"] for i in items] == sorted(n["id"] for n in committed_doc["nodes"])
    for item in items:
        assert {"id", "kind", "category", "aliases"} <= set(item)
        assert isinstance(item["aliases"], list)
    conv2d = next(i for i in items if i["id"] == "torch.conv2d")
    assert conv2d["aliases"] == ["torch.nn.functional.conv2d"] and conv2d["kind"] == "function"


def test_list_filters_by_category(invoke) -> None:
    everything = json.loads(invoke("catalog", "list", "torch", "--json").stdout)
    losses = json.loads(invoke("catalog", "list", "torch", "--category", "loss", "--json").stdout)
    assert losses and len(losses) < len(everything)
    assert all(i["category"] == "loss" or i["category"].startswith("loss/") for i in losses)
    assert "torch.nn.CrossEntropyLoss" in {i["id"] for i in losses}
    expected = {i["id"] for i in everything if i["category"] == "loss" or i["category"].startswith("loss/")}
    assert {i["id"] for i in losses} == expected


def test_list_text(invoke) -> None:
    result = invoke("catalog", "list", "torch", "--category", "loss")
    assert result.exit_code == 0
    assert any(line.startswith("torch.nn.CrossEntropyLoss ") and "loss" in line for line in result.output.splitlines())


def test_show_json_is_a_valid_node_descriptor(invoke) -> None:
    result = invoke("catalog", "show", "torch.nn.Conv2d", "--json")
    assert result.exit_code == 0, result.output
    node = json.loads(result.stdout)
    errors = [e.message for e in schema_validator("node").iter_errors(node)]
    assert errors == []
    assert node["id"] == "torch.nn.Conv2d" and node["kind"] == "layer"
    assert {"in_channels", "out_channels", "kernel_size"} <= {a["name"] for a in node["args"]}


def test_show_text(invoke) -> None:
    result = invoke("catalog", "show", "torch.nn.Conv2d")
    assert result.exit_code == 0
    assert result.output.startswith("torch.nn.Conv2d  [layer, convolution,")
    assert "  kernel_size" in result.output


def test_show_unknown_node_exits_2(invoke) -> None:
    result = invoke("catalog", "show", "torch.nn.Conv4d")
    assert result.exit_code == 2
    assert "no node or alias 'torch.nn.Conv4d'" in result.stderr
    assert "Traceback" not in result.output


# --- stats ----------------------------------------------------------------------------------

def test_stats_json(invoke, committed_doc: dict[str, Any]) -> None:
    result = invoke("catalog", "stats", "torch", "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["torch"]
    keys = ["nodes", "args", "args_typed", "args_typed_auto", "args_needs_review", "overrides", "stale_overrides"]
    for key in keys:
        assert type(stats[key]) is int, key
    assert stats["nodes"] == len(committed_doc["nodes"])
    assert stats["args"] == sum(len(n["args"]) for n in committed_doc["nodes"])
    assert stats["args_typed_auto"] <= stats["args_typed"] <= stats["args"]
    assert stats["args_needs_review"] == stats["args"] - stats["args_typed"]
    assert all(type(v) is int for v in stats["by_kind"].values())
    assert sum(stats["by_kind"].values()) == stats["nodes"]
    assert stats["by_kind"]["layer"] > 0 and stats["by_kind"]["loss"] > 0


# --- diff -----------------------------------------------------------------------------------

def test_diff_reports_exactly_the_changes(tmp_path: Path, committed_path: Path, committed_doc: dict[str, Any],
                                          invoke) -> None:
    new = copy.deepcopy(committed_doc)
    nodes = new["nodes"]
    del nodes[node_index(new, "torch.nn.Hardswish")]
    linear = nodes[node_index(new, "torch.nn.Linear")]
    linear["args"].append({"name": "scale", "stage": "init", "required": False, "source": "default",
                           "default": 1.0, "schema": {"type": "number"}})
    p = next(a for a in nodes[node_index(new, "torch.nn.Dropout")]["args"] if a["name"] == "p")
    old_p_default = p["default"]
    p["default"] = 0.25
    relu = nodes[node_index(new, "torch.nn.ReLU")]
    old_call = copy.deepcopy(relu["call"])
    relu["call"]["copy"] = True
    in_channels = next(a for a in nodes[node_index(new, "torch.nn.Conv2d")]["args"] if a["name"] == "in_channels")
    old_schema = copy.deepcopy(in_channels["schema"])
    in_channels["schema"] = {"type": "integer", "minimum": 7}
    changed = tmp_path / "next.json"
    changed.write_text(json.dumps(new), encoding="utf-8")

    result = invoke("catalog", "diff", str(committed_path), str(changed), "--json")
    assert result.exit_code == 0, result.output
    diff = json.loads(result.stdout)
    assert diff["nodes_added"] == []
    assert diff["nodes_removed"] == ["torch.nn.Hardswish"]
    assert diff["nodes_changed"] == {
        "torch.nn.Conv2d": {"args_changed": {"in_channels": {"schema": {"old": old_schema,
                                                                        "new": {"type": "integer", "minimum": 7}}}}},
        "torch.nn.Dropout": {"args_changed": {"p": {"default": {"old": old_p_default, "new": 0.25}}}},
        "torch.nn.Linear": {"args_added": ["scale"]},
        "torch.nn.ReLU": {"call": {"old": old_call, "new": {**old_call, "copy": True}}},
    }

    text = invoke("catalog", "diff", str(committed_path), str(changed)).output
    assert "- torch.nn.Hardswish" in text
    assert "    + arg scale" in text
    assert f"    ~ arg p.default: {old_p_default!r} -> 0.25" in text


def test_diff_of_a_catalog_with_itself_is_empty(committed_path: Path, invoke) -> None:
    result = invoke("catalog", "diff", str(committed_path), str(committed_path), "--json")
    diff = json.loads(result.stdout)
    assert (diff["nodes_added"], diff["nodes_removed"], diff["nodes_changed"]) == ([], [], {})
    assert invoke("catalog", "diff", str(committed_path), str(committed_path)).output.rstrip().endswith("no changes")


# --- export --format seed -------------------------------------------------------------------

SEED_KEYS = {"name", "package", "itype", "otype", "instance", "apply", "copy", "conns", "args"}


def test_export_seed_format(invoke, committed_doc: dict[str, Any]) -> None:
    result = invoke("catalog", "export", "torch", "--format", "seed")
    assert result.exit_code == 0, result.output
    seed = json.loads(result.stdout)
    assert isinstance(seed, list) and len(seed) == len(committed_doc["nodes"])
    by_package = {s["package"]: s for s in seed}
    nodes = {n["id"]: n for n in committed_doc["nodes"]}
    for entry in seed:
        assert set(entry) == SEED_KEYS, entry["package"]
        visible = [a for a in nodes[entry["package"]]["args"] if not a.get("hidden")]
        assert [a["arg"] for a in entry["args"]] == [a["name"] for a in visible]
        for exported, arg in zip(entry["args"], visible):
            assert {"arg", "itype", "required"} <= set(exported) <= {"arg", "itype", "required", "default"}
            assert exported["required"] == arg["required"]
            assert ("default" in exported) == ("default" in arg)
            if "default" in arg:
                assert exported["default"] == arg["default"]
    conv = by_package["torch.nn.Conv2d"]
    assert (conv["name"], conv["instance"], conv["apply"], conv["copy"], conv["conns"], conv["itype"]) == \
        ("Conv2d", True, True, False, 1, "Tensor")
    assert "device" not in [a["arg"] for a in conv["args"]]  # hidden: set by the executor
    assert by_package["torch.cat"]["conns"] == -1 and by_package["torch.cat"]["instance"] is False
    assert by_package["torch.relu_"]["copy"] is True
    assert by_package["torch.nn.ReLU"]["copy"] is False  # inplace defaults off


def test_export_untyped_argument_as_nosupport(invoke, committed_doc: dict[str, Any], use_catalog) -> None:
    use_catalog(make_untyped(committed_doc, "torch.nn.Linear", "in_features", "test: untyped on purpose"))
    seed = json.loads(invoke("catalog", "export", "torch", "--format", "seed").stdout)
    linear = next(s for s in seed if s["package"] == "torch.nn.Linear")
    in_features = next(a for a in linear["args"] if a["arg"] == "in_features")
    assert in_features == {"arg": "in_features", "itype": "nosupport", "required": True}
    assert all(a["itype"] != "nosupport" for a in linear["args"] if a["arg"] != "in_features")


def test_export_to_a_file(tmp_path: Path, invoke) -> None:
    out = tmp_path / "seed.json"
    result = invoke("catalog", "export", "torch", "--format", "seed", "-o", str(out))
    assert result.exit_code == 0
    assert out.read_text(encoding="utf-8") == invoke("catalog", "export", "torch", "--format", "seed").stdout


def test_export_needs_a_format(invoke) -> None:
    assert invoke("catalog", "export", "torch").exit_code == 2


# --- review ---------------------------------------------------------------------------------

@pytest.fixture
def review_catalog(tmp_path: Path, committed_doc: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """A catalog where Hardswish, Conv2d and Linear (in that order in the file) need review."""
    doc = make_untyped(committed_doc, "torch.nn.Hardswish", "inplace", "test: untyped on purpose")
    doc = make_untyped(doc, "torch.nn.Conv2d", "in_channels", "test: untyped on purpose")
    doc = make_untyped(doc, "torch.nn.Linear", "in_features", "test: untyped on purpose")
    path = tmp_path / "review-catalog.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path, doc


def test_review_json_lists_needs_review_most_used_first(invoke, review_catalog) -> None:
    path, doc = review_catalog
    result = invoke("catalog", "review", "torch", "--json", "--catalog", str(path))
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert {i["node"] for i in items} == {n["id"] for n in doc["nodes"] if n["review"] == "needs-review"}
    ranks = [i["rank"] for i in items]
    assert ranks == sorted(ranks)
    assert [i["node"] for i in items[:2]] == ["torch.nn.Linear", "torch.nn.Conv2d"]
    assert items[0]["args"] == [{"name": "in_features", "reason": "test: untyped on purpose"}]
    assert ranks.index(items[[i["node"] for i in items].index("torch.nn.Hardswish")]["rank"]) >= 2


def test_review_of_the_committed_catalog(invoke, committed_doc: dict[str, Any]) -> None:
    items = json.loads(invoke("catalog", "review", "torch", "--json").stdout)
    assert {i["node"] for i in items} == {n["id"] for n in committed_doc["nodes"] if n["review"] == "needs-review"}
    assert [i["rank"] for i in items] == sorted(i["rank"] for i in items)


def test_interactive_review_writes_an_override_entry(tmp_path: Path, invoke, review_catalog) -> None:
    catalog_path, _ = review_catalog
    overrides_path = tmp_path / "overrides" / "torch.json"
    answers = "positive-integer\nfeature counts are positive integers\nskip\nquit\n"
    result = invoke("catalog", "review", "torch", "--interactive", "--catalog", str(catalog_path),
                    "--overrides", str(overrides_path), input=answers)
    assert result.exit_code == 0, result.output
    assert "wrote 1 override entry" in result.output

    document = json.loads(overrides_path.read_text(encoding="utf-8"))
    assert list(schema_validator("overrides").iter_errors(document)) == []
    assert document["overrides"] == [{"target": "torch.nn.Linear", "arg": "in_features",
                                      "set": {"schema": TYPE_CHOICES["positive-integer"]},
                                      "why": "feature counts are positive integers"}]
    assert len(load_overrides(overrides_path, "torch").entries) == 1


def test_interactive_review_keeps_existing_entries(tmp_path: Path, invoke, review_catalog) -> None:
    catalog_path, _ = review_catalog
    overrides_path = tmp_path / "torch.json"
    existing = {"target": "torch.nn.Dropout", "arg": "p", "set": {"schema": {"type": "number", "minimum": 0}},
                "why": "a probability is not negative"}
    overrides_path.write_text(json.dumps({"format": "nodecat-overrides/1", "library": "torch",
                                          "overrides": [existing]}), encoding="utf-8")
    answers = "skip\nenum\n3, 5\nonly odd kernels in this project\nquit\n"
    result = invoke("catalog", "review", "torch", "--interactive", "--catalog", str(catalog_path),
                    "--overrides", str(overrides_path), input=answers)
    assert result.exit_code == 0, result.output
    entries = json.loads(overrides_path.read_text(encoding="utf-8"))["overrides"]
    assert entries[0] == existing
    assert entries[1] == {"target": "torch.nn.Conv2d", "arg": "in_channels", "set": {"schema": {"enum": ["3", "5"]}},
                          "why": "only odd kernels in this project"}


# --- no catalog for the installed version ---------------------------------------------------

@pytest.fixture
def unknown_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Pretend torch 9.9.9 is installed, with an empty user cache."""
    monkeypatch.setattr(nodecat.introspector.build, "installed_version", lambda library: "9.9.9")
    monkeypatch.setenv("NODECAT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("args", [["list", "torch"], ["show", "torch.nn.Conv2d"], ["review", "torch"],
                                  ["export", "torch", "--format", "seed"], ["stats", "torch"]],
                         ids=["list", "show", "review", "export", "stats"])
def test_missing_catalog_says_how_to_build_one(invoke, unknown_version: Path, args: list[str]) -> None:
    result = invoke("catalog", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "no catalog for torch 9.9.9" in result.stderr
    assert "nodecat catalog build" in result.stderr


def test_missing_catalog_json_error(invoke, unknown_version: Path) -> None:
    result = invoke("catalog", "list", "torch", "--json")
    assert result.exit_code == 2
    (error,) = json.loads(result.stdout)["errors"]
    assert error["code"] == "no_catalog" and "nodecat catalog build torch" in error["hint"]


def test_catalog_in_the_user_cache_is_used(invoke, unknown_version: Path, committed_path: Path) -> None:
    cached = unknown_version / "catalogs" / "torch-9.9.9.json"
    cached.parent.mkdir(parents=True)
    cached.write_text(committed_path.read_text(encoding="utf-8"), encoding="utf-8")
    result = invoke("catalog", "show", "torch.nn.Conv2d", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == "torch.nn.Conv2d"
