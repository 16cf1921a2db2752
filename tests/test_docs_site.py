"""The documentation: the site builds strictly, its generated parts cover what the code owns, and
every example marked runnable runs.

Runnable examples: a fenced ```python or ```sh/```bash block in README.md or docs/pages/**/*.md
whose previous line is exactly `<!-- runnable -->` (docs/pages/contributing.md). Each runs in a
fresh temporary copy of the checkout's tracked files, from its root, with the venv's bin/ first
on PATH, and must exit 0.
"""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from nodecat.executor.cli.main import main as cli_group
from nodecat.executor.graph.vocabulary import ERROR_CODES

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin/ (`make test` runs .venv/bin/python)
MARKER = "<!-- runnable -->"
RUNNERS = {"python": "python", "py": "python", "sh": "bash", "bash": "bash", "shell": "bash"}
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`]*)")


@dataclass(frozen=True)
class Block:
    file: str
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    runnable: bool


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs" / "pages").rglob("*.md"))]


def fenced_blocks(path: Path) -> list[Block]:
    """Every top-level fenced block (a fence quoted inside a longer fence is content, not a block)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, language = opening.group(2), opening.group(3).lower()
        end = next((j for j in range(i + 1, len(lines))
                    if lines[j].strip().startswith(fence[0] * len(fence)) and not lines[j].strip().strip(fence[0])),
                   len(lines))
        blocks.append(Block(str(path.relative_to(ROOT)), i + 1, language, "\n".join(lines[i + 1:end]) + "\n",
                            i > 0 and lines[i - 1].strip() == MARKER))
        i = end + 1
    return blocks


RUNNABLE = [block for path in doc_files() for block in fenced_blocks(path) if block.runnable]


# -- the site ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mkdocs = BIN / "mkdocs"
    assert mkdocs.exists(), "mkdocs is missing: pip install -c constraints.txt -e '.[docs]'"
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([str(mkdocs), "build", "--strict", "-f", str(ROOT / "docs" / "mkdocs.yml"), "-d", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def page_text(site: Path, page: str) -> str:
    return html.unescape((site / page / "index.html").read_text(encoding="utf-8"))


def command_paths(group: click.Group, prefix: str) -> list[str]:
    paths = []
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        paths.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            paths += command_paths(command, f"{prefix} {name}")
    return paths


def test_cli_page_documents_every_command(site: Path) -> None:
    text = page_text(site, "cli")
    paths = command_paths(cli_group, "nodecat")
    assert len(paths) > 10  # precondition: the group really was walked, subgroups included
    missing = [path for path in paths if f">{path}<" not in text]
    assert missing == [], f"commands missing from the generated CLI page: {missing}"


def test_error_page_lists_every_error_code(site: Path) -> None:
    text = page_text(site, "errors")
    missing = [code for code in ERROR_CODES if f"<code>{code}</code>" not in text]
    assert missing == [], f"error codes missing from the generated page: {missing}"


def test_catalog_page_shows_the_committed_catalogs_statistics(site: Path) -> None:
    import json
    text = page_text(site, "catalogs")
    for catalog in sorted((ROOT / "catalogs").glob("*.json")):
        document = json.loads(catalog.read_text(encoding="utf-8"))
        assert f"{document['library']} {document['version']}" in text
        applied = document["overrides"]["applied"]
        assert re.search(rf"overrides_applied +{applied}\b", text), f"{catalog.name}: {applied} overrides applied"


# -- runnable examples ------------------------------------------------------------------------------

def test_runnable_markers_sit_on_fences() -> None:
    """A marker that is not right before a fence, or marks a language we cannot run, is a mistake."""
    problems = []
    for path in doc_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        quoted = {n for b in fenced_blocks(path) for n in range(b.line, b.line + b.code.count("\n") + 1)}
        for number, line in enumerate(lines, start=1):
            if line.strip() != MARKER or number in quoted:
                continue
            following = lines[number] if number < len(lines) else ""
            opening = _FENCE.match(following)
            if not opening or opening.group(3).lower() not in RUNNERS:
                problems.append(f"{path.relative_to(ROOT)}:{number}: {following!r}")
    assert problems == []
    assert RUNNABLE, "no block is marked runnable"


def working_copy(target: Path) -> Path:
    """The checkout's tracked files (as they are in the working tree), copied under target."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"{b.file}:{b.line}" for b in RUNNABLE])
def test_runnable_block(block: Block, tmp_path: Path) -> None:
    copy = working_copy(tmp_path / "checkout")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(BIN.parent),
           "NODECAT_CACHE": str(tmp_path / "cache"), "MPLBACKEND": "Agg", "NO_MKDOCS_2_WARNING": "1"}
    runner = RUNNERS[block.language]
    command = [str(BIN / "python"), "-"] if runner == "python" else ["bash", "-e", "-o", "pipefail", "-s"]
    done = subprocess.run(command, input=block.code, cwd=copy, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, (f"{block.file}:{block.line} exited {done.returncode}\n"
                                  f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")


# -- the README ------------------------------------------------------------------------------------

def test_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines; reference material belongs in docs/pages/"


@pytest.mark.parametrize("readme", ["README.md", "examples/README.md"])
def test_readme_links_and_pictures_exist(readme: str) -> None:
    path = ROOT / readme
    targets = re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8"))
    local = [t for t in targets if "://" not in t]
    assert local  # precondition: the pattern finds the links
    missing = [t for t in local if not (path.parent / t).exists()]
    assert missing == [], f"{readme} links to files that do not exist: {missing}"
