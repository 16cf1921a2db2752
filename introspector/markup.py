"""Docstring markup (reST, Sphinx roles, inline LaTeX, Markdown code) as plain text for tooltips.

Editors show a node's summary and its argument docs as plain text (ComfyUI and LiteGraph tooltips
render no markup), so ``'zeros'`` must read 'zeros', :class:`~torch.nn.Conv2d` must read Conv2d
and :math:`(N, C_{\\text{in}}, H, W)` must read (N, C_in, H, W). The descriptor keeps the text as
the library wrote it beside the plain one (`summary_raw`, `doc_raw`) for front ends that render it.

`plain_text` is idempotent (plain text comes back unchanged) and knows no library.
"""
from __future__ import annotations

import re

# :class:`~torch.nn.Foo`, :py:func:`bar`, :math:`x^2`, :attr:`title <target>`
_ROLE = re.compile(r":(?:[a-z]+:)?(?P<role>[a-z]+):`(?P<body>[^`]*)`")
_LITERAL = re.compile(r"``(?P<body>.+?)``")
_LINK = re.compile(r"`(?P<title>[^`<]+?)\s*<[^`>]*>`__?")      # `Huber loss <https://...>`_
_NAMED_LINK = re.compile(r"`(?P<title>[^`]+)`__?(?!\w)")      # `Fast R-CNN`_
_CODE = re.compile(r"(?<!`)`(?P<body>[^`]+)`(?!`)")           # Markdown code, reST interpreted text
_MD_LINK = re.compile(r"\[(?P<title>[^\[\]]+)\]\(\s*(?:https?://|#)[^()\s]*\s*\)")
_STRONG = re.compile(r"(?<![\w*])\*\*(?=[A-Za-z0-9])(?P<body>[^*]+?)(?<=[A-Za-z0-9.)])\*\*(?![\w*])")
_EMPHASIS = re.compile(r"(?<![\w*\\])\*(?=[A-Za-z])(?P<body>[^*]+?)(?<=[A-Za-z0-9.)])\*(?![\w*])")
_MATH_DIRECTIVE = re.compile(r"\.\. math::\s*")
_ADMONITION = re.compile(r"\.\. (?P<name>[a-z]+)::(?:[ \t]+(?P<version>\d[\w.]*))?\s*")
_ADMONITIONS = {"note": "Note:", "warning": "Warning:", "seealso": "See also:", "versionadded": "New in version",
                "versionchanged": "Changed in version", "deprecated": "Deprecated since version"}
_ESCAPE = re.compile(r"\\(?P<char>[^A-Za-z\s])")              # reST escapes: \* \_ \`
_SPACE = re.compile(r"\s+")

# LaTeX -----------------------------------------------------------------------------------------
_GROUPING = ("text", "textrm", "textbf", "textit", "texttt", "mathrm", "mathbf", "mathit", "mathsf",
             "mathtt", "mathcal", "mathbb", "mathbin", "mathop", "operatorname", "boldsymbol", "bm", "mbox",
             "emph", "underline", "overline")
_WRAPPED = re.compile(r"\\(?:" + "|".join(_GROUPING) + r")\s*\{(?P<body>[^{}]*)\}")
_FRAC = re.compile(r"\\[dt]?frac\s*\{(?P<num>[^{}]*)\}\s*\{(?P<den>[^{}]*)\}")
_SQRT = re.compile(r"\\sqrt\s*\{(?P<body>[^{}]*)\}")
_ACCENT = re.compile(r"\\(?P<accent>hat|bar|tilde|vec|dot)\s*\{(?P<body>[^{}]*)\}")
_ACCENTS = {"hat": "\u0302", "bar": "\u0304", "tilde": "\u0303", "vec": "\u20d7", "dot": "\u0307"}
_SIZING = re.compile(r"\\(?:left|right|[bB]igg?[lr]?|middle)(?![A-Za-z])\s*")
_SCRIPT = re.compile(r"(?P<op>[_^])\{(?P<body>[^{}]*)\}(?P<next>\w?)")
_COMMAND = re.compile(r"\\(?P<name>[A-Za-z]+)")
_STRUCTURE = frozenset({*_GROUPING, "frac", "dfrac", "tfrac", "sqrt", *_ACCENTS})
_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ",
    "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ",
    "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Pi": "Π", "Sigma": "Σ",
    "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    "times": "×", "cdot": "·", "ast": "*", "div": "÷", "pm": "±", "mp": "∓", "leq": "≤", "le": "≤",
    "geq": "≥", "ge": "≥", "neq": "≠", "ne": "≠", "approx": "≈", "sim": "~", "equiv": "≡", "in": "∈",
    "notin": "∉", "subset": "⊂", "subseteq": "⊆", "infty": "∞", "sum": "Σ", "prod": "∏", "int": "∫",
    "partial": "∂", "nabla": "∇", "odot": "⊙", "otimes": "⊗", "oplus": "⊕", "circ": "∘",
    "ldots": "...", "cdots": "...", "dots": "...", "vdots": "...", "to": "→", "rightarrow": "→",
    "leftarrow": "←", "mapsto": "↦", "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉",
    "langle": "⟨", "rangle": "⟩", "mid": "|", "vert": "|", "lvert": "|", "rvert": "|", "Vert": "‖",
    "lVert": "‖", "rVert": "‖", "forall": "∀", "exists": "∃", "neg": "¬", "land": "∧", "lor": "∨",
    "quad": " ", "qquad": " ",
}
_SPACING = re.compile(r"\\[,;:! ]")


