"""The Keras catalog does not depend on the Keras backend.

nodecat crawls Keras on the torch backend unless KERAS_BACKEND names another. Keras also ships a
numpy backend that needs nothing beyond numpy, so the catalog is rebuilt on it in a fresh process
(the backend is fixed at import) and compared byte for byte. JAX is compared too where it is
installed (`pip install jax jaxlib`; not a project dependency, so CI skips that case).
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

BUILD = "import sys; from nodecat.introspector.build import build_catalog, catalog_text; " \
        "sys.stdout.write(catalog_text(build_catalog('keras').catalog))"


def build_on(backend: str) -> str:
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, "-c", BUILD], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("backend", [
    "numpy",
    pytest.param("jax", marks=pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                                 reason="jax is not installed (optional)")),
])
def test_catalog_is_the_same_on_another_backend(backend: str, keras_text: str) -> None:
    other = build_on(backend)
    if other != keras_text:  # show the first differing line, not two megabytes
        for index, (mine, theirs) in enumerate(zip(keras_text.splitlines(), other.splitlines())):
            if mine != theirs:
                pytest.fail(f"line {index + 1} differs on {backend}:\n torch: {mine}\n {backend}: {theirs}")
    assert other == keras_text


def test_nodecat_chooses_torch_unless_the_user_chose() -> None:
    code = "import os; from nodecat.introspector.libraries import load_profile; load_profile('keras'); " \
           "import keras; print(keras.backend.backend())"
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    chosen = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert chosen.stdout.strip() == "torch", chosen.stderr[-2000:]
    env["KERAS_BACKEND"] = "numpy"
    chosen = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert chosen.stdout.strip() == "numpy", chosen.stderr[-2000:]
