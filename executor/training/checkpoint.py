"""Training checkpoints that are whole or absent, never half-written; no pickle anywhere.

Layout: `OUT/checkpoints/epoch-000012/` holds `tensors.safetensors` (every tensor: the caller's,
such as model weights under `model.`, and those found inside the state under `state.`) and
`state.json` (the rest of the state as strict, sorted JSON). A checkpoint is written into a
`.tmp-*` directory next to its final place and renamed into place, so a reader (or a resume after a
crash) sees a complete checkpoint or none.

`encode_state`/`decode_state` turn what torch's `state_dict()` methods return (int keys, tuples,
tensors, `inf`) into strict JSON plus a dict of tensors, and back exactly, so an optimizer restored
from a checkpoint takes bit-identical steps.
"""
from __future__ import annotations

import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from nodecat.executor.graph.errors import GraphError, GraphProblem

if TYPE_CHECKING:
    import torch

CHECKPOINT_FORMAT = "nodecat-checkpoint/1"
CHECKPOINTS_DIR = "checkpoints"
TENSORS_FILE = "tensors.safetensors"
STATE_FILE = "state.json"
STATE_PREFIX = "state"  # tensors found inside the state are stored as "state.<json path>"
_EPOCH_DIR = re.compile(r"epoch-([0-9]{6,})")
_TMP = ".tmp-"


