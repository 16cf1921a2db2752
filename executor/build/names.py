"""Python names for node ids, inside generated code only.

A node id is the user's name for a node (`meta`, `train`, `class`), and everything a user sees
keeps it: graph inputs and outputs, errors, weights (`<id>.<param>`), the state dict. Generated code
(the built torch module's attributes and forward parameters, exported Python's attributes and
variables) cannot always use it: an id may be a keyword or shadow an attribute of the module. Such
an id gets a trailing underscore, or more while that name is also taken.
"""
from __future__ import annotations

from typing import Callable, Container, Iterable


def python_names(ids: Iterable[str], unusable: Container[str] | Callable[[str], bool]) -> dict[str, str]:
    """Node id -> its name in generated code: the id itself unless `unusable`, else the id with
    underscores appended until the name is neither unusable nor another node's id or name."""
    ids = list(ids)
    bad = unusable if callable(unusable) else unusable.__contains__
    taken = set(ids)
    names = {}
    for node_id in ids:
        name = node_id
        while bad(name) or (name != node_id and name in taken):
            name += "_"
        taken.add(name)
        names[node_id] = name
    return names
