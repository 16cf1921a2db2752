"""Describing one callable: signature, types, docs, ports and call options -> Node.

Generic: the library profile supplies value types, conventions and the forward method.
"""
from __future__ import annotations

import inspect
import math
import re
import types
import typing
from dataclasses import dataclass, replace
from typing import Any

from nodecat.introspector.bounds import with_minimum
from nodecat.introspector.docs import ArgDoc, DocInfo, TextSignature, Unreadable, read_doc
from nodecat.introspector.markup import plain_text
from nodecat.introspector.model import Arg, InputPort, Node, OutputPort
from nodecat.introspector.profile import LibraryProfile
from nodecat.introspector.prose import from_prose
from nodecat.introspector.typemap import (NULL, Typing, any_of, enum_from_doc, from_annotation, from_default,
                                  from_doc_phrase, untyped)

# Parameters that make no sense in a graph: the executor allocates outputs itself.
_DROPPED_PARAMS = frozenset({"out"})


def _is_tensor_schema(schema: dict[str, Any] | None) -> bool:
    return _names_value_kind(schema, ("tensor",))


def _names_value_kind(schema: dict[str, Any] | None, kinds: tuple[str, ...]) -> bool:
    if not schema:
        return False
    if schema.get("x-nodecat") in kinds:
        return True
    return any(_names_value_kind(s, kinds) for s in schema.get("anyOf", ()))


# Values another node produces: a tensor, a layer handed to a wrapper, a learning-rate schedule.
_EDGE_VALUE_KINDS = ("tensor", "module", "schedule")


def _is_tensor_list_schema(schema: dict[str, Any] | None) -> bool:
    if not schema:
        return False
    if schema.get("type") == "array" and _is_tensor_schema(schema.get("items")):
        return True
    return any(_is_tensor_list_schema(s) for s in schema.get("anyOf", ()))


def _accepts_null(schema: dict[str, Any]) -> bool:
    return schema == NULL or schema.get("type") == "null" or any(_accepts_null(s) for s in schema.get("anyOf", ())) \
        or (isinstance(schema.get("enum"), list) and None in schema["enum"])


