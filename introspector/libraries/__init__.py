"""One profile per library: what the generic crawler needs to know about it."""
from __future__ import annotations

from introspector.profile import LibraryProfile

LIBRARIES = ("torch",)


def load_profile(library: str) -> LibraryProfile:
    """Import the profile lazily: importing torch costs seconds."""
    if library == "torch":
        from introspector.libraries.torch_profile import TorchProfile
        return TorchProfile()
    raise KeyError(library)
