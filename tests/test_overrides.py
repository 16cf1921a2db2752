"""Overrides: applying them is pure, provenance shows, version ranges work, stale entries are reported.

The simulated library change: an overrides file written for one torch meets a torch where an
argument was renamed, a node is gone and the library now says by itself what an entry set.
Every overrides file here lives in tmp_path; the project's overrides/torch.json is never touched.
"""
from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import nodecat.introspector.paths
import nodecat.introspector.validate
from helpers import TORCH_VERSION
from nodecat.introspector.build import BuildResult, build_catalog
from nodecat.introspector.crawl import CrawlResult
from nodecat.introspector.model import Node
from nodecat.introspector.overrides import OverridesFile, apply_overrides, parse_overrides, stale_overrides
from nodecat.introspector.paths import relative

DROPOUT_RANGE = {"type": "number", "minimum": 0, "maximum": 1}


def overrides_doc(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"format": "nodecat-overrides/1", "library": "torch", "overrides": list(entries)}


def entry(target: str, fields: dict[str, Any], arg: str | None = None, **extra: Any) -> dict[str, Any]:
    out = {"target": target, "set": fields, "why": f"test entry for {target}", **extra}
    if arg:
        out["arg"] = arg
    return out


def overrides(*entries: dict[str, Any], path: str = "test-overrides.json") -> OverridesFile:
    return parse_overrides(overrides_doc(*entries), path)


def by_id(nodes: tuple[Node, ...]) -> dict[str, Node]:
    return {n.id: n for n in nodes}


def write_overrides(path: Path, *entries: dict[str, Any]) -> Path:
    path.write_text(json.dumps(overrides_doc(*entries), indent=1), encoding="utf-8")
    return path


# --- purity ---------------------------------------------------------------------------------

def test_applying_overrides_does_not_modify_its_inputs(auto_crawl: CrawlResult) -> None:
    ov = overrides(entry("torch.nn.Dropout", {"schema": DROPOUT_RANGE, "default": 0.25}, arg="p"),
                   entry("torch.nn.ReLU", {"category": "activation/rectifier"}),
                   entry("torch.nn.Identity", {"excluded": "nothing to compute in a graph"}))
    nodes_before = [n.to_json() for n in auto_crawl.nodes]
    excluded_before = [e.to_json() for e in auto_crawl.excluded]
    overrides_before = copy.deepcopy(ov.to_json())

    result = apply_overrides(auto_crawl.nodes, auto_crawl.excluded, ov, TORCH_VERSION)

    assert [n.to_json() for n in auto_crawl.nodes] == nodes_before
    assert [e.to_json() for e in auto_crawl.excluded] == excluded_before
    assert ov.to_json() == overrides_before
    assert result.applied == 3
    # The result shares no mutable value with the overrides: editing it leaves the entry alone.
    by_id(result.nodes)["torch.nn.Dropout"].arg("p").schema["maximum"] = 99
    assert ov.entries[0].fields["schema"] == DROPOUT_RANGE


def test_applying_the_same_overrides_twice_gives_the_same_result(auto_crawl: CrawlResult) -> None:
    ov = overrides(entry("torch.nn.Dropout", {"schema": DROPOUT_RANGE}, arg="p"))
    first = apply_overrides(auto_crawl.nodes, auto_crawl.excluded, ov, TORCH_VERSION)
    second = apply_overrides(auto_crawl.nodes, auto_crawl.excluded, ov, TORCH_VERSION)
    assert [n.to_json() for n in first.nodes] == [n.to_json() for n in second.nodes]


# --- provenance -----------------------------------------------------------------------------

