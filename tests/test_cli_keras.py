"""The catalog commands work for Keras as they do for torch, and `diff` shows what a Keras release changed.

tests/data/keras-3.13.2.json.gz is a catalog recorded from keras 3.13.2 by this generator (same
overrides file), so the diff against the committed 3.15.1 catalog shows library changes only.
Re-record it after a generator change that alters catalog content:

    pip install --no-deps --target /tmp/k313 keras==3.13.2
    KERAS_BACKEND=torch PYTHONPATH=/tmp/k313 python -c "from nodecat.introspector.build import build_catalog, \
catalog_text; print(catalog_text(build_catalog('keras').catalog), end='')" | gzip -9 -n > tests/data/keras-3.13.2.json.gz
"""
from __future__ import annotations

import json
from pathlib import Path

from nodecat.introspector.build import installed_version
from nodecat.introspector.paths import committed_catalog

RECORDED_OLDER = Path(__file__).resolve().parent / "data" / "keras-3.13.2.json.gz"


def committed() -> Path:
    return committed_catalog("keras", installed_version("keras"))


def test_build_check_says_the_committed_keras_catalog_is_up_to_date(invoke) -> None:
    result = invoke("catalog", "build", "keras", "--check", "--json")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)
    assert entry["library"] == "keras" and entry["up_to_date"] and entry["stale_overrides"] == 0


def test_list_excluded_gives_every_left_out_layer_with_code_and_reason(invoke) -> None:
    result = invoke("catalog", "list", "keras", "--excluded", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert rows["keras.layers.Lambda"]["code"] == "unsafe"
    assert rows["keras.layers.Layer"]["code"] == "base-class"
    assert all(row["reason"] for row in rows.values())


def test_list_filters_by_category(invoke) -> None:
    result = invoke("catalog", "list", "keras", "--category", "merge", "--json")
    ids = {row["id"] for row in json.loads(result.stdout)}
    assert {"keras.layers.Add", "keras.layers.Concatenate", "keras.layers.add"} <= ids


def test_show_finds_a_node_by_alias(invoke) -> None:
    result = invoke("catalog", "show", "keras.layers.Convolution2D", "--json")
    assert result.exit_code == 0, result.output
    node = json.loads(result.stdout)
    assert node["id"] == "keras.layers.Conv2D" and "keras.layers.Convolution2D" in node["aliases"]
    text = invoke("catalog", "show", "keras.layers.Dense").output
    assert "units" in text and "docstring" in text


def test_stats_reports_keras_coverage_and_typing(invoke) -> None:
    result = invoke("catalog", "stats", "keras", "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["keras"]
    assert stats["version"] == installed_version("keras")
    assert stats["nodes"] >= 600 and stats["stale_overrides"] == 0
    assert stats["args_typed"] / stats["args"] >= 0.9


def test_review_lists_what_still_needs_a_decision(invoke) -> None:
    result = invoke("catalog", "review", "keras", "--json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert all(item["node"].startswith("keras.") and item["args"] for item in items)
    flagged = {item["node"]: {a["name"] for a in item["args"]} for item in items}
    # a file path is never typed: TextVectorization's vocabulary stays a human decision
    assert "vocabulary" in flagged.get("keras.layers.TextVectorization", set())


def test_validate_checks_the_keras_catalog_and_overrides(invoke) -> None:
    result = invoke("catalog", "validate", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"]
    assert any("keras-" in name for name in report["checked"])
    assert any("overrides/keras.json" in name for name in report["checked"])


def test_export_seed_writes_the_keras_palette(invoke, tmp_path: Path) -> None:
    out = tmp_path / "keras-seed.json"
    result = invoke("catalog", "export", "keras", "--format", "seed", "-o", str(out))
    assert result.exit_code == 0, result.output
    nodes = json.loads(out.read_text(encoding="utf-8"))
    dense = next(n for n in (nodes if isinstance(nodes, list) else nodes["nodes"]) if n["name"] == "Dense")
    assert dense["package"] == "keras.layers.Dense" and dense["instance"] is True and dense["apply"] is True


def test_diff_against_an_older_keras_release_shows_what_changed(invoke) -> None:
    result = invoke("catalog", "diff", str(RECORDED_OLDER), str(committed()), "--json")
    assert result.exit_code == 0, result.output
    diff = json.loads(result.stdout)
    assert diff["old"]["version"] == "3.13.2" and diff["new"]["version"] == installed_version("keras")
    added = diff["nodes_added"]
    assert "keras.layers.ContrastLimitedAdaptiveHistogramEqualization" in added
    assert "keras.optimizers.ScheduleFreeAdamW" in added and "keras.ops.nanmean" in added
    assert set(diff["nodes_changed"]["keras.layers.BatchNormalization"]["args_added"]) >= {"renorm", "renorm_clipping"}
    text = invoke("catalog", "diff", str(RECORDED_OLDER), str(committed())).output
    assert text.startswith("keras 3.13.2 -> keras ") and "+ keras.ops.nanmean" in text


def test_a_corrupt_compressed_catalog_is_a_clear_error(invoke, tmp_path: Path) -> None:
    broken = tmp_path / "keras-old.json.gz"
    broken.write_bytes(b"not gzip at all")
    result = invoke("catalog", "diff", str(broken), str(committed()))
    assert result.exit_code == 2
    assert "not a gzip file" in result.output and "Traceback" not in result.output
