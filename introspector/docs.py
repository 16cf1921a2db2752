"""Reading docstrings: summary, per-argument docs and types, and text signatures.

docstring-parser splits the sections; builtins (C functions) carry their
signature as text lines such as ``cat(tensors, dim=0, *, out=None) -> Tensor``,
which are parsed here with `ast` (never evaluated).
"""
from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass, field

import docstring_parser
from docstring_parser import google

_SIGNATURE_START = re.compile(r"^\s*(?:\.\. function:: )?([A-Za-z_]\w*)\(")
_SIGNATURE_WHOLE = re.compile(r"^([A-Za-z_]\w*)\((.*)\)\s*(?:->\s*(.+?))?\s*:?\s*$", re.S)


@dataclass(frozen=True)
class ArgDoc:
    type_phrase: str
    description: str


@dataclass(frozen=True)
class TextSignature:
    """One overload read from a docstring line."""

    parameters: tuple[inspect.Parameter, ...]
    returns: str


@dataclass(frozen=True)
class DocInfo:
    summary: str
    description: str
    args: dict[str, ArgDoc] = field(default_factory=dict)
    signatures: tuple[TextSignature, ...] = ()
    call_args: dict[str, ArgDoc] = field(default_factory=dict)  # a class's "Call arguments:" section


