"""One profile per library: what the generic crawler needs to know about it."""
from __future__ import annotations

import os

from nodecat.introspector.profile import LibraryProfile

LIBRARIES = ("torch", "keras")


def load_profile(library: str) -> LibraryProfile:
    """Import the profile lazily: importing torch or keras costs seconds."""
    if library == "torch":
        from nodecat.introspector.libraries.torch_profile import TorchProfile
        return TorchProfile()
    if library == "keras":
        # Keras picks its backend at import; torch is the one nodecat always has.
        os.environ.setdefault("KERAS_BACKEND", "torch")
        from nodecat.introspector.libraries.keras_profile import KerasProfile
        return KerasProfile()
    raise KeyError(library)
