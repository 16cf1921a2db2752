"""The one error type for bad catalog or overrides input.

A CatalogError names the file, the entry (node id or override index) and the
field as a JSON Pointer, so a user can find what to fix without a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file; collected, not raised one by one."""

    code: str
    message: str
    file: str = ""
    entry: str = ""
    pointer: str = ""
    hint: str = ""
    candidates: tuple[str, ...] = ()  # what the user may have meant (close or ambiguous names)

    def located(self, file: str) -> "Problem":
        return replace(self, file=file)

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.file, self.entry and f"entry {self.entry}",
                                       self.pointer and f"field {self.pointer}") if p)
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text

    def to_json(self) -> dict[str, str | list[str]]:
        out: dict[str, str | list[str]] = {"code": self.code, "message": self.message, "file": self.file,
                                           "entry": self.entry, "pointer": self.pointer, "hint": self.hint}
        if self.candidates:
            out["candidates"] = list(self.candidates)
        return out


class CatalogError(Exception):
    """Raised with every problem found in one input, never just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def json_pointer(parts: list[str | int] | tuple[str | int, ...]) -> str:
    """RFC 6901 pointer from path parts ("~" and "/" escaped)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