@dataclass(frozen=True)
class Checkpoint:
    epoch: int  # completed epochs
    path: Path  # the checkpoint directory
    state: dict[str, Any]  # the state given to save_checkpoint, decoded (its tensors on the cpu)

    def tensors(self) -> dict[str, "torch.Tensor"]:
        """The tensors given to save_checkpoint (on the cpu), read now from the safetensors file."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        path = self.path / TENSORS_FILE
        try:
            loaded = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise _bad(path, f"cannot read the tensors: {exc}") from None
        return {k: v for k, v in loaded.items() if not _is_state_key(k)}


def checkpoints_dir(out_dir: Path) -> Path:
    return Path(out_dir) / CHECKPOINTS_DIR


def epoch_dir_name(epoch: int) -> str:
    return f"epoch-{epoch:06d}"


# ---------------------------------------------------------------------------------------- saving

def save_checkpoint(out_dir: Path, epoch: int, tensors: Mapping[str, "torch.Tensor"],
                    state: dict[str, Any], keep: int = 2) -> Path:
    """Write the checkpoint of `epoch` completed epochs under OUT/checkpoints/ and return its directory.

    `tensors` (any device, any layout; their names must not start with "state.") and the tensors
    inside `state` go to tensors.safetensors; the rest of `state` (see encode_state) to state.json.
    The directory is written as `.tmp-epoch-<n>-<pid>`, every file and the directory fsynced, then
    renamed to `epoch-<n:06d>`. An existing checkpoint of the same epoch is moved aside first and
    deleted only once the new one is in place. Afterwards the checkpoints beyond the `keep` newest
    (the one just written always stays) and stale `.tmp-*` directories are deleted.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch must be an int >= 0, not {epoch!r}")
    if keep < 1:
        raise ValueError(f"keep must be at least 1, not {keep!r}")
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, not {type(state).__qualname__}")
    reserved = sorted(k for k in tensors if _is_state_key(k))
    if reserved:
        raise ValueError(f"tensor names starting with {STATE_PREFIX!r} are reserved for the state: {reserved[:5]}")
    encoded, state_tensors = encode_state(state, prefix=STATE_PREFIX)
    document = {"format": CHECKPOINT_FORMAT, "epoch": epoch, "state": encoded}

    root = checkpoints_dir(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{_TMP}epoch-{epoch}-{os.getpid()}"
    _remove_tree(tmp)  # left by an earlier crash of a process that had our pid
    try:
        tmp.mkdir()
        _write_tensors(tmp / TENSORS_FILE, {**tensors, **state_tensors}, epoch)
        _write_file(tmp / STATE_FILE, _dumps(document).encode("utf-8"))
        _fsync_dir(tmp)
        final = root / epoch_dir_name(epoch)
        _move_into_place(tmp, final, root)
    except BaseException:
        _remove_tree(tmp)
        raise
    _prune(root, keep, epoch)
    return final


def _move_into_place(tmp: Path, final: Path, root: Path) -> None:
    """Rename tmp to final; an existing final is moved aside and put back if the rename fails.

    A directory cannot be renamed over a non-empty one, so the old checkpoint of the same epoch is
    first renamed to a `.tmp-old-*` name (the last one deleted once the new one is in place).
    """
    aside = root / f"{_TMP}old-{final.name}-{os.getpid()}"
    moved_aside = False
    if final.exists():
        _remove_tree(aside)
        os.replace(final, aside)
        moved_aside = True
    try:
        os.replace(tmp, final)
    except BaseException:
        if moved_aside and not final.exists():
            os.replace(aside, final)
        raise
    _fsync_dir(root)  # the rename itself is durable only once the parent directory is synced
    if moved_aside:
        _remove_tree(aside)


def _prune(root: Path, keep: int, saved: int) -> None:
    """Delete checkpoints beyond the `keep` newest (never the one just saved) and stale .tmp-* dirs.

    A checkpoint is first renamed to a .tmp-* name, so a crash halfway through deleting it leaves
    something latest_checkpoint ignores, never a partial epoch directory.
    """
    others = sorted((e for e in _epoch_dirs(root) if e != saved), reverse=True)
    for epoch in others[keep - 1:]:
        doomed = root / f"{_TMP}delete-{epoch_dir_name(epoch)}-{os.getpid()}"
        try:
            os.replace(root / epoch_dir_name(epoch), doomed)
        except OSError:
            continue  # gone already (another process pruned it); nothing to delete
        _remove_tree(doomed)
    for entry in root.iterdir():
        if entry.name.startswith(_TMP):
            _remove_tree(entry)


def _write_tensors(path: Path, tensors: Mapping[str, "torch.Tensor"], epoch: int) -> None:
    from safetensors.torch import save_file
    save_file(_cpu_tensors(tensors), str(path),
              metadata={"format": CHECKPOINT_FORMAT, "epoch": str(epoch)})
    _fsync_path(path)


def _cpu_tensors(tensors: Mapping[str, "torch.Tensor"]) -> dict[str, "torch.Tensor"]:
    """Detached, contiguous cpu tensors, none sharing memory with another.

    safetensors refuses tensors that share storage (tied weights, a state tensor that is also a
    model weight); a copy of each later sharer keeps the values and costs only their size.
    """
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in tensors.items():
        value = tensor.detach().to("cpu").contiguous()
        pointer = value.untyped_storage().data_ptr()
        if pointer and pointer in seen:
            value = value.clone()
            pointer = value.untyped_storage().data_ptr()
        seen.add(pointer)
        out[name] = value
    return out


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_path(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    """fsync a directory so the names in it survive a power cut; some systems cannot (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _dumps(value: Any) -> str:
    from nodecat.introspector.jsonio import dumps
    return dumps(value)


# --------------------------------------------------------------------------------------- loading

def latest_checkpoint(out_dir: Path) -> Checkpoint | None:
    """The checkpoint with the highest epoch under OUT/checkpoints/, or None when there is none.

    `.tmp-*` directories and unrelated names are ignored. The newest epoch directory is never
    skipped for an older one: if it is damaged (a file missing, state.json unreadable or invalid),
    that is a GraphError bad_checkpoint naming it, since resuming silently from an older epoch would
    redo training the user thinks is done.
    """
    root = checkpoints_dir(out_dir)
    epochs = _epoch_dirs(root) if root.is_dir() else []
    if not epochs:
        return None
    epoch = max(epochs)
    return load_checkpoint(root / epoch_dir_name(epoch))


def load_checkpoint(path: Path) -> Checkpoint:
    """Read one checkpoint directory: state.json decoded, with the state's tensors from the file."""
    name = _EPOCH_DIR.fullmatch(path.name)
    if name is None:
        raise _bad(path, "not a checkpoint directory (expected a name like epoch-000012)")
    tensors_path, state_path = path / TENSORS_FILE, path / STATE_FILE
    for needed in (state_path, tensors_path):
        if not needed.is_file():
            raise _bad(path, f"{needed.name} is missing")
    document = _read_state_document(state_path)
    epoch = document["epoch"]
    if epoch != int(name.group(1)):
        raise _bad(state_path, f"it says epoch {epoch}, its directory says {int(name.group(1))}")
    try:
        state = decode_state(document["state"], _state_tensors(tensors_path))
    except ValueError as exc:
        raise _bad(state_path, f"invalid state: {exc}") from None
    if not isinstance(state, dict):
        raise _bad(state_path, "the state is not an object")
    return Checkpoint(epoch=epoch, path=path, state=state)


def _read_state_document(path: Path) -> dict[str, Any]:
    from nodecat.introspector.jsonio import parse_strict
    try:
        document = parse_strict(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _bad(path, f"unreadable: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
        raise _bad(path, f"not a {CHECKPOINT_FORMAT} state file")
    epoch = document.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0 or "state" not in document:
        raise _bad(path, "missing or invalid 'epoch' or 'state'")
    return document


def _state_tensors(path: Path) -> dict[str, "torch.Tensor"]:
    """Only the state's tensors: finding and resuming a checkpoint need not read the model twice."""
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {k: handle.get_tensor(k) for k in handle.keys() if _is_state_key(k)}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _bad(path, f"cannot read the tensors: {exc}") from None


def _epoch_dirs(root: Path) -> list[int]:
    epochs = []
    for entry in root.iterdir():
        match = _EPOCH_DIR.fullmatch(entry.name)
        if match and entry.is_dir():
            epochs.append(int(match.group(1)))
    return epochs


def _is_state_key(name: str) -> bool:
    return name == STATE_PREFIX or name.startswith(STATE_PREFIX + ".")


def _bad(path: Path, message: str) -> GraphError:
    return GraphError(GraphProblem(
        "bad_checkpoint", f"checkpoint {path}: {message}",
        hint="delete this checkpoint directory to resume from the one before, or start afresh"))


# ------------------------------------------------------------------------------ state <-> JSON

# An encoded value is plain JSON except for objects with exactly one "$"-key, the markers below.
# A user dict with any "$"-key is written as a "$dict" of pairs, so it never reads as a marker.
_TENSOR, _DICT, _TUPLE, _FLOAT, _NUMPY, _NDARRAY = "$tensor", "$dict", "$tuple", "$float", "$numpy", "$ndarray"
_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def encode_state(value: Any, prefix: str = "") -> tuple[Any, dict[str, "torch.Tensor"]]:
    """Split a nested state into strict JSON and the tensors it holds; decode_state reverses it.

    Supported: None, bool, int, str, float (non-finite ones as {"$float": "inf"|"-inf"|"nan"}),
    lists, tuples ({"$tuple": [...]}), dicts (keys all str and none starting with "$": a JSON
    object; otherwise {"$dict": [[key, value], ...]} with keys of these same scalar/tuple kinds),
    torch tensors ({"$tensor": key}), numpy scalars ({"$numpy": [dtype, value]}) and numpy arrays
    ({"$ndarray": key}, stored as a tensor). Anything else is a TypeError.

    Tensor keys are the JSON path joined by "." ("state.0.exp_avg"), after `prefix` when it is not
    empty; a clash (keys containing ".") gets a "#2"-style suffix. The same tensor object appearing
    twice is stored once, so decoding keeps the aliasing. Tensors are returned as given (device,
    layout); save_checkpoint moves them to the cpu. Key order of JSON objects is not kept (the
    JSON is written sorted); "$dict" pairs keep theirs.
    """
    encoder = _Encoder(prefix)
    return encoder.encode(value, []), encoder.tensors


class _Encoder:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.tensors: dict[str, torch.Tensor] = {}
        self._keys_by_id: dict[int, str] = {}

    def encode(self, value: Any, path: list[str]) -> Any:
        import numpy as np
        if value is None or isinstance(value, (bool, str)):
            return str(value) if isinstance(value, str) else value  # str(): a str subclass becomes plain
        if isinstance(value, int) and not isinstance(value, np.generic):
            return int(value)
        if isinstance(value, float) and not isinstance(value, np.generic):
            return _encode_float(float(value))
        if isinstance(value, np.generic):
            return self._encode_numpy_scalar(value, path)
        if isinstance(value, np.ndarray):
            return {_NDARRAY: self._store(_ndarray_tensor(value), path, id(value))}
        if _is_tensor(value):
            return {_TENSOR: self._store(value, path, id(value))}
        if isinstance(value, dict):
            return self._encode_dict(value, path)
        if isinstance(value, tuple):
            return {_TUPLE: [self.encode(v, [*path, str(i)]) for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, [*path, str(i)]) for i, v in enumerate(value)]
        raise TypeError(f"cannot store a {type(value).__qualname__} in a checkpoint state "
                        f"(at {'.'.join(path) or 'the top'})")

    def _encode_dict(self, value: dict[Any, Any], path: list[str]) -> Any:
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {str(k): self.encode(v, [*path, k]) for k, v in value.items()}
        return {_DICT: [[_encode_key(k, path), self.encode(v, [*path, _key_text(k)])]
                        for k, v in value.items()]}

    def _encode_numpy_scalar(self, value: Any, path: list[str]) -> Any:
        kind = value.dtype.kind
        if kind not in "biuf":
            raise TypeError(f"cannot store a numpy {value.dtype} scalar in a checkpoint state "
                            f"(at {'.'.join(path) or 'the top'})")
        plain = value.item()  # exact: every bool/int/float dtype fits a Python bool/int/float
        return {_NUMPY: [value.dtype.str, _encode_float(plain) if kind == "f" else plain]}

    def _store(self, tensor: "torch.Tensor", path: list[str], identity: int) -> str:
        if identity in self._keys_by_id:
            return self._keys_by_id[identity]
        base = ".".join([self.prefix, *path] if self.prefix else path) or "tensor"
        key, n = base, 1
        while key in self.tensors:
            n += 1
            key = f"{base}#{n}"
        self.tensors[key] = tensor
        self._keys_by_id[identity] = key
        return key


def _encode_float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return {_FLOAT: "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def _encode_key(key: Any, path: list[str]) -> Any:
    """Dict keys: the hashable kinds torch's state dicts use; a tensor or array key is refused."""
    if key is None or isinstance(key, (bool, int, str)):
        return key if not isinstance(key, str) else str(key)
    if isinstance(key, float):
        return _encode_float(key)
    if isinstance(key, tuple):
        return {_TUPLE: [_encode_key(k, path) for k in key]}
    raise TypeError(f"cannot store a dict key of type {type(key).__qualname__} in a checkpoint state "
                    f"(at {'.'.join(path) or 'the top'})")


def _key_text(key: Any) -> str:
    return "_".join(map(str, key)) if isinstance(key, tuple) else str(key)


def _ndarray_tensor(array: Any) -> "torch.Tensor":
    import numpy as np
    import torch
    if array.dtype.kind not in "biufc" or not array.dtype.isnative:
        raise TypeError(f"cannot store a numpy array of dtype {array.dtype} in a checkpoint state")
    try:
        # a copy: the tensor must not change when the caller's array does before it is written
        return torch.from_numpy(np.array(array, copy=True, order="C"))
    except TypeError as exc:
        raise TypeError(f"cannot store a numpy array of dtype {array.dtype} in a checkpoint state: {exc}") from None


def _is_tensor(value: Any) -> bool:
    import sys
    torch = sys.modules.get("torch")  # a value can only be a tensor if torch is imported already
    return torch is not None and isinstance(value, torch.Tensor)


def decode_state(value: Any, tensors: Mapping[str, "torch.Tensor"] | None = None) -> Any:
    """The inverse of encode_state: markers back to tuples, non-str-keyed dicts, floats, tensors.

    `tensors` maps the keys of "$tensor"/"$ndarray" markers to tensors (encode_state's second
    result, or the tensors read back from a file). Malformed input (an unknown marker, a missing
    tensor, a "$"-key beside others) is a ValueError: the JSON may come from a damaged file.
    """
    return _Decoder(tensors).decode(value)


class _Decoder:
    def __init__(self, tensors: Mapping[str, "torch.Tensor"] | None):
        self.tensors = tensors

    def decode(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        markers = [k for k in value if isinstance(k, str) and k.startswith("$")]
        if not markers:
            return {k: self.decode(v) for k, v in value.items()}
        if len(value) != 1:
            raise ValueError(f"marker {markers[0]!r} beside other keys")
        (marker, inner), = value.items()
        return self._decode_marker(marker, inner)

    def _decode_marker(self, marker: str, inner: Any) -> Any:
        if marker == _TUPLE and isinstance(inner, list):
            return tuple(self.decode(v) for v in inner)
        if marker == _DICT and isinstance(inner, list):
            return self._decode_pairs(inner)
        if marker == _FLOAT and inner in _NON_FINITE:
            return _NON_FINITE[inner]
        if marker == _TENSOR and isinstance(inner, str):
            return self._tensor(inner)
        if marker == _NDARRAY and isinstance(inner, str):
            return self._tensor(inner).numpy().copy()
        if marker == _NUMPY and isinstance(inner, list) and len(inner) == 2:
            return _numpy_scalar(inner[0], self.decode(inner[1]))
        raise ValueError(f"malformed or unknown marker {marker!r}")

    def _decode_pairs(self, pairs: list[Any]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for pair in pairs:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError("a $dict entry is not a [key, value] pair")
            key = self.decode(pair[0])
            try:
                hash(key)
            except TypeError:
                raise ValueError(f"a $dict key is not hashable: {key!r}") from None
            if key in out:
                raise ValueError(f"duplicate $dict key {key!r}")
            out[key] = self.decode(pair[1])
        return out

    def _tensor(self, key: str) -> "torch.Tensor":
        if self.tensors is None:
            raise ValueError(f"tensor {key!r} is referenced but no tensors were given")
        if key not in self.tensors:
            raise ValueError(f"tensor {key!r} is missing")
        return self.tensors[key]


def _numpy_scalar(dtype: Any, value: Any) -> Any:
    import numpy as np
    if not isinstance(dtype, str) or isinstance(value, (dict, list)) or value is None:
        raise ValueError(f"malformed $numpy value {[dtype, value]!r}")
    try:
        kind = np.dtype(dtype)
    except (TypeError, ValueError):
        raise ValueError(f"unknown numpy dtype {dtype!r}") from None
    if kind.kind not in "biuf":
        raise ValueError(f"unsupported numpy dtype {dtype!r}")
    try:
        return kind.type(value)
    except (OverflowError, TypeError, ValueError):
        raise ValueError(f"{value!r} does not fit numpy dtype {dtype!r}") from None


def torch_rng_state() -> dict[str, Any]:
    """torch's global random state (and each CUDA device's), for a checkpoint."""
    import torch
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_torch_rng_state(state: dict[str, Any]) -> None:
    import torch
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
