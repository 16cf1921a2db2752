"""What still needs a human decision, most used first; and turning decisions into override entries."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodecat.introspector.jsonio import dumps, write_atomic
from nodecat.introspector.model import Catalog, Node
from nodecat.introspector.overrides import Override, OverridesFile, parse_overrides

# The most used nodes, from the layer counts of the reference architectures (torch_ops.py
# lists them); a node missing here ranks after all listed ones, then by id.
USAGE_ORDER = (
    "torch.nn.Linear", "torch.nn.Conv2d", "torch.nn.ReLU", "torch.nn.BatchNorm2d", "torch.nn.Dropout",
    "torch.nn.LayerNorm", "torch.nn.Embedding", "torch.nn.MultiheadAttention", "torch.nn.GELU",
    "torch.nn.MaxPool2d", "torch.nn.AdaptiveAvgPool2d", "torch.nn.LSTM", "torch.nn.GRU", "torch.nn.RNN",
    "torch.nn.Conv1d", "torch.nn.ConvTranspose2d", "torch.nn.TransformerEncoderLayer",
    "torch.nn.CrossEntropyLoss", "torch.optim.Adam", "torch.optim.SGD", "torch.nn.functional.max_pool2d",
    "torch.nn.functional.avg_pool2d", "torch.nn.functional.adaptive_max_pool2d",
)

# Type choices offered in an interactive review, as JSON Schema fragments.
TYPE_CHOICES: dict[str, dict[str, Any]] = {
    "integer": {"type": "integer"},
    "positive-integer": {"type": "integer", "minimum": 1},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "string": {"type": "string"},
    "int-or-pair": {"anyOf": [{"type": "integer", "minimum": 1},
                              {"type": "array", "items": {"type": "integer", "minimum": 1},
                               "minItems": 2, "maxItems": 2}]},
    "int-or-tuple": {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]},
    "tensor": {"x-nodecat": "tensor"},
}


@dataclass(frozen=True)
class ReviewItem:
    node: str
    kind: str
    rank: int
    args: tuple[tuple[str, str], ...]   # (argument, why it is untyped)

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "kind": self.kind, "rank": self.rank,
                "args": [{"name": n, "reason": r} for n, r in self.args]}


def _rank(node: Node) -> int:
    return USAGE_ORDER.index(node.id) if node.id in USAGE_ORDER else len(USAGE_ORDER)


def review_items(catalog: Catalog) -> list[ReviewItem]:
    items = [ReviewItem(n.id, n.kind, _rank(n), tuple((a.name, a.unsupported) for a in n.args if not a.typed))
             for n in catalog.nodes if n.review == "needs-review"]
    return sorted(items, key=lambda i: (i.rank, -len(i.args), i.node))


def with_entry(overrides: OverridesFile, target: str, arg: str | None, fields: dict[str, Any],
               why: str) -> OverridesFile:
    """A new overrides value with one more entry (pure; re-validated as a whole)."""
    entry = Override(len(overrides.entries), target, arg, fields, why)
    document = {**overrides.to_json(), "overrides": [o.to_json() for o in (*overrides.entries, entry)]}
    return parse_overrides(document, overrides.path)


def save_overrides(overrides: OverridesFile, path: Path) -> None:
    write_atomic(path, dumps(overrides.to_json()))
