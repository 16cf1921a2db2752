"""The `nodecat catalog` commands: a thin layer over the introspector's Python API (registered on the
one `nodecat` group by nodecat.executor.cli.main).

Exit codes: 0 success; 1 a check failed (catalog differs, validation found problems);
2 bad usage or bad input (unreadable file, unknown node, missing catalog).
torch and keras are imported only by the commands that crawl.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from nodecat.introspector.errors import CatalogError, Problem

if TYPE_CHECKING:
    from nodecat.introspector.model import Node

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2
LIBRARY_CHOICE = click.Choice(["torch", "keras"])


def _emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def _fail(problems: list[Problem], as_json: bool) -> None:
    if as_json:
        _emit_json({"ok": False, "errors": [p.to_json() for p in problems]})
    else:
        for problem in problems:
            click.secho(f"error: {problem}", fg="red", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _guarded(as_json: bool, action: Callable[[], Any]) -> Any:
    """Run an action; a CatalogError becomes readable output and exit code 2, never a traceback."""
    try:
        return action()
    except CatalogError as exc:
        _fail(exc.problems, as_json)
    except KeyError as exc:
        _fail([Problem("unknown_library", f"no crawler for library {exc.args[0]!r} yet",
                       hint="supported: torch")], as_json)


def _libraries(library: str | None) -> list[str]:
    from nodecat.introspector.libraries import LIBRARIES
    return list(LIBRARIES) if library in (None, "all") else [library]


def _load(library: str):
    from nodecat.introspector.build import catalog_path_for, load_catalog
    return load_catalog(catalog_path_for(library))


@click.group()
def catalog() -> None:
    """Build, inspect, check and export node catalogs."""


@catalog.command("build")
@click.argument("library", type=click.Choice(["torch", "keras", "all"]), default="all")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the committed catalog differs from a fresh build.")
@click.option("--cache", is_flag=True, help="Write into the user cache instead of catalogs/ (for versions the project does not ship; a wheel install always writes there).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def build_cmd(library: str, check: bool, cache: bool, as_json: bool) -> None:
    """Crawl the installed LIBRARY and write catalogs/<library>-<version>.json."""
    from nodecat.introspector.build import build_catalog, catalog_text
    from nodecat.introspector.jsonio import write_atomic
    from nodecat.introspector.paths import build_target, committed_catalog, relative

    report, failed = [], False
    for lib in _libraries(library):
        def run() -> Any:
            with click.progressbar(length=1, label=f"crawling {lib}", file=sys.stderr,
                                   show_pos=True, item_show_func=lambda s: s) as bar:
                def progress(done: int, total: int, item: str) -> None:
                    bar.length = total
                    bar.update(done + 1 - bar.pos, item)
                return build_catalog(lib, progress)
        result = _guarded(as_json, run)
        text = catalog_text(result.catalog)
        # --check compares with the committed (or shipped) catalog; a wheel never writes into site-packages
        target = committed_catalog(lib, result.catalog.version) if check and not cache \
            else build_target(lib, result.catalog.version, cache)
        for problem in result.stale:
            click.secho(f"warning: {problem}", fg="yellow", err=True)
        entry = {"library": lib, "version": result.catalog.version, "file": relative(target),
                 "nodes": len(result.catalog.nodes), "stale_overrides": len(result.stale)}
        if check:
            same = target.exists() and target.read_text(encoding="utf-8") == text
            entry["up_to_date"] = same
            failed |= not same
            if not as_json:
                click.echo(f"{relative(target)}: {'up to date' if same else 'DIFFERS from a fresh build'}")
        else:
            write_atomic(target, text)
            if not as_json:
                click.echo(f"wrote {relative(target)} ({len(result.catalog.nodes)} nodes)")
        report.append(entry)
    if as_json:
        _emit_json(report)
    sys.exit(EXIT_CHECK_FAILED if failed else EXIT_OK)


@catalog.command("list")
@click.argument("library", type=LIBRARY_CHOICE, default="torch")
@click.option("--category", help="Only nodes whose category is this or below it (e.g. loss, tensor); "
                                 "--categories lists them.")
@click.option("--categories", "list_categories", is_flag=True,
              help="List the categories (every menu level) with their number of nodes instead.")
@click.option("--excluded", is_flag=True, help="List what the crawler left out, and why.")
@click.option("--json", "as_json", is_flag=True)
def list_cmd(library: str, category: str | None, list_categories: bool, excluded: bool, as_json: bool) -> None:
    """List the nodes of LIBRARY's catalog."""
    from nodecat.introspector.lookup import category_counts, check_category
    cat = _guarded(as_json, lambda: _load(library))
    if excluded:
        rows = [e.to_json() for e in sorted(cat.excluded, key=lambda e: e.id)]
        if as_json:
            _emit_json(rows)
        else:
            for row in rows:
                click.echo(f"{row['id']:<50} {row['code']:<12} {row['reason']}")
        return
    if list_categories:
        counts = category_counts(cat)
        if as_json:
            _emit_json([{"category": name, "nodes": count} for name, count in counts.items()])
        else:
            for name, count in counts.items():
                click.echo(f"{name:<32} {count}")
        return
    if category is not None:
        _guarded(as_json, lambda: check_category(category, cat))
    nodes = [n for n in sorted(cat.nodes, key=lambda n: n.id)
             if category is None or n.category == category or n.category.startswith(category + "/")]
    if as_json:
        _emit_json([{"id": n.id, "kind": n.kind, "category": n.category, "aliases": list(n.aliases),
                     "review": n.review} for n in nodes])
    else:
        for node in nodes:
            click.echo(f"{node.id:<50} {node.kind:<10} {node.category}")