def test_argument_override_shows_its_provenance(auto_crawl: CrawlResult) -> None:
    auto_p = by_id(auto_crawl.nodes)["torch.nn.Dropout"].arg("p")
    assert auto_p.typed and auto_p.source != "override"  # precondition: the crawler typed it
    result = apply_overrides(auto_crawl.nodes, auto_crawl.excluded,
                             overrides(entry("torch.nn.Dropout", {"schema": DROPOUT_RANGE}, arg="p")),
                             TORCH_VERSION)
    node = by_id(result.nodes)["torch.nn.Dropout"]
    p = node.arg("p")
    assert p.schema == DROPOUT_RANGE
    assert p.source == "override"
    assert p.auto_source == auto_p.source
    assert p.typed_automatically  # the crawler had typed it; the override only refined it
    assert "args.p.schema" in node.overridden
    assert node.review == "reviewed"
    assert node.to_json()["args"][0]["auto_source"] == auto_p.source


def test_node_override_shows_its_provenance(auto_crawl: CrawlResult) -> None:
    result = apply_overrides(auto_crawl.nodes, auto_crawl.excluded,
                             overrides(entry("torch.nn.ReLU", {"category": "activation/rectifier"})),
                             TORCH_VERSION)
    node = by_id(result.nodes)["torch.nn.ReLU"]
    assert node.category == "activation/rectifier"
    assert node.provenance["category"] == "override"
    assert node.overridden == ("category",)


def _with_untyped(auto_crawl: CrawlResult, node_id: str, *names: str) -> tuple[Node, ...]:
    """The automatic descriptors, with some arguments of one node made untyped (as the crawler
    leaves an argument it cannot type), so the test does not depend on what torch leaves untyped."""
    nodes = []
    for node in auto_crawl.nodes:
        if node.id == node_id:
            args = tuple(replace(a, schema=None, source="none", unsupported="test: untyped on purpose")
                         if a.name in names else a for a in node.args)
            node = replace(node, args=args).with_review()
        nodes.append(node)
    return tuple(nodes)


def test_typing_an_untyped_argument_clears_the_review(auto_crawl: CrawlResult) -> None:
    nodes = _with_untyped(auto_crawl, "torch.nn.Linear", "in_features", "out_features")
    assert by_id(nodes)["torch.nn.Linear"].review == "needs-review"
    entries = [entry("torch.nn.Linear", {"schema": {"type": "integer", "minimum": 1}}, arg=name)
               for name in ("in_features", "out_features")]
    result = by_id(apply_overrides(nodes, auto_crawl.excluded, overrides(*entries), TORCH_VERSION).nodes)
    linear = result["torch.nn.Linear"]
    assert linear.review == "reviewed"
    assert linear.review_reasons == ()
    for name in ("in_features", "out_features"):
        arg = linear.arg(name)
        assert arg.typed and arg.unsupported == ""
        assert arg.source == "override" and arg.auto_source == "none"
        assert not arg.typed_automatically  # a human typed it, not the crawler


def test_a_node_stays_in_review_while_an_argument_is_untyped(auto_crawl: CrawlResult) -> None:
    nodes = _with_untyped(auto_crawl, "torch.nn.Linear", "in_features", "out_features")
    result = by_id(apply_overrides(nodes, auto_crawl.excluded,
                                   overrides(entry("torch.nn.Linear", {"schema": {"type": "integer"}},
                                                   arg="in_features")),
                                   TORCH_VERSION).nodes)["torch.nn.Linear"]
    assert result.review == "needs-review"
    assert result.review_reasons == ("argument out_features: test: untyped on purpose",)


def test_excluding_a_node_by_override(auto_crawl: CrawlResult) -> None:
    result = apply_overrides(auto_crawl.nodes, auto_crawl.excluded,
                             overrides(entry("torch.nn.Identity", {"excluded": "nothing to compute in a graph"})),
                             TORCH_VERSION)
    assert "torch.nn.Identity" not in by_id(result.nodes)
    (exclusion,) = [e for e in result.excluded if e.id == "torch.nn.Identity"]
    assert (exclusion.code, exclusion.reason) == ("override", "nothing to compute in a graph")


