"""The `nodecat export` command (registered on the one `nodecat` group)."""
from __future__ import annotations
