"""Which device to run on, and how much memory it has.

`auto` picks cuda, then mps, then cpu. An explicit device that is not there is an error, never a
silent fallback: a user who asked for cuda and got cpu would wait hours without knowing why.
"""
from __future__ import annotations

import os
import re

from nodecat.executor.graph.errors import GraphError, GraphProblem

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda)(:[0-9]+)?$")


def pick_device(name: str = "auto") -> str:
    import torch
    match = _DEVICE.match(name)
    if match is None or (match.group(1) in ("auto", "cpu") and match.group(2)):
        raise GraphError(GraphProblem("device_unavailable", f"{name!r} is not a device",
                                      hint="use auto, cpu, mps, cuda or cuda:N"))
    kind = match.group(1)
    if kind == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    if kind == "cuda":
        index = int(match.group(2)[1:]) if match.group(2) else 0
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index >= count:
            raise GraphError(GraphProblem("device_unavailable", f"{name} was asked for, but this machine has "
                                          f"{count} CUDA device(s)", hint="use --device auto or cpu"))
    if kind == "mps" and not _mps_available():
        raise GraphError(GraphProblem("device_unavailable", "mps was asked for, but this machine has no "
                                      "Apple GPU available to torch", hint="use --device auto or cpu"))
    return name


def _mps_available() -> bool:
    import torch
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def available_memory(device: str) -> int:
    """Bytes free for a model on the device: free GPU memory, or the memory the OS can still give."""
    import torch
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    if device == "mps":
        return int(torch.mps.recommended_max_memory()) - int(torch.mps.current_allocated_memory())
    return _host_available()


def _host_available() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1000**3, "gib": 1024**3, "t": 1024**4, "tb": 1000**4, "tib": 1024**4}


def parse_bytes(text: str) -> int:
    """'8GiB', '512 MB', '1e9' -> bytes."""
    match = re.match(r"^\s*([0-9]+(?:\.[0-9]+)?(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*$", text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise ValueError(f"{text!r} is not a size; use e.g. 8GiB, 512MB or 1000000")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