def _parse_text_signature(name: str, params: str, returns: str) -> TextSignature | None:
    try:
        tree = ast.parse(f"def {name}({params}): pass")
    except SyntaxError:
        return None
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    spec = fn.args
    result: list[inspect.Parameter] = []
    positional = spec.posonlyargs + spec.args
    defaults = [None] * (len(positional) - len(spec.defaults)) + list(spec.defaults)
    try:
        for arg, default in zip(positional, defaults):
            result.append(inspect.Parameter(
                arg.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=inspect.Parameter.empty if default is None else _literal(default)))
        if spec.vararg:
            result.append(inspect.Parameter(spec.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
        for arg, default in zip(spec.kwonlyargs, spec.kw_defaults):
            result.append(inspect.Parameter(
                arg.arg, inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if default is None else _literal(default)))
    except ValueError:
        return None
    return TextSignature(tuple(result), returns)


class Unreadable:
    """A default written in a way literal_eval refuses (e.g. `torch.contiguous_format`)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _literal(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Mult, ast.Add, ast.Sub)):
        left, right = _literal(node.left), _literal(node.right)
        numbers = (int, float)
        if isinstance(left, numbers) and isinstance(right, numbers) and not (isinstance(node.op, ast.Div) and right == 0):
            operations = {ast.Div: float.__truediv__, ast.Mult: float.__mul__, ast.Add: float.__add__,
                          ast.Sub: float.__sub__}
            return operations[type(node.op)](float(left), float(right))
    return Unreadable(ast.unparse(node))


def _signature_blocks(doc: str) -> list[tuple[int, int, str]]:
    """(first line, last line, text) of each signature, joining lines until parentheses balance."""
    lines = doc.splitlines()
    blocks, index = [], 0
    while index < len(lines):
        match = _SIGNATURE_START.match(lines[index])
        if not match:
            index += 1
            continue
        text, last = lines[index].strip().removeprefix(".. function::").strip(), index
        while text.count("(") > text.count(")") and last + 1 < len(lines) and last - index < 6:
            last += 1
            text += " " + lines[last].strip()
        if _SIGNATURE_WHOLE.match(text.replace("\\*", "*")):
            blocks.append((index, last, text.replace("\\*", "*")))
        index = last + 1
    return blocks


def text_signatures(doc: str) -> tuple[TextSignature, ...]:
    found = []
    for _, _, text in _signature_blocks(doc):
        match = _SIGNATURE_WHOLE.match(text)
        assert match is not None
        parsed = _parse_text_signature(match.group(1), match.group(2), match.group(3) or "")
        if parsed is not None:
            found.append(parsed)
    return tuple(found)


def _strip_signature_lines(doc: str) -> str:
    lines = doc.splitlines()
    drop = {i for first, last, _ in _signature_blocks(doc) for i in range(first, last + 1)}
    return "\n".join(line for i, line in enumerate(lines) if i not in drop)


_ROLE = re.compile(r":(class|func|attr|obj|meth|mod|data|ref):`~?([^`]+)`")
_DIRECTIVE = re.compile(r"^\.\. (note|warning|seealso|versionadded|versionchanged|deprecated)::")


def _strip_directives(doc: str) -> str:
    """Drop reST admonitions (the directive line and its indented block) so they never become the summary."""
    kept, skipping = [], False
    for line in doc.splitlines():
        if _DIRECTIVE.match(line):
            skipping = True
            continue
        if skipping and (not line.strip() or line[:1].isspace()):
            continue
        skipping = False
        kept.append(line)
    return "\n".join(kept)


def _normalise(text: str | None) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


# torch documents keyword-only arguments under "Keyword args:", which the default Google
# section list does not know.
_PARSER = google.GoogleParser(sections=[*google.DEFAULT_SECTIONS,
                                        google.Section("Keyword args", "param", google.SectionType.MULTIPLE),
                                        google.Section("Keyword Args", "param", google.SectionType.MULTIPLE),
                                        google.Section("Keyword arguments", "param", google.SectionType.MULTIPLE)])


def _looks_google(body: str) -> bool:
    return re.search(r"^(Args|Arguments|Keyword [Aa]rgs|Keyword arguments):\s*$", body, re.M) is not None


_FENCED_CODE = re.compile(r"^[ \t]*```.*?^[ \t]*```[ \t]*$", re.M | re.S)
_CALL_SECTION = re.compile(r"^(Call arguments|Call args|Call Arguments):\s*$")


def _split_call_section(body: str) -> tuple[str, str]:
    """(body without it, the indented block) of a Keras-style "Call arguments:" section."""
    lines = body.splitlines()
    start = next((i for i, line in enumerate(lines) if _CALL_SECTION.match(line)), None)
    if start is None:
        return body, ""
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][:1].isspace()):
        end += 1
    return "\n".join(lines[:start] + lines[end:]), "\n".join(lines[start + 1:end])


def _parse(body: str) -> docstring_parser.Docstring:
    try:
        return _PARSER.parse(body) if _looks_google(body) else docstring_parser.parse(body)
    except docstring_parser.ParseError:
        return docstring_parser.Docstring()


def read_doc(obj: object) -> DocInfo:
    # Fenced examples (Keras) may start at column 0 and would stop cleandoc from dedenting the rest.
    raw = inspect.cleandoc(_FENCED_CODE.sub("", getattr(obj, "__doc__", None) or ""))
    signatures = text_signatures(raw)
    # Sphinx roles (:class:`torch.dtype`) carry colons that would split "name (type): doc" lines.
    body = _ROLE.sub(r"\2", _strip_directives(_strip_signature_lines(raw))).strip()
    body, call_block = _split_call_section(body)
    parsed = _parse(body)
    summary = _normalise(parsed.short_description)
    if summary.startswith("__init__("):  # some classes put their signature first
        summary = _normalise((parsed.long_description or "").split("\n\n")[0])
    args = {p.arg_name: ArgDoc(_normalise(p.type_name), _normalise(p.description))
            for p in parsed.params}
    args.update(_rst_arg_docs(body, args))
    call_args = {p.arg_name: ArgDoc(_normalise(p.type_name), _normalise(p.description))
                 for p in _parse("Call.\n\nArgs:\n" + call_block).params} if call_block else {}
    return DocInfo(summary=summary, description=_normalise(parsed.long_description),
                   args=args, signatures=signatures, call_args=call_args)


_RST_ARG = re.compile(r"^\s{0,8}(\w+):\s+(\S.*)$")


def _rst_arg_docs(body: str, known: dict[str, ArgDoc]) -> dict[str, ArgDoc]:
    """Args lines without a type in parentheses (`p: probability ...`) that the parser kept untyped."""
    extra: dict[str, ArgDoc] = {}
    in_args = False
    for line in body.splitlines():
        if re.match(r"^\s*(Args|Arguments|Parameters):\s*$", line):
            in_args = True
            continue
        if in_args and re.match(r"^\S", line):
            in_args = False
        if in_args:
            match = _RST_ARG.match(line)
            if match and match.group(1) not in known:
                extra[match.group(1)] = ArgDoc("", _normalise(match.group(2)))
    return extra
