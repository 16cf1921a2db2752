"""The torch catalog shows what issue 2 asks: coverage, typing, canonical ids, call options, golden file.

Most tests read one fresh build (session fixture `catalog`); the golden-file tests compare it with
the committed catalogs/torch-<version>.json.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import torch
import torch.nn.functional as F

from helpers import public_nn_module_classes
from nodecat.introspector.build import build_catalog, catalog_text
from nodecat.introspector.model import Catalog

TORCH_2_13_NN_MODULES = 163


# --- coverage -------------------------------------------------------------------------------

def test_torch_nn_exports_the_expected_module_classes() -> None:
    classes = public_nn_module_classes()
    if torch.__version__.startswith("2.13."):
        assert len(classes) == TORCH_2_13_NN_MODULES
    assert "torch.nn.Conv2d" in classes and "torch.nn.RNNBase" in classes


def test_every_public_nn_module_is_a_node_or_excluded_with_a_reason(catalog: Catalog) -> None:
    excluded = {e.id: e for e in catalog.excluded}
    missing = [name for name in public_nn_module_classes()
               if catalog.find(name) is None and name not in excluded]
    assert missing == []
    for name in public_nn_module_classes():
        if name in excluded:
            assert excluded[name].reason.strip() and excluded[name].code


def test_at_least_90_percent_of_nn_modules_are_usable_nodes(catalog: Catalog) -> None:
    classes = public_nn_module_classes()
    usable = [name for name in classes if catalog.find(name) is not None]
    left_out = sorted(set(classes) - set(usable))
    print(f"\nnn.Module classes: {len(classes)}, usable nodes: {len(usable)}, left out: {left_out}")
    assert len(usable) >= 0.9 * len(classes)


def test_bases_and_wrappers_are_left_out_with_their_reason(catalog: Catalog) -> None:
    excluded = {e.id: e for e in catalog.excluded}
    assert excluded["torch.nn.RNNBase"].code == "base-class"
    assert excluded["torch.nn.DataParallel"].code == "wrapper"
    assert excluded["torch.nn.Module"].code == "base-class"
    assert catalog.find("torch.nn.RNNBase") is None


def test_cli_lists_excluded_with_reasons(invoke, committed_doc) -> None:
    result = invoke("catalog", "list", "torch", "--excluded", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.output)}
    usable = {n["id"] for n in committed_doc["nodes"]} | {a for n in committed_doc["nodes"] for a in n.get("aliases", [])}
    assert [name for name in public_nn_module_classes() if name not in usable and name not in rows] == []
    for name in ("torch.nn.RNNBase", "torch.nn.DataParallel"):
        assert rows[name]["reason"].strip()
        assert rows[name]["code"] in ("base-class", "wrapper")
    assert all(set(row) == {"id", "code", "reason"} and row["reason"] for row in rows.values())


# --- typing ---------------------------------------------------------------------------------

def _typing_report(catalog: Catalog) -> tuple[int, int, int]:
    args = [a for n in catalog.nodes for a in n.args]
    auto = sum(a.typed_automatically for a in args)
    typed = sum(a.typed for a in args)
    print(f"\nargs: {len(args)}, typed automatically: {auto} ({auto / len(args):.1%}), "
          f"typed after overrides: {typed} ({typed / len(args):.1%})")
    return len(args), auto, typed


def test_at_least_90_percent_of_arguments_typed_automatically(catalog: Catalog) -> None:
    total, auto, _ = _typing_report(catalog)
    assert auto >= 0.90 * total


def test_at_least_98_percent_of_arguments_typed_after_overrides(catalog: Catalog) -> None:
    """Needs the human overrides (overrides/torch.json) for the arguments the crawler cannot type."""
    total, _, typed = _typing_report(catalog)
    untyped = sorted(f"{n.id}.{a.name}" for n in catalog.nodes for a in n.args if not a.typed)
    assert typed >= 0.98 * total, f"{len(untyped)} untyped arguments, e.g. {untyped[:15]}"


def test_every_node_with_an_untyped_argument_needs_review(catalog: Catalog) -> None:
    for node in catalog.nodes:
        untyped = [a.name for a in node.args if not a.typed]
        if untyped:
            assert node.review == "needs-review", node.id
            assert all(a.unsupported for a in node.args if not a.typed), node.id
            assert len(node.review_reasons) == len(untyped), node.id
        else:
            assert node.review in ("auto", "reviewed"), node.id


def test_no_crawler_typed_argument_accepts_only_null(catalog: Catalog) -> None:
    """BUG (introspector/describe.py type_argument -> typemap.from_annotation): torch annotates
    pooling/fold arguments as `BroadcastingList2[int]`, which evaluates to None at runtime; the
    crawler reads that as "only None is allowed" and types e.g. F.unfold's required kernel_size as
    {"type": "null"}, counting it as typed. An argument the library gives a non-None default or
    requires can never be null-only.
    """
    bad = sorted(f"{n.id}.{a.name}" for n in catalog.nodes for a in n.args
                 if a.schema == {"type": "null"} and a.source != "override"
                 and (a.required or a.default is not None))
    assert bad == [], f"{len(bad)} arguments typed as null-only, e.g. {bad[:10]}"


def test_every_default_fits_its_schema(catalog: Catalog) -> None:
    """A default that its own schema rejects means the schema is wrong (see the null-only bug)."""
    bad = []
    for node in catalog.nodes:
        for arg in node.args:
            if arg.typed and arg.has_default:
                error = jsonschema.exceptions.best_match(
                    jsonschema.Draft202012Validator(arg.schema).iter_errors(arg.default))
                if error is not None:
                    bad.append(f"{node.id}.{arg.name}={arg.default!r}: {error.message}")
    assert bad == [], f"{len(bad)} defaults rejected by their own schema, e.g. {bad[:8]}"


# --- canonical ids and aliases --------------------------------------------------------------

def test_functional_conv2d_is_an_alias_of_torch_conv2d(catalog: Catalog) -> None:
    assert F.conv2d is torch.conv2d  # precondition: one object, two public paths
    node = catalog.find("torch.nn.functional.conv2d")
    assert node is not None and node.id == "torch.conv2d"
    assert "torch.nn.functional.conv2d" in node.aliases
    assert all(n.id != "torch.nn.functional.conv2d" for n in catalog.nodes)


def test_show_finds_a_node_by_alias(invoke) -> None:
    result = invoke("catalog", "show", "torch.nn.functional.conv2d", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["id"] == "torch.conv2d"
    assert "torch.nn.functional.conv2d" in shown["aliases"]


def test_concat_is_an_alias_of_cat(catalog: Catalog) -> None:
    node = catalog.find("torch.concat")
    assert node is not None and node.id == "torch.cat"
    assert "torch.concat" in node.aliases


def test_aliases_are_unique_and_never_canonical_ids(catalog: Catalog) -> None:
    ids = [n.id for n in catalog.nodes]
    aliases = [a for n in catalog.nodes for a in n.aliases]
    assert len(ids) == len(set(ids))
    assert len(aliases) == len(set(aliases))
    assert not set(ids) & set(aliases)


def test_no_private_or_foreign_ids(catalog: Catalog) -> None:
    names = [n.id for n in catalog.nodes] + [a for n in catalog.nodes for a in n.aliases]
    bad = [name for name in names
           if "keras.src" in name or "._" in name or not name.startswith("torch.")]
    assert bad == []


# --- ports and call options -----------------------------------------------------------------

def test_multihead_attention_takes_query_key_value(catalog: Catalog) -> None:
    node = catalog.find("torch.nn.MultiheadAttention")
    required = [p.name for p in node.inputs if p.required]
    assert required == ["query", "key", "value"]
    assert [p.name for p in node.inputs][:3] == ["query", "key", "value"]


def test_lstm_has_several_outputs(catalog: Catalog) -> None:
    """BUG (introspector/describe.py _outputs_from_return): issue 2 names LSTM as the example of a
    layer returning a tuple (output, (h_n, c_n)); LSTM.forward has no return annotation, so the
    crawler falls back to one "output" tensor. GRU and RNN have the same problem (see
    test_meta_instantiation.py::test_output_ports_match_what_apply_returns).
    """
    node = catalog.find("torch.nn.LSTM")
    assert len(node.outputs) >= 2, [o.to_json() for o in node.outputs]
    assert all(o.path for o in node.outputs)


def test_inplace_flag_means_copy_when_set(catalog: Catalog) -> None:
    with_inplace = [n for n in catalog.nodes if n.arg("inplace") is not None]
    assert len(with_inplace) > 10 and catalog.find("torch.nn.ReLU") in with_inplace
    wrong = [n.id for n in with_inplace if n.call["copy"] != {"when_arg": "inplace"}]
    assert wrong == []


def test_trailing_underscore_functions_always_copy(catalog: Catalog) -> None:
    assert catalog.find("torch.relu_").call["copy"] is True
    assert catalog.find("torch.nn.functional.relu_").call["copy"] is True
    underscored = [n for n in catalog.nodes if n.name.endswith("_")]
    assert underscored and all(n.call["copy"] is True for n in underscored)
    assert catalog.find("torch.nn.functional.relu").call["copy"] is not True


def test_layers_instantiate_and_functions_do_not(catalog: Catalog) -> None:
    assert catalog.find("torch.nn.Conv2d").call == {"instantiate": True, "apply": True, "copy": False}
    assert catalog.find("torch.cat").call == {"instantiate": False, "apply": True, "copy": False}
    for node in catalog.nodes:
        assert node.call["instantiate"] == (node.kind in ("layer", "loss", "optimizer", "scheduler")), node.id


# --- golden file, determinism, round trip ---------------------------------------------------

def test_two_builds_give_identical_text(fresh_text: str) -> None:
    assert catalog_text(build_catalog("torch").catalog) == fresh_text


def test_catalog_text_has_no_memory_addresses(fresh_text: str) -> None:
    """BUG (introspector/crawl.py, the "no-signature" Exclusion): the reason embeds str(exc), which
    holds `<built-in method conv_tbc of type object at 0x...>`; the address changes with every
    process, so the committed catalog can never be byte-for-byte reproducible.
    """
    addresses = re.findall(r"[^\n]{0,60} at 0x[0-9a-f]+", fresh_text)
    assert addresses == []


def test_committed_catalog_equals_a_fresh_build(committed_path: Path, fresh_text: str) -> None:
    assert committed_path.read_text(encoding="utf-8") == fresh_text


def test_build_check_exits_0_when_committed_file_is_current(invoke) -> None:
    result = invoke("catalog", "build", "torch", "--check", "--json")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)
    assert entry["up_to_date"] is True


def test_catalog_round_trips_through_json_text(fresh_text: str) -> None:
    document = json.loads(fresh_text)
    again = Catalog.from_json(json.loads(json.dumps(document))).to_json()
    assert again == document
    assert catalog_text(Catalog.from_json(document)) == fresh_text
