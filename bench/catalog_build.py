"""How long building a catalog takes, as a ratio to the bare import of the library.

Absolute times on a shared machine mean little, so every number is taken side by side
in one run: each repetition starts fresh interpreters for

    import:  python -c "import <library>"
    build:   python -c "from nodecat.introspector.build import build_catalog; build_catalog('<library>')"
    cli:     nodecat catalog build <library> --check     (end to end, as a user runs it)

interleaved (the order rotates every repetition), after one untimed warm-up of each.
It prints the medians and

    ratio        = build / import            (the whole build process against the bare import)
    crawl ratio  = (build - import) / import (the crawl's own cost, the import subtracted)

Usage: python bench/catalog_build.py [--library torch|keras|all] [--repeat N] [--json]
Every library of nodecat.introspector.libraries.LIBRARIES is accepted. Keras runs on KERAS_BACKEND=torch
unless the environment names another backend. Nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _libraries() -> tuple[str, ...]:
    from nodecat.introspector.libraries import LIBRARIES
    return tuple(LIBRARIES)


def _nodecat_command() -> list[str]:
    """The installed console script next to this interpreter, else the CLI module run directly."""
    script = Path(sys.executable).parent / "nodecat"
    if script.exists():
        return [str(script)]
    found = shutil.which("nodecat")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from nodecat.executor.cli.main import main; sys.exit(main())"]


def commands(library: str) -> dict[str, list[str]]:
    return {
        "import": [sys.executable, "-c", f"import {library}"],
        "build": [sys.executable, "-c", f"from nodecat.introspector.build import build_catalog; build_catalog({library!r})"],
        "cli": [*_nodecat_command(), "catalog", "build", library, "--check"],
    }


def timed(command: list[str], allowed: tuple[int, ...] = (0,)) -> tuple[float, int]:
    """Wall-clock seconds of one fresh process, and its exit code."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in allowed:
        sys.exit(f"benchmark command failed (exit {done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")
    return elapsed, done.returncode


def measure(library: str, repeat: int) -> dict[str, Any]:
    cmds = commands(library)
    allowed = {"import": (0,), "build": (0,), "cli": (0, 1)}  # cli --check exits 1 on a stale catalog
    order = list(cmds)
    for name in order:  # warm-up: bytecode compiled, files in the page cache
        timed(cmds[name], allowed[name])
    runs: dict[str, list[float]] = {name: [] for name in order}
    cli_exit = 0
    for rep in range(repeat):
        rotated = order[rep % len(order):] + order[:rep % len(order)]
        for name in rotated:
            seconds, code = timed(cmds[name], allowed[name])
            runs[name].append(seconds)
            if name == "cli":
                cli_exit = max(cli_exit, code)
    med = {name: statistics.median(values) for name, values in runs.items()}
    from importlib import metadata
    return {
        "library": library,
        "version": metadata.version(library),
        "repeat": repeat,
        "median_s": {name: round(value, 4) for name, value in med.items()},
        "runs_s": {name: [round(v, 4) for v in values] for name, values in runs.items()},
        "ratio_build_to_import": round(med["build"] / med["import"], 3),
        "ratio_crawl_to_import": round((med["build"] - med["import"]) / med["import"], 3),
        "ratio_cli_check_to_import": round(med["cli"] / med["import"], 3),
        "cli_check_exit": cli_exit,
        "commands": {name: shlex.join(cmd) for name, cmd in cmds.items()},
    }


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}


def report(result: dict[str, Any]) -> str:
    lib, med = result["library"], result["median_s"]
    state = {0: "up to date", 1: "catalog DIFFERS from a fresh build"}[result["cli_check_exit"]]
    rows = [
        (f"import {lib}", f"{med['import']:.3f} s"),
        (f"build_catalog({lib!r})", f"{med['build']:.3f} s"),
        (f"nodecat catalog build {lib} --check", f"{med['cli']:.3f} s  ({state})"),
        ("ratio build / import", f"{result['ratio_build_to_import']:.2f}"),
        ("ratio crawl (build - import) / import", f"{result['ratio_crawl_to_import']:.2f}"),
        ("ratio cli --check / import", f"{result['ratio_cli_check_to_import']:.2f}"),
    ]
    width = max(len(label) for label, _ in rows)
    header = f"{lib} {result['version']}: medians of {result['repeat']} interleaved runs in fresh processes"
    return "\n".join([header, *(f"  {label:<{width}}  {value}" for label, value in rows)])


def main(argv: list[str] | None = None) -> int:
    # Every timed process imports Keras on the backend nodecat uses (the bare import included).
    os.environ.setdefault("KERAS_BACKEND", "torch")
    libraries = _libraries()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--library", choices=[*libraries, "all"], default="all",
                        help="library to crawl (default: all that have a crawler)")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions of each command (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    options = parser.parse_args(argv)
    if options.repeat < 1:
        parser.error("--repeat must be at least 1")
    selected = libraries if options.library == "all" else (options.library,)
    results = {}
    for library in selected:
        results[library] = measure(library, options.repeat)
        if not options.json:
            print(report(results[library]), flush=True)
    if options.json:
        print(json.dumps({"machine": machine(), "results": results}, indent=2, sort_keys=True))
    else:
        print(f"machine: {machine()['cpus']} cpus, Python {machine()['python']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