# --- version ranges -------------------------------------------------------------------------

def test_entry_outside_its_version_range_is_inactive(auto_crawl: CrawlResult) -> None:
    ov = overrides(entry("torch.nn.Dropout", {"schema": DROPOUT_RANGE}, arg="p", versions="<2.0"),
                   entry("torch.nn.ReLU", {"category": "activation/rectifier"}, versions=">=2.0,<99"))
    result = apply_overrides(auto_crawl.nodes, auto_crawl.excluded, ov, TORCH_VERSION)
    assert (result.applied, result.inactive) == (1, 1)
    assert by_id(result.nodes)["torch.nn.Dropout"].to_json() == by_id(auto_crawl.nodes)["torch.nn.Dropout"].to_json()
    assert by_id(result.nodes)["torch.nn.ReLU"].category == "activation/rectifier"
    # An inactive entry is not judged stale either: it is for another torch.
    assert stale_overrides(auto_crawl.nodes, auto_crawl.excluded, ov, TORCH_VERSION) == []
    assert apply_overrides(auto_crawl.nodes, auto_crawl.excluded, ov, "1.13.1").inactive == 1


@pytest.fixture(scope="module")
def custom_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildResult]:
    path = write_overrides(
        tmp_path_factory.mktemp("overrides") / "torch.json",
        entry("torch.nn.Dropout", {"schema": DROPOUT_RANGE}, arg="p"),
        entry("torch.nn.ReLU", {"category": "activation/rectifier"}),
        entry("torch.nn.Linear", {"schema": {"type": "integer", "minimum": 1}}, arg="in_features", versions="<2.0"),
        entry("torch.nn.Conv4d", {"category": "convolution"}),
    )
    return path, build_catalog("torch", overrides_path=path)


def test_build_with_an_overrides_file_counts_and_records(custom_build: tuple[Path, BuildResult]) -> None:
    path, result = custom_build
    catalog = result.catalog
    assert catalog.overrides_file == relative(path)
    assert (catalog.overrides_applied, catalog.overrides_inactive) == (2, 1)
    assert catalog.find("torch.nn.Dropout").arg("p").source == "override"
    assert catalog.find("torch.nn.ReLU").provenance["category"] == "override"
    assert "args.in_features.schema" not in catalog.find("torch.nn.Linear").overridden
    assert catalog.find("torch.nn.Linear").arg("in_features").source != "override"
    assert [(p.code, p.entry, p.pointer) for p in result.stale] == \
        [("stale_override", "#3 (torch.nn.Conv4d)", "/overrides/3/target")]


# --- stale overrides: a simulated library change --------------------------------------------

def _stale_file(auto_crawl: CrawlResult) -> list[dict[str, Any]]:
    linear_in = by_id(auto_crawl.nodes)["torch.nn.Linear"].arg("in_features")
    return [
        entry("torch.nn.Dropout", {"schema": DROPOUT_RANGE}, arg="prob"),       # renamed argument
        entry("torch.nn.Conv4d", {"category": "convolution"}),                 # node that is gone
        entry("torch.nn.Linear", {"schema": copy.deepcopy(linear_in.schema)}, arg="in_features"),  # redundant
    ]


def test_stale_overrides_report_renamed_gone_and_redundant(auto_crawl: CrawlResult) -> None:
    ov = overrides(*_stale_file(auto_crawl), path="overrides/old-torch.json")
    problems = stale_overrides(auto_crawl.nodes, auto_crawl.excluded, ov, TORCH_VERSION)
    assert [(p.code, p.file, p.entry, p.pointer) for p in problems] == [
        ("stale_override", "overrides/old-torch.json", "#0 (torch.nn.Dropout.prob)", "/overrides/0/arg"),
        ("stale_override", "overrides/old-torch.json", "#1 (torch.nn.Conv4d)", "/overrides/1/target"),
        ("redundant_override", "overrides/old-torch.json", "#2 (torch.nn.Linear.in_features)", "/overrides/2/set"),
    ]
    assert "'prob'" in problems[0].message and "p" in problems[0].message
    assert "torch.nn.Conv4d" in problems[1].message
    # Stale entries are reported, never applied and never silently dropped from the file.
    assert len(ov.entries) == 3


