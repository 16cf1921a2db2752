"""What every `nodecat` graph command shares: the common options, JSON output, and the guard that
turns a GraphError into readable (or JSON) output and exit code 1, never a traceback."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import click

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.introspector.cli import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK

__all__ = ["EXIT_OK", "EXIT_CHECK_FAILED", "EXIT_BAD_INPUT", "EXISTING_FILE", "GRAPH_ARG", "JSON_OPT", "DEVICE_OPT",
           "BUDGET_OPT", "emit_json", "print_problems", "guard"]

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
GRAPH_ARG = click.argument("graph", type=EXISTING_FILE)
JSON_OPT = click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout, for machines.")
DEVICE_OPT = click.option("--device", default="auto", show_default=True,
                          help="auto (cuda, then mps, then cpu), cpu, mps, cuda or cuda:N.")
BUDGET_OPT = click.option("--budget", default="auto", show_default=True,
                          help="Refuse graphs whose estimated memory exceeds this (e.g. 8GiB); "
                               "auto: the device's free memory; none: no limit.")


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def print_problems(problems: list[GraphProblem]) -> None:
    for problem in problems:
        click.secho(f"error {problem}", fg="red", err=True)  # str(problem) starts with its [code]


def guard(as_json: bool, action: Callable[[], Any], report: dict[str, Any] | None = None) -> Any:
    """Run an action; a GraphError becomes readable (or JSON) output and exit code 1."""
    try:
        return action()
    except GraphError as exc:
        if as_json:
            emit_json({**(report or {}), "ok": False, "errors": [p.to_json() for p in exc.problems]})
        else:
            print_problems(exc.problems)
        sys.exit(EXIT_CHECK_FAILED)
