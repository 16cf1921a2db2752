"""Shared fixtures: one torch and one Keras catalog build per session, the committed catalog, CLI helpers.

Crawling torch and probing every layer on the meta device takes seconds, so the
catalog is built once (`built`) and every test reads it; tests that need another
catalog or overrides file write it under tmp_path, never into catalogs/ or overrides/.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # as nodecat does; before anything imports keras

from click.testing import CliRunner, Result

import nodecat.introspector.build
from helpers import TORCH_VERSION
from nodecat.introspector.build import BuildResult, build_catalog, catalog_text
from nodecat.executor.cli.main import main
from nodecat.introspector.crawl import CrawlResult, crawl
from nodecat.introspector.libraries import load_profile
from nodecat.introspector.model import Catalog
from nodecat.introspector.paths import committed_catalog


@pytest.fixture(scope="session")
def built() -> BuildResult:
    """A fresh build of the torch catalog with the project's own overrides file."""
    return build_catalog("torch")


@pytest.fixture(scope="session")
def catalog(built: BuildResult) -> Catalog:
    return built.catalog


@pytest.fixture(scope="session")
def fresh_text(catalog: Catalog) -> str:
    """The fresh build as the exact text `nodecat catalog build` would write."""
    return catalog_text(catalog)


@pytest.fixture(scope="session")
def fresh_doc(fresh_text: str) -> dict[str, Any]:
    """The fresh build parsed back from JSON text: descriptors as any consumer sees them."""
    return json.loads(fresh_text)


@pytest.fixture(scope="session")
def committed_path() -> Path:
    return committed_catalog("torch", TORCH_VERSION)


@pytest.fixture
def committed_doc(committed_path: Path) -> dict[str, Any]:
    """The committed catalog as a fresh, mutable JSON document (each test gets its own copy)."""
    return json.loads(committed_path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def keras_built() -> BuildResult:
    """A fresh build of the Keras catalog (on the torch backend) with the project's overrides file."""
    return build_catalog("keras")


@pytest.fixture(scope="session")
def keras_catalog(keras_built: BuildResult) -> Catalog:
    return keras_built.catalog


@pytest.fixture(scope="session")
def keras_text(keras_catalog: Catalog) -> str:
    return catalog_text(keras_catalog)


@pytest.fixture(scope="session")
def keras_doc(keras_text: str) -> dict[str, Any]:
    return json.loads(keras_text)


@pytest.fixture(scope="session")
def keras_auto_crawl() -> CrawlResult:
    """The automatic Keras descriptors, before any override."""
    return crawl(load_profile("keras"))


@pytest.fixture(scope="session")
def auto_crawl() -> CrawlResult:
    """The automatic descriptors (before any override) of the installed torch."""
    return crawl(load_profile("torch"))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(runner: CliRunner) -> Callable[..., Result]:
    """Run `nodecat ARGS...` in-process; input= feeds prompts."""
    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, list(args), input=input)
    return run


@pytest.fixture
def use_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, Any]], Path]:
    """Make the CLI read a given catalog document (written to tmp_path) as the torch catalog."""
    def install(document: dict[str, Any]) -> Path:
        path = tmp_path / "torch-under-test.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        monkeypatch.setattr(nodecat.introspector.build, "catalog_path_for", lambda library, version=None: path)
        return path
    return install