LINEAR_IN = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}


def test_a_new_torch_release_makes_valid_overrides_stale(auto_crawl: CrawlResult) -> None:
    """Overrides that fit today's torch, checked against a simulated next release in which
    Dropout's `p` is renamed `prob`, Hardswish is removed, and Linear's in_features gets the
    upper bound the override sets from the library itself (today the crawler infers only `minimum: 1`)."""
    ov = overrides(entry("torch.nn.Dropout", {"schema": DROPOUT_RANGE}, arg="p"),
                   entry("torch.nn.Hardswish", {"category": "activation/hard"}),
                   entry("torch.nn.Linear", {"schema": LINEAR_IN}, arg="in_features"))
    assert stale_overrides(auto_crawl.nodes, auto_crawl.excluded, ov, TORCH_VERSION) == []

    next_release = []
    for node in auto_crawl.nodes:
        if node.id == "torch.nn.Hardswish":
            continue
        if node.id == "torch.nn.Dropout":
            node = replace(node, args=tuple(replace(a, name="prob") if a.name == "p" else a for a in node.args))
        if node.id == "torch.nn.Linear":
            node = replace(node, args=tuple(replace(a, schema=LINEAR_IN)
                                            if a.name == "in_features" else a for a in node.args))
        next_release.append(node)
    problems = stale_overrides(tuple(next_release), auto_crawl.excluded, ov, "2.99.0")
    assert [(p.code, p.pointer) for p in problems] == [("stale_override", "/overrides/0/arg"),
                                                       ("stale_override", "/overrides/1/target"),
                                                       ("redundant_override", "/overrides/2/set")]


# --- catalog validate -----------------------------------------------------------------------

def test_validate_exits_1_and_names_stale_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  invoke, auto_crawl: CrawlResult) -> None:
    overrides_dir = tmp_path / "overrides"
    overrides_dir.mkdir()
    path = write_overrides(overrides_dir / "torch.json", *_stale_file(auto_crawl))
    monkeypatch.setattr(nodecat.introspector.validate, "OVERRIDES_DIR", overrides_dir)
    monkeypatch.setattr(nodecat.introspector.validate, "CATALOG_DIR", tmp_path / "no-catalogs")

    result = invoke("catalog", "validate", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["checked"] == [str(path)]
    assert [(p["code"], p["file"], p["pointer"]) for p in report["problems"]] == [
        ("stale_override", str(path), "/overrides/0/arg"),
        ("stale_override", str(path), "/overrides/1/target"),
        ("redundant_override", str(path), "/overrides/2/set")]

    text = invoke("catalog", "validate")
    assert text.exit_code == 1
    assert "entry #1 (torch.nn.Conv4d)" in text.output and "field /overrides/1/target" in text.output
    assert "3 problem(s)" in text.output


def test_stats_count_stale_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, invoke,
                                     auto_crawl: CrawlResult) -> None:
    write_overrides(tmp_path / "torch.json", *_stale_file(auto_crawl))
    monkeypatch.setattr(nodecat.introspector.paths, "OVERRIDES_DIR", tmp_path)
    result = invoke("catalog", "stats", "torch", "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["torch"]
    assert (stats["overrides"], stats["stale_overrides"]) == (3, 3)


def test_validate_exits_0_on_the_repository(invoke) -> None:
    result = invoke("catalog", "validate", "--json")
    report = json.loads(result.stdout)
    assert report["problems"] == []
    assert result.exit_code == 0
    assert "catalogs/torch-" + TORCH_VERSION + ".json" in report["checked"]
    assert "overrides/torch.json" in report["checked"]
