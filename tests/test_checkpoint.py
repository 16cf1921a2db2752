"""Checkpoints: whole or absent, the newest found, old ones pruned, damage reported; state round trips exactly.

Round trips go through real JSON text (dumps, then parse_strict) and real safetensors bytes, as a
checkpoint on disk does; optimizers restored from a checkpoint must take bit-identical steps.
"""
from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from nodecat.executor.training.checkpoint import (Checkpoint, decode_state, encode_state, latest_checkpoint,
                                 save_checkpoint)
from nodecat.executor.graph.errors import GraphError
from nodecat.introspector.jsonio import dumps, parse_strict


# ------------------------------------------------------------------------------------- helpers

def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Structural equality that also compares types, tensor dtypes/shapes/values and NaN."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert (a.dtype, a.shape) == (b.dtype, b.shape), where
        torch.testing.assert_close(a.cpu(), b.cpu(), rtol=0, atol=0, equal_nan=True)
        return
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b)
        return
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(map(repr, sorted(a, key=repr))) == list(map(repr, sorted(b, key=repr))), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
        return
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}.{i}")
    elif isinstance(a, (float, np.floating)) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, where


def through_files(value: Any) -> Any:
    """encode, then JSON text and safetensors bytes (as on disk), then decode."""
    encoded, tensors = encode_state(value, prefix="state")
    parsed = parse_strict(dumps(encoded))
    cpu = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    return decode_state(parsed, load_safetensors(save_safetensors(cpu)))


def trained(make_optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
            steps: int, seed: int = 0) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    optimizer = make_optimizer(list(model.parameters()))
    for step in range(steps):
        take_step(model, optimizer, step)
    return model, optimizer


def take_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int) -> None:
    generator = torch.Generator().manual_seed(1000 + step)  # same batch for both runs, whatever the global RNG
    x = torch.randn(16, 4, generator=generator)
    optimizer.zero_grad()
    model(x).pow(2).mean().backward()
    optimizer.step()


OPTIMIZERS = {
    "adam": lambda params: torch.optim.Adam(params, lr=0.01),
    "adamw_amsgrad": lambda params: torch.optim.AdamW(params, lr=0.01, amsgrad=True),
    "sgd_momentum": lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True),
}


def save_model(tmp_path: Path, epoch: int, keep: int = 2, value: float = 0.0) -> Path:
    return save_checkpoint(tmp_path, epoch, {"model.w": torch.full((3,), value)}, {"epoch_note": epoch}, keep=keep)


def epoch_dirs(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "checkpoints").iterdir())


# ------------------------------------------------------------------------- save, find, prune

