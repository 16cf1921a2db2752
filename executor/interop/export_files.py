"""Files a checked graph exports to: Python source, Python plus a torch state dict, ONNX, `.keras`.

Every writer stages its output next to the target and renames it into place only when everything
succeeded, so a failure leaves no partial file. A library's failure becomes a GraphError
(`export_failed`); a target the graph cannot have is `unsupported_export`.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.interop.export_python import python_source
from nodecat.executor.graph.validate import CheckedGraph, CheckedNode
from nodecat.executor.graph.errors import short_error
from nodecat.introspector.jsonio import write_atomic

_BATCH_EXAMPLE = 2  # torch.export treats a size of 1 as fixed, so the traced batch is 2
_OPEN_DIM_EXAMPLE = 5  # other open dims: a size unlike the batch, so they are not assumed equal
_EXTERNAL_DATA_BYTES = 1 << 30  # above this, ONNX weights go to a `.data` file (protobuf stops at 2 GiB)


# -- python and torch ------------------------------------------------------------------------------
def export_python(checked: CheckedGraph, out: Path, graph_file: str | Path | None = None) -> list[Path]:
    write_atomic(out, python_source(checked, graph_file))
    return [out]


class ExportNote(UserWarning):
    """Something to know about an export that succeeded, e.g. that the fallback ONNX exporter was
    used (issued with `warnings.warn`; the CLI prints it as a note)."""


def export_torch(checked: CheckedGraph, out: Path, weights: Path | None, seed: int,
                 graph_file: str | Path | None = None) -> list[Path]:
    """The Python source plus its weights next to it (`net.py`, `net.safetensors`): the given
    weights, or the executor's fresh initialisation with `seed`."""
    from nodecat.executor.build.weights import save_weights
    source = python_source(checked, graph_file)  # everything that can fail happens before writing
    model = built_model(checked, weights, seed)
    weights_out = out.with_suffix(".safetensors")
    save_weights(model, weights_out)
    try:
        write_atomic(out, source)
    except BaseException:
        weights_out.unlink(missing_ok=True)  # no weights without the source they belong to
        raise
    return [out, weights_out]


def built_model(checked: CheckedGraph, weights: Path | None, seed: int) -> Any:
    """The executor's model on cpu, with `weights` loaded or freshly initialised from `seed`."""
    from nodecat.executor.build.run import build
    _seed(checked, seed)
    return build(checked, "cpu", weights)


def _seed(checked: CheckedGraph, seed: int) -> None:
    import torch
    torch.manual_seed(seed)
    if any(n.descriptor.library == "keras" for n in checked.order):
        import keras
        keras.utils.set_random_seed(seed)


# -- keras -----------------------------------------------------------------------------------------
def export_keras(checked: CheckedGraph, out: Path, weights: Path | None, seed: int) -> list[Path]:
    """The built keras.Model saved as a `.keras` file (loads with `keras.saving.load_model`)."""
    if checked.backend != "keras":
        raise GraphError(GraphProblem(
            "unsupported_export", "a .keras file holds a Keras model, and this graph has torch nodes",
            hint="use --to torch (Python source and a state dict) or --to onnx"))
    model = built_model(checked, weights, seed)
    with _staged(out) as staged, _library_failure("Keras could not save the model"), _quiet():
        model.save(staged)  # quiet: Keras' saving code warns about numpy 2 on the torch backend
    return [out]


# -- onnx ------------------------------------------------------------------------------------------
def export_onnx(checked: CheckedGraph, out: Path, weights: Path | None, seed: int) -> list[Path]:
    """The model as ONNX: inputs named by graph input id, outputs by graph output name, open
    dimensions (the batch) dynamic. torch.export's exporter first; the TorchScript one if it fails."""
    model = built_model(checked, weights, seed)
    module = model if checked.backend == "torch" else _keras_as_torch(model, len(checked.inputs))
    module.eval()
    attempts = (("torch.export", _export_dynamo), ("TorchScript", _export_legacy))
    failures = []
    with _staged(out) as staged:
        for name, exporter in attempts:
            try:
                with _quiet():
                    doubts = exporter(checked, module, staged)
                _check_onnx(staged)
                if failures:
                    _note_fallback(name, failures, doubts)
                return _onnx_files(staged, out)
            except Exception as exc:  # noqa: BLE001  (any exporter failure: try the next one, report all)
                failures.append(f"{name}: {_export_error_text(exc)}")
                _clear(staged)
        raise GraphError(GraphProblem("export_failed", "the model could not be exported to ONNX: " + "; ".join(failures),
                                      hint="`nodecat export --to python` gives code to adapt by hand"))


def _note_fallback(used: str, failures: list[str], doubts: list[str]) -> None:
    """Say which exporter was used instead and why; a traced (TorchScript) export may have fixed
    what the example input decided, which its tracer says."""
    text = f"exported with the {used} exporter because {'; '.join(failures)}"
    if doubts:
        text += f". The tracer warned: {'; '.join(doubts)}; check the model on other inputs"
    warnings.warn(ExportNote(text), stacklevel=3)