def _resolved_hints(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable forward refs: fall back to raw annotations
        return dict(getattr(fn, "__annotations__", {}) or {})


def _json_default(value: Any, profile: LibraryProfile) -> tuple[bool, Any]:
    if value is None or isinstance(value, (bool, str)):
        return True, value
    if isinstance(value, int):
        return True, value
    if isinstance(value, float):
        return (True, value) if math.isfinite(value) else (False, None)
    if isinstance(value, (tuple, list)):
        items = [_json_default(v, profile) for v in value]
        return (True, [v for _, v in items]) if all(ok for ok, _ in items) else (False, None)
    return profile.json_default(value)


def type_argument(name: str, annotation: Any, default: Any, doc: DocInfo,
                  profile: LibraryProfile) -> tuple[Typing, str, bool]:
    """(typing, source, hidden) for one argument: annotation, docstring, default, then convention."""
    attempts: list[tuple[Typing, str]] = []
    if annotation in (None, type(None)) and default is not None:
        # e.g. torch's BroadcastingList2[int], which evaluates to None outside TorchScript:
        # "only None" for an argument that is required or defaults to something else is no type.
        annotation = inspect.Parameter.empty
    if annotation is not inspect.Parameter.empty:
        attempts.append((from_annotation(annotation, profile.types), "annotation"))
    arg_doc = doc.args.get(name)
    if arg_doc and arg_doc.type_phrase:
        attempts.append((from_doc_phrase(arg_doc.type_phrase, profile.types), "docstring"))
    elif arg_doc and arg_doc.description and profile.prose_types:
        # Keras writes no "(type)": the type is the leading phrase of the description.
        attempts.append((from_prose(arg_doc.description, profile.types), "docstring"))
    if default is not inspect.Parameter.empty and default is not None:
        attempts.append((from_default(default, profile.types), "default"))
    convention = profile.convention(name)
    hidden = convention is not None and convention[1]
    if convention is not None:
        attempts.append((convention[0], "convention"))
    for typing_, source in attempts:
        if typing_.typed:
            return _refine(typing_, source, default, arg_doc.description if arg_doc else ""), source, hidden
    if attempts:
        return attempts[0][0], "none", hidden
    return untyped("no annotation, no docstring type and no informative default"), "none", hidden


def _refine(typing_: Typing, source: str, default: Any, description: str) -> Typing:
    schema = typing_.schema or {}
    if schema == {"type": "string"}:
        choices = enum_from_doc(description, default)
        if choices:
            schema = {"enum": choices}
    if default is None and not _accepts_null(schema):
        schema = any_of([schema, NULL])
    return Typing(schema, typing_.phrase)


@dataclass(frozen=True)
class CallSignature:
    """Parameters of a callable with their resolved annotations, and what it returns:
    a return annotation (from inspect) or the text after '->' (from a docstring signature line)."""

    params: list[inspect.Parameter]
    hints: dict[str, Any]
    return_annotation: Any = None
    return_text: str = ""


def _signature(obj: Any, doc: DocInfo) -> CallSignature:
    """The signature of a callable; for builtins without one, from their docstring signature lines."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(obj)
        params = list(sig.parameters.values())
        only_varargs = params and all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)
        if not (only_varargs and doc.signatures):
            hints = _resolved_hints(target)
            annotation = hints.get("return", sig.return_annotation)
            return CallSignature(params, hints, None if annotation is inspect.Signature.empty else annotation)
    except (ValueError, TypeError):
        if not doc.signatures:
            raise
    return _merge_overloads(doc.signatures)


def _merge_overloads(overloads: tuple[TextSignature, ...]) -> CallSignature:
    """The richest overload; parameters that some overload lacks become optional."""
    richest = max(overloads, key=lambda s: len(s.parameters))
    everywhere = set.intersection(*({p.name for p in s.parameters} for s in overloads))
    params = []
    for param in richest.parameters:
        if param.name not in everywhere and param.default is inspect.Parameter.empty \
                and param.kind is not param.VAR_POSITIONAL:
            param = param.replace(default=None)
        params.append(param)
    return CallSignature(params, {}, return_text=richest.returns)


def _arg(param: inspect.Parameter, annotation: Any, doc: DocInfo, stage: str, profile: LibraryProfile) -> Arg:
    if isinstance(param.default, Unreadable):
        constant = profile.named_constant(param.default.text)
        if constant is not None:
            param = param.replace(default=constant)
    typing_, source, hidden = type_argument(param.name, annotation, param.default, doc, profile)
    arg_doc = doc.args.get(param.name)
    fields: dict[str, Any] = {
        "name": param.name, "stage": stage, "required": param.default is inspect.Parameter.empty,
        "source": source, "phrase": typing_.phrase, "hidden": hidden, **_doc_fields(arg_doc),
    }
    if typing_.typed:
        schema, minimum_source = with_minimum(param.name, typing_.schema or {},
                                              arg_doc.description if arg_doc else "", param.default)
        fields["schema"] = schema
        if minimum_source:
            fields["provenance"] = {"minimum": minimum_source}
        fields["accepts_edge"] = _names_value_kind(typing_.schema, _EDGE_VALUE_KINDS)
    else:
        fields["unsupported"] = typing_.reason
    if param.default is not inspect.Parameter.empty:
        ok, value = _json_default(param.default, profile)
        if ok:
            fields["default"] = value
        else:
            fields["default_repr"] = _stable_repr(param.default)
    return Arg(**fields)


def _doc_fields(arg_doc: ArgDoc | None) -> dict[str, str]:
    """The doc as plain text (what editors show), and as written when that differs."""
    if arg_doc is None:
        return {"doc": "", "doc_raw": ""}
    raw = arg_doc.raw or arg_doc.description
    plain = plain_text(raw)
    return {"doc": plain, "doc_raw": raw if raw != plain else ""}


def _stable_repr(value: Any) -> str:
    """repr without memory addresses, so catalogs are byte-for-byte reproducible."""
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
    return re.sub(r" at 0x[0-9a-f]+", "", repr(value))


def _outputs_from_return(signature: CallSignature, profile: LibraryProfile) -> tuple[list[OutputPort], str]:
    """Output ports from a return annotation (tuple -> several) or a text signature's '-> ...'."""
    annotation, returns_text = signature.return_annotation, signature.return_text
    if annotation is not None:
        if typing.get_origin(annotation) is tuple:
            members = typing.get_args(annotation)
            if len(members) == 2 and members[1] is Ellipsis:
                return [OutputPort("output", "tensors")], "annotation"
            return [OutputPort(f"output_{i}", _port_type(m, profile), (i,)) for i, m in enumerate(members)], \
                "annotation"
        return [OutputPort("output", _port_type(annotation, profile))], "annotation"
    if returns_text:
        text = returns_text.strip()
        if text.startswith("(") and text.endswith(")"):
            members = [m.strip() for m in text[1:-1].split(",") if m.strip()]
            return [OutputPort(f"output_{i}", "tensor", (i,)) for i in range(len(members))], "docstring"
        if re.match(r"(tuple|list|sequence)\b", text, re.I):
            return [OutputPort("output", "tensors")], "docstring"
        return [OutputPort("output", "tensor" if "Tensor" in text else "any")], "docstring"
    return [OutputPort("output", "tensor")], "rule"


def _port_type(annotation: Any, profile: LibraryProfile) -> str:
    typing_ = from_annotation(annotation, profile.types)
    if _is_tensor_schema(typing_.schema):
        return "tensor"
    if typing.get_origin(annotation) is tuple:
        return "tensor-pair" if len(typing.get_args(annotation)) == 2 else "tensors"
    return "any"


def _port_kind(param: inspect.Parameter, annotation: Any, doc: DocInfo, profile: LibraryProfile,
               unannotated_is_tensor: bool) -> str:
    """The port type when an edge feeds this call parameter, or "" when it is a plain argument."""
    if param.kind is param.VAR_POSITIONAL:
        return "tensors"
    typing_, _, _ = type_argument(param.name, annotation, param.default, doc, profile)
    if _is_tensor_list_schema(typing_.schema):
        return "tensors"
    if _is_tensor_schema(typing_.schema):
        return "tensor"
    members = [a for a in typing.get_args(annotation) if a is not type(None)] \
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) else [annotation]
    for member in members:
        if typing.get_origin(member) is tuple and all(
                _is_tensor_schema(from_annotation(m, profile.types).schema) for m in typing.get_args(member)):
            return "tensor-pair"
    if not typing_.typed and annotation is inspect.Parameter.empty and unannotated_is_tensor \
            and param.default in (inspect.Parameter.empty, None):
        return "tensor"
    return ""


