"""Types from the prose of Keras-style argument descriptions.

Keras 3 annotates no arguments; each description says the type in words first ('int or
tuple/list of 2 integers, specifying ...', 'string, either "valid" or "same"', 'Float between 0
and 1.', 'Initializer for the kernel weights matrix.'). `from_prose` reads that leading phrase
with a recursive-descent grammar over tokens (words, with dotted and slashed names whole; quoted
literals; numbers; punctuation; backticks dropped):

    description  := lead* ( "Whether ..." | "If [this is set to] True" | alternatives
                          | prose enum-clause | prose "(" alternatives ")" "." )
    alternatives := alternative { "," | "or" | ", or" alternative } ["," range]
    alternative  := (lead | positive | non-negative | optional)* (["either" | "one of"] literals | head) [range]
    head         := None | scalar ["," [either] literals] | sequence | noun ["for ..."] | "number of ..."
    sequence     := tuple | list | tuple/list ... ["of" ([N] alternative | size N)] ["(length N)"]
    noun         := a lib.by_word key, plural, aliased (projection: constraint), dotted (keras.layers.X:
                    layer), CamelCase (LearningRateSchedule: schedule); seed, axis, axes, name, data type
    range        := between A and B | >= A | > A | <= A | < A | in [A, B] | in range (A, B)
    enum-clause  := ("one of" | "supported values" | "can be" | ...) literals, at a clause start
    literals     := LITERAL { "," | "or" | "and" LITERAL }     (quoted strings and None)

"Optional", a None alternative, "If None, ..." and "None means" add null; a callable member is
dropped when a typed one exists (a graph passes names, not functions). Refuses prose not
starting with a type, dictionaries, file paths, callables only, classes that are no JSON value,
'or' followed by something unreadable, an 'or <type>' later in the sentence ('a float ..., or a
tuple'), cut-off literal lists, and 'Whether ...' whose text also names string values.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nodecat.introspector.typemap import (BOOLEAN, CALLABLE_REASON, INTEGER, NULL, NUMBER, STRING,
                                  LibraryTypes, Typing, any_of, untyped)

Schema = dict[str, Any]
Part = tuple[Schema | None, str]  # a schema, or None and the reason

PATH_REASON = "takes a file path, which a graph must not carry"
MAPPING_REASON = "takes a dictionary, a mapping of Python values"

_TOKEN = re.compile(r"""
    "(?P<dq>[^"`\n]{1,40})`?"                    # "valid" (and the docstring typo "valid`")
  | (?<![\w`])'(?P<sq>[^'`\s]{1,40})'            # 'left'
  | `(?P<code>[A-Za-z_][\w.]*)`                  # `None`, `keras.layers.Layer`
  | (?P<word>\d+-?(?:[dD]|dimensional)\b|[A-Za-z_]\w*(?:[-./][A-Za-z0-9_]\w*)*)
  | (?P<num>-?\d+(?:\.\d+)?(?:e-?\d+)?)
  | (?P<punct>>=|<=|[^\s`])""", re.X)
# '... sizes. output_padding: An integer ...': the docstring's next argument got merged in
_NEXT_ARG = re.compile(r"(?<=\.) [a-z_][a-z0-9_]*: (?=[A-Z])| [a-z][a-z0-9]*_[a-z0-9_]*: (?=[A-Z])")
_NONE_CLUES = re.compile(r"(^|\. )(if|when) none\b|\bnone (means|by default)|\bdefault(s to|:| is) none\b"
                         r"|if you pass none|set to none")

_SCALARS: dict[str, Schema] = {
    "int": INTEGER, "integer": INTEGER, "float": NUMBER, "floating": NUMBER, "floating-point": NUMBER,
    "number": NUMBER, "double": NUMBER, "scalar": NUMBER, "bool": BOOLEAN, "boolean": BOOLEAN,
    "str": STRING, "string": STRING}
_SEQUENCES = {"tuple", "list", "tuple/list", "list/tuple", "sequence"}
_LEADS = {"a", "an", "the", "python", "single", "small", "input", "first", "second", "third", "keras",
          "complex", "random", "desired", "expected", "constant", "total"}
_FILLERS = {"function", "instance", "instances", "object", "objects", "value", "values", "scalar",
            "type", "point", "name", "string", "identifier"}
_RANGE_WORDS: dict[str, Schema] = {"positive": {"exclusiveMinimum": 0}, "non-negative": {"minimum": 0},
                                   "nonnegative": {"minimum": 0}, "unsigned": {"minimum": 0}}
_COMPARISONS = {">=": "minimum", ">": "exclusiveMinimum", "<=": "maximum", "<": "exclusiveMaximum"}
_CONTAINERS = {"tensor", "tensors", "matrix", "array", "arrays", "vector", "vectors", "variable", "mask", "masks"}
_FUNCTION_WORDS = {"if", "when", "where", "whether", "or", "and", "of", "to", "by", "in", "for", "with", "is",
                   "that", "which", "each", "per", "on", "at", "as", "from", "this", "its", "not", "no", "any"}
_REFUSED = [({"callable", "callables", "function", "functions", "method"}, CALLABLE_REASON),
            ({"dict", "dictionary"}, MAPPING_REASON), ({"path", "pathlib.path", "os.pathlike"}, PATH_REASON)]
_NUMBER_WORDS = {w: n for n, w in enumerate("one two three four five six seven eight nine ten".split(), 1)}
_AXES: Schema = {"anyOf": [INTEGER, {"type": "array", "items": INTEGER}]}
_NOUNS: dict[str, Schema] = {"seed": INTEGER, "axis": INTEGER, "axes": _AXES, "name": STRING}
_ALIASES = {"projection": "constraint", "data-type": "dtype", **{w: "tensor" for w in _CONTAINERS}}
_ENUM_MARKERS = [m.split() for m in (
    "one of", "either", "supported values are", "supported values", "supported options are", "supports",
    "values can be", "can be one of", "can be", "available values are", "available methods are",
    "available modes are", "acceptable values are", "must be one of", "options are")]


def from_prose(description: str, lib: LibraryTypes) -> Typing:
    """Typing from the leading type phrase of a Keras-style argument description."""
    if not description or not description.strip():
        return untyped("no description")
    return _Parser(_NEXT_ARG.split(description)[0], lib).parse()


@dataclass(frozen=True)
class _Tok:
    kind: str  # word | lit | num | punct
    key: str   # the lowercased word, the literal's value, the number or the punctuation
    end: int   # offset just after the token
    code: bool = False  # written in backticks
    raw: str = ""


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "punct"
        value, word = m.group(kind), kind in ("word", "code")
        toks.append(_Tok("lit", value.strip('"'), m.end()) if kind in ("dq", "sq") else
                    _Tok("word" if word else kind, value.lower() if word else value, m.end(), kind == "code", value))
    return toks


def _bounded(schema: Schema, bounds: Schema) -> Schema:
    """The bounds put on every number inside the schema ("positive" integers start at 1)."""
    if "anyOf" in schema:
        return {**schema, "anyOf": [_bounded(s, bounds) for s in schema["anyOf"]]}
    if schema.get("type") == "array" and "items" in schema:
        return {**schema, "items": _bounded(schema["items"], bounds)}
    if schema.get("type") == "integer" and isinstance(bounds.get("exclusiveMinimum"), int):
        rest = {k: v for k, v in bounds.items() if k != "exclusiveMinimum"}
        return {**schema, "minimum": bounds["exclusiveMinimum"] + 1, **rest}
    return {**schema, **bounds} if schema.get("type") in ("integer", "number") else schema


class _Parser:
    def __init__(self, text: str, lib: LibraryTypes) -> None:
        self.text, self.lib, self.toks = text, lib, _tokenize(text)
        self.i, self.optional = 0, False

    def key(self, ahead: int = 0) -> str:  # "" past the end and for literals
        j = self.i + ahead
        return self.toks[j].key if 0 <= j < len(self.toks) and self.toks[j].kind != "lit" else ""

    def kind(self, ahead: int = 0) -> str:
        return self.toks[self.i + ahead].kind if self.i + ahead < len(self.toks) else ""

    def take(self, *keys: str) -> bool:
        if all(self.key(n) == k for n, k in enumerate(keys)):
            self.i += len(keys)
            return True
        return False

    def skip(self, words: set[str]) -> None:
        while self.key() in words:
            self.i += 1

    def number(self) -> int | float | None:
        value = float(self.key()) if self.kind() == "num" else _NUMBER_WORDS.get(self.key())
        self.i += value is not None
        return None if value is None else int(value) if float(value).is_integer() else value

    def phrase(self) -> str:
        return self.text[:self.toks[self.i - 1].end if self.i else 0].replace("`", "").strip(" ,;:")

    def sentence_end(self) -> int:
        return next((j for j in range(self.i, len(self.toks)) if self.toks[j].key == "."), len(self.toks))

    # --- the description -------------------------------------------------------------
    def parse(self) -> Typing:
        while self.take("(", "optional", ")") or self.take("optional"):
            self.optional = True  # an argument said to be optional takes None
            self.take(".") or self.take(",")
        if self.key() == "whether" or self.implicit_if():
            if any(t.kind == "lit" and (j == 0 or self.toks[j - 1].key == ".") for j, t in enumerate(self.toks)):
                return untyped("reads as a boolean, but the text also names string values")  # "auto" will ...
            self.i += self.key() == "whether"
            return self.done(BOOLEAN)
        parts = self.alternatives()
        # 'Function to use ..., one of {"dot", "concat"}', 'String, ... Can be "valid" or "same".'
        if parts is None or any_of([s or NULL for s, _ in parts]) == STRING \
                or all(r == CALLABLE_REASON for _, r in parts):
            start, enum = self.i, self.enum_clause()
            if enum is not None:
                return self.done(enum)
            self.i = start
        if (parts := parts or self.bracketed()) is None:
            return untyped(f"prose does not start with a type: '{self.text[:40].replace('`', '')}...'")
        typed = [s for s, _ in parts if s is not None]
        refused = [r for s, r in parts if s is None and r != CALLABLE_REASON]
        if refused or not typed:
            return untyped(refused[0] if refused else CALLABLE_REASON, self.phrase())
        if self.more_alternatives():
            return untyped(f"the type phrase goes on past what can be read: '{self.text[:60]}...'", self.phrase())
        return self.done(any_of(typed))

    def done(self, schema: Schema) -> Typing:
        if self.optional or _NONE_CLUES.search(" ".join(self.text.replace("`", "").lower().split())):
            schema = any_of([schema, NULL])
        return Typing(schema, self.phrase())

    def implicit_if(self) -> bool:
        """'If True, ...', 'If this is set to `True`', 'When `False`, ...': a boolean flag."""
        j = self.i
        if (self.take("if") or self.take("when")) and (self.take("this", "is") or True) \
                and (self.take("set", "to") or True) and (self.take("true") or self.take("false")):
            return True
        self.i = j
        return False

    def bracketed(self) -> list[Part] | None:
        """'L1 regularization factor (positive float).': the type in brackets ending the sentence."""
        end = self.sentence_end()
        opening = next((j for j in range(end - 1, 0, -1) if self.toks[j].key == "("), None)
        if opening is not None and self.toks[end - 1].key == ")":
            self.i = opening + 1
            if (parts := self.alternatives()) is not None and self.take(")") and self.i == end:
                return parts
        self.i = 0
        return None

    def more_alternatives(self) -> bool:
        """Whether an 'or <type>' follows later in the same sentence: then we read too little."""
        start, optional, found = self.i, self.optional, False
        while self.i < self.sentence_end() and not found and not self.take("such", "as"):  # examples
            self.i += 1
            found = self.key(-1) == "or" and self.alternative() is not None
        self.i, self.optional = start, optional
        return found

    def enum_clause(self) -> Schema | None:
        """A literal list introduced by 'one of', 'Supported values:' ... at a clause start."""
        for j in range(self.i, len(self.toks)):
            for marker in _ENUM_MARKERS if j == 0 or self.toks[j - 1].key in {".", ",", ";", ":", "("} else []:
                self.i = j
                if self.take(*marker) and (self.take(":") or True) \
                        and (enum := self.literals(minimum=2, code=True, strict=True)) is not None:
                    return enum
        return None

    # --- the type phrase -------------------------------------------------------------
    def alternatives(self) -> list[Part] | None:
        first = self.alternative()
        parts = None if first is None else [first]
        while parts:
            j = self.i
            if (self.take(",") or True) and self.take("(", "default"):  # 'Boolean, (default `True`), ...'
                while self.i < len(self.toks) and not self.take(")"):
                    self.i += 1
            else:
                self.i = j
            j = self.i
            if self.take(",") and self.key() in ("between", "in", *_COMPARISONS):  # ', between 0 and 1': all
                bounds = self.range()
                return [(_bounded(s, bounds) if s else s, r) for s, r in parts]
            said_or = self.take("or")
            if self.i == j:
                return parts
            if (part := self.alternative()) is None:
                # 'x or <something unreadable>': the whole type is unknown, not just x
                after = self.text[self.toks[self.i - 1].end:][:40].replace("`", "").strip()
                self.i = j
                return parts + [(None, f"cannot read the alternative after 'or': '{after}...'")] * said_or
            parts.append(part)
        return parts

    def alternative(self) -> Part | None:
        start, bounds, optional = self.i, {}, self.optional
        while True:
            if self.take("(", "optional", ")") or self.take("optional"):
                self.optional = True
            elif self.key() in _RANGE_WORDS:
                bounds.update(_RANGE_WORDS[self.key()])
                self.i += 1
            elif self.take("either") or self.take("one", "of"):
                if (enum := self.literals(2, code=True)) is not None:
                    return enum, ""
            elif self.key() in _LEADS or re.fullmatch(r"(\d+|n)-?d(imensional)?", self.key()):
                self.i += 1
            else:
                break
        if (part := self.head()) is None:
            self.i, self.optional = start, optional
            return None
        bounds.update(self.range())
        return (_bounded(part[0], bounds) if part[0] is not None and bounds else part[0]), part[1]

    def head(self) -> Part | None:
        word = self.key()
        if self.kind() == "lit" or (word == "{" and self.kind(1) == "lit"):
            enum = self.literals(minimum=2)  # one quoted word alone is a name ('"Coefficient" matrix')
            return None if enum is None else (enum, "")
        if self.kind() != "word":
            return None
        if self.take("none"):
            return NULL, ""
        if word == "number" and self.key(1) == "of":  # a count, unless per element or axis (often a list)
            if any(t.key == "each" for t in self.toks[self.i:self.sentence_end()]):
                return None
            self.i += 2
            self.complement()
            return INTEGER, ""
        if (scalar := _SCALARS.get(word) or _SCALARS.get(word.removesuffix("s"))) is not None:
            return self.scalar(scalar)
        if self.key(1) in _CONTAINERS | {"axis"} and self.kind(1) == "word" and word not in _FUNCTION_WORDS:
            self.i += 1  # 'Source tensor', 'Concatenation axis': one word naming the role
            part = self.noun()
            self.i -= part is None
            return part
        if word in _SEQUENCES or word.removesuffix("s") in _SEQUENCES:
            return self.sequence(None)
        for words, reason in _REFUSED:
            if self.key() in words and self.take(self.key()):
                return None, reason
        return self.noun()

    def scalar(self, scalar: Schema) -> Part | None:
        for n in (1, 2):  # 'Integer exponent tensor', 'float input tensor': the scalar is an adjective
            if self.kind(n) != "word" or self.key(n) in ("or", "and", "of"):
                break
            if self.key(n) in _CONTAINERS:
                self.i += n
                return self.head()
        self.i += 1
        if self.take("path"):
            return None, PATH_REASON
        if self.key() in _SEQUENCES:  # 'integer tuple/list of 1 integer'
            return self.sequence(scalar)
        self.skip(_FILLERS)
        j = self.i
        if scalar == STRING and self.take(",") and (self.take("either") or self.take("one", "of") or True) \
                and (enum := self.literals(minimum=2)) is not None:  # 'string, either "valid" or "same"'
            return enum, ""
        self.i = j
        return scalar, ""

    def noun(self) -> Part | None:
        start, tok = self.i, self.toks[self.i]
        words = ["dtype"] if self.take("data", "type") else \
            [tok.key, tok.key.removesuffix("s"), _ALIASES.get(tok.key, "")]
        self.i = max(self.i, start + 1)
        if "." in tok.key:  # keras.layers.RNN is a layer, keras.optimizers.schedules.X a schedule
            segments = tok.key.split(".")
            words += [segments[-1]] + [s.removesuffix("s") for s in reversed(segments[1:-1])]
        words += [w.lower() for w in re.findall(r"[A-Z][a-z]+$", tok.raw)]  # LearningRateSchedule
        if (word := next((w for w in words if w in self.lib.by_word), None)) is not None:
            schema = dict(self.lib.by_word[word])
        elif tok.key in _NOUNS:
            schema = _NOUNS[tok.key]
        elif ("." in tok.key or tok.code) and (self.take("instance") or self.take("object")):
            return None, f"takes an instance of {tok.raw}, which is not a JSON value"
        else:
            self.i = start
            return None
        self.skip(_FILLERS)
        if self.key() in ("for", "applied"):  # 'Initializer for the kernel weights matrix'
            self.complement()
        return schema, ""

    def complement(self) -> None:
        """Words describing the head, up to the next punctuation or 'or'."""
        while self.kind() in ("word", "lit") and self.key() not in ("or", "and"):
            self.i += 1

    def sequence(self, item: Schema | None) -> Part:
        self.i += 1
        j = self.i
        if not (self.take("or") and (self.take("a") or True) and self.take(self.key()) and self.key(-1) in _SEQUENCES):
            self.i = j  # 'a tuple or a list of ...' is one sequence
        count, reason, j = None, "", self.i
        if self.take("of", "size") or self.take("of", "length"):
            count = self.number()
        elif self.take("of"):
            count = self.number()
            if self.key() in ("elements", "items", "values"):
                self.i += 1
            elif (part := self.alternative()) is not None:
                item, reason = (INTEGER if part[0] == _AXES else part[0]), part[1]
            elif (ahead := self.container_ahead()) is not None:  # 'List of initial state tensors'
                self.i += ahead
                part = self.noun()
                item, reason = (part if part is not None else (None, ""))
            else:
                self.i, count = j, None
        j = self.i
        if self.take("(", "length") and (n := self.number()) is not None and self.take(")"):
            count = n
        else:
            self.i = j
        schema: Schema = {"type": "array", **({"items": item} if item else {})}
        if isinstance(count, int):
            schema.update(minItems=count, maxItems=count)
        return (None, reason) if reason else (schema, "")

    def container_ahead(self) -> int | None:
        """How many describing words precede a container word ('initial state tensors'), if one comes
        within three plain words."""
        for n in range(1, 4):
            if self.kind(n) != "word" or self.key(n - 1) in _FUNCTION_WORDS:
                return None
            if self.key(n) in _CONTAINERS:
                return n
        return None

    def range(self) -> Schema:
        j = self.i
        if self.take("between") and (a := self.number()) is not None and self.take("and") \
                and (b := self.number()) is not None:
            return {"minimum": a, "maximum": b}
        self.i = j
        if (op := self.key()) in _COMPARISONS and self.take(op) and (a := self.number()) is not None:
            return {_COMPARISONS[op]: a}
        self.i = j
        if self.take("in") and (self.take("range") or True) and self.key() in ("[", "("):
            low = "minimum" if self.take("[") or not self.take("(") else "exclusiveMinimum"
            if (a := self.number()) is not None and self.take(",") and (b := self.number()) is not None \
                    and self.key() in ("]", ")"):
                high = "maximum" if self.take("]") or not self.take(")") else "exclusiveMaximum"
                return {low: a, high: b}
        self.i = j
        return {}

    def literals(self, minimum: int = 1, code: bool = False, strict: bool = False) -> Schema | None:
        """Quoted literals (and None) joined by ',', 'or', 'and': '"valid" or "same"'. A list cut off
        after a separator is no list; a clause-level (strict) list may end in ',' only after 'or'."""
        start, values, closed = self.i, [], False
        braces = self.take("{")
        while True:
            tok = self.toks[self.i] if self.i < len(self.toks) else None
            bare = code and tok is not None and tok.code and tok.key not in {"true", "false"}  # `valid`
            if tok and (tok.kind == "lit" or tok.key == "none" or bare):
                values.append(tok.key if tok.kind == "lit" else None if tok.key == "none" else tok.raw)
                self.i += 1
                self.take("(", "default", ")")
            elif values and self.key(-1) == "," and self.kind() and not braces and (closed or not strict):
                self.i -= 1  # "'a' or 'b', specifying ...": the comma ends the list
                break
            else:
                self.i = start
                return None
            comma, joined = self.take(","), self.take("or") or self.take("and")
            closed = closed or joined
            if not (joined or comma):
                break
        if (braces and not self.take("}")) or len(values) < minimum:
            self.i = start
            return None
        self.take("(", "case-insensitive", ")")
        strings = [v for v in values if v is not None]
        return any_of(([{"enum": list(dict.fromkeys(strings))}] if strings else []) + [NULL] * (None in values))