def test_save_then_latest_returns_the_same_tensors_and_state(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    state = {"history": [{"epoch": 1, "loss": 0.5}], "note": "x", "scale": torch.tensor([2.0, 3.0])}
    path = save_checkpoint(tmp_path, 1, tensors, state)
    assert path == tmp_path / "checkpoints" / "epoch-000001"
    assert sorted(p.name for p in path.iterdir()) == ["state.json", "tensors.safetensors"]
    found = latest_checkpoint(tmp_path)
    assert isinstance(found, Checkpoint) and found.epoch == 1 and found.path == path
    assert_same(found.state, state)
    assert_same(found.tensors(), tensors)  # only the caller's tensors: the state's are in .state


def test_latest_is_the_highest_epoch_and_keep_prunes_older_ones(tmp_path: Path) -> None:
    for epoch in range(1, 6):
        save_model(tmp_path, epoch, keep=2, value=epoch)
    assert epoch_dirs(tmp_path) == ["epoch-000004", "epoch-000005"]
    found = latest_checkpoint(tmp_path)
    assert found is not None and found.epoch == 5 and found.state == {"epoch_note": 5}
    assert torch.equal(found.tensors()["model.w"], torch.full((3,), 5.0))


def test_the_checkpoint_just_saved_is_never_pruned(tmp_path: Path) -> None:
    save_model(tmp_path, 10)
    save_model(tmp_path, 3, keep=1)  # an older epoch number than one on disk: it stays anyway
    assert epoch_dirs(tmp_path) == ["epoch-000003"]


def test_saving_the_same_epoch_again_replaces_it(tmp_path: Path) -> None:
    save_model(tmp_path, 2, value=1.0)
    save_model(tmp_path, 2, value=7.0)
    assert epoch_dirs(tmp_path) == ["epoch-000002"]
    found = latest_checkpoint(tmp_path)
    assert found is not None and torch.equal(found.tensors()["model.w"], torch.full((3,), 7.0))


def test_latest_of_a_missing_or_empty_or_unrelated_dir_is_none(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path / "nowhere") is None
    assert latest_checkpoint(tmp_path) is None
    root = tmp_path / "checkpoints"
    root.mkdir()
    assert latest_checkpoint(tmp_path) is None
    (root / "notes.txt").write_text("x")
    (root / "epoch-12").mkdir()  # not six digits: not ours
    (root / "epoch-000009").write_text("a file, not a directory")
    assert latest_checkpoint(tmp_path) is None


def test_a_tmp_dir_left_by_a_crash_is_ignored_then_cleaned(tmp_path: Path) -> None:
    save_model(tmp_path, 1)
    crashed = tmp_path / "checkpoints" / ".tmp-epoch-2-99999"
    crashed.mkdir()
    (crashed / "tensors.safetensors").write_bytes(b"half")
    found = latest_checkpoint(tmp_path)
    assert found is not None and found.epoch == 1
    save_model(tmp_path, 2)
    assert epoch_dirs(tmp_path) == ["epoch-000001", "epoch-000002"]


def test_failed_final_rename_keeps_the_previous_checkpoint_and_leaves_no_partial_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_model(tmp_path, 1, value=1.0)
    real_replace = os.replace

    def crash_on_tmp(src: Any, dst: Any) -> None:
        if Path(src).name.startswith(".tmp-epoch-"):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_tmp)
    with pytest.raises(OSError, match="disk full"):
        save_model(tmp_path, 2, value=2.0)
    assert epoch_dirs(tmp_path) == ["epoch-000001"]  # no epoch-000002, no .tmp-* left behind
    found = latest_checkpoint(tmp_path)
    assert found is not None and found.epoch == 1
    assert torch.equal(found.tensors()["model.w"], torch.full((3,), 1.0))


def test_failed_rename_over_the_same_epoch_puts_the_old_one_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_model(tmp_path, 1, value=1.0)
    real_replace = os.replace

    def crash_on_tmp(src: Any, dst: Any) -> None:
        if Path(src).name.startswith(".tmp-epoch-"):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_tmp)
    with pytest.raises(OSError):
        save_model(tmp_path, 1, value=9.0)
    assert epoch_dirs(tmp_path) == ["epoch-000001"]
    found = latest_checkpoint(tmp_path)
    assert found is not None and torch.equal(found.tensors()["model.w"], torch.full((3,), 1.0))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name fsynced descriptors")
def test_files_the_checkpoint_dir_and_its_parent_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    save_model(tmp_path, 1)
    root = str((tmp_path / "checkpoints").resolve())
    tmp = f"{root}/.tmp-epoch-1-{os.getpid()}"
    assert {f"{tmp}/tensors.safetensors", f"{tmp}/state.json", tmp, root} <= set(synced)


def test_tensors_on_any_layout_and_sharing_memory_are_saved(tmp_path: Path) -> None:
    base = torch.arange(12.0).reshape(3, 4)
    tied = torch.nn.Parameter(torch.ones(2, 2))
    tensors = {"model.t": base.t(), "model.slice": base[1], "model.a": tied, "model.b": tied}
    save_checkpoint(tmp_path, 1, tensors, {"momentum": base[:, 1]})
    found = latest_checkpoint(tmp_path)
    assert found is not None
    assert_same(found.tensors(), {k: v.detach().contiguous() for k, v in tensors.items()})
    assert torch.equal(found.state["momentum"], base[:, 1])


def test_tensor_names_under_state_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path, 1, {"state.x": torch.zeros(1)}, {})
    assert latest_checkpoint(tmp_path) is None


# ----------------------------------------------------------------------------------- damage

def _damage_state(path: Path, text: str) -> None:
    (path / "state.json").write_text(text, encoding="utf-8")


