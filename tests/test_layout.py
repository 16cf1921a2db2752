"""The house: one import name (`nodecat`), packages by job, no import cycle between modules.

Every import counts, including those inside functions (imported on use to keep start-up light):
a cycle through a lazy import is still two modules that cannot be understood one without the other.
"""
from __future__ import annotations

import ast
import graphlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"nodecat": ROOT / "executor" / "nodecat", "nodecat.executor": ROOT / "executor",
                "nodecat.introspector": ROOT / "introspector", "nodecat.catalogs": ROOT / "catalogs",
                "nodecat.overrides": ROOT / "overrides"}


def _modules() -> dict[str, Path]:
    """Every module of the installed tree, by its import name."""
    modules: dict[str, Path] = {}
    for package, directory in PACKAGE_DIRS.items():
        for path in sorted(directory.rglob("*.py")):
            parts = path.relative_to(directory).with_suffix("").parts
            if package == "nodecat.executor" and parts[0] == "nodecat":
                continue  # the `nodecat` package itself, listed under its own name
            name = ".".join((package, *parts)).removesuffix(".__init__")
            modules[name] = path
    return modules


def _runtime_nodes(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:` (imports for annotations never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            yield from (n for child in node.orelse for n in ast.walk(child))
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its file (`from pkg import mod` names the module)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in modules else base)
    return {m for m in found if m in modules and m != name}


def test_no_import_cycle_between_modules():
    modules = _modules()
    graph = {name: _imports(path, name, modules) for name, path in modules.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None


def test_no_module_imports_the_bare_directory_names():
    """`executor` and `introspector` are other distributions' names: only `nodecat.*` is imported,
    by the package, its tests, benchmarks and examples."""
    offenders = []
    scripts = {str(p.relative_to(ROOT)): p for d in ("tests", "bench", "examples") for p in (ROOT / d).rglob("*.py")
               if "node_modules" not in p.parts}
    for name, path in {**_modules(), **scripts}.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{name}: {n}" for n in names if n.split(".")[0] in ("executor", "introspector")]
    assert offenders == []


def test_pyproject_lists_every_package_of_the_tree():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert {k: ROOT / v for k, v in config["package-dir"].items()} == PACKAGE_DIRS
    packages = {name for name, path in _modules().items() if path.name == "__init__.py"}
    assert sorted(config["packages"]) == sorted(packages)


def test_every_subpackage_says_what_it_owns():
    for name, path in _modules().items():
        if path.name == "__init__.py":
            assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), f"{name} has no docstring"