def _find_node(name: str, library: str | None) -> Node:
    """The node a user means (see lookup.searched_libraries and find_in_libraries)."""
    from nodecat.introspector.libraries import LIBRARIES
    from nodecat.introspector.lookup import find_in_libraries, searched_libraries
    return find_in_libraries(name, searched_libraries(name, library, tuple(LIBRARIES)), _load)


@catalog.command("show")
@click.argument("name")
@click.option("--library", type=LIBRARY_CHOICE, default=None,
              help="Catalog to search (default: the one the id starts with, else every one).")
@click.option("--json", "as_json", is_flag=True)
def show_cmd(name: str, library: str | None, as_json: bool) -> None:
    """Show one node by id, alias or short name (torch.nn.Conv2d, nn.Conv2d, Conv2d).

    A short name that several nodes end with is an error listing them; a name nothing matches is
    an error with the closest ids."""
    node = _guarded(as_json, lambda: _find_node(name, library))
    if as_json:
        _emit_json(node.to_json())
        return
    from nodecat.introspector.show import format_node
    click.echo(format_node(node))


@catalog.command("validate")
@click.option("--json", "as_json", is_flag=True)
def validate_cmd(as_json: bool) -> None:
    """Schema-check catalogs and overrides; list stale overrides. Exit 1 if anything is wrong."""
    from nodecat.introspector.validate import validate_all
    problems, checked = validate_all()
    if as_json:
        _emit_json({"ok": not problems, "checked": checked, "problems": [p.to_json() for p in problems]})
    else:
        for name in checked:
            click.echo(f"checked {name}")
        for problem in problems:
            click.secho(f"problem: {problem}", fg="red")
        click.echo("ok" if not problems else f"{len(problems)} problem(s)")
    sys.exit(EXIT_CHECK_FAILED if problems else EXIT_OK)


@catalog.command("stats")
@click.argument("library", type=click.Choice(["torch", "keras", "all"]), default="all")
@click.option("--json", "as_json", is_flag=True)
def stats_cmd(library: str, as_json: bool) -> None:
    """Coverage and typing numbers per library (counts stale overrides against the installed version)."""
    from nodecat.introspector.validate import library_stats
    result = {lib: _guarded(as_json, lambda lib=lib: library_stats(lib)) for lib in _libraries(library)}
    if as_json:
        _emit_json(result)
        return
    for lib, stats in result.items():
        click.echo(f"{lib} {stats['version']}")
        for key, value in stats.items():
            if key != "version":
                click.echo(f"  {key:<20} {value}")


@catalog.command("review")
@click.argument("library", type=LIBRARY_CHOICE, default="torch")
@click.option("--interactive", is_flag=True, help="Walk through the items and write override entries.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--overrides", "overrides_path", type=click.Path(path_type=Path), default=None,
              help="Overrides file to write (default: overrides/<library>.json).")
@click.option("--catalog", "catalog_path", type=click.Path(path_type=Path), default=None,
              help="Catalog file to review (default: the one of the installed version).")
def review_cmd(library: str, interactive: bool, as_json: bool, overrides_path: Path | None,
               catalog_path: Path | None) -> None:
    """List what still needs a human decision, most used first."""
    from nodecat.introspector.build import load_catalog
    from nodecat.introspector.review import review_items
    items = review_items(_guarded(as_json, lambda: load_catalog(catalog_path) if catalog_path else _load(library)))
    if not interactive:
        if as_json:
            _emit_json([i.to_json() for i in items])
        else:
            for item in items:
                click.echo(f"{item.node} ({item.kind})")
                for name, reason in item.args:
                    click.echo(f"    {name}: {reason}")
            click.echo(f"{len(items)} node(s) need review")
        return
    from nodecat.introspector.interactive import run_review
    from nodecat.introspector.paths import IN_CHECKOUT
    if overrides_path is None and not IN_CHECKOUT:  # the shipped overrides lie in site-packages
        raise click.UsageError("an installed nodecat does not edit its own overrides: pass --overrides FILE "
                               "(e.g. a copy of the shipped file) to write the entries there")
    written = _guarded(False, lambda: run_review(library, items, overrides_path))
    click.echo(f"wrote {written} override entr{'y' if written == 1 else 'ies'}; "
               f"run `nodecat catalog build {library}` to apply them")


@catalog.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def diff_cmd(old: Path, new: Path, as_json: bool) -> None:
    """Nodes and arguments added, removed or changed between two catalog files."""
    from nodecat.introspector.build import load_catalog
    from nodecat.introspector.diff import diff_catalogs, format_diff
    result = _guarded(as_json, lambda: diff_catalogs(load_catalog(old), load_catalog(new)))
    if as_json:
        _emit_json(result)
    else:
        click.echo(format_diff(result))


@catalog.command("export")
@click.argument("library", type=LIBRARY_CHOICE, default="torch")
@click.option("--format", "fmt", type=click.Choice(["seed", "comfyui", "litegraph"]), required=True,
              help="seed: the node descriptor format of Kruppai et al., section 5.3; "
                   "comfyui: ComfyUI's /object_info node definitions; "
                   "litegraph: a LiteGraph.js palette (node types with slots, properties and widgets).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="File to write (default: stdout).")
def export_cmd(library: str, fmt: str, output: Path | None) -> None:
    """Write LIBRARY's catalog in another tool's format, or as a graph editor's node palette."""
    from nodecat.introspector.export_palette import PALETTE_FORMATS
    from nodecat.introspector.export_seed import seed_catalog
    from nodecat.introspector.jsonio import dumps, write_atomic
    export = {"seed": seed_catalog, **PALETTE_FORMATS}[fmt]
    text = dumps(export(_guarded(False, lambda: _load(library))))
    if output is None:
        click.echo(text, nl=False)
    else:
        write_atomic(output, text)
        click.echo(f"wrote {output}", err=True)
