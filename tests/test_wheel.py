"""nodecat as people install it: a wheel (not editable) in a fresh virtual environment, used from a
directory outside the checkout, beside the unrelated PyPI distributions `executor` and `introspector`.

The wheel is built from this checkout without build isolation (no network). The new environment
gets only the wheel; its dependencies (torch, keras, ... and the PyPI `executor` and `introspector`)
are reached through a .pth line naming this test environment's site-packages. A path added by a
.pth file is not scanned for .pth files itself, so this checkout's editable install stays invisible
there: whatever `nodecat` imports in the new environment comes from the wheel.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy of the files git knows (tracked, or new and not ignored): an in-tree build
    # would reuse the checkout's build/ directory, where modules that have moved since linger.
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(out), str(source)], check=True, cwd=source, capture_output=True, timeout=300)
    (built,) = out.glob("nodecat-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    env_dir = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "-q", str(wheel)], check=True, capture_output=True, timeout=300)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return env_dir


def _run(venv: Path, cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "XDG_CACHE_HOME": str(cwd / "cache"), "PYTHONPATH": ""}
    env.pop("NODECAT_CACHE", None)
    done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def test_the_wheel_holds_one_import_name_and_the_package_data(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"nodecat"}
    for data in ("nodecat/catalogs/torch-2.13.0.json", "nodecat/catalogs/keras-3.15.1.json",
                 "nodecat/catalogs/schema/graph.schema.json", "nodecat/overrides/torch.json",
                 "nodecat/executor/demo/digits.npz", "nodecat/executor/demo/digits_cnn.json"):
        assert data in names


def test_installed_beside_the_pypi_executor_and_introspector_all_three_import(venv: Path, tmp_path: Path):
    script = ("import json, executor, introspector, nodecat; "
              "print(json.dumps({m.__name__: m.__file__ for m in (executor, introspector, nodecat)} | "
              "{'execute': callable(getattr(executor, 'execute', None)), 'check': callable(nodecat.check)}))")
    found = json.loads(_run(venv, tmp_path, str(venv / "bin" / "python"), "-c", script).stdout)
    assert found["execute"] and found["check"]  # the PyPI executor's own API, and ours
    assert Path(found["nodecat"]).is_relative_to(venv)  # from the wheel, not from the checkout
    for other in ("executor", "introspector"):
        assert not Path(found[other]).is_relative_to(ROOT / other), f"{other} resolved to the checkout's directory"
        assert not Path(found[other]).is_relative_to(venv)  # the PyPI distribution, not ours


def test_commands_work_outside_the_checkout(venv: Path, tmp_path: Path):
    graph = tmp_path / "cnn.json"
    graph.write_text((ROOT / "examples" / "cnn.json").read_text(encoding="utf-8"), encoding="utf-8")
    nodecat = str(venv / "bin" / "nodecat")
    version = _run(venv, tmp_path, str(venv / "bin" / "python"), "-m", "nodecat", "--version").stdout
    assert version.startswith("nodecat, version ")
    assert "ok:" in _run(venv, tmp_path, nodecat, "check", "cnn.json").stdout
    shown = json.loads(_run(venv, tmp_path, nodecat, "catalog", "show", "torch.nn.Conv2d", "--json").stdout)
    assert "Conv2d" in json.dumps(shown)
    report = json.loads(_run(venv, tmp_path, nodecat, "demo", "--epochs", "1", "--out", "demo", "--json",
                             "--no-progress").stdout)
    assert report["epochs"] == 1 and (tmp_path / "demo" / "curves.png").is_file()


def test_catalog_build_of_a_wheel_install_writes_to_the_user_cache(venv: Path, tmp_path: Path):
    site = next((venv / "lib").glob("python*/site-packages"))
    shipped = sorted(p.name for p in (site / "nodecat" / "catalogs").iterdir())
    built = json.loads(_run(venv, tmp_path, str(venv / "bin" / "nodecat"), "catalog", "build", "torch",
                            "--json").stdout)
    cached = tmp_path / "cache" / "nodecat" / "catalogs" / "torch-2.13.0.json"
    assert built[0]["file"] == str(cached) and cached.is_file()
    assert sorted(p.name for p in (site / "nodecat" / "catalogs").iterdir()) == shipped
    assert cached.read_bytes() == (ROOT / "catalogs" / "torch-2.13.0.json").read_bytes()  # same bytes as the checkout's


def test_review_of_a_wheel_install_does_not_edit_the_shipped_overrides(venv: Path, tmp_path: Path):
    site = next((venv / "lib").glob("python*/site-packages"))
    shipped = (site / "nodecat" / "overrides" / "keras.json").read_bytes()
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": ""}
    done = subprocess.run([str(venv / "bin" / "nodecat"), "catalog", "review", "keras", "--interactive"], cwd=tmp_path,
                          env=env, input="quit\n", capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "--overrides FILE" in done.stderr
    assert (site / "nodecat" / "overrides" / "keras.json").read_bytes() == shipped
