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
    description: str  # what typing reads: Sphinx roles reduced to their target (:class:`~a.B` -> a.B)
    raw: str = ""      # the description as the library wrote it (roles kept), one line


@dataclass(frozen=True)
class TextSignature:
    """One overload read from a docstring line."""

    parameters: tuple[inspect.Parameter, ...]
    returns: str


@dataclass(frozen=True)
class DocInfo:
    summary: str  # the first paragraph (or its first sentences), markup as the library wrote it
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
_ANY_ROLE = re.compile(r":([a-z]+):`[^`]*`")  # :math:`...` too: a line it starts is no reST field
_HIDDEN_ROLE = re.compile("\ue000(\\d+)\ue001")


class _Roles:
    """Sphinx roles (:class:`torch.dtype`) carry colons that would split "name (type): doc" lines, so
    the parser sees each as an opaque token; afterwards a text gets them back either as their target
    (what typing reads, as before) or as written (the raw text kept for the descriptor)."""

    def __init__(self, body: str) -> None:
        self.written: list[str] = []
        self.targets: list[str] = []
        self.hidden = _ANY_ROLE.sub(self._hide, body)

    def _hide(self, match: re.Match[str]) -> str:
        reference = _ROLE.fullmatch(match.group(0))
        self.written.append(match.group(0))
        self.targets.append(reference.group(2) if reference else match.group(0))
        return f"\ue000{len(self.written) - 1}\ue001"

    def as_target(self, text: str | None) -> str:
        return _HIDDEN_ROLE.sub(lambda m: self.targets[int(m.group(1))], text or "")

    def as_written(self, text: str | None) -> str:
        return _HIDDEN_ROLE.sub(lambda m: self.written[int(m.group(1))], text or "")


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


_SECTION_TITLE = re.compile(r"^[A-Z][A-Za-z ]*:\s*$", re.M)


def _parse(body: str) -> docstring_parser.Docstring:
    try:
        return _PARSER.parse(body) if _looks_google(body) else docstring_parser.parse(body)
    except docstring_parser.ParseError:
        pass
    # A section the parser cannot read (Keras' AUC) loses the whole docstring: keep at least the text
    # before the first section, for the summary; `_rst_arg_docs` reads the Args lines themselves.
    try:
        return _PARSER.parse(_SECTION_TITLE.split(body, 1)[0])
    except docstring_parser.ParseError:
        return docstring_parser.Docstring()


def read_doc(obj: object) -> DocInfo:
    # Fenced examples (Keras) may start at column 0 and would stop cleandoc from dedenting the rest.
    raw = inspect.cleandoc(_FENCED_CODE.sub("", getattr(obj, "__doc__", None) or ""))
    signatures = text_signatures(raw)
    roles = _Roles(_strip_directives(_strip_signature_lines(raw)).strip())
    body, call_block = _split_call_section(roles.hidden)
    parsed = _parse(body)
    summary = first_paragraph(parsed)
    if summary.startswith("__init__("):  # some classes put their signature first
        summary = _normalise((parsed.long_description or "").split("\n\n")[0])
    args = {p.arg_name: _arg_doc(p, roles) for p in parsed.params}
    args.update(_rst_arg_docs(body, args, roles))
    call_args = {p.arg_name: _arg_doc(p, roles)
                 for p in _parse("Call.\n\nArgs:\n" + call_block).params} if call_block else {}
    return DocInfo(summary=_normalise(roles.as_written(summary)),
                   description=_normalise(roles.as_target(parsed.long_description)),
                   args=args, signatures=signatures, call_args=call_args)


def _arg_doc(param: docstring_parser.DocstringParam, roles: _Roles) -> ArgDoc:
    return ArgDoc(_normalise(roles.as_target(param.type_name)), _normalise(roles.as_target(param.description)),
                  _normalise(roles.as_written(param.description)))


SUMMARY_LIMIT = 300  # characters; a longer first paragraph keeps its first sentences only
# A sentence ends at '.', '!' or '?' before a space and a capital letter, a quote, a bracket or
# markup, unless the word is an abbreviation ('e.g.', 'i.e.'); dots inside `code` never end one.
_SENTENCE_END = re.compile(r"""(?<=[.!?:])\s+(?=[A-Z`"'(\[:*\ue000])""")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|vs|cf|approx|resp|Eq|Fig|Sec|No)\.$")


def _sentences(paragraph: str) -> list[str]:
    parts, start = [], 0
    for match in _SENTENCE_END.finditer(paragraph):
        piece = paragraph[start:match.start()]
        if piece.count("`") % 2 or _ABBREVIATION.search(piece):
            continue
        parts.append(piece)
        start = match.end()
    return parts + [paragraph[start:]]


def first_paragraph(parsed: docstring_parser.Docstring) -> str:
    """The summary: the whole first paragraph (docstring-parser's short description is only its first
    line), cut after the last whole sentence that fits SUMMARY_LIMIT (the first sentence always
    stays whole), without trailing sentences that introduce what follows ('... as:')."""
    paragraph = parsed.short_description or ""
    if paragraph and not parsed.blank_after_short_description and parsed.long_description:
        paragraph += " " + parsed.long_description.split("\n\n")[0]
    sentences = _sentences(_normalise(paragraph))
    kept = sentences[:1]
    for sentence in sentences[1:]:
        if len(" ".join([*kept, sentence])) > SUMMARY_LIMIT:
            break
        kept.append(sentence)
    while len(kept) > 1 and kept[-1].endswith(":"):
        kept.pop()
    summary = " ".join(kept)
    return summary[:-1] + "." if summary.endswith(":") else summary  # the formula it announces is not in it


_RST_ARG = re.compile(r"^\s{0,8}(\w+):\s+(\S.*)$")


def _rst_arg_docs(body: str, known: dict[str, ArgDoc], roles: _Roles) -> dict[str, ArgDoc]:
    """Args entries the parser did not return (`p: probability ...` without a type in parentheses,
    or every entry when the parser gave up): the first line and the deeper-indented lines after it.
    Keras indents some entries one level too deep, so any `name: text` line within 8 columns starts one."""
    texts: dict[str, list[str]] = {}
    in_args, indent, current = False, -1, ""
    for line in body.splitlines():
        if re.match(r"^\s*(Args|Arguments|Parameters):\s*$", line):
            in_args, indent, current = True, -1, ""
            continue
        if in_args and re.match(r"^\S", line):
            in_args = False
        if not in_args:
            continue
        depth = len(line) - len(line.lstrip())
        match = _RST_ARG.match(line)
        if match and not (depth > indent >= 0 and match.group(1)[0].isupper()):  # 'Default: 0' continues
            indent, current = depth, match.group(1) if match.group(1) not in known else ""
            if current:
                texts[current] = [match.group(2)]
        elif current and line.strip() and depth > indent:
            texts[current].append(line.strip())
        else:
            current = ""
    joined = {name: " ".join(lines) for name, lines in texts.items()}
    return {name: ArgDoc("", _normalise(roles.as_target(text)), _normalise(roles.as_written(text)))
            for name, text in joined.items()}
