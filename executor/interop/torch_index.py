"""Basic tensor indexing (`out[:, -1, :]`, `x[:, 0]`, `x[..., None]`) as catalog ops.

The catalog has no indexing node, but basic indexing is a composition of ops it has: one
`torch.index_select` per indexed or sliced dimension (with a constant index: the positions
kept), one `torch.squeeze` for the integer-indexed dimensions, then a `torch.unsqueeze` per
`None`. Sizes come from the traced shapes; a dimension whose size depends on the batch may only
be taken whole or indexed by a non-negative integer.

Why not `torch.narrow`: the catalog gives its `start` as a tensor port, and a tensor start is read
with `.item()`, which shape inference on the meta device cannot do; `index_select` has no such
problem (its copy costs nothing next to the layers around it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodecat.executor.interop.torch_values import Open


@dataclass(frozen=True)
class Narrow:
    """Keep `length` positions from `start` along `dim`."""

    dim: int
    start: int
    length: int


@dataclass(frozen=True)
class Squeeze:
    dims: tuple[int, ...]


@dataclass(frozen=True)
class Unsqueeze:
    dim: int


Step = Narrow | Squeeze | Unsqueeze


def _kind(item: Any) -> str:
    if item is None:
        return "new"
    if item is Ellipsis:
        return "ellipsis"
    if isinstance(item, bool):
        return "other"  # x[True] adds a dimension and masks: not basic indexing of sizes
    if isinstance(item, int):
        return "int"
    if isinstance(item, slice) and all(v is None or (isinstance(v, int) and not isinstance(v, bool))
                                       for v in (item.start, item.stop, item.step)):
        return "slice"
    return "open" if isinstance(item, Open) or (isinstance(item, slice) and any(
        isinstance(v, Open) for v in (item.start, item.stop, item.step))) else "other"


def plan_index(index: Any, shape: tuple[int, ...], open_dims: frozenset[int]) -> list[Step] | str:
    """The steps that compute `tensor[index]`, or why there are none."""
    items = list(index) if isinstance(index, tuple) else [index]
    kinds = [_kind(item) for item in items]
    if "open" in kinds:
        return "the index depends on the batch size"
    if "other" in kinds:
        return "indexing with a tensor, list or boolean (advanced indexing) has no catalog op"
    if kinds.count("ellipsis") > 1:
        return "an index can have only one Ellipsis"
    consumed = sum(k in ("int", "slice") for k in kinds)
    if consumed > len(shape):
        return f"{consumed} indices for a tensor of {len(shape)} dimensions"
    if "ellipsis" in kinds:
        at = kinds.index("ellipsis")
        fill = len(shape) - consumed
        items = items[:at] + [slice(None)] * fill + items[at + 1:]
    narrows: list[Step] = []
    squeezed: list[int] = []
    new_dims: list[int] = []
    dim = out = 0
    for item in items:
        if item is None:
            new_dims.append(out)
            out += 1
            continue
        size, is_open = shape[dim], dim in open_dims
        if isinstance(item, int):
            if is_open and item < 0:
                return f"a negative index on dimension {dim}, whose size changes with the batch, has no fixed position"
            if not is_open and not -size <= item < size:
                return f"index {item} is out of range for dimension {dim} of size {size}"
            narrows.append(Narrow(dim, item if item >= 0 else item + size, 1))
            squeezed.append(dim)
        else:
            step = _slice_step(item, dim, size, is_open)
            if isinstance(step, str):
                return step
            if step is not None:
                narrows.append(step)
            out += 1
        dim += 1
    steps = narrows + ([Squeeze(tuple(squeezed))] if squeezed else [])
    return steps + [Unsqueeze(d) for d in new_dims]


def _slice_step(item: slice, dim: int, size: int, is_open: bool) -> Narrow | None | str:
    if item.step not in (None, 1):
        return f"slicing with step {item.step} is not imported (only step 1)"
    if item.start is None and item.stop is None:
        return None
    if is_open:
        what = "the batch dimension" if dim == 0 else f"dimension {dim}, whose size changes with the batch,"
        return f"slicing {what} keeps no fixed positions"
    start, stop, _ = item.indices(size)
    length = max(0, stop - start)
    return None if start == 0 and length == size else Narrow(dim, start, length)


def result_shape(shape: tuple[int, ...], step: Step) -> tuple[int, ...]:
    if isinstance(step, Narrow):
        return shape[:step.dim] + (step.length,) + shape[step.dim + 1:]
    if isinstance(step, Squeeze):
        return tuple(s for i, s in enumerate(shape) if i not in step.dims)
    return shape[:step.dim] + (1,) + shape[step.dim:]
