"""Reading docstrings of real torch objects: text signatures of builtins, summaries, per-argument docs.

Builtins (C functions) carry their signature only as text such as
``cat(tensors, dim=0, *, out=None) -> Tensor``; it is parsed with `ast` and never evaluated,
so a docstring cannot run code.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nodecat.introspector.docs import Unreadable, read_doc, text_signatures

P = inspect.Parameter


def params(signature) -> list[tuple[str, str, object]]:
    return [(p.name, p.kind.name, p.default) for p in signature.parameters]


def test_cat_has_no_python_signature_but_a_text_one() -> None:
    with pytest.raises((ValueError, TypeError)):
        inspect.signature(torch.cat)  # precondition: only the docstring knows the parameters
    (signature,) = read_doc(torch.cat).signatures
    assert params(signature) == [("tensors", "POSITIONAL_OR_KEYWORD", P.empty),
                                 ("dim", "POSITIONAL_OR_KEYWORD", 0),
                                 ("out", "KEYWORD_ONLY", None)]
    assert signature.returns == "Tensor"


def test_mean_overloads_are_all_read() -> None:
    signatures = read_doc(torch.mean).signatures
    assert len(signatures) == 2
    whole, reduced = signatures
    assert params(whole) == [("input", "POSITIONAL_OR_KEYWORD", P.empty), ("dtype", "KEYWORD_ONLY", None)]
    assert [name for name, _, _ in params(reduced)] == ["input", "dim", "keepdim", "dtype", "out"]
    assert dict((n, d) for n, _, d in params(reduced))["keepdim"] is False
    assert dict((n, d) for n, _, d in params(reduced))["dim"] is P.empty


def test_multi_line_signature_of_scaled_dot_product_attention() -> None:
    raw = inspect.cleandoc(F.scaled_dot_product_attention.__doc__)
    first_line = raw.splitlines()[0]
    assert first_line.count("(") > first_line.count(")")  # precondition: it spans two lines
    (signature,) = read_doc(F.scaled_dot_product_attention).signatures
    assert params(signature) == [
        ("query", "POSITIONAL_OR_KEYWORD", P.empty), ("key", "POSITIONAL_OR_KEYWORD", P.empty),
        ("value", "POSITIONAL_OR_KEYWORD", P.empty), ("attn_mask", "POSITIONAL_OR_KEYWORD", None),
        ("dropout_p", "POSITIONAL_OR_KEYWORD", 0.0), ("is_causal", "POSITIONAL_OR_KEYWORD", False),
        ("scale", "POSITIONAL_OR_KEYWORD", None), ("enable_gqa", "POSITIONAL_OR_KEYWORD", False)]
    assert signature.returns == "Tensor"


def test_signature_lines_do_not_leak_into_the_summary() -> None:
    assert read_doc(F.scaled_dot_product_attention).summary.startswith(
        "Computes scaled dot product attention on query, key and value tensors")
    # the whole first paragraph, markup as written (the descriptor's summary is its plain text)
    assert read_doc(torch.cat).summary == \
        "Concatenates the given sequence of tensors in :attr:`tensors` in the given dimension. All tensors " \
        "must either have the same shape (except in the concatenating dimension) or be a 1-D empty tensor " \
        "with size ``(0,)``."


def test_conv2d_summary_and_argument_docs() -> None:
    doc = read_doc(torch.nn.Conv2d)
    assert doc.summary.startswith("Applies a 2D convolution over an input signal")
    assert doc.args["in_channels"].type_phrase == "int"
    assert doc.args["in_channels"].description == "Number of channels in the input image"
    assert doc.args["kernel_size"].type_phrase == "int or tuple"
    assert doc.args["padding"].type_phrase == "int, tuple or str"
    assert doc.args["stride"].description.startswith("Stride of the convolution")


def test_builtin_argument_docs() -> None:
    doc = read_doc(torch.cat)
    assert doc.args["dim"].type_phrase == "int"
    assert doc.args["tensors"].type_phrase == "sequence of Tensors"


def test_arithmetic_defaults_are_computed_safely() -> None:
    (signature,) = read_doc(torch.rrelu_).signatures  # rrelu_(input, lower=1./8, upper=1./3, ...)
    defaults = {p.name: p.default for p in signature.parameters}
    assert defaults["lower"] == 0.125
    assert defaults["upper"] == pytest.approx(1 / 3)
    assert defaults["training"] is False


def test_defaults_are_never_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "evaluated"
    hostile = type("Hostile", (), {"__doc__": (
        f"f(x, y=__import__('pathlib').Path({str(marker)!r}).touch(), z=1/0, w=2**4096) -> Tensor\n\n"
        "A docstring whose defaults would run code if anything evaluated them.")})
    (signature,) = read_doc(hostile).signatures
    defaults = {p.name: p.default for p in signature.parameters}
    assert not marker.exists()
    for name in ("y", "z", "w"):
        assert isinstance(defaults[name], Unreadable), name
    assert repr(defaults["z"]) == "1 / 0"
    assert "__import__" in repr(defaults["y"])


@pytest.mark.parametrize("doc", ["", "no signature here", "f(x, = broken) -> Tensor", "f(x"])
def test_text_that_is_not_a_signature_gives_none(doc: str) -> None:
    assert text_signatures(doc) == ()


def test_keyword_args_with_class_role_types_are_read() -> None:
    """BUG (introspector/docs.py read_doc): torch's "Keyword args:" lines such as
    ``dtype (:class:`torch.dtype`, optional): the desired data type ...`` are split at the colon
    inside the parentheses, giving an argument named 'dtype (' with no type. The real `dtype`
    argument of torch.mean then has no docstring type and no doc in the catalog.
    """
    doc = read_doc(torch.mean)
    bogus = [name for name in doc.args if not name.isidentifier()]
    assert bogus == [], f"argument names that are not identifiers: {bogus}"
    assert "dtype" in doc.args
    assert "torch.dtype" in doc.args["dtype"].type_phrase
    assert doc.args["dtype"].description.startswith("the desired data type")
