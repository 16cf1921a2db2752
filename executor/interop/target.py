"""What `nodecat import` is pointed at, and the input shapes it is told.

A TARGET is `path/to/file.py:factory` or `package.module:factory` (a function the user names on the
command line, called with no arguments, returning a torch.nn.Module or a keras.Model), or a
`.keras` file. Running the user's own factory is the point of importing; what this module never
does is run code a file merely mentions (a `.keras` file is read as JSON config, never unpickled).
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.vocabulary import DTYPES
from nodecat.executor.graph.errors import short_error

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class InputSpec:
    """A model input as the user describes it: its full shape (None = open) and dtype."""

    shape: tuple[int | None, ...]
    dtype: str = "float32"

    def graph_shape(self) -> list[int | None]:
        """The shape an imported graph declares: the first dimension (the batch) left open, so the
        graph runs on any batch size."""
        return [None, *self.shape[1:]] if self.shape else []

    def example_shape(self) -> tuple[int, ...]:
        """A concrete shape to trace with: open dimensions become 1 (the batch 2, so that a model
        which treats batch 1 specially is not traced on it)."""
        return tuple((2 if i == 0 else 1) if d is None else d for i, d in enumerate(self.shape))


def _bad_spec(text: str, why: str) -> GraphError:
    return GraphError(GraphProblem("bad_input_spec", f"--input-shape {text!r}: {why}",
                                   hint="NAME=1,3,224,224 (full shape with the batch; ? leaves a dimension "
                                        "open; :int64 after the shape sets the dtype)"))


def parse_input_spec(text: str) -> tuple[str, InputSpec]:
    """`x=1,3,224,224`, `tokens=2,16:int64`, `x=?,3,32,32` -> (name, InputSpec)."""
    name, sep, rest = text.partition("=")
    if not sep or not _NAME.match(name.strip()):
        raise _bad_spec(text, "expected NAME=DIMS")
    dims_text, _, dtype = rest.partition(":")
    dtype = dtype.strip() or "float32"
    if dtype not in DTYPES:
        raise _bad_spec(text, f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    dims: list[int | None] = []
    for part in (p.strip() for p in dims_text.split(",")):
        if part in ("?", "None", "none", "-1"):
            dims.append(None)
        elif part.isdigit() and 0 < int(part) <= 2 ** 31 - 1:
            dims.append(int(part))
        else:
            raise _bad_spec(text, f"dimension {part!r} is not a positive integer or ?")
    if not dims or len(dims) > 8:
        raise _bad_spec(text, "a shape has 1 to 8 dimensions")
    return name.strip(), InputSpec(tuple(dims), dtype)


def parse_input_specs(texts: tuple[str, ...] | list[str]) -> dict[str, InputSpec]:
    specs: dict[str, InputSpec] = {}
    for text in texts:
        name, spec = parse_input_spec(text)
        if name in specs:
            raise _bad_spec(text, f"input {name!r} is given twice")
        specs[name] = spec
    return specs


def is_keras_file(target: str) -> bool:
    return target.endswith(".keras") and ":" not in Path(target).name


def load_factory(target: str) -> tuple[Callable[[], Any], str]:
    """The factory a TARGET names, and a name for the graph (the factory's name)."""
    where, sep, attr = target.rpartition(":")
    if not sep or not _NAME.match(attr):
        raise GraphError(GraphProblem("bad_target", f"{target!r} does not name a factory",
                                      hint="path/to/file.py:factory, package.module:factory or model.keras"))
    module = _load_file(Path(where)) if where.endswith(".py") else _load_module(where)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise GraphError(GraphProblem("bad_target", f"{where} has no callable {attr!r}",
                                      hint="the factory is called with no arguments and returns the model"))
    return factory, attr


def _load_file(path: Path) -> Any:
    if not path.is_file():
        raise GraphError(GraphProblem("bad_target", f"{path} does not exist"))
    name = "nodecat_import_" + re.sub(r"\W", "_", str(path.resolve().with_suffix("")))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise GraphError(GraphProblem("bad_target", f"{path} cannot be loaded as a Python module"))
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # the file may import its neighbours, as it would when run as a script
    sys.modules[name] = module  # dataclasses and pickling look their module up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise GraphError(GraphProblem("import_failed", f"running {path} failed: {short_error(exc)}")) from exc
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    return module


def _load_module(name: str) -> Any:
    if not _MODULE.match(name):
        raise GraphError(GraphProblem("bad_target", f"{name!r} is neither a .py file nor a module name",
                                      hint="path/to/file.py:factory or package.module:factory"))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise GraphError(GraphProblem("bad_target", f"module {name!r} not found: {exc}",
                                      hint="is it installed, or on PYTHONPATH?")) from exc
    except Exception as exc:
        raise GraphError(GraphProblem("import_failed", f"importing {name} failed: {short_error(exc)}")) from exc


def call_factory(factory: Callable[[], Any], name: str) -> Any:
    try:
        return factory()
    except Exception as exc:
        raise GraphError(GraphProblem("import_failed", f"{name}() failed: {short_error(exc)}")) from exc