@pytest.mark.parametrize("damage", [
    pytest.param(lambda p: _damage_state(p, '{"format": "nodecat-checkpoint/1", "epo'), id="truncated_json"),
    pytest.param(lambda p: _damage_state(p, '{"format": "nodecat-checkpoint/1", "epoch": 1, "epoch": 1, "state": {}}'),
                 id="duplicate_key"),
    pytest.param(lambda p: _damage_state(p, '{"format": "nodecat-checkpoint/1", "epoch": 1, "state": {"a": NaN}}'),
                 id="nan"),
    pytest.param(lambda p: _damage_state(p, '{"format": "nodecat-checkpoint/1", "epoch": 3, "state": {}}'),
                 id="wrong_epoch"),
    pytest.param(lambda p: _damage_state(p, '{"format": "other", "epoch": 1, "state": {}}'), id="wrong_format"),
    pytest.param(lambda p: _damage_state(p, '{"format": "nodecat-checkpoint/1", "epoch": 1, "state": {"$evil": 1}}'),
                 id="unknown_marker"),
    pytest.param(lambda p: _damage_state(p, '{"format": "nodecat-checkpoint/1", "epoch": 1, '
                                            '"state": {"m": {"$tensor": "state.nope"}}}'), id="missing_tensor"),
    pytest.param(lambda p: (p / "state.json").write_bytes(b"\xff\xfe"), id="not_utf8"),
    pytest.param(lambda p: (p / "state.json").unlink(), id="state_missing"),
    pytest.param(lambda p: (p / "tensors.safetensors").write_bytes(b"\x00" * 5), id="tensors_garbage"),
])
def test_a_damaged_newest_checkpoint_is_bad_checkpoint_naming_it(tmp_path: Path, damage: Callable[[Path], Any]) -> None:
    save_model(tmp_path, 0)
    path = save_model(tmp_path, 1)
    damage(path)
    with pytest.raises(GraphError) as caught:
        latest_checkpoint(tmp_path)
    assert caught.value.code == "bad_checkpoint"
    assert str(path) in str(caught.value)