def _onnx_files(staged: Path, out: Path) -> list[Path]:
    """The files the export wrote, by their final names (`model.onnx`, maybe `model.onnx.data`)."""
    return sorted(out.parent / p.name for p in staged.parent.iterdir())


def _example_inputs(checked: CheckedGraph) -> tuple[Any, ...]:
    import torch

    from nodecat.executor.build.torch_build import torch_dtype
    return tuple(torch.zeros(_example_shape(n), dtype=torch_dtype(n.args.get("dtype", "float32")))
                 for n in checked.inputs)


def _example_shape(node: CheckedNode) -> tuple[int, ...]:
    return tuple((_BATCH_EXAMPLE if axis == 0 else _OPEN_DIM_EXAMPLE) if d is None else d
                 for axis, d in enumerate(node.args["shape"]))


def _open_dims(node: CheckedNode) -> dict[int, str]:
    """Axis -> name of each open dimension: the first is the batch, shared by every input."""
    return {axis: "batch" if axis == 0 else f"{node.id}_dim{axis}"
            for axis, d in enumerate(node.args["shape"]) if d is None}


def _export_dynamo(checked: CheckedGraph, module: Any, target: Path) -> list[str]:
    """torch.export's exporter, open dimensions dynamic; it traces symbolically, so no doubts."""
    import torch
    dims: dict[str, Any] = {}
    specs = tuple({axis: dims.setdefault(name, torch.export.Dim(name)) for axis, name in _open_dims(n).items()} or None
                  for n in checked.inputs)
    # the Keras adapter's forward takes *inputs, which torch.export sees as one tuple argument
    dynamic = specs if checked.backend == "torch" else (specs,)
    external = sum(p.numel() * p.element_size() for p in module.state_dict().values()) > _EXTERNAL_DATA_BYTES
    torch.onnx.export(module, _example_inputs(checked), str(target), dynamo=True, dynamic_shapes=dynamic,
                      external_data=external, **_names(checked))
    return []


def _export_legacy(checked: CheckedGraph, module: Any, target: Path) -> list[str]:
    """The TorchScript exporter (deprecated by torch, kept as a fallback); the tracer's doubts
    (tensors turned into Python values, which the trace then fixes)."""
    import torch
    axes = {n.id: dims for n in checked.inputs if (dims := _open_dims(n))}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.onnx.export(module, _example_inputs(checked), str(target), dynamo=False, dynamic_axes=axes,
                          **_names(checked))
    return sorted({str(w.message).split(".")[0] for w in caught if w.category is torch.jit.TracerWarning})


def _names(checked: CheckedGraph) -> dict[str, list[str]]:
    return {"input_names": [n.id for n in checked.inputs], "output_names": [o.name for o in checked.graph.outputs]}


def _check_onnx(path: Path) -> None:
    import onnx
    onnx.checker.check_model(str(path))  # by path: also works when the weights are external data


def _keras_as_torch(model: Any, input_count: int) -> Any:
    """A Keras model as a torch module whose forward takes the graph inputs as tensors (on the
    torch backend a Keras model is a torch module, but its call takes one list of inputs)."""
    import keras
    import torch
    if keras.backend.backend() != "torch":
        raise GraphError(GraphProblem("unsupported_export", "ONNX export of Keras graphs needs Keras' torch "
                                      f"backend, not {keras.backend.backend()}", hint="set KERAS_BACKEND=torch"))

    class KerasForward(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> Any:
            return self.model(inputs[0] if input_count == 1 else list(inputs), training=False)

    return KerasForward()


def _export_error_text(exc: BaseException) -> str:
    """The line of an exporter's report that says what failed (torch.export's reports are long)."""
    lines = [line.strip() for line in str(exc).splitlines()]
    if "## Exception summary" in lines:
        following = [line for line in lines[lines.index("## Exception summary") + 1:] if line]
        if following:  # "<class 'torch._dynamo.exc.UserError'>: message" -> "UserError: message"
            return re.sub(r"^<class '(?:[\w.]+\.)?(\w+)'>", r"\1", following[0])[:300]
    cause = exc.__cause__
    return short_error(cause if cause is not None and not str(exc).strip() else exc)


# -- staging and quiet ---------------------------------------------------------------------------------
@contextlib.contextmanager
def _staged(out: Path) -> Iterator[Path]:
    """A path with the target's name inside a private directory next to it; on success every file
    there is renamed into place, on failure the directory is removed, leaving nothing behind."""
    out.parent.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        yield directory / out.name
        for produced in directory.iterdir():
            os.replace(produced, out.parent / produced.name)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _clear(staged: Path) -> None:
    """Remove what a failed exporter left in the staging directory."""
    for leftover in staged.parent.iterdir():
        leftover.unlink()


@contextlib.contextmanager
def _library_failure(what: str) -> Iterator[None]:
    try:
        yield
    except GraphError:
        raise
    except Exception as exc:  # any library error, reported as an export failure, never a traceback
        raise GraphError(GraphProblem("export_failed", f"{what}: {short_error(exc)}")) from exc


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' progress prints, warnings and log records (the CLI reports instead)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