def _split_call_params(signature: CallSignature, doc: DocInfo, profile: LibraryProfile,
                       unannotated_is_tensor: bool) -> tuple[list[InputPort], list[Arg]]:
    ports: list[InputPort] = []
    args: list[Arg] = []
    hints = signature.hints
    for param in signature.params:
        if param.name in ("self", "cls") or param.name in _DROPPED_PARAMS or param.kind is param.VAR_KEYWORD:
            continue
        if param.name.startswith("_"):
            continue  # private parameter, not part of the public call
        annotation = hints.get(param.name, param.annotation)
        port_type = _port_kind(param, annotation, doc, profile, unannotated_is_tensor)
        if port_type:
            variadic = param.kind is param.VAR_POSITIONAL or port_type == "tensors"
            ports.append(InputPort(param.name, "tensor" if variadic else port_type,
                                   None if variadic else 1,
                                   param.default is inspect.Parameter.empty and param.kind is not param.VAR_POSITIONAL,
                                   **_doc_fields(doc.args.get(param.name))))
        elif param.kind is not param.VAR_POSITIONAL:
            args.append(_arg(param, annotation, doc, "apply", profile))
    return ports, args


def _init_args(signature: CallSignature, doc: DocInfo, profile: LibraryProfile, skip: frozenset[str]) -> list[Arg]:
    return [_arg(p, signature.hints.get(p.name, p.annotation), doc, "init", profile) for p in signature.params
            if p.name not in skip and not p.name.startswith("_") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _copy_option(name: str, args: list[Arg]) -> Any:
    """In-place calls mutate their input: a trailing underscore always, an `inplace` flag when set."""
    if name.endswith("_") and not name.endswith("__"):
        return True
    if any(a.name == "inplace" for a in args):
        return {"when_arg": "inplace"}
    return False


def describe(node_id: str, obj: Any, kind: str, profile: LibraryProfile, aliases: tuple[str, ...]) -> Node:
    """The automatic descriptor of one crawled object, before overrides."""
    doc = read_doc(obj)
    name = node_id.rsplit(".", 1)[1]
    provenance = {"inputs": "signature", "category": "rule", "call": "rule", "kind": "rule"}
    if kind in ("optimizer", "scheduler"):
        # torch optimizers take the parameters and torch schedulers the optimizer they step;
        # Keras takes neither (model.compile wires them) and its schedules feed `learning_rate`.
        feed = "params" if kind == "optimizer" else "optimizer"
        signature = _signature(obj, doc)
        takes_feed = any(p.name == feed for p in signature.params)
        args = _init_args(signature, doc, profile, frozenset({feed}))
        inputs = [InputPort(feed, "parameters" if kind == "optimizer" else "optimizer", 1, True,
                            **_doc_fields(doc.args.get(feed)))] if takes_feed else []
        if kind == "optimizer":
            outputs = [OutputPort("optimizer", "optimizer")]
        else:
            outputs = [OutputPort("scheduler", "any")] if takes_feed else [OutputPort("schedule", "schedule")]
        call = {"instantiate": True, "apply": False, "copy": False}
        provenance["outputs"] = "rule"
        provenance["inputs"] = "rule"
    elif inspect.isclass(obj):
        init_args = _init_args(_signature(obj, doc), doc, profile, frozenset())
        forward = profile.forward_method(obj)
        if forward is None:
            inputs, call_args, outputs = [], [], []
            provenance["outputs"] = "rule"
        else:
            fdoc = read_doc(forward)
            if doc.call_args:  # Keras documents call() in the class docstring
                fdoc = replace(fdoc, args={**doc.call_args, **fdoc.args})
            fsignature = _signature(forward, fdoc)
            inputs, call_args = _split_call_params(fsignature, fdoc, profile, unannotated_is_tensor=True)
            outputs, provenance["outputs"] = _outputs_from_return(fsignature, profile)
        args = init_args + call_args
        call = {"instantiate": True, "apply": forward is not None, "copy": _copy_option(name, args)}
    else:
        signature = _signature(obj, doc)
        inputs, args = _split_call_params(signature, doc, profile, unannotated_is_tensor=False)
        outputs, provenance["outputs"] = _outputs_from_return(signature, profile)
        call = {"instantiate": False, "apply": True, "copy": _copy_option(name, args)}
    module = getattr(obj, "__module__", None) or ""
    summary = plain_text(doc.summary)  # what editors show; the text as written only when it differs
    node = Node(
        id=node_id, library=profile.name, name=name,
        origin_module=module, origin_qualname=getattr(obj, "__qualname__", name),
        kind=kind, category=profile.category(node_id, obj, kind), summary=summary,
        summary_raw=doc.summary if summary != doc.summary else "",
        call=call, inputs=tuple(inputs), outputs=tuple(outputs), args=tuple(args),
        provenance=provenance, aliases=aliases,
    )
    return node.with_review()