def test_truncated_tensors_file_is_bad_checkpoint_when_read(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path, 1, {"model.w": torch.ones(1000)}, {})
    found = latest_checkpoint(tmp_path)  # the state has no tensors: the model's are read only on demand
    assert found is not None
    data = (path / "tensors.safetensors").read_bytes()
    (path / "tensors.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(GraphError) as caught:
        found.tensors()
    assert caught.value.code == "bad_checkpoint" and str(path) in str(caught.value)


# --------------------------------------------------------------------- encode / decode state

def test_adam_state_dict_round_trips_exactly() -> None:
    _, optimizer = trained(OPTIMIZERS["adam"], steps=3)
    state = optimizer.state_dict()
    assert isinstance(next(iter(state["state"])), int) and isinstance(state["param_groups"][0]["betas"], tuple)
    assert_same(through_files(state), state)


@pytest.mark.parametrize("name", ["sgd_momentum", "adamw_amsgrad"])
def test_other_optimizer_state_dicts_round_trip_exactly(name: str) -> None:
    _, optimizer = trained(OPTIMIZERS[name], steps=2)
    state = optimizer.state_dict()
    assert_same(through_files(state), state)


def test_scheduler_state_dicts_round_trip_exactly() -> None:
    _, optimizer = trained(OPTIMIZERS["sgd_momentum"], steps=1)
    step_lr = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max")
    for _ in range(3):
        optimizer.step()  # schedulers warn when they step before the optimizer did
        step_lr.step()
    plateau.step(0.5)
    states = {"step_lr": step_lr.state_dict(), "plateau": plateau.state_dict()}
    assert states["plateau"]["mode_worse"] == -math.inf
    assert_same(through_files(states), states)


def test_rng_states_round_trip_and_restore_the_same_draws() -> None:
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    states = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    expected = (torch.rand(5), np.random.rand(5), [random.random() for _ in range(5)])
    restored = through_files(states)
    assert_same(restored, states)
    torch.set_rng_state(restored["torch"])
    np.random.set_state(restored["numpy"])
    random.setstate(restored["python"])
    assert torch.equal(torch.rand(5), expected[0])
    assert np.array_equal(np.random.rand(5), expected[1])
    assert [random.random() for _ in range(5)] == expected[2]


def test_odd_values_round_trip_exactly() -> None:
    value = {
        "floats": [math.inf, -math.inf, math.nan, -0.0, 1e-308, 0.1],
        "dollar": {"$tensor": "not a tensor", "$x": 1}, "single_dollar": {"$tuple": [1, 2]},
        "keys": {0: "a", "0": "b", 1.5: "c", None: "d", True: "e", (1, "x"): "f", math.inf: "g"},
        "tuples": (1, (2.0, [3, (None,)]), ()),
        "numpy": [np.float32(0.1), np.int64(-2**62), np.bool_(True), np.uint8(255), np.float64(math.nan)],
        "arrays": [np.arange(6, dtype=np.uint32).reshape(2, 3), np.array([1.5, -2.0], dtype=np.float16)],
        "tensors": [torch.tensor(3), torch.zeros(0, 2, dtype=torch.bfloat16), torch.tensor([True, False]),
                    torch.arange(6.0).reshape(2, 3).t()],
        "big_int": 2**80, "empty": {}, "text": "é\n",
    }
    assert_same(through_files(value), value)


def test_markers_are_what_the_json_holds() -> None:
    encoded, tensors = encode_state({"a": (1, math.inf), 0: torch.ones(1)}, prefix="p")
    assert encoded == {"$dict": [["a", {"$tuple": [1, {"$float": "inf"}]}], [0, {"$tensor": "p.0"}]]}
    assert list(tensors) == ["p.0"]


def test_tensor_keys_follow_the_json_path_and_never_clash() -> None:
    shared = torch.ones(2)
    _, tensors = encode_state({"a.b": torch.zeros(1), "a": {"b": torch.zeros(1)}, "s": [shared, shared]})
    assert sorted(tensors) == ["a.b", "a.b#2", "s.0"]  # the same tensor object twice is stored once
    encoded, _ = encode_state(torch.zeros(1))
    assert encoded == {"$tensor": "tensor"}


def test_decoding_keeps_a_tensor_shared_twice_shared() -> None:
    shared = torch.ones(2)
    restored = through_files({"s": [shared, shared]})
    assert restored["s"][0] is restored["s"][1]


@pytest.mark.parametrize("value", [{1, 2}, b"bytes", object(), {"k": torch.device("cpu")},
                                   {torch.ones(1): 1}, np.array(["text"]), np.complex64(1j)],
                         ids=["set", "bytes", "object", "device", "tensor_key", "str_array", "complex_scalar"])
def test_unsupported_values_are_type_errors(value: Any) -> None:
    with pytest.raises(TypeError):
        encode_state(value)


@pytest.mark.parametrize("encoded", [{"$nope": 1}, {"$tuple": [1], "x": 2}, {"$float": "huge"},
                                     {"$tensor": "missing"}, {"$dict": [[1]]}, {"$dict": [[[1], 2]]},
                                     {"$dict": [[1, 2], [1, 3]]}, {"$numpy": ["<U3", "abc"]},
                                     {"$numpy": ["|u1", 300]}],
                         ids=["unknown", "beside_keys", "bad_float", "missing_tensor", "short_pair",
                              "unhashable_key", "duplicate_key", "str_dtype", "overflow"])
def test_malformed_encoded_state_is_a_value_error(encoded: Any) -> None:
    with pytest.raises(ValueError):
        decode_state(encoded, {})


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_restored_from_a_checkpoint_continues_bit_identically(tmp_path: Path, name: str) -> None:
    model, optimizer = trained(OPTIMIZERS[name], steps=3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    take_step(model, optimizer, 3)
    scheduler.step()
    save_checkpoint(tmp_path, 3, {f"model.{k}": v for k, v in model.state_dict().items()},
                    {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()})

    found = latest_checkpoint(tmp_path)
    assert found is not None
    resumed_model, resumed_optimizer = trained(OPTIMIZERS[name], steps=0, seed=99)  # different weights
    resumed_model.load_state_dict({k.removeprefix("model."): v for k, v in found.tensors().items()})
    resumed_optimizer.load_state_dict(found.state["optimizer"])
    resumed_scheduler = torch.optim.lr_scheduler.StepLR(resumed_optimizer, step_size=2, gamma=0.5)
    resumed_scheduler.load_state_dict(found.state["scheduler"])

    for step in range(4, 9):
        take_step(model, optimizer, step)
        scheduler.step()
        take_step(resumed_model, resumed_optimizer, step)
        resumed_scheduler.step()
    for (key, a), b in zip(model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), key
    assert_same(resumed_optimizer.state_dict(), optimizer.state_dict())
