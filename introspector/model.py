"""The catalog's data model: frozen dataclasses with one to_json/from_json pair each.

JSON is the contract (see catalogs/schema/); these classes are how Python code
holds it. Optional fields are left out of the JSON when empty, so catalogs stay small
and diffs stay readable.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from nodecat.introspector.vocabulary import CATALOG_FORMAT, Kind, PortType, Review, Source, Stage

JsonValue = Any  # a value that round-trips through json (None, bool, int, float, str, list, dict)

_NO_DEFAULT = object()


@dataclass(frozen=True)
class Arg:
    name: str
    stage: Stage = "init"
    required: bool = False
    default: JsonValue = _NO_DEFAULT
    default_repr: str = ""
    schema: dict[str, Any] | None = None
    unsupported: str = ""
    source: Source = "none"
    phrase: str = ""
    doc: str = ""      # plain text, what editors show
    doc_raw: str = ""  # the doc with the library's markup (reST, LaTeX), when that differs
    example: JsonValue = _NO_DEFAULT
    accepts_edge: bool = False
    hidden: bool = False
    auto_source: str = ""  # what the crawler had found before an override replaced the schema
    # where facts inside the schema came from, e.g. {"minimum": "convention"} (see bounds.py)
    provenance: dict[str, str] = field(default_factory=dict)

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    @property
    def has_example(self) -> bool:
        return self.example is not _NO_DEFAULT

    @property
    def typed(self) -> bool:
        return self.schema is not None

    @property
    def typed_automatically(self) -> bool:
        """Typed by the crawler itself, whether or not an override refined the schema later."""
        return self.typed and (self.source != "override" or self.auto_source not in ("", "none"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "stage": self.stage, "required": self.required,
                               "source": self.source}
        if self.has_default:
            out["default"] = self.default
        if self.has_example:
            out["example"] = self.example
        for key in ("default_repr", "unsupported", "phrase", "doc", "doc_raw", "accepts_edge", "hidden",
                    "auto_source", "provenance"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.schema is not None:
            out["schema"] = self.schema
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Arg":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class InputPort:
    name: str
    type: PortType = "tensor"
    conns: int | None = 1
    required: bool = True
    doc: str = ""
    doc_raw: str = ""

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "type": self.type, "conns": self.conns, "required": self.required}
        if self.doc:
            out["doc"] = self.doc
        if self.doc_raw:
            out["doc_raw"] = self.doc_raw
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "InputPort":
        return cls(**data)


@dataclass(frozen=True)
class OutputPort:
    name: str
    type: PortType = "tensor"
    path: tuple[int, ...] = ()
    doc: str = ""
    doc_raw: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.path:
            out["path"] = list(self.path)
        if self.doc:
            out["doc"] = self.doc
        if self.doc_raw:
            out["doc_raw"] = self.doc_raw
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "OutputPort":
        return cls(**{**data, "path": tuple(data.get("path", ()))})


@dataclass(frozen=True)
class Node:
    id: str
    library: str
    name: str
    origin_module: str
    origin_qualname: str
    kind: Kind
    category: str
    summary: str  # plain text, what editors show
    call: dict[str, Any]
    inputs: tuple[InputPort, ...]
    outputs: tuple[OutputPort, ...]
    args: tuple[Arg, ...]
    review: Review = "auto"
    review_reasons: tuple[str, ...] = ()
    provenance: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    example: dict[str, Any] | None = None
    example_failure: str = ""
    overridden: tuple[str, ...] = ()
    summary_raw: str = ""  # the summary with the library's markup, when that differs

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.args if a.name == name), None)

    def with_review(self) -> "Node":
        """Recompute the review state: every untyped argument needs a human decision."""
        reasons = tuple(f"argument {a.name}: {a.unsupported}" for a in self.args if not a.typed)
        if self.review == "reviewed" and not reasons:
            return replace(self, review_reasons=())
        return replace(self, review="needs-review" if reasons else "auto", review_reasons=reasons)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "library": self.library, "name": self.name,
            "origin": {"module": self.origin_module, "qualname": self.origin_qualname},
            "kind": self.kind, "category": self.category, "summary": self.summary,
            "call": self.call,
            "inputs": [p.to_json() for p in self.inputs],
            "outputs": [p.to_json() for p in self.outputs],
            "args": [a.to_json() for a in self.args],
            "review": self.review, "provenance": self.provenance,
        }
        if self.summary_raw:
            out["summary_raw"] = self.summary_raw
        if self.aliases:
            out["aliases"] = list(self.aliases)
        if self.review_reasons:
            out["review_reasons"] = list(self.review_reasons)
        if self.example is not None:
            out["example"] = self.example
        if self.example_failure:
            out["example_failure"] = self.example_failure
        if self.overridden:
            out["overridden"] = list(self.overridden)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Node":
        return cls(
            id=data["id"], library=data["library"], name=data["name"],
            origin_module=data["origin"]["module"], origin_qualname=data["origin"]["qualname"],
            kind=data["kind"], category=data["category"], summary=data["summary"], call=data["call"],
            inputs=tuple(InputPort.from_json(p) for p in data["inputs"]),
            outputs=tuple(OutputPort.from_json(p) for p in data["outputs"]),
            args=tuple(Arg.from_json(a) for a in data["args"]),
            review=data["review"], review_reasons=tuple(data.get("review_reasons", ())),
            provenance=data["provenance"], aliases=tuple(data.get("aliases", ())),
            example=data.get("example"), example_failure=data.get("example_failure", ""),
            overridden=tuple(data.get("overridden", ())), summary_raw=data.get("summary_raw", ""),
        )


@dataclass(frozen=True)
class Exclusion:
    id: str
    code: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "code": self.code, "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> "Exclusion":
        return cls(**data)


@dataclass(frozen=True)
class Catalog:
    library: str
    version: str
    generator: str
    nodes: tuple[Node, ...]
    excluded: tuple[Exclusion, ...]
    overrides_file: str = ""
    overrides_applied: int = 0
    overrides_inactive: int = 0
    notes: tuple[str, ...] = ()

    def find(self, name: str) -> Node | None:
        """A node by canonical id or by one of its aliases."""
        for node in self.nodes:
            if node.id == name or name in node.aliases:
                return node
        return None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": CATALOG_FORMAT, "library": self.library, "version": self.version,
            "generator": self.generator,
            "nodes": [n.to_json() for n in sorted(self.nodes, key=lambda n: n.id)],
            "excluded": [e.to_json() for e in sorted(self.excluded, key=lambda e: e.id)],
            "overrides": {"file": self.overrides_file, "applied": self.overrides_applied,
                          "inactive": self.overrides_inactive},
        }
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Catalog":
        return cls(
            library=data["library"], version=data["version"], generator=data["generator"],
            nodes=tuple(Node.from_json(n) for n in data["nodes"]),
            excluded=tuple(Exclusion.from_json(e) for e in data["excluded"]),
            overrides_file=data["overrides"]["file"], overrides_applied=data["overrides"]["applied"],
            overrides_inactive=data["overrides"]["inactive"], notes=tuple(data.get("notes", ())),
        )
