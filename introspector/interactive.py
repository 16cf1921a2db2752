"""`catalog review --interactive`: ask a reviewer for each untyped argument, write override entries."""
from __future__ import annotations

from pathlib import Path

import click

from nodecat.introspector.overrides import load_overrides
from nodecat.introspector.paths import overrides_file
from nodecat.introspector.review import TYPE_CHOICES, ReviewItem, save_overrides, with_entry

_SKIP, _QUIT, _ENUM, _EXCLUDE = "skip", "quit", "enum", "exclude-node"


def run_review(library: str, items: list[ReviewItem], path: Path | None = None) -> int:
    """Returns how many entries were written. Each answer is saved at once (atomically)."""
    path = path or overrides_file(library)
    overrides = load_overrides(path, library)
    written = 0
    choices = [*TYPE_CHOICES, _ENUM, _EXCLUDE, _SKIP, _QUIT]
    for item in items:
        click.echo(f"\n{item.node} ({item.kind})")
        for name, reason in item.args:
            click.echo(f"  argument {name}: {reason}")
            answer = click.prompt("  type", type=click.Choice(choices), default=_SKIP, show_choices=True)
            if answer == _QUIT:
                return written
            if answer == _SKIP:
                continue
            if answer == _EXCLUDE:
                why = click.prompt("  why leave the node out")
                overrides = with_entry(overrides, item.node, None, {"excluded": why}, why)
                save_overrides(overrides, path)
                written += 1
                break
            if answer == _ENUM:
                values = [v.strip() for v in click.prompt("  allowed values, comma-separated").split(",") if v.strip()]
                schema = {"enum": values}
            else:
                schema = TYPE_CHOICES[answer]
            why = click.prompt("  why (the reviewer's reason)")
            overrides = with_entry(overrides, item.node, name, {"schema": schema}, why)
            save_overrides(overrides, path)
            written += 1
    return written
