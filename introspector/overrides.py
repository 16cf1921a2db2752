"""Human-reviewed corrections: load and check them, apply them (a pure function), find stale ones."""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from nodecat.introspector.errors import CatalogError, Problem
from nodecat.introspector.jsonio import load_strict
from nodecat.introspector.markup import plain_text
from nodecat.introspector.model import Exclusion, InputPort, Node, OutputPort
from nodecat.introspector.paths import relative
from nodecat.introspector.schemas import check_value, schema_problems


Port = TypeVar("Port", InputPort, OutputPort)


@dataclass(frozen=True)
class Override:
    index: int
    target: str
    arg: str | None
    fields: dict[str, Any]
    why: str
    versions: str | None = None

    @property
    def entry(self) -> str:
        return f"#{self.index} ({self.target}{'.' + self.arg if self.arg else ''})"

    @property
    def pointer(self) -> str:
        return f"/overrides/{self.index}"

    def active_for(self, version: str) -> bool:
        return self.versions is None or Version(version) in SpecifierSet(self.versions)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "set": self.fields, "why": self.why}
        if self.arg:
            out["arg"] = self.arg
        if self.versions:
            out["versions"] = self.versions
        return out


@dataclass(frozen=True)
class OverridesFile:
    path: str
    library: str
    entries: tuple[Override, ...]

    def to_json(self) -> dict[str, Any]:
        from nodecat.introspector.vocabulary import OVERRIDES_FORMAT
        return {"format": OVERRIDES_FORMAT, "library": self.library,
                "overrides": [o.to_json() for o in self.entries]}


def _content_problems(entry: Override) -> list[Problem]:
    """Checks the schema of the file cannot express: valid fragments, defaults that fit them."""
    problems = []
    fields = entry.fields
    if entry.versions is not None:
        try:
            SpecifierSet(entry.versions)
        except InvalidSpecifier:
            problems.append(Problem("bad_override", f"versions {entry.versions!r} is not a PEP 440 specifier",
                                    entry=entry.entry, pointer=entry.pointer + "/versions",
                                    hint="e.g. '>=2.4,<3'"))
    if "schema" in fields:
        try:
            jsonschema.Draft202012Validator.check_schema(fields["schema"])
        except jsonschema.SchemaError as exc:
            problems.append(Problem("bad_override", f"schema is not a valid JSON Schema: {exc.message}",
                                    entry=entry.entry, pointer=entry.pointer + "/set/schema"))
        else:
            for key in ("default", "example"):
                if key in fields:
                    message = check_value(fields["schema"], fields[key])
                    if message:
                        problems.append(Problem("bad_override", f"{key} does not fit the schema: {message}",
                                                entry=entry.entry, pointer=f"{entry.pointer}/set/{key}"))
    return problems


def parse_overrides(document: Any, path: str) -> OverridesFile:
    problems = [p.located(path) for p in schema_problems("overrides", document)]
    if problems:
        raise CatalogError(problems)
    entries = tuple(Override(i, e["target"], e.get("arg"), e["set"], e["why"], e.get("versions"))
                    for i, e in enumerate(document["overrides"]))
    problems = [p.located(path) for e in entries for p in _content_problems(e)]
    seen: dict[tuple[str, str | None, str], int] = {}
    for entry in entries:
        for key in entry.fields:
            earlier = seen.setdefault((entry.target, entry.arg, key), entry.index)
            if earlier != entry.index and entry.versions is None:
                problems.append(Problem("duplicate_override", f"sets {key} already set by entry #{earlier}",
                                        path, entry.entry, f"{entry.pointer}/set/{key}"))
    if problems:
        raise CatalogError(problems)
    return OverridesFile(path, document["library"], entries)


def load_overrides(path: Path, library: str) -> OverridesFile:
    if not path.exists():
        return OverridesFile(relative(path), library, ())
    overrides = parse_overrides(load_strict(path), relative(path))
    if overrides.library != library:
        raise CatalogError([Problem("bad_override", f"file is for library {overrides.library!r}, not {library!r}",
                                    relative(path), pointer="/library")])
    return overrides


def _apply_to_arg(node: Node, entry: Override) -> Node:
    args = []
    for arg in node.args:
        if arg.name == entry.arg:
            fields = dict(entry.fields)
            changes: dict[str, Any] = {k: copy.deepcopy(v) for k, v in fields.items()}
            if "schema" in fields:
                changes["unsupported"] = ""
                changes["source"] = "override"
                changes["auto_source"] = arg.auto_source if arg.source == "override" else arg.source
                changes["accepts_edge"] = fields.get("accepts_edge", arg.accepts_edge)
                # the reviewed schema replaces the inferred bounds with it
                changes["provenance"] = {k: v for k, v in arg.provenance.items() if k != "minimum"}
            if "doc" in fields:
                changes["doc_raw"] = ""  # the reviewer's text replaces the library's
            arg = replace(arg, **changes)
        args.append(arg)
    overridden = tuple(sorted({*node.overridden, *(f"args.{entry.arg}.{k}" for k in entry.fields)}))
    return replace(node, args=tuple(args), overridden=overridden)


