"""MkDocs hook: the parts of the docs that the code owns are generated here, never written by hand.

Placeholders in docs/pages/*.md (HTML comments, so a page still reads well unbuilt):

    <!-- error-codes -->
        The error-code table: every code of nodecat.executor.graph.vocabulary.ErrorCode, under the
        group comment it stands under in that Literal, with the modules of nodecat.executor whose
        source names it (where it is raised). A code no module names is shown as such.

    <!-- vocabulary: MODULE.NAME -->
        An inline list of the values of a closed vocabulary (a tuple, a frozenset or a Literal),
        e.g. `<!-- vocabulary: nodecat.introspector.vocabulary.PORT_TYPES -->`.

An unknown placeholder, a name that does not exist, or an ErrorCode Literal this hook cannot read
fails the build (`mkdocs build --strict` is what `make docs` and tests/test_docs_site.py run).
"""
from __future__ import annotations

import ast
import importlib
import inspect
import io
import re
import tokenize
import typing
from functools import cache
from pathlib import Path

from mkdocs.exceptions import PluginError

# Not between backticks: a page may quote a placeholder as code (pages/contributing.md does).
_PLACEHOLDER = re.compile(r"(?<!`)<!--\s*(error-codes|catalog-stats|vocabulary:\s*([\w.]+))\s*-->(?!`)")


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001 (MkDocs' signature)
    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "error-codes":
            return error_code_tables()
        if match.group(1) == "catalog-stats":
            return catalog_stats()
        return inline_list(match.group(2))

    return _PLACEHOLDER.sub(replace, markdown)


def inline_list(dotted: str) -> str:
    module_name, _, attr = dotted.rpartition(".")
    try:
        value = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise PluginError(f"docs/hooks.py: <!-- vocabulary: {dotted} --> names nothing: {exc}") from exc
    items = typing.get_args(value) or value
    if isinstance(items, (set, frozenset)):
        items = sorted(items)
    if not isinstance(items, (tuple, list)) or not items:
        raise PluginError(f"docs/hooks.py: {dotted} is not a tuple, set or Literal of values")
    return ", ".join(f"`{item}`" for item in items)


@cache
def error_groups() -> list[tuple[str, list[str]]]:
    """The ErrorCode Literal as (group comment, codes) pairs, read from the vocabulary's source."""
    from nodecat.executor.graph import vocabulary
    source = inspect.getsource(vocabulary)
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    start = next((i for i, tok in enumerate(tokens[:-3])
                  if tok.string == "ErrorCode" and tokens[i + 1].string == "="
                  and tokens[i + 2].string == "Literal" and tokens[i + 3].string == "["), None)
    if start is None:
        raise PluginError("docs/hooks.py: no `ErrorCode = Literal[...]` in nodecat.executor.graph.vocabulary")
    groups: list[tuple[str, list[str]]] = []
    for tok in tokens[start + 4:]:
        if tok.type == tokenize.OP and tok.string == "]":
            break
        if tok.type == tokenize.COMMENT:
            groups.append((tok.string.lstrip("#").strip(), []))
        elif tok.type == tokenize.STRING:
            if not groups:
                groups.append(("", []))
            groups[-1][1].append(ast.literal_eval(tok.string))
    found = [code for _, codes in groups for code in codes]
    if found != list(vocabulary.ERROR_CODES):
        raise PluginError("docs/hooks.py: the ErrorCode source and ERROR_CODES disagree")
    return groups


@cache
def raised_in() -> dict[str, list[str]]:
    """Error code -> the modules of nodecat.executor whose source has it as a string literal."""
    import nodecat.executor
    from nodecat.executor.graph.vocabulary import ERROR_CODES
    codes = set(ERROR_CODES)
    root = Path(nodecat.executor.__file__).parent
    where: dict[str, list[str]] = {code: [] for code in ERROR_CODES}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).with_suffix("")
        if relative.parts == ("graph", "vocabulary") or relative.parts[0] == "nodecat":
            continue  # the vocabulary itself; executor/nodecat/ is the `nodecat` package, not executor
        module = ".".join(("nodecat.executor", *relative.parts)).removesuffix(".__init__")
        named = {node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                 if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in codes}
        for code in named:
            where[code].append(module)
    return where


def error_code_tables() -> str:
    where = raised_in()
    parts: list[str] = []
    for group, codes in error_groups():
        parts.append(f"### {group[:1].upper()}{group[1:]}" if group else "### Other codes")
        parts.append("")
        parts.append("| code | raised in |")
        parts.append("|---|---|")
        for code in codes:
            modules = ", ".join(f"`{m}`" for m in where[code]) or "*(declared; no module of nodecat.executor names it now)*"
            parts.append(f"| `{code}` | {modules} |")
        parts.append("")
    return "\n".join(parts)


@cache
def catalog_stats() -> str:
    """What `nodecat catalog stats` prints for the committed catalogs, as a code block: numbers that
    are copied by hand go stale with the next override."""
    from click.testing import CliRunner

    from nodecat.executor.cli.main import main
    result = CliRunner().invoke(main, ["catalog", "stats"])
    if result.exit_code != 0:
        raise PluginError(f"nodecat catalog stats failed: {result.output}")
    return "```\n" + result.output.rstrip() + "\n```"
