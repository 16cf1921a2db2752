"""Descriptors of the built-in ops, in the catalog's own format so one validator checks every node.

`input`: a graph input fed at run time; its shape may leave dimensions open (null), e.g. the batch.
`constant`: a small literal tensor, stored with the model (a buffer) so `.to()` moves it.
"""
from __future__ import annotations

from nodecat.executor.graph.vocabulary import DTYPES, MAX_NESTING
from nodecat.introspector.model import Arg, Node, OutputPort

_DTYPE = {"enum": list(DTYPES)}
_NESTED_NUMBERS = {"$ref": "#/$defs/value", "$defs": {"value": {"anyOf": [
    {"type": "number"}, {"type": "boolean"},
    {"type": "array", "maxItems": 1_000_000, "items": {"$ref": "#/$defs/value"}}]}}}


def _builtin(op: str, summary: str, args: tuple[Arg, ...]) -> Node:
    return Node(id=op, library="nodecat", name=op, origin_module="nodecat.executor.graph.builtins", origin_qualname=op,
                kind=op, category="graph", summary=summary, call={"instantiate": False, "apply": False, "copy": False},
                inputs=(), outputs=(OutputPort("output"),), args=args, review="reviewed")


BUILTINS: dict[str, Node] = {
    "input": _builtin("input", "A graph input, fed with an array at run time.", (
        Arg("shape", required=True, source="override",
            schema={"type": "array", "maxItems": 8,
                    "items": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, {"type": "null"}]}},
            doc="Full shape including the batch dimension; null leaves a dimension open (checked with 1)."),
        Arg("dtype", default="float32", source="override", schema=_DTYPE, doc="Element type."),
    )),
    "constant": _builtin("constant", "A literal tensor stored with the model.", (
        Arg("value", required=True, source="override", schema=_NESTED_NUMBERS,
            doc=f"A number or nested lists of numbers (at most {MAX_NESTING - 4} levels)."),
        Arg("dtype", default="float32", source="override", schema=_DTYPE, doc="Element type."),
    )),
}