def _simple(text: str) -> bool:
    return re.fullmatch(r"[\w.,'*+-]*", text) is not None


def _operand(text: str) -> str:
    text = text.strip()
    return text if _simple(text) else f"({text})"


def _script(match: re.Match[str]) -> str:
    """x_{\text{in}} -> x_in, x^{i+1} -> x^(i+1); a space before a letter that follows (^{1}k)."""
    body = match["body"].replace(" ", "")
    return match["op"] + (body if _simple(body) else f"({body})") + (f" {match['next']}" if match["next"] else "")


def latex_text(math: str) -> str:
    """Inline LaTeX as readable text: \\text{out} -> out, C_{\\text{in}} -> C_in, \\frac{a}{b} -> a/b."""
    text = _SPACING.sub(" ", math).replace("\\\\", " ").replace("~", " ").replace("\\_", "_")
    text = _SIZING.sub("", text)
    # symbols and function names first, so \frac{1}{\beta} reads 1/β; structure (groups, fractions) after
    text = _COMMAND.sub(lambda m: m[0] if m["name"] in _STRUCTURE else _SYMBOLS.get(m["name"], m["name"]), text)
    previous = None
    while previous != text:  # innermost groups first, until nothing changes
        previous = text
        text = _WRAPPED.sub(lambda m: m["body"], text)
        text = _FRAC.sub(lambda m: f"{_operand(m['num'])}/{_operand(m['den'])}", text)
        text = _SQRT.sub(lambda m: f"√{_operand(m['body'])}", text)
        text = _ACCENT.sub(lambda m: m["body"] + _ACCENTS[m["accent"]] if len(m["body"]) == 1 else m["body"], text)
        text = _SCRIPT.sub(_script, text)
    text = text.replace("\\{", "{").replace("\\}", "}").replace("\\_", "_").replace("\\%", "%")
    text = text.replace("\\&", "&").replace("\\#", "#").replace("\\$", "$")
    text = _COMMAND.sub(lambda m: _SYMBOLS.get(m["name"], m["name"]), text)
    text = text.replace("{", "").replace("}", "").replace("\\", "")
    return _SPACE.sub(" ", text).strip()


def _role(match: re.Match[str]) -> str:
    role, body = match["role"], match["body"]
    if role == "math":
        return latex_text(body)
    titled = re.fullmatch(r"(?P<title>.+?)\s*<[^<>]+>", body)  # :ref:`the guide <target>`
    if titled:
        return titled["title"]
    body = body.lstrip("!")
    if body.startswith("~"):  # Sphinx: show only the last component
        body = body[1:].rsplit(".", 1)[-1]
    return _ESCAPE.sub(lambda m: m["char"], body).replace("\\", "")


def _admonition(match: re.Match[str]) -> str:
    """'.. versionchanged:: 2.0 dim now ...' -> 'Changed in version 2.0: dim now ...'."""
    label = _ADMONITIONS.get(match["name"], "")
    if match["version"]:
        return f"{label or match['name']} {match['version']}: "
    return f"{label} " if label else ""


def plain_text(text: str) -> str:
    """Docstring text without its markup, on one line (whitespace runs become one space)."""
    if not text:
        return ""
    out = _ROLE.sub(_role, text)
    out = _LITERAL.sub(lambda m: m["body"], out)
    out = _LINK.sub(lambda m: m["title"], out)
    out = _NAMED_LINK.sub(lambda m: m["title"], out)
    out = _CODE.sub(lambda m: m["body"], out)
    out = _MD_LINK.sub(lambda m: m["title"], out)
    out = _STRONG.sub(lambda m: m["body"], out)
    out = _EMPHASIS.sub(lambda m: m["body"], out)
    head, *formulas = _MATH_DIRECTIVE.split(out)  # display formulas run into the text
    out = " ".join([head, *map(latex_text, formulas)])
    out = _ADMONITION.sub(_admonition, out)
    out = _ESCAPE.sub(lambda m: m["char"], out)
    return _SPACE.sub(" ", out).strip()
