"""What the generic crawler asks of a library: one profile module per library implements this.

The crawler and the describer know no library; everything torch- or Keras-specific
(which namespaces to walk, which base class makes a layer, what the forward method
is called, menu categories, value types, argument conventions) sits behind this API.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Protocol

from nodecat.introspector.model import Exclusion, Node
from nodecat.introspector.typemap import LibraryTypes, Typing


@dataclass(frozen=True)
class Found:
    """One public name the walk met: the object, the path it was reached by, and its role."""

    path: str
    obj: object
    kind: str | None              # None when the profile leaves it out
    exclusion: Exclusion | None = None
    alias_of: str | None = None   # the docstring says it is an alias of this path


class LibraryProfile(Protocol):
    name: str
    types: LibraryTypes
    prose_types: bool  # argument types are written as the leading phrase of the description (Keras)

    def version(self) -> str: ...

    def walk(self) -> Iterator[Found]:
        """Every public name of the crawled namespaces, classified."""

    def category(self, path: str, obj: object, kind: str) -> str: ...

    def forward_method(self, cls: type) -> Any:
        """The method whose signature gives a layer's ports, or None."""

    def convention(self, arg_name: str) -> tuple[Typing, bool] | None:
        """Typing known from a library-wide naming convention, and whether the arg is hidden."""

    def json_default(self, value: object) -> tuple[bool, Any]:
        """A library value (e.g. a dtype) as JSON: (True, value) or (False, None)."""

    def find_example(self, node: Node, obj: object) -> tuple[dict[str, Any] | None, str]:
        """A worked example (args and input shapes) for a node, or the reason there is none."""

    def named_constant(self, text: str) -> object | None:
        """The library object a docstring signature default names (e.g. `torch.strided`), if any."""

    def notes(self) -> tuple[str, ...]: ...
