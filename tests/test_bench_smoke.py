"""The executor benchmarks still run (tiny sizes, JSON out); their numbers are not asserted."""
from __future__ import annotations

import json
import subprocess
import sys


def _run(*args: str) -> dict:
    result = subprocess.run([sys.executable, *args, "--json"], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_check_scaling_runs_on_small_chains():
    report = _run("bench/check_scaling.py", "--sizes", "100,300")
    assert [r["nodes"] for r in report["results"]] == [100, 300] and report["failure"] is None
    assert set(report["results"][0]["median_s"]) == {"json", "parse", "validate", "shapes"}


def test_executor_overhead_measures_the_keras_build():
    report = _run("bench/executor_overhead.py", "--quick", "--skip-runtime")
    assert report["build"]["ratio_nodecat_to_keras"] > 0 and report["build"]["layers"] > 30


def test_train_overhead_compares_both_cases():
    report = _run("bench/train_overhead.py", "--quick")
    assert [r["case"] for r in report["results"]] == ["cnn", "mlp"]
    assert all(r["graph_samples_per_s"] > 0 and r["hand_samples_per_s"] > 0 for r in report["results"])


def test_import_roundtrip_measures_each_model():
    report = _run("bench/import_roundtrip.py", "--quick")
    assert [r["model"] for r in report["results"]] == ["torch:resnet18_cifar", "torch:lstm_classifier", "keras:two_tower"]
    assert all(r["nodes"] > 0 and r["import_s"] > 0 and r["build_s"] > 0 for r in report["results"])
    assert all(r["max_diff"] <= 1e-5 and r["python_diff"] <= 1e-5 for r in report["results"])


def test_server_load_checks_over_http_and_in_process():
    report = _run("bench/server_load.py", "--quick", "--seconds", "2", "--clients", "2")
    assert report["load"]["clients"] == 2 and report["load"]["requests"] > 0 and report["load"]["not_ok"] == 0
    assert report["single"]["http_ms"] > 0 and report["single"]["in_process_ms"] > 0
    assert report["chain"]["nodes"] == 1000 and report["chain"]["verdict"] in ("ok", "ABOVE")
    assert report["server"]["rss_mib"] is None or report["server"]["rss_mib"] > 0