def _plain_doc(port: Port) -> Port:
    """A port doc as editors show it (plain text), the reviewer's markup kept beside it."""
    plain = plain_text(port.doc)
    return port if plain == port.doc else replace(port, doc=plain, doc_raw=port.doc)


def _apply_to_node(node: Node, entry: Override) -> Node:
    changes: dict[str, Any] = {}
    for key, value in entry.fields.items():
        value = copy.deepcopy(value)
        if key == "inputs":
            changes[key] = tuple(_plain_doc(InputPort.from_json(p)) for p in value)
        elif key == "outputs":
            changes[key] = tuple(_plain_doc(OutputPort.from_json(p)) for p in value)
        else:
            changes[key] = value
    if "summary" in changes:
        changes["summary_raw"] = ""  # the reviewer's text replaces the library's
    provenance = {**node.provenance, **{k: "override" for k in entry.fields}}
    overridden = tuple(sorted({*node.overridden, *entry.fields}))
    return replace(node, **changes, provenance=provenance, overridden=overridden)


@dataclass(frozen=True)
class Applied:
    nodes: tuple[Node, ...]
    excluded: tuple[Exclusion, ...]
    applied: int
    inactive: int


def apply_overrides(nodes: tuple[Node, ...], excluded: tuple[Exclusion, ...], overrides: OverridesFile,
                    version: str) -> Applied:
    """(auto descriptors, overrides) -> descriptors. Pure: inputs are not modified.

    Entries whose target is gone are skipped here; `stale_overrides` reports them.
    """
    by_id = {n.id: n for n in nodes}
    extra_excluded: list[Exclusion] = []
    applied = inactive = 0
    for entry in overrides.entries:
        if not entry.active_for(version):
            inactive += 1
            continue
        node = by_id.get(entry.target)
        if node is None or (entry.arg and node.arg(entry.arg) is None):
            continue
        applied += 1
        if "excluded" in entry.fields:
            del by_id[entry.target]
            extra_excluded.append(Exclusion(entry.target, "override", entry.fields["excluded"]))
            continue
        node = _apply_to_arg(node, entry) if entry.arg else _apply_to_node(node, entry)
        by_id[entry.target] = node
    result = []
    for node in by_id.values():
        node = node.with_review()
        if node.overridden and node.review == "auto":
            node = replace(node, review="reviewed")
        result.append(node)
    return Applied(tuple(result), excluded + tuple(extra_excluded), applied, inactive)


def _current_value(node: Node, entry: Override, key: str) -> Any:
    if entry.arg:
        arg = node.arg(entry.arg)
        assert arg is not None
        data = arg.to_json()
        return data.get(key, {"required": False, "accepts_edge": False, "hidden": False}.get(key))
    return node.to_json().get(key)


def stale_overrides(nodes: tuple[Node, ...], excluded: tuple[Exclusion, ...], overrides: OverridesFile,
                    version: str) -> list[Problem]:
    """Entries whose target is gone, or that set only what the library now says by itself.

    `nodes` are the automatic descriptors (before overrides) of the installed version.
    """
    by_id = {n.id: n for n in nodes}
    excluded_ids = {e.id for e in excluded}
    problems = []
    for entry in overrides.entries:
        if not entry.active_for(version):
            continue
        node = by_id.get(entry.target)
        if node is None:
            if entry.target in excluded_ids and "excluded" in entry.fields:
                problems.append(Problem("redundant_override", "the crawler already leaves this node out",
                                        overrides.path, entry.entry, entry.pointer + "/set/excluded"))
            else:
                problems.append(Problem("stale_override", f"target node {entry.target} no longer exists",
                                        overrides.path, entry.entry, entry.pointer + "/target",
                                        "remove the entry or retarget it"))
            continue
        if entry.arg and node.arg(entry.arg) is None:
            names = ", ".join(a.name for a in node.args) or "none"
            problems.append(Problem("stale_override", f"{entry.target} has no argument {entry.arg!r} (it has: {names})",
                                    overrides.path, entry.entry, entry.pointer + "/arg",
                                    "the library may have renamed it"))
            continue
        if "excluded" in entry.fields:
            continue
        if all(_current_value(node, entry, key) == value for key, value in entry.fields.items()):
            problems.append(Problem("redundant_override", "the library now says the same by itself",
                                    overrides.path, entry.entry, entry.pointer + "/set",
                                    "remove the entry"))
    return problems
