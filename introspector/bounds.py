"""Lower bounds of integer size and count arguments (in_channels, num_heads, kernel_size, stride...).

Annotations say `int` and nothing more, so an editor's number widget for `out_features` would go
down to -2**53. Two sources give a lower bound, tried in this order, and the argument records which
one did (`provenance: {"minimum": ...}`), as every inferred fact does:

- `docstring`: the library states it ("must be > 0", "Must be an odd integer >= 1", "must be
  weakly positive", "Values must be > 1");
- `convention`: the argument's name says it counts or sizes something (SIZE_NAME): at least 1,
  since a zero size only makes empty tensors (torch accepts `Linear(4, 0)`, convolutions do not
  accept stride 0); at least 0 when the library's default is 0 or its doc gives 0 a meaning
  ("If ``> 0``, will use LSTM with projections", "0 is the standard R2 score"), none when the
  default is negative (-1 as "all" or "auto").

Existing bounds (from an annotation or the prose type) are never touched; only integer members of
the schema get one (the items of an `int | (int, int)` too). Everything else needs an override,
with its `why`. Generic: no library knowledge here.
"""
from __future__ import annotations

import re
from typing import Any

Schema = dict[str, Any]

SIZE_NAME = re.compile(r"""^(?:
    \w*_channels | \w*_features                                       # in_channels, in1_features
  | num_\w+ | n_[a-z]+                                                 # num_heads, n_classes
  | (?:hidden|input|output|embedding|embed|key|value|model|head|latent|intermediate|proj|ffn|query)
    _(?:size|dim)                                                      # hidden_size, embedding_dim
  | dim_feedforward
  | (?:kernel|pool|block|window|patch|filter|batch|vocab|history|group|chunk)_size
  | (?:fft|frame)_length
  | \w*_rank                                                           # lora_rank
  | groups | filters | units | depth_multiplier | (?:up|down)scale_factor
  | strides? | dilation | dilation_rate
)$""", re.X)

# "must be > 0", "should be positive", "Must be an odd integer >= 1", "Values must be > 1"
_CONSTRAINT = re.compile(r"""\b(?:must|should|has\ to|needs\ to)\ be\ (?:an?\ )?(?:odd\ |even\ )?
    (?:(?:integer|int|number|value)s?\ )?
    (?:`{0,2}(?P<op>>=|>|≥)\ ?`{0,2}(?P<number>\d+)(?!\.?\d)
      |(?P<word>strictly\ positive|positive|non-?negative|weakly\ positive
         |greater\ than\ (?:or\ equal\ to\ )?(?:0|zero|1|one)\b|at\ least\ (?:0|1|zero|one)\b))""", re.X | re.I)
_WORD_MINIMUM = {"strictly positive": 1, "positive": 1, "non-negative": 0, "nonnegative": 0,
                 "weakly positive": 0, "greater than 0": 1, "greater than zero": 1, "greater than 1": 2,
                 "greater than one": 2, "greater than or equal to 0": 0, "greater than or equal to zero": 0,
                 "greater than or equal to 1": 1, "greater than or equal to one": 1, "at least 0": 0,
                 "at least zero": 0, "at least 1": 1, "at least one": 1}
# the doc gives zero a meaning: "If ``> 0``, ...", "0 is the standard R2 score", "set to 0 to disable"
_ZERO_MEANS = re.compile(r"""(?:
    \bif\ (?:it\ is\ |this\ (?:value\ )?is\ )?`{0,2}>\ ?0`{0,2}                # If ``> 0``, ...
  | (?:^|[\s(`])0`{0,2}\ (?:means|is|disables|to\ disable)\b                      # 0 means ...
  | \b(?:set\ (?:it\ )?to|equal\ to|is)\ `{0,2}0`{0,2}\b(?!\.\d)                  # If this value is 0
  | \bdefault(?:s\ to)?:?\ `{0,2}0`{0,2}(?![.\d]))""", re.X | re.I)              # Default: 0


def doc_minimum(doc: str) -> int | None:
    """The lower bound an argument's doc states for an integer, if it states one."""
    match = _CONSTRAINT.search(doc or "")
    if match is None:
        return None
    if match["op"]:
        number = int(match["number"])
        return number + 1 if match["op"] == ">" else number
    return _WORD_MINIMUM.get(" ".join(match["word"].lower().split()))


def convention_minimum(name: str, doc: str, default: Any) -> int | None:
    """The lower bound a size or count argument's name implies, adjusted by its default and doc."""
    if not SIZE_NAME.match(name):
        return None
    if isinstance(default, int) and not isinstance(default, bool):
        if default < 0:
            return None
        if default == 0:
            return 0
    return 0 if _ZERO_MEANS.search(doc or "") else 1


def _integer_leaves_unbounded(schema: Schema) -> bool:
    """Whether some integer member of the schema has no lower bound."""
    if schema.get("type") == "integer":
        return "minimum" not in schema and "exclusiveMinimum" not in schema
    if schema.get("type") == "array":
        items = schema.get("items")
        return isinstance(items, dict) and _integer_leaves_unbounded(items)
    return any(_integer_leaves_unbounded(s) for s in schema.get("anyOf", ()))


def _bounded(schema: Schema, minimum: int) -> Schema:
    """A copy with the minimum put on every integer member that has no lower bound."""
    if schema.get("type") == "integer":
        return schema if "minimum" in schema or "exclusiveMinimum" in schema else {**schema, "minimum": minimum}
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return {**schema, "items": _bounded(schema["items"], minimum)}
    if "anyOf" in schema:
        return {**schema, "anyOf": [_bounded(s, minimum) for s in schema["anyOf"]]}
    return schema


def lacks_minimum(schema: Schema | None) -> bool:
    return schema is not None and "x-nodecat" not in schema and _integer_leaves_unbounded(schema)


def with_minimum(name: str, schema: Schema, doc: str, default: Any) -> tuple[Schema, str]:
    """(schema, where its new minimum came from), or the schema unchanged and ""."""
    if not lacks_minimum(schema):
        return schema, ""
    for minimum, source in ((doc_minimum(doc), "docstring"), (convention_minimum(name, doc, default), "convention")):
        if minimum is not None and _default_fits(default, minimum):
            return _bounded(schema, minimum), source
    return schema, ""


def _default_fits(default: Any, minimum: int) -> bool:
    """A bound the library's own default breaks is not the library's bound."""
    values = default if isinstance(default, (list, tuple)) else [default]
    return all(v >= minimum for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))


def unbounded_size_args(args: Any) -> list[Any]:
    """The integer size or count arguments (by SIZE_NAME) that still have no lower bound."""
    return [a for a in args if SIZE_NAME.match(a.name) and lacks_minimum(a.schema)]
